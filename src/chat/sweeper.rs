//! Deletes expired rooms, and attachments nobody can reach any more. Reads already hide expired
//! rooms, so the sweeper only reclaims space and tells subscribers; its schedule lives in the persistent expiry index, so a restart loses
//! nothing. Completed sweeps and the rooms they delete are counted in the metrics.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Chat;
use crate::error::Result;
use crate::periodic;

const BATCH: usize = 256;

impl Chat {
    /// Deletes every room expired by now; returns how many.
    pub async fn sweep_expired(&self) -> Result<usize> {
        let mut removed = 0;
        loop {
            let expired = self.store.expired_rooms(self.now_ms(), BATCH)?;
            if expired.is_empty() {
                break;
            }
            for (expires_at, id) in expired {
                if self.remove_room_unflushed(id).await? {
                    removed += 1;
                    self.metrics.room_swept();
                } else {
                    self.store.remove_expiry_entry(expires_at, id)?;
                }
            }
            // One flush per batch: a flush per room would queue the committer's flushes (and
            // so every send) behind hundreds of sweep flushes.
            self.store.flush().await?;
        }
        self.metrics.sweep_finished();
        if removed > 0 {
            tracing::info!(rooms = removed, "swept expired rooms");
        }
        Ok(removed)
    }
}

/// Runs a sweep now and then every `interval` until `shutdown` is cancelled: expired rooms,
/// then attachments that outlived their use (off the async workers: it walks files).
pub async fn run(chat: Arc<Chat>, interval: Duration, shutdown: CancellationToken) {
    let sweep = || async {
        chat.sweep_expired().await?;
        let attachments = chat.clone();
        let removed = tokio::task::spawn_blocking(move || attachments.sweep_attachments())
            .await
            .map_err(|_| crate::error::Error::Busy)??;
        if removed > 0 {
            tracing::info!(removed, "swept attachments");
        }
        Ok::<(), crate::error::Error>(())
    };
    periodic::run("expiry sweep", Instant::now(), interval, shutdown, sweep).await;
}
