//! Hot backups: a consistent snapshot of the database written while chat goes on. Room
//! deletions wait while a backup runs; sends and reads do not.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWrite;
use tokio_util::io::SyncIoBridge;

use super::{socket, Reply, Services};
use crate::store::{BackupError, BackupOptions, BackupStats, Store};

/// Streams a backup into the control socket (for `confab backup create` while serving).
pub(super) async fn stream_backup(
    services: &Services,
    include_sessions: bool,
    mut write: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()> {
    let _no_deletions = services.chat.pause_deletions().await;
    socket::send(&mut write, &Reply::Streaming).await?;
    let store = services.chat.store().clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, SyncIoBridge::new(write));
        let stats =
            store.write_backup(&mut out, BackupOptions { include_sessions }, &mut |_| {})?;
        out.flush()?;
        Ok::<_, BackupError>(stats)
    })
    .await;
    match written {
        Ok(Ok(stats)) => {
            services
                .chat
                .metrics()
                .record_backup_success(services.chat.now_ms());
            tracing::info!(
                messages = stats.messages,
                bytes = stats.bytes,
                "backup streamed"
            );
        }
        // The client sees a file without its trailer, which verification rejects.
        Ok(Err(err)) => tracing::error!(error = %err, "backup failed"),
        Err(err) => tracing::error!(error = %err, "backup task failed"),
    }
    Ok(())
}

/// Writes a backup of `store` to `path` atomically: into `path.partial` (owner-only, since it
/// holds password hashes), synced, verified, then renamed. A failed backup leaves no file.
pub fn write_backup_file(
    store: &Store,
    path: &Path,
    options: BackupOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<BackupStats, BackupError> {
    let partial = partial_path(path);
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        let stats = store.write_backup(&mut out, options, progress)?;
        let file = out.into_inner().map_err(|err| err.into_error())?;
        file.sync_all()?;
        Store::verify_backup(&partial, &mut |_| {})?;
        finish_file(&partial, path)?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Where a backup is written before it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Renames a complete backup into place and syncs its directory, so the name survives a crash.
pub fn finish_file(partial: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(partial, path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
