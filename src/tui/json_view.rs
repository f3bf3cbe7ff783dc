//! Bodies as screen lines: JSON pretty-printed with syntax colours, text as is, binary as a hex
//! dump; always bounded (first [`MAX_BODY_BYTES`], first N lines, long lines cut) with a visible
//! "… truncated" line. All payload text goes through [`display_safe`].

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use serde_json::Value;

use super::theme::Theme;
use crate::sanitize::{display_safe, display_safe_bounded};

/// Bytes of a body looked at for display.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Characters shown of one line (or one JSON string).
pub const MAX_LINE_CHARS: usize = 2_000;

/// What a body looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Json,
    Text,
    Binary,
}

/// The UTF-8 text of a body prefix, allowing a character cut at the end of the prefix.
fn text_of(prefix: &[u8], cut: bool) -> Option<&str> {
    match std::str::from_utf8(prefix) {
        Ok(s) => Some(s),
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

/// Classify a body (looking at most at [`MAX_BODY_BYTES`]).
pub fn classify(body: &[u8]) -> BodyKind {
    if body.is_empty() {
        return BodyKind::Empty;
    }
    let cut = body.len() > MAX_BODY_BYTES;
    let prefix = &body[..body.len().min(MAX_BODY_BYTES)];
    match text_of(prefix, cut) {
        Some(s) if !s.contains('\0') => {
            if !cut && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
                BodyKind::Json
            } else {
                BodyKind::Text
            }
        }
        _ => BodyKind::Binary,
    }
}

/// The lines showing a body: pretty JSON unless `raw`, text, or hex; at most `max_lines` (plus
/// one "… truncated" line).
pub fn body_lines(body: &[u8], raw: bool, theme: &Theme, max_lines: usize) -> Vec<Line<'static>> {
    let cut = body.len() > MAX_BODY_BYTES;
    let prefix = &body[..body.len().min(MAX_BODY_BYTES)];
    let (mut lines, more) = match classify(body) {
        BodyKind::Empty => return vec![Line::styled("(empty body)", theme.dim())],
        BodyKind::Json if !raw => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            pretty_json(&v, theme, max_lines)
        }
        BodyKind::Json | BodyKind::Text => {
            text_lines(text_of(prefix, cut).unwrap_or_default(), max_lines)
        }
        BodyKind::Binary => hex_lines(prefix, max_lines),
    };
    if more || cut {
        lines.push(Line::styled(
            format!(
                "… truncated (body is {} bytes; `y` copies it whole)",
                body.len()
            ),
            theme.warn(),
        ));
    }
    lines
}

/// Text split into lines, each sanitized and bounded. Returns whether lines were left out.
pub fn text_lines(s: &str, max_lines: usize) -> (Vec<Line<'static>>, bool) {
    let mut it = s.split('\n');
    let lines: Vec<Line<'static>> = it
        .by_ref()
        .take(max_lines)
        .map(|l| Line::raw(display_safe_bounded(l, MAX_LINE_CHARS).into_owned()))
        .collect();
    (lines, it.next().is_some())
}

/// A hex dump, 16 bytes a line, printable ASCII on the right.
pub fn hex_lines(b: &[u8], max_lines: usize) -> (Vec<Line<'static>>, bool) {
    let lines = b
        .chunks(16)
        .take(max_lines)
        .enumerate()
        .map(|(i, chunk)| {
            let mut hex = String::with_capacity(50);
            for (j, byte) in chunk.iter().enumerate() {
                if j == 8 {
                    hex.push(' ');
                }
                hex.push_str(&format!("{byte:02x} "));
            }
            let ascii: String = chunk
                .iter()
                .map(|&c| {
                    if (0x20..0x7f).contains(&c) {
                        c as char
                    } else {
                        '.'
                    }
                })
                .collect();
            Line::raw(format!("{:08x}  {hex:<49} |{ascii}|", i * 16))
        })
        .collect();
    (lines, b.len().div_ceil(16) > max_lines)
}

/// A JSON value pretty-printed (2-space indent) with colours. Returns whether lines were left out.
pub fn pretty_json(v: &Value, theme: &Theme, max_lines: usize) -> (Vec<Line<'static>>, bool) {
    let mut p = Pretty {
        theme,
        lines: Vec::new(),
        cur: Vec::new(),
        max_lines,
        full: false,
    };
    p.value(v, 0);
    p.end_line();
    let full = p.full;
    (p.lines, full)
}

/// A JSON value on one line, sanitized and bounded (for diffs).
pub fn compact_json(v: &Value, max_chars: usize) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    display_safe_bounded(&s, max_chars).into_owned()
}

struct Pretty<'t> {
    theme: &'t Theme,
    lines: Vec<Line<'static>>,
    cur: Vec<Span<'static>>,
    max_lines: usize,
    full: bool,
}

impl Pretty<'_> {
    fn push(&mut self, s: impl Into<String>, style: Style) {
        self.cur.push(Span::styled(s.into(), style));
    }

    fn end_line(&mut self) {
        if self.lines.len() >= self.max_lines {
            self.full = true;
            self.cur.clear();
            return;
        }
        if !self.cur.is_empty() {
            self.lines.push(Line::from(std::mem::take(&mut self.cur)));
        }
    }

    fn indent(&mut self, n: usize) {
        self.push("  ".repeat(n), Style::default());
    }

    fn string(&mut self, s: &str, style: Style) {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        self.push(
            display_safe_bounded(&quoted, MAX_LINE_CHARS).into_owned(),
            style,
        );
    }

    fn value(&mut self, v: &Value, depth: usize) {
        if self.full {
            return;
        }
        let t = *self.theme;
        match v {
            Value::Null => self.push("null", t.json_literal()),
            Value::Bool(b) => self.push(b.to_string(), t.json_literal()),
            Value::Number(n) => {
                self.push(display_safe(&n.to_string()).into_owned(), t.json_number())
            }
            Value::String(s) => self.string(s, t.json_string()),
            Value::Array(a) if a.is_empty() => self.push("[]", Style::default()),
            Value::Object(o) if o.is_empty() => self.push("{}", Style::default()),
            Value::Array(a) => {
                self.push("[", Style::default());
                self.end_line();
                for (i, x) in a.iter().enumerate() {
                    if self.full {
                        return;
                    }
                    self.indent(depth + 1);
                    self.value(x, depth + 1);
                    if i + 1 < a.len() {
                        self.push(",", Style::default());
                    }
                    self.end_line();
                }
                self.indent(depth);
                self.push("]", Style::default());
            }
            Value::Object(o) => {
                self.push("{", Style::default());
                self.end_line();
                for (i, (k, x)) in o.iter().enumerate() {
                    if self.full {
                        return;
                    }
                    self.indent(depth + 1);
                    self.string(k, t.json_key());
                    self.push(": ", Style::default());
                    self.value(x, depth + 1);
                    if i + 1 < o.len() {
                        self.push(",", Style::default());
                    }
                    self.end_line();
                }
                self.indent(depth);
                self.push("}", Style::default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn pretty_and_bounded() {
        let t = Theme::default();
        let body = br#"{"a":[1,2.50],"b":{},"c":"x\u001b[31m"}"#;
        assert_eq!(classify(body), BodyKind::Json);
        let l = text(&body_lines(body, false, &t, 100));
        assert_eq!(
            l,
            [
                "{",
                "  \"a\": [",
                "    1,",
                "    2.50",
                "  ],",
                "  \"b\": {},",
                "  \"c\": \"x\\u001b[31m\"",
                "}"
            ]
        );
        let l = text(&body_lines(body, false, &t, 3));
        assert_eq!(l.len(), 4);
        assert!(l[3].starts_with("… truncated"));
        let raw = text(&body_lines(body, true, &t, 100));
        assert_eq!(raw, [String::from_utf8(body.to_vec()).unwrap()]);
    }

    #[test]
    fn binary_is_hex() {
        let t = Theme::default();
        let body = [0u8, 1, 0xff, b'A', 0x1b];
        assert_eq!(classify(&body), BodyKind::Binary);
        let l = text(&body_lines(&body, false, &t, 10));
        assert_eq!(l, [format!("00000000  {:<49} |...A.|", "00 01 ff 41 1b ")]);
    }
}
