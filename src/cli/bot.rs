//! `confab bot ...`: bot accounts and their access tokens, with or without a running server.

use clap::{Args, Subcommand};

use super::target::Target;
use super::ConfigArgs;
use crate::admin::{NewToken, Reply, Request, TokenAsk};
use crate::auth::BotSummary;
use crate::wire::format_time;

#[derive(Debug, Args)]
pub struct BotArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: BotCommand,
}

/// What the token printed by `bot add` and `bot token` may do and for how long.
#[derive(Debug, Args)]
pub struct TokenOptions {
    /// Scopes, comma-separated: read, write (admin only for an admin bot).
    #[arg(long, value_delimiter = ',', default_value = "read,write")]
    scopes: Vec<String>,
    /// Lifetime, e.g. 90d or 12h (at most a year); without it the token never expires.
    #[arg(long, value_parser = humantime::parse_duration)]
    expires_in: Option<std::time::Duration>,
}

#[derive(Debug, Subcommand)]
pub enum BotCommand {
    /// Create a bot account and print its first access token (read and write scopes).
    ///
    /// A bot cannot log in with a password; it acts only through access tokens, sent as
    /// `Authorization: Bearer <token>`. The token is shown once: store it now.
    ///
    /// Example: confab bot add ci --owner alice
    Add {
        username: String,
        /// The person who may mint and revoke its tokens in the web UI and API (admins always
        /// may).
        #[arg(long)]
        owner: Option<String>,
        /// Create the bot without a token (mint one later with `confab bot token`).
        #[arg(long)]
        no_token: bool,
        #[command(flatten)]
        token: TokenOptions,
    },
    /// Mint another access token for a bot and print it (shown once).
    ///
    /// Example: confab bot token ci --name deploy --expires-in 90d
    Token {
        username: String,
        /// What the token is for, 1-64 characters.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        token: TokenOptions,
    },
    /// List bot accounts as a table, or as JSON with --json.
    List {
        #[arg(long)]
        json: bool,
    },
}

impl TokenOptions {
    fn ask(self, name: String) -> TokenAsk {
        TokenAsk {
            name,
            scopes: self
                .scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .collect(),
            // A duration under a second is refused by the server as `invalid_expiry`.
            expires_in: self.expires_in.map(|d| d.as_secs()),
        }
    }
}

pub fn run(args: BotArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let request = match args.command {
        BotCommand::Add {
            username,
            owner,
            no_token,
            token,
        } => Request::BotAdd {
            username,
            owner,
            token: (!no_token).then(|| token.ask("default".into())),
        },
        BotCommand::Token {
            username,
            name,
            token,
        } => Request::BotToken {
            username,
            token: token.ask(name),
        },
        BotCommand::List { json } => {
            let reply = super::block_on(async {
                Target::open(&config).await?.run(Request::BotList).await
            })?;
            if let Reply::Bots { bots } = reply {
                print_bots(&bots, json)?;
            }
            return Ok(());
        }
    };
    let reply = super::block_on(async { Target::open(&config).await?.run(request).await })?;
    if let Reply::Bot { bot, token } = reply {
        report(&bot, token.as_ref());
    }
    Ok(())
}

/// Says what was made; the secret goes alone on the last line, so a script can take it with
/// `tail -n 1`.
fn report(bot: &BotSummary, token: Option<&NewToken>) {
    let owner = bot
        .owner
        .as_deref()
        .map(|owner| format!(", owned by {owner}"))
        .unwrap_or_default();
    let Some(token) = token else {
        println!("bot {}{owner}", bot.username);
        return;
    };
    let expiry = token
        .expires_at_ms
        .map(|at| format!("expires {}", format_time(at)))
        .unwrap_or_else(|| "never expires".into());
    println!(
        "bot {}{owner}: access token {:?} ({}; {expiry}).",
        bot.username,
        token.name,
        token.scopes.join(", ")
    );
    println!("It is shown only now; store it as a secret and send it as `Authorization: Bearer <token>`:");
    println!("{}", token.secret);
}

fn print_bots(bots: &[BotSummary], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(bots)?);
        return Ok(());
    }
    println!("{:<32}  {:<32}  CREATED", "BOT", "OWNER");
    for bot in bots {
        println!(
            "{:<32}  {:<32}  {}",
            bot.username,
            bot.owner.as_deref().unwrap_or("-"),
            format_time(bot.created_at_ms)
        );
    }
    Ok(())
}
