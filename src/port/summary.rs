//! The one-line summary of a Port event, for the log line and the TUI list:
//! `UPDATE entity notification-service-prod (deploymentConfig) by a@b.c: healthStatus Healthy -> Degraded`.
//!
//! At most [`MAX_CHANGES`] changes are named (properties first, then relations, then the rest;
//! entity bookkeeping such as `updatedAt` is left out), then `+N more`. The line never contains
//! control characters, whatever the payload holds.

use serde_json::Value;

use super::{PortEvent, PortKind};
use crate::json_diff::{Change, compact};

/// How many changes the summary names before `+N more`.
pub const MAX_CHANGES: usize = 3;
/// Longest value text shown in a summary (in characters, before the ellipsis).
const MAX_VALUE: usize = 40;
/// Longest identifier (entity, blueprint, user) shown.
const MAX_NAME: usize = 80;

/// Root-level entity bookkeeping: listed last in a diff, left out of the summary.
pub fn is_metadata(path: &str) -> bool {
    matches!(path, "createdAt" | "createdBy" | "updatedAt" | "updatedBy")
}

/// Lower is more interesting: properties, relations, the entity's own fields, the rest.
fn rank(path: &str) -> u8 {
    if path.starts_with("properties.") || path.starts_with("properties[") {
        0
    } else if path.starts_with("relations.") || path.starts_with("relations[") {
        1
    } else if ["title", "icon", "team", "identifier", "status"]
        .iter()
        .any(|f| path == *f || path.starts_with(&format!("{f}[")))
    {
        2
    } else {
        3
    }
}

/// The summary line of an event (see the module doc).
pub fn summary(ev: &PortEvent) -> String {
    let mut line = match ev.kind {
        PortKind::ActionRun => {
            let mut s = format!("action run {}", clean(&ev.action, MAX_NAME));
            if let Some(entity) = &ev.entity {
                s.push_str(&format!(" on {}", clean(entity, MAX_NAME)));
            }
            s
        }
        PortKind::Changelog | PortKind::Automation => {
            let mut s = format!(
                "{} {}",
                clean(&ev.action, MAX_NAME),
                clean(&ev.resource_type, MAX_NAME)
            );
            let name = ev
                .entity
                .as_deref()
                .or_else(|| (ev.resource_type == "run").then(|| ev.run_id()).flatten());
            if let Some(name) = name {
                s.push(' ');
                s.push_str(&clean(name, MAX_NAME));
            }
            s
        }
    };
    if let Some(bp) = &ev.blueprint {
        line.push_str(&format!(" ({})", clean(bp, MAX_NAME)));
    }
    if !ev.triggered_by.is_empty() {
        line.push_str(&format!(" by {}", clean(&ev.triggered_by, MAX_NAME)));
    }
    if let Some(status) = ev.status.as_deref().filter(|s| *s != "SUCCESS") {
        line.push_str(&format!(" [{}]", clean(status, MAX_NAME)));
    }
    let changes = ev.changes();
    let mut picked: Vec<&Change> = changes.iter().filter(|c| !is_metadata(c.path())).collect();
    picked.sort_by_key(|c| rank(c.path()));
    if !picked.is_empty() {
        let bare = ev.kind == PortKind::ActionRun;
        let shown: Vec<String> = picked
            .iter()
            .take(MAX_CHANGES)
            .map(|c| change_text(c, bare))
            .collect();
        line.push_str(": ");
        line.push_str(&shown.join(", "));
        if picked.len() > MAX_CHANGES {
            line.push_str(&format!(", +{} more", picked.len() - MAX_CHANGES));
        }
    }
    line
}

/// `healthStatus Healthy -> Degraded`, `+tags[2]=x`, `-relations.team`. `bare` drops the `+`
/// (action run inputs are not "added", they are the inputs).
fn change_text(c: &Change, bare: bool) -> String {
    match c {
        Change::Changed {
            path,
            before,
            after,
        } => format!("{} {} -> {}", short_path(path), value(before), value(after)),
        Change::Added { path, value: v } if bare => format!("{}={}", short_path(path), value(v)),
        Change::Added { path, value: v } => format!("+{}={}", short_path(path), value(v)),
        Change::Removed { path, .. } => format!("-{}", short_path(path)),
    }
}

/// Property paths without their `properties.` prefix (the common case reads best bare).
fn short_path(path: &str) -> String {
    let p = path.strip_prefix("properties.").unwrap_or(path);
    let p = if p.is_empty() { "(value)" } else { p };
    clean(p, MAX_NAME)
}

/// A value as a person reads it: plain strings unquoted, everything else as compact JSON.
fn value(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty() && !s.chars().any(crate::sanitize::needs_escape) && s.trim() == s =>
        {
            clean(s, MAX_VALUE)
        }
        other => clean(&compact(other), MAX_VALUE),
    }
}

/// At most `max` characters (then `…`), control and format characters escaped (what
/// [`crate::sanitize::needs_escape`] flags).
pub(crate) fn clean(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if crate::sanitize::needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
