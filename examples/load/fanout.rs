//! `fanout`: R rooms x N members, the first S members of each room also send, at an aggregate
//! open-loop rate for a fixed time (one step of the shared mesh, `mesh.rs`): loss, duplicates,
//! reordering and latency from each message's scheduled send time.

use crate::mesh::{Mesh, MeshArgs, Setup, Step, StepPlan};
use crate::report::{round1, Report};
use crate::server::Target;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub mesh: MeshArgs,
    /// Aggregate messages per second over all rooms and senders.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// After the last send, how long deliveries may keep arriving before the rest count as lost.
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    let (mut mesh, _users) = Mesh::setup(target, &args.mesh, 1).await?;
    eprintln!("fanout: sending for {} s", args.seconds);
    let plan = StepPlan::timed(args.rate, args.seconds, args.drain_seconds);
    let step = mesh.step(target, &plan).await;
    let setup = mesh.summary();
    mesh.close().await;
    Ok(report(target, args, &setup, &step?))
}

/// The fan-out report of one step on a mesh set up as `args` says (also for `search`, which
/// runs the fan-out with and without searches).
pub fn report(target: &Target, args: &Args, setup: &Setup, step: &Step) -> Report {
    let mut report = Report::new(
        "fanout",
        format!(
            "fanout: {}, {} msg/s for {} s",
            args.mesh.describe(),
            args.rate,
            args.seconds
        ),
    );
    args.mesh.report_into(&mut report);
    report.field("rate", args.rate.into());
    report.field("seconds", args.seconds.into());
    setup.report_into(&mut report);
    step.report_into(&mut report);
    if let Some(rss) = target.rss() {
        report.both(
            "server RSS at end (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }
    report
}
