//! Hot backups through the control socket: the server writes a consistent snapshot of its
//! database into the socket while chat goes on, and the CLI writes it to a file.

use tokio::io::AsyncWrite;

use super::{socket, Reply, Services};
use crate::error::Error;

pub(super) async fn stream_backup(
    _services: &Services,
    _include_sessions: bool,
    mut write: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()> {
    let reply = Reply::failed(&Error::invalid(
        "unsupported",
        "backups are not available yet",
    ));
    socket::send(&mut write, &reply).await
}
