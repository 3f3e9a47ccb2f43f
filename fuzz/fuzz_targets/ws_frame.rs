//! A client's WebSocket text frame, decoded exactly as the session does (`src/ws/session.rs`,
//! `handle_text`): `serde_json::from_str::<ClientFrame>`, then the room id and `after` cursor
//! parsed, or a `bad_request` frame quoting the parse error. None of it may panic, and the
//! error frame sent back must be valid JSON whatever the client sent.

#![no_main]

use confab::ids::{MessageId, RoomId};
use confab::ws::protocol::{self, ClientFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tungstenite hands the session only valid UTF-8 as text; other bytes are refused earlier.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(err) => {
            let message = format!("invalid frame: {err}");
            let reply = protocol::bad_request(&message);
            let value: serde_json::Value =
                serde_json::from_str(&reply).expect("error frames are JSON");
            assert_eq!(value["message"].as_str(), Some(message.as_str()));
            return;
        }
    };
    match frame {
        ClientFrame::Join { room, after } => {
            let _ = room.parse::<RoomId>();
            if let Some(after) = after {
                if let Ok(id) = after.parse::<MessageId>() {
                    // Cursors are echoed in message ids: they must round-trip.
                    assert_eq!(id.to_string(), after.to_ascii_lowercase());
                }
            }
        }
        ClientFrame::Leave { room } | ClientFrame::Typing { room } => {
            let _ = room.parse::<RoomId>();
        }
        ClientFrame::Send {
            room,
            nonce,
            reply_to,
            ..
        } => {
            let _ = room.parse::<RoomId>();
            let _ = reply_to.map(|id| id.parse::<MessageId>());
            let reply = protocol::error(&confab::error::Error::NotJoined, nonce.as_deref());
            let _: serde_json::Value = serde_json::from_str(&reply).expect("error frames are JSON");
        }
        ClientFrame::Edit {
            room,
            message,
            nonce,
            ..
        } => {
            let _ = (room.parse::<RoomId>(), message.parse::<MessageId>());
            let reply = protocol::error(&confab::error::Error::NotJoined, nonce.as_deref());
            let _: serde_json::Value = serde_json::from_str(&reply).expect("error frames are JSON");
        }
        ClientFrame::Delete { room, message } | ClientFrame::Read { room, message } => {
            let _ = (room.parse::<RoomId>(), message.parse::<MessageId>());
        }
        ClientFrame::React {
            room,
            message,
            emoji,
            ..
        } => {
            let _ = (room.parse::<RoomId>(), message.parse::<MessageId>());
            if let Ok(canonical) = confab::chat::changes::canonical_emoji(&emoji) {
                // The canonical form names the same emoji: reacting with it must be accepted too.
                let again = confab::chat::changes::canonical_emoji(&canonical).ok();
                assert_eq!(again.as_deref(), Some(canonical.as_str()));
            }
        }
        ClientFrame::Ping {} => {}
    }
});
