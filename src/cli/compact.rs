//! `confab compact`: rewrite the stopped server's database into fresh files, so that the bytes
//! of deleted messages and swept rooms leave the disk and sled's space amplification is
//! reclaimed (see `store::compact` for how it never loses data).

use anyhow::Context;

use super::target::Direct;
use super::ConfigArgs;
use crate::admin::client;
use crate::store::{CompactStats, Store};

/// Refuses while a server runs; sweeps expired rooms (as the server would at its next start),
/// then compacts and prints one line: the bytes before and after.
pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    let data = config.data.clone();
    if !data.exists() {
        anyhow::bail!(
            "the data directory {} does not exist; nothing to compact (check --data or `data` \
             in the config)",
            data.display()
        );
    }
    if !data.is_dir() {
        anyhow::bail!("the data path {} is not a directory", data.display());
    }
    let swept = super::block_on(async {
        if client::connect(&data).await?.is_some() {
            anyhow::bail!(
                "a confab server is running on {}; stop it first (e.g. systemctl stop confab)",
                data.display()
            );
        }
        if !Store::database_in(&data) {
            return Ok(None);
        }
        // Expired rooms would otherwise be copied, and deleted (their bytes left in the new
        // files) by the sweep at the server's next start.
        let direct = Direct::open(&config).await?;
        let swept = direct.services.chat.sweep_expired().await;
        direct.close().await?;
        Ok(Some(swept.context("deleting expired rooms failed")?))
    })?;
    let Some(swept) = swept else {
        println!(
            "nothing to compact: {} holds no database yet",
            data.display()
        );
        return Ok(());
    };
    let stats = Store::compact(&data, config.storage.cache_mb)
        .with_context(|| format!("cannot compact {}", data.display()))?;
    println!("compacted {}: {}", data.display(), describe(&stats, swept));
    Ok(())
}

fn describe(stats: &CompactStats, swept: usize) -> String {
    let mut line = format!(
        "{} bytes before, {} bytes after; {} trees, {} records copied and verified",
        stats.bytes_before, stats.bytes_after, stats.trees, stats.records
    );
    match swept {
        0 => {}
        1 => line.push_str("; 1 expired room deleted first"),
        n => line.push_str(&format!("; {n} expired rooms deleted first")),
    }
    line
}
