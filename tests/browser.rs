//! Real-browser end-to-end test of the embedded web UI.
//!
//! Each test starts the real `confab` binary on an ephemeral port with a
//! temporary data directory, then runs one scenario of `tests/browser/e2e.mjs`
//! (Node + playwright-core driving the system's headless Chromium) against it.
//! Screenshots of every screen land in `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`), Node 20 and
//! `npm ci` in `tests/browser`. Without them the test fails when `CI` is set,
//! and otherwise prints a loud SKIPPED notice and passes, so a developer
//! without a browser can still run `cargo test`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// One browser at a time: two Chromiums on a small CI machine make timing flaky.
static BROWSER: Mutex<()> = Mutex::new(());

/// The server process; killed when the test ends, also on panic.
struct Server {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1: bind port 0, read it back, release it.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// One raw `GET /healthz`; true on a 200 answer.
fn healthz_ok(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 32];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200")
}

/// Starts the server with extra `CONFAB_*` environment overrides.
fn start_server(env: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir().expect("temp data dir");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("socket addr");
    let child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--listen", &addr.to_string(), "--data"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        // A nearly full test disk must not refuse uploads (`attachments.min_free_disk`).
        .env("CONFAB_ATTACHMENTS__MIN_FREE_DISK", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .spawn()
        .expect("start the confab binary");
    let mut server = Server {
        child,
        addr,
        _data: data,
    };
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while !healthz_ok(addr) {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("confab exited before answering /healthz: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "confab did not answer GET /healthz with 200 within {SERVER_START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// What is missing to run the browser test, if anything.
fn missing_prerequisites(browser_dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install -y chromium)"));
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        missing.push(format!(
            "{}/node_modules/playwright-core (cd tests/browser && npm ci)",
            browser_dir.display()
        ));
    }
    if Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        missing.push("node (Node.js 20 or later)".to_owned());
    }
    missing
}

/// Runs one e2e.mjs scenario against a fresh server started with `env`.
fn run_scenario(scenario: &str, env: &[(&str, &str)]) {
    run_scenario_with(scenario, env, &[]);
}

/// Runs one e2e.mjs scenario against a fresh server started with `server_env`, handing
/// `node_env` to the scenario; skips (or fails in CI) when the browser prerequisites are missing.
fn run_scenario_with(scenario: &str, server_env: &[(&str, &str)], node_env: &[(&str, &str)]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    let missing = missing_prerequisites(&browser_dir);
    if !missing.is_empty() {
        let list = missing.join(", ");
        if std::env::var_os("CI").is_some() {
            panic!("browser tests cannot run in CI: missing {list}");
        }
        // Straight to the stderr handle: libtest captures eprintln! of passing tests,
        // and a skip must be seen.
        let banner = "*".repeat(70);
        let _ = writeln!(
            std::io::stderr(),
            "\n{banner}\nSKIPPED: browser tests need chromium + npm install in tests/browser\n\
             missing: {list}\n{banner}\n"
        );
        return;
    }

    let _one_browser = BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let screenshots = root.join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("create target/screenshots");
    let server = start_server(server_env);
    let base_url = format!("http://{}", server.addr);

    let output = Command::new("node")
        .arg(browser_dir.join("e2e.mjs"))
        .arg(&base_url)
        .arg(&screenshots)
        .arg(scenario)
        .current_dir(&browser_dir)
        .envs(node_env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/browser/e2e.mjs");
    drop(server);

    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser scenario `{scenario}` failed ({}); see its output above",
        output.status
    );
}

/// Two users sign up, create and join a room, chat live both ways, reload,
/// reconnect, delete the room and log out; XSS stays text, links are safe.
#[test]
fn web_ui_chat_end_to_end_in_chromium() {
    run_scenario("chat", &[]);
}

/// A room whose TTL runs out while it is open tells the reader it expired.
#[test]
fn web_ui_shows_room_expiry_in_chromium() {
    run_scenario(
        "expiry",
        &[
            ("CONFAB_ROOMS__TTL", "6s"),
            ("CONFAB_ROOMS__SWEEP_INTERVAL", "500ms"),
        ],
    );
}

/// Three users: a direct message and a private room reach their members live
/// and stay invisible to the third, who joins by invite link and is removed.
#[test]
fn web_ui_membership_in_chromium() {
    run_scenario("membership", &[]);
}

/// Two users edit, delete, react to and reply to messages: each sees the other's change live,
/// after a reconnect (rejoining from the replay cursor) and after a reload; Markdown renders and
/// script in a body never runs.
#[test]
fn web_ui_message_changes_in_chromium() {
    run_scenario("messages", &[]);
}

/// Personal access tokens in the settings page: one is created (its secret shown once and
/// copied), used with fetch from outside the browser, revoked after a confirmation and refused
/// at once; a bot's messages and membership carry a "bot" badge.
#[test]
fn web_ui_access_tokens_in_chromium() {
    run_scenario("tokens", &[]);
}

/// A room's webhooks in the panel of its header: an incoming one posts a CI message shown under
/// its name with the bot badge; an outgoing one calls a receiver on 127.0.0.1 (allowed for this
/// server only) with a signature checked against the secret shown once, and its answer appears in
/// the room; an internal address is refused; both are deleted.
#[test]
fn web_ui_webhooks_in_chromium() {
    run_scenario(
        "webhooks",
        &[(
            "CONFAB_INTEGRATIONS__ALLOWED_NETWORKS",
            r#"["127.0.0.1/32"]"#,
        )],
    );
}

/// The server's whole XSS corpus, posted to a room and shown to a second user whose page runs
/// with its CSP switched off, so only the sanitizers stand in the way: no script runs, no request
/// leaves the page, every link left is http(s) or mailto and opens without opener or referrer.
#[test]
fn web_ui_xss_corpus_in_chromium() {
    let corpus = tempfile::NamedTempFile::new().expect("a temp file for the corpus");
    serde_json::to_writer(corpus.as_file(), confab::chat::markdown::XSS_CORPUS)
        .expect("write the corpus as JSON");
    let path = corpus.path().to_str().expect("a UTF-8 temp path");
    run_scenario_with("xss", &[], &[("E2E_XSS_CORPUS", path)]);
}

/// Read state: unread and mention badges in the sidebar and the tab title for a room that is not
/// open, updated live from `room_activity` without a reload, the "New messages" divider and a highlighted mention when it is opened, the read marker
/// reaching the server, `@` completion in the composer and the room's notification level.
#[test]
fn web_ui_unread_and_mentions_in_chromium() {
    run_scenario("unread", &[]);
}

/// Browser notifications: the service worker shows a push delivered over the DevTools protocol
/// and opens the room at the message; while the tab is hidden a mention notifies once and a muted
/// room not at all; the top bar's switch says when push is unavailable (headless Chromium reaches
/// no push service) and registers, replaces and removes a subscription where one can be made. A
/// push service stand-in on 127.0.0.1 (allowed for this server only) receives the server's real
/// push, which decrypted and handed to the worker shows the expected notification.
#[test]
fn web_ui_notifications_and_push_in_chromium() {
    run_scenario(
        "push",
        &[
            ("CONFAB_PUSH__ALLOW_INSECURE_ENDPOINTS", "true"),
            ("CONFAB_PUSH__DELAY", "1s"),
        ],
    );
}

/// File attachments: an image dropped on the chat uploads into a chip and is sent alone; the other
/// user sees its thumbnail as a sized preview and the full image in a viewer (Escape, focus). An
/// HTML file picked with the paperclip arrives as a chip that downloads it, served sandboxed, and
/// runs nothing; a pasted image, a cancelled 20 MiB upload, the ten-file limit and a file over the
/// size limit behave as a person expects.
#[test]
fn web_ui_attachments_in_chromium() {
    run_scenario("attachments", &[]);
}
