//! `/api/rooms/{id}/webhooks/...`: a room's incoming and outgoing webhooks and the delivery
//! log of the outgoing ones; and `/api/hooks/{secret}`, the URL incoming webhooks post to.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::invites::origin_of;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::integrations::{IncomingPost, OutgoingRequest, Webhook};
use crate::store::{DeliveryRecord, WebhookKind};
use crate::wire::{format_time, MessageView};

#[derive(Debug, Object)]
#[oai(rename = "NewIncomingWebhook")]
pub struct NewIncomingBody {
    /// Shown with its messages, 1 to 64 characters (e.g. `CI`).
    pub name: String,
}

/// An incoming webhook, without its URL.
#[derive(Debug, Object)]
#[oai(rename = "IncomingWebhook")]
pub struct IncomingView {
    /// A ULID.
    pub id: String,
    pub name: String,
    /// The room's id.
    pub room: String,
    pub created_by: String,
    pub created_at: String,
    /// To the minute; null if never used.
    #[oai(nullable)]
    pub last_used_at: Option<String>,
}

impl From<&Webhook> for IncomingView {
    fn from(hook: &Webhook) -> Self {
        let record = &hook.record;
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            room: hook.room.to_string(),
            created_by: record.created_by.clone(),
            created_at: format_time(record.created_at_ms),
            last_used_at: record.last_used_at_ms.map(format_time),
        }
    }
}

/// A new incoming webhook with its URL. Not `Debug`: the URL holds the secret.
#[derive(Object)]
#[oai(rename = "CreatedIncomingWebhook")]
pub struct CreatedIncomingView {
    pub id: String,
    pub name: String,
    /// POST JSON here to post into the room: `{"body": "..."}`, or Slack's `{"text": "...",
    /// "username": "..."}`. Shown only in this answer: anyone with it can post as the webhook.
    pub url: String,
    pub room: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct IncomingList {
    /// Oldest first.
    pub webhooks: Vec<IncomingView>,
}

#[derive(Debug, Object)]
#[oai(rename = "NewOutgoingWebhook")]
pub struct NewOutgoingBody {
    /// Where events are POSTed: `http` or `https`, not an internal address (loopback, private,
    /// link-local, ...) unless the server allows its network (`integrations.allowed_networks`).
    pub url: String,
    /// The events to send: `message`.
    pub events: Vec<String>,
    /// Only messages whose first word is one of these (case-insensitive, at most 10 of 1 to 32
    /// characters); absent or empty: every message.
    pub trigger_words: Option<Vec<String>>,
    /// Shown with its replies; default: the URL's host.
    pub name: Option<String>,
}

/// An outgoing webhook, without its secret.
#[derive(Debug, Object)]
#[oai(rename = "OutgoingWebhook")]
pub struct OutgoingView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub trigger_words: Vec<String>,
    pub room: String,
    pub created_by: String,
    pub created_at: String,
}

impl OutgoingView {
    fn of(hook: &Webhook) -> Option<Self> {
        let record = &hook.record;
        let WebhookKind::Outgoing {
            url,
            events,
            trigger_words,
            ..
        } = &record.kind
        else {
            return None;
        };
        Some(Self {
            id: record.id.clone(),
            name: record.name.clone(),
            url: url.clone(),
            events: events.clone(),
            trigger_words: trigger_words.clone(),
            room: hook.room.to_string(),
            created_by: record.created_by.clone(),
            created_at: format_time(record.created_at_ms),
        })
    }
}

/// A new outgoing webhook with its signing secret. Not `Debug`: the secret must never be logged.
#[derive(Object)]
#[oai(rename = "CreatedOutgoingWebhook")]
pub struct CreatedOutgoingView {
    pub id: String,
    /// `cfs_...`: every call carries `X-Confab-Signature: sha256=<hex HMAC-SHA-256 of
    /// "<X-Confab-Timestamp>.<body>" keyed with this secret>`. Shown only in this answer.
    pub secret: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub trigger_words: Vec<String>,
    pub room: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Object)]
pub struct OutgoingList {
    /// Oldest first.
    pub webhooks: Vec<OutgoingView>,
}

/// One event's delivery to an outgoing webhook.
#[derive(Debug, Object)]
#[oai(rename = "Delivery")]
pub struct DeliveryView {
    /// Sent as `X-Confab-Delivery`: the same on every retry, for de-duplication.
    pub id: String,
    pub event: String,
    /// The message's id.
    pub message: String,
    /// `pending` (not tried yet), `retrying`, `delivered` (a 2xx answer) or `failed` (given up
    /// after `integrations.webhook_retry_for`).
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    #[oai(nullable)]
    pub last_attempt_at: Option<String>,
    #[oai(nullable)]
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the last answer; null when there was none.
    #[oai(nullable)]
    pub response_status: Option<u16>,
    /// Why the last try failed.
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(record: &DeliveryRecord) -> Self {
        Self {
            id: record.id.clone(),
            event: record.event.clone(),
            message: crate::ids::MessageId(record.message).to_string(),
            status: record.status.as_str().to_string(),
            attempts: record.attempts,
            created_at: format_time(record.created_at_ms),
            last_attempt_at: record.last_attempt_at_ms.map(format_time),
            next_attempt_at: record.next_attempt_at_ms.map(format_time),
            response_status: record.response_status,
            error: record.error.clone(),
        }
    }
}

#[derive(Debug, Object)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// A call to an incoming webhook: confab's shape or Slack's. Other fields (Slack's `channel`,
/// `icon_emoji`, `attachments`, ...) are ignored.
#[derive(Debug, Object)]
#[oai(rename = "IncomingCall")]
pub struct IncomingCallBody {
    /// The message (CommonMark).
    pub body: Option<String>,
    /// Slack's name for the message, used when `body` is absent.
    pub text: Option<String>,
    /// Slack's display name for this message, instead of the webhook's name.
    pub username: Option<String>,
}

#[derive(Debug, Object)]
pub struct IncomingCallResult {
    /// Always true (Slack-compatible tools look for it).
    pub ok: bool,
    pub message: MessageView,
}

#[derive(ApiResponse)]
pub enum CreatedIncoming {
    /// The only answer that shows the URL.
    #[oai(status = 201)]
    Created(Json<CreatedIncomingView>),
}

#[derive(ApiResponse)]
pub enum CreatedOutgoing {
    /// The only answer that shows the secret.
    #[oai(status = 201)]
    Created(Json<CreatedOutgoingView>),
}

#[derive(ApiResponse)]
pub enum DeletedWebhook {
    #[oai(status = 204)]
    Deleted,
}

pub struct WebhooksApi {
    pub state: AppState,
}

/// Deliveries shown per webhook.
const DELIVERIES_SHOWN: usize = 50;

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Integrations")]
impl WebhooksApi {
    /// Add an incoming webhook to a room you are a member of. Its URL (in this answer only)
    /// lets any tool post into the room as the webhook.
    ///
    /// Errors: 400 `invalid_webhook_name`; 404 `not_member`; 409 `too_many_webhooks` (20 per
    /// room). Scope: `write`.
    #[oai(path = "/:id/webhooks/incoming", method = "post")]
    async fn create_incoming(
        &self,
        req: &Request,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<NewIncomingBody>,
    ) -> ApiResult<CreatedIncoming> {
        let room = parse_room_id(&id.0)?;
        let created = self
            .state
            .integrations
            .create_incoming(room, &auth.caller().user, &body.0.name)
            .await?;
        let url = self
            .state
            .integrations
            .incoming_url(&created.secret, &origin_of(req, &self.state));
        let view = IncomingView::from(&created.webhook);
        Ok(CreatedIncoming::Created(Json(CreatedIncomingView {
            id: view.id,
            name: view.name,
            url,
            room: view.room,
            created_by: view.created_by,
            created_at: view.created_at,
        })))
    }

    /// A room's incoming webhooks (without their URLs): for its members. Scope: `read`.
    #[oai(path = "/:id/webhooks/incoming", method = "get")]
    async fn list_incoming(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<IncomingList>> {
        let room = parse_room_id(&id.0)?;
        let hooks = self
            .state
            .integrations
            .webhooks(room, &auth.caller().user, true)?;
        Ok(Json(IncomingList {
            webhooks: hooks.iter().map(IncomingView::from).collect(),
        }))
    }

    /// Delete an incoming webhook: its URL stops working at once. For who added it, the
    /// room's owners and admins.
    ///
    /// Errors: 403 `forbidden`; 404 `webhook_not_found`. Scope: `write`.
    #[oai(path = "/:id/webhooks/incoming/:hook", method = "delete")]
    async fn delete_incoming(
        &self,
        auth: Auth,
        id: Path<String>,
        hook: Path<String>,
    ) -> ApiResult<DeletedWebhook> {
        let room = parse_room_id(&id.0)?;
        self.state
            .integrations
            .delete_webhook(room, &hook.0, &auth.caller().user, true)
            .await?;
        Ok(DeletedWebhook::Deleted)
    }

    /// Add an outgoing webhook: each new message of the room (or each starting with a trigger
    /// word) is POSTed to `url` as JSON, signed (`X-Confab-Signature`, `X-Confab-Timestamp`),
    /// with `X-Confab-Delivery` for de-duplication, retried with exponential backoff for up to
    /// `integrations.webhook_retry_for` (24 h). An answer `{"body"}` or `{"text"}` is posted
    /// back into the room as the webhook's reply. Messages from webhooks never trigger one.
    ///
    /// Errors: 400 `invalid_url`, `forbidden_url` (an internal address), `unresolvable_url`,
    /// `invalid_event`, `invalid_trigger_words`, `invalid_webhook_name`; 404 `not_member`; 409
    /// `too_many_webhooks`. Scope: `write`.
    #[oai(path = "/:id/webhooks/outgoing", method = "post")]
    async fn create_outgoing(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<NewOutgoingBody>,
    ) -> ApiResult<CreatedOutgoing> {
        let room = parse_room_id(&id.0)?;
        let NewOutgoingBody {
            url,
            events,
            trigger_words,
            name,
        } = body.0;
        let request = OutgoingRequest {
            url,
            events,
            trigger_words: trigger_words.unwrap_or_default(),
            name,
        };
        let created = self
            .state
            .integrations
            .create_outgoing(room, &auth.caller().user, request)
            .await?;
        let view = OutgoingView::of(&created.webhook)
            .ok_or_else(|| Error::invalid("internal", "not an outgoing webhook"))?;
        Ok(CreatedOutgoing::Created(Json(CreatedOutgoingView {
            id: view.id,
            secret: created.secret,
            name: view.name,
            url: view.url,
            events: view.events,
            trigger_words: view.trigger_words,
            room: view.room,
            created_by: view.created_by,
            created_at: view.created_at,
        })))
    }

    /// A room's outgoing webhooks (without their secrets): for its members. Scope: `read`.
    #[oai(path = "/:id/webhooks/outgoing", method = "get")]
    async fn list_outgoing(&self, auth: Auth, id: Path<String>) -> ApiResult<Json<OutgoingList>> {
        let room = parse_room_id(&id.0)?;
        let hooks = self
            .state
            .integrations
            .webhooks(room, &auth.caller().user, false)?;
        Ok(Json(OutgoingList {
            webhooks: hooks.iter().filter_map(OutgoingView::of).collect(),
        }))
    }

    /// Delete an outgoing webhook; its queued deliveries are dropped. For who added it, the
    /// room's owners and admins.
    ///
    /// Errors: 403 `forbidden`; 404 `webhook_not_found`. Scope: `write`.
    #[oai(path = "/:id/webhooks/outgoing/:hook", method = "delete")]
    async fn delete_outgoing(
        &self,
        auth: Auth,
        id: Path<String>,
        hook: Path<String>,
    ) -> ApiResult<DeletedWebhook> {
        let room = parse_room_id(&id.0)?;
        self.state
            .integrations
            .delete_webhook(room, &hook.0, &auth.caller().user, false)
            .await?;
        Ok(DeletedWebhook::Deleted)
    }

    /// An outgoing webhook's recent deliveries (the newest 50), with their status, attempts
    /// and last answer: for the room's members.
    ///
    /// Errors: 404 `webhook_not_found`. Scope: `read`.
    #[oai(path = "/:id/webhooks/outgoing/:hook/deliveries", method = "get")]
    async fn deliveries(
        &self,
        auth: Auth,
        id: Path<String>,
        hook: Path<String>,
        /// At most this many, 1 to 50 (default 50).
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<DeliveryList>> {
        let room = parse_room_id(&id.0)?;
        let limit = match limit.0 {
            None => DELIVERIES_SHOWN,
            Some(n @ 1..=50) => n as usize,
            Some(_) => {
                return Err(Error::invalid("invalid_limit", "limit is 1 to 50").into());
            }
        };
        let deliveries =
            self.state
                .integrations
                .deliveries(room, &hook.0, &auth.caller().user, limit)?;
        Ok(Json(DeliveryList {
            deliveries: deliveries.iter().map(DeliveryView::from).collect(),
        }))
    }
}

pub struct HooksApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/hooks", tag = "ApiTags::Integrations")]
impl HooksApi {
    /// Post into a room through an incoming webhook's URL (no other credential): confab's
    /// `{"body": "..."}` or Slack's `{"text": "...", "username": "..."}`. The message's
    /// `author` is the member who added the webhook, and it carries `webhook`.
    ///
    /// Errors: 400 `invalid_webhook_payload` (neither `body` nor `text`), `invalid_body`,
    /// `invalid_webhook_name` (a bad `username`); 404 `webhook_not_found`; 410
    /// `webhook_inactive` (whoever added it left the room); 413 `too_large` (over the message
    /// limit); 429 `rate_limited` (`integrations.incoming_per_minute`, see `Retry-After`).
    #[oai(path = "/:secret", method = "post")]
    async fn post(
        &self,
        /// The secret part of the webhook's URL.
        secret: Path<String>,
        body: StrictJson<IncomingCallBody>,
    ) -> ApiResult<Json<IncomingCallResult>> {
        let IncomingCallBody {
            body,
            text,
            username,
        } = body.0;
        let post = IncomingPost {
            body,
            text,
            username,
        };
        let message = self
            .state
            .integrations
            .post_incoming(&secret.0, post)
            .await?;
        Ok(Json(IncomingCallResult {
            ok: true,
            message: MessageView::from(message.as_ref()),
        }))
    }
}
