//! `rooms-list`'s messages: what makes the listing's per-room counts (issue 11: `unread_count`,
//! `mention_count`, `last_read`, `last_message`, computed per request from read markers and the
//! mention index) more than zeros, and the check that the answers hold exactly what was posted.
//!
//! In each of the measured user's rooms another member posts `--messages` (N) messages over
//! `POST /api/rooms/{id}/messages`, one after the other, so the last one posted is the room's
//! newest; every `--mention-every` (K)th names the measured user (`@username`). A room the
//! measured user created itself has no other member, so a guest joins it first
//! (`POST /api/rooms/{id}/join`). Then the measured user marks every second of its rooms read up
//! to the middle message (`PUT /api/rooms/{id}/read`, message (N + 1) / 2 of N), and leaves the
//! others unread. Rooms are filled `--concurrency` at a time like the rest of the fill.
//!
//! Nothing on the server is changed for this: posting over REST has no rate limit
//! (`limits.sends_per_second` and `send_burst` are per WebSocket connection, and the tool raises
//! them anyway). Each post carries a nonce, so a retry after a busy answer is stored once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::client::{Api, User};
use crate::report::{self, round1, Report};

/// One of the measured user's rooms, as the fill left it.
pub struct MyRoom {
    pub id: String,
    /// The user (by number) who posts in it: its other member, or a guest.
    pub poster: usize,
    /// The poster joins first: a public room the measured user created, where it is alone.
    pub join: bool,
}

/// What to post in each room.
#[derive(Clone, Copy)]
pub struct Posting {
    /// Messages per room.
    pub messages: usize,
    /// Every this-many-th message mentions the measured user; 0 for none.
    pub mention_every: usize,
}

impl Posting {
    /// Whether message `n` (1-based) mentions the measured user.
    fn mentions(self, n: usize) -> bool {
        self.mention_every > 0 && n % self.mention_every == 0
    }

    /// What the measured user's listing must say about a room with these `ids` (posted in
    /// order), read up to the middle message if `marked`.
    fn expected(self, room: String, ids: &[String], marked: bool) -> Expected {
        let read = if marked { middle(ids.len()) } else { 0 };
        Expected {
            room,
            unread: (ids.len() - read) as u64,
            mentions: (read + 1..=ids.len()).filter(|&n| self.mentions(n)).count() as u64,
            last_read: read.checked_sub(1).map(|i| ids[i].clone()),
            last_message: ids.last().cloned(),
        }
    }
}

/// The message (1-based) of `count` a marked room is read up to: the middle one.
fn middle(count: usize) -> usize {
    count.div_ceil(2)
}

/// A room's counts as the measured user must see them.
pub struct Expected {
    room: String,
    unread: u64,
    mentions: u64,
    last_read: Option<String>,
    last_message: Option<String>,
}

/// What the message phase did.
pub struct Activity {
    /// One per room of the measured user.
    pub expected: Vec<Expected>,
    pub messages: u64,
    /// Messages that mention the measured user.
    pub mentions: u64,
    /// Rooms the measured user marked read up to the middle.
    pub marked: u64,
    /// Joins, posts and markers sent.
    pub requests: u64,
}

impl Activity {
    /// The phase's rows and JSON fields: what was posted and marked, how fast, and the counts
    /// the listings must show (summed over the measured user's rooms).
    pub fn report_into(&self, report: &mut Report, posting: Posting, took: Duration) {
        report.field("messages_per_room", (posting.messages as u64).into());
        report.field("mention_every", (posting.mention_every as u64).into());
        let every = match posting.mention_every {
            0 => "no mentions".to_string(),
            k => format!("a mention every {k} messages"),
        };
        report.row(
            "fill: messages in its rooms (mentioning it)",
            format!(
                "{} ({}), {} per room, {every}",
                self.messages, self.mentions, posting.messages
            ),
        );
        report.field("messages", self.messages.into());
        report.field("mentions", self.mentions.into());
        report.both("fill: rooms marked half read", "rooms_marked", self.marked);
        report.both(
            "fill: messages (s)",
            "messages_fill_s",
            round1(took.as_secs_f64()),
        );
        report.both(
            "fill: message requests/s",
            "messages_fill_per_sec",
            round1(self.requests as f64 / took.as_secs_f64().max(1e-3)),
        );
        let unread: u64 = self.expected.iter().map(|e| e.unread).sum();
        let mentions: u64 = self.expected.iter().map(|e| e.mentions).sum();
        report.row(
            "expected unread_count / mention_count, summed",
            format!("{unread} / {mentions}"),
        );
        report.field("expected_unread", unread.into());
        report.field("expected_mentions", mentions.into());
    }
}

impl Activity {
    /// Checks the listing `body` (an answer of `what`) against what was posted, unless nothing
    /// was: `--messages 0` measures a server without issue 11's counts too. Returns the rooms
    /// checked.
    pub fn check(&self, what: &str, body: &[u8]) -> anyhow::Result<u64> {
        if self.messages == 0 {
            return Ok(0);
        }
        check(what, body, &self.expected)
    }
}

/// Posts in every room of `rooms` and marks every second one half read, `in_flight` rooms at a
/// time (each room's messages one after another, so their order is the order posted).
pub async fn post(
    api: &Api,
    users: &Arc<Vec<User>>,
    rooms: Vec<MyRoom>,
    posting: Posting,
    in_flight: usize,
) -> anyhow::Result<Activity> {
    let count = rooms.len() as u64;
    let messages = count * posting.messages as u64;
    let gate = Arc::new(Semaphore::new(in_flight));
    let progress = Arc::new(AtomicU64::new(0));
    let reporter = report::spawn_fill_progress("rooms-list: messages", progress.clone(), messages);
    let mut tasks = Vec::with_capacity(rooms.len());
    let mut requests = messages;
    for (n, room) in rooms.into_iter().enumerate() {
        let marked = n % 2 == 0 && posting.messages > 0;
        requests += u64::from(marked) + u64::from(room.join && posting.messages > 0);
        let (api, users, gate, progress) =
            (api.clone(), users.clone(), gate.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            post_in(&api, &users, room, posting, marked, &progress).await
        }));
    }
    let mut expected = Vec::with_capacity(tasks.len());
    for task in tasks {
        expected.push(task.await??);
    }
    reporter.abort();
    let per_room = (1..=posting.messages)
        .filter(|&n| posting.mentions(n))
        .count() as u64;
    let marked = if posting.messages > 0 {
        count.div_ceil(2)
    } else {
        0
    };
    Ok(Activity {
        expected,
        messages,
        mentions: count * per_room,
        marked,
        requests,
    })
}

/// One room: the poster joins if it must, posts, and the measured user marks it if `marked`.
async fn post_in(
    api: &Api,
    users: &[User],
    room: MyRoom,
    posting: Posting,
    marked: bool,
    progress: &AtomicU64,
) -> anyhow::Result<Expected> {
    let mut ids = Vec::with_capacity(posting.messages);
    if posting.messages == 0 {
        return Ok(posting.expected(room.id, &ids, false));
    }
    let poster = &users[room.poster];
    if room.join {
        let path = format!("/api/rooms/{}/join", room.id);
        api.call(poster, Method::POST, &path, None, &[200]).await?;
    }
    let measured = &users[0];
    let path = format!("/api/rooms/{}/messages", room.id);
    for n in 1..=posting.messages {
        let text = format!("rooms-list message {n} of {}", posting.messages);
        let body = if posting.mentions(n) {
            format!("@{} {text}", measured.name)
        } else {
            text
        };
        let request = json!({ "body": body, "nonce": format!("rooms-list {n}") });
        let (_, message) = api
            .call(poster, Method::POST, &path, Some(request), &[201])
            .await?;
        let id = message["id"].as_str().context("message id")?;
        ids.push(id.to_string());
        progress.fetch_add(1, Ordering::Relaxed);
    }
    if marked {
        let path = format!("/api/rooms/{}/read", room.id);
        let request = json!({ "message": ids[middle(ids.len()) - 1] });
        api.call(measured, Method::PUT, &path, Some(request), &[200])
            .await?;
    }
    Ok(posting.expected(room.id, &ids, marked))
}

#[derive(Deserialize)]
struct Listing {
    rooms: Vec<Counted>,
}

/// The per-member fields of a listed room (absent for a room the caller is not in, and on a
/// server without issue 11).
#[derive(Deserialize)]
struct Counted {
    id: String,
    unread_count: Option<u64>,
    mention_count: Option<u64>,
    last_read: Option<String>,
    last_message: Option<Newest>,
}

#[derive(Deserialize)]
struct Newest {
    id: String,
}

/// Checks that the listing `body` (an answer of `what`) holds every room of `expected` with
/// exactly the expected counts, marker and newest message; fails naming the first few that do
/// not. Returns the rooms checked.
fn check(what: &str, body: &[u8], expected: &[Expected]) -> anyhow::Result<u64> {
    let listing: Listing =
        serde_json::from_slice(body).with_context(|| format!("{what}: the answer"))?;
    let listed: HashMap<&str, &Counted> = listing
        .rooms
        .iter()
        .map(|room| (room.id.as_str(), room))
        .collect();
    let mut wrong = Vec::new();
    for want in expected {
        let Some(got) = listed.get(want.room.as_str()) else {
            wrong.push(format!("{} is missing", want.room));
            continue;
        };
        let newest = got.last_message.as_ref().map(|m| m.id.as_str());
        if got.unread_count != Some(want.unread)
            || got.mention_count != Some(want.mentions)
            || got.last_read != want.last_read
            || newest != want.last_message.as_deref()
        {
            wrong.push(format!(
                "{}: unread {:?} mentions {:?} last_read {:?} last_message {:?}, expected \
                 {} / {} / {:?} / {:?}",
                want.room,
                got.unread_count,
                got.mention_count,
                got.last_read,
                newest,
                want.unread,
                want.mentions,
                want.last_read,
                want.last_message
            ));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{what}: {} of the measured user's {} rooms are wrong, e.g. {}",
            wrong.len(),
            expected.len(),
            wrong[..wrong.len().min(3)].join("; ")
        );
    }
    Ok(expected.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: usize) -> Vec<String> {
        (1..=count).map(|n| format!("{n:016x}")).collect()
    }

    #[test]
    fn a_half_read_room_counts_what_follows_the_middle() {
        let posting = Posting {
            messages: 20,
            mention_every: 5,
        };
        let ids = ids(20);
        let unread = posting.expected("r".into(), &ids, false);
        assert_eq!((unread.unread, unread.mentions), (20, 4));
        assert_eq!(unread.last_read, None);
        assert_eq!(unread.last_message.as_deref(), Some(ids[19].as_str()));
        let half = posting.expected("r".into(), &ids, true);
        // Read up to message 10: 11..=20 unread, of which 15 and 20 mention.
        assert_eq!((half.unread, half.mentions), (10, 2));
        assert_eq!(half.last_read.as_deref(), Some(ids[9].as_str()));
        let quiet = Posting {
            messages: 5,
            mention_every: 0,
        };
        let five = quiet.expected("r".into(), &ids[..5], true);
        assert_eq!((five.unread, five.mentions), (2, 0));
        let none = quiet.expected("r".into(), &[], false);
        assert_eq!((none.unread, none.last_message), (0, None));
    }

    #[test]
    fn check_names_a_room_with_the_wrong_counts() {
        let posting = Posting {
            messages: 6,
            mention_every: 5,
        };
        let ids = ids(6);
        let expected = [posting.expected("a".into(), &ids, true)];
        let right = json!({"rooms": [{"id": "a", "unread_count": 3, "mention_count": 1,
            "last_read": ids[2], "last_message": {"id": ids[5]}}, {"id": "other"}]});
        let body = right.to_string().into_bytes();
        let checked = check("list", &body, &expected).expect("the right answer passes");
        assert_eq!(checked, 1);
        for wrong in [
            json!({"rooms": [{"id": "a", "unread_count": 6, "mention_count": 1,
                "last_read": ids[2], "last_message": {"id": ids[5]}}]}),
            json!({"rooms": [{"id": "a", "unread_count": 3, "mention_count": 1,
                "last_read": null, "last_message": {"id": ids[5]}}]}),
            json!({"rooms": [{"id": "a"}]}),
            json!({"rooms": []}),
        ] {
            let body = wrong.to_string().into_bytes();
            let err = check("list", &body, &expected)
                .expect_err("a wrong answer fails")
                .to_string();
            assert!(err.contains("1 of the measured user's 1 rooms"), "{err}");
        }
    }
}
