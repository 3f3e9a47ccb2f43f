//! The real `confab` binary run as an admin would: against a data directory, with its output
//! captured.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `confab ARGS --data DATA`, writing `stdin` (if any) to it, and waits for it to exit.
pub fn confab(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("confab runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("exits")
}

/// The standard output of a command that must have succeeded.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command that must have failed with exit code 1, saying `text`, without a panic.
pub fn fails_with(output: &Output, text: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected failure, got {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(text), "expected {text:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
