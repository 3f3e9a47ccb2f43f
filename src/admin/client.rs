//! The CLI's side of the control socket.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::{Reply, Request};

/// Connects to the server holding `data_dir`, or returns None when no server is running there
/// (no socket, or a stale socket left by a server that died).
pub async fn connect(data_dir: &Path) -> anyhow::Result<Option<UnixStream>> {
    let path = data_dir.join(super::SOCKET_NAME);
    if !path.exists() {
        return Ok(None);
    }
    match UnixStream::connect(&path).await {
        Ok(stream) => Ok(Some(stream)),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => Err(anyhow::anyhow!(
            "permission denied on {}: run this command as the server's user or root",
            path.display()
        )),
        Err(err) => Err(anyhow::anyhow!(
            "cannot reach the server's control socket {}: {err}",
            path.display()
        )),
    }
}

/// Sends `request` and reads the one-line reply; returns the rest of the stream for streaming
/// replies (backups).
pub async fn call(
    stream: UnixStream,
    request: &Request,
) -> anyhow::Result<(Reply, impl AsyncRead + Unpin)> {
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await?;
    let mut reader = BufReader::new(read);
    let mut answer = String::new();
    if reader.read_line(&mut answer).await? == 0 {
        anyhow::bail!("the server closed the control connection without an answer");
    }
    let reply: Reply = serde_json::from_str(answer.trim_end())
        .map_err(|err| anyhow::anyhow!("unreadable answer from the server: {err}"))?;
    Ok((reply, reader))
}
