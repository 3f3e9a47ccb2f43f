//! `rooms-list`: how long `GET /api/rooms` takes for a user in many rooms on a full server.
//!
//! The server is filled through the real REST API, `--concurrency` (16) requests in flight:
//!
//! 1. `--users` (1,000) accounts are registered; the first one is the *measured* user;
//! 2. `--rooms` (10,000) rooms are created, in a shuffled (but fixed) order so the measured
//!    user's rooms are spread over the whole fill:
//!    - `--member-of` (200) of them have the measured user as a member, a quarter each: public
//!      rooms it created, public rooms another user created and it joined
//!      (`POST /api/rooms/{id}/join`), private rooms another user created and added it to
//!      (`PUT /api/rooms/{id}/members/{username}`), and direct rooms with one other user
//!      (`POST /api/dms`, opened by either side);
//!    - the rest belong to the other users, owners taken in turn: `--public-percent` (10) of them
//!      public, the others split evenly between private rooms (each with
//!      `--private-extra-members` (2) members added by its owner) and two-person direct rooms
//!      (every pair different, never with the measured user).
//! 3. so that the listing's per-room counts have something to count (`rooms_activity.rs`):
//!    in each of the measured user's rooms another member (its owner, the other side of the
//!    direct room, or a guest that joins the measured user's own public rooms) posts
//!    `--messages` (20) messages, every `--mention-every` (5)th naming the measured user as
//!    `@username`; then the measured user marks every second one of its rooms read up to the
//!    middle message (`PUT /api/rooms/{id}/read`, message (N + 1) / 2 of N). `--messages 0`
//!    posts nothing and checks no counts, as before this option existed (for a server without
//!    the counts).
//!
//! Then, for the measured user, one request at a time: `--warmup` (200) untimed requests, then
//! `--requests` (2,000) timed ones of `GET /api/rooms` (every public room plus its own private
//! and direct rooms) and, after those, of `GET /api/rooms?member=true` (only its own rooms).
//! A request is timed from sending it to the last byte of the answer. Reports p50 / p90 / p99 /
//! p99.9 / max, the server's CPU per request, the rooms each answer holds, and checks the
//! answers: `member=true` has at least `--member-of` rooms, all with `is_member`, and the full
//! list holds no private or direct room the user is not in. Fails when the server refuses a
//! fill request (e.g. a server without the membership routes), and when any of the measured
//! user's rooms, in either listing, lacks the `unread_count` (N, or N - (N + 1) / 2 when half
//! read), `mention_count` (the unread mentions), `last_read` or `last_message` (the last
//! posted) it must have: checked once before the timed requests and on the last timed answers.
//! Reports the messages, mentions and half-read rooms posted, and the rooms whose counts were
//! checked.
//!
//! No server settings are changed: there is no per-address limit on REST requests, no rate
//! limit on posting over REST, and registration is bounded by the server's own
//! `auth.hash_concurrency` and `auth.hash_queue` (64 waiting, above the 16 in flight here; a
//! 503 or 429 is retried).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Context};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{self, Api, User};
use crate::history::XorShift;
use crate::report::{self, round1, Report};
use crate::rooms_activity::{self, MyRoom, Posting};
use crate::rooms_measure::measure;
use crate::server::Target;

#[derive(clap::Args)]
pub struct Args {
    /// Registered accounts, the measured user included.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Rooms on the server, the measured user's included.
    #[arg(long, default_value_t = 10_000)]
    pub rooms: usize,
    /// Rooms the measured user is a member of (public created / public joined / private added
    /// to / direct, a quarter each).
    #[arg(long, default_value_t = 200)]
    pub member_of: usize,
    /// Share of the other users' rooms that are public, in %; the rest are half private, half
    /// direct.
    #[arg(long, default_value_t = 10)]
    pub public_percent: u32,
    /// Members each private room of the other users gets besides its owner.
    #[arg(long, default_value_t = 2)]
    pub private_extra_members: usize,
    /// Messages another member posts in each of the measured user's rooms after the rooms are
    /// filled (0: none, and the counts are not checked, as before this option existed).
    #[arg(long, default_value_t = 20)]
    pub messages: usize,
    /// Every K-th of those messages mentions the measured user (`@username`); 0 for none.
    #[arg(long, default_value_t = 5)]
    pub mention_every: usize,
    /// Fill requests in flight (rooms posted in at once, for the messages).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Untimed requests of each listing before the timed ones.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Timed requests of each listing, one at a time.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// The p99 the issue asks for; the report says whether each listing met it.
    #[arg(long, default_value_t = 10.0)]
    pub target_p99_ms: f64,
}

/// One unit of the fill: a room and whatever makes its members members. Numbers index the
/// registered users (0 is the measured user).
enum Job {
    /// `owner` creates a public room; `joiner`, if any, joins it. `guest`, in the measured
    /// user's own public rooms (its only member until then), joins after the fill to post.
    Public {
        owner: usize,
        joiner: Option<usize>,
        guest: Option<usize>,
    },
    /// `owner` creates a private room and adds `added` to it.
    Private { owner: usize, added: Vec<usize> },
    /// `from` opens a direct room with `with`.
    Direct { from: usize, with: usize },
}

/// How many rooms of each kind the fill creates, and how many of them the measured user is in.
struct Plan {
    jobs: Vec<Job>,
    public: usize,
    private: usize,
    direct: usize,
    /// The measured user's private and direct rooms (all its public ones are public anyway).
    mine_not_public: usize,
    /// Requests the fill sends after registration (creations, joins, additions).
    requests: u64,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Self> {
        let others = args.users.saturating_sub(1);
        ensure!(others >= 2, "need --users >= 3");
        ensure!(
            args.member_of <= args.rooms,
            "--member-of cannot exceed --rooms"
        );
        ensure!(args.public_percent <= 100, "--public-percent is 0..=100");
        ensure!(
            args.private_extra_members < others,
            "--private-extra-members must be below --users - 1"
        );
        // Users 1..=others, by their number among the others.
        let other = |k: usize| 1 + k % others;
        let quarter = args.member_of / 4;
        let (own_public, joined_public, mine_private) = (quarter, quarter, quarter);
        let mine_direct = args.member_of - 3 * quarter;
        ensure!(
            mine_direct <= others,
            "the measured user's {mine_direct} direct rooms need as many other users"
        );
        let rest = args.rooms - args.member_of;
        let rest_public = (rest * args.public_percent as usize).div_ceil(100);
        let rest_private = (rest - rest_public) / 2;
        let rest_direct = rest - rest_public - rest_private;
        // Pair (a, a + d) for d = 1, 2, ...: distinct unordered pairs while d < others / 2.
        ensure!(
            rest_direct <= others * ((others - 1) / 2),
            "{rest_direct} direct rooms need more distinct pairs of users: raise --users"
        );

        let mut jobs = Vec::with_capacity(args.rooms);
        for k in 0..own_public {
            jobs.push(Job::Public {
                owner: 0,
                joiner: None,
                guest: Some(other(k)),
            });
        }
        for k in 0..joined_public {
            jobs.push(Job::Public {
                owner: other(k),
                joiner: Some(0),
                guest: None,
            });
        }
        for k in 0..mine_private {
            jobs.push(Job::Private {
                owner: other(k + joined_public),
                added: vec![0],
            });
        }
        for k in 0..mine_direct {
            // Half opened by the measured user, half by the other side.
            let (from, with) = if k % 2 == 0 {
                (0, other(k))
            } else {
                (other(k), 0)
            };
            jobs.push(Job::Direct { from, with });
        }
        for k in 0..rest_public {
            jobs.push(Job::Public {
                owner: other(k),
                joiner: None,
                guest: None,
            });
        }
        for k in 0..rest_private {
            let owner = k % others;
            let added = (1..=args.private_extra_members)
                .map(|e| 1 + (owner + e) % others)
                .collect();
            jobs.push(Job::Private {
                owner: 1 + owner,
                added,
            });
        }
        for k in 0..rest_direct {
            let (a, d) = (k % others, 1 + k / others);
            jobs.push(Job::Direct {
                from: 1 + a,
                with: 1 + (a + d) % others,
            });
        }
        // A fixed shuffle (Fisher-Yates): the measured user's rooms among everyone's.
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for i in (1..jobs.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            jobs.swap(i, j);
        }
        let requests = jobs
            .iter()
            .map(|job| match job {
                Job::Public { joiner, .. } => 1 + u64::from(joiner.is_some()),
                Job::Private { added, .. } => 1 + added.len() as u64,
                Job::Direct { .. } => 1,
            })
            .sum();
        Ok(Self {
            jobs,
            public: own_public + joined_public + rest_public,
            private: mine_private + rest_private,
            direct: mine_direct + rest_direct,
            mine_not_public: mine_private + mine_direct,
            requests,
        })
    }
}

pub async fn run(target: &Target, args: &Args) -> anyhow::Result<Report> {
    ensure!(
        args.concurrency >= 1 && args.requests >= 1,
        "need --concurrency >= 1 and --requests >= 1"
    );
    let plan = Plan::new(args)?;
    let api = Api::new(&target.base);

    let started = Instant::now();
    let users = Arc::new(register(&api, args.users, args.concurrency).await?);
    let register_time = started.elapsed();
    eprintln!(
        "rooms-list: {} users registered in {:.1} s; creating {} rooms",
        users.len(),
        register_time.as_secs_f64(),
        plan.jobs.len()
    );
    let rooms_started = Instant::now();
    let filled = fill(&api, &users, plan.jobs, args.concurrency).await?;
    let rooms_time = rooms_started.elapsed();
    eprintln!(
        "rooms-list: {} rooms in {:.1} s ({} direct rooms already existed); posting {} \
         messages in each of the measured user's {} rooms",
        plan.public + plan.private + plan.direct,
        rooms_time.as_secs_f64(),
        filled.existing_direct,
        args.messages,
        filled.mine.len()
    );
    let posting = Posting {
        messages: args.messages,
        mention_every: args.mention_every,
    };
    let messages_started = Instant::now();
    let activity =
        rooms_activity::post(&api, &users, filled.mine, posting, args.concurrency).await?;
    let messages_time = messages_started.elapsed();
    let fill_time = started.elapsed();
    eprintln!(
        "rooms-list: {} messages in {:.1} s; {} rooms marked half read",
        activity.messages,
        messages_time.as_secs_f64(),
        activity.marked
    );
    // Fail before the timed requests, not after them, when the counts are wrong.
    let measured = &users[0];
    for path in ["/api/rooms?member=true", "/api/rooms"] {
        let body = api.get_body(measured, path).await?;
        activity.check(&format!("GET {path}"), &body)?;
    }

    let mut report = Report::new(
        "rooms-list",
        format!(
            "rooms-list: GET /api/rooms for a member of {} rooms; {} users, {} rooms ({} % of \
             the others' public), {} sequential requests per listing after {} warm-up",
            args.member_of, args.users, args.rooms, args.public_percent, args.requests, args.warmup
        ),
    );
    report.both("users", "users", args.users as u64);
    report.both("rooms", "rooms", args.rooms as u64);
    report.row(
        "... public / private / direct",
        format!("{} / {} / {}", plan.public, plan.private, plan.direct),
    );
    report.field("public_rooms", plan.public.into());
    report.field("private_rooms", plan.private.into());
    report.field("direct_rooms", plan.direct.into());
    report.field("member_of", args.member_of.into());
    report.field("public_percent", args.public_percent.into());
    report.field("private_extra_members", args.private_extra_members.into());
    report.field("existing_direct", filled.existing_direct.into());
    report.field("target_p99_ms", args.target_p99_ms.into());
    report.both(
        "fill: registration (s)",
        "register_s",
        round1(register_time.as_secs_f64()),
    );
    report.both(
        "fill: rooms and memberships (s)",
        "rooms_fill_s",
        round1(rooms_time.as_secs_f64()),
    );
    report.both(
        "fill: room requests/s",
        "rooms_fill_per_sec",
        round1(plan.requests as f64 / rooms_time.as_secs_f64()),
    );
    activity.report_into(&mut report, posting, messages_time);
    report.both("fill: total (s)", "fill_s", round1(fill_time.as_secs_f64()));
    if let Some(rss) = target.rss() {
        report.both(
            "server RSS after fill (MiB)",
            "server_rss_mib",
            round1(rss as f64 / 1048576.0),
        );
    }

    let (warmup, requests) = (args.warmup, args.requests);
    let all = measure(&api, target, measured, "/api/rooms", warmup, requests).await?;
    let member_path = "/api/rooms?member=true";
    let mine = measure(&api, target, measured, member_path, warmup, requests).await?;
    // The last timed answers must still hold the counts (nothing was posted in between).
    activity.check("GET /api/rooms", &all.last)?;
    let checked = activity.check(member_path, &mine.last)?;
    all.report_into(&mut report, "list", "GET /api/rooms", args.target_p99_ms);
    mine.report_into(
        &mut report,
        "member",
        "GET /api/rooms?member=true",
        args.target_p99_ms,
    );

    // What the measured user must see: every public room plus its own private and direct ones;
    // with member=true, its own rooms only.
    let expected_all = (plan.public + plan.mine_not_public) as u64;
    let checks = [
        (
            "member=true: at least --member-of rooms",
            mine.rooms.total >= args.member_of as u64,
        ),
        (
            "member=true: every room has is_member",
            mine.rooms.is_member == mine.rooms.total,
        ),
        (
            "full list: no private or direct room it is not in",
            all.rooms.foreign == 0,
        ),
        (
            "full list: public rooms + its private and direct ones",
            all.rooms.total == expected_all,
        ),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    report.field("expected_list_rooms", expected_all.into());
    if failed.is_empty() {
        report.row("checks", "all passed");
    } else {
        report.row(
            "checks",
            format!(
                "FAILED: {} (expected {} rooms in the full list, {} with member=true)",
                failed.join("; "),
                expected_all,
                args.member_of
            ),
        );
    }
    report.field("checks_passed", failed.is_empty().into());
    report.row(
        "counts checked (unread, mentions, last_read, last_message)",
        match checked {
            0 => "none (nothing posted)".to_string(),
            rooms => {
                format!("{rooms} rooms x 2 listings, before and after the timed requests: right")
            }
        },
    );
    report.field("counts_checked_rooms", checked.into());
    Ok(report)
}

/// Registers `count` users, `in_flight` at a time (the server hashes `auth.hash_concurrency`
/// passwords at once and queues the rest).
async fn register(api: &Api, count: usize, in_flight: usize) -> anyhow::Result<Vec<User>> {
    let prefix = client::run_prefix();
    let gate = Arc::new(Semaphore::new(in_flight));
    let progress = Arc::new(AtomicU64::new(0));
    let reporter = report::spawn_fill_progress("rooms-list: users", progress.clone(), count as u64);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (api, gate, progress) = (api.clone(), gate.clone(), progress.clone());
        let name = format!("{prefix}{i}");
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            let user = api.register(&name).await?;
            progress.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(user)
        }));
    }
    let mut users = Vec::with_capacity(count);
    for task in tasks {
        users.push(task.await??);
    }
    reporter.abort();
    Ok(users)
}

/// What the fill made besides what was planned.
struct Filled {
    /// `POST /api/dms` answered 200 (the room existed): fewer rooms than planned.
    existing_direct: u64,
    /// The measured user's rooms, in fill order, with who is to post in each.
    mine: Vec<MyRoom>,
}

/// Runs every job, `in_flight` at a time; the first refused request fails the fill.
async fn fill(
    api: &Api,
    users: &Arc<Vec<User>>,
    jobs: Vec<Job>,
    in_flight: usize,
) -> anyhow::Result<Filled> {
    let prefix = client::run_prefix();
    let gate = Arc::new(Semaphore::new(in_flight));
    let progress = Arc::new(AtomicU64::new(0));
    let reporter =
        report::spawn_fill_progress("rooms-list: rooms", progress.clone(), jobs.len() as u64);
    let mut tasks = Vec::with_capacity(jobs.len());
    for (n, job) in jobs.into_iter().enumerate() {
        let (api, users, gate, progress) =
            (api.clone(), users.clone(), gate.clone(), progress.clone());
        let name = format!("{prefix}room {n}");
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            let made = run_job(&api, &users, job, name).await?;
            progress.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(made)
        }));
    }
    let mut filled = Filled {
        existing_direct: 0,
        mine: Vec::new(),
    };
    for task in tasks {
        let made = task.await??;
        filled.existing_direct += u64::from(made.existed);
        filled.mine.extend(made.mine);
    }
    reporter.abort();
    Ok(filled)
}

/// What one job made.
struct Made {
    /// A direct room that already existed.
    existed: bool,
    /// The room, if the measured user is in it.
    mine: Option<MyRoom>,
}

/// Creates one job's room and memberships.
async fn run_job(api: &Api, users: &[User], job: Job, name: String) -> anyhow::Result<Made> {
    match job {
        Job::Public {
            owner,
            joiner,
            guest,
        } => {
            let room = create_room(api, &users[owner], &name, "public").await?;
            if let Some(joiner) = joiner {
                let path = format!("/api/rooms/{room}/join");
                api.call(&users[joiner], Method::POST, &path, None, &[200])
                    .await?;
            }
            let mine = match (owner, joiner, guest) {
                (0, _, Some(guest)) => Some((guest, true)),
                (_, Some(0), _) => Some((owner, false)),
                _ => None,
            };
            Ok(Made {
                existed: false,
                mine: mine.map(|(poster, join)| MyRoom {
                    id: room,
                    poster,
                    join,
                }),
            })
        }
        Job::Private { owner, added } => {
            let room = create_room(api, &users[owner], &name, "private").await?;
            let with_measured = added.contains(&0);
            for member in added {
                let path = format!("/api/rooms/{room}/members/{}", users[member].name);
                let body = Some(json!({}));
                api.call(&users[owner], Method::PUT, &path, body, &[201])
                    .await?;
            }
            Ok(Made {
                existed: false,
                mine: with_measured.then_some(MyRoom {
                    id: room,
                    poster: owner,
                    join: false,
                }),
            })
        }
        Job::Direct { from, with } => {
            let body = Some(json!({ "users": [users[with].name] }));
            let (status, room) = api
                .call(&users[from], Method::POST, "/api/dms", body, &[200, 201])
                .await?;
            // The other side posts in the measured user's direct rooms.
            let poster = match (from, with) {
                (0, other) | (other, 0) => Some(other),
                _ => None,
            };
            let mine = match poster {
                Some(poster) => Some(MyRoom {
                    id: room["id"].as_str().context("room id")?.to_string(),
                    poster,
                    join: false,
                }),
                None => None,
            };
            Ok(Made {
                existed: status == 200,
                mine,
            })
        }
    }
}

/// `POST /api/rooms` with a kind; returns the new room's id.
async fn create_room(api: &Api, owner: &User, name: &str, kind: &str) -> anyhow::Result<String> {
    let body = Some(json!({ "name": name, "kind": kind }));
    let (_, room) = api
        .call(owner, Method::POST, "/api/rooms", body, &[201])
        .await?;
    Ok(room["id"].as_str().context("room id")?.to_string())
}
