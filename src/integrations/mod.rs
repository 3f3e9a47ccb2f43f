//! Integrations with other servers: incoming webhooks (they post into a room), outgoing
//! webhooks (confab calls them on a room's events, from a durable queue) and the guarded HTTP
//! client every outgoing call goes through.
//!
//! A webhook belongs to its room (deleted with it) and acts as the member who added it: its
//! messages have that member as `author` and carry the webhook's name, and it stops working
//! while that member is not in the room (so leaving a private room also cuts off the webhooks
//! one added there).

mod dispatcher;
mod incoming;
pub mod outbound;
mod outgoing;
mod secrets;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use crate::chat::model::User;
use crate::chat::Chat;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{Store, WebhookId, WebhookKind, WebhookRecord};
use crate::ws::rate::KeyedRates;

pub use dispatcher::run as run_dispatcher;
pub use incoming::{CreatedIncoming, IncomingPost};
use outbound::Outbound;
pub use outgoing::{CreatedOutgoing, OutgoingRequest};

/// Webhooks per room, incoming and outgoing together.
pub const MAX_WEBHOOKS_PER_ROOM: usize = 20;
/// Deliveries kept in an outgoing webhook's log (unfinished ones are always kept).
pub const DELIVERY_LOG_LEN: usize = 100;
const NAME_MAX_CHARS: usize = 64;

/// The settings integrations run with, from `[integrations]` and `public_url`.
#[derive(Debug, Clone)]
pub struct IntegrationsSettings {
    pub public_url: Option<String>,
    pub allowed_networks: Vec<ipnet::IpNet>,
    pub webhook_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_for: Duration,
    pub incoming_per_minute: u32,
    pub incoming_burst: u32,
}

impl IntegrationsSettings {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let hooks = &config.integrations;
        Ok(Self {
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_string()),
            allowed_networks: hooks.allowed_networks()?,
            webhook_timeout: hooks.webhook_timeout,
            retry_initial: hooks.webhook_retry_initial,
            retry_for: hooks.webhook_retry_for,
            incoming_per_minute: hooks.incoming_per_minute,
            incoming_burst: hooks.incoming_burst,
        })
    }
}

/// The integrations service: webhooks of rooms, and the calls they make.
pub struct Integrations {
    store: Store,
    chat: Arc<Chat>,
    /// Built on first use: it loads the system's root certificates, which a server without
    /// outgoing webhooks should not pay for at every start.
    outbound: std::sync::OnceLock<Outbound>,
    settings: IntegrationsSettings,
    /// One bucket per incoming webhook (by id), created on first use.
    incoming_rates: KeyedRates,
    /// Creations take it, so two at once cannot both pass the per-room limit.
    creating: tokio::sync::Mutex<()>,
    /// Wakes the dispatcher: an outgoing webhook was added.
    added: tokio::sync::Notify,
    /// Whether any outgoing webhook exists: without one the dispatcher does not wake for every
    /// group commit (which under load is hundreds of times a second).
    has_outgoing: std::sync::atomic::AtomicBool,
}

/// A webhook as the API shows it.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub room: RoomId,
    pub record: WebhookRecord,
}

impl Integrations {
    pub fn new(store: Store, chat: Arc<Chat>, settings: IntegrationsSettings) -> Result<Self> {
        let has_outgoing = !store.outgoing_webhooks()?.is_empty();
        Ok(Self {
            has_outgoing: std::sync::atomic::AtomicBool::new(has_outgoing),
            store,
            chat,
            outbound: std::sync::OnceLock::new(),
            incoming_rates: KeyedRates::per_minute(
                settings.incoming_per_minute,
                settings.incoming_burst,
            ),
            settings,
            creating: tokio::sync::Mutex::new(()),
            added: tokio::sync::Notify::new(),
        })
    }

    /// The guarded HTTP client, built on first use.
    fn outbound(&self) -> std::result::Result<&Outbound, outbound::OutboundError> {
        if let Some(client) = self.outbound.get() {
            return Ok(client);
        }
        let client = Outbound::new(
            self.settings.allowed_networks.clone(),
            self.settings.webhook_timeout,
        )
        .inspect_err(|err| {
            tracing::error!(error = %err, "cannot set up the HTTP client for outgoing calls");
        })?;
        Ok(self.outbound.get_or_init(|| client))
    }

    /// A room's webhooks of one kind, oldest first: for its members.
    pub fn webhooks(&self, room: RoomId, user: &User, incoming: bool) -> Result<Vec<Webhook>> {
        self.chat.member_room(room, user)?;
        Ok(self
            .store
            .webhooks_of(room)?
            .into_iter()
            .filter(|record| (record.kind == WebhookKind::Incoming) == incoming)
            .map(|record| Webhook { room, record })
            .collect())
    }

    /// Deletes a webhook: by the member who added it, the room's owners, or an admin.
    pub async fn delete_webhook(
        &self,
        room: RoomId,
        id: &str,
        user: &User,
        incoming: bool,
    ) -> Result<()> {
        let (hook_id, record) = self.find(room, id, user, incoming)?;
        let may = record.created_by.eq_ignore_ascii_case(&user.username)
            || self.chat.manages_room(room, user)?;
        if !may {
            return Err(Error::Forbidden(
                "only who added a webhook, the room's owners or an admin can delete it".into(),
            ));
        }
        self.store.delete_webhook(room, hook_id)?;
        if !incoming {
            let any = !self.store.outgoing_webhooks()?.is_empty();
            self.has_outgoing
                .store(any, std::sync::atomic::Ordering::Relaxed);
        }
        self.incoming_rates.forget(&record.id);
        self.store.flush().await?;
        tracing::info!(room = %room, webhook = %record.id, by = %user.username, "webhook deleted");
        Ok(())
    }

    /// A webhook of `room` that `user` (a member) may see, by its public id.
    fn find(
        &self,
        room: RoomId,
        id: &str,
        user: &User,
        incoming: bool,
    ) -> Result<(WebhookId, WebhookRecord)> {
        self.chat.member_room(room, user)?;
        let not_found = || Error::unknown("webhook_not_found", "no such webhook in this room");
        let hook_id = parse_id(id).ok_or_else(not_found)?;
        let record = self.store.webhook(room, hook_id)?.ok_or_else(not_found)?;
        if (record.kind == WebhookKind::Incoming) != incoming {
            return Err(not_found());
        }
        Ok((hook_id, record))
    }

    /// Checks the per-room limit and stores a new webhook.
    async fn insert(
        &self,
        room: RoomId,
        id: ulid::Ulid,
        record: &WebhookRecord,
        incoming_secret: Option<&crate::store::TokenHash>,
    ) -> Result<()> {
        if self
            .store
            .room(room)?
            .is_some_and(|stored| stored.encrypted)
        {
            // The server cannot read what an outgoing one would send, nor encrypt what an
            // incoming one posts.
            return Err(crate::chat::encryption::refused_in_encrypted_room(
                "webhooks are",
            ));
        }
        let _one_at_a_time = self.creating.lock().await;
        if self.store.webhooks_of(room)?.len() >= MAX_WEBHOOKS_PER_ROOM {
            return Err(Error::conflict(
                "too_many_webhooks",
                format!("a room has at most {MAX_WEBHOOKS_PER_ROOM} webhooks; delete one first"),
            ));
        }
        self.store
            .insert_webhook(room, id.to_bytes(), record, incoming_secret)?;
        self.store.flush().await?;
        Ok(())
    }

    /// The creator of a webhook, if they are still a member of its room and may act.
    fn acting_creator(&self, room: RoomId, record: &WebhookRecord) -> Result<Option<User>> {
        let Some(account) = self.store.user(&record.created_by)? else {
            return Ok(None);
        };
        if account.locked || self.store.member(room, &record.created_by)?.is_none() {
            return Ok(None);
        }
        Ok(Some(User::from(&account)))
    }
}

/// A new webhook's record, added now by `user`.
fn new_record(
    id: ulid::Ulid,
    name: String,
    user: &User,
    now: u64,
    kind: WebhookKind,
) -> WebhookRecord {
    WebhookRecord {
        id: id.to_string(),
        name,
        created_by: user.username.clone(),
        created_at_ms: now,
        last_used_at_ms: None,
        kind,
    }
}

fn parse_id(text: &str) -> Option<WebhookId> {
    ulid::Ulid::from_string(text).ok().map(|id| id.to_bytes())
}

/// A webhook's name: 1 to 64 characters, one line.
fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "invalid_webhook_name",
            "a webhook's name has 1 to 64 characters on one line",
        ));
    }
    Ok(name.to_string())
}
