//! Web Push (RFC 8030, 8291, 8292): notifications for people with no confab tab open.
//!
//! A browser that enabled notifications hands us a subscription (an endpoint at its vendor's
//! push service and keys). A new message that notifies a member per their level in its room
//! waits `push.delay` (`scheduler`); if no device of theirs has read past it by then, it is
//! encrypted to each of their subscriptions, signed with the server's VAPID key and POSTed
//! (`delivery`). Pushes never hold up chat: they follow the committer through a lossy
//! broadcast, wait in bounded queues, and what does not fit is dropped and counted.

mod delivery;
mod scheduler;
mod subscription;
mod vapid;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chat::model::User;
use crate::chat::Chat;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::integrations::outbound::{Outbound, OutboundError};
use crate::metrics::Metrics;
use crate::store::{PushSubscriptionRecord, Store};
use vapid::Vapid;

/// Subscriptions kept per user; a new one beyond this replaces the oldest.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 10;
/// Pushes being sent (or waiting to retry) at once.
const MAX_IN_FLIGHT: usize = 64;

/// The settings push runs with, from `[push]` and `public_url`.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub enabled: bool,
    pub subject: String,
    pub delay: Duration,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub queue: usize,
    pub allow_insecure_endpoints: bool,
}

impl PushSettings {
    pub fn from_config(config: &Config) -> Self {
        let push = &config.push;
        let subject = push
            .subject
            .clone()
            .unwrap_or_else(|| match &config.public_url {
                Some(url) if url.starts_with("https://") => url.trim_end_matches('/').to_owned(),
                _ => "mailto:postmaster@localhost".to_owned(),
            });
        Self {
            enabled: push.enabled,
            subject,
            delay: push.delay,
            timeout: push.timeout,
            retry_initial: push.retry_initial,
            queue: push.queue,
            allow_insecure_endpoints: push.allow_insecure_endpoints,
        }
    }
}

/// A subscription as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    pub created_at_ms: u64,
}

/// One message to push to all of one user's subscriptions.
#[derive(Debug)]
struct Job {
    username: String,
    /// The JSON the service worker gets.
    payload: Arc<Vec<u8>>,
    /// Push services keep only the newest undelivered push per topic: one per room.
    topic: String,
    urgent: bool,
}

/// The push service: subscriptions, the VAPID key, and the queue its background task drains.
pub struct Push {
    store: Store,
    chat: Arc<Chat>,
    metrics: Arc<Metrics>,
    settings: PushSettings,
    /// None when push is disabled.
    vapid: Option<Vapid>,
    /// Built on first use (it loads the system's root certificates).
    outbound: OnceLock<Outbound>,
    /// Users with at least one subscription: messages for everyone else cost nothing here.
    subscribed: Mutex<HashSet<String>>,
    /// Serializes subscription writes, so the per-user limit holds under concurrent requests.
    saving: tokio::sync::Mutex<()>,
    jobs: mpsc::Sender<Job>,
    queued: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Push {
    pub fn new(store: Store, chat: Arc<Chat>, settings: PushSettings) -> Result<Self> {
        let vapid = if settings.enabled {
            Some(Vapid::load_or_create(&store, settings.subject.clone())?)
        } else {
            None
        };
        let subscribed = store
            .all_push_subscriptions()?
            .into_iter()
            .map(|(username, _)| username)
            .collect();
        let (jobs, queued) = mpsc::channel(settings.queue);
        Ok(Self {
            metrics: chat.metrics().clone(),
            store,
            chat,
            settings,
            vapid,
            outbound: OnceLock::new(),
            subscribed: Mutex::new(subscribed),
            saving: tokio::sync::Mutex::new(()),
            jobs,
            queued: Mutex::new(Some(queued)),
        })
    }

    fn vapid(&self) -> Result<&Vapid> {
        self.vapid.as_ref().ok_or_else(|| Error::Disabled {
            code: "push_disabled",
            message: "Web Push is turned off on this server (push.enabled = false)".into(),
        })
    }

    /// The VAPID public key browsers subscribe with (`applicationServerKey`).
    pub fn public_key(&self) -> Result<&str> {
        Ok(self.vapid()?.public_key())
    }

    fn outbound(&self) -> std::result::Result<&Outbound, OutboundError> {
        if let Some(outbound) = self.outbound.get() {
            return Ok(outbound);
        }
        // Insecure endpoints (tests) may be anywhere; otherwise no internal address at all.
        let allowed = if self.settings.allow_insecure_endpoints {
            vec!["0.0.0.0/0".parse(), "::/0".parse()]
                .into_iter()
                .flatten()
                .collect()
        } else {
            Vec::new()
        };
        let built = Outbound::new(allowed, self.settings.timeout)?;
        Ok(self.outbound.get_or_init(|| built))
    }

    /// Stores a subscription of `user` (the same endpoint again refreshes its keys). Returns it
    /// and whether it is new.
    pub async fn subscribe(
        &self,
        user: &User,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<(Subscription, bool)> {
        self.vapid()?;
        let url = subscription::parse_endpoint(endpoint, self.settings.allow_insecure_endpoints)?;
        let (p256dh, auth) = subscription::check_keys(p256dh, auth)?;
        if !self.settings.allow_insecure_endpoints {
            let outbound = self.outbound().map_err(|_| Error::Busy)?;
            subscription::check_destination(outbound, &url).await?;
        }
        let record = PushSubscriptionRecord {
            endpoint: endpoint.to_owned(),
            p256dh,
            auth,
            created_at_ms: self.chat.now_ms(),
        };
        let _saving = self.saving.lock().await;
        let created = self.store.save_push_subscription(
            &user.username,
            record,
            MAX_SUBSCRIPTIONS_PER_USER,
        )?;
        self.store.flush().await?;
        self.subscribed_users().insert(user.username.clone());
        let saved = self
            .store
            .push_subscriptions_of(&user.username)?
            .into_iter()
            .find(|s| s.endpoint == endpoint)
            .map(|s| Subscription {
                endpoint: s.endpoint,
                created_at_ms: s.created_at_ms,
            })
            .ok_or(Error::NotFound("subscription"))?;
        Ok((saved, created))
    }

    /// Removes one of `user`'s subscriptions.
    pub async fn unsubscribe(&self, user: &User, endpoint: &str) -> Result<()> {
        self.vapid()?;
        let _saving = self.saving.lock().await;
        if !self.forget(&user.username, endpoint)? {
            return Err(Error::NotFound("subscription"));
        }
        self.store.flush().await?;
        Ok(())
    }

    /// `user`'s subscriptions, oldest first.
    pub fn subscriptions(&self, user: &User) -> Result<Vec<Subscription>> {
        self.vapid()?;
        let mut all: Vec<Subscription> = self
            .store
            .push_subscriptions_of(&user.username)?
            .into_iter()
            .map(|s| Subscription {
                endpoint: s.endpoint,
                created_at_ms: s.created_at_ms,
            })
            .collect();
        all.sort_by_key(|s| s.created_at_ms);
        Ok(all)
    }

    /// Removes a subscription (asked for, or answered 404/410); true if it existed.
    fn forget(&self, username: &str, endpoint: &str) -> Result<bool> {
        let removed = self.store.remove_push_subscription(username, endpoint)?;
        if self.store.push_subscriptions_of(username)?.is_empty() {
            self.subscribed_users().remove(username);
        }
        Ok(removed)
    }

    fn subscribed_users(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.subscribed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs push's background work until `shutdown`: the scheduler that decides what to push and
/// when, and the sender that pushes. Pushes still waiting then are dropped (they are only
/// reminders; the messages themselves are durable).
pub async fn run(push: Arc<Push>, shutdown: CancellationToken) {
    let Some(queued) = push
        .queued
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
    else {
        return;
    };
    if push.vapid.is_none() {
        return;
    }
    let messages = push.chat.new_messages();
    let scheduler = scheduler::run(push.clone(), messages, shutdown.clone());
    let sender = delivery::run(push, queued, shutdown);
    tokio::join!(scheduler, sender);
    tracing::debug!("push stopped");
}
