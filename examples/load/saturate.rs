//! `saturate`: the highest fan-out rate confab sustains. On one R x N mesh (connections opened
//! once), fan-out steps of rising aggregate rate run one after another, each for a fixed time and
//! then drained; the run stops at the first step whose p99 exceeds the limit or that loses,
//! duplicates or reorders anything. The answer is the last step that passed.

use std::time::Duration;

use serde_json::json;

use crate::mesh::{Mesh, MeshArgs, Step, StepPlan};
use crate::report::{round1, Report};
use crate::server::Target;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub mesh: MeshArgs,
    /// Aggregate messages per second of the first step.
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,
    /// Each step's rate is the previous one's times this.
    #[arg(long, default_value_t = 1.25)]
    pub factor: f64,
    /// Sending time of each step.
    #[arg(long, default_value_t = 10.0)]
    pub step_seconds: f64,
    /// A step passes only with a delivery p99 at or below this.
    #[arg(long, default_value_t = 100.0)]
    pub max_p99_ms: f64,
    /// Give up after this many steps even if all passed.
    #[arg(long, default_value_t = 20)]
    pub max_steps: usize,
    /// After a step's last send, how long deliveries may keep arriving before the rest count as lost.
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.start_rate > 0.0 && args.factor > 1.0,
        "need --start-rate > 0 and --factor > 1"
    );
    let (mut mesh, _users) = Mesh::setup(target, &args.mesh, 1).await?;
    let mut steps: Vec<(Step, Option<String>)> = Vec::new();
    let mut rate = args.start_rate;
    for number in 1..=args.max_steps {
        eprintln!(
            "saturate: step {number}: {rate:.0} msg/s for {} s",
            args.step_seconds
        );
        let plan = StepPlan::timed(rate, args.step_seconds, args.drain_seconds);
        let step = match mesh.step(target, &plan).await {
            Ok(step) => step,
            Err(err) => {
                mesh.close().await;
                return Err(err);
            }
        };
        let failure = failure(&step, args.max_p99_ms);
        eprintln!(
            "saturate: step {number}: {:.0} deliveries/s, p99 {:.1} ms: {}",
            step.deliveries_per_sec(),
            step.quantile_ms(0.99),
            failure.as_deref().unwrap_or("pass")
        );
        let stop = failure.is_some();
        steps.push((step, failure));
        if stop {
            break;
        }
        rate *= args.factor;
        // Let the server's queues and the kernel's socket buffers settle between steps.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let setup = mesh.summary();
    mesh.close().await;

    let mut report = Report::new(
        "saturate",
        format!(
            "saturate: {}, from {} msg/s x{} per {} s step, pass: p99 <= {} ms and no loss, \
             duplicate or reordering",
            args.mesh.describe(),
            args.start_rate,
            args.factor,
            args.step_seconds,
            args.max_p99_ms
        ),
    );
    args.mesh.report_into(&mut report);
    report.field("max_p99_ms", args.max_p99_ms.into());
    report.field("step_seconds", args.step_seconds.into());
    setup.report_into(&mut report);
    let mut rows = Vec::new();
    for (number, (step, failure)) in steps.iter().enumerate() {
        let (p50, p99) = (step.quantile_ms(0.50), step.quantile_ms(0.99));
        let c = &step.counts;
        report.row(
            &format!("step {}: {:.0} msg/s", number + 1, step.rate),
            format!(
                "{:>9.0} deliveries/s  p50 {p50:>8.1} ms  p99 {p99:>8.1} ms  lost {} dup {} \
                 reordered {}  server CPU {}  {}",
                step.deliveries_per_sec(),
                step.lost,
                c.duplicates,
                c.out_of_order,
                cpu_pct(step),
                failure.as_deref().unwrap_or("pass")
            ),
        );
        rows.push(json!({
            "rate": round1(step.rate),
            "sent": step.sent,
            "deliveries_per_sec": step.deliveries_per_sec(),
            "p50_ms": p50,
            "p99_ms": p99,
            "lost": step.lost,
            "duplicates": c.duplicates,
            "out_of_order": c.out_of_order,
            "other_frames": c.other,
            "passed": failure.is_none(),
        }));
    }
    report.field("steps", rows.into());
    let best = steps.iter().rev().find(|(_, failure)| failure.is_none());
    match best {
        Some((step, _)) => {
            report.both(
                "highest passing rate (msg/s)",
                "best_rate",
                round1(step.rate),
            );
            report.both(
                "... deliveries/s at that rate",
                "best_deliveries_per_sec",
                step.deliveries_per_sec(),
            );
        }
        None => {
            report.row(
                "highest passing rate (msg/s)",
                "none: the first step failed",
            );
            report.field("best_rate", 0.0.into());
            report.field("best_deliveries_per_sec", 0.0.into());
        }
    }
    let stopped = match steps.last() {
        Some((_, Some(failure))) => failure.clone(),
        _ => format!("all {} steps passed", steps.len()),
    };
    report.both("stopped because", "stopped", stopped);
    Ok(report)
}

/// Why a step fails, or None if it passes.
fn failure(step: &Step, max_p99_ms: f64) -> Option<String> {
    let c = &step.counts;
    if !step.clean() {
        return Some(format!(
            "not clean: lost {}, duplicates {}, out of order {}, id regressions {}, errors {}, \
             closed {}, malformed {}, failed senders {}",
            step.lost,
            c.duplicates,
            c.out_of_order,
            c.id_regressions,
            c.errors,
            c.closed,
            c.malformed,
            step.send_errors
        ));
    }
    let p99 = step.quantile_ms(0.99);
    (p99 > max_p99_ms).then(|| format!("p99 {p99:.1} ms > {max_p99_ms} ms"))
}

fn cpu_pct(step: &Step) -> String {
    match step.server_cpu {
        Some(cpu) => format!(
            "{:.0} %",
            cpu.as_secs_f64() / step.elapsed.as_secs_f64() * 100.0
        ),
        None => "?".into(),
    }
}
