//! The history commands, one file each: `list`, `show`, `replay`, `export`, `prune`, `diff`.
//! This file holds what they share: opening the store, ids, times, bodies for reading.
//! Everything printed from a payload goes through the one sanitizer.

use anyhow::{Context, bail};

use super::HistoryStore;
use crate::delivery::{Delivery, WebhookRequest};
use crate::human::size as human_size;
use crate::sanitize::display_safe;
use crate::store::Store;

mod diff;
mod export;
mod list;
mod prune;
mod replay;
mod show;

pub use diff::{DiffArgs, diff};
pub use export::{ExportArgs, export};
pub use list::{ListArgs, list};
pub use prune::{PruneArgs, prune};
pub use replay::{ReplayArgs, replay};
pub use show::{ShowArgs, show};

/// The shortest id prefix accepted: one or two characters match by accident.
pub const MIN_ID_PREFIX: usize = 4;

/// The error is stdout closed by the reader (`hookrelay list | head`), not a failure.
pub(in crate::cli) fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Open the store a history command reads; a missing one is an error that lists the known
/// stores (the store is not created by reading).
fn open(store: &HistoryStore) -> anyhow::Result<Store> {
    let path = store.path();
    if !path.exists() {
        let mut msg = format!(
            "no store at {} yet: run `hookrelay forward` here first, or pass --store PATH",
            path.display()
        );
        let mut known: Vec<String> = crate::store::known_stores()
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let demo = crate::store::demo_path();
        if demo.exists() {
            known.push(format!("{} (the demo's)", demo.display()));
        }
        if !known.is_empty() {
            msg.push_str("\nknown stores, newest first (pass one with --store):");
            for k in &known {
                msg.push_str(&format!("\n  {k}"));
            }
        }
        bail!(msg);
    }
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// Look up a delivery by id or by a unique prefix of at least [`MIN_ID_PREFIX`] characters.
fn get(store: &Store, id: &str) -> anyhow::Result<Delivery> {
    if id.chars().count() < MIN_ID_PREFIX {
        bail!(
            "the id {id:?} is too short: give at least {MIN_ID_PREFIX} characters of it \
             (`hookrelay list` shows the ids)"
        );
    }
    Ok(store.get(id)?)
}

/// A body for reading: pretty JSON, text, or a note for binary.
fn body_text(body: &[u8], limit: usize) -> String {
    if body.is_empty() {
        return "(empty)".into();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
        return safe_lines(&pretty, limit);
    }
    match std::str::from_utf8(body) {
        Ok(t) => safe_lines(t, limit),
        Err(_) => format!(
            "({} of binary data; `hookrelay export ID --json` has it in base64)",
            human_size(body.len() as u64)
        ),
    }
}

/// At most `limit` characters of `text`, each line made safe on its own so the line breaks
/// stay line breaks (a CR, an ESC or any other control is still shown escaped).
fn safe_lines(text: &str, limit: usize) -> String {
    let (text, cut) = match text.char_indices().nth(limit) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    };
    let mut out = text
        .split('\n')
        .map(|l| display_safe(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if cut {
        out.push('…');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the forward job sent `d`: the URL of its newest forwarding attempt (a replay to another
/// `--target` does not move it), else of its newest attempt. That URL already holds the
/// delivery's sub-path and query, so it is split: `req` takes its path and query byte for byte and
/// the origin (`http://host:port`) is returned. `None` when `d` was never sent anywhere.
fn previous_target(d: &Delivery, req: &mut WebhookRequest) -> anyhow::Result<Option<String>> {
    let Some(last) = d
        .attempts
        .iter()
        .rev()
        .find(|a| !a.replay)
        .or(d.attempts.last())
    else {
        return Ok(None);
    };
    let uri: hyper::Uri = last
        .target
        .parse()
        .with_context(|| format!("the stored target {:?} is not a URL", last.target))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        bail!("the stored target {:?} is not an absolute URL", last.target);
    };
    req.path = uri.path().to_string();
    req.query = uri.query().unwrap_or("").to_string();
    Ok(Some(format!("{scheme}://{authority}")))
}
