//! The fan-out mesh's shape and membership model (`MeshArgs`, flattened into the arguments of
//! every scenario built on `mesh.rs`), and registering the users it needs.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::{self, Api, User};
use crate::membership::{self, Conn};
use crate::report::Report;

/// The mesh's shape, shared by every scenario built on it (flattened into their arguments).
#[derive(clap::Args, Clone)]
pub struct MeshArgs {
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Members of each room (senders included).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Members of each room that also send.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Message body size in bytes (the header is padded up to it).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Registered users; connection m of each room is user m % users (a user holds many connections).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Shared connections: each user is a member of K distinct rooms through ONE connection
    /// joined to all K, as real clients are, instead of a connection per (room, member).
    /// Registers rooms x members / K users (replaces --users); K <= rooms, and at most the
    /// server's `limits.rooms_per_connection` (100).
    #[arg(long, value_name = "K", conflicts_with = "users")]
    pub rooms_per_user: Option<usize>,
    /// Loopback source addresses to spread connections over (0: one per 20,000 connections).
    #[arg(long, default_value_t = 0)]
    pub sources: usize,
    /// After connecting, read every socket until no frame (presence, `added`, `room_updated`,
    /// ...) has arrived for 1 s before the first step starts, instead of only pausing 0.5 s
    /// with the sockets unread: the set-up's notifications then drain before the clock starts
    /// instead of competing with the first step's deliveries. Off by default: the recorded
    /// numbers in docs/performance.md before 2026-12-01 were taken without it.
    #[arg(long)]
    pub settle: bool,
}

impl MeshArgs {
    /// WebSocket connections the mesh opens.
    pub fn connections(&self) -> usize {
        match self.rooms_per_user {
            Some(per_user) if per_user > 0 => self.rooms * self.members / per_user,
            _ => self.rooms * self.members,
        }
    }

    /// Users to register: `--users` (at most one per member), or one per connection with
    /// `--rooms-per-user`.
    pub fn user_count(&self) -> anyhow::Result<usize> {
        match self.rooms_per_user {
            Some(per_user) => membership::shared_users(self.rooms, self.members, per_user),
            None => Ok(self.users.clamp(1, self.members)),
        }
    }

    /// Which connection joins which rooms as which user, for `rooms` rooms and `users`
    /// registered users (see `membership.rs`).
    pub fn layout(&self, rooms: usize, users: usize) -> anyhow::Result<Vec<Conn>> {
        let Some(per_user) = self.rooms_per_user else {
            return Ok(membership::per_membership(rooms, self.members, users));
        };
        let layout = membership::shared(rooms, self.members, per_user)?;
        anyhow::ensure!(
            users >= layout.len(),
            "--rooms-per-user {per_user} needs {} users, {users} registered",
            layout.len()
        );
        Ok(layout)
    }

    /// Registers the users the mesh needs. By default one at a time, as every recorded set-up
    /// was; with `--rooms-per-user` (hundreds or thousands of users, each an argon2 hash of tens
    /// of ms) `client::REGISTER_IN_FLIGHT` at once.
    pub async fn register(&self, api: &Api) -> anyhow::Result<(Vec<User>, Duration)> {
        let count = self.user_count()?;
        let started = Instant::now();
        let users = match self.rooms_per_user {
            None => api.register_users(count).await?,
            Some(_) => {
                api.register_users_concurrently(count, client::REGISTER_IN_FLIGHT)
                    .await?
            }
        };
        let took = started.elapsed();
        eprintln!(
            "mesh: registered {count} users in {:.1} s",
            took.as_secs_f64()
        );
        Ok((users, took))
    }

    /// "10 rooms x 100 members, 1 sender(s)/room, 64 B bodies", for report titles; with
    /// `--rooms-per-user`, the membership model too.
    pub fn describe(&self) -> String {
        let shape = format!(
            "{} rooms x {} members, {} sender(s)/room, {} B bodies",
            self.rooms, self.members, self.senders, self.size
        );
        match self.rooms_per_user {
            Some(per_user) => format!(
                "{shape}, {per_user} rooms/user on 1 connection/user ({} users = connections)",
                self.connections()
            ),
            None => shape,
        }
    }

    /// Adds the shape to the JSON line (the keys `fanout` has always had, and with
    /// `--rooms-per-user` that and `users`; `connections` comes from `Setup`).
    pub fn report_into(&self, report: &mut Report) {
        report.field("rooms", self.rooms.into());
        report.field("members", self.members.into());
        report.field("senders", self.senders.into());
        if let Some(per_user) = self.rooms_per_user {
            report.field("rooms_per_user", per_user.into());
            report.field("users", self.connections().into());
        }
    }
}
