//! Scheduled backups (`backup.every`, `backup.dir`, `backup.keep`): a backup file every
//! interval, the oldest removed beyond `keep`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::chat::Chat;
use crate::store::BackupOptions;

const PREFIX: &str = "confab-";
const SUFFIX: &str = ".backup";

/// Runs until `shutdown`; the first backup is taken one interval after start.
pub async fn run(
    chat: Arc<Chat>,
    every: Duration,
    dir: PathBuf,
    keep: usize,
    shutdown: CancellationToken,
) {
    // The backup-age metric starts from the newest backup already on disk, so a restart does
    // not look like "never backed up" until the first interval has passed.
    if let Some(modified_ms) = newest_backup_time(&dir) {
        chat.metrics().record_backup_success(modified_ms);
    }
    let first = tokio::time::Instant::now() + every;
    let backup = || async {
        let written = backup_once(&chat, &dir, keep).await;
        written.map_err(|err| format!("{err:#} (backup.dir {})", dir.display()))
    };
    crate::periodic::run("scheduled backup", first, every, shutdown, backup).await;
}

async fn backup_once(chat: &Arc<Chat>, dir: &Path, keep: usize) -> anyhow::Result<()> {
    let _no_deletions = chat.pause_deletions().await;
    let store = chat.store().clone();
    let name = format!("{PREFIX}{}{SUFFIX}", file_stamp(chat.now_ms()));
    let path = dir.join(name);
    let dir = dir.to_path_buf();
    let stats = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let stats = super::backup::write_backup_file(
            &store,
            &path,
            BackupOptions {
                include_sessions: true,
            },
            &mut |_| {},
        )?;
        prune(&dir, keep)?;
        Ok::<_, anyhow::Error>((stats, path))
    })
    .await??;
    chat.metrics().record_backup_success(chat.now_ms());
    tracing::info!(file = %stats.1.display(), messages = stats.0.messages, bytes = stats.0.bytes, "scheduled backup written");
    Ok(())
}

fn newest_backup_time(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .filter_map(|entry| entry.metadata().ok()?.modified().ok())
        .filter_map(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| since.as_millis() as u64)
        .max()
}

/// `20261125T143000Z`: sorts by time as text.
fn file_stamp(now_ms: u64) -> String {
    let iso = crate::wire::format_time(now_ms);
    let compact: String = iso
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    // yyyymmddThhmmss + milliseconds
    format!("{}Z", &compact[..compact.len().min(18)])
}

/// Keeps the newest `keep` scheduled backups in `dir`; files of other names are never touched.
fn prune(dir: &Path, keep: usize) -> std::io::Result<()> {
    let mut ours: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    for old in &ours[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_in_time_order_and_pruning_keeps_the_newest() {
        assert_eq!(file_stamp(1_764_079_387_120), "20251125T140307120Z");
        assert!(file_stamp(1_000) < file_stamp(2_000));
        let dir = tempfile::tempdir().expect("tempdir");
        for ms in [1_000u64, 2_000, 3_000, 4_000] {
            std::fs::write(
                dir.path()
                    .join(format!("{PREFIX}{}{SUFFIX}", file_stamp(ms))),
                b"x",
            )
            .expect("write");
        }
        std::fs::write(dir.path().join("notes.txt"), b"keep me").expect("write");
        prune(dir.path(), 2).expect("prune");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                format!("{PREFIX}{}{SUFFIX}", file_stamp(3_000)),
                format!("{PREFIX}{}{SUFFIX}", file_stamp(4_000)),
                "notes.txt".to_string()
            ]
        );
    }
}
