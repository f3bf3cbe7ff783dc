//! The Slack message for a Port event: Port's guide layout (header "Change in Software Catalog",
//! "Triggered by ...", change type, resource type, status, before, after), improved with the
//! property diff and a `text` fallback, always within Block Kit's limits.
//!
//! Lengths are counted in UTF-16 code units, never fewer than the characters Slack counts.
//! Long JSON is cut at a line where possible and the cut is marked
//! (`… (truncated, 12,345 more characters)`).

use serde_json::{Value, json};
use thiserror::Error;

use crate::port::render::change_plain;
use crate::port::summary::clean;
use crate::port::{PortEvent, PortKind};

/// Blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// A header block's text.
pub const MAX_HEADER: usize = 150;
/// A section block's text.
pub const MAX_SECTION: usize = 3000;
/// Fields in one section.
pub const MAX_FIELDS: usize = 10;
/// One section field's text.
pub const MAX_FIELD: usize = 2000;
/// Elements in one context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// All block text together (Slack's undocumented cap is about 13,200: keep well below).
pub const MAX_TOTAL_TEXT: usize = 12_000;
/// The top-level `text` (Slack truncates beyond 40,000; a notification needs far less).
pub const MAX_FALLBACK: usize = 3000;

/// Longest name (entity, blueprint, user) put in a field or the context line.
const MAX_NAME: usize = 200;

/// A message that Slack would reject for its size or shape.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("the message is not a JSON object with a `blocks` array or a `text`")]
    Shape,
    #[error("{0} blocks (Slack allows {MAX_BLOCKS})")]
    TooManyBlocks(usize),
    #[error("block {index}: {what} is {len} characters long (Slack allows {max})")]
    TooLong {
        index: usize,
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("block {index}: {count} {what} (Slack allows {max})")]
    TooMany {
        index: usize,
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("the blocks hold {0} characters of text (the limit is about {MAX_TOTAL_TEXT})")]
    TooMuchText(usize),
    #[error("the fallback text is {0} characters long (the limit is 40,000)")]
    FallbackTooLong(usize),
}

/// Length as Slack may count it (UTF-16 code units; never fewer than characters).
pub fn slack_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Escape `&`, `<` and `>` as Slack's mrkdwn (and `text`) requires.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// The Block Kit message (with its `text` fallback) for a Port event, within every limit.
pub fn build_message(ev: &PortEvent) -> Value {
    let header = match (ev.kind, ev.status.as_deref()) {
        (PortKind::ActionRun, _) => "Self-service action run :rocket:",
        (_, Some("FAILURE")) => "Change in Software Catalog :x:",
        _ => "Change in Software Catalog :white_check_mark:",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "divider"}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context_line(ev)}]}),
        json!({"type": "section", "fields": fields(ev)}),
    ];
    let mut sections: Vec<(String, String)> = Vec::new();
    if ev.before.is_some() && ev.after.is_some() {
        let lines: Vec<String> = ev.changes().iter().map(change_plain).collect();
        let label = format!("Changes ({})", lines.len());
        let diff = if lines.is_empty() {
            "(no changes)".to_string()
        } else {
            lines.join("\n")
        };
        sections.push((label, diff));
    }
    let (before_label, after_label) = match ev.kind {
        PortKind::ActionRun => (None, "Inputs"),
        _ => (Some("Before"), "After"),
    };
    if let Some(label) = before_label {
        sections.push((label.to_string(), pretty(ev.before.as_ref())));
    }
    sections.push((after_label.to_string(), pretty(ev.after.as_ref())));

    // Every section gets the same share of what the fixed blocks leave, capped per section.
    let fixed: usize = blocks.iter().map(block_text_len).sum();
    let share = (MAX_TOTAL_TEXT.saturating_sub(fixed) / sections.len()).min(MAX_SECTION);
    for (label, body) in sections {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": code_section(&label, &body, share)}}));
    }
    blocks.push(json!({"type": "divider"}));
    let msg = json!({
        "text": fallback(&ev.summary()),
        "blocks": blocks,
    });
    debug_assert_eq!(check_limits(&msg), Ok(()));
    msg
}

/// "Triggered by *user* · UI · 2024-06-09T12:28:18.477Z"
fn context_line(ev: &PortEvent) -> String {
    let mut s = format!(
        "Triggered by *{}*",
        escape(&clean(&ev.triggered_by, MAX_NAME))
    );
    for extra in [&ev.origin, &ev.at].into_iter().flatten() {
        s.push_str(" · ");
        s.push_str(&escape(&clean(extra, MAX_NAME)));
    }
    s
}

fn fields(ev: &PortEvent) -> Vec<Value> {
    let mut out = vec![
        ("Change type", Some(ev.action.clone())),
        ("Resource type", Some(ev.resource_type.clone())),
        ("Status", ev.status.clone()),
        ("Blueprint", ev.blueprint.clone()),
        (
            "Entity",
            match (&ev.entity, &ev.title) {
                (Some(id), Some(title)) if id != title => Some(format!("{id} ({title})")),
                (Some(id), _) => Some(id.clone()),
                (None, _) => None,
            },
        ),
    ];
    if ev.resource_type == "run"
        && let Some(id) = ev.run_id()
    {
        out.push(("Run", Some(id.to_string())));
    }
    out.into_iter()
        .filter_map(|(label, value)| {
            let value = value.filter(|v| !v.is_empty())?;
            Some(json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(&clean(&value, MAX_NAME)))}))
        })
        .take(MAX_FIELDS)
        .collect()
}

/// Real JSON, pretty-printed; `null` when absent.
fn pretty(v: Option<&Value>) -> String {
    match v {
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
        None => "null".to_string(),
    }
}

/// `*Label*\n```body````, cut (visibly) so that the whole text is at most `max` long.
fn code_section(label: &str, body: &str, max: usize) -> String {
    // Three backticks inside the body would end the code block early.
    let body = body.replace("```", "`\u{200b}``");
    let head = format!("*{label}*\n```");
    let tail = "```";
    let full = format!("{head}{}{tail}", escape(&body));
    if slack_len(&full) <= max {
        return full;
    }
    let total_chars = body.chars().count();
    let worst_marker = marker(total_chars);
    let budget = max.saturating_sub(slack_len(&head) + slack_len(tail) + slack_len(&worst_marker));
    let mut kept = String::new();
    let mut kept_chars = 0;
    let mut len = 0;
    let mut last_newline = None;
    for c in body.chars() {
        let mut one = String::new();
        push_escaped(&mut one, c.encode_utf8(&mut [0; 4]));
        let add = slack_len(&one);
        if len + add > budget {
            break;
        }
        if c == '\n' {
            last_newline = Some((kept.len(), kept_chars));
        }
        kept.push_str(&one);
        kept_chars += 1;
        len += add;
    }
    // Prefer ending on a whole line when one ended near the cut.
    if let Some((byte, chars)) = last_newline
        && kept_chars - chars < 200
    {
        kept.truncate(byte);
        kept_chars = chars;
    }
    format!("{head}{kept}{tail}{}", marker(total_chars - kept_chars))
}

/// `\n_… (truncated, 12,345 more characters)_`
fn marker(more: usize) -> String {
    format!("\n_… (truncated, {} more characters)_", thousands(more))
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The notification text: the summary line, escaped and bounded.
fn fallback(summary: &str) -> String {
    let text = escape(summary);
    if slack_len(&text) <= MAX_FALLBACK {
        return text;
    }
    let mut out = String::new();
    for c in summary.chars() {
        let mut one = String::new();
        push_escaped(&mut one, c.encode_utf8(&mut [0; 4]));
        if slack_len(&out) + slack_len(&one) + 1 > MAX_FALLBACK {
            break;
        }
        out.push_str(&one);
    }
    out.push('…');
    out
}

/// Every text a block holds (header, section text and fields, context elements).
fn block_texts(block: &Value) -> Vec<&str> {
    let mut texts = Vec::new();
    if let Some(t) = block.pointer("/text/text").and_then(Value::as_str) {
        texts.push(t);
    }
    for key in ["fields", "elements"] {
        for item in block
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = item.get("text").and_then(Value::as_str) {
                texts.push(t);
            }
        }
    }
    texts
}

fn block_text_len(block: &Value) -> usize {
    block_texts(block).into_iter().map(slack_len).sum()
}

/// Whether Slack would accept the message's size and shape (see the `MAX_*` limits).
pub fn check_limits(msg: &Value) -> Result<(), LimitError> {
    let blocks = msg.get("blocks").and_then(Value::as_array);
    let text = msg.get("text").and_then(Value::as_str);
    if !msg.is_object() || (blocks.is_none() && text.is_none()) {
        return Err(LimitError::Shape);
    }
    if let Some(text) = text
        && slack_len(text) > 40_000
    {
        return Err(LimitError::FallbackTooLong(slack_len(text)));
    }
    let blocks = blocks.map(Vec::as_slice).unwrap_or_default();
    if blocks.len() > MAX_BLOCKS {
        return Err(LimitError::TooManyBlocks(blocks.len()));
    }
    let mut total = 0;
    for (index, block) in blocks.iter().enumerate() {
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let text_len = block
            .pointer("/text/text")
            .and_then(Value::as_str)
            .map(slack_len);
        let text_max = match kind {
            "header" => Some(MAX_HEADER),
            "section" => Some(MAX_SECTION),
            "markdown" => Some(MAX_TOTAL_TEXT),
            _ => None,
        };
        if let (Some(len), Some(max)) = (text_len, text_max)
            && len > max
        {
            return Err(LimitError::TooLong {
                index,
                what: "the text",
                len,
                max,
            });
        }
        let counted = [
            ("fields", MAX_FIELDS, MAX_FIELD),
            ("elements", MAX_CONTEXT_ELEMENTS, usize::MAX),
        ];
        for (key, max_count, max_len) in counted {
            let items = block.get(key).and_then(Value::as_array);
            let items = items.map(Vec::as_slice).unwrap_or_default();
            let too_many = match (kind, key) {
                ("section", "fields") | ("context", "elements") => items.len() > max_count,
                _ => false,
            };
            if too_many {
                return Err(LimitError::TooMany {
                    index,
                    what: key,
                    count: items.len(),
                    max: max_count,
                });
            }
            for item in items {
                let len = item
                    .get("text")
                    .and_then(Value::as_str)
                    .map_or(0, slack_len);
                if len > max_len {
                    return Err(LimitError::TooLong {
                        index,
                        what: "a field",
                        len,
                        max: max_len,
                    });
                }
            }
        }
        total += block_text_len(block);
    }
    if total > MAX_TOTAL_TEXT {
        return Err(LimitError::TooMuchText(total));
    }
    Ok(())
}

/// A readable rendering of a message, for `--slack-preview`: the fallback text, then each
/// block as text (entities unescaped, fields one per line).
pub fn preview_text(msg: &Value) -> String {
    let mut out = String::new();
    if let Some(text) = msg.get("text").and_then(Value::as_str) {
        out.push_str(&format!("Notification text: {}\n", unescape(text)));
    }
    let blocks = msg.get("blocks").and_then(Value::as_array);
    for block in blocks.into_iter().flatten() {
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match kind {
            "divider" => out.push_str(&format!("{}\n", "─".repeat(60))),
            "header" => {
                let text = block
                    .pointer("/text/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                out.push_str(&format!("\n▌ {}\n", unescape(text)));
            }
            "context" | "section" | "markdown" => {
                for text in block_texts(block) {
                    let text = unescape(text);
                    if kind == "section" && block.get("fields").is_some() {
                        out.push_str(&format!("  {}\n", text.replacen('\n', ": ", 1)));
                    } else {
                        out.push_str(&format!("{text}\n"));
                    }
                }
            }
            _ => out.push_str(&format!("[{kind} block] {block}\n")),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
