//! Configuration: one struct, read from an optional TOML file, then overridden by `CONFAB_*`
//! environment variables, then by command-line flags. Unknown keys are rejected so a typo in a
//! config file is an error, not a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Data, Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The largest `attachments.max_bytes` accepted: beyond it a typo, not a setting.
const MAX_ATTACHMENT_BYTES: u64 = 1 << 40;

/// Every setting of a confab server, with the defaults that make `confab serve` work with no file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory holding the sled database (created if missing).
    pub data: PathBuf,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub rooms: RoomsConfig,
    pub messages: MessagesConfig,
    pub limits: LimitsConfig,
    pub storage: StorageConfig,
    pub backup: BackupConfig,
    pub integrations: IntegrationsConfig,
    pub push: PushConfig,
    pub attachments: AttachmentsConfig,
    pub search: SearchConfig,
    /// The address people and tools reach this server at (`https://chat.example.org`), for
    /// links the server hands out (incoming webhook URLs). Unset: taken from each request's
    /// `Host` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// Webhooks and every other call confab makes to other servers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationsConfig {
    /// Networks that outgoing calls may reach although they are internal (loopback, private,
    /// link-local, ...), as CIDR (`10.1.2.0/24`) or single addresses. Empty: none.
    pub allowed_networks: Vec<String>,
    /// How long one outgoing webhook call may take, connect to end of answer.
    #[serde(with = "humantime_serde_compat")]
    pub webhook_timeout: Duration,
    /// The wait before the first retry of a failed outgoing webhook call; each retry doubles
    /// it, up to an hour.
    #[serde(with = "humantime_serde_compat")]
    pub webhook_retry_initial: Duration,
    /// How long after the event a failing call is still retried before it is given up.
    #[serde(with = "humantime_serde_compat")]
    pub webhook_retry_for: Duration,
    /// Messages one incoming webhook may post per minute (sustained), and the burst above it.
    pub incoming_per_minute: u32,
    pub incoming_burst: u32,
}

impl Default for IntegrationsConfig {
    fn default() -> Self {
        Self {
            allowed_networks: Vec::new(),
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_initial: Duration::from_secs(10),
            webhook_retry_for: Duration::from_secs(24 * 3600),
            incoming_per_minute: 60,
            incoming_burst: 20,
        }
    }
}

impl IntegrationsConfig {
    /// `allowed_networks` parsed; a single address stands for itself (/32 or /128).
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.allowed_networks
            .iter()
            .map(|text| parse_network(text))
            .collect()
    }
}

fn parse_network(text: &str) -> Result<ipnet::IpNet, ConfigError> {
    let text = text.trim();
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(net);
    }
    text.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| {
            ConfigError::Invalid(format!(
                "integrations.allowed_networks: {text:?} is not a network like 10.0.0.0/8 or an address"
            ))
        })
}

/// Full-text search (`GET /api/search`): an index in `<data>/search`, kept up to date in the
/// background and rebuilt from the database when needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Off: no index is kept and `/api/search` answers 503 `search_disabled`.
    pub enabled: bool,
    /// How often the indexer makes new messages searchable (each time one commit of the index).
    #[serde(with = "humantime_serde_compat")]
    pub commit_interval: Duration,
    /// Memory the indexer may fill before it writes a segment, in MiB (at least 15).
    pub writer_memory_mb: u64,
    /// The most time one search may take; what is found by then is answered, marked
    /// `"truncated": true`.
    #[serde(with = "humantime_serde_compat")]
    pub time_budget: Duration,
    /// Searches per user per minute, and how many may come at once.
    pub per_minute: u32,
    pub burst: u32,
    /// Searches run at once, each on a thread of its own; more wait for one.
    pub threads: usize,
    /// The nice value of the threads searches run on (0-19): above 0, chat's delivery gets the
    /// CPU first and searches take what it leaves.
    pub nice: i32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            commit_interval: Duration::from_millis(500),
            writer_memory_mb: 48,
            time_budget: Duration::from_secs(1),
            per_minute: 120,
            burst: 20,
            threads: 2,
            nice: 10,
        }
    }
}

/// Web Push: notifications sent through the browser vendors' push services while no tab is open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Off: no key is made, `/api/push/*` answers 503 `push_disabled`, nothing is pushed.
    pub enabled: bool,
    /// The contact push services are given (VAPID `sub`): a `mailto:` or `https:` URL. Unset:
    /// `public_url` when it is https, otherwise `mailto:postmaster@localhost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// How long a message waits for its reader before it is pushed: a `read` past it on any
    /// device within this time means it was seen, and nothing is pushed.
    #[serde(with = "humantime_serde_compat")]
    pub delay: Duration,
    /// How long one call to a push service may take.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// The wait before the first retry of a push answered 429 or 5xx (doubling each time,
    /// five retries) when the push service does not say (`Retry-After`).
    #[serde(with = "humantime_serde_compat")]
    pub retry_initial: Duration,
    /// Pushes waiting to be sent, and (member, message) pairs waiting out `delay`; beyond that
    /// they are dropped (and counted in `confab_push_sent_total{result="dropped"}`) so chat never
    /// waits. An `@room` in a room of 1,000 subscribed members takes 1,000 places; each is small.
    pub queue: usize,
    /// FOR TESTS ONLY: accept `http://` endpoints and endpoints on loopback, private and other
    /// internal addresses, so a test push service on 127.0.0.1 can be used. Never in production:
    /// it lets any user make the server call into its own network.
    pub allow_insecure_endpoints: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: None,
            delay: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(5),
            queue: 10_000,
            allow_insecure_endpoints: false,
        }
    }
}

/// Files attached to messages: stored under the data directory, deleted with their room or
/// message, and in backups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// The largest file, in bytes; a larger upload is refused (413 `too_large`) as soon as it
    /// passes this.
    pub max_bytes: u64,
    /// What one user's attachments may take in all, in bytes (413 `quota_exceeded`).
    pub user_quota: u64,
    /// Uploads are refused (507 `insufficient_storage`) when the data directory's disk has less
    /// free space than this, in bytes, so attachments never fill the disk chat needs.
    pub min_free_disk: u64,
    /// An upload never attached to a message is deleted after this long.
    #[serde(with = "humantime_serde_compat")]
    pub orphan_ttl: Duration,
    /// An upload whose client sends nothing for this long is given up and its partial file
    /// removed.
    #[serde(with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// Images with more pixels are stored as files, with their size but without a preview:
    /// decoding them could take gigabytes (a decompression bomb).
    pub max_image_pixels: u64,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            max_bytes: 25 * 1024 * 1024,
            user_quota: 1024 * 1024 * 1024,
            min_free_disk: 512 * 1024 * 1024,
            orphan_ttl: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(30),
            max_image_pixels: 50_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Take a backup this often while serving; "0s" (the default) turns scheduled backups off.
    #[serde(with = "humantime_serde_compat")]
    pub every: Duration,
    /// Directory for scheduled backups (required when `every` is set).
    pub dir: Option<PathBuf>,
    /// Scheduled backups kept; older ones are deleted.
    pub keep: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            every: Duration::ZERO,
            dir: None,
            keep: 7,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human readable) or `json` (one object per line).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `confab=debug,poem=info`; `RUST_LOG` wins when set.
    pub level: String,
    /// One info line per HTTP request (WebSocket upgrades included). Under a flood of requests
    /// the lines cost real CPU, so they can be turned off; `/metrics` counts requests either way.
    pub access: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether anyone may sign up through `POST /api/auth/register`.
    pub registration_open: bool,
    /// Mark the session cookie `Secure`: set this when TLS terminates in front of confab.
    pub secure_cookies: bool,
    /// A session unused for this long is logged out.
    #[serde(with = "humantime_serde_compat")]
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active.
    #[serde(with = "humantime_serde_compat")]
    pub session_lifetime: Duration,
    /// Failed logins allowed per client address, and per username, within `login_window`.
    pub login_max_failures: u32,
    #[serde(with = "humantime_serde_compat")]
    pub login_window: Duration,
    /// Password hashes computed at once; each argon2id hash holds 19 MiB and a core for ~20 ms.
    /// Default: half the cores, at least 1.
    pub hash_concurrency: usize,
    /// Password hashes allowed to wait for a slot before new ones are refused with 503.
    pub hash_queue: usize,
    /// The nice value of the hashing threads (0-19): above 0, chat's delivery gets the CPU
    /// first when a login flood and chat want more than there is.
    pub hash_nice: i32,
    /// Origins (e.g. `https://chat.example.org`) allowed besides the server's own, for browsers.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// How long a room lives after it is created.
    #[serde(with = "humantime_serde_compat")]
    pub ttl: Duration,
    /// How often the sweeper deletes expired rooms and their messages.
    #[serde(with = "humantime_serde_compat")]
    pub sweep_interval: Duration,
    /// How long a direct room lives after it is created; `None` means `ttl`.
    #[serde(
        with = "humantime_serde_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_ttl: Option<Duration>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    /// How long after sending its author may edit a message; unset means always.
    #[serde(
        with = "humantime_serde_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub edit_window: Option<Duration>,
}

impl RoomsConfig {
    /// The lifetime of direct rooms: `direct_ttl`, or `ttl` when unset.
    pub fn direct_ttl(&self) -> Duration {
        self.direct_ttl.unwrap_or(self.ttl)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest HTTP request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket text frame handled; larger ones get a `too_large` error.
    pub max_frame_bytes: usize,
    /// Longest message body, in characters.
    pub max_message_chars: usize,
    /// Sustained WebSocket sends per second per connection, and the burst allowed above it.
    pub sends_per_second: u32,
    pub send_burst: u32,
    /// Rooms one WebSocket connection may be joined to at once.
    pub rooms_per_connection: usize,
    /// Frames queued for one connection before it is closed as too slow (4008 "lagged").
    pub outbound_queue: usize,
    /// A WebSocket connection silent this long is closed (clients ping every ~30 s).
    #[serde(with = "humantime_serde_compat")]
    pub ws_idle_timeout: Duration,
    /// A new connection must send its first request's headers within this (slowloris).
    #[serde(with = "humantime_serde_compat")]
    pub header_read_timeout: Duration,
    /// WebSocket connections one user may hold at once (tabs, devices); one more is refused
    /// with 429 `too_many_connections`.
    pub max_connections_per_user: usize,
    /// WebSocket connections one client address may hold at once. Behind a reverse proxy every
    /// client has the proxy's address, so raise this to the whole team's connections there.
    pub max_connections_per_ip: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// sled page cache size in MiB (sled's own default of 1 GiB is far too much for a small VM).
    pub cache_mb: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("./confab-data"),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            rooms: RoomsConfig::default(),
            messages: MessagesConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
            backup: BackupConfig::default(),
            integrations: IntegrationsConfig::default(),
            push: PushConfig::default(),
            attachments: AttachmentsConfig::default(),
            search: SearchConfig::default(),
            public_url: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
            access: true,
        }
    }
}

/// Half the cores, at least one: a login flood (each argon2id hash holds a core for ~20-50 ms)
/// then leaves the other half to the chat.
fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            registration_open: true,
            secure_cookies: false,
            session_idle_timeout: Duration::from_secs(30 * 24 * 3600),
            session_lifetime: Duration::from_secs(90 * 24 * 3600),
            login_max_failures: 10,
            login_window: Duration::from_secs(15 * 60),
            hash_concurrency: default_hash_concurrency(),
            hash_queue: 64,
            hash_nice: 10,
            allowed_origins: Vec::new(),
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(60),
            direct_ttl: None,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            // A 4000-character message of characters JSON escapes as \uXXXX is ~24 KiB.
            max_frame_bytes: 32 * 1024,
            max_message_chars: 4000,
            sends_per_second: 20,
            send_burst: 40,
            rooms_per_connection: 100,
            outbound_queue: 1024,
            ws_idle_timeout: Duration::from_secs(90),
            header_read_timeout: Duration::from_secs(10),
            max_connections_per_user: 20,
            max_connections_per_ip: 200,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { cache_mb: 128 }
    }
}

/// Values given on the command line; they win over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The longest duration any setting accepts: 100 (Julian) years, `"100y"`. The server adds
/// durations to the clock (`Instant::now() + ws_idle_timeout`, `now_ms + ttl`); a value near
/// `u64::MAX` seconds, which humantime parses happily, would overflow there and panic.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

impl Config {
    /// Loads defaults, then `file` (if given), then `CONFAB_*` variables, then `overrides`.
    ///
    /// Nested keys use a double underscore in the environment: `CONFAB_ROOMS__TTL=12h`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let toml = match file {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_path_buf())),
            Some(path) => Some(Toml::file_exact(path)),
            None => None,
        };
        Self::load_from(toml, overrides)
    }

    /// Like [`Config::load`] with `text` as the file's contents: the same layers, parsing and
    /// validation. Exists so the parser can be tested (and fuzzed) without files.
    pub fn load_from_toml_str(text: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(Some(Toml::string(text)), overrides)
    }

    /// The one loading path: defaults, then the TOML source, then the environment, then flags.
    fn load_from(toml: Option<Data<Toml>>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(toml) = toml {
            figment = figment.merge(toml);
        }
        // CONFAB_CONFIG names the file (read by the CLI), it is not a setting.
        figment = figment.merge(
            Env::prefixed("CONFAB_")
                .ignore(&["config"])
                .split("__")
                .lowercase(true),
        );
        let mut config: Config = figment
            .extract()
            .map_err(|err| ConfigError::Parse(Box::new(err)))?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(data) = &overrides.data {
            config.data = data.clone();
        }
        config.validate()?;
        Ok(config)
    }

    /// Rejects values that parse but cannot work, with a message naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        for (name, value) in [
            ("rooms.ttl", self.rooms.ttl),
            ("rooms.sweep_interval", self.rooms.sweep_interval),
            ("rooms.direct_ttl", self.rooms.direct_ttl()),
            ("auth.session_idle_timeout", self.auth.session_idle_timeout),
            ("auth.session_lifetime", self.auth.session_lifetime),
            ("auth.login_window", self.auth.login_window),
            ("limits.ws_idle_timeout", self.limits.ws_idle_timeout),
            (
                "limits.header_read_timeout",
                self.limits.header_read_timeout,
            ),
            ("backup.every", self.backup.every),
            (
                "integrations.webhook_timeout",
                self.integrations.webhook_timeout,
            ),
            (
                "integrations.webhook_retry_initial",
                self.integrations.webhook_retry_initial,
            ),
            (
                "integrations.webhook_retry_for",
                self.integrations.webhook_retry_for,
            ),
            ("push.delay", self.push.delay),
            ("push.timeout", self.push.timeout),
            ("push.retry_initial", self.push.retry_initial),
            ("attachments.orphan_ttl", self.attachments.orphan_ttl),
            ("attachments.idle_timeout", self.attachments.idle_timeout),
            ("search.commit_interval", self.search.commit_interval),
            ("search.time_budget", self.search.time_budget),
        ] {
            if value > MAX_DURATION {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at most 100 years"
                )));
            }
        }
        if self.attachments.max_bytes == 0 || self.attachments.max_bytes > MAX_ATTACHMENT_BYTES {
            return invalid("attachments.max_bytes must be between 1 and 1 TiB");
        }
        if self.attachments.orphan_ttl.is_zero() || self.attachments.idle_timeout.is_zero() {
            return invalid("attachments.orphan_ttl and attachments.idle_timeout must be positive");
        }
        if self.attachments.max_image_pixels == 0 {
            return invalid("attachments.max_image_pixels must be positive");
        }
        if self.search.commit_interval < Duration::from_millis(10)
            || self.search.commit_interval > Duration::from_secs(60)
        {
            return invalid("search.commit_interval must be between 10ms and 60s");
        }
        if self.search.time_budget < Duration::from_millis(10) {
            return invalid("search.time_budget must be at least 10ms");
        }
        if !(15..=4096).contains(&self.search.writer_memory_mb) {
            return invalid("search.writer_memory_mb must be between 15 and 4096");
        }
        if self.search.per_minute == 0 || self.search.burst == 0 {
            return invalid("search.per_minute and search.burst must be positive");
        }
        if !(1..=64).contains(&self.search.threads) {
            return invalid("search.threads must be between 1 and 64");
        }
        if !(0..=19).contains(&self.search.nice) {
            return invalid("search.nice must be between 0 and 19");
        }
        if self.push.timeout.is_zero() || self.push.retry_initial.is_zero() {
            return invalid("push.timeout and push.retry_initial must be positive");
        }
        if self.push.queue == 0 || self.push.queue > 1_000_000 {
            return invalid("push.queue must be between 1 and 1000000");
        }
        if let Some(subject) = &self.push.subject {
            if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
                return invalid("push.subject must be a mailto: or https:// URL");
            }
        }
        if self.rooms.ttl < Duration::from_secs(1) {
            return invalid("rooms.ttl must be at least 1s");
        }
        if self.rooms.direct_ttl() < Duration::from_secs(1) {
            return invalid("rooms.direct_ttl must be at least 1s");
        }
        if self.messages.edit_window == Some(Duration::ZERO) {
            return invalid(
                "messages.edit_window must be longer than 0s (leave it out for no limit)",
            );
        }
        if self.rooms.sweep_interval < Duration::from_millis(100) {
            return invalid("rooms.sweep_interval must be at least 100ms");
        }
        if !(1..=64).contains(&self.auth.hash_concurrency) {
            return invalid("auth.hash_concurrency must be between 1 and 64");
        }
        if !(0..=19).contains(&self.auth.hash_nice) {
            return invalid("auth.hash_nice must be between 0 and 19");
        }
        if self.auth.login_max_failures == 0 {
            return invalid("auth.login_max_failures must be at least 1");
        }
        if self.auth.session_idle_timeout.is_zero() || self.auth.session_lifetime.is_zero() {
            return invalid("auth.session_idle_timeout and auth.session_lifetime must be positive");
        }
        if self.limits.max_message_chars == 0 || self.limits.max_message_chars > 100_000 {
            return invalid("limits.max_message_chars must be between 1 and 100000");
        }
        if self.limits.max_frame_bytes < 1024 {
            return invalid("limits.max_frame_bytes must be at least 1024");
        }
        if self.limits.max_body_bytes < 1024 {
            return invalid("limits.max_body_bytes must be at least 1024");
        }
        if self.limits.sends_per_second == 0 || self.limits.send_burst == 0 {
            return invalid("limits.sends_per_second and limits.send_burst must be at least 1");
        }
        if self.limits.rooms_per_connection == 0 || self.limits.outbound_queue < 16 {
            return invalid(
                "limits.rooms_per_connection must be >= 1 and limits.outbound_queue >= 16",
            );
        }
        if self.limits.ws_idle_timeout < Duration::from_secs(1) {
            return invalid("limits.ws_idle_timeout must be at least 1s");
        }
        if self.limits.header_read_timeout < Duration::from_millis(100) {
            return invalid("limits.header_read_timeout must be at least 100ms");
        }
        if self.limits.max_connections_per_user == 0 || self.limits.max_connections_per_ip == 0 {
            return invalid(
                "limits.max_connections_per_user and limits.max_connections_per_ip must be at least 1",
            );
        }
        // Field filters (`target[span{field=value}]=debug`) compile their values to regular
        // expressions whose automaton can grow exponentially: a 130-character filter took 15 s
        // and 800 MB. RUST_LOG, a debugging override, still takes them.
        if self.log.level.contains(['{', '}']) {
            return invalid(
                "log.level cannot hold span field filters ({field=value}); use RUST_LOG for those",
            );
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::Invalid(format!(
                "log.level {:?} is not a valid filter: {err}",
                self.log.level
            )));
        }
        if !self.backup.every.is_zero() {
            if self.backup.every < Duration::from_secs(1) {
                return invalid(
                    "backup.every must be at least 1s (or 0s to turn scheduled backups off)",
                );
            }
            if self.backup.dir.is_none() {
                return invalid("backup.dir must be set when backup.every is set");
            }
            if self.backup.keep == 0 {
                return invalid("backup.keep must be at least 1");
            }
        }
        if self.storage.cache_mb == 0 {
            return invalid("storage.cache_mb must be at least 1");
        }
        self.integrations.allowed_networks()?;
        let hooks = &self.integrations;
        if hooks.webhook_timeout < Duration::from_millis(100) {
            return invalid("integrations.webhook_timeout must be at least 100ms");
        }
        if hooks.webhook_retry_initial < Duration::from_millis(10) {
            return invalid("integrations.webhook_retry_initial must be at least 10ms");
        }
        if hooks.incoming_per_minute == 0 || hooks.incoming_burst == 0 {
            return invalid(
                "integrations.incoming_per_minute and integrations.incoming_burst must be at least 1",
            );
        }
        if let Some(url) = &self.public_url {
            let origin_only = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(['?', '#', ' ']));
            if !origin_only {
                return Err(ConfigError::Invalid(format!(
                    "public_url: {url:?} must be an http:// or https:// address such as https://chat.example.org"
                )));
            }
        }
        for origin in &self.auth.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "auth.allowed_origins: {origin:?} must start with http:// or https://"
                )));
            }
        }
        Ok(())
    }
}

/// Durations are written the human way in config files and the environment: `7d`, `12h`, `90s`.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim()).map_err(|err| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like 90s, 12h or 7d ({err})"
            ))
        })
    }
}

/// `humantime_serde_compat` for a setting that may be absent.
mod humantime_serde_option {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::humantime_serde_compat::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::humantime_serde_compat::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_ttl_defaults_to_ttl_and_can_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("confab.toml");
        std::fs::write(&path, "[rooms]\nttl = \"12h\"\n").expect("write");
        let config = Config::load(Some(&path), &Overrides::default()).expect("load");
        assert_eq!(config.rooms.direct_ttl(), Duration::from_secs(12 * 3600));
        std::fs::write(&path, "[rooms]\ndirect_ttl = \"30d\"\n").expect("write");
        let config = Config::load(Some(&path), &Overrides::default()).expect("load");
        assert_eq!(config.rooms.direct_ttl(), Duration::from_secs(30 * 86_400));
        std::fs::write(&path, "[rooms]\ndirect_ttl = \"0s\"\n").expect("write");
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());
    }

    #[test]
    fn defaults_are_valid_and_match_the_readme() {
        let config = Config::default();
        config.validate().expect("defaults validate");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data, PathBuf::from("./confab-data"));
        assert_eq!(config.rooms.ttl, Duration::from_secs(604_800));
    }

    #[test]
    fn file_values_and_durations_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("confab.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\n[rooms]\nttl = \"12h\"\n")
            .expect("write");
        let config = Config::load(Some(&path), &Overrides::default()).expect("load");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.rooms.ttl, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("confab.toml");
        std::fs::write(&path, "lisen = \"0.0.0.0:9000\"\n").expect("write");
        let err = Config::load(Some(&path), &Overrides::default()).expect_err("typo rejected");
        assert!(err.to_string().contains("lisen"), "{err}");
        std::fs::write(&path, "[rooms]\nttl = \"forever\"\n").expect("write");
        let err = Config::load(Some(&path), &Overrides::default()).expect_err("bad duration");
        assert!(err.to_string().contains("forever"), "{err}");
    }

    #[test]
    fn connection_limits_are_read_and_must_be_positive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("confab.toml");
        let defaults = Config::default().limits;
        assert_eq!(defaults.max_connections_per_user, 20);
        assert_eq!(defaults.max_connections_per_ip, 200);
        std::fs::write(
            &path,
            "[limits]\nmax_connections_per_user = 3\nmax_connections_per_ip = 7\n",
        )
        .expect("write");
        let config = Config::load(Some(&path), &Overrides::default()).expect("load");
        assert_eq!(config.limits.max_connections_per_user, 3);
        assert_eq!(config.limits.max_connections_per_ip, 7);
        std::fs::write(&path, "[limits]\nmax_connections_per_ip = 0\n").expect("write");
        let err = Config::load(Some(&path), &Overrides::default()).expect_err("zero refused");
        assert!(err.to_string().contains("max_connections_per_ip"), "{err}");
    }

    #[test]
    fn search_and_hashing_threads_and_priority_are_read_and_bounded() {
        let load = |toml: &str| Config::load_from_toml_str(toml, &Overrides::default());
        let config = load("[search]\nthreads = 3\nnice = 0\n").expect("load");
        assert_eq!((config.search.threads, config.search.nice), (3, 0));
        assert_eq!(config.auth.hash_nice, 10, "the default");
        let config = load("[auth]\nhash_concurrency = 2\nhash_nice = 0\n").expect("load");
        assert_eq!(
            (config.auth.hash_concurrency, config.auth.hash_nice),
            (2, 0)
        );
        for (toml, named) in [
            ("[search]\nthreads = 0\n", "search.threads"),
            ("[search]\nthreads = 65\n", "search.threads"),
            ("[search]\nnice = -1\n", "search.nice"),
            ("[search]\nnice = 20\n", "search.nice"),
            ("[auth]\nhash_concurrency = 65\n", "auth.hash_concurrency"),
            ("[auth]\nhash_nice = -1\n", "auth.hash_nice"),
            ("[auth]\nhash_nice = 20\n", "auth.hash_nice"),
        ] {
            let err = load(toml).expect_err(toml);
            assert!(err.to_string().contains(named), "{toml}: {err}");
        }
    }

    /// Huge durations passed validation: `Instant::now() + ws_idle_timeout` then panicked in
    /// every WebSocket session, and a room's `now_ms + ttl` wrapped. The config fuzz target
    /// checks this too (it found `ttl = "14444444444442h"`, kept in fuzz/seeds/config).
    #[test]
    fn durations_beyond_a_century_are_refused() {
        let load = |toml: &str| Config::load_from_toml_str(toml, &Overrides::default());
        let config = load("[rooms]\nttl = \"100y\"\n[limits]\nws_idle_timeout = \"36525d\"\n")
            .expect("100 years is accepted");
        assert_eq!(config.rooms.ttl, MAX_DURATION);
        assert!(std::time::Instant::now()
            .checked_add(MAX_DURATION)
            .is_some());
        for (section, key) in [
            ("rooms", "ttl"),
            ("rooms", "sweep_interval"),
            ("auth", "session_idle_timeout"),
            ("auth", "session_lifetime"),
            ("auth", "login_window"),
            ("limits", "ws_idle_timeout"),
            ("backup", "every"),
        ] {
            let toml = format!("[{section}]\n{key} = \"18446744073709551615s\"\n");
            let err = load(&toml).expect_err("refused");
            assert!(
                err.to_string()
                    .contains(&format!("{section}.{key} must be at most")),
                "{err}"
            );
        }
    }

    /// A field filter's value is compiled to a regex DFA: `(a|b)*a(a|b){20}` took 15 s and
    /// 800 MB to validate, and the server would compile it again when starting.
    #[test]
    fn log_field_filters_are_refused_before_compiling_them() {
        let level = format!("confab[{{f=(a|b)*a{}}}]=debug", "(a|b)".repeat(20));
        let toml = format!("[log]\nlevel = {level:?}\n");
        let started = std::time::Instant::now();
        let err = Config::load_from_toml_str(&toml, &Overrides::default()).expect_err("refused");
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let plain = "[log]\nlevel = \"confab=debug,poem=info\"\n";
        Config::load_from_toml_str(plain, &Overrides::default()).expect("targets are accepted");
    }

    #[test]
    fn access_log_is_on_by_default_and_can_be_turned_off() {
        assert!(Config::default().log.access);
        let load = |toml: &str| Config::load_from_toml_str(toml, &Overrides::default());
        let config = load("[log]\nlevel = \"warn\"\n").expect("load");
        assert!(
            config.log.access,
            "a [log] section without the key keeps the default"
        );
        let config = load("[log]\naccess = false\n").expect("load");
        assert!(!config.log.access);
        let err = load("[log]\naccess = \"sometimes\"\n").expect_err("not a boolean");
        assert!(err.to_string().contains("access"), "{err}");
    }

    #[test]
    fn allowed_networks_take_cidrs_and_addresses_and_refuse_the_rest() {
        let load = |toml: &str| Config::load_from_toml_str(toml, &Overrides::default());
        assert!(Config::default()
            .integrations
            .allowed_networks()
            .expect("empty")
            .is_empty());
        let config = load(
            "[integrations]\nallowed_networks = [\"127.0.0.1/32\", \"10.1.0.0/16\", \"::1\"]\n",
        )
        .expect("load");
        let nets = config.integrations.allowed_networks().expect("parsed");
        assert_eq!(nets.len(), 3);
        assert_eq!(nets[2].to_string(), "::1/128");
        let err = load("[integrations]\nallowed_networks = [\"10.0.0.0/33\"]\n").expect_err("bad");
        assert!(err.to_string().contains("allowed_networks"), "{err}");
        let err = load("public_url = \"ftp://x\"\n").expect_err("not http");
        assert!(err.to_string().contains("public_url"), "{err}");
        load("public_url = \"https://chat.example.org\"\n").expect("an origin");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/confab.toml")),
            &Overrides::default(),
        )
        .expect_err("missing");
        assert!(err.to_string().contains("does not exist"));
    }
}
