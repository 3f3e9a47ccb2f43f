//! The command line: one file per subcommand group.

mod backup;
mod bot;
mod compact;
mod config_check;
mod room;
mod search;
mod serve;
mod target;
mod user;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "confab",
    version,
    about = "Self-hosted team chat in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server.
    ///
    /// With no config it listens on 127.0.0.1:8080 and keeps its data in ./confab-data.
    /// Example: confab serve --config /etc/confab/confab.toml
    Serve(ConfigArgs),
    /// Manage accounts (works with the server running or stopped).
    User(user::UserArgs),
    /// List rooms, manage their members, or delete them.
    Room(room::RoomArgs),
    /// Create bot accounts and mint their access tokens (works with the server running or
    /// stopped).
    Bot(bot::BotArgs),
    /// Delete expired rooms now.
    Sweep(ConfigArgs),
    /// Create, verify and restore backups.
    Backup(backup::BackupArgs),
    /// Rebuild the full-text search index, or show how far a rebuild has come.
    Search(search::SearchArgs),
    /// Rewrite the database into fresh files; the server must be stopped.
    ///
    /// Deleted message bodies and swept rooms leave the disk, and the space sled's log keeps
    /// for old versions is given back. Expired rooms are deleted first. The copy is built in
    /// <data>/db.compacting, verified, then swapped in; an interrupted compaction is finished
    /// or undone by the next `confab serve` or `confab compact`.
    ///
    /// Example: systemctl stop confab && confab compact --config /etc/confab/confab.toml && systemctl start confab
    Compact(ConfigArgs),
    /// Check the configuration.
    Config(config_check::ConfigCommandArgs),
}

/// Where the configuration comes from: a TOML file, then CONFAB_* variables, then these flags.
#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// TOML config file (see config.example.toml).
    #[arg(long, short = 'c', global = true, env = "CONFAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080 (overrides `listen`).
    #[arg(long, global = true)]
    pub listen: Option<SocketAddr>,
    /// Data directory (overrides `data`).
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            listen: self.listen,
            data: self.data.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::User(args) => user::run(args),
        Command::Room(args) => room::run(args),
        Command::Bot(args) => bot::run(args),
        Command::Sweep(args) => room::sweep(args),
        Command::Backup(args) => backup::run(args),
        Command::Search(args) => search::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Config(args) => config_check::run(args),
    }
}

/// Runs a future on a small runtime: admin commands are short and mostly wait on I/O.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

/// Runs one admin request and prints its outcome.
fn run_and_report(config: &Config, request: crate::admin::Request) -> anyhow::Result<()> {
    let reply = block_on(async { target::Target::open(config).await?.run(request).await })?;
    if let crate::admin::Reply::Done { message } = reply {
        println!("{message}");
    }
    Ok(())
}
