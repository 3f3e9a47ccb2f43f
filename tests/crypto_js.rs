//! Runs the unit tests of the browser cryptography of encrypted rooms
//! (`assets/js/crypto/`, tested by `tests/js/*.test.mjs`) under `cargo test`.
//!
//! They need only Node 20.19 or later (its built-in WebCrypto and `node:test`; from 20.19 on it
//! also loads the ES modules of `assets/js`, plain `.js` files without a `package.json`, as
//! modules), no npm packages.
//! Without `node` the test fails when `CI` is set, and otherwise prints a loud SKIPPED notice
//! and passes, so a developer without Node can still run `cargo test` (the policy of
//! `tests/browser.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the JavaScript unit tests live, relative to the crate root.
const JS_TESTS: &str = "tests/js";

/// The `*.test.mjs` files of `tests/js`, relative to the crate root, sorted.
///
/// Named one by one rather than as `node --test tests/js/`: Node 20 searches a directory
/// argument, but Node 21 and later take arguments as glob patterns and try to run the directory
/// itself as a module (nodejs/node#64555).
fn js_test_files(root: &Path) -> Vec<String> {
    let dir = root.join(JS_TESTS);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display()));
    let mut files: Vec<String> = entries
        .map(|entry| entry.expect("read a tests/js entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        .map(|name| format!("{JS_TESTS}/{name}"))
        .collect();
    files.sort();
    files
}

/// True when `node --version` runs and succeeds.
fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `node --test` over `tests/js/*.test.mjs` from the crate root passes: base64, identity key
/// wrapping, room key wrapping, message encryption, reaction tokens, fingerprints, safety codes
/// and recovery keys.
#[test]
fn browser_crypto_unit_tests_pass_in_node() {
    if !node_available() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the browser crypto tests cannot run in CI: node (Node.js 20.19 or later) is missing"
            );
        }
        // Straight to the stderr handle: libtest captures eprintln! of passing tests, and a skip
        // must be seen.
        let banner = "*".repeat(70);
        let _ = writeln!(
            std::io::stderr(),
            "\n{banner}\nSKIPPED: the browser crypto tests (tests/js) need node (Node.js 20.19 or later)\n{banner}\n"
        );
        return;
    }

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let test_files = js_test_files(&root);
    assert!(
        !test_files.is_empty(),
        "no *.test.mjs files in {}",
        root.join(JS_TESTS).display()
    );
    let output = Command::new("node")
        .arg("--test")
        .args(&test_files)
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("run node --test on tests/js");

    // libtest shows this only when the test fails.
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "node --test {} failed ({}); see its output above",
        test_files.join(" "),
        output.status
    );
}
