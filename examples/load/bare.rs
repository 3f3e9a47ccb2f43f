//! The bare reference for `saturate`: the least a WebSocket broadcast server can do, to measure
//! confab against. Same WebSocket crate as confab (tokio-tungstenite, under poem), no JSON, no
//! storage, no authentication, no HTTP routes, one write (write + flush) per frame.
//!
//! Protocol: a client's first text frame is `join ROOM`; every later text frame it sends is
//! forwarded, as it is, to every connection of that room, the sender's own included. A
//! connection whose queue is full is dropped from its room, as confab cuts off a lagging one.
//! A connection joined to several rooms (`--rooms-per-user`) sends `join ROOM ROOM ...` first,
//! then `ROOM\nFRAME` for each frame, and only `FRAME` is forwarded to that room: one copy per
//! sent frame, where confab parses every `send`.
//!
//! It runs as a child process of the load tool (`load bare-server`), so its CPU and memory are
//! read from /proc exactly as confab's are.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::server::{self, Target};

/// Frames queued per connection before it counts as lagging.
const QUEUE: usize = 1024;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
}

type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Message>)>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves until killed.
pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("bare server: cannot listen on {}", args.listen))?;
    let rooms = Rooms::default();
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        next_id += 1;
        tokio::spawn(connection(stream, next_id, rooms.clone()));
    }
}

async fn connection(stream: TcpStream, id: u64, rooms: Rooms) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let joined: Vec<String> = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Some(names) = text.as_str().strip_prefix("join ") {
                    break names.split(' ').map(str::to_string).collect();
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
            Some(Ok(_)) => {}
        }
    };
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    for room in &joined {
        lock(&rooms)
            .entry(room.clone())
            .or_default()
            .push((id, tx.clone()));
    }
    drop(tx);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    let single = match joined.as_slice() {
        [room] => Some(room.as_str()),
        _ => None,
    };
    while let Some(Ok(frame)) = stream.next().await {
        match (frame, single) {
            (frame @ Message::Text(_), Some(room)) => forward(&rooms, room, &frame),
            (Message::Text(text), None) => {
                if let Some((room, frame)) = text.as_str().split_once('\n') {
                    forward(&rooms, room, &Message::text(frame));
                }
            }
            (Message::Close(_), _) => break,
            _ => {}
        }
    }
    for room in &joined {
        if let Some(members) = lock(&rooms).get_mut(room) {
            members.retain(|(member, _)| *member != id);
        }
    }
    writer.abort();
}

/// Queues `frame` for every connection of `room`, dropping those whose queue is full.
fn forward(rooms: &Rooms, room: &str, frame: &Message) {
    if let Some(members) = lock(rooms).get_mut(room) {
        // The text is reference-counted bytes: every recipient gets the same buffer.
        members.retain(|(_, member)| member.try_send(frame.clone()).is_ok());
    }
}

/// The bare server as a child process of this tool, killed when dropped.
pub struct BareServer {
    child: Child,
    pub target: Target,
}

impl BareServer {
    /// Starts `load bare-server` on a free loopback port and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the load tool's own path")?;
        let port = server::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(exe)
            .args(["bare-server", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .context("starting the bare reference server")?;
        let bare = Self {
            target: Target::bare(addr, child.id()),
            child,
        };
        for _ in 0..500 {
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(bare);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the bare reference server did not listen on {addr} within 5 s")
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
