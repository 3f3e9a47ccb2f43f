//! `/api/rooms/{id}/messages`: read history and post messages.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::strict_json::StrictJson;
use super::ApiTags;
use crate::app::AppState;
use crate::chat::changes::Change;
use crate::chat::encryption::sealed_fields;
use crate::chat::{Draft, HistoryPage};
use crate::error::Error;
use crate::ids::MessageId;
use crate::wire::MessageView;

#[derive(Debug, Object)]
pub struct MessageList {
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Object)]
pub struct NewMessage {
    /// 1-4000 characters, not only whitespace; may be empty (or left out) when the message
    /// carries attachments.
    #[oai(default)]
    pub body: String,
    /// Optional client-chosen id (1-128 characters): the same nonce sent again by the same user
    /// in the same room is stored once, and the retry answers with the original message.
    pub nonce: Option<String>,
    /// The id of a message of the same room this one answers.
    pub reply_to: Option<String>,
    /// Up to 10 ids of your own uploads to this room (`POST /api/rooms/{id}/attachments`) not
    /// yet sent: the message carries them.
    #[oai(default)]
    pub attachments: Vec<String>,
    /// In an end-to-end encrypted room, instead of `body`: the AES-256-GCM ciphertext, base64
    /// (at most 4 x the message limit + 16 bytes). See docs/encrypted-rooms.md.
    pub ciphertext: Option<String>,
    /// With `ciphertext`: its 12-byte IV, base64.
    pub iv: Option<String>,
    /// With `ciphertext`: the room's current key version.
    pub key_version: Option<u32>,
    /// With `ciphertext`: who it mentions (usernames, `room` for everyone), as the client
    /// found them; names that are not members are dropped. Ignored in plain rooms.
    #[oai(default)]
    pub mentions: Vec<String>,
}

#[derive(Debug, Object)]
pub struct MessageEdit {
    /// The new text: 1-4000 characters, not only whitespace. Not in encrypted rooms.
    pub body: Option<String>,
    /// In an encrypted room, instead of `body`: the new ciphertext, base64.
    pub ciphertext: Option<String>,
    /// With `ciphertext`: its 12-byte IV, base64.
    pub iv: Option<String>,
    /// With `ciphertext`: the room's current key version.
    pub key_version: Option<u32>,
}

#[derive(ApiResponse)]
pub enum PostedMessage {
    /// Stored durably and delivered to the room's WebSocket subscribers.
    #[oai(status = 201)]
    Created(Json<MessageView>),
}

pub struct MessagesApi {
    pub state: AppState,
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

fn parse_cursor(name: &str, value: Option<String>) -> Result<Option<MessageId>, Error> {
    value
        .map(|v| {
            v.parse::<MessageId>()
                .map_err(|e| Error::invalid("bad_request", format!("{name}: {e}")))
        })
        .transpose()
}

#[OpenApi(prefix_path = "/rooms", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// A page of a room's messages, oldest first. With `after`: the oldest `limit` after it.
    /// With `around`: the page centred on that message. Otherwise the newest `limit` (before
    /// `before`, when given).
    ///
    /// Scope: `read`.
    #[oai(path = "/:id/messages", method = "get")]
    async fn list(
        &self,
        auth: Auth,
        id: Path<String>,
        /// Only messages older than this message id.
        #[oai(validator(pattern = r"^[0-9a-fA-F]{16}$"))]
        before: Query<Option<String>>,
        /// Only messages newer than this message id.
        #[oai(validator(pattern = r"^[0-9a-fA-F]{16}$"))]
        after: Query<Option<String>>,
        /// The page centred on this message id: it and up to `limit / 2` older messages
        /// before it, up to `limit / 2` newer ones after it (to open a room at a search hit).
        /// Not with `before` or `after`.
        #[oai(validator(pattern = r"^[0-9a-fA-F]{16}$"))]
        around: Query<Option<String>>,
        /// 1 to 200, default 50.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<MessageList>> {
        let room = parse_room_id(&id.0)?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("bad_request", "limit must be between 1 and 200").into());
        }
        let page = HistoryPage {
            before: parse_cursor("before", before.0)?,
            after: parse_cursor("after", after.0)?,
            around: parse_cursor("around", around.0)?,
            limit: limit as usize,
        };
        if page.around.is_some() && (page.before.is_some() || page.after.is_some()) {
            return Err(Error::invalid(
                "bad_request",
                "around cannot be combined with before or after",
            )
            .into());
        }
        let messages = self.state.chat.history(&auth.caller().user, room, page)?;
        Ok(Json(MessageList {
            messages: messages
                .iter()
                .map(|m| MessageView::from(m.as_ref()))
                .collect(),
        }))
    }

    /// Post a message; answered once it is durable, and delivered to WebSocket subscribers
    /// exactly as if it had been sent there.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/messages", method = "post")]
    async fn post(
        &self,
        auth: Auth,
        id: Path<String>,
        body: StrictJson<NewMessage>,
    ) -> ApiResult<PostedMessage> {
        let room = parse_room_id(&id.0)?;
        let NewMessage {
            body,
            nonce,
            reply_to,
            attachments,
            ciphertext,
            iv,
            key_version,
            mentions,
        } = body.0;
        let reply_to = parse_cursor("reply_to", reply_to)?;
        let draft = Draft {
            body,
            nonce,
            reply_to,
            webhook: None,
            attachments,
            sealed: sealed_fields(ciphertext, iv, key_version)?,
            mentions,
        };
        let message = self
            .state
            .chat
            .send_from_http(&auth.caller().user, room, draft)
            .await?;
        Ok(PostedMessage::Created(Json(MessageView::from(
            message.as_ref(),
        ))))
    }

    /// Edit your message's body; answered with its new state once durable (subscribers get
    /// `message_updated`).
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/messages/:message", method = "patch")]
    async fn edit(
        &self,
        auth: Auth,
        id: Path<String>,
        message: Path<String>,
        body: StrictJson<MessageEdit>,
    ) -> ApiResult<Json<MessageView>> {
        let MessageEdit {
            body,
            ciphertext,
            iv,
            key_version,
        } = body.0;
        let change = Change::edit(body, sealed_fields(ciphertext, iv, key_version))?;
        self.change(auth, &id.0, &message.0, change).await
    }

    /// Delete a message (its author, the room's owner or an admin): body and reactions are
    /// erased, a tombstone keeps its place. Answered with the tombstone.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/messages/:message", method = "delete")]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<String>,
        message: Path<String>,
    ) -> ApiResult<Json<MessageView>> {
        self.change(auth, &id.0, &message.0, Change::Delete).await
    }

    /// Add your reaction (one Unicode emoji, URL-encoded in the path); answered with the
    /// message's new state.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/messages/:message/reactions/:emoji", method = "put")]
    async fn react(
        &self,
        auth: Auth,
        id: Path<String>,
        message: Path<String>,
        emoji: Path<String>,
    ) -> ApiResult<Json<MessageView>> {
        let change = Change::React {
            emoji: emoji.0,
            on: true,
        };
        self.change(auth, &id.0, &message.0, change).await
    }

    /// Take back your reaction; answered with the message's new state.
    ///
    /// Scope: `write`.
    #[oai(path = "/:id/messages/:message/reactions/:emoji", method = "delete")]
    async fn unreact(
        &self,
        auth: Auth,
        id: Path<String>,
        message: Path<String>,
        emoji: Path<String>,
    ) -> ApiResult<Json<MessageView>> {
        let change = Change::React {
            emoji: emoji.0,
            on: false,
        };
        self.change(auth, &id.0, &message.0, change).await
    }
}

impl MessagesApi {
    async fn change(
        &self,
        auth: Auth,
        room: &str,
        message: &str,
        change: Change,
    ) -> ApiResult<Json<MessageView>> {
        let room = parse_room_id(room)?;
        let message = parse_message_id(message)?;
        let updated = self
            .state
            .chat
            .change_from_http(&auth.caller().user, room, message, change)
            .await?;
        Ok(Json(MessageView::from(updated.as_ref())))
    }
}

/// A message id from a path; a malformed one names no message, so it is a 404.
fn parse_message_id(text: &str) -> Result<MessageId, Error> {
    text.parse::<MessageId>()
        .map_err(|_| Error::NotFound("message"))
}
