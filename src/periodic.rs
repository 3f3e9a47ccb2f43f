//! Background jobs on a fixed interval (expiry sweeps, session purges, scheduled backups): one
//! loop for all of them, so they share the same missed-tick and shutdown behaviour.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Runs `job` at `first`, then every `interval`, until `shutdown` is cancelled. A failed run is
/// logged as `what` and retried at the next tick; a run that overruns delays the next one rather
/// than causing a burst.
pub async fn run<E, F, Fut>(
    what: &'static str,
    first: Instant,
    interval: Duration,
    shutdown: CancellationToken,
    mut job: F,
) where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut ticker = tokio::time::interval_at(first, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(err) = job().await {
                    tracing::error!(error = %err, "{what} failed; retrying at the next interval");
                }
            }
        }
    }
    tracing::debug!("{what} stopped");
}
