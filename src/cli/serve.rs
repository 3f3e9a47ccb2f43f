//! `confab serve`: run the server until SIGTERM or SIGINT, then shut down cleanly.

use std::sync::Arc;

use super::ConfigArgs;
use crate::app::RunningServer;
use crate::clock::SystemClock;
use crate::config::{Config, LogFormat};

pub fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Handlers first: a SIGTERM that arrives while starting must still stop us cleanly.
        let stop = shutdown_signal()?;
        let server = RunningServer::start(config, Arc::new(SystemClock)).await?;
        stop.await;
        server.shutdown().await
    })
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
