//! Deletes sessions and access tokens that expired without being presented again.
//! `authenticate` refuses them anyway; this keeps abandoned sessions (closed laptops, cleared
//! cookies) from piling up, and takes expired tokens off their owners' lists.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Accounts;
use crate::periodic;

/// Purges expired sessions and tokens now and then every `interval` until `shutdown` is
/// cancelled.
pub async fn run(accounts: Arc<Accounts>, interval: Duration, shutdown: CancellationToken) {
    let purge = || async {
        accounts.purge_expired_sessions().await?;
        accounts.purge_expired_tokens().await.map(drop)
    };
    periodic::run("session purge", Instant::now(), interval, shutdown, purge).await;
}
