//! Rendering: a pure function of [`App`]. One file per part of the screen.

mod detail;
pub(crate) mod diff_lines;
pub(crate) mod fit;
mod header;
mod list;
mod overlay;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::model::App;
use crate::sanitize::display_safe;

pub use diff_lines::change_lines;
pub(crate) use list::window_start;

/// Header lines at the top.
pub const HEADER_HEIGHT: u16 = 3;

/// Where each part of the screen goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    /// The list block (title line included); `None` while the detail is zoomed.
    pub list: Option<Rect>,
    pub detail: Rect,
    pub footer: Rect,
}

/// The layout of a screen of size `area`.
pub fn layout(app: &App, area: Rect) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(HEADER_HEIGHT),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if app.detail_focus {
        return Areas {
            header,
            list: None,
            detail: body,
            footer,
        };
    }
    let list_h = (body.height * 2 / 5).max(5.min(body.height));
    let [list, detail] =
        Layout::vertical([Constraint::Length(list_h), Constraint::Fill(1)]).areas(body);
    Areas {
        header,
        list: Some(list),
        detail,
        footer,
    }
}

/// How many list rows fit on a screen of size `area` (for [`App::list_height`]).
pub fn list_rows(app: &App, area: Rect) -> usize {
    layout(app, area)
        .list
        .map_or(0, |r| r.height.saturating_sub(1) as usize)
}

/// What drawing found out that the state needs (the loop folds it back in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The largest detail scroll offset that still shows something new.
    pub detail_max_scroll: usize,
}

/// Draw the whole UI.
pub fn render(app: &App, frame: &mut Frame) {
    draw(app, frame);
}

/// Draw the whole UI and report what the state needs to know (the live loop uses this).
pub fn draw(app: &App, frame: &mut Frame) -> Drawn {
    let areas = layout(app, frame.area());
    header::render(app, frame, areas.header);
    if let Some(list) = areas.list {
        list::render(app, frame, list);
    }
    let detail_max_scroll = detail::render(app, frame, areas.detail);
    render_footer(app, frame, areas.footer);
    overlay::render(app, frame, frame.area());
    Drawn { detail_max_scroll }
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let line = if app.filter_editing {
        Line::from(vec![
            Span::styled("/", t.accent()),
            Span::raw(display_safe(&app.filter.text).into_owned()),
            Span::styled("▏", t.accent()),
            Span::styled("  Enter keep · Esc clear", t.dim()),
        ])
    } else if let Some(msg) = app.current_status() {
        let style = if msg.error { t.err() } else { t.ok() };
        Line::styled(display_safe(&msg.text).into_owned(), style)
    } else {
        Line::styled(key_hints(area.width as usize), t.dim())
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The footer's key hints: as many whole ones as fit in `width` columns.
fn key_hints(width: usize) -> String {
    const HINTS: [&str; 9] = [
        "? help",
        "q quit",
        "r replay",
        "R re-sign",
        "e edit",
        "/ filter",
        "c curl",
        "m mark",
        "d diff",
    ];
    let mut out = String::new();
    for h in HINTS {
        let sep = if out.is_empty() { "" } else { " · " };
        if out.chars().count() + sep.chars().count() + h.chars().count() > width {
            break;
        }
        out.push_str(sep);
        out.push_str(h);
    }
    out
}

/// A time of day, `HH:MM:SS`, with the app's UTC offset.
pub(crate) fn clock(app: &App, ms: i64) -> String {
    fmt_time(app, ms, "%H:%M:%S")
}

/// A full timestamp, `2024-01-02 15:04:05.123`, with the app's UTC offset.
pub(crate) fn timestamp(app: &App, ms: i64) -> String {
    fmt_time(app, ms, "%Y-%m-%d %H:%M:%S%.3f")
}

fn fmt_time(app: &App, ms: i64, fmt: &str) -> String {
    crate::human::with_offset(ms, app.tz_offset_s, fmt)
}

/// A latency, `12ms` or `1.5s`.
pub(crate) fn latency(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}
