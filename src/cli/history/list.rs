//! `hookrelay list`: stored deliveries, newest first, as a table or JSON lines.

use std::io::Write;
use std::time::Duration;

use clap::Args;

use super::open;
use crate::cli::HistoryStore;
use crate::delivery::now_ms;
use crate::human::{local_date_time as time, outcome_word};
use crate::sanitize::display_safe_bounded;
use crate::store::{ListFilter, StatusFilter};
use crate::verify::Outcome;

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// Only deliveries received within this long (`1h`, `7d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    #[arg(long)]
    pub method: Option<String>,
    /// Path contains this.
    #[arg(long)]
    pub path: Option<String>,
    /// Event type contains this (`push`, `UPDATE entity`).
    #[arg(long)]
    pub event: Option<String>,
    /// Target status: a code (`404`), a class (`5xx`), or a state: `pending`, `delivering`,
    /// `delivered`, `failed` (given up), `held` (strict verification), `skipped`.
    #[arg(long)]
    pub status: Option<String>,
    /// Verification outcome (`valid`, `invalid`, `stale`, ...).
    #[arg(long)]
    pub verification: Option<String>,
    /// Free text over path, event and headers.
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// JSON lines.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub fn list(a: ListArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let filter = ListFilter {
        since_ms: a.since.map(|d| now_ms() - d.as_millis() as i64),
        method: a.method.clone(),
        path_contains: a.path.clone(),
        event: a.event.clone(),
        status: match &a.status {
            Some(s) => Some(
                s.parse::<StatusFilter>()
                    .map_err(|e| anyhow::anyhow!("--status {s}: {e}"))?,
            ),
            None => None,
        },
        verification: a.verification.as_deref().map(parse_outcome).transpose()?,
        text: a.text.clone(),
    };
    let rows = store.list(&filter, a.limit)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &rows {
            let v = serde_json::json!({
                "id": r.id, "received_at_ms": r.received_at_ms, "method": r.method,
                "path": shown_path(&r.path),
                "query": r.query, "event": r.event, "summary": r.summary, "body_size": r.body_size,
                "verification": r.verification, "status": r.last_status, "error": r.last_error,
                "latency_ms": r.last_latency_ms, "attempts": r.attempts, "slack": r.slack,
                "state": r.state,
            });
            writeln!(out, "{}", crate::sanitize::json_text(&v))?;
        }
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no deliveries match")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10}  {:<19}  {:<6} {:<28} {:<16} {:<14} {:>6} {:>9}  summary",
        "id", "received", "method", "path", "event", "signature", "status", "latency"
    )?;
    for r in &rows {
        let mut path = shown_path(&r.path).to_string();
        if !r.query.is_empty() {
            path = format!("{path}?{}", r.query);
        }
        let status = match (r.last_status, r.attempts) {
            (_, 0) => r.state.to_string(),
            (Some(s), _) => s.to_string(),
            (None, _) => "error".to_string(),
        };
        writeln!(
            out,
            "{:<10}  {:<19}  {:<6} {:<28} {:<16} {:<14} {:>6} {:>9}  {}",
            r.id,
            time(r.received_at_ms),
            display_safe_bounded(&r.method, 6),
            display_safe_bounded(&path, 28),
            display_safe_bounded(r.event.as_deref().unwrap_or("-"), 16),
            r.verification
                .as_ref()
                .map_or("-", |v| outcome_word(v.outcome)),
            status,
            r.last_latency_ms
                .map_or("-".into(), |l| format!("{l:.1} ms")),
            display_safe_bounded(r.summary.as_deref().unwrap_or(""), 100),
        )?;
    }
    Ok(())
}

fn parse_outcome(s: &str) -> anyhow::Result<Outcome> {
    let key = s.trim().to_ascii_lowercase().replace('-', "_");
    serde_json::from_value(serde_json::Value::String(key)).map_err(|_| {
        anyhow::anyhow!(
            "unknown outcome `{s}` (valid, invalid, stale, future, missing-header, malformed-header, no-secret, reserialized, unsigned, valid-after-reserialization)"
        )
    })
}

/// The path as both views show it: the channel's own URL (an empty sub-path) is `/`.
fn shown_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}
