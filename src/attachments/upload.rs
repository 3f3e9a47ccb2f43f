//! Receiving an upload: streamed to its file as it arrives, hashed and measured on the way,
//! never held whole in memory, and given up the moment it breaks a limit.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a finished upload was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// The limits one upload is received under.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The largest file the server takes.
    pub max_bytes: u64,
    /// How long the client may send nothing.
    pub idle: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("a file has at most {0} bytes")]
    TooLarge(u64),
    #[error("this file would take you past your storage quota")]
    OverQuota,
    #[error("the upload stalled: nothing arrived for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error("the upload was interrupted: {0}")]
    Read(std::io::Error),
    #[error("the upload could not be written: {0}")]
    Write(std::io::Error),
}

/// Where an upload is written. A file is made durable every `SETTLE_EVERY` bytes, so the
/// disk never holds more than that of it unwritten: a gigabyte of dirty pages would make every
/// group commit's fsync wait behind it (ext4 writes them out with the journal), and chat with it.
pub trait Destination: AsyncWrite + Unpin + Send {
    /// Makes what was written so far durable.
    fn settle(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        async { Ok(()) }
    }
}

impl Destination for tokio::fs::File {
    async fn settle(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        self.sync_data().await
    }
}

impl Destination for Vec<u8> {}

/// Bytes written between two `settle`s: small enough that a commit's fsync waits a few
/// milliseconds behind an upload at worst, large enough that an upload still runs near disk
/// speed.
const SETTLE_EVERY: u64 = 4 * 1024 * 1024;

/// Reads at most this much at a time: large enough for disk speed, small enough that a
/// thousand uploads at once hold 64 MiB.
const CHUNK: usize = 64 * 1024;

/// Copies `body` into `file` within `bounds`, asking `within_quota` after each chunk whether
/// the upload may be that long (the uploader's quota is shared with their other uploads on
/// their way, so it is no fixed number); the caller removes the file on any error.
pub async fn receive(
    mut body: impl AsyncRead + Unpin,
    file: &mut impl Destination,
    bounds: Bounds,
    mut within_quota: impl FnMut(u64) -> bool,
) -> Result<Received, ReceiveError> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut unsettled = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = tokio::time::timeout(bounds.idle, body.read(&mut buffer))
            .await
            .map_err(|_| ReceiveError::Stalled(bounds.idle))?
            .map_err(ReceiveError::Read)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        if size > bounds.max_bytes {
            return Err(ReceiveError::TooLarge(bounds.max_bytes));
        }
        if !within_quota(size) {
            return Err(ReceiveError::OverQuota);
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .await
            .map_err(ReceiveError::Write)?;
        unsettled += read as u64;
        if unsettled >= SETTLE_EVERY {
            file.settle().await.map_err(ReceiveError::Write)?;
            unsettled = 0;
        }
    }
    file.flush().await.map_err(ReceiveError::Write)?;
    Ok(Received {
        size,
        sha256: format!("{:x}", hasher.finalize()),
    })
}

/// A name a client gave a file, made safe to show: no directories, no control or invisible
/// formatting characters, at most 255 characters; "file" when nothing is left. Never used as
/// a path (files are stored by id).
pub fn display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .take(255)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "file".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Characters that change how a name reads without showing themselves: bidirectional
/// overrides (`evil\u{202e}gnp.exe` reads as `evilexe.png`), zero-width joiners, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(max_bytes: u64) -> Bounds {
        Bounds {
            max_bytes,
            idle: Duration::from_secs(5),
        }
    }

    /// A quota with `left` bytes of room.
    fn quota(left: u64) -> impl FnMut(u64) -> bool {
        move |size| size <= left
    }

    #[tokio::test]
    async fn a_file_is_copied_hashed_and_measured() {
        let mut out = Vec::new();
        let received = receive(&b"abc"[..], &mut out, bounds(10), quota(10))
            .await
            .expect("received");
        assert_eq!(out, b"abc");
        assert_eq!(received.size, 3);
        assert_eq!(
            received.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn the_size_and_the_quota_are_enforced_while_streaming() {
        let big = vec![7u8; 3 * CHUNK];
        let mut out = Vec::new();
        let err = receive(&big[..], &mut out, bounds(CHUNK as u64), quota(u64::MAX))
            .await
            .expect_err("too large");
        assert!(matches!(err, ReceiveError::TooLarge(_)), "{err}");
        assert!(
            out.len() <= CHUNK,
            "stopped at the first chunk past the limit"
        );
        let err = receive(&big[..], &mut Vec::new(), bounds(u64::MAX), quota(10))
            .await
            .expect_err("over quota");
        assert!(matches!(err, ReceiveError::OverQuota), "{err}");
    }

    #[tokio::test]
    async fn a_client_that_stops_sending_is_given_up() {
        let (_client, server) = tokio::io::duplex(64);
        let bounds = Bounds {
            idle: Duration::from_millis(50),
            ..bounds(10)
        };
        let err = receive(server, &mut Vec::new(), bounds, quota(10))
            .await
            .expect_err("stalled");
        assert!(matches!(err, ReceiveError::Stalled(_)), "{err}");
    }

    #[test]
    fn names_lose_paths_controls_and_invisible_characters() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\\\Users\\\\a\\\\report.pdf"), "report.pdf");
        assert_eq!(display_name("a\0b\nc\u{1b}[31m.txt"), "abc[31m.txt");
        assert_eq!(display_name("evil\u{202e}gnp.exe"), "evilgnp.exe");
        assert_eq!(display_name("   "), "file");
        assert_eq!(display_name(".."), "file");
        assert_eq!(display_name(".bashrc"), "bashrc");
        assert_eq!(display_name(&"x".repeat(1000)).chars().count(), 255);
        assert_eq!(display_name("Übersicht 2026.png"), "Übersicht 2026.png");
    }
}
