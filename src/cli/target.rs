//! Where an admin command runs: inside the running server (through its control socket), or
//! directly on the data directory when no server holds it.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, client, Reply, Request, Services};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::store::{OpenError, Store};

pub enum Target {
    Server(UnixStream),
    /// Boxed: the store's handles make it several hundred bytes, the socket a few.
    Direct(Box<Direct>),
}

/// The domain services opened directly on a data directory, for as long as one command runs.
pub struct Direct {
    pub services: Services,
    pub store: Store,
    stop: CancellationToken,
    committer: JoinHandle<()>,
}

impl Target {
    /// Prefers a running server; otherwise opens the database itself.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        if let Some(stream) = client::connect(&config.data).await? {
            return Ok(Target::Server(stream));
        }
        Ok(Target::Direct(Box::new(Direct::open(config).await?)))
    }

    /// Runs one request and returns its reply; a failed reply becomes an error.
    pub async fn run(self, request: Request) -> anyhow::Result<Reply> {
        let reply = match self {
            Target::Server(stream) => client::call(stream, &request).await?.0,
            Target::Direct(direct) => {
                let result = admin::execute(&direct.services, request).await;
                direct.close().await?;
                match result {
                    Ok(reply) => reply,
                    Err(err) => Reply::failed(&err),
                }
            }
        };
        match reply {
            Reply::Failed { code, message } => anyhow::bail!("{message} ({code})"),
            reply => Ok(reply),
        }
    }
}

impl Direct {
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = match crate::app::open_store(config).await {
            Ok(store) => store,
            Err(err) => {
                if let Some(OpenError::Locked(path)) = err.downcast_ref::<OpenError>() {
                    anyhow::bail!(
                        "another confab process holds {path} but no control socket answers there: \
                         a server still starting up or running as another user, or a \
                         `confab compact` at work"
                    );
                }
                return Err(err);
            }
        };
        let stop = CancellationToken::new();
        let (services, committer) =
            crate::app::build_services(config, store.clone(), Arc::new(SystemClock), stop.clone())?;
        Ok(Self {
            services,
            store,
            stop,
            committer,
        })
    }

    /// Commits and flushes everything, then releases the database.
    pub async fn close(self) -> anyhow::Result<()> {
        self.stop.cancel();
        let _ = self.committer.await;
        self.store
            .flush()
            .await
            .context("flushing the database failed")?;
        Ok(())
    }
}
