//! `confab serve`: run the server until SIGTERM or SIGINT, then shut down cleanly. If the database
//! refuses writes (disk full, file-size limit, I/O error), the server is shut down in order and
//! the database reopened, every few seconds, until it opens again: sled 0.34 accepts no write
//! after a failed one until it is reopened, so this is how confab recovers once there is room,
//! without a service manager.

use std::sync::Arc;
use std::time::Duration;

use super::ConfigArgs;
use crate::app::RunningServer;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, LogFormat};

/// How long to wait between attempts to reopen the database after a storage failure.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

pub fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Handlers first: a SIGTERM that arrives while starting must still stop us cleanly, and
        // a file-size limit hit while opening the database must fail a write, not kill us.
        let stop = shutdown_signal()?;
        let file_size_limit = file_size_signal()?;
        tokio::pin!(stop, file_size_limit);
        let clock: SharedClock = Arc::new(SystemClock);
        // A first start that fails (port taken, database locked) is the admin's to fix: exit.
        let mut server = RunningServer::start(config.clone(), clock.clone()).await?;
        loop {
            let failure = tokio::select! {
                () = &mut stop => None,
                cause = server.storage_failure() => Some(cause),
                never = &mut file_size_limit => match never {},
            };
            let stopped = server.shutdown().await;
            let Some(cause) = failure else {
                return stopped;
            };
            if let Err(err) = stopped {
                tracing::warn!(error = %format!("{err:#}"), "shutdown after the storage failure was incomplete");
            }
            tracing::error!(
                %cause,
                "the database refused a write; every acknowledged message is on disk, but sled \
                 accepts no more writes until the database is reopened: the server is down and \
                 the database is reopened every {REOPEN_EVERY:?} until it opens (free some space)"
            );
            let reopened = tokio::select! {
                () = &mut stop => return Ok(()),
                reopened = reopen(&config, &clock) => reopened,
            };
            server = reopened;
            tracing::info!("the database is open again; confab is serving");
        }
    })
}

/// Starts the server again, every `REOPEN_EVERY`, until it starts.
async fn reopen(config: &Config, clock: &SharedClock) -> RunningServer {
    loop {
        tokio::time::sleep(REOPEN_EVERY).await;
        match RunningServer::start(config.clone(), clock.clone()).await {
            Ok(server) => return server,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot reopen yet; trying again")
            }
        }
    }
}

/// Human-readable logs by default, JSON lines with `log.format = "json"`; `RUST_LOG` wins.
fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// SIGXFSZ on Linux (25 on every architecture confab targets except MIPS, where it is 31).
const SIGXFSZ: i32 = if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
    31
} else {
    25
};

/// Catches SIGXFSZ, and logs it, for as long as the returned future is polled.
///
/// A write past the process's file-size limit (`RLIMIT_FSIZE`, `ulimit -f`, systemd's
/// `LimitFSIZE=`) fails with EFBIG *and* raises SIGXFSZ, whose default action kills the
/// process: a database server must treat it as the I/O error it also is. Installing a handler
/// replaces the default action for the life of the process (tokio never uninstalls one), so
/// the failed write reaches sled as an error and takes the storage-failure path instead.
fn file_size_signal() -> anyhow::Result<impl std::future::Future<Output = std::convert::Infallible>>
{
    use tokio::signal::unix::{signal, SignalKind};
    let mut xfsz = signal(SignalKind::from_raw(SIGXFSZ))?;
    Ok(async move {
        loop {
            if xfsz.recv().await.is_some() {
                tracing::warn!("SIGXFSZ: a write went past the file-size limit and failed");
            } else {
                // The signal driver is gone (runtime shutting down): nothing more to report.
                std::future::pending::<()>().await;
            }
        }
    })
}

/// Resolves on SIGTERM or SIGINT; the handlers are installed when this is called.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
