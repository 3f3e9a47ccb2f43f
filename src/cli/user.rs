//! `confab user ...`: manage accounts, with or without a running server.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};

use super::target::Target;
use super::ConfigArgs;
use crate::admin::{Reply, Request};
use crate::wire::format_time;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (registration settings do not apply).
    ///
    /// Example: confab user add alice --admin
    ///          echo "$PASSWORD" | confab user add bot --password-stdin
    Add {
        username: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts as a table, or as JSON with --json.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new password; every session of the user ends.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an account; its sessions and open connections end at once.
    Delete { username: String },
    /// Grant or revoke administrator rights.
    ///
    /// Example: confab user admin alice --grant
    Admin {
        username: String,
        #[arg(long, conflicts_with = "revoke", required_unless_present = "revoke")]
        grant: bool,
        #[arg(long)]
        revoke: bool,
    },
    /// Lock an account: it cannot log in, and its sessions and connections end at once.
    Lock { username: String },
    /// Unlock a locked account.
    Unlock { username: String },
}

pub fn run(args: UserArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let request = match args.command {
        UserCommand::Add {
            username,
            admin,
            password_stdin,
        } => {
            let password = read_password(password_stdin, true)?;
            Request::UserAdd {
                username,
                password,
                admin,
            }
        }
        UserCommand::List { json } => {
            let reply = super::block_on(async {
                Target::open(&config).await?.run(Request::UserList).await
            })?;
            if let Reply::Users { users } = reply {
                if json {
                    println!("{}", serde_json::to_string_pretty(&users)?);
                } else {
                    println!(
                        "{:<32}  {:<5}  {:<6}  CREATED",
                        "USERNAME", "ADMIN", "LOCKED"
                    );
                    for user in users {
                        let yes = |flag: bool| if flag { "yes" } else { "no" };
                        let created = format_time(user.created_at_ms);
                        println!(
                            "{:<32}  {:<5}  {:<6}  {created}",
                            user.username,
                            yes(user.is_admin),
                            yes(user.locked)
                        );
                    }
                }
            }
            return Ok(());
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin, true)?;
            Request::UserPasswd { username, password }
        }
        UserCommand::Delete { username } => Request::UserDelete { username },
        UserCommand::Admin {
            username, grant, ..
        } => Request::UserAdmin { username, grant },
        UserCommand::Lock { username } => Request::UserLock {
            username,
            locked: true,
        },
        UserCommand::Unlock { username } => Request::UserLock {
            username,
            locked: false,
        },
    };
    super::run_and_report(&config, request)
}

/// Reads a password from stdin (one line) or prompts for it twice without echo.
fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            anyhow::bail!("no password on standard input");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("standard input is not a terminal: pass the password with --password-stdin");
    }
    let password = rpassword::prompt_password("New password: ")?;
    if confirm && rpassword::prompt_password("Repeat password: ")? != password {
        anyhow::bail!("the passwords do not match");
    }
    Ok(password)
}
