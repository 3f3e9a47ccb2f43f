//! The sending side of the fan-out mesh (`mesh.rs`): one task per sending member, on an
//! open-loop schedule, writing bodies that carry the room, the sender, a sequence number and
//! the scheduled send time (what `receiver.rs` checks).

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Ws};

pub type WsSink = futures_util::stream::SplitSink<Ws, Message>;

/// One step's timetable for one sender.
pub struct Schedule {
    pub first: Instant,
    pub period: Duration,
    pub end: Instant,
    pub origin: Instant,
    pub size: usize,
    pub stop: CancellationToken,
}

/// A sender's write half. With a connection per membership (the default) every sender owns
/// its socket; with `--rooms-per-user` a connection can be a sender in several of its rooms,
/// and those senders take turns on its one socket (a frame is written whole under the lock,
/// and one socket's frames reach the server in order, so each sender's sequence stays in order).
pub enum SenderSink {
    Own(WsSink),
    Shared(Arc<Mutex<WsSink>>),
}

impl SenderSink {
    async fn send(&mut self, frame: Message) -> Result<(), tungstenite::Error> {
        match self {
            SenderSink::Own(sink) => sink.send(frame).await,
            SenderSink::Shared(sink) => sink.lock().await.send(frame).await,
        }
    }
}

/// Which frame a sender writes.
#[derive(Clone, Copy)]
pub enum Wire {
    /// confab's `send`.
    Confab,
    /// The bare reference's frame (`bare.rs`), on a connection joined to one room.
    Bare,
    /// The bare reference's frame after `ROOM\n`, on a connection joined to several rooms.
    BareRouted,
}

/// A sending member: its write half and its sequence, which runs on across steps.
pub struct Sender {
    pub room: usize,
    pub index: usize,
    room_id: String,
    seq: u64,
    pub failed: bool,
    wire: Wire,
    sink: SenderSink,
}

impl Sender {
    /// Member `index` of room `room` (mesh indices; `room_id` is the server's id).
    pub fn new(room: usize, index: usize, room_id: String, wire: Wire, sink: SenderSink) -> Self {
        Self {
            room,
            index,
            room_id,
            seq: 0,
            failed: false,
            wire,
            sink,
        }
    }

    /// Sends on schedule until the step ends; returns itself (the write half must stay open
    /// while deliveries drain, and for the next step) and how many it sent in this step.
    pub async fn run(mut self, schedule: Schedule) -> (Self, u64) {
        let mut sent = 0u64;
        while !self.failed {
            let scheduled = schedule.first + schedule.period.mul_f64(sent as f64);
            if scheduled >= schedule.end {
                break;
            }
            tokio::select! {
                () = schedule.stop.cancelled() => break,
                () = tokio::time::sleep_until(scheduled) => {}
            }
            self.seq += 1;
            let micros = (scheduled - schedule.origin).as_micros();
            // Body header: room, sender index in the room, sequence, scheduled time (us).
            let body = client::padded(
                format!("{} {} {} {micros}", self.room, self.index, self.seq),
                schedule.size,
            );
            let frame = match self.wire {
                Wire::Confab => {
                    let nonce = format!("{}-{}-{}", self.room, self.index, self.seq);
                    client::send_frame(&self.room_id, &body, &nonce)
                }
                Wire::Bare => client::bare_message_frame(&body),
                Wire::BareRouted => client::bare_routed_frame(&self.room_id, &body),
            };
            if let Err(err) = self.sink.send(frame).await {
                eprintln!("sender {}/{}: {err}", self.room, self.index);
                self.seq -= 1;
                self.failed = true;
                break;
            }
            sent += 1;
        }
        (self, sent)
    }
}
