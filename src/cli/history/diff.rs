//! `hookrelay diff ID [OTHER]`: a delivery's Port property diff, or how two deliveries differ
//! (request line, body, headers).

use std::io::{IsTerminal, Write};

use anyhow::bail;
use clap::Args;
use crossterm::style::Stylize;

use super::{get, indent, open};
use crate::cli::HistoryStore;
use crate::delivery::Delivery;
use crate::json_diff::{Change, compact};
use crate::sanitize::display_safe;

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// A delivery (an id or a unique prefix of 4 or more characters): its Port property diff.
    pub id: String,
    /// A second delivery: compare the request lines, bodies and headers of the two.
    pub other: Option<String>,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub fn diff(a: DiffArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let render = |c: &[crate::json_diff::Change]| {
        if c.is_empty() {
            crate::port::render::NO_CHANGES.to_string()
        } else if color {
            changes_ansi(c)
        } else {
            crate::port::render::changes_plain(c)
        }
    };
    let first = get(&store, &a.id)?;
    let mut out = std::io::stdout().lock();
    let Some(other) = &a.other else {
        let Some(ev) = crate::port::parse_bytes(&first.request.body) else {
            bail!(
                "{} is not a Port event with a diff; `hookrelay diff {} OTHER` compares two deliveries",
                first.id,
                first.id
            );
        };
        writeln!(out, "{}", display_safe(&ev.summary()))?;
        writeln!(out, "{}", render(&ev.changes()))?;
        return Ok(());
    };
    let second = get(&store, other)?;
    writeln!(out, "{} -> {}", first.id, second.id)?;
    writeln!(out, "request:")?;
    writeln!(
        out,
        "{}",
        indent(&render(&crate::json_diff::diff(
            &request_line(&first),
            &request_line(&second)
        )))
    )?;
    writeln!(out, "body:")?;
    match (first.request.json_body(), second.request.json_body()) {
        (Some(x), Some(y)) => {
            writeln!(out, "{}", indent(&render(&crate::json_diff::diff(&x, &y))))?
        }
        _ if first.request.body == second.request.body => writeln!(out, "    identical bytes")?,
        _ => writeln!(
            out,
            "    the bodies differ ({} and {} bytes; not both JSON)",
            first.request.body.len(),
            second.request.body.len()
        )?,
    }
    writeln!(out, "headers:")?;
    writeln!(
        out,
        "{}",
        indent(&render(&crate::json_diff::diff(
            &headers(&first),
            &headers(&second)
        )))
    )?;
    Ok(())
}

/// Method, path and query, compared like the rest.
fn request_line(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "method": d.request.method,
        "path": if d.request.path.is_empty() { "/" } else { d.request.path.as_str() },
        "query": d.request.query,
    })
}

/// The headers by lower-cased name. A name sent once maps to its value; a repeated name maps
/// to all its values in order, so a second `x-multi` is not lost.
fn headers(d: &Delivery) -> serde_json::Value {
    let mut m: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for (n, v) in &d.request.headers {
        let v = serde_json::Value::String(v.clone());
        match m.get_mut(&n.to_ascii_lowercase()) {
            None => {
                m.insert(n.to_ascii_lowercase(), v);
            }
            Some(serde_json::Value::Array(all)) => all.push(v),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), v]),
        }
    }
    serde_json::Value::Object(m)
}

/// One change as an ANSI-coloured line (no newline): green added, red removed, yellow changed.
pub fn change_ansi(c: &Change) -> String {
    match c {
        Change::Added { path, value } => format!(
            "{} {}: {}",
            "+".green().bold(),
            crate::port::render::shown_path(path).green(),
            compact(value).green()
        ),
        Change::Removed { path, value } => format!(
            "{} {}: {}",
            "-".red().bold(),
            crate::port::render::shown_path(path).red(),
            compact(value).red()
        ),
        Change::Changed {
            path,
            before,
            after,
        } => format!(
            "{} {}: {} -> {}",
            "~".yellow().bold(),
            crate::port::render::shown_path(path).yellow(),
            compact(before).red(),
            compact(after).green()
        ),
    }
}

/// Every change, one coloured line each; [`NO_CHANGES`] (dimmed) when empty.
pub fn changes_ansi(changes: &[Change]) -> String {
    if changes.is_empty() {
        return format!("{}\n", crate::port::render::NO_CHANGES.dim());
    }
    crate::port::render::lines(changes, change_ansi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn coloured_lines_carry_the_plain_text() {
        let before = serde_json::json!({"properties": {"a": 1, "gone": true}});
        let after = serde_json::json!({"properties": {"a": 2, "new": "x"}});
        let changes = crate::json_diff::diff(&before, &after);
        assert_eq!(changes.len(), 3);
        let plain = crate::port::render::changes_plain(&changes);
        let ansi = changes_ansi(&changes);
        assert!(ansi.contains("\u{1b}["));
        assert!(!plain.contains('\u{1b}'));
        assert_eq!(strip_ansi(&ansi), plain);
        assert_eq!(strip_ansi(&changes_ansi(&[])), "(no changes)\n");
    }
}
