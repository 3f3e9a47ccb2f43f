//! What watches the search index trail the chat while the `search` scenario seeds
//! (`search_seed.rs`):
//!
//! - every 100 ms, `confab_search_lag_seconds` from `GET /metrics` (how long the oldest change
//!   not yet searchable had waited at the indexer's last pass);
//! - every `--probe-interval`, a probe message holding a word no other message holds, sent from
//!   its own connection; from its acknowledgement on, `GET /api/search?q=<word>` is asked every
//!   20 ms until it is found: the ack-to-searchable latency a user would see.
//!
//! When the seeding ends, one more probe is sent: the index has caught up with everything
//! seeded once it is found (the indexer takes every marked room at once, and the seeded
//! messages were marked before it).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Api, Frame, User, Ws};
use crate::report::histogram;
use crate::search_text::probe_token;
use crate::server::Target;

/// The gauge the indexer sets after each pass.
pub const LAG_METRIC: &str = "confab_search_lag_seconds";

/// How often a probe's search is asked again until it is found (the latency's resolution).
const POLL_EVERY: Duration = Duration::from_millis(20);

/// A probe not found this long after its acknowledgement counts as never found.
const PROBE_GIVE_UP: Duration = Duration::from_secs(60);

/// What the probes saw.
pub struct Probes {
    pub sent: u64,
    /// Probe sends answered with an error frame.
    pub refused: u64,
    /// Acknowledgement to the first search answer that holds it.
    pub searchable: Histogram<u64>,
    /// Acknowledged but not found within a minute.
    pub not_found: u64,
    /// Search answers other than 200 while polling (by status), and requests with no answer.
    pub statuses: BTreeMap<u16, u64>,
    pub no_answer: u64,
    /// After the last seeded acknowledgement: until a probe sent then was searchable.
    pub drained: Option<Duration>,
}

impl Probes {
    fn add(&mut self, poll: &Poll) {
        for (status, count) in &poll.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        self.no_answer += poll.no_answer;
    }
}

/// Reads the lag gauge every 100 ms until `stop`; returns the values and the failed reads.
pub async fn sample_lag(target: &Target, stop: &CancellationToken) -> (Vec<f64>, u64) {
    let mut values = Vec::new();
    let mut missing = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => match target.metric(LAG_METRIC).await {
                Some(value) => values.push(value),
                None => missing += 1,
            },
        }
    }
    (values, missing)
}

/// The probing connection and the probes sent but not yet acknowledged.
pub struct Prober {
    ws: Ws,
    room: String,
    api: Api,
    user: User,
    salt: u64,
    sent: u64,
    /// Nonce -> the probe's word.
    pending: HashMap<String, String>,
}

impl Prober {
    /// Probes from `ws` (joined to `room`) as `user`.
    pub fn new(ws: Ws, room: String, api: Api, user: User) -> Self {
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64 % (1 << 40));
        Self {
            ws,
            room,
            api,
            user,
            salt,
            sent: 0,
            pending: HashMap::new(),
        }
    }

    /// Probes every `every` until `stop`, then sends the final probe and waits up to
    /// `drain_timeout` for it (and for every probe still being looked for).
    pub async fn run(
        mut self,
        every: Duration,
        drain_timeout: Duration,
        stop: &CancellationToken,
    ) -> anyhow::Result<Probes> {
        let mut probes = Probes {
            sent: 0,
            refused: 0,
            searchable: histogram(),
            not_found: 0,
            statuses: BTreeMap::new(),
            no_answer: 0,
            drained: None,
        };
        let mut polls = Vec::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    self.send().await?;
                }
                next = self.ws.next() => {
                    if let Some(token) = self.acked(next, &mut probes)? {
                        polls.push(self.poll(token, PROBE_GIVE_UP));
                    }
                }
            }
        }
        let stopped = Instant::now();
        let last = self.send().await?;
        let deadline = stopped + Duration::from_secs(60);
        let last_token = loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("the final probe was not acknowledged within 60 s")?;
            if let Some(token) = self.acked(next, &mut probes)? {
                if token == last {
                    break token;
                }
                polls.push(self.poll(token, PROBE_GIVE_UP));
            }
        };
        let final_poll = self
            .poll(last_token, drain_timeout.saturating_sub(stopped.elapsed()))
            .await?;
        probes.add(&final_poll);
        probes.drained = final_poll.found.map(|(at, _)| at - stopped);
        for poll in polls {
            let poll = poll.await?;
            probes.add(&poll);
            match poll.found {
                Some((_, latency)) => {
                    let micros = latency.as_micros().max(1) as u64;
                    probes.searchable.saturating_record(micros);
                }
                None => probes.not_found += 1,
            }
        }
        probes.sent = self.sent;
        Ok(probes)
    }

    /// Sends the next probe; returns its word.
    async fn send(&mut self) -> anyhow::Result<String> {
        self.sent += 1;
        let token = probe_token(self.salt, self.sent);
        let nonce = format!("probe-{}", self.sent);
        let body = format!("probe {} {token}", self.sent);
        self.ws
            .send(client::send_frame(&self.room, &body, &nonce))
            .await?;
        self.pending.insert(nonce, token.clone());
        Ok(token)
    }

    /// The word of the probe `next` acknowledges, if it does. Refusals are counted.
    fn acked(
        &mut self,
        next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        probes: &mut Probes,
    ) -> anyhow::Result<Option<String>> {
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => return Ok(None),
            _ => bail!("the probing connection closed"),
        };
        let frame = Frame::parse(text.as_str())?;
        let Some(token) = frame.nonce.and_then(|n| self.pending.remove(n.as_ref())) else {
            return Ok(None);
        };
        if frame.kind == "message" {
            Ok(Some(token))
        } else {
            probes.refused += 1;
            Ok(None)
        }
    }

    /// Looks for `token` every 20 ms, from now (its acknowledgement) for at most `give_up`.
    fn poll(&self, token: String, give_up: Duration) -> tokio::task::JoinHandle<Poll> {
        let (api, user) = (self.api.clone(), self.user.clone());
        tokio::spawn(until_found(api, user, token, give_up))
    }
}

/// One probe's search: when it was found (and how long after its acknowledgement), and the
/// answers that were not 200.
struct Poll {
    found: Option<(Instant, Duration)>,
    statuses: BTreeMap<u16, u64>,
    no_answer: u64,
}

async fn until_found(api: Api, user: User, token: String, give_up: Duration) -> Poll {
    let acked = Instant::now();
    let mut poll = Poll {
        found: None,
        statuses: BTreeMap::new(),
        no_answer: 0,
    };
    let url = format!("{}/api/search", api.base);
    loop {
        let answer = api
            .http
            .get(&url)
            .query(&[("q", token.as_str()), ("limit", "1")])
            .bearer_auth(&user.token)
            .send()
            .await;
        match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                if status != 200 {
                    *poll.statuses.entry(status).or_default() += 1;
                } else if !contains(&body, b"\"hits\":[]") {
                    let now = Instant::now();
                    poll.found = Some((now, now - acked));
                    return poll;
                }
            }
            Err(_) => poll.no_answer += 1,
        }
        if acked.elapsed() >= give_up {
            return poll;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Whether `needle` occurs in `haystack`. In a JSON answer, `"key":value` outside strings is
/// exact: a quote inside a string is escaped.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
