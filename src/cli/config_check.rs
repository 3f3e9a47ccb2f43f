//! `confab config check`: validate a config file and show the settings that would apply.

use clap::{Args, Subcommand};

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct ConfigCommandArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, CONFAB_* variables, flags) and print the result.
    ///
    /// Example: confab config check --config /etc/confab/confab.toml
    Check,
}

pub fn run(args: ConfigCommandArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Check => {
            let config = args.config.load()?;
            println!("# configuration is valid; effective settings:");
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
    }
}
