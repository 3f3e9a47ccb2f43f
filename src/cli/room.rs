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
    /// List live public rooms, most recently active first (--all: private and direct rooms
    /// too, by name and member count; an admin never reads their messages).
    List {
        /// Include private and direct rooms.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the members of a room with their roles, longest-standing first.
    ///
    /// Example: confab room members 01JDZ4X9K2M8V6T0Q3R5W7Y1AB
    Members {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Add a user to a public or private room (they see it at once if online).
    ///
    /// Example: confab room add-member 01JDZ4X9K2M8V6T0Q3R5W7Y1AB alice --owner
    AddMember {
        id: String,
        username: String,
        /// Make them an owner (or make an existing member one).
        #[arg(long)]
        owner: bool,
    },
    /// Remove a user from a room; they stop receiving it at once. Removing the last owner
    /// hands ownership to the longest-standing member.
    ///
    /// Example: confab room remove-member 01JDZ4X9K2M8V6T0Q3R5W7Y1AB bob
    RemoveMember { id: String, username: String },
    /// Delete a room and all its messages; people in it are told at once.
    ///
    /// Example: confab room delete 01JDZ4X9K2M8V6T0Q3R5W7Y1AB
    Delete { id: String },
}

pub fn run(args: RoomArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    match args.command {
        RoomCommand::List { all, json } => {
            let reply = super::block_on(async {
                Target::open(&config)
                    .await?
                    .run(Request::RoomList { all })
                    .await
            })?;
            if let Reply::Rooms { rooms } = reply {
                if json {
                    println!("{}", serde_json::to_string_pretty(&rooms)?);
                } else {
                    println!(
                        "{:<26}  {:<8}  {:<9}  {:<24}  {:>7}  {:<16}  EXPIRES",
                        "ID", "KIND", "ENCRYPTED", "NAME", "MEMBERS", "CREATED BY"
                    );
                    for room in rooms {
                        let name: String = room.name.chars().take(24).collect();
                        let expires = format_time(room.expires_at_ms);
                        let encrypted = if room.encrypted { "e2e" } else { "-" };
                        println!(
                            "{:<26}  {:<8}  {encrypted:<9}  {name:<24}  {:>7}  {:<16}  {expires}",
                            room.id, room.kind, room.member_count, room.created_by
                        );
                    }
                }
            }
            Ok(())
        }
        RoomCommand::Members { id, json } => {
            let reply = super::block_on(async {
                Target::open(&config)
                    .await?
                    .run(Request::RoomMembers { id })
                    .await
            })?;
            if let Reply::Members { members } = reply {
                if json {
                    println!("{}", serde_json::to_string_pretty(&members)?);
                } else {
                    println!("{:<32}  {:<6}  JOINED", "USERNAME", "ROLE");
                    for member in members {
                        let joined = format_time(member.joined_at_ms);
                        println!("{:<32}  {:<6}  {joined}", member.username, member.role);
                    }
                }
            }
            Ok(())
        }
        RoomCommand::AddMember {
            id,
            username,
            owner,
        } => super::run_and_report(
            &config,
            Request::RoomAddMember {
                id,
                username,
                owner,
            },
        ),
        RoomCommand::RemoveMember { id, username } => {
            super::run_and_report(&config, Request::RoomRemoveMember { id, username })
        }
        RoomCommand::Delete { id } => super::run_and_report(&config, Request::RoomDelete { id }),
    }
}

/// `confab sweep`: delete expired rooms now instead of at the next interval.
pub fn sweep(config: ConfigArgs) -> anyhow::Result<()> {
    super::run_and_report(&config.load()?, Request::Sweep)
}
