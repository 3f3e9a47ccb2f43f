//! The server's control socket: a Unix socket in the data directory, readable and writable by
//! the server's own user only (mode 0600). One JSON request line in, one JSON reply line out;
//! a backup reply is followed by the backup's bytes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{execute, Reply, Request, Services};
use crate::error::Error;

/// Largest request line accepted (a request holds at most a username and a password).
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// Binds the control socket and serves it until `shutdown`; the socket file is removed then.
pub fn spawn(
    data_dir: &Path,
    services: Services,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let path = data_dir.join(super::SOCKET_NAME);
    // We hold the database lock, so a socket file left here belongs to a server that died.
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(serve(listener, path, services, shutdown)))
}

async fn serve(
    listener: UnixListener,
    path: PathBuf,
    services: Services,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let services = services.clone();
                    tokio::spawn(async move {
                        if let Err(err) = handle(stream, &services).await {
                            tracing::warn!(error = %err, "control socket request failed");
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
    let _ = std::fs::remove_file(&path);
    tracing::debug!("control socket closed");
}

async fn handle(stream: UnixStream, services: &Services) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let read_request = reader.read_line(&mut line);
    match tokio::time::timeout(std::time::Duration::from_secs(10), read_request).await {
        // A client that only checked whether the server runs, or went silent.
        Ok(Ok(0)) | Err(_) => return Ok(()),
        Ok(read) => read?,
    };
    let request = match serde_json::from_str::<Request>(line.trim_end()) {
        Ok(request) => request,
        Err(err) => {
            let reply = Reply::failed(&Error::invalid(
                "bad_request",
                format!("invalid request: {err}"),
            ));
            return send(&mut write, &reply).await;
        }
    };
    match request {
        Request::BackupCreate { include_sessions } => {
            super::backup::stream_backup(services, include_sessions, write).await
        }
        request => {
            let reply = match execute(services, request).await {
                Ok(reply) => reply,
                Err(err) => Reply::failed(&err),
            };
            send(&mut write, &reply).await
        }
    }
}

pub(super) async fn send(
    write: &mut (impl AsyncWriteExt + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).unwrap_or_default();
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}
