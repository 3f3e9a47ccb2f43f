//! `confab search ...`: the full-text index (src/search), with the server running or stopped.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::target::Target;
use super::ConfigArgs;
use crate::admin::{client, Reply, Request};
use crate::config::Config;
use crate::search::{Search, Status};

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: SearchCommand,
}

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Empty the search index and rebuild it from the database, with a progress bar.
    ///
    /// The index is derived data: a running server rebuilds it by itself when it is missing,
    /// damaged or from an older version. While it is rebuilt, searches answer 503
    /// `reindexing`; chat works as usual.
    ///
    /// Example: confab search reindex --config /etc/confab/confab.toml
    Reindex,
    /// Whether the index is ready, or how far a rebuild has come.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if !config.search.enabled {
        anyhow::bail!("search is off in this configuration (search.enabled = false)");
    }
    super::block_on(async move {
        match (Target::open(&config).await?, args.command) {
            (Target::Server(stream), SearchCommand::Reindex) => {
                client::call(stream, &Request::SearchReindex).await?;
                follow(|| server_status(&config)).await
            }
            (Target::Server(stream), SearchCommand::Status { json }) => {
                match client::call(stream, &Request::SearchStatus).await?.0 {
                    Reply::Search { search } => print_status(&search, json),
                    Reply::Failed { message, code } => anyhow::bail!("{message} ({code})"),
                    other => anyhow::bail!("unexpected answer from the server: {other:?}"),
                }
            }
            (Target::Direct(direct), command) => {
                let search = Search::start(
                    &config.data,
                    direct.services.chat.clone(),
                    config.search.clone(),
                )
                .context("cannot open the search index")?;
                let stop = CancellationToken::new();
                let indexer = tokio::spawn(search.clone().run_until(stop.clone()));
                let outcome = match command {
                    SearchCommand::Reindex => {
                        search.request_rebuild();
                        follow(|| {
                            let status = search.status();
                            async move { Ok(status) }
                        })
                        .await
                    }
                    SearchCommand::Status { json } => {
                        // Opening the index has started whatever the server would do at start.
                        print_status(&search.status(), json)
                    }
                };
                stop.cancel();
                let _ = indexer.await;
                direct.close().await?;
                outcome
            }
        }
    })
}

async fn server_status(config: &Config) -> anyhow::Result<Status> {
    let Some(stream) = client::connect(&config.data).await? else {
        anyhow::bail!(
            "the server stopped while the index was being rebuilt; it resumes at its next start"
        );
    };
    match client::call(stream, &Request::SearchStatus).await?.0 {
        Reply::Search { search } => Ok(search),
        Reply::Failed { message, code } => anyhow::bail!("{message} ({code})"),
        other => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
}

/// Shows the rebuild's progress until the index is ready.
async fn follow<F, Fut>(mut status: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Status>>,
{
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("reindexing [{bar:30}] {pos}/{len} messages {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = std::time::Instant::now();
    let mut indexed = 0;
    loop {
        let now = status().await?;
        match now.state.as_str() {
            "ready" => break,
            "failed" => {
                bar.abandon();
                anyhow::bail!(
                    "rebuilding the search index failed: {}",
                    now.error.unwrap_or_default()
                );
            }
            _ => {
                bar.set_length(now.total);
                bar.set_position(now.indexed.min(now.total));
                indexed = now.indexed;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    println!(
        "search index rebuilt: {} messages in {:.1} s",
        indexed.max(bar.length().unwrap_or(0)),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_status(status: &Status, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(status)?);
        return Ok(());
    }
    match status.state.as_str() {
        "rebuilding" => println!(
            "rebuilding: {} of {} messages indexed",
            status.indexed, status.total
        ),
        "failed" => println!(
            "failed: {} (retried automatically)",
            status.error.as_deref().unwrap_or("unknown error")
        ),
        state => println!("{state}"),
    }
    Ok(())
}
