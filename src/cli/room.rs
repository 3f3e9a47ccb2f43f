//! `confab room ...` and `confab sweep`.

use clap::{Args, Subcommand};

use super::target::Target;
use super::ConfigArgs;
use crate::admin::{Reply, Request};
use crate::wire::format_time;

#[derive(Debug, Args)]
pub struct RoomArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: RoomCommand,
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// List live rooms, most recently active first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a room and all its messages; people in it are told at once.
    ///
    /// Example: confab room delete 01JDZ4X9K2M8V6T0Q3R5W7Y1AB
    Delete { id: String },
}

pub fn run(args: RoomArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    match args.command {
        RoomCommand::List { json } => {
            let reply = super::block_on(async {
                Target::open(&config).await?.run(Request::RoomList { all: false }).await
            })?;
            if let Reply::Rooms { rooms } = reply {
                if json {
                    println!("{}", serde_json::to_string_pretty(&rooms)?);
                } else {
                    println!(
                        "{:<26}  {:<24}  {:<16}  EXPIRES",
                        "ID", "NAME", "CREATED BY"
                    );
                    for room in rooms {
                        let name: String = room.name.chars().take(24).collect();
                        let expires = format_time(room.expires_at_ms);
                        println!(
                            "{:<26}  {name:<24}  {:<16}  {expires}",
                            room.id, room.created_by
                        );
                    }
                }
            }
            Ok(())
        }
        RoomCommand::Delete { id } => super::run_and_report(&config, Request::RoomDelete { id }),
    }
}

/// `confab sweep`: delete expired rooms now instead of at the next interval.
pub fn sweep(config: ConfigArgs) -> anyhow::Result<()> {
    super::run_and_report(&config.load()?, Request::Sweep)
}
