//! The WebSocket protocol's frames (documented in docs/protocol.md) and their encoding.

use serde::{Deserialize, Serialize};

use crate::chat::events::{EventKind, Joined};
use crate::error::Error;
use crate::wire::{MessageView, RoomView};

/// A frame from the client. Unknown types and fields are rejected with `bad_request`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Join {
        room: String,
        #[serde(default)]
        after: Option<String>,
    },
    Leave {
        room: String,
    },
    Send {
        room: String,
        /// May be empty (or absent) when the message carries attachments.
        #[serde(default)]
        body: String,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default)]
        reply_to: Option<String>,
        /// Ids of the sender's unsent uploads to the room.
        #[serde(default)]
        attachments: Vec<String>,
        /// In an encrypted room, instead of `body` (docs/encrypted-rooms.md).
        #[serde(default)]
        ciphertext: Option<String>,
        #[serde(default)]
        iv: Option<String>,
        #[serde(default)]
        key_version: Option<u32>,
        /// In an encrypted room: who the message mentions, as the client found them.
        #[serde(default)]
        mentions: Vec<String>,
    },
    Edit {
        room: String,
        message: String,
        /// In a plain room; in an encrypted one, `ciphertext`, `iv` and `key_version`.
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default)]
        ciphertext: Option<String>,
        #[serde(default)]
        iv: Option<String>,
        #[serde(default)]
        key_version: Option<u32>,
    },
    Delete {
        room: String,
        message: String,
    },
    React {
        room: String,
        message: String,
        emoji: String,
        on: bool,
    },
    Typing {
        room: String,
    },
    /// Marks `room` read up to `message`.
    Read {
        room: String,
        message: String,
    },
    Ping {},
}

impl ClientFrame {
    /// Whether the frame changes something (needs an access token's `write` scope): sending,
    /// editing, deleting, reacting, typing notices and read markers. Joining, leaving and pings only read.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::Send { .. }
                | Self::Edit { .. }
                | Self::Delete { .. }
                | Self::React { .. }
                | Self::Typing { .. }
                | Self::Read { .. }
        )
    }

    /// The client's nonce, echoed on an error frame about this frame.
    pub fn nonce(&self) -> Option<&str> {
        match self {
            Self::Send { nonce, .. } | Self::Edit { nonce, .. } => nonce.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    Joined {
        room: RoomView,
        online: &'a [String],
    },
    Message {
        message: MessageView,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
    },
    MessageUpdated {
        message: MessageView,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
    },
    Presence {
        room: String,
        user: &'a str,
        online: bool,
    },
    Typing {
        room: String,
        user: &'a str,
    },
    RoomDeleted {
        room: String,
    },
    Added {
        room: RoomView,
    },
    Removed {
        room: String,
    },
    RoomUpdated {
        room: RoomView,
    },
    Read {
        room: String,
        message: String,
    },
    RoomKey {
        room: String,
        key_version: u32,
    },
    /// The backlog of a join is complete: `cursor` is where a rejoin should resume from.
    ReplayDone {
        room: String,
        cursor: String,
    },
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
    },
}

fn encode(frame: &ServerFrame<'_>) -> String {
    // These frames hold only strings, bools and lists: serialization cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

/// Encodes a hub event; the hub calls this once per event, whatever the number of recipients.
pub fn encode_event(kind: &EventKind) -> String {
    match kind {
        EventKind::Message { message, nonce } => encode(&ServerFrame::Message {
            message: MessageView::from(message.as_ref()),
            nonce: nonce.as_deref(),
        }),
        EventKind::MessageUpdated { message, nonce } => encode(&ServerFrame::MessageUpdated {
            message: MessageView::from(message.as_ref()),
            nonce: nonce.as_deref(),
        }),
        EventKind::Presence { room, user, online } => encode(&ServerFrame::Presence {
            room: room.to_string(),
            user,
            online: *online,
        }),
        EventKind::Typing { room, user } => encode(&ServerFrame::Typing {
            room: room.to_string(),
            user,
        }),
        EventKind::RoomDeleted { room } => encode(&ServerFrame::RoomDeleted {
            room: room.to_string(),
        }),
        EventKind::Added { room } => encode(&ServerFrame::Added {
            room: RoomView::from(room.as_ref()),
        }),
        EventKind::Removed { room } => encode(&ServerFrame::Removed {
            room: room.to_string(),
        }),
        EventKind::RoomUpdated { room } => encode(&ServerFrame::RoomUpdated {
            room: RoomView::for_subscribers(room),
        }),
        // Written by hand around the message's shared encoding: every member gets one of these
        // per notice, and only the counts differ. A room id is a ULID: nothing to escape.
        EventKind::RoomActivity {
            room,
            last_message,
            unread_count,
            mention_count,
        } => {
            let message = last_message.encoded(|message| {
                serde_json::to_string(&MessageView::from(message)).unwrap_or_default()
            });
            format!(
                r#"{{"type":"room_activity","room":"{room}","last_message":{message},"unread_count":{unread_count},"mention_count":{mention_count}}}"#
            )
        }
        EventKind::Read { room, message } => encode(&ServerFrame::Read {
            room: room.to_string(),
            message: message.to_string(),
        }),
        EventKind::RoomKey { room, key_version } => encode(&ServerFrame::RoomKey {
            room: room.to_string(),
            key_version: *key_version,
        }),
        EventKind::SendFailed {
            code,
            message,
            nonce,
        } => encode(&ServerFrame::Error {
            code,
            message,
            nonce: nonce.as_deref(),
        }),
    }
}

pub fn joined(joined: &Joined) -> String {
    encode(&ServerFrame::Joined {
        room: RoomView::from(&joined.room),
        online: &joined.online,
    })
}

pub fn message(message: &crate::chat::model::Message) -> String {
    encode(&ServerFrame::Message {
        message: MessageView::from(message),
        nonce: None,
    })
}

/// Ends a join's backlog. Until it arrives, a client must not take the `seq` of backlog frames as
/// its cursor: changed older messages come before new ones, so their numbers are out of order
/// and a replay cut short would skip what was not sent yet.
pub fn replay_done(room: crate::ids::RoomId, cursor: u64) -> String {
    encode(&ServerFrame::ReplayDone {
        room: room.to_string(),
        cursor: crate::ids::MessageId(cursor).to_string(),
    })
}

pub fn pong() -> String {
    encode(&ServerFrame::Pong)
}

/// The one place a domain error becomes a WebSocket error frame.
pub fn error(err: &Error, nonce: Option<&str>) -> String {
    if let Error::Storage(inner) = err {
        tracing::error!(error = %inner, "storage failure while serving a WebSocket frame");
    }
    encode(&ServerFrame::Error {
        code: err.code(),
        message: &err.public_message(),
        nonce,
    })
}

pub fn bad_request(message: &str) -> String {
    encode(&ServerFrame::Error {
        code: "bad_request",
        message,
        nonce: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_by_type_and_reject_unknowns() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"send","room":"r","body":"hi","nonce":"n1"}"#)
                .expect("send");
        assert!(matches!(frame, ClientFrame::Send { nonce: Some(_), .. }));
        assert!(matches!(
            serde_json::from_str(r#"{"type":"ping"}"#).expect("ping"),
            ClientFrame::Ping {}
        ));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"explode"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"join"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"join","room":5}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","extra":1}"#).is_err());
    }

    #[test]
    fn error_frames_carry_code_message_and_nonce() {
        let text = error(&Error::NotJoined, Some("n1"));
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "error");
        assert_eq!(value["code"], "not_joined");
        assert_eq!(value["nonce"], "n1");
    }
}
