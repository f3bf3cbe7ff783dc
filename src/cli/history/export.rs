//! `hookrelay export ID`: a stored delivery as a curl command, JSON or HAR.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{get, open, previous_target};
use crate::cli::HistoryStore;

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["curl", "json", "har"])))]
pub struct ExportArgs {
    /// The delivery id (a unique prefix of 4 or more characters is enough).
    pub id: String,
    /// A curl command that reproduces the request (POSIX-shell safe).
    #[arg(long)]
    pub curl: bool,
    /// The whole delivery as JSON.
    #[arg(long)]
    pub json: bool,
    /// A HAR 1.2 log (one entry per attempt).
    #[arg(long)]
    pub har: bool,
    /// For --curl: the base URL (default: where the forward job sent it, or
    /// http://localhost:3000).
    #[arg(long)]
    pub target: Option<String>,
    /// For --curl: write the body to this file and use `--data-binary @FILE`.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub fn export(a: ExportArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let d = get(&store, &a.id)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&crate::export::json(&d))?
        )?;
    } else if a.har {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&crate::export::har(&d))?
        )?;
    } else {
        let mut req = d.request.clone();
        let base = match &a.target {
            Some(t) => t.clone(),
            None => previous_target(&d, &mut req)?
                .unwrap_or_else(|| "http://localhost:3000".to_string()),
        };
        if let Some(f) = &a.body_file {
            std::fs::write(f, &req.body).with_context(|| format!("writing {}", f.display()))?;
        }
        writeln!(
            out,
            "{}",
            crate::export::curl(&req, &base, a.body_file.as_deref())
        )?;
    }
    Ok(())
}
