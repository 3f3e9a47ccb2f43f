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
        let server = RunningServer::start(config, Arc::new(SystemClock)).await?;
        wait_for_signal().await;
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

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
