//! Changes (`+ added`, `- removed`, `~ changed`) as coloured lines.

use ratatui::text::{Line, Span};

use crate::json_diff::Change;
use crate::sanitize::display_safe_bounded;
use crate::tui::json_view::compact_json;
use crate::tui::theme::Theme;

/// Characters shown of one value in a diff line.
const MAX_VALUE_CHARS: usize = 300;

/// One line per change.
pub fn change_lines(changes: &[Change], t: &Theme) -> Vec<Line<'static>> {
    changes
        .iter()
        .map(|c| {
            let path = |p: &str| {
                let p = if p.is_empty() { "(whole value)" } else { p };
                display_safe_bounded(p, 200).into_owned()
            };
            match c {
                Change::Added { path: p, value } => Line::from(vec![
                    Span::styled(format!("+ {}: ", path(p)), t.added()),
                    Span::styled(compact_json(value, MAX_VALUE_CHARS), t.added()),
                ]),
                Change::Removed { path: p, value } => Line::from(vec![
                    Span::styled(format!("- {}: ", path(p)), t.removed()),
                    Span::styled(compact_json(value, MAX_VALUE_CHARS), t.removed()),
                ]),
                Change::Changed {
                    path: p,
                    before,
                    after,
                } => Line::from(vec![
                    Span::styled(format!("~ {}: ", path(p)), t.changed()),
                    Span::styled(compact_json(before, MAX_VALUE_CHARS), t.removed()),
                    Span::raw(" → "),
                    Span::styled(compact_json(after, MAX_VALUE_CHARS), t.added()),
                ]),
            }
        })
        .collect()
}
