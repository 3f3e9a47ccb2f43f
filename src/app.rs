//! The application: its shared state, and a running server with an orderly shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::TcpAcceptor;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Services};
use crate::auth::{Accounts, AuthSettings, LoginThrottle, PasswordHasher};
use crate::chat::{sweeper, Chat, ChatSettings};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::http::header_deadline::HeaderDeadlineAcceptor;
use crate::integrations::{Integrations, IntegrationsSettings};
use crate::metrics::Metrics;
use crate::push::{Push, PushSettings};
use crate::store::Store;

/// Everything a request handler needs. Cheap to clone; no globals anywhere.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub chat: Arc<Chat>,
    pub accounts: Arc<Accounts>,
    /// Cancelled at shutdown: every WebSocket session closes with 1001.
    pub shutdown: CancellationToken,
    /// The same metrics the chat counts into, served at `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// Webhooks, and the calls confab makes to other servers.
    pub integrations: Arc<Integrations>,
    /// Web Push subscriptions and the pushes sent to them.
    pub push: Arc<Push>,
    /// None when `search.enabled` is off.
    pub search: Option<Arc<crate::search::Search>>,
}

impl AppState {
    /// Open WebSocket connections: shutdown waits for this to reach zero.
    pub fn connections_open(&self) -> i64 {
        self.metrics.connections_open()
    }
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop_http: CancellationToken,
    stop_background: CancellationToken,
    http: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    store: Store,
    /// Set once by the storage watchdog when the database refuses writes for good.
    storage_failure: watch::Receiver<Option<String>>,
}

/// How long in-flight HTTP requests and WebSocket sessions get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

impl RunningServer {
    /// Opens the database, starts the background tasks and binds the listener.
    pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let store = open_store(&config).await?;
        let stop_background = CancellationToken::new();
        let (mut services, committer) =
            build_services(&config, store.clone(), clock, stop_background.clone())?;
        let mut indexer = None;
        if config.search.enabled {
            let search = crate::search::Search::start(
                &config.data,
                services.chat.clone(),
                config.search.clone(),
            )
            .context("cannot open the search index in the data directory")?;
            indexer = Some(tokio::spawn(
                search.clone().run_until(stop_background.clone()),
            ));
            services.search = Some(search);
        }
        let Services {
            chat,
            accounts,
            search,
        } = services.clone();
        let integrations = Arc::new(Integrations::new(
            store.clone(),
            chat.clone(),
            IntegrationsSettings::from_config(&config)?,
        )?);
        let dispatcher = tokio::spawn(crate::integrations::run_dispatcher(
            integrations.clone(),
            stop_background.clone(),
        ));
        let push = Arc::new(Push::new(
            store.clone(),
            chat.clone(),
            PushSettings::from_config(&config),
        )?);
        let pusher = tokio::spawn(crate::push::run(push.clone(), stop_background.clone()));
        let sweeper = tokio::spawn(sweeper::run(
            chat.clone(),
            config.rooms.sweep_interval,
            stop_background.clone(),
        ));
        let reaper = tokio::spawn(crate::auth::reaper::run(
            accounts.clone(),
            config.rooms.sweep_interval,
            stop_background.clone(),
        ));
        // The control socket comes up before the port does: once clients can connect, admin
        // commands find the server too instead of racing it for the database.
        let control = admin::socket::spawn(&config.data, services, stop_background.clone())
            .context("cannot create the control socket in the data directory")?;
        let listener =
            bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState {
            config: Arc::new(config),
            metrics: chat.metrics().clone(),
            chat,
            accounts,
            integrations,
            push,
            search,
            shutdown: CancellationToken::new(),
        };
        let stop_http = CancellationToken::new();
        let acceptor = HeaderDeadlineAcceptor::new(
            TcpAcceptor::from_tokio(listener)?,
            state.config.limits.header_read_timeout,
        );
        let routes = crate::http::routes(state.clone());
        let signal = stop_http.clone().cancelled_owned();
        let http = tokio::spawn(async move {
            poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(routes, signal, Some(DRAIN_TIMEOUT))
                .await
        });
        tracing::info!(%addr, "confab is listening");
        let (failed, storage_failure) = watch::channel(None);
        let watchdog = tokio::spawn(watch_storage(
            store.clone(),
            failed,
            stop_background.clone(),
        ));
        let mut background = vec![
            committer, sweeper, reaper, control, watchdog, dispatcher, pusher,
        ];
        background.extend(indexer);
        if let (false, Some(dir)) = (
            state.config.backup.every.is_zero(),
            state.config.backup.dir.clone(),
        ) {
            let (every, keep) = (state.config.backup.every, state.config.backup.keep);
            let scheduled = admin::schedule::run(
                state.chat.clone(),
                every,
                dir,
                keep,
                stop_background.clone(),
            );
            background.push(tokio::spawn(scheduled));
        }
        Ok(Self {
            addr,
            state,
            stop_http,
            stop_background,
            http,
            background,
            store,
            storage_failure,
        })
    }

    /// Resolves with the cause once the database has refused a write (disk full, file-size limit,
    /// I/O error). From then on sled 0.34 refuses every write until the database is reopened (see
    /// `watch_storage`), so the caller shuts this server down and starts a new one (`confab serve`
    /// retries until the database opens again).
    pub async fn storage_failure(&self) -> String {
        let mut failure = self.storage_failure.clone();
        let cause = match failure.wait_for(Option::is_some).await {
            Ok(cause) => cause.clone(),
            Err(_) => None,
        };
        match cause {
            Some(cause) => cause,
            // The watchdog stopped (shutdown) without seeing a failure.
            None => std::future::pending().await,
        }
    }

    /// Stops in order: no new connections, WebSockets closed with 1001, every accepted message
    /// committed, the database flushed. Nothing acknowledged is lost.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        self.stop_http.cancel();
        self.state.shutdown.cancel();
        let drained = async {
            while self.state.connections_open() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
            tracing::warn!(
                open = self.state.connections_open(),
                "some WebSocket sessions did not close in time"
            );
        }
        match self.http.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "HTTP server stopped with an error"),
            Err(err) => tracing::error!(error = %err, "HTTP server task failed"),
        }
        self.stop_background.cancel();
        for task in self.background {
            let _ = task.await;
        }
        self.store
            .flush()
            .await
            .context("final flush of the database failed")?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// How often the storage watchdog asks the database whether it can still write.
const STORAGE_PROBE_EVERY: Duration = Duration::from_secs(1);

/// Watches for the database refusing writes for good, and reports the cause through `failed`.
///
/// A write or flush error poisons a sled 0.34 database: sled keeps the first I/O error as a global
/// error that every later write and flush returns, and only `open` clears it. Measured on a 4 MiB
/// tmpfs: after ENOSPC, inserts and flushes kept failing after the file system was grown to
/// 64 MiB; the same with EFBIG from a file-size limit. Reopening the directory then worked, with
/// every flushed write present. So the caller shuts this server down (which drops every clone of
/// the store) and opens the database again.
///
/// The probe is a flush. With nothing written since the last flush, sled answers from memory
/// without touching the disk; after a failure, writes that never became stable stay behind
/// and every flush returns the global error. So this detects a failed write anywhere (messages,
/// sessions, rooms) within `STORAGE_PROBE_EVERY`, at the cost of at most one extra fsync per
/// probe under load.
async fn watch_storage(
    store: Store,
    failed: watch::Sender<Option<String>>,
    stop: CancellationToken,
) {
    let mut probe = tokio::time::interval(STORAGE_PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = probe.tick() => {}
        }
        if let Err(err) = store.flush().await {
            tracing::error!(error = %err, "the database refuses writes; it must be reopened");
            failed.send_replace(Some(err.to_string()));
            return;
        }
    }
}

/// Creates the data directory (owner-only) and opens the database in it.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let data = config.data.clone();
    if !data.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&data)
            .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    } else if !data.is_dir() {
        anyhow::bail!("the data path {} is not a directory", data.display());
    }
    let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700));
    let cache_mb = config.storage.cache_mb;
    Ok(tokio::task::spawn_blocking(move || Store::open(&data, cache_mb)).await??)
}

/// The domain services over `store`, with the group committer they need (stopped by `shutdown`).
/// They count into a new `Metrics`, reachable as `chat.metrics()`.
pub fn build_services(
    config: &Config,
    store: Store,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<(Services, JoinHandle<()>)> {
    let auth = &config.auth;
    // First: nothing is started yet if the threads cannot be.
    let hasher = PasswordHasher::new(auth.hash_concurrency, auth.hash_queue, auth.hash_nice)
        .context("cannot start the password hashing threads")?;
    let chat_settings = ChatSettings {
        room_ttl: config.rooms.ttl,
        direct_ttl: config.rooms.direct_ttl(),
        max_message_chars: config.limits.max_message_chars,
        edit_window: config.messages.edit_window,
        attachments: config.attachments.clone(),
    };
    let metrics = Arc::new(Metrics::new());
    let (chat, committer) = Chat::start(
        store.clone(),
        clock.clone(),
        chat_settings,
        metrics,
        shutdown,
    );
    let accounts = Accounts::new(
        store,
        clock,
        hasher,
        LoginThrottle::new(
            auth.login_max_failures,
            auth.login_window.as_millis() as u64,
        ),
        AuthSettings {
            registration_open: auth.registration_open,
            session_idle_timeout: auth.session_idle_timeout,
            session_lifetime: auth.session_lifetime,
        },
    );
    Ok((
        Services {
            chat,
            accounts: Arc::new(accounts),
            search: None,
        },
        committer,
    ))
}

/// Binds with TCP_NODELAY on the listener, which accepted sockets inherit on Linux: chat frames
/// are small and must not wait for Nagle's algorithm.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
