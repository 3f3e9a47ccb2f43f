//! Outgoing webhooks: which events of a room are sent where, and turning new messages into
//! queued deliveries (the dispatcher sends them).

use serde::Serialize;

use super::{secrets, validate_name, Integrations, Webhook};
use crate::chat::model::{Message, Room, User};
use crate::error::{Error, Result};
use crate::ids::{getrandom_fill, RoomId};
use crate::store::{
    DeliveryRecord, DeliveryStatus, MessageRecord, Page, WebhookId, WebhookKind, WebhookRecord,
};
use crate::wire::MessageView;

/// The events an outgoing webhook can be called on.
pub const EVENTS: [&str; 1] = ["message"];
const MAX_TRIGGER_WORDS: usize = 10;
const TRIGGER_WORD_MAX_CHARS: usize = 32;
/// Messages read per step when turning a room's new messages into deliveries.
const SCAN_PAGE: usize = 256;

/// What a member asks for when adding an outgoing webhook.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub url: String,
    pub events: Vec<String>,
    pub trigger_words: Vec<String>,
    pub name: Option<String>,
}

/// A new outgoing webhook and its signing secret (shown once).
pub struct CreatedOutgoing {
    pub webhook: Webhook,
    pub secret: String,
}

/// A new ULID stamped with `now_ms`.
pub(super) fn new_id(now_ms: u64) -> ulid::Ulid {
    let mut random = [0u8; 16];
    getrandom_fill(&mut random);
    ulid::Ulid::from_parts(now_ms, u128::from_be_bytes(random))
}

/// A delivery's id, the same whenever the event is turned into a delivery (also again after a
/// crash lost the first): a ULID with the message's time and a hash of (webhook, message), so
/// receivers can de-duplicate by `X-Confab-Delivery`.
fn delivery_id(hook: WebhookId, seq: u64, sent_at_ms: u64) -> ulid::Ulid {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(hook);
    hasher.update(seq.to_be_bytes());
    let digest = hasher.finalize();
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    ulid::Ulid::from_parts(sent_at_ms, u128::from_be_bytes(random))
}

impl Integrations {
    pub async fn create_outgoing(
        &self,
        room: RoomId,
        user: &User,
        request: OutgoingRequest,
    ) -> Result<CreatedOutgoing> {
        self.chat.member_room(room, user)?;
        let outbound = self.outbound().map_err(|_| Error::Busy)?;
        let url = outbound
            .validate_url(request.url.trim())
            .map_err(|err| Error::invalid(err.code(), err.to_string()))?;
        let events = validate_events(&request.events)?;
        let trigger_words = validate_trigger_words(&request.trigger_words)?;
        let name = match request.name.as_deref() {
            Some(name) => validate_name(name)?,
            None => validate_name(url.host_str().unwrap_or("webhook"))?,
        };
        // At save time as well as on every call: a URL that points inside is refused at once,
        // not discovered in the delivery log.
        outbound
            .check_destination(&url)
            .await
            .map_err(|err| Error::invalid(err.code(), err.to_string()))?;
        let now = self.chat.now_ms();
        let id = new_id(now);
        let secret = secrets::signing();
        let kind = WebhookKind::Outgoing {
            url: url.to_string(),
            events,
            trigger_words,
            secret: secret.clone(),
            // Only what is sent from now on.
            cursor: self.store.last_seq(room)?,
        };
        let record = super::new_record(id, name, user, now, kind);
        self.insert(room, id, &record, None).await?;
        self.has_outgoing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.added.notify_one();
        tracing::info!(room = %room, webhook = %record.id, by = %user.username, "outgoing webhook added");
        Ok(CreatedOutgoing {
            webhook: Webhook { room, record },
            secret,
        })
    }

    /// An outgoing webhook's newest deliveries, newest first: for the room's members.
    pub fn deliveries(
        &self,
        room: RoomId,
        id: &str,
        user: &User,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>> {
        let (hook_id, _) = self.find(room, id, user, false)?;
        Ok(self.store.deliveries_of(hook_id, limit)?)
    }

    /// Turns the messages sent since each outgoing webhook's cursor into queued deliveries.
    /// Returns how many were queued.
    pub(super) fn queue_new_events(&self) -> Result<usize> {
        let mut queued = 0;
        for (room, record) in self.store.outgoing_webhooks()? {
            queued += self.queue_for(room, &record)?;
        }
        Ok(queued)
    }

    fn queue_for(&self, room: RoomId, record: &WebhookRecord) -> Result<usize> {
        let WebhookKind::Outgoing {
            cursor,
            trigger_words,
            ..
        } = &record.kind
        else {
            return Ok(0);
        };
        let Some(hook_id) = super::parse_id(&record.id) else {
            return Ok(0);
        };
        let mut cursor = *cursor;
        let mut queued = 0;
        loop {
            let page = Page {
                after: Some(cursor),
                before: None,
                limit: SCAN_PAGE,
            };
            let messages = self.store.messages(room, page)?;
            let Some(&(last, _)) = messages.last() else {
                return Ok(queued);
            };
            let Ok(room_now) = self.chat.room(room) else {
                // Expired or deleted: the sweep removes the webhook with it.
                return Ok(queued);
            };
            // A creator who left (or was locked) takes the webhook's events with them: nothing
            // sent meanwhile is delivered, also not after they come back.
            let active = self.acting_creator(room, record)?.is_some();
            let now = self.chat.now_ms();
            let deliveries: Vec<(WebhookId, DeliveryRecord)> = messages
                .into_iter()
                .filter(|_| active)
                .filter_map(|(seq, message)| {
                    let word = trigger_match(&message, trigger_words)?;
                    let id = delivery_id(hook_id, seq, message.sent_at_ms);
                    let payload = payload(&id, record, &room_now, seq, message, word);
                    Some((id.to_bytes(), delivery(id, seq, now, payload)))
                })
                .collect();
            if !self
                .store
                .queue_deliveries(room, hook_id, cursor, last, &deliveries)?
            {
                // Deleted, or its cursor moved (another pass): nothing more to do here.
                return Ok(queued);
            }
            queued += deliveries.len();
            cursor = last;
        }
    }
}

fn validate_events(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::invalid(
            "invalid_event",
            "name at least one event: \"message\"",
        ));
    }
    let mut valid = Vec::new();
    for event in events {
        let event = event.trim();
        if !EVENTS.contains(&event) {
            return Err(Error::invalid(
                "invalid_event",
                format!("unknown event {event:?}; the events are: message"),
            ));
        }
        if !valid.iter().any(|seen: &String| seen == event) {
            valid.push(event.to_string());
        }
    }
    Ok(valid)
}

fn validate_trigger_words(words: &[String]) -> Result<Vec<String>> {
    if words.len() > MAX_TRIGGER_WORDS {
        return Err(Error::invalid(
            "invalid_trigger_words",
            format!("at most {MAX_TRIGGER_WORDS} trigger words"),
        ));
    }
    words
        .iter()
        .map(|word| {
            let word = word.trim();
            let bad = word.is_empty()
                || word.chars().count() > TRIGGER_WORD_MAX_CHARS
                || word.chars().any(|c| c.is_whitespace() || c.is_control());
            if bad {
                return Err(Error::invalid(
                    "invalid_trigger_words",
                    "a trigger word is one word of 1 to 32 characters",
                ));
            }
            Ok(word.to_string())
        })
        .collect()
}

/// Whether a message fires the webhook, and the trigger word it starts with (if the webhook
/// has any). Messages from webhooks never fire one: two webhooks answering each other would
/// loop forever.
fn trigger_match(message: &MessageRecord, trigger_words: &[String]) -> Option<Option<String>> {
    if message.deleted || message.webhook.is_some() {
        return None;
    }
    if trigger_words.is_empty() {
        return Some(None);
    }
    let first = message.body.split_whitespace().next()?;
    trigger_words
        .iter()
        .find(|word| word.eq_ignore_ascii_case(first))
        .map(|word| Some(word.clone()))
}

#[derive(Serialize)]
struct Payload<'a> {
    event: &'static str,
    delivery: String,
    webhook: HookRef<'a>,
    room: RoomRef<'a>,
    message: MessageView,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_word: Option<String>,
}

#[derive(Serialize)]
struct HookRef<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct RoomRef<'a> {
    id: String,
    name: &'a str,
}

fn payload(
    id: &ulid::Ulid,
    hook: &WebhookRecord,
    room: &Room,
    seq: u64,
    record: MessageRecord,
    trigger_word: Option<String>,
) -> String {
    let message = Message::from_record(room.id, seq, record);
    let body = Payload {
        event: "message",
        delivery: id.to_string(),
        webhook: HookRef {
            id: &hook.id,
            name: &hook.name,
        },
        room: RoomRef {
            id: room.id.to_string(),
            name: &room.name,
        },
        message: MessageView::from(message.as_ref()),
        trigger_word,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

fn delivery(id: ulid::Ulid, seq: u64, now: u64, payload: String) -> DeliveryRecord {
    DeliveryRecord {
        id: id.to_string(),
        event: "message".into(),
        message: seq,
        created_at_ms: now,
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_attempt_at_ms: None,
        next_attempt_at_ms: Some(now),
        response_status: None,
        error: None,
        payload,
    }
}
