//! Changing sent messages: edits, deletions and reactions.
//!
//! A change goes the way of a send: under the room's lock it is checked against the message's
//! latest state (stored, or still on its way to disk), gets the room's next sequence number and
//! is queued for the group committer, which writes it, flushes, and only then delivers the new
//! state to every subscriber as `message_updated`. So every subscriber sees sends and changes in
//! one order, a change is durable before anyone hears of it, and the sequence number doubles as
//! the replay cursor (see `Store::changed_since`).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::commit::{Pending, Reply};
use super::connection::Connection;
use super::encryption::{not_encrypted, refused_in_encrypted_room};
use super::hub::Channel;
use super::model::{validate_body, validate_nonce, Message, Room, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::{MessageId, RoomId};
use crate::store::{EncodedMessage, EncryptedBody, MessageRecord, ReactionRecord, Role};

/// Distinct emoji one message may carry.
pub const MAX_REACTIONS: usize = 20;

/// What to do to a message.
#[derive(Debug, Clone)]
pub enum Change {
    /// New body text (its author only).
    Edit(String),
    /// New ciphertext, in an end-to-end encrypted room (its author only).
    EditEncrypted(EncryptedBody),
    /// Erase body and reactions, keep a tombstone (its author, the room's owner, an admin).
    Delete,
    /// Add or take back the actor's reaction (any member who may send).
    React { emoji: String, on: bool },
}

impl Change {
    /// An edit as a request carries it: a new body, or (in an encrypted room) new ciphertext.
    pub fn edit(body: Option<String>, sealed: Result<Option<EncryptedBody>>) -> Result<Self> {
        match (body, sealed?) {
            (None, Some(sealed)) => Ok(Change::EditEncrypted(sealed)),
            (Some(body), None) => Ok(Change::Edit(body)),
            (Some(_), Some(_)) => Err(Error::invalid(
                "invalid_body",
                "an edit has a body or a ciphertext, not both",
            )),
            (None, None) => Err(Error::invalid(
                "invalid_body",
                "an edit needs a body (or, in an encrypted room, a ciphertext)",
            )),
        }
    }

    /// Checks what can be checked before the room is locked; an emoji is brought to its fully
    /// qualified form, so the same emoji typed two ways is one reaction.
    fn validated(self, max_body_chars: usize) -> Result<Self> {
        Ok(match self {
            Change::Edit(body) => {
                validate_body(&body, max_body_chars)?;
                Change::Edit(body)
            }
            Change::React { emoji, on } if is_reaction_token(&emoji) => Change::React { emoji, on },
            Change::React { emoji, on } => Change::React {
                emoji: canonical_emoji(&emoji)?,
                on,
            },
            other => other,
        })
    }

    /// The change as it may be made in `room`: encrypted rooms take only ciphertext and keyed
    /// reaction tokens, plain rooms only text and emoji.
    fn fit_for(self, chat: &Chat, room: &Room, author: &str) -> Result<Self> {
        match (self, room.encrypted) {
            (Change::Edit(_), true) => Err(refused_in_encrypted_room("a plain-text edit is")),
            (Change::EditEncrypted(_), false) => Err(not_encrypted()),
            (Change::EditEncrypted(sealed), true) => {
                let body = chat.check_sealed(room, author, sealed)?;
                Ok(Change::EditEncrypted(body))
            }
            (Change::React { emoji, .. }, true) if !is_reaction_token(&emoji) => Err(
                refused_in_encrypted_room("a plain emoji reaction (send its keyed token) is"),
            ),
            (Change::React { emoji, .. }, false) if is_reaction_token(&emoji) => Err(
                Error::invalid("invalid_emoji", "a reaction is exactly one Unicode emoji"),
            ),
            (change, _) => Ok(change),
        }
    }
}

/// A reaction in an encrypted room: `v{version}:` and 22 base64url characters, a keyed hash of
/// the emoji that only members can map back (docs/encrypted-rooms.md).
pub fn is_reaction_token(text: &str) -> bool {
    let Some((version, mac)) = text.split_once(':') else {
        return false;
    };
    let Some(digits) = version.strip_prefix('v') else {
        return false;
    };
    (1..=10).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && mac.len() == 22
        && mac
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The emoji as one fully qualified Unicode emoji (skin tones included), or `invalid_emoji`.
pub fn canonical_emoji(text: &str) -> Result<String> {
    emojis::get(text)
        .map(|emoji| emoji.as_str().to_string())
        .ok_or_else(|| Error::invalid("invalid_emoji", "a reaction is exactly one Unicode emoji"))
}

/// Who asks for a change, as far as the room's lock needs to know.
struct Actor<'a> {
    user: &'a User,
    /// The connection it came from, which must be joined to the room; `None` for REST.
    connection: Option<u64>,
}

impl Chat {
    /// A change from a WebSocket connection joined to the room; the new state arrives on every
    /// subscribed connection (the actor's with `nonce`) once it is durable.
    pub fn change_from_socket(
        &self,
        connection: &Arc<Connection>,
        user: &User,
        room: RoomId,
        message: MessageId,
        change: Change,
        nonce: Option<String>,
    ) -> Result<()> {
        let actor = Actor {
            user,
            connection: Some(connection.id),
        };
        let reply = Reply::Socket(connection.clone());
        self.submit_change(room, message, change, nonce, reply, actor)
            .map_err(|err| self.hide_from_outsiders(err, room, &user.username))
    }

    /// A change over REST by a member of the room; returns the new state once durable.
    pub async fn change_from_http(
        &self,
        user: &User,
        room: RoomId,
        message: MessageId,
        change: Change,
    ) -> Result<Arc<Message>> {
        self.membership(room, user)?;
        let (tx, rx) = oneshot::channel();
        let actor = Actor {
            user,
            connection: None,
        };
        self.submit_change(room, message, change, None, Reply::Http(tx), actor)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    fn submit_change(
        &self,
        room: RoomId,
        id: MessageId,
        change: Change,
        nonce: Option<String>,
        reply: Reply,
        actor: Actor<'_>,
    ) -> Result<()> {
        let change = change.validated(self.settings.max_message_chars)?;
        if let Some(nonce) = &nonce {
            validate_nonce(nonce)?;
        }
        // Deleting someone else's message needs the room's owner role (or admin): read it
        // before the room's lock, like every other membership read on this path.
        let role = self
            .store
            .member(room, &actor.user.username)?
            .map(|m| m.role);
        let now = self.now_ms();
        self.hub.with_channel(&self.store, room, |channel| {
            let live = channel.live_room(now)?;
            let change = change.fit_for(self, live, &actor.user.username)?;
            match actor.connection {
                Some(id) if !channel.is_subscribed(id) => return Err(Error::NotJoined),
                Some(_) => {}
                // Checked again under the lock: a removal racing this request cannot slip by.
                None if self.store.member(room, &actor.user.username)?.is_none() => {
                    return Err(Error::NotFound("room"))
                }
                None => {}
            }
            let previous = self.current_state(channel, room, id)?;
            let Some(mut record) = self.apply(&previous, &change, &actor, role, now)? else {
                // Nothing to change (a reaction already there, a message already deleted):
                // answer with the current state, write nothing.
                let message = Message::from_record(room, id.0, previous);
                return self.enqueue(Pending {
                    message,
                    write: None,
                    nonce,
                    reply,
                    update: true,
                });
            };
            let seq = channel.next_seq;
            record.changed_seq = Some(seq);
            let write = EncodedMessage::changed(room, id.0, &record, &previous);
            let message = Message::from_record(room, id.0, record.clone());
            self.enqueue(Pending {
                message,
                write: Some(write),
                nonce,
                reply,
                update: true,
            })?;
            channel.next_seq += 1;
            channel.track_change(id.0, record);
            if matches!(change, Change::Delete) && previous.author != actor.user.username {
                tracing::info!(
                    room = %room,
                    message = %id,
                    by = %actor.user.username,
                    author = %previous.author,
                    "message deleted by a moderator"
                );
            }
            Ok(())
        })
    }

    /// The latest state of message `id`: a change still on its way to disk, or the store's.
    fn current_state(
        &self,
        channel: &Channel,
        room: RoomId,
        id: MessageId,
    ) -> Result<MessageRecord> {
        if let Some(changing) = channel.changing(id.0) {
            return Ok(changing.clone());
        }
        self.store
            .message(room, id.0)?
            .ok_or(Error::NotFound("message"))
    }

    /// The record after `change`, or None when the change would change nothing.
    fn apply(
        &self,
        previous: &MessageRecord,
        change: &Change,
        actor: &Actor<'_>,
        role: Option<Role>,
        now: u64,
    ) -> Result<Option<MessageRecord>> {
        let username = &actor.user.username;
        let is_author = previous.author == *username;
        let mut record = previous.clone();
        match change {
            Change::Edit(body) => {
                self.may_edit(previous, actor, now)?;
                if previous.body == *body {
                    return Ok(None);
                }
                record.body = body.clone();
                record.edited_at_ms = Some(now);
            }
            Change::EditEncrypted(sealed) => {
                self.may_edit(previous, actor, now)?;
                record.encrypted = Some(sealed.clone());
                record.edited_at_ms = Some(now);
            }
            Change::Delete => {
                let may = is_author || role == Some(Role::Owner) || actor.user.is_admin;
                if !may {
                    return Err(Error::Forbidden(
                        "only its author, the room's owner or an admin can delete a message".into(),
                    ));
                }
                if previous.deleted {
                    return Ok(None);
                }
                record.body = String::new();
                record.encrypted = None;
                record.reactions = Vec::new();
                // Their files are deleted by the committer once the tombstone is durable.
                record.attachments = Vec::new();
                record.deleted = true;
            }
            Change::React { emoji, on } => {
                refuse_deleted(previous)?;
                if !react(&mut record.reactions, emoji, username, *on)? {
                    return Ok(None);
                }
            }
        }
        Ok(Some(record))
    }

    /// Whether `actor` may edit `previous` now: its author, not a webhook's words, not
    /// deleted, within the edit window.
    fn may_edit(&self, previous: &MessageRecord, actor: &Actor<'_>, now: u64) -> Result<()> {
        if previous.author != actor.user.username {
            return Err(Error::Forbidden(
                "only its author can edit a message".into(),
            ));
        }
        // The webhook's words, not its creator's: they may delete them, not reword them.
        if previous.webhook.is_some() {
            return Err(Error::Forbidden(
                "a message from a webhook cannot be edited".into(),
            ));
        }
        refuse_deleted(previous)?;
        if let Some(window) = self.settings.edit_window {
            let deadline = previous
                .sent_at_ms
                .saturating_add(window.as_millis() as u64);
            if now > deadline {
                return Err(Error::Forbidden(format!(
                    "messages can be edited for {} after sending",
                    humantime::format_duration(window)
                )));
            }
        }
        Ok(())
    }
}

fn refuse_deleted(record: &MessageRecord) -> Result<()> {
    if record.deleted {
        return Err(Error::conflict("deleted", "the message was deleted"));
    }
    Ok(())
}

/// Adds or removes `username`'s `emoji`; false if that changes nothing.
fn react(
    reactions: &mut Vec<ReactionRecord>,
    emoji: &str,
    username: &str,
    on: bool,
) -> Result<bool> {
    let existing = reactions.iter().position(|r| r.emoji == emoji);
    match (existing, on) {
        (Some(at), true) => {
            let users = &mut reactions[at].users;
            if users.iter().any(|u| u == username) {
                return Ok(false);
            }
            users.push(username.to_string());
        }
        (None, true) => {
            if reactions.len() >= MAX_REACTIONS {
                return Err(Error::invalid(
                    "too_many_reactions",
                    format!("a message carries at most {MAX_REACTIONS} different emoji"),
                ));
            }
            reactions.push(ReactionRecord {
                emoji: emoji.to_string(),
                users: vec![username.to_string()],
            });
        }
        (Some(at), false) => {
            let users = &mut reactions[at].users;
            let Some(mine) = users.iter().position(|u| u == username) else {
                return Ok(false);
            };
            users.remove(mine);
            if users.is_empty() {
                reactions.remove(at);
            }
        }
        (None, false) => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_single_and_canonical() {
        assert_eq!(canonical_emoji("👍").ok().as_deref(), Some("👍"));
        assert!(canonical_emoji("👍🏽").is_ok(), "skin tones are one emoji");
        assert!(canonical_emoji("👨‍👩‍👧").is_ok(), "ZWJ sequences are one emoji");
        for bad in ["", "a", "👍👍", ":+1:", "👍 ", "<script>", "1"] {
            assert!(canonical_emoji(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reactions_toggle_and_are_capped() {
        let mut reactions = Vec::new();
        assert!(react(&mut reactions, "👍", "ann", true).unwrap_or(false));
        assert!(!react(&mut reactions, "👍", "ann", true).unwrap_or(true));
        assert!(react(&mut reactions, "👍", "bob", true).unwrap_or(false));
        assert_eq!(reactions[0].users, ["ann", "bob"]);
        assert!(react(&mut reactions, "👍", "ann", false).unwrap_or(false));
        assert!(react(&mut reactions, "👍", "bob", false).unwrap_or(false));
        assert!(reactions.is_empty());
        assert!(!react(&mut reactions, "👍", "bob", false).unwrap_or(true));
        let distinct: Vec<&str> = emojis::iter().map(|e| e.as_str()).take(21).collect();
        for emoji in &distinct[..20] {
            assert!(react(&mut reactions, emoji, "ann", true).unwrap_or(false));
        }
        let err = react(&mut reactions, distinct[20], "ann", true).err();
        assert_eq!(err.map(|e| e.code()), Some("too_many_reactions"));
    }
}
