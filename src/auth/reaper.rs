//! Deletes sessions that expired without being presented again. `authenticate` refuses them
//! anyway; this only keeps abandoned sessions (closed laptops, cleared cookies) from piling up.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Accounts;

/// Purges expired sessions now and then every `interval` until `shutdown` is cancelled.
pub async fn run(accounts: Arc<Accounts>, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(err) = accounts.purge_expired_sessions().await {
                    tracing::error!(error = %err, "session purge failed; retrying next interval");
                }
            }
        }
    }
    tracing::debug!("session reaper stopped");
}
