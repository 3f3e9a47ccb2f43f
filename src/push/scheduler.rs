//! Which new messages become pushes, and when: each one that notifies a subscribed member (per
//! their level in the room) waits `push.delay`; if by then no device of theirs has read past it
//! and they are still a member, it goes to the sender's queue.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Job, Push};
use crate::chat::markdown;
use crate::chat::model::{Message, Room};
use crate::store::RoomKind;

/// Characters of the message text a push carries.
const PREVIEW_CHARS: usize = 100;

/// A message waiting out the delay for one member.
struct Waiting {
    due: Instant,
    username: String,
    mentioned: bool,
    message: Arc<Message>,
    room: Arc<Room>,
}

pub(super) async fn run(
    push: Arc<Push>,
    mut messages: Receiver<Arc<Message>>,
    shutdown: CancellationToken,
) {
    // Every message waits the same delay, so they come due in the order they arrived.
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    loop {
        let next = waiting.front().map(|w| w.due);
        tokio::select! {
            () = shutdown.cancelled() => break,
            received = messages.recv() => match received {
                Ok(message) => consider(&push, &message, &mut waiting),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "push fell behind the chat; some messages are not pushed");
                    push.metrics.push_sent("dropped", missed);
                }
                Err(RecvError::Closed) => break,
            },
            () = sleep_until(next), if next.is_some() => {
                let now = Instant::now();
                while waiting.front().is_some_and(|w| w.due <= now) {
                    if let Some(due) = waiting.pop_front() {
                        send_if_unread(&push, due);
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Queues the message for every subscribed member it notifies.
fn consider(push: &Push, message: &Arc<Message>, waiting: &mut VecDeque<Waiting>) {
    let notified = {
        let subscribed = push.subscribed_users();
        if subscribed.is_empty() {
            return;
        }
        push.chat.notified_by(message, &subscribed)
    };
    let (room, notified) = match notified {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "could not find whom a message notifies");
            return;
        }
    };
    let room = Arc::new(room);
    let due = Instant::now() + push.settings.delay;
    for member in notified {
        if waiting.len() >= push.settings.queue {
            push.metrics.push_sent("dropped", 1);
            continue;
        }
        waiting.push_back(Waiting {
            due,
            username: member.username,
            mentioned: member.mentioned,
            message: message.clone(),
            room: room.clone(),
        });
    }
}

fn send_if_unread(push: &Push, due: Waiting) {
    match push
        .chat
        .still_unread(due.message.room, &due.username, due.message.id)
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(error = %err, "could not read a push recipient's marker");
            return;
        }
    }
    let job = Job {
        payload: Arc::new(payload(&due.room, &due.message, due.mentioned)),
        topic: due.room.id.to_string(),
        urgent: due.mentioned,
        username: due.username,
    };
    if push.jobs.try_send(job).is_err() {
        push.metrics.push_sent("dropped", 1);
    }
}

/// What the service worker gets: enough to show the notification and open the message.
fn payload(room: &Room, message: &Message, mentioned: bool) -> Vec<u8> {
    let sender = message
        .webhook
        .as_ref()
        .map_or(message.author.as_str(), |hook| hook.name.as_str());
    let kind = match room.kind {
        RoomKind::Public => "public",
        RoomKind::Private => "private",
        RoomKind::Direct => "direct",
    };
    // An encrypted room's content is ciphertext here: say only that there is something new.
    let body = match (room.encrypted, room.kind) {
        (true, RoomKind::Direct) => "New message in a direct conversation".to_string(),
        (true, _) => format!("New message in {}", room.name),
        (false, _) => preview(&markdown::plain_text(&message.body)),
    };
    let payload = serde_json::json!({
        "type": "message",
        "room": room.id.to_string(),
        "room_name": room.name,
        "room_kind": kind,
        "sender": sender,
        "body": body,
        "message": message.id.to_string(),
        "sent_at": crate::wire::format_time(message.sent_at_ms),
        "mention": mentioned,
    });
    let mut payload = payload;
    if room.encrypted {
        payload["encrypted"] = serde_json::Value::Bool(true);
    }
    payload.to_string().into_bytes()
}

/// The first `PREVIEW_CHARS` characters of the text, with an ellipsis when there was more.
fn preview(body: &str) -> String {
    let mut chars = body.chars();
    let mut cut: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn previews_are_cut_at_a_hundred_characters_not_bytes() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(150);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), 101);
        assert!(cut.ends_with('…'));
        assert_eq!(preview(&"x".repeat(100)), "x".repeat(100));
    }
}
