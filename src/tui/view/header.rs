//! The header: connection state, channel URL (on its own, easy to select), target,
//! verification mode, counts and the store path.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::events::ConnState;
use crate::sanitize::display_safe;
use crate::tui::model::App;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let state = match &app.conn {
        ConnState::Connecting => Span::styled("◌ connecting…", t.warn()),
        ConnState::Connected => Span::styled("● connected", t.ok()),
        ConnState::Reconnecting { reason, .. } => Span::styled(
            format!(
                "○ reconnecting in {}s ({})",
                app.reconnect_in_s().unwrap_or(0),
                display_safe(reason)
            ),
            t.err(),
        ),
    };
    let l1 = Line::from(vec![
        state,
        Span::raw("  "),
        Span::styled(
            display_safe(&app.header.channel_url).into_owned(),
            t.title(),
        ),
    ]);
    let l2 = Line::from(vec![
        Span::styled("→ ", t.dim()),
        Span::raw(display_safe(&app.header.target).into_owned()),
        Span::styled("  verify: ", t.dim()),
        Span::raw(display_safe(&app.header.verify_mode).into_owned()),
    ]);
    let c = &app.counts;
    let mut l3 = vec![
        Span::styled("received ", t.dim()),
        Span::raw(c.received.to_string()),
        Span::styled(" · ok ", t.dim()),
        Span::styled(c.forwarded_ok.to_string(), t.ok()),
        Span::styled(" · failed ", t.dim()),
        Span::styled(
            c.failed.to_string(),
            if c.failed > 0 { t.err() } else { t.dim() },
        ),
        Span::styled(" · bad sig ", t.dim()),
        Span::styled(
            c.bad_signatures.to_string(),
            if c.bad_signatures > 0 {
                t.err()
            } else {
                t.dim()
            },
        ),
        Span::styled(" · store: ", t.dim()),
        Span::raw(match &app.header.store_path {
            Some(p) => display_safe(p).into_owned(),
            None => "memory only".into(),
        }),
    ];
    if app.dropped > 0 {
        l3.push(Span::styled(
            format!(" · {} oldest not in view", app.dropped),
            t.dim(),
        ));
    }
    let width = area.width as usize;
    let lines: Vec<Line> = [l1, l2, Line::from(l3)]
        .into_iter()
        .map(|l| super::fit::fit_line(l, width))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
