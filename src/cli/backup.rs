//! `confab backup create|verify|restore`: hot backups while serving, checked files, and
//! restores into an empty (or, with --force, emptied) data directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;

use super::target::{Direct, Target};
use super::ConfigArgs;
use crate::admin::backup::{finish_file, partial_path, write_backup_file};
use crate::admin::{client, Reply, Request};
use crate::store::{BackupError, BackupOptions, BackupStats, Store};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent backup to FILE, while the server runs or not.
    ///
    /// Example: confab backup create /var/backups/confab-$(date +%F).backup
    Create {
        file: PathBuf,
        /// Leave login sessions out (everyone logs in again after a restore).
        #[arg(long)]
        no_sessions: bool,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check a backup file (format, completeness, checksum) without touching any database.
    Verify { file: PathBuf },
    /// Restore FILE into the data directory; the server must be stopped.
    ///
    /// Example: systemctl stop confab && confab backup restore latest.backup --config /etc/confab/confab.toml
    Restore {
        file: PathBuf,
        /// Replace whatever the data directory holds.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    match args.command {
        BackupCommand::Create {
            file,
            no_sessions,
            force,
        } => {
            if file.exists() && !force {
                anyhow::bail!(
                    "{} already exists; pass --force to replace it",
                    file.display()
                );
            }
            let options = BackupOptions {
                include_sessions: !no_sessions,
            };
            let stats = super::block_on(async {
                match Target::open(&config).await? {
                    Target::Server(stream) => create_through_server(stream, &file, options).await,
                    Target::Direct(direct) => create_directly(*direct, &file, options).await,
                }
            })?;
            println!("backup written to {}: {}", file.display(), describe(&stats));
            Ok(())
        }
        BackupCommand::Verify { file } => {
            let stats = verify(&file)?;
            println!(
                "{} is a complete, intact backup: {}",
                file.display(),
                describe(&stats)
            );
            Ok(())
        }
        BackupCommand::Restore { file, force } => restore(&config, &file, force),
    }
}

async fn create_through_server(
    stream: tokio::net::UnixStream,
    file: &Path,
    options: BackupOptions,
) -> anyhow::Result<BackupStats> {
    let request = Request::BackupCreate {
        include_sessions: options.include_sessions,
    };
    let (reply, mut body) = client::call(stream, &request).await?;
    match reply {
        Reply::Streaming => {}
        Reply::Failed { code, message } => anyhow::bail!("{message} ({code})"),
        other => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
    let partial = partial_path(file);
    let result = async {
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .await?;
        let bar = progress_bar(None, "receiving");
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = tokio::io::AsyncReadExt::read(&mut body, &mut buffer).await?;
            if read == 0 {
                break;
            }
            out.write_all(&buffer[..read]).await?;
            bar.inc(read as u64);
        }
        out.sync_all().await?;
        bar.finish_and_clear();
        let stats =
            verify(&partial).context("the server did not complete the backup (see its log)")?;
        finish_file(&partial, file)?;
        Ok::<_, anyhow::Error>(stats)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn create_directly(
    direct: Direct,
    file: &Path,
    options: BackupOptions,
) -> anyhow::Result<BackupStats> {
    let store = direct.store.clone();
    let path = file.to_path_buf();
    let stats = tokio::task::spawn_blocking(move || {
        let bar = progress_bar(None, "writing");
        let stats = write_backup_file(&store, &path, options, &mut |bytes| bar.set_position(bytes));
        bar.finish_and_clear();
        stats
    })
    .await?;
    direct.close().await?;
    Ok(stats?)
}

fn verify(file: &Path) -> anyhow::Result<BackupStats> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let bar = progress_bar(Some(size), "verifying");
    let result = Store::verify_backup(file, &mut |bytes| bar.set_position(bytes));
    bar.finish_and_clear();
    result.with_context(|| format!("{} failed verification", file.display()))
}

fn restore(config: &crate::config::Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let data = config.data.clone();
    // Check the file before touching anything, so a bad file never costs the current data.
    verify(file)?;
    let stats = super::block_on(async {
        if client::connect(&data).await?.is_some() {
            anyhow::bail!(
                "a confab server is running on {}; stop it first (e.g. systemctl stop confab)",
                data.display()
            );
        }
        let direct = Direct::open(config).await?;
        let empty = direct.store.is_empty()?;
        direct.close().await?;
        if !empty {
            if !force {
                anyhow::bail!(
                    "the data directory {} already holds data; pass --force to replace it with the backup",
                    data.display()
                );
            }
            clear_data_dir(&data)?;
        }
        // The search index is derived from the data being replaced: the server rebuilds it.
        let index = data.join(crate::search::DIR_NAME);
        if index.exists() {
            std::fs::remove_dir_all(&index)?;
        }
        let direct = Direct::open(config).await?;
        let store = direct.store.clone();
        let path = file.to_path_buf();
        let size = std::fs::metadata(file)?.len();
        let stats = tokio::task::spawn_blocking(move || {
            // Restore reads the file twice (check, then import).
            let bar = progress_bar(Some(size * 2), "restoring");
            let result = store.restore_backup(&path, &mut |bytes| bar.set_position(bytes));
            bar.finish_and_clear();
            result
        })
        .await?;
        direct.close().await?;
        match stats {
            Ok(stats) => Ok(stats),
            Err(BackupError::NotEmpty) => {
                anyhow::bail!("the data directory {} is not empty", data.display())
            }
            Err(err) => Err(err.into()),
        }
    })?;
    println!(
        "restored {} into {}: {}",
        file.display(),
        data.display(),
        describe(&stats)
    );
    Ok(())
}

/// Empties the data directory (the database files only live there).
fn clear_data_dir(data: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(data)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// A progress bar on a terminal; nothing at all when stderr is not one (scripts, cron).
fn progress_bar(total: Option<u64>, label: &'static str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {eta}"
    } else {
        "{msg:>10} {spinner} {bytes} ({bytes_per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label);
    bar
}

fn describe(stats: &BackupStats) -> String {
    format!(
        "{} users, {} sessions, {} access tokens, {} push subscriptions, {} rooms, {} messages, {} attachments, {} memberships, {} invites, {} webhooks, {} bytes",
        stats.users,
        stats.sessions,
        stats.tokens,
        stats.push_subscriptions,
        stats.rooms,
        stats.messages,
        stats.attachments,
        stats.members,
        stats.invites,
        stats.webhooks,
        stats.bytes
    )
}
