//! Fitting text to columns: a line too wide is cut with `…` (never silently), and the raw view
//! wraps instead. Widths are display columns (a CJK character takes two).

use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// The cut mark.
pub const ELLIPSIS: &str = "…";

/// `s` in at most `width` columns: as is when it fits, else cut with `…` as the last column.
pub fn ellipsize(s: &str, width: usize) -> String {
    if text_width(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let (kept, _) = split_at_width(s, width - 1);
    format!("{kept}{ELLIPSIS}")
}

/// `line` in at most `width` columns: as is when it fits, else cut with a `…` in the style of
/// the span it cuts.
pub fn fit_line(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width || width == 0 {
        return line;
    }
    let Line {
        spans,
        style,
        alignment,
    } = line;
    let mut room = width - 1;
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut mark_style = ratatui::style::Style::default();
    for span in spans {
        let w = span.width();
        mark_style = span.style;
        if w <= room {
            room -= w;
            out.push(span);
            continue;
        }
        let (kept, _) = split_at_width(&span.content, room);
        if !kept.is_empty() {
            out.push(Span::styled(kept.to_string(), span.style));
        }
        break;
    }
    out.push(Span::styled(ELLIPSIS, mark_style));
    Line {
        spans: out,
        style,
        alignment,
    }
}

/// `text` (already made safe) in rows of at most `width` columns, cut anywhere (a raw body has
/// no words to keep whole). An empty text is one empty row.
pub fn wrap_text(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut rest = text;
    loop {
        let (row, tail) = split_at_width(rest, width);
        if row.is_empty() && !tail.is_empty() {
            // a character wider than the row: give it a row of its own
            let c = tail.chars().next().map_or(0, char::len_utf8);
            rows.push(tail[..c].to_string());
            rest = &tail[c..];
        } else {
            rows.push(row.to_string());
            rest = tail;
        }
        if rest.is_empty() {
            return rows;
        }
    }
}

/// The display width of `s`.
pub fn text_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// The longest prefix of `s` at most `width` columns wide, and the rest.
fn split_at_width(s: &str, width: usize) -> (&str, &str) {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            return s.split_at(i);
        }
        used += w;
    }
    (s, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_ends_in_an_ellipsis() {
        assert_eq!(ellipsize("free_storage 0.5 -> 0.9", 12), "free_storag…");
        assert_eq!(ellipsize("short", 12), "short");
        assert_eq!(ellipsize("日本語", 4), "日…");
        let l = fit_line(Line::from(vec![Span::raw("abc"), Span::raw("defgh")]), 6);
        assert_eq!(l.to_string(), "abcde…");
        assert_eq!(l.width(), 6);
    }

    #[test]
    fn wrapping_keeps_every_character() {
        let s = "x".repeat(250);
        let rows = wrap_text(&s, 120);
        assert_eq!(
            rows.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [120, 120, 10]
        );
        assert_eq!(wrap_text("", 10), [""]);
        assert_eq!(wrap_text("日本語", 1), ["日", "本", "語"]);
    }
}
