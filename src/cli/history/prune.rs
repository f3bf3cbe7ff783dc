//! `hookrelay prune`: delete old deliveries.

use std::io::Write;
use std::time::Duration;

use clap::Args;

use super::open;
use crate::cli::HistoryStore;

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep only the newest N deliveries.
    #[arg(long)]
    pub keep: Option<usize>,
    /// Delete deliveries older than this (`7d`, `12h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub fn prune(a: PruneArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let n = store.prune(a.keep, a.older_than.map(|d| d.as_millis() as i64))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "deleted {n} deliveries")?;
    Ok(())
}
