//! The first line of a `--json` run: what the session is (the channel to send webhooks to,
//! the target, the store), so a script reading stdout has the channel URL too.

use std::io::Write;
use std::path::Path;

/// The session line: `{"type":"session","channel":...,"target":...,"store":...}`.
pub fn session_json(channel: &str, target: &str, store: Option<&Path>) -> serde_json::Value {
    serde_json::json!({
        "type": "session",
        "channel": channel,
        "target": target,
        "store": store.map(|p| p.display().to_string()),
    })
}

/// Print the session line on stdout.
pub fn print_session(channel: &str, target: &str, store: Option<&Path>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", session_json(channel, target, store))?;
    out.flush()
}
