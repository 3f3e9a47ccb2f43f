//! The real binary: configuration errors, environment overrides, the data-dir lock and SIGTERM.

mod common;

use std::process::{Command, Stdio};

use common::{free_port, BinaryServer};

fn confab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_confab"))
}

#[test]
fn help_lists_the_serve_command() {
    let output = confab().arg("--help").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("serve"), "{text}");
}

#[test]
fn bad_configuration_fails_fast_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = confab()
        .args(["serve", "--config", "/nonexistent/confab.toml"])
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));

    let path = dir.path().join("confab.toml");
    std::fs::write(&path, "[rooms]\nttl = \"a week\"\n").expect("write");
    let bad = confab()
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("a week") && stderr.contains("ttl"),
        "{stderr}"
    );

    let env = confab()
        .arg("serve")
        .env("CONFAB_LISTEN", "not-an-address")
        .output()
        .expect("runs");
    assert_eq!(env.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&env.stderr)
        .to_lowercase()
        .contains("listen"));
}

#[test]
fn environment_overrides_the_config_file_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let path = dir.path().join("confab.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:1\"\n[log]\nformat = \"json\"\n",
    )
    .expect("write");
    let mut child = confab()
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONFAB_DATA", dir.path().join("data"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Serving on CONFAB_LISTEN's port, not the config file's.
    common::wait_serving_on(port, &mut child);
    assert!(dir.path().join("data").is_dir(), "CONFAB_DATA used");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success(), "SIGTERM exits 0");
    let logs = String::from_utf8_lossy(&output.stderr);
    let first = logs.lines().next().expect("a log line");
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "log.format = json: {first}"
    );
    assert!(logs.contains("stopped cleanly"));
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = BinaryServer::start(dir.path(), &[]);
    let second = confab()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another confab process"),
        "{stderr}"
    );
}

#[test]
fn config_check_prints_the_effective_settings_or_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.toml");
    std::fs::write(&path, "[rooms]\nttl = \"12h\"\n").expect("write");
    let good = confab()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("CONFAB_LISTEN", "0.0.0.0:9999")
        .output()
        .expect("runs");
    assert!(good.status.success());
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(
        text.contains("valid") && text.contains("ttl = \"12h\"") && text.contains("0.0.0.0:9999"),
        "{text}"
    );

    std::fs::write(&path, "[backup]\nevery = \"1h\"\n").expect("write");
    let bad = confab()
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("backup.dir"));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let shipped = confab()
        .args(["config", "check", "--config", example])
        .output()
        .expect("runs");
    assert!(
        shipped.status.success(),
        "config.example.toml is valid: {}",
        String::from_utf8_lossy(&shipped.stderr)
    );
}
