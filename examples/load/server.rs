//! The server under test: either a `confab serve` child process this tool starts (and stops), or
//! a running server named by `--url`. Also reads the server's RSS and CPU time from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(clap::Args)]
pub struct ServerOpts {
    /// Target a running server (e.g. http://127.0.0.1:8080) instead of starting one.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// PID of the `--url` server, to read its RSS and CPU time from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// The confab binary to start (default: `confab` next to this tool's directory,
    /// i.e. target/release/confab for target/release/examples/load).
    #[arg(long, global = true)]
    pub server_bin: Option<PathBuf>,
    /// Where the started server's temporary data directory is created (default: the system
    /// temp dir). `/dev/shm` takes the disk (and fsync) out of the measurement.
    #[arg(long, global = true)]
    pub data_in: Option<PathBuf>,
    /// sled page cache of the started server, MiB (`storage.cache_mb`).
    #[arg(long, global = true, default_value_t = 128)]
    pub cache_mb: u64,
}

/// A server started by this tool; killed when dropped.
struct Spawned {
    child: Child,
    bin: PathBuf,
    port: u16,
    cache_mb: u64,
    dir: tempfile::TempDir,
    /// The scenario's own settings (`CONFAB_*` variables), on top of the tool's defaults.
    env: Vec<(String, String)>,
}

pub struct Target {
    pub base: String,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    /// The bare reference server (`bare.rs`), not confab: no REST, its own join frame.
    pub bare: bool,
    spawned: Option<Spawned>,
}

impl Target {
    /// Starts the server (or checks the `--url` one). `env` are `CONFAB_*` settings the scenario
    /// needs on top of the tool's defaults; a `--url` server must have been started with them.
    pub async fn start(opts: &ServerOpts, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        if let Some(url) = &opts.url {
            let base = url.trim_end_matches('/').to_string();
            let addr = base
                .trim_start_matches("http://")
                .parse()
                .context("--url must be http://IP:PORT")?;
            let target = Self {
                base,
                addr,
                pid: opts.server_pid,
                bare: false,
                spawned: None,
            };
            target.wait_healthy().await?;
            if !env.is_empty() {
                let settings: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                eprintln!(
                    "note: this scenario starts its own server with {}; the --url server must \
                     have the same settings",
                    settings.join(" ")
                );
            }
            return Ok(target);
        }
        let bin = match &opts.server_bin {
            Some(bin) => bin.clone(),
            None => default_bin()?,
        };
        if !bin.exists() {
            bail!(
                "{} not found: build it (cargo build --release --bin confab) or pass --server-bin",
                bin.display()
            );
        }
        let port = free_port()?;
        let mut dir = tempfile::Builder::new();
        dir.prefix("confab-load-");
        let dir = match &opts.data_in {
            Some(parent) => dir.tempdir_in(parent)?,
            None => dir.tempdir()?,
        };
        let child = spawn(&bin, port, opts.cache_mb, &dir, &env)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let target = Self {
            base: format!("http://{addr}"),
            addr,
            pid: Some(child.id()),
            bare: false,
            spawned: Some(Spawned {
                child,
                bin,
                port,
                cache_mb: opts.cache_mb,
                dir,
                env,
            }),
        };
        target.wait_healthy().await?;
        Ok(target)
    }

    /// The bare reference server listening on `addr` (started and stopped by `bare.rs`).
    pub fn bare(addr: SocketAddr, pid: u32) -> Self {
        Self {
            base: format!("http://{addr}"),
            addr,
            pid: Some(pid),
            bare: true,
            spawned: None,
        }
    }

    async fn wait_healthy(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.base);
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("server at {} did not become healthy within 60 s", self.base)
    }

    /// Stops the started server gracefully (SIGTERM, as systemd would) and starts it again on the
    /// same data directory; returns the time from spawn to a healthy answer.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        self.restart_with(&[]).await
    }

    /// `restart` with some `CONFAB_*` settings changed (added or replaced) from now on.
    pub async fn restart_with(&mut self, env: &[(&str, &str)]) -> anyhow::Result<Duration> {
        let Some(spawned) = &mut self.spawned else {
            bail!("restarting needs a server started by this tool (not --url)");
        };
        for (key, value) in env {
            spawned.env.retain(|(k, _)| k != key);
            spawned.env.push((key.to_string(), value.to_string()));
        }
        let status = Command::new("kill")
            .args(["-TERM", &spawned.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        spawned.child.wait()?;
        let started = Instant::now();
        spawned.child = spawn(
            &spawned.bin,
            spawned.port,
            spawned.cache_mb,
            &spawned.dir,
            &spawned.env,
        )?;
        self.pid = Some(spawned.child.id());
        self.wait_healthy().await?;
        Ok(started.elapsed())
    }

    pub fn stop(&mut self) {
        if let Some(mut spawned) = self.spawned.take() {
            let _ = spawned.child.kill();
            let _ = spawned.child.wait();
        }
    }

    /// An admin command (`confab sweep`, `confab room delete ID`, ...) against the started
    /// server, through its control socket in the data directory; None for a `--url` server.
    pub fn admin_command(&self, args: &[&str]) -> Option<Command> {
        let spawned = self.spawned.as_ref()?;
        let mut command = Command::new(&spawned.bin);
        command
            .args(args)
            .arg("--data")
            .arg(spawned.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        Some(command)
    }

    /// The started server's data directory (`<data>/search` is its search index); None for a
    /// `--url` server.
    pub fn data_dir(&self) -> Option<&Path> {
        Some(self.spawned.as_ref()?.dir.path())
    }

    /// The value of one unlabelled series of `GET /metrics` (e.g. `confab_rooms_swept_total`),
    /// if the scrape works and has it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let body = reqwest::get(format!("{}/metrics", self.base))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        body.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    /// The server's resident set size in bytes, if its PID is known.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The server's user + system CPU time so far, if its PID is known.
    pub fn cpu(&self) -> Option<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.pid?))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// This process's own user + system CPU time so far.
pub fn own_cpu() -> Option<Duration> {
    cpu_time("/proc/self/stat")
}

/// utime + stime from a /proc stat file, assuming the usual 100 clock ticks per second.
fn cpu_time(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the pid and the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Fails early, with the fix, when this process cannot open `needed` more sockets.
pub fn check_open_files(needed: u64) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < needed + 64 => bail!(
            "{needed} sockets need a higher open-files limit than {soft}: run `ulimit -n {}` first \
             (the started server inherits it)",
            needed + 1024
        ),
        _ => Ok(()),
    }
}

fn default_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/load -> target/<profile>/confab
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .context("cannot locate the target directory")?;
    Ok(profile_dir.join(format!("confab{}", std::env::consts::EXE_SUFFIX)))
}

fn spawn(
    bin: &PathBuf,
    port: u16,
    cache_mb: u64,
    dir: &tempfile::TempDir,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        // One access-log line per request (every WebSocket upgrade too) is CPU the measurement
        // should not include; `RUST_LOG=warn` hides the lines, this also skips building them.
        // A scenario can turn it back on (login-flood does for `--server-log info`).
        .env("CONFAB_LOG__ACCESS", "false")
        .env("CONFAB_AUTH__REGISTRATION_OPEN", "true")
        // The per-connection send limit protects real servers from one client; a load generator
        // sends far faster on purpose.
        .env("CONFAB_LIMITS__SENDS_PER_SECOND", "1000000")
        .env("CONFAB_LIMITS__SEND_BURST", "1000000")
        // One user and one address (127.0.0.1) hold thousands of connections here; the
        // per-user and per-address caps protect real servers from exactly that.
        .env("CONFAB_LIMITS__MAX_CONNECTIONS_PER_USER", "1000000")
        .env("CONFAB_LIMITS__MAX_CONNECTIONS_PER_IP", "1000000")
        .env("CONFAB_STORAGE__CACHE_MB", cache_mb.to_string())
        // The scenario's settings last, so they win over the defaults above.
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
