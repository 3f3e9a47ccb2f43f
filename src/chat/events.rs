//! What the hub delivers to connections. An event is built once per room and shared by every
//! recipient through an `Arc`; its wire encoding is computed once, by the first recipient that
//! needs it, and reused by all others.

use std::sync::{Arc, OnceLock};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::model::{Message, Room, RoomInfo};
use crate::ids::RoomId;

#[derive(Debug)]
pub enum EventKind {
    /// A new message; `nonce` is set only on the copy sent to the sender's own connection.
    Message {
        message: Arc<Message>,
        nonce: Option<String>,
    },
    /// The new state of a message after an edit, a deletion or a reaction; `nonce` as above.
    MessageUpdated {
        message: Arc<Message>,
        nonce: Option<String>,
    },
    Presence {
        room: RoomId,
        user: String,
        online: bool,
    },
    Typing {
        room: RoomId,
        user: String,
    },
    RoomDeleted {
        room: RoomId,
    },
    /// The recipient's user became a member of this room.
    Added {
        room: Box<RoomInfo>,
    },
    /// The recipient's user is no longer a member of this room.
    Removed {
        room: RoomId,
    },
    /// The room's name, topic or member count changed.
    RoomUpdated {
        room: Room,
    },
    /// A new message in one of the recipient's rooms, with their counts there (coalesced).
    RoomActivity {
        room: RoomId,
        last_message: Arc<SharedMessage>,
        unread_count: u64,
        mention_count: u64,
    },
    /// The recipient's user read `room` up to `message` on another connection.
    Read {
        room: RoomId,
        message: crate::ids::MessageId,
    },
    /// The recipient's keys of this encrypted room changed: keys were shared with them, or the
    /// room moved to a new key version (a member left).
    RoomKey {
        room: RoomId,
        key_version: u32,
    },
    /// A send from this connection failed after it was accepted (e.g. the disk failed).
    SendFailed {
        code: &'static str,
        message: String,
        nonce: Option<String>,
    },
}

#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    /// Shared bytes: every recipient's frame holds the same buffer, never a copy.
    encoded: OnceLock<Utf8Bytes>,
}

impl Event {
    pub fn new(kind: EventKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            encoded: OnceLock::new(),
        })
    }

    /// The event's wire form, encoded by `encode` on first use and shared afterwards (a clone
    /// is a reference count).
    pub fn encoded(&self, encode: impl FnOnce(&EventKind) -> String) -> Utf8Bytes {
        self.encoded
            .get_or_init(|| Utf8Bytes::from(encode(&self.kind)))
            .clone()
    }
}

/// A message carried by many different events (one `room_activity` per member, each with its
/// own counts): its wire form is encoded once, by the first that needs it, and reused.
#[derive(Debug)]
pub struct SharedMessage {
    pub message: Arc<Message>,
    encoded: OnceLock<Arc<str>>,
}

impl SharedMessage {
    pub fn new(message: Arc<Message>) -> Arc<Self> {
        Arc::new(Self {
            message,
            encoded: OnceLock::new(),
        })
    }

    pub fn encoded(&self, encode: impl FnOnce(&Message) -> String) -> Arc<str> {
        self.encoded
            .get_or_init(|| Arc::from(encode(&self.message)))
            .clone()
    }
}

/// What a `join` hands back to the connection: the room, who is online, and the last message
/// already delivered live, so the backlog (up to it) and the live stream (after it) neither
/// overlap nor leave a gap.
#[derive(Debug)]
pub struct Joined {
    pub room: RoomInfo,
    pub online: Vec<String>,
    pub delivered_up_to: u64,
}
