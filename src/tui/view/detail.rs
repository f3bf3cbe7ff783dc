//! The detail pane: tabs for the request, the target's responses, the Port diff,
//! the verification and Slack.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fit::{fit_line, text_width, wrap_text};
use super::{latency, timestamp};
use crate::delivery::{Attempt, AttemptOutcome, BodyOrigin, Delivery, Headers};
use crate::sanitize::{display_safe, display_safe_bounded};
use crate::tui::detail_view::{DetailView, shown_body};
use crate::tui::model::{App, Tab};

/// Lines of each response body shown at most.
const MAX_RESPONSE_LINES: usize = 200;
/// Characters of a header value shown.
const MAX_HEADER_CHARS: usize = 1_000;

/// Draw the detail pane; returns the largest useful scroll offset (lines past one screen).
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) -> usize {
    let t = &app.theme;
    let mut title = vec![Span::raw(" ")];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let style = if *tab == app.tab {
            t.selected()
        } else {
            t.dim()
        };
        title.push(Span::styled(format!("{} {}", i + 1, tab.title()), style));
        title.push(Span::raw(" "));
    }
    if let Some(row) = app.selected_row() {
        title.push(Span::styled(format!(" {} ", row.id), t.dim()));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(title));
    let lines = match (app.selected_row(), app.selected_delivery()) {
        (None, _) => vec![Line::styled(
            "Nothing selected. Deliveries show here as they arrive.",
            t.dim(),
        )],
        (Some(_), None) => vec![Line::styled("loading…", t.dim())],
        (Some(_), Some(d)) => {
            let width = area.width as usize;
            // The loop built the view before this frame (`App::sync_view`); a state it never
            // synced (a test rendering a hand-made state) gets one built for this frame alone.
            let built;
            let view = match &app.view {
                Some(v) if v.is_for(&d.id, app.raw, width) => v.as_ref(),
                _ => {
                    built = DetailView::build(d, app.raw, width, &app.theme);
                    &built
                }
            };
            match app.tab {
                Tab::Request => request(app, d, view),
                Tab::Response => responses(app, d, width),
                Tab::Diff => diff(app, view),
                Tab::Verification => verification(app, d, width),
                Tab::Slack => slack(app, d, view, width),
            }
        }
    };
    let h = area.height.saturating_sub(1) as usize;
    let max_scroll = lines.len().saturating_sub(h);
    let start = app.detail_scroll.min(max_scroll);
    let width = area.width as usize;
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(start)
        .take(h)
        .map(|l| fit_line(l, width))
        .collect();
    frame.render_widget(Paragraph::new(shown).block(block), area);
    max_scroll
}

fn header_lines(app: &App, headers: &Headers) -> Vec<Line<'static>> {
    headers
        .iter()
        .map(|(n, v)| {
            Line::from(vec![
                Span::styled(
                    display_safe_bounded(n, 200).into_owned(),
                    app.theme.accent(),
                ),
                Span::raw(": "),
                Span::raw(display_safe_bounded(v, MAX_HEADER_CHARS).into_owned()),
            ])
        })
        .collect()
}

fn request(app: &App, d: &Delivery, view: &DetailView) -> Vec<Line<'static>> {
    let t = &app.theme;
    let r = &d.request;
    let origin = match &d.origin {
        BodyOrigin::Exact => Span::styled("exact bytes", t.ok()),
        BodyOrigin::Reserialized { relay } => Span::styled(
            format!(
                "rebuilt from JSON by {} (signatures cannot match)",
                display_safe(relay)
            ),
            t.warn(),
        ),
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled(display_safe(&r.method).into_owned(), t.title()),
            Span::raw(" "),
            Span::raw(display_safe_bounded(&r.path_and_query(), 2_000).into_owned()),
        ]),
        Line::from(vec![
            Span::styled(
                format!(
                    "{} · {} bytes · ",
                    timestamp(app, d.received_at_ms),
                    r.body.len()
                ),
                t.dim(),
            ),
            origin,
            Span::styled(if app.raw { " · raw (v)" } else { "" }, t.dim()),
        ]),
        Line::raw(""),
    ];
    out.extend(header_lines(app, &r.headers));
    out.push(Line::raw(""));
    out.extend(view.body.iter().cloned());
    out
}

/// The head of one attempt: `▶ #2 replay 200 · 48ms · <time> → <target>` on one line when it
/// fits in `width`; else the target, then an error message, go on lines of their own, so a
/// URL is never cut by the edge of the screen.
fn attempt_head(app: &App, i: usize, a: &Attempt, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let cursor = if i == app.attempt_cursor {
        "▶ "
    } else {
        "  "
    };
    let kind = match (a.replay, a.sent.as_ref().is_some_and(|s| s.resigned)) {
        (true, true) => "replay (re-signed)",
        (true, false) => "replay",
        (false, _) => "forward",
    };
    let (status, style, message) = match &a.outcome {
        AttemptOutcome::Response { status, .. } => (status.to_string(), t.status(*status), None),
        AttemptOutcome::Error { message, .. } => (
            "error".to_string(),
            t.err(),
            Some(display_safe_bounded(message, 300).into_owned()),
        ),
    };
    let target = display_safe_bounded(&a.target, 500).into_owned();
    let mut head = vec![
        Span::styled(format!("{cursor}#{} {kind} ", i + 1), t.title()),
        Span::styled(status, style),
        Span::styled(
            format!(
                " · {} · {}",
                latency(a.latency_ms),
                timestamp(app, a.started_at_ms)
            ),
            t.dim(),
        ),
    ];
    let one_line = Line::from(head.clone()).width()
        + message.as_ref().map_or(0, |m| 2 + text_width(m))
        + 3
        + text_width(&target);
    if one_line <= width {
        if let Some(m) = message {
            head.push(Span::styled(format!(": {m}"), style));
        }
        head.push(Span::styled(" → ", t.dim()));
        head.push(Span::raw(target));
        return vec![Line::from(head)];
    }
    let mut out = vec![Line::from(head)];
    for (j, row) in wrap_text(&target, width.saturating_sub(4).max(20))
        .into_iter()
        .enumerate()
    {
        let lead = if j == 0 { "  → " } else { "    " };
        out.push(Line::from(vec![
            Span::styled(lead, t.dim()),
            Span::raw(row),
        ]));
    }
    if let Some(m) = message {
        out.extend(wrapped_field(app, "  error: ", &m, (width, 9), style));
    }
    out
}

/// Every attempt, newest first: after a replay its answer is the first thing on the tab.
fn responses(app: &App, d: &Delivery, width: usize) -> Vec<Line<'static>> {
    if d.attempts.is_empty() {
        return vec![Line::styled("Not forwarded yet.", app.theme.dim())];
    }
    let mut out = Vec::new();
    for (i, a) in d.attempts.iter().enumerate().rev() {
        out.extend(attempt_head(app, i, a, width));
        if let AttemptOutcome::Response {
            headers,
            body,
            body_size,
            ..
        } = &a.outcome
        {
            out.extend(header_lines(app, headers));
            out.push(Line::raw(""));
            out.extend(shown_body(
                body,
                app.raw,
                &app.theme,
                width,
                MAX_RESPONSE_LINES,
            ));
            if *body_size > body.len() as u64 {
                out.push(Line::styled(
                    format!("… response body cut at {} of {body_size} bytes", body.len()),
                    app.theme.warn(),
                ));
            }
        }
        out.push(Line::raw(""));
    }
    out
}

fn diff(app: &App, view: &DetailView) -> Vec<Line<'static>> {
    let t = &app.theme;
    let Some((head, changes)) = &view.diff else {
        return vec![Line::styled(
            "No Port diff in this delivery (diff.before / diff.after).",
            t.dim(),
        )];
    };
    let mut out = vec![Line::styled(head.clone(), t.title()), Line::raw("")];
    if changes.is_empty() {
        out.push(Line::styled("No property changed.", t.dim()));
    }
    out.extend(changes.iter().cloned());
    out
}

fn is_signature_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("signature")
        || n.contains("timestamp")
        || n.starts_with("webhook-")
        || n.starts_with("svix-")
}

/// A `key  value` field whose value wraps at word boundaries to `width` columns.
fn wrapped_field(
    app: &App,
    key: &str,
    value: &str,
    (width, key_width): (usize, usize),
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let room = width.saturating_sub(key_width).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in value.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    lines.push(cur);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let k = if i == 0 { key } else { "" };
            Line::from(vec![
                Span::styled(format!("{k:<key_width$}"), app.theme.dim()),
                Span::styled(text, style),
            ])
        })
        .collect()
}

fn verification(app: &App, d: &Delivery, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let field =
        |k: &str, v: Span<'static>| Line::from(vec![Span::styled(format!("{k:<10}"), t.dim()), v]);
    let mut out = Vec::new();
    match &d.verification {
        None => out.push(Line::styled(
            "Not verified (no verification configured).",
            t.dim(),
        )),
        Some(v) => {
            let (badge, style) = super::list::badge(t, Some(v.outcome));
            let scheme = v
                .scheme
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|s| s.as_str().map(str::to_string))
                .unwrap_or_else(|| "none".into());
            out.push(field("scheme", Span::raw(scheme)));
            out.push(field("outcome", Span::styled(badge, style)));
            out.extend(wrapped_field(
                app,
                "reason",
                &display_safe_bounded(&v.reason, 1_000),
                (width, 10),
                ratatui::style::Style::default(),
            ));
        }
    }
    out.push(field(
        "received",
        Span::raw(timestamp(app, d.received_at_ms)),
    ));
    out.push(field(
        "body",
        Span::raw(match &d.origin {
            BodyOrigin::Exact => "exact bytes".to_string(),
            BodyOrigin::Reserialized { relay } => {
                format!("rebuilt from JSON by {}", display_safe(relay))
            }
        }),
    ));
    let sig: Headers = d
        .request
        .headers
        .iter()
        .filter(|(n, _)| is_signature_header(n))
        .cloned()
        .collect();
    out.push(Line::raw(""));
    if sig.is_empty() {
        out.push(Line::styled("No signature or timestamp headers.", t.dim()));
    } else {
        out.push(Line::styled("Signature and timestamp headers:", t.title()));
        out.extend(header_lines(app, &sig));
    }
    out
}

fn slack(app: &App, d: &Delivery, view: &DetailView, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let field =
        |k: &str, v: Span<'static>| Line::from(vec![Span::styled(format!("{k:<12}"), t.dim()), v]);
    let mut out = match &d.slack {
        None => vec![Line::styled(
            "Not sent to Slack (no webhook configured, or not a Port event).",
            t.dim(),
        )],
        Some(s) => vec![
            field(
                "result",
                if s.ok {
                    Span::styled("sent", t.ok())
                } else {
                    Span::styled("FAILED", t.err())
                },
            ),
            field(
                "HTTP status",
                Span::raw(s.status.map_or("-".to_string(), |c| c.to_string())),
            ),
            field(
                "error",
                Span::raw(
                    display_safe_bounded(s.error.as_deref().unwrap_or("-"), 300).into_owned(),
                ),
            ),
        ]
        .into_iter()
        .chain(wrapped_field(
            app,
            "explanation",
            &display_safe_bounded(&s.explanation, 1_000),
            (width, 12),
            ratatui::style::Style::default(),
        ))
        .collect(),
    };
    // the message itself, built from the payload with the view (small bodies only)
    if !view.slack.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled("Message:", t.title()));
        out.extend(view.slack.iter().cloned().map(Line::raw));
    }
    out
}
