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

mod common;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// One browser at a time: two Chromiums on a small CI machine make timing flaky.
static BROWSER: Mutex<()> = Mutex::new(());

/// The server process; killed when the test ends, also on panic.
struct Server {
    child: Child,
    addr: SocketAddr,
    data: tempfile::TempDir,
}

impl Server {
    /// Stops the server as an admin would (SIGTERM), so what it holds in memory reaches the disk.
    fn stop_gracefully(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("confab did not stop within {SERVER_STOP_TIMEOUT:?} of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server with extra `CONFAB_*` environment overrides; it logs warnings to the test's
/// output.
fn start_server(env: &[(&str, &str)]) -> Server {
    start_server_logging(env, None)
}

/// Starts the server with extra `CONFAB_*` environment overrides. With `log`, everything it
/// writes (stdout and stderr, down to `debug`) goes to that file instead of warnings only.
fn start_server_logging(env: &[(&str, &str)], log: Option<&Path>) -> Server {
    let data = tempfile::tempdir().expect("temp data dir");
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .expect("socket addr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .args(["serve", "--listen", &addr.to_string(), "--data"])
        .arg(data.path())
        .env("RUST_LOG", if log.is_some() { "debug" } else { "warn" })
        // A nearly full test disk must not refuse uploads (`attachments.min_free_disk`).
        .env("CONFAB_ATTACHMENTS__MIN_FREE_DISK", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(path) = log {
        let file = File::create(path).expect("create the server log file");
        command
            .stdout(file.try_clone().expect("clone the log file handle"))
            .stderr(file);
    }
    let child = command.spawn().expect("start the confab binary");
    let mut server = Server { child, addr, data };
    if let Err(why) = common::wait_serving(addr, &mut server.child, SERVER_START_TIMEOUT) {
        panic!("{why}");
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

/// The browser tests' directory, when everything they need is there; otherwise None after a
/// loud SKIPPED notice (or a panic when `CI` is set).
fn browser_dir() -> Option<PathBuf> {
    let browser_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let missing = missing_prerequisites(&browser_dir);
    if missing.is_empty() {
        return Some(browser_dir);
    }
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
    None
}

/// Runs one e2e.mjs scenario against `server`, handing `node_env` to it; prints its output and
/// fails the test when it failed. Returns its standard output.
fn run_node(
    browser_dir: &Path,
    server: &Server,
    scenario: &str,
    node_env: &[(&str, &str)],
) -> String {
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("create target/screenshots");
    let base_url = format!("http://{}", server.addr);
    let output = Command::new("node")
        .arg(browser_dir.join("e2e.mjs"))
        .arg(&base_url)
        .arg(&screenshots)
        .arg(scenario)
        .current_dir(browser_dir)
        .envs(node_env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/browser/e2e.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser scenario `{scenario}` failed ({}); see its output above",
        output.status
    );
    stdout
}

/// Runs one e2e.mjs scenario against a fresh server started with `server_env`, handing
/// `node_env` to the scenario; skips (or fails in CI) when the browser prerequisites are missing.
fn run_scenario_with(scenario: &str, server_env: &[(&str, &str)], node_env: &[(&str, &str)]) {
    let Some(browser_dir) = browser_dir() else {
        return;
    };
    let _one_browser = BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let server = start_server(server_env);
    run_node(&browser_dir, &server, scenario, node_env);
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

/// Full-text search from the top bar: `/` and Ctrl+K reach the field; a word finds messages in a
/// public and a private room newest first with the match in a `<mark>`, a phrase only its word
/// order; a `from:` chip narrows and its removal widens the hits; "Load more" pages with the
/// server's cursor; an unclosed quote shows the server's message, a reindexing or cut-short
/// answer (simulated) says so, and so does a search naming an encrypted room; a hit opens its room
/// at the message, on screen and flashing; a non-member never sees the private room's message.
#[test]
fn web_ui_search_in_chromium() {
    run_scenario("search", &[]);
}

/// End-to-end encrypted rooms: two users set encryption passphrases and chat in an encrypted
/// private room, a wrong passphrase is refused and the right one unlocks the room in a second
/// browser, a removed member's browser never shows what is written after the removal, a third
/// user added later reads from the current key version on, safety codes match on both sides and
/// a key reset leaves older messages unreadable. Then the random marker the scenario typed must
/// be nowhere the server keeps or writes things: its data directory, a backup of it, and its own
/// log at `debug` level (with the access log on); the room's name and id, which the server does
/// see, are found in the same places, so the search itself is shown to work.
#[test]
fn web_ui_encrypted_rooms_in_chromium() {
    let Some(browser_dir) = browser_dir() else {
        return;
    };
    let _one_browser = BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let scratch = tempfile::tempdir().expect("a temp dir for the log and the backup");
    let log = scratch.path().join("server.log");
    let mut server = start_server_logging(&[("CONFAB_LOG__ACCESS", "true")], Some(&log));
    let stdout = run_node(&browser_dir, &server, "encrypted", &[]);

    let printed = |name: &str| -> String {
        let prefix = format!("{name}=");
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("the scenario printed no {name}= line"))
            .to_owned()
    };
    let marker = printed("E2E_MARKER");
    let room_name = printed("E2E_ROOM");
    let room_id = printed("E2E_ROOM_ID");
    assert!(
        marker.starts_with("E2E-MARKER-") && marker.len() > 30,
        "{marker}"
    );

    // A hot backup, taken through the running server as an admin would.
    let backup = scratch.path().join("encrypted-rooms.backup");
    let made = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["backup", "create"])
        .arg(&backup)
        .arg("--data")
        .arg(server.data.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run confab backup create");
    assert!(
        made.status.success(),
        "backup create failed: {}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    // Everything the server held in memory is on disk once it has stopped.
    server.stop_gracefully();

    let data_files = files_under(server.data.path());
    let in_data = |needle: &str| -> Vec<&PathBuf> {
        data_files
            .iter()
            .filter(|path| file_contains(path, needle.as_bytes()))
            .collect()
    };
    assert!(
        !in_data(&room_name).is_empty(),
        "the search works: the room's name is in the data directory ({} files)",
        data_files.len()
    );
    assert_eq!(
        in_data(&marker),
        Vec::<&PathBuf>::new(),
        "the marker typed in an encrypted room is in the data directory"
    );
    assert!(
        file_contains(&backup, room_name.as_bytes()),
        "the search works: the room's name is in the backup"
    );
    assert!(
        !file_contains(&backup, marker.as_bytes()),
        "the marker typed in an encrypted room is in the backup"
    );
    assert!(
        file_contains(&log, room_id.as_bytes()),
        "the search works: the room's id is in the server's log"
    );
    assert!(
        !file_contains(&log, marker.as_bytes()),
        "the marker typed in an encrypted room is in the server's log"
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read a data directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Whether the file's bytes contain `needle` (a file that cannot be read, such as a socket,
/// contains nothing).
fn file_contains(path: &Path, needle: &[u8]) -> bool {
    std::fs::read(path)
        .is_ok_and(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
}
