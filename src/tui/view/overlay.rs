//! Windows over the main screen: the key help and a comparison.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::change_lines;
use crate::sanitize::display_safe;
use crate::tui::keymap::help_table;
use crate::tui::model::{App, CompareView, Overlay};

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    match &app.overlay {
        None => {}
        Some(Overlay::Help) => help(app, frame, area),
        Some(Overlay::Compare { view, scroll }) => compare(app, frame, area, view, *scroll),
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(r);
    r
}

fn help(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let rows: Vec<(&str, &str)> = help_table().collect();
    let key_w = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(k, h)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_w$}  "), t.accent()),
                Span::raw(*h),
            ])
        })
        .collect();
    let r = centered(area, 76, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(" Keys (Esc closes) ", t.title())),
        ),
        r,
    );
}

fn compare(app: &App, frame: &mut Frame, area: Rect, view: &CompareView, scroll: usize) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for s in &view.sections {
        lines.push(Line::styled(s.name.clone(), t.title()));
        lines.extend(change_lines(&s.changes, t));
        if let Some(n) = &s.note {
            lines.push(Line::styled(format!("  {}", display_safe(n)), t.dim()));
        }
        lines.push(Line::raw(""));
    }
    let w = area.width.saturating_sub(4).max(20);
    let h = area.height.saturating_sub(2).max(5);
    let r = centered(area, w, h);
    let inner_h = r.height.saturating_sub(2) as usize;
    let start = scroll.min(lines.len().saturating_sub(inner_h));
    let inner_w = r.width.saturating_sub(2) as usize;
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(start)
        .take(inner_h)
        .map(|l| super::fit::fit_line(l, inner_w))
        .collect();
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(Span::styled(
            format!(" Compare {} (Esc closes) ", display_safe(&view.title)),
            t.title(),
        ))),
        r,
    );
}
