//! The selected delivery's view: the parts of the detail pane that cost something to build (the
//! request body as lines, the Port diff, the Slack message), built once when the selected
//! delivery is loaded (again only when `v` or the pane's width changes), bounded, and dropped
//! when the selection moves (issue 16). The loop calls [`App::sync_view`] before it draws;
//! rendering only reads [`App::view`], so a frame never parses a body.
//!
//! [`App::sync_view`]: super::model::App::sync_view
//! [`App::view`]: super::model::App::view

use ratatui::text::Line;

use super::json_view::{BodyKind, MAX_BODY_BYTES, body_lines, classify};
use super::port_view;
use super::theme::Theme;
use super::view::diff_lines::change_lines;
use super::view::fit::wrap_text;
use crate::delivery::Delivery;
use crate::sanitize::{display_safe, display_safe_bounded};

/// Lines of a request body shown at most.
pub const MAX_BODY_LINES: usize = 5_000;
/// Lines of a Port diff shown at most.
pub const MAX_DIFF_LINES: usize = 5_000;
/// Bodies larger than this get no Slack message preview (it parses the body whole).
const MAX_SLACK_PREVIEW_BODY: usize = 256 << 10;

/// What the detail pane shows of one delivery, as built for one `v` setting and pane width.
#[derive(Debug)]
pub struct DetailView {
    pub id: String,
    pub raw: bool,
    pub width: usize,
    /// The request body (at most [`MAX_BODY_LINES`], then a "… truncated" line).
    pub body: Vec<Line<'static>>,
    /// The Port diff: its headline and its change lines; `None` when the body is no Port event.
    pub diff: Option<(String, Vec<Line<'static>>)>,
    /// The Slack message hookrelay would post, as text lines (a Port event's only).
    pub slack: Vec<String>,
    /// The size of the body it was built from.
    pub body_len: usize,
}

impl DetailView {
    /// Build the view of `d` (bounded: see the limits above).
    pub fn build(d: &Delivery, raw: bool, width: usize, theme: &Theme) -> DetailView {
        let body = &d.request.body;
        let port = port_view::port_event(body);
        let diff = port.as_ref().map(|ev| {
            let changes = ev.changes();
            let mut lines = change_lines(&changes, theme);
            if lines.len() > MAX_DIFF_LINES {
                lines.truncate(MAX_DIFF_LINES);
                lines.push(Line::styled(
                    format!(
                        "… {} changes, the first {MAX_DIFF_LINES} shown",
                        changes.len()
                    ),
                    theme.warn(),
                ));
            }
            let head = format!(
                "{} · {} change{}",
                display_safe_bounded(&ev.summary(), 300),
                changes.len(),
                if changes.len() == 1 { "" } else { "s" }
            );
            (head, lines)
        });
        let slack = port
            .as_ref()
            .filter(|_| body.len() <= MAX_SLACK_PREVIEW_BODY)
            .map(|ev| {
                crate::slack::preview_text(&port_view::slack_message(ev))
                    .lines()
                    .take(200)
                    .map(|l| format!("  {}", display_safe_bounded(l, 400)))
                    .collect()
            })
            .unwrap_or_default();
        drop(port);
        DetailView {
            id: d.id.clone(),
            raw,
            width,
            body: shown_body(body, raw, theme, width, MAX_BODY_LINES),
            diff,
            slack,
            body_len: body.len(),
        }
    }

    /// Whether this view shows delivery `id` as `v` and the width now want it.
    pub fn is_for(&self, id: &str, raw: bool, width: usize) -> bool {
        self.id == id && self.raw == raw && self.width == width
    }
}

/// A body as the view shows it: the raw view wraps text at `width` (a one-line body is read
/// whole), the others are [`body_lines`] (pretty JSON, text, hex).
pub fn shown_body(
    body: &[u8],
    raw: bool,
    theme: &Theme,
    width: usize,
    max_lines: usize,
) -> Vec<Line<'static>> {
    if !raw || !matches!(classify(body), BodyKind::Json | BodyKind::Text) {
        return body_lines(body, raw, theme, max_lines);
    }
    let prefix = &body[..body.len().min(MAX_BODY_BYTES)];
    let text = String::from_utf8_lossy(prefix);
    let mut out = Vec::new();
    let mut more = body.len() > prefix.len();
    'lines: for line in text.split('\n') {
        for row in wrap_text(&display_safe(line), width) {
            if out.len() == max_lines {
                more = true;
                break 'lines;
            }
            out.push(Line::raw(row));
        }
    }
    if more {
        out.push(Line::styled(
            format!(
                "… truncated (body is {} bytes; `y` copies it whole)",
                body.len()
            ),
            theme.warn(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::delivery::{BodyOrigin, WebhookRequest};
    use crate::events::AppEvent;
    use crate::tui::model::App;
    use crate::tui::model::HeaderInfo;
    use crate::tui::update::{Action, Effect, on_app_event, on_loaded, update};

    fn delivery(body: Vec<u8>) -> Delivery {
        let request = WebhookRequest {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        };
        Delivery::new("https://smee.io/x", request, BodyOrigin::Exact)
    }

    /// 200,000 small objects in one JSON array (7.6 MB), as in examples/large_payload.rs.
    fn large_json() -> Vec<u8> {
        let items: Vec<String> = (0..200_000)
            .map(|i| format!(r#"{{"id":{i},"ok":true,"v":"x{i:07}"}}"#))
            .collect();
        format!("[{}]", items.join(",")).into_bytes()
    }

    fn text_len(lines: &[Line]) -> usize {
        lines.iter().map(|l| l.width()).sum()
    }

    #[test]
    fn the_view_is_built_once_per_selection_and_dropped_when_it_moves() {
        let mut app = App::new(HeaderInfo::default(), false, Theme::default());
        let (big, small) = (delivery(large_json()), delivery(br#"{"a":1}"#.to_vec()));
        let (big_id, small_id) = (big.id.clone(), small.id.clone());
        on_app_event(&mut app, AppEvent::Delivery(Box::new(small.clone())));
        on_app_event(&mut app, AppEvent::Delivery(Box::new(big.clone())));
        assert_eq!(
            app.selected_delivery().map(|d| d.id.as_str()),
            Some(&*big_id)
        );
        // the frames of a loop that keeps redrawing build nothing after the first
        for _ in 0..20 {
            app.sync_view(100);
            crate::tui::render_to_string(&app, 100, 30);
        }
        assert_eq!(app.views_built, 1);
        let first = app.view.clone().expect("a view");
        assert_eq!(first.id, big_id);
        // rendering reads the view: it does not build its own
        let mut marked = DetailView::build(&big, false, first.width, &app.theme);
        marked.body = vec![Line::raw("MARKER-FROM-THE-VIEW")];
        app.view = Some(Arc::new(marked));
        assert!(crate::tui::render_to_string(&app, 100, 30).contains("MARKER-FROM-THE-VIEW"));
        app.view = Some(first.clone());
        // the selection moves: the big view goes before the next delivery is even loaded
        let effects = update(&mut app, Action::Up);
        app.sync_view(100);
        assert!(
            app.view.is_none(),
            "the view of the old selection is dropped"
        );
        drop(first);
        let load = effects.iter().find_map(|e| match e {
            Effect::LoadDelivery(id) => Some(id.clone()),
            _ => None,
        });
        assert_eq!(load.as_deref(), Some(&*small_id));
        on_loaded(&mut app, &small_id, Some(small));
        app.sync_view(100);
        app.sync_view(100);
        assert_eq!(app.views_built, 2);
        assert_eq!(app.view.as_ref().map(|v| v.id.as_str()), Some(&*small_id));
        // `v` and a new width rebuild it (once each)
        update(&mut app, Action::ToggleRaw);
        app.sync_view(100);
        app.sync_view(80);
        app.sync_view(80);
        assert_eq!(app.views_built, 4);
    }

    #[test]
    fn a_large_body_makes_a_bounded_view() {
        let theme = Theme::default();
        let body = large_json();
        for raw in [false, true] {
            let v = DetailView::build(&delivery(body.clone()), raw, 120, &theme);
            assert!(v.body.len() <= MAX_BODY_LINES + 1, "{}", v.body.len());
            // never more than the bytes looked at, whatever the body's size
            assert!(
                text_len(&v.body) <= 2 * MAX_BODY_BYTES,
                "{}",
                text_len(&v.body)
            );
            let last = v.body.last().map(|l| l.to_string()).unwrap_or_default();
            assert!(last.starts_with("… truncated"), "{last}");
        }
        // a Port event whose diff has many changes: the diff lines are bounded too
        let props: Vec<String> = (0..12_000).map(|i| format!(r#""p{i}":{i}"#)).collect();
        let port = format!(
            r#"{{"action":"UPDATE","resourceType":"entity","context":{{"blueprintIdentifier":"service","entityIdentifier":"svc"}},"diff":{{"before":{{"identifier":"svc","properties":{{}}}},"after":{{"identifier":"svc","properties":{{{}}}}}}}}}"#,
            props.join(",")
        );
        let v = DetailView::build(&delivery(port.into_bytes()), false, 120, &theme);
        let (head, lines) = v.diff.expect("a Port diff");
        assert!(head.contains("12000 changes"), "{head}");
        assert_eq!(lines.len(), MAX_DIFF_LINES + 1);
        assert!(
            !v.slack.is_empty() && v.slack.len() <= 200,
            "{}",
            v.slack.len()
        );
    }
}
