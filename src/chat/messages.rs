//! Sending and reading messages.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::commit::{Pending, Queued, Reply};
use super::connection::Connection;
use super::encryption::{not_encrypted, refused_in_encrypted_room};
use super::events::Joined;
use super::hub::Channel;
use super::model::{validate_body, validate_nonce, validate_optional_body, Message, User};
use super::Chat;
use crate::error::{Error, Result};
use crate::ids::{MessageId, RoomId};
use crate::store::{EncodedMessage, MessageRecord, Page};

/// A history request: at most one of `before` / `after` / `around`, and a limit already
/// validated.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryPage {
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    /// The page centred on this message: it and up to half the limit before it, up to half
    /// after (a client jumping to a search hit or a notification).
    pub around: Option<MessageId>,
    pub limit: usize,
}

/// A message about to be sent.
#[derive(Debug, Clone)]
pub struct Draft {
    pub body: String,
    /// Makes a retried send idempotent.
    pub nonce: Option<String>,
    /// A message of the same room this one answers.
    pub reply_to: Option<MessageId>,
    /// Posted through a webhook (incoming, or an outgoing one's reply).
    pub webhook: Option<crate::store::WebhookStamp>,
    /// Ids of the sender's unsent uploads to this room to send with it; with any, the body
    /// may be empty.
    pub attachments: Vec<String>,
    /// In an end-to-end encrypted room: the encrypted body (and `body` is empty).
    pub sealed: Option<crate::store::EncryptedBody>,
    /// In an encrypted room: the mentions the sender's browser found (the server cannot).
    pub mentions: Vec<String>,
}

impl Draft {
    /// A plain message: `body` and nothing else.
    pub fn text(body: String) -> Self {
        Self {
            body,
            nonce: None,
            reply_to: None,
            webhook: None,
            attachments: Vec::new(),
            sealed: None,
            mentions: Vec::new(),
        }
    }

    fn validate_body(&self, max_chars: usize) -> Result<()> {
        if self.sealed.is_some() {
            // Which of the two a room takes is checked under its lock (`fit_for`).
            return match self.body.is_empty() {
                true => Ok(()),
                false => Err(Error::invalid(
                    "invalid_body",
                    "a message has a body or a ciphertext, not both",
                )),
            };
        }
        if self.attachments.is_empty() {
            validate_body(&self.body, max_chars)
        } else {
            validate_optional_body(&self.body, max_chars)
        }
    }
}

/// Who is sending, as far as the room's lock needs to know.
#[derive(Debug, Clone, Copy)]
enum Sender {
    /// A WebSocket connection, which must be subscribed to the room.
    Subscribed(u64),
    /// A REST client, whose user must be a member.
    Member,
}

impl Chat {
    /// Sends from a WebSocket connection, which must be joined to the room. The acknowledgement
    /// (the sender's copy, with its nonce) arrives on the connection once the message is durable.
    pub fn send_from_socket(
        &self,
        connection: &Arc<Connection>,
        room: RoomId,
        draft: Draft,
    ) -> Result<()> {
        let reply = Reply::Socket(connection.clone());
        self.submit(
            room,
            &connection.username,
            draft,
            reply,
            Sender::Subscribed(connection.id),
        )
        .map_err(|err| self.hide_from_outsiders(err, room, &connection.username))
    }

    /// Turns `NotJoined` into `NotFound` for a room the user may not read: telling an outsider
    /// "join first" would confirm that a private room exists. Only refused frames pay for the
    /// membership read.
    pub(super) fn hide_from_outsiders(&self, err: Error, room: RoomId, username: &str) -> Error {
        if !matches!(err, Error::NotJoined) {
            return err;
        }
        match (self.room(room), self.store.member(room, username)) {
            (Ok(live), Ok(member)) if live.is_public() || member.is_some() => err,
            (Err(missing), _) => missing,
            (_, Err(storage)) => storage.into(),
            _ => Error::NotFound("room"),
        }
    }

    /// Sends over REST; returns once the message is durable (or the original, for a retried
    /// nonce). Posting to a public room makes the author a member; other rooms are for members.
    pub async fn send_from_http(
        &self,
        author: &User,
        room: RoomId,
        draft: Draft,
    ) -> Result<Arc<Message>> {
        draft.validate_body(self.settings.max_message_chars)?;
        let standing = self.readable(room, author)?;
        if standing.member.is_none() {
            self.admit(room, &author.username, crate::store::Role::Member)
                .await?;
        }
        let (tx, rx) = oneshot::channel();
        let sender = Sender::Member;
        self.submit(room, &author.username, draft, Reply::Http(tx), sender)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Validates, assigns the next sequence number and queues the message for the group
    /// committer, all under the room's lock so that sequence order and commit order are the same.
    fn submit(
        &self,
        room: RoomId,
        author: &str,
        draft: Draft,
        reply: Reply,
        sender: Sender,
    ) -> Result<()> {
        draft.validate_body(self.settings.max_message_chars)?;
        let Draft {
            body,
            nonce,
            reply_to,
            webhook,
            attachments,
            sealed,
            mentions: client_mentions,
        } = draft;
        if let Some(nonce) = &nonce {
            validate_nonce(nonce)?;
        }
        let now = self.now_ms();
        self.hub.with_channel(&self.store, room, |channel| {
            let live = channel.live_room(now)?;
            let encrypted = match (live.encrypted, sealed) {
                (true, Some(sealed)) if attachments.is_empty() && webhook.is_none() => {
                    Some(self.check_sealed(live, author, sealed)?)
                }
                (true, Some(_)) if webhook.is_some() => {
                    return Err(refused_in_encrypted_room("webhooks are"))
                }
                (true, Some(_)) => return Err(refused_in_encrypted_room("attachments are")),
                (true, None) => return Err(refused_in_encrypted_room("a plain-text body is")),
                (false, Some(_)) => return Err(not_encrypted()),
                (false, None) => None,
            };
            match sender {
                // Only members are ever subscribed, and a removal unsubscribes under this lock:
                // the hot path needs no store read.
                Sender::Subscribed(id) if !channel.is_subscribed(id) => {
                    return Err(Error::NotJoined)
                }
                Sender::Subscribed(_) => {}
                // Checked again under the room's lock, so a removal that raced the check
                // above cannot let the message in.
                Sender::Member if self.store.member(room, author)?.is_none() => {
                    return Err(Error::NotFound("room"))
                }
                Sender::Member => {}
            }
            if let Some(nonce) = &nonce {
                if let Some(original) = self.sent_before(channel, room, author, nonce)? {
                    return self.enqueue(Pending {
                        message: original,
                        write: None,
                        nonce: Some(nonce.clone()),
                        reply,
                        update: false,
                    });
                }
            }
            let seq = channel.next_seq;
            let mentions = match &encrypted {
                Some(_) => self.client_mentions(room, &client_mentions)?,
                None => self.mentions_in(room, &body)?,
            };
            let mut record = MessageRecord::new(author.to_string(), body, now, nonce);
            record.encrypted = encrypted;
            record.webhook = webhook;
            record.ordinal = Some(channel.next_ordinal);
            record.mentions = mentions;
            if let Some(original) = reply_to {
                // Only a stored message of this room: an id that names a change, or a message
                // not yet durable, is not something to answer.
                if original.0 >= seq || self.store.message(room, original.0)?.is_none() {
                    return Err(Error::unknown(
                        "reply_not_found",
                        "the message replied to is not in this room",
                    ));
                }
                record.reply_to = Some(original.0);
            }
            let taken = self.take_attachments(room, author, &attachments)?;
            record.attachments = taken.iter().map(|(_, a)| a.meta.clone()).collect();
            let mut write = EncodedMessage::new(room, seq, &record);
            write.claim(&taken);
            let nonce = record.nonce.clone();
            let message = Message::from_record(room, seq, record);
            let queued = self.enqueue(Pending {
                message: message.clone(),
                write: Some(write),
                nonce: nonce.clone(),
                reply,
                update: false,
            });
            if queued.is_err() {
                self.untake_attachments(&taken);
            }
            queued?;
            channel.next_seq += 1;
            channel.next_ordinal += 1;
            if let Some(nonce) = nonce {
                channel.track_in_flight(nonce, message);
            }
            Ok(())
        })
    }

    /// The message `author` already sent to `room` with `nonce`: still on its way to disk, or
    /// stored.
    fn sent_before(
        &self,
        channel: &Channel,
        room: RoomId,
        author: &str,
        nonce: &str,
    ) -> Result<Option<Arc<Message>>> {
        if let Some(in_flight) = channel.in_flight(author, nonce) {
            return Ok(Some(in_flight));
        }
        let Some(seq) = self.store.nonce_seq(room, author, nonce)? else {
            return Ok(None);
        };
        Ok(self
            .store
            .message(room, seq)?
            .map(|original| Message::from_record(room, seq, original)))
    }

    pub(super) fn enqueue(&self, pending: Pending) -> Result<()> {
        self.commits
            .send(Queued::Message(pending))
            .map_err(|_| Error::ShuttingDown)
    }

    /// Waits until every message accepted so far has been written (or refused).
    pub(super) async fn committed_so_far(&self) {
        let (done, wait) = oneshot::channel();
        if self.commits.send(Queued::Barrier(done)).is_ok() {
            // An error means the committer stopped, after writing all it had accepted.
            let _ = wait.await;
        }
    }

    /// Subscribes a connection to a room, making its user a member of a public room first; the
    /// caller then sends the backlog up to `Joined::delivered_up_to` and everything after
    /// arrives live. A private or direct room the user is not in is `NotFound`.
    pub async fn join(
        &self,
        connection: &Arc<Connection>,
        user: &User,
        room: RoomId,
    ) -> Result<Joined> {
        let standing = self.readable(room, user)?;
        let member = match standing.member {
            Some(member) => member,
            None => {
                self.admit(room, &user.username, crate::store::Role::Member)
                    .await?
            }
        };
        let store = &self.store;
        let username = &connection.username;
        let mut joined =
            self.hub.join(store, room, connection, self.now_ms(), |_| {
                match store.member(room, username)? {
                    Some(_) => Ok(()),
                    None => Err(Error::NotFound("room")),
                }
            })?;
        let info = self.info(joined.room.room.clone(), Some(&member))?;
        joined.room = info;
        Ok(joined)
    }

    pub fn leave(&self, connection: &Connection, room: RoomId) -> bool {
        self.hub.leave(room, connection)
    }

    pub fn typing(&self, connection: &Connection, room: RoomId) -> Result<()> {
        self.hub
            .typing(&self.store, room, connection, self.now_ms())
            .map_err(|err| self.hide_from_outsiders(err, room, &connection.username))
    }

    /// Up to `limit` messages after `after` and no later than `up_to`, oldest first.
    pub fn backlog_after(
        &self,
        room: RoomId,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Message>>> {
        let page = Page {
            after: Some(after),
            before: Some(up_to.saturating_add(1)),
            limit,
        };
        self.read(room, page)
    }

    /// Messages up to `seen` changed since (edited, deleted, reacted to), no later than `up_to`,
    /// in change order, scanning at most `limit` changes after change `from`; with the change
    /// to continue from when there may be more.
    pub fn changed_since(
        &self,
        room: RoomId,
        seen: u64,
        from: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<(Vec<Arc<Message>>, Option<u64>)> {
        let page = self.store.changed_since(room, seen, from, up_to, limit)?;
        let messages = page
            .messages
            .into_iter()
            .map(|(id, record)| Message::from_record(room, id, record))
            .collect();
        Ok((messages, page.resume_after))
    }

    /// The newest `limit` messages no later than `up_to`, oldest first.
    pub fn newest_up_to(
        &self,
        room: RoomId,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Message>>> {
        let page = Page {
            after: None,
            before: Some(up_to.saturating_add(1)),
            limit,
        };
        self.read(room, page)
    }

    /// A page of a live room's history, oldest first, for a reader who may read it (anyone for
    /// a public room, members otherwise). Messages not yet durable are left out.
    pub fn history(
        &self,
        reader: &User,
        room: RoomId,
        request: HistoryPage,
    ) -> Result<Vec<Arc<Message>>> {
        self.readable(room, reader)?;
        let durable_end = self
            .hub
            .delivered_up_to(room)
            .map(|seq| seq.saturating_add(1));
        let before = match (request.before.map(|id| id.0), durable_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(around) = request.around {
            let newer = request.limit / 2;
            let up_to = around.0.saturating_add(1);
            let older = Page {
                after: None,
                before: Some(before.map_or(up_to, |end| end.min(up_to))),
                limit: request.limit - newer,
            };
            let mut messages = self.read(room, older)?;
            if newer > 0 {
                let later = Page {
                    after: Some(around.0),
                    before,
                    limit: newer,
                };
                messages.extend(self.read(room, later)?);
            }
            return Ok(messages);
        }
        let page = Page {
            after: request.after.map(|id| id.0),
            before,
            limit: request.limit,
        };
        self.read(room, page)
    }

    fn read(&self, room: RoomId, page: Page) -> Result<Vec<Arc<Message>>> {
        let records = self.store.messages(room, page)?;
        Ok(records
            .into_iter()
            .map(|(seq, record)| Message::from_record(room, seq, record))
            .collect())
    }
}
