//! `rooms-list`'s timing: one listing requested again and again by the measured user, one
//! request at a time, and what its answers held (rooms by kind, membership, size).

use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use crate::client::{Api, User};
use crate::report::{histogram, round1, Report};
use crate::server::Target;

/// The rooms one listing answer holds.
#[derive(Default)]
pub struct Rooms {
    pub total: u64,
    pub public: u64,
    pub private: u64,
    pub direct: u64,
    pub is_member: u64,
    /// Private or direct rooms the caller is not a member of (must be 0).
    pub foreign: u64,
}

#[derive(Deserialize)]
struct Listing {
    rooms: Vec<ListedRoom>,
}

#[derive(Deserialize)]
struct ListedRoom {
    /// Absent on a server without the membership change: counted as public.
    kind: Option<String>,
    #[serde(default)]
    is_member: bool,
}

impl Rooms {
    fn parse(body: &[u8]) -> anyhow::Result<Self> {
        let listing: Listing = serde_json::from_slice(body).context("GET /api/rooms body")?;
        let mut rooms = Self::default();
        for room in &listing.rooms {
            rooms.total += 1;
            rooms.is_member += u64::from(room.is_member);
            match room.kind.as_deref().unwrap_or("public") {
                "public" => rooms.public += 1,
                kind => {
                    if kind == "private" {
                        rooms.private += 1;
                    } else {
                        rooms.direct += 1;
                    }
                    rooms.foreign += u64::from(!room.is_member);
                }
            }
        }
        Ok(rooms)
    }
}

/// One listing's timings and what its last answer held.
pub struct Measured {
    latency: Histogram<u64>,
    pub rooms: Rooms,
    /// The last answer, for the caller's own checks.
    pub last: Vec<u8>,
    /// The server's CPU time over the timed requests, if its PID is known.
    server_cpu: Option<Duration>,
    requests: usize,
}

/// `warmup` untimed then `requests` timed `GET path` as `user`, one at a time.
pub async fn measure(
    api: &Api,
    target: &Target,
    user: &User,
    path: &str,
    warmup: usize,
    requests: usize,
) -> anyhow::Result<Measured> {
    for _ in 0..warmup {
        api.get_body(user, path).await?;
    }
    let mut latency = histogram();
    let cpu_before = target.cpu();
    let mut last = Vec::new();
    for _ in 0..requests {
        let sent = Instant::now();
        last = api.get_body(user, path).await?;
        latency.saturating_record(sent.elapsed().as_micros().max(1) as u64);
    }
    let server_cpu = target
        .cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(Measured {
        latency,
        rooms: Rooms::parse(&last)?,
        last,
        server_cpu,
        requests,
    })
}

impl Measured {
    /// p50 / p90 / p99 / p99.9 / max in ms, the rooms returned, and whether the p99 met the
    /// target, as rows and as JSON fields `{prefix}_p50_ms`, ...
    pub fn report_into(&self, report: &mut Report, prefix: &str, label: &str, target_p99_ms: f64) {
        let h = &self.latency;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let fields = [
            ("p50", ms(h.value_at_quantile(0.50))),
            ("p90", ms(h.value_at_quantile(0.90))),
            ("p99", ms(h.value_at_quantile(0.99))),
            ("p999", ms(h.value_at_quantile(0.999))),
            ("max", ms(h.max())),
        ];
        report.row(
            label,
            format!(
                "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  (n={})",
                fields[0].1,
                fields[1].1,
                fields[2].1,
                fields[3].1,
                fields[4].1,
                h.len()
            ),
        );
        for (name, value) in fields {
            report.field(
                &format!("{prefix}_{name}_ms"),
                json!((value * 1000.0).round() / 1000.0),
            );
        }
        let r = &self.rooms;
        report.row(
            "... rooms returned (public / private / direct)",
            format!(
                "{} ({} / {} / {}), {} as member, {} KiB",
                r.total,
                r.public,
                r.private,
                r.direct,
                r.is_member,
                round1(self.last.len() as f64 / 1024.0)
            ),
        );
        report.field(&format!("{prefix}_rooms"), r.total.into());
        report.field(&format!("{prefix}_member_rooms"), r.is_member.into());
        report.field(&format!("{prefix}_foreign_rooms"), r.foreign.into());
        report.field(&format!("{prefix}_bytes"), (self.last.len() as u64).into());
        if let Some(cpu) = self.server_cpu {
            report.both(
                "... server CPU per request (ms)",
                &format!("{prefix}_server_cpu_ms"),
                (cpu.as_secs_f64() * 1e6 / self.requests as f64).round() / 1000.0,
            );
        }
        let p99 = fields[2].1;
        let met = p99 < target_p99_ms;
        report.row(
            "... p99 target",
            format!(
                "{} ({p99:.3} ms {} {target_p99_ms} ms)",
                if met { "met" } else { "MISSED" },
                if met { "<" } else { ">=" }
            ),
        );
        report.field(&format!("{prefix}_p99_met"), met.into());
    }
}
