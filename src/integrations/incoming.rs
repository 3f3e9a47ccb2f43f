//! Incoming webhooks: a secret URL that posts into its room, accepting confab's `{"body"}` and
//! the Slack-compatible `{"text","username"}` that CI systems and monitoring already send.

use std::sync::Arc;

use super::{secrets, validate_name, Integrations, Webhook};
use crate::chat::model::{Message, User};
use crate::chat::Draft;
use crate::error::{Error, Result};
use crate::ids::RoomId;
use crate::store::{WebhookKind, WebhookRecord, WebhookStamp};

/// A new incoming webhook and the secret in its URL (shown once; the store keeps a hash).
pub struct CreatedIncoming {
    pub webhook: Webhook,
    pub secret: String,
}

/// What a call to an incoming webhook's URL carries.
#[derive(Debug, Default)]
pub struct IncomingPost {
    /// confab's field.
    pub body: Option<String>,
    /// Slack's field, used when `body` is absent.
    pub text: Option<String>,
    /// Slack's display name for this one message, instead of the webhook's name.
    pub username: Option<String>,
}

impl Integrations {
    pub async fn create_incoming(
        &self,
        room: RoomId,
        user: &User,
        name: &str,
    ) -> Result<CreatedIncoming> {
        self.chat.member_room(room, user)?;
        let name = validate_name(name)?;
        let now = self.chat.now_ms();
        let id = super::outgoing::new_id(now);
        let secret = secrets::incoming();
        let record = super::new_record(id, name, user, now, WebhookKind::Incoming);
        self.insert(room, id, &record, Some(&secrets::hash(&secret)))
            .await?;
        tracing::info!(room = %room, webhook = %record.id, by = %user.username, "incoming webhook added");
        Ok(CreatedIncoming {
            webhook: Webhook { room, record },
            secret,
        })
    }

    /// The URL of an incoming webhook: `public_url`, or the origin the caller used.
    pub fn incoming_url(&self, secret: &str, request_origin: &str) -> String {
        let origin = self
            .settings
            .public_url
            .as_deref()
            .unwrap_or(request_origin);
        format!("{origin}/api/hooks/{secret}")
    }

    /// Posts a call's message into the webhook's room, as the webhook.
    pub async fn post_incoming(&self, secret: &str, post: IncomingPost) -> Result<Arc<Message>> {
        let not_found = || Error::unknown("webhook_not_found", "no webhook has this URL");
        if !secrets::is_incoming(secret) {
            return Err(not_found());
        }
        let (room, record) = self
            .store
            .incoming_webhook(&secrets::hash(secret))?
            .ok_or_else(not_found)?;
        self.take_incoming_token(&record.id)?;
        let body = post.body.or(post.text).ok_or_else(|| {
            Error::invalid(
                "invalid_webhook_payload",
                "send {\"body\": \"...\"} or Slack's {\"text\": \"...\"}",
            )
        })?;
        let name = match post.username.as_deref().map(str::trim) {
            Some(given) if !given.is_empty() => validate_name(given)?,
            _ => record.name.clone(),
        };
        let Some(author) = self.acting_creator(room, &record)? else {
            return Err(Error::gone(
                "webhook_inactive",
                "whoever added this webhook is no longer a member of its room",
            ));
        };
        let draft = Draft {
            body,
            nonce: None,
            reply_to: None,
            attachments: Vec::new(),
            sealed: None,
            mentions: Vec::new(),
            webhook: Some(WebhookStamp {
                id: record.id.clone(),
                name,
            }),
        };
        let message = self.chat.send_from_http(&author, room, draft).await?;
        self.touch(room, &record);
        Ok(message)
    }

    /// One token from the webhook's bucket, or `rate_limited` with the wait.
    fn take_incoming_token(&self, id: &str) -> Result<()> {
        self.incoming_rates
            .try_take(id)
            .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })
    }

    /// Records the webhook's last use, at most once a minute.
    fn touch(&self, room: RoomId, record: &WebhookRecord) {
        let now = self.chat.now_ms();
        if record
            .last_used_at_ms
            .is_some_and(|at| now.saturating_sub(at) < 60_000)
        {
            return;
        }
        let Some(id) = super::parse_id(&record.id) else {
            return;
        };
        let mut updated = record.clone();
        updated.last_used_at_ms = Some(now);
        if let Err(err) = self.store.touch_webhook(room, id, record, &updated) {
            tracing::warn!(error = %err, "could not record a webhook's last use");
        }
    }
}
