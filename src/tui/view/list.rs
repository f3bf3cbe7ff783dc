//! The delivery list: only the visible window of rows is built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row as TRow, Table};

use super::fit::ellipsize;
use super::{clock, latency};
use crate::sanitize::display_safe;
use crate::tui::model::{App, Row, RowStatus};
use crate::tui::theme::Theme;
use crate::verify::Outcome;

/// The first display position to show so that `sel` is inside a window of `h` rows.
pub(crate) fn window_start(offset: usize, sel: Option<usize>, h: usize, n: usize) -> usize {
    let h = h.max(1);
    let mut off = offset.min(n.saturating_sub(h));
    if let Some(p) = sel {
        if p < off {
            off = p;
        } else if p >= off + h {
            off = p + 1 - h;
        }
    }
    off
}

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut title = vec![Span::styled(
        format!(" Deliveries {}", app.rows.len()),
        t.title(),
    )];
    if !app.filter.is_empty() || app.filter_editing {
        title.push(Span::styled(
            format!(
                " · filter “{}” {}/{}",
                display_safe(&app.filter.text),
                app.visible_len(),
                app.rows.len()
            ),
            t.accent(),
        ));
    }
    title.push(Span::styled(
        if app.follow {
            " · following "
        } else {
            " · paused "
        },
        t.dim(),
    ));
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(title));
    let h = area.height.saturating_sub(1) as usize;
    let n = app.visible_len();
    let path_width = (area.width as usize).saturating_sub(FIXED_WIDTH);
    let sel = app.selected_pos();
    let start = window_start(app.list_offset, sel, h, n);
    let rows: Vec<TRow> = (start..(start + h).min(n))
        .filter_map(|pos| {
            let r = app.row_at(pos)?;
            let selected = Some(pos) == sel;
            let style = if selected {
                t.selected()
            } else {
                Style::default()
            };
            Some(row_cells(app, &app.rows[r], selected, path_width).style(style))
        })
        .collect();
    if n == 0 {
        let msg = if app.rows.is_empty() {
            "No deliveries yet: send a webhook to the channel URL above."
        } else {
            "No delivery matches the filter (Esc clears it)."
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Line::styled(msg, t.dim())).block(block),
            area,
        );
        return;
    }
    frame.render_widget(Table::new(rows, WIDTHS).block(block), area);
}

/// The columns: time, method, path (the rest of the width), event, signature, status, latency,
/// Slack.
const WIDTHS: [Constraint; 8] = [
    Constraint::Length(8),
    Constraint::Length(6),
    Constraint::Fill(1),
    Constraint::Length(EVENT_WIDTH as u16),
    Constraint::Length(9),
    Constraint::Length(7),
    Constraint::Length(6),
    Constraint::Length(5),
];
const EVENT_WIDTH: usize = 16;
/// The columns but the path, with the one-column gaps between all eight.
const FIXED_WIDTH: usize = 8 + 6 + EVENT_WIDTH + 9 + 7 + 6 + 5 + 7;

/// The path column: the sub-path when there is one, else what a Port event is about
/// (`entity (blueprint)`), else `/`.
fn path_cell(r: &Row, width: usize) -> String {
    let path = display_safe(&r.path);
    match &r.subject {
        Some(subject) if path == "/" => ellipsize(&display_safe(subject), width),
        _ => ellipsize(&path, width),
    }
}

fn row_cells(app: &App, r: &Row, selected: bool, path_width: usize) -> TRow<'static> {
    let t = &app.theme;
    // on the selected row's grey background, grey text would vanish
    let dim = if selected { Style::default() } else { t.dim() };
    let (badge, mut bstyle) = badge(t, r.verify);
    if selected && bstyle == t.dim() {
        bstyle = dim;
    }
    let (status, sstyle) = match r.status {
        RowStatus::Pending => ("…".to_string(), dim),
        RowStatus::Code(c) => (c.to_string(), t.status(c)),
        RowStatus::Error => ("ERR".to_string(), t.err()),
        RowStatus::Skipped => ("skip".to_string(), dim),
        RowStatus::Held => ("held".to_string(), t.warn()),
        RowStatus::Retrying(_) => ("retry".to_string(), dim),
    };
    let status = if r.attempts > 1 {
        format!("{status} ×{}", r.attempts)
    } else {
        status
    };
    let (slack, slstyle) = match r.slack {
        Some(true) => ("slack", t.ok()),
        Some(false) => ("SLACK", t.err()),
        None => ("", Style::default()),
    };
    TRow::new(vec![
        Cell::from(Span::styled(clock(app, r.received_at_ms), dim)),
        Cell::from(ellipsize(&display_safe(&r.method), 6)),
        Cell::from(path_cell(r, path_width)),
        Cell::from(Span::styled(
            ellipsize(&display_safe(r.event.as_deref().unwrap_or("")), EVENT_WIDTH),
            t.accent(),
        )),
        Cell::from(Span::styled(badge, bstyle)),
        Cell::from(Span::styled(status, sstyle)),
        Cell::from(r.latency_ms.map(latency).unwrap_or_default()),
        Cell::from(Span::styled(slack, slstyle)),
    ])
}

/// The verification badge and its style.
pub(crate) fn badge(t: &Theme, o: Option<Outcome>) -> (&'static str, Style) {
    match o {
        None => ("-", t.dim()),
        Some(Outcome::Valid) => ("✓ valid", t.ok()),
        Some(Outcome::Invalid) => ("✗ INVALID", t.err()),
        Some(Outcome::Stale) => ("✗ stale", t.warn()),
        Some(Outcome::Future) => ("✗ future", t.warn()),
        Some(Outcome::MissingHeader) => ("✗ no sig", t.err()),
        Some(Outcome::MalformedHeader) => ("✗ bad hdr", t.err()),
        Some(Outcome::NoSecret) => ("no secret", t.dim()),
        Some(Outcome::Reserialized) => ("? reser.", t.warn()),
        Some(Outcome::Unsigned) => ("unsigned", t.dim()),
        Some(Outcome::ValidAfterReserialization) => ("! rebuilt", t.warn()),
    }
}

#[cfg(test)]
mod tests {
    use super::window_start;

    #[test]
    fn window_follows_selection() {
        assert_eq!(window_start(0, Some(0), 5, 100), 0);
        assert_eq!(window_start(0, Some(7), 5, 100), 3);
        assert_eq!(window_start(10, Some(7), 5, 100), 7);
        assert_eq!(window_start(99, None, 5, 10), 5);
    }
}
