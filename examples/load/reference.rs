//! `reference`: `saturate` against the bare reference server (`bare.rs`) and then against
//! confab, in one run, on the same mesh shape and steps; prints both and the ratio of their
//! highest passing deliveries/s (issue 16: confab should reach at least 1.0x).

use serde_json::Value;

use crate::bare::BareServer;
use crate::report::Report;
use crate::saturate;
use crate::server::Target;

/// The same options as `saturate`, used for both runs.
pub type Args = saturate::Args;

pub async fn run(confab: &Target, args: &Args) -> anyhow::Result<Report> {
    eprintln!("reference: saturate against the bare reference server");
    let bare = BareServer::start().await?;
    let reference = saturate::run(&bare.target, args).await;
    drop(bare);
    let reference = reference?;
    eprintln!("reference: saturate against confab");
    let ours = saturate::run(confab, args).await?;

    let best = |report: &Report| {
        report
            .value("best_deliveries_per_sec")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let (bare_best, confab_best) = (best(&reference), best(&ours));
    let mut report = Report::new(
        "reference",
        format!(
            "reference: saturate ({}) against the bare reference, then against confab",
            args.mesh.describe()
        ),
    );
    report.both(
        "bare reference: highest passing deliveries/s",
        "bare_best_deliveries_per_sec",
        bare_best,
    );
    report.both(
        "confab: highest passing deliveries/s",
        "confab_best_deliveries_per_sec",
        confab_best,
    );
    let ratio = if bare_best > 0.0 {
        (confab_best / bare_best * 1000.0).round() / 1000.0
    } else {
        0.0
    };
    report.both("confab / bare reference", "ratio", ratio);
    for (label, side) in [("bare", &reference), ("confab", &ours)] {
        for key in ["best_rate", "stopped", "connect_s"] {
            if let Some(value) = side.value(key) {
                report.row(&format!("{label}: {key}"), value);
            }
        }
        report.field(label, side.json());
    }
    Ok(report)
}
