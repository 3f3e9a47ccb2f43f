//! Open WebSocket connections as the chat domain sees them: the handle the hub delivers to,
//! and the registry that limits, counts and revokes them.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::Event;
use crate::metrics::Metrics;

/// Why the server cuts a connection off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// It fell too far behind its rooms (closed with 4008 "lagged").
    Lagged,
    /// Its user was locked or deleted, or their sessions were revoked.
    Revoked,
}

/// One live WebSocket connection as the hub sees it.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub username: String,
    /// The hash of the session token it was opened with, so a logout can close it.
    pub session: [u8; 32],
    tx: mpsc::Sender<Arc<Event>>,
    /// Cancelled when the server cuts the connection off; `kick_reason` says why.
    pub kicked: CancellationToken,
    kick_reason: OnceLock<Kick>,
    /// Every frame offered to this connection passes here, so this is where deliveries and
    /// lag are counted.
    metrics: Arc<Metrics>,
}

impl Connection {
    pub fn new(
        id: u64,
        username: String,
        session: [u8; 32],
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, mpsc::Receiver<Arc<Event>>) {
        let (tx, rx) = mpsc::channel(queue);
        let connection = Self {
            id,
            username,
            session,
            tx,
            kicked: CancellationToken::new(),
            kick_reason: OnceLock::new(),
            metrics,
        };
        (Arc::new(connection), rx)
    }

    /// Cuts the connection off; the first reason given is the one reported (and counted).
    pub fn kick(&self, reason: Kick) {
        if self.kick_reason.set(reason).is_ok() && reason == Kick::Lagged {
            self.metrics.lagged_disconnect();
        }
        self.kicked.cancel();
    }

    pub fn kick_reason(&self) -> Option<Kick> {
        self.kick_reason.get().copied()
    }

    /// Queues `event`; false when the connection is gone or lagging (and now kicked).
    pub(super) fn offer(&self, event: &Arc<Event>) -> bool {
        match self.tx.try_send(event.clone()) {
            Ok(()) => {
                self.metrics.delivered();
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick(Kick::Lagged);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Every open connection, joined to rooms or not, so a user can be cut off everywhere; and the
/// number of connections (upgraded or about to be) per user and per client address.
#[derive(Default)]
struct Registry {
    /// The upgraded connections, by user: membership news for one user walks only theirs, and
    /// telling a room's members of its news looks each member up once.
    by_user: HashMap<String, Vec<Arc<Connection>>>,
    per_user: HashMap<String, usize>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The most WebSocket connections one user, and one client address, may hold at once.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub per_user: usize,
    pub per_ip: usize,
}

/// Why `Hub::reserve` refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    #[error("this account already has {0} open connections; close one first")]
    PerUser(usize),
    #[error("this address already has {0} open connections; close one first")]
    PerIp(usize),
}

/// A place for one WebSocket connection, taken before the upgrade and given back when dropped.
///
/// Counting by a guard rather than by paired calls means the counts fall however a session
/// ends: closed by either side, kicked, failed upgrade (poem drops the upgrade callback that
/// owns the slot), or a panicking session task (unwinding drops it).
pub struct ConnectionSlot {
    registry: Arc<Mutex<Registry>>,
    username: String,
    ip: Option<IpAddr>,
    connection: Option<u64>,
}

impl ConnectionSlot {
    /// Lists the upgraded connection where `disconnect_user` and `count` see it,
    /// until the slot is dropped.
    pub fn register(&mut self, connection: &Arc<Connection>) {
        lock(&self.registry)
            .by_user
            .entry(self.username.clone())
            .or_default()
            .push(connection.clone());
        self.connection = Some(connection.id);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut registry = lock(&self.registry);
        if let Some(id) = self.connection.take() {
            if let Some(open) = registry.by_user.get_mut(&self.username) {
                open.retain(|other| other.id != id);
                if open.is_empty() {
                    registry.by_user.remove(&self.username);
                }
            }
        }
        release(&mut registry.per_user, &self.username);
        if let Some(ip) = self.ip {
            release(&mut registry.per_ip, &ip);
        }
    }
}

/// Takes one off `key`'s count, forgetting keys that reach zero so the maps stay small.
fn release<K: Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Every open connection, shared with the `ConnectionSlot`s that give their place back.
#[derive(Default)]
pub struct Connections {
    registry: Arc<Mutex<Registry>>,
}

impl Connections {
    /// Takes a place for one more connection of `username` from `ip`, or says which limit
    /// is reached.
    ///
    /// The check and the count happen under one lock, so concurrent upgrades cannot
    /// over-admit. The place is held from before the upgrade, so a connection still in its
    /// handshake counts too.
    pub fn reserve(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        limits: ConnectionLimits,
    ) -> std::result::Result<ConnectionSlot, LimitReached> {
        let ip = ip.map(|ip| ip.to_canonical());
        let mut registry = lock(&self.registry);
        let of_user = registry.per_user.get(username).copied().unwrap_or(0);
        if of_user >= limits.per_user {
            return Err(LimitReached::PerUser(limits.per_user));
        }
        let of_ip = ip.and_then(|ip| registry.per_ip.get(&ip).copied());
        if of_ip.unwrap_or(0) >= limits.per_ip {
            return Err(LimitReached::PerIp(limits.per_ip));
        }
        *registry.per_user.entry(username.to_string()).or_insert(0) += 1;
        if let Some(ip) = ip {
            *registry.per_ip.entry(ip).or_insert(0) += 1;
        }
        Ok(ConnectionSlot {
            registry: self.registry.clone(),
            username: username.to_string(),
            ip,
            connection: None,
        })
    }

    /// Closes every open connection opened with the session `session` (a token hash).
    pub fn disconnect_session(&self, session: &[u8; 32]) -> usize {
        self.revoke_where(|c| &c.session == session)
    }

    /// Closes every open connection of `username`; returns how many.
    pub fn disconnect_user(&self, username: &str) -> usize {
        self.revoke_where(|c| c.username == username)
    }

    fn revoke_where(&self, matches: impl Fn(&Connection) -> bool) -> usize {
        let registry = lock(&self.registry);
        let revoked: Vec<_> = registry
            .by_user
            .values()
            .flatten()
            .filter(|c| matches(c))
            .collect();
        for connection in &revoked {
            connection.kick(Kick::Revoked);
        }
        revoked.len()
    }

    /// The open connections of those of `usernames` who have any, under one lock.
    pub(super) fn open_of<'a>(
        &self,
        usernames: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(&'a str, Vec<Arc<Connection>>)> {
        let registry = lock(&self.registry);
        usernames
            .into_iter()
            .filter_map(|username| Some((username, registry.by_user.get(username)?.clone())))
            .collect()
    }

    /// Offers `event` to every open connection of `username` (membership news reaches every
    /// tab and device, joined to the room or not).
    pub fn notify_user(&self, username: &str, event: &Arc<Event>) {
        let targets: Vec<Arc<Connection>> = {
            let registry = lock(&self.registry);
            registry.by_user.get(username).cloned().unwrap_or_default()
        };
        for connection in targets {
            connection.offer(event);
        }
    }

    /// Offers `event` to every open connection that `matches`.
    pub fn notify_where(&self, matches: impl Fn(&Connection) -> bool, event: &Arc<Event>) {
        let targets: Vec<Arc<Connection>> = lock(&self.registry)
            .by_user
            .values()
            .flatten()
            .filter(|c| matches(c))
            .cloned()
            .collect();
        for connection in targets {
            connection.offer(event);
        }
    }

    /// Upgraded connections open now (for metrics and tests).
    pub fn count(&self) -> usize {
        lock(&self.registry).by_user.values().map(Vec::len).sum()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// here leaves the state consistent between statements, so the data is still good.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
