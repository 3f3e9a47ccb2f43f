//! Resource faults against the real binary: the data directory runs out of room while clients
//! send over WebSocket and REST.
//!
//! Two ways to run out of room: a small tmpfs mounted as the data directory (ENOSPC, a full disk;
//! needs the right to mount, so that test says it is skipped where mounting is refused), and a
//! file-size limit put on the running server with `prlimit` (EFBIG and SIGXFSZ; needs only
//! util-linux). Either way:
//! - a send that meets the failure is refused with `storage_failed`: a 503 JSON body over REST,
//!   an error frame with its nonce over WebSocket (or with `internal`, 500, when the check before
//!   accepting it could not read the database either); nothing panics and no signal kills the
//!   server;
//! - sled accepts no write after a failed one until the database is reopened, so the server then
//!   shuts its listener down, says why, and reopens the database every 2 s, staying up;
//! - once there is room again, the same process reopens the database and every acknowledged
//!   message is there exactly once with its id. A refused send is in doubt, as the protocol says
//!   (it may have reached the disk): it is there at most once, and a retry with its nonce leaves
//!   exactly one copy. A send refused before it was accepted (`internal`, `shutting_down`) is not
//!   there.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{all_messages, BinaryServer, Client, Ws, PASSWORD};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How the data directory runs out of room.
enum Fault {
    /// A tmpfs of a few MiB mounted as the data directory: writes fail with ENOSPC.
    FullDisk(Tmpfs),
    /// `prlimit --fsize` on the running server: writes past the limit fail with EFBIG and raise
    /// SIGXFSZ, which kills a process that does not handle it.
    FileSizeLimit,
}

/// A small tmpfs, unmounted when dropped (lazily, in case a process still holds it).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "2m"), or None where this machine refuses to mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = format!("size={size},mode=0700");
        let mounted = run(
            "mount",
            &["-t", "tmpfs", "-o", &options, "tmpfs"],
            dir.path(),
        );
        mounted.then_some(Self { dir })
    }

    /// Space returns: the file system grows to `size`.
    fn grow(&self, size: &str) {
        let options = format!("remount,size={size}");
        assert!(
            run("mount", &["-o", &options], self.dir.path()),
            "remount the tmpfs"
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        run("umount", &["-l"], self.dir.path());
    }
}

/// Runs `program args path`, quietly; true if it succeeded.
fn run(program: &str, args: &[&str], path: &Path) -> bool {
    Command::new(program)
        .args(args)
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Limits every file the server writes to its database's current size plus `room` bytes.
fn limit_file_size(server: &BinaryServer, data: &Path, room: u64) {
    let largest = std::fs::read_dir(data)
        .expect("data dir")
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .max()
        .unwrap_or(0);
    // The soft limit only: the hard one stays, so the limit can be lifted again without
    // CAP_SYS_RESOURCE.
    let limit = format!("--fsize={}:", largest + room);
    let status = Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), &limit])
        .status()
        .expect("prlimit (util-linux) is needed for the file-size fault");
    assert!(status.success(), "prlimit {limit}: {status}");
}

/// Lifts the limit `limit_file_size` put on the server: space is back.
fn lift_file_size_limit(server: &BinaryServer) {
    let status = Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), "--fsize=unlimited:"])
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --fsize=unlimited: : {status}");
}

/// Waits (up to 30 s) until the server answers `/healthz` again.
async fn wait_until_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        let answer = http.get(format!("{base}/healthz")).send().await;
        if answer.is_ok_and(|a| a.status() == StatusCode::OK) {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server's log once it holds `needle` (waits up to 30 s).
async fn wait_for_log(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends carry ~3.9 KB each, so that a few MiB fill up after a hundred or so.
fn body(label: &str) -> String {
    format!("{label} {}", "x".repeat(3900))
}

fn label(message: &Value) -> String {
    let body = message["body"].as_str().expect("body");
    body.split(' ').next().unwrap_or_default().to_string()
}

/// What became of every send, by label (the label is also the nonce and starts the body).
#[derive(Default)]
struct Outcomes {
    /// Acknowledged: label -> id.
    acked: HashMap<String, String>,
    /// Refused with `storage_failed`: in doubt, it may have reached the disk.
    failed: HashSet<String>,
    /// Sent but never answered: the server went away first. In doubt too.
    unanswered: HashSet<String>,
    /// Refused before being accepted: never stored. `shutting_down` once the server stops,
    /// `internal` when checking the send (its room, its nonce) needed a read that sled refused
    /// too: after a failed write, sled fails reads of pages whose latest version was in it.
    refused: HashSet<String>,
    /// Refusals with `storage_failed`, on either transport.
    storage_failed: usize,
    /// Refusals per transport, whatever the code.
    ws_refusals: usize,
    rest_refusals: usize,
}

impl Outcomes {
    fn in_doubt(&self) -> impl Iterator<Item = &String> {
        self.failed.iter().chain(&self.unanswered)
    }
}

/// After its first refusal, a transport sends this many more and stops.
const SENDS_AFTER_REFUSAL: usize = 5;
/// WebSocket sends in flight at once.
const WINDOW: usize = 16;

/// Sends over a WebSocket, `WINDOW` at a time, until a few have been refused or the server is
/// gone. Every answer must be an acknowledgement or a documented refusal.
async fn fill_over_ws(ws: &mut Ws, room: &str, outcomes: &mut Outcomes, deadline: Instant) {
    let mut in_flight = HashSet::new();
    let mut next = 0;
    let mut after_refusal = None;
    loop {
        while in_flight.len() < WINDOW
            && !matches!(after_refusal, Some(n) if n >= SENDS_AFTER_REFUSAL)
        {
            let label = format!("ws-{next}");
            next += 1;
            let frame = json!({"type": "send", "room": room, "body": body(&label), "nonce": label});
            let sent = ws.socket.send(Message::text(frame.to_string())).await;
            in_flight.insert(label);
            if sent.is_err() {
                break;
            }
            if let Some(n) = &mut after_refusal {
                *n += 1;
            }
        }
        if in_flight.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "no WebSocket send was refused");
        let frame = match tokio::time::timeout(Duration::from_secs(10), ws.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                serde_json::from_str::<Value>(text.as_str()).expect("json frame")
            }
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("the server neither answered nor closed the socket"),
        };
        let Some(nonce) = frame["nonce"].as_str() else {
            continue;
        };
        assert!(
            in_flight.remove(nonce),
            "answer for an unknown nonce: {frame}"
        );
        match frame["type"].as_str() {
            Some("message") => {
                let id = frame["message"]["id"].as_str().expect("id");
                outcomes.acked.insert(nonce.to_string(), id.to_string());
            }
            Some("error") => {
                assert!(
                    frame["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{frame}"
                );
                match frame["code"].as_str() {
                    Some("storage_failed") => {
                        outcomes.failed.insert(nonce.to_string());
                        outcomes.storage_failed += 1;
                    }
                    Some("internal" | "shutting_down") => {
                        outcomes.refused.insert(nonce.to_string());
                    }
                    _ => panic!("a send refused with an unexpected code: {frame}"),
                }
                outcomes.ws_refusals += 1;
                after_refusal.get_or_insert(0);
            }
            _ => panic!("unexpected answer: {frame}"),
        }
    }
    // The server closed the socket: whatever is still in flight is in doubt.
    outcomes.unanswered.extend(in_flight);
}

/// Posts one at a time until a few have been refused or the server is gone.
async fn fill_over_rest(client: Client, room: String, deadline: Instant) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let mut after_refusal = None;
    for i in 0.. {
        if matches!(after_refusal, Some(n) if n >= SENDS_AFTER_REFUSAL) {
            break;
        }
        assert!(Instant::now() < deadline, "no REST send was refused");
        let label = format!("rest-{i}");
        let request = client
            .http
            .post(format!("{}/api/rooms/{room}/messages", client.base))
            .bearer_auth(client.token.as_deref().expect("token"))
            .json(&json!({"body": body(&label), "nonce": label}));
        let Ok(response) = request.send().await else {
            outcomes.unanswered.insert(label);
            break;
        };
        let status = response.status();
        let Ok(answer) = response.json::<Value>().await else {
            outcomes.unanswered.insert(label);
            break;
        };
        if status == StatusCode::CREATED {
            let id = answer["id"].as_str().expect("id");
            outcomes.acked.insert(label, id.to_string());
            continue;
        }
        match (status, common::error_code(&answer)) {
            (StatusCode::SERVICE_UNAVAILABLE, "storage_failed") => {
                outcomes.failed.insert(label);
                outcomes.storage_failed += 1;
            }
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            | (StatusCode::SERVICE_UNAVAILABLE, "shutting_down") => {
                outcomes.refused.insert(label);
            }
            _ => panic!("a send refused with an unexpected answer {status}: {answer}"),
        }
        outcomes.rest_refusals += 1;
        *after_refusal.get_or_insert(0) += 1;
    }
    outcomes
}

const FAST_SENDS: [(&str, &str); 2] = [
    ("CONFAB_LIMITS__SENDS_PER_SECOND", "100000"),
    ("CONFAB_LIMITS__SEND_BURST", "100000"),
];

async fn fill_refuse_and_recover(fault: Fault) {
    let logs = tempfile::tempdir().expect("tempdir");
    let plain = tempfile::tempdir().expect("tempdir");
    let data = match &fault {
        Fault::FullDisk(tmpfs) => tmpfs.dir.path().join("data"),
        Fault::FileSizeLimit => plain.path().join("data"),
    };
    let started = std::time::Instant::now();
    let first_log = logs.path().join("first.log");
    let mut server = BinaryServer::start_logged(&data, &FAST_SENDS, &first_log);
    let mut client = server.client();
    let (status, session) = client
        .post(
            "/api/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().expect("token").to_string();
    client.token = Some(token.clone());
    let room = client.create_room("full").await;
    let mut ws = client.ws().await;
    ws.join(&room, None, 0).await;
    if let Fault::FileSizeLimit = fault {
        limit_file_size(&server, &data, 1024 * 1024);
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    let rest = tokio::spawn(fill_over_rest(client.clone(), room.clone(), deadline));
    let mut outcomes = Outcomes::default();
    fill_over_ws(&mut ws, &room, &mut outcomes, deadline).await;
    let from_rest = rest.await.expect("rest task");
    outcomes.acked.extend(from_rest.acked);
    outcomes.failed.extend(from_rest.failed);
    outcomes.unanswered.extend(from_rest.unanswered);
    outcomes.refused.extend(from_rest.refused);
    outcomes.storage_failed += from_rest.storage_failed;
    outcomes.rest_refusals = from_rest.rest_refusals;
    drop(ws);
    assert!(
        outcomes.ws_refusals > 0 && outcomes.rest_refusals > 0 && outcomes.storage_failed > 0,
        "both transports refuse sends, with storage_failed: {} refusals over WebSocket, {} over \
         REST, {} storage_failed",
        outcomes.ws_refusals,
        outcomes.rest_refusals,
        outcomes.storage_failed
    );
    assert!(
        outcomes.acked.len() >= 20,
        "too little fit before the failure to mean anything: {}",
        outcomes.acked.len()
    );

    // The server notices, says why, and stays up (down for HTTP, reopening its database).
    let log = wait_for_log(&first_log, "the database refused a write").await;
    assert!(!log.contains("panicked"), "{log}");
    if let Fault::FileSizeLimit = fault {
        assert!(log.contains("SIGXFSZ"), "the signal was caught: {log}");
    }
    let refused_in = started.elapsed();
    let still_running =
        tokio::task::block_in_place(|| server.wait_for_exit(Duration::from_secs(1)));
    assert_eq!(still_running, None, "the process stays up: {log}");

    // Room again (a larger file system, or no more limit): the same process recovers.
    match &fault {
        Fault::FullDisk(tmpfs) => tmpfs.grow("64m"),
        Fault::FileSizeLimit => lift_file_size_limit(&server),
    }
    wait_until_healthy(&server.client().base).await;
    let log = std::fs::read_to_string(&first_log).expect("log");
    assert!(!log.contains("panicked"), "{log}");
    let still_running =
        tokio::task::block_in_place(|| server.wait_for_exit(Duration::from_millis(100)));
    assert_eq!(still_running, None, "recovered in the same process: {log}");
    let mut client = server.client();
    client.token = Some(token);
    let stored = all_messages(&client, &room).await;
    let mut copies: HashMap<String, Vec<String>> = HashMap::new();
    for message in &stored {
        let id = message["id"].as_str().expect("id").to_string();
        copies.entry(label(message)).or_default().push(id);
    }
    for (label, id) in &outcomes.acked {
        assert_eq!(
            copies.get(label),
            Some(&vec![id.clone()]),
            "acknowledged {label} is stored once with its id"
        );
    }
    let in_doubt: HashSet<&String> = outcomes.in_doubt().collect();
    for (label, ids) in &copies {
        let known = outcomes.acked.contains_key(label) || in_doubt.contains(label);
        assert!(known, "{label} was never accepted but is stored");
        assert_eq!(ids.len(), 1, "{label} is stored once: {ids:?}");
    }
    common::assert_ids_increase(&stored, "history after recovery");
    let reached_disk = in_doubt.iter().filter(|l| copies.contains_key(**l)).count();

    // Retrying what is in doubt, with its nonce, leaves exactly one copy of each.
    for label in &in_doubt {
        let path = format!("/api/rooms/{room}/messages");
        let (status, answer) = client
            .post(&path, json!({"body": body(label), "nonce": label}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "retry of {label}: {answer}");
        if let Some(ids) = copies.get(*label) {
            assert_eq!(answer["id"], ids[0].as_str(), "{label}: the original");
        }
    }
    let stored = all_messages(&client, &room).await;
    let labels: Vec<String> = stored.iter().map(label).collect();
    let unique: HashSet<&String> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len(), "no message is stored twice");
    assert_eq!(
        stored.len(),
        outcomes.acked.len() + in_doubt.len(),
        "every acknowledged and every retried message, nothing else"
    );

    // And the recovered server takes new messages over both transports.
    client.post_message(&room, "after recovery").await;
    let mut ws = client.ws().await;
    ws.join(&room, None, 0).await;
    ws.send_json(json!({"type": "send", "room": room, "body": "again", "nonce": "again"}))
        .await;
    loop {
        let frame = ws.recv().await;
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["nonce"] == "again" {
            break;
        }
    }
    eprintln!(
        "{}: {} acknowledged; {} refused with storage_failed, {} unanswered, {} of these in doubt \
         stored after all; {} refused before being accepted; failure noticed after {:.1?}, \
         whole test {:.1?}",
        match fault {
            Fault::FullDisk(_) => "full disk",
            Fault::FileSizeLimit => "file-size limit",
        },
        outcomes.acked.len(),
        outcomes.failed.len(),
        outcomes.unanswered.len(),
        reached_disk,
        outcomes.refused.len(),
        refused_in,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_and_recovery_keeps_every_acknowledged_message() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        eprintln!(
            "skipped: this machine does not allow mounting a tmpfs; \
             a_file_size_limit_refuses_sends_and_recovery_keeps_every_acknowledged_message \
             covers the same path with EFBIG"
        );
        return;
    };
    fill_refuse_and_recover(Fault::FullDisk(tmpfs)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_refuses_sends_and_recovery_keeps_every_acknowledged_message() {
    fill_refuse_and_recover(Fault::FileSizeLimit).await;
}
