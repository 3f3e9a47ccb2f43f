//! CI smoke run of the load tool (`examples/load`): a small fan-out against the debug `confab`
//! binary, asserting that every message reached every member exactly once and in order. It
//! checks the tool and the delivery guarantees, not speed: docs/performance.md has the numbers.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// `target/<profile>/examples/load`, which `cargo test` builds along with the examples.
fn load_tool() -> PathBuf {
    let confab = PathBuf::from(env!("CARGO_BIN_EXE_confab"));
    let dir = confab.parent().expect("target dir");
    let tool = dir
        .join("examples")
        .join(format!("load{}", std::env::consts::EXE_SUFFIX));
    assert!(
        tool.exists(),
        "{} is missing: run `cargo test` (which builds the examples), not only this test",
        tool.display()
    );
    tool
}

#[test]
fn fanout_smoke_delivers_every_message_once_in_order() {
    let output = Command::new(load_tool())
        .args([
            "--server-bin",
            env!("CARGO_BIN_EXE_confab"),
            "--cache-mb",
            "16",
        ])
        .args(["fanout", "--rooms", "2", "--members", "5", "--senders", "2"])
        .args(["--rate", "200", "--seconds", "3", "--users", "3"])
        .output()
        .expect("load tool runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "load tool failed:\n{stdout}\n{stderr}"
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON result line:\n{stdout}\n{stderr}"));
    let result: Value = serde_json::from_str(line).expect("JSON result");
    let count = |key: &str| {
        result[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} missing: {line}"))
    };
    // 200 msg/s for 3 s, give or take the schedule's edges.
    assert!(count("sent") >= 500, "too few messages sent: {line}");
    assert_eq!(count("expected"), count("sent") * 5, "{line}");
    assert_eq!(count("delivered"), count("expected"), "{line}");
    for key in [
        "lost",
        "duplicates",
        "out_of_order",
        "id_regressions",
        "errors",
        "closed",
        "malformed",
        "send_errors",
    ] {
        assert_eq!(count(key), 0, "{key} is not zero: {line}");
    }
}

/// `reference` runs `saturate` against the bare broadcast server and against confab: both sides
/// report, and the bare server relays every frame to every member once and in order.
#[test]
fn reference_smoke_measures_the_bare_server_and_confab() {
    let output = Command::new(load_tool())
        .args([
            "--server-bin",
            env!("CARGO_BIN_EXE_confab"),
            "--cache-mb",
            "16",
        ])
        .args([
            "reference",
            "--rooms",
            "2",
            "--members",
            "5",
            "--users",
            "3",
        ])
        .args([
            "--start-rate",
            "100",
            "--step-seconds",
            "1",
            "--max-steps",
            "1",
        ])
        .args(["--drain-seconds", "5", "--max-p99-ms", "60000"])
        .output()
        .expect("load tool runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "load tool failed:\n{stdout}\n{stderr}"
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON result line:\n{stdout}\n{stderr}"));
    let result: Value = serde_json::from_str(line).expect("JSON result");
    for side in ["bare", "confab"] {
        let step = &result[side]["steps"][0];
        assert_eq!(step["passed"], true, "{side}: {line}");
        assert!(step["sent"].as_u64().unwrap_or(0) >= 50, "{side}: {line}");
        for key in ["lost", "duplicates", "out_of_order"] {
            assert_eq!(step[key], 0, "{side} {key}: {line}");
        }
    }
    let ratio = result["ratio"].as_f64().expect("ratio");
    assert!(ratio > 0.0, "{line}");
}
