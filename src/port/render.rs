//! A diff as plain text (for pipes, logs, Slack; `hookrelay diff` colours the same lines).
//!
//! One line per change, values as compact JSON (so strings are quoted and control characters
//! escaped: a payload cannot inject terminal escapes):
//! ```text
//! ~ properties.healthStatus: "Healthy" -> "Degraded"
//! + properties.tags[2]: "new"
//! - relations.team: "platform"
//! ```

use crate::json_diff::{Change, compact};

/// What a diff with no changes renders as.
pub const NO_CHANGES: &str = "(no changes)";

/// The path as shown: the root value (empty path) reads `(root)`.
pub fn shown_path(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

/// One change as a plain line (no newline).
pub fn change_plain(c: &Change) -> String {
    match c {
        Change::Added { path, value } => format!("+ {}: {}", shown_path(path), compact(value)),
        Change::Removed { path, value } => format!("- {}: {}", shown_path(path), compact(value)),
        Change::Changed {
            path,
            before,
            after,
        } => format!(
            "~ {}: {} -> {}",
            shown_path(path),
            compact(before),
            compact(after)
        ),
    }
}

/// Every change, one plain line each (each ending in a newline); [`NO_CHANGES`] when empty.
pub fn changes_plain(changes: &[Change]) -> String {
    lines(changes, change_plain)
}

pub(crate) fn lines(changes: &[Change], line: fn(&Change) -> String) -> String {
    if changes.is_empty() {
        return format!("{NO_CHANGES}\n");
    }
    let mut out = String::new();
    for c in changes {
        out.push_str(&line(c));
        out.push('\n');
    }
    out
}
