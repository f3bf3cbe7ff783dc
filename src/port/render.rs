//! Text renderings of a diff: plain (for pipes, logs, Slack) and ANSI-coloured (for a terminal).
//!
//! One line per change, values as compact JSON (so strings are quoted and control characters
//! escaped: a payload cannot inject terminal escapes):
//! ```text
//! ~ properties.healthStatus: "Healthy" -> "Degraded"
//! + properties.tags[2]: "new"
//! - relations.team: "platform"
//! ```

use crossterm::style::Stylize;

use super::diff::{Change, compact};

/// What a diff with no changes renders as.
pub const NO_CHANGES: &str = "(no changes)";

/// The path as shown: the root value (empty path) reads `(root)`.
fn shown_path(path: &str) -> &str {
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

/// One change as an ANSI-coloured line (no newline): green added, red removed, yellow changed.
pub fn change_ansi(c: &Change) -> String {
    match c {
        Change::Added { path, value } => format!(
            "{} {}: {}",
            "+".green().bold(),
            shown_path(path).green(),
            compact(value).green()
        ),
        Change::Removed { path, value } => format!(
            "{} {}: {}",
            "-".red().bold(),
            shown_path(path).red(),
            compact(value).red()
        ),
        Change::Changed {
            path,
            before,
            after,
        } => format!(
            "{} {}: {} -> {}",
            "~".yellow().bold(),
            shown_path(path).yellow(),
            compact(before).red(),
            compact(after).green()
        ),
    }
}

/// Every change, one plain line each (each ending in a newline); [`NO_CHANGES`] when empty.
pub fn changes_plain(changes: &[Change]) -> String {
    lines(changes, change_plain)
}

/// Every change, one coloured line each; [`NO_CHANGES`] (dimmed) when empty.
pub fn changes_ansi(changes: &[Change]) -> String {
    if changes.is_empty() {
        return format!("{}\n", NO_CHANGES.dim());
    }
    lines(changes, change_ansi)
}

fn lines(changes: &[Change], line: fn(&Change) -> String) -> String {
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
