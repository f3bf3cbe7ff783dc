//! Keys to actions, actions to state changes and effects, app events to state changes.
//! Everything here is pure: no terminal, no IO. The loop in `mod.rs` carries out the effects.

use bytes::Bytes;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::compare;
use super::curl::curl_command;
use super::filter::Filter;
use super::keymap;
use super::model::{App, Mark, Overlay, Row, Tab};
use super::view::Areas;
use crate::delivery::AttemptOutcome;
use crate::events::{AppEvent, Command, ConnState};
use crate::verify::Outcome;

/// Lines the mouse wheel moves per notch.
const WHEEL_LINES: isize = 3;

pub use super::action::Action;

/// Something the loop must do outside the state.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Send a command to the IO side.
    Send(Command),
    /// Put bytes on the clipboard (OSC 52, with a fallback file). `what` names them for the user.
    CopyToClipboard {
        what: String,
        data: Vec<u8>,
    },
    /// Open the body in `$EDITOR`, then replay the edited body.
    EditBody {
        id: String,
        body: Bytes,
        resign: bool,
        json: bool,
    },
    /// Load the full delivery from the source and hand it to [`App::detail`].
    LoadDelivery(String),
    Quit,
}

/// The action for a key press, given the state (overlay open, filter being typed, ...).
pub fn handle_key(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.overlay.is_some() {
        return match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => {
                Some(Action::Back)
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Wheel(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Wheel(1)),
            KeyCode::PageUp => Some(Action::Wheel(-10)),
            KeyCode::PageDown => Some(Action::Wheel(10)),
            _ => None,
        };
    }
    if app.filter_editing {
        return match key.code {
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Enter => Some(Action::FilterApply),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterInput(c)),
            _ => None,
        };
    }
    keymap::lookup(&key)
}

/// The action for a mouse event: the wheel moves the selection over the list and scrolls the
/// detail pane over it (`areas` is the screen's current layout).
pub fn handle_mouse(app: &App, ev: MouseEvent, areas: &Areas) -> Option<Action> {
    let lines = match ev.kind {
        MouseEventKind::ScrollUp => -(WHEEL_LINES as i8),
        MouseEventKind::ScrollDown => WHEEL_LINES as i8,
        _ => return None,
    };
    let at = Position::new(ev.column, ev.row);
    if app.overlay.is_none() && areas.list.is_some() && areas.detail.contains(at) {
        return Some(Action::WheelDetail(lines));
    }
    Some(Action::Wheel(lines))
}

/// Apply an action; returns what the loop must do.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Up => scroll(app, -1),
        Action::Down => scroll(app, 1),
        Action::PageUp => scroll(app, -(app.list_height.max(1) as isize)),
        Action::PageDown => scroll(app, app.list_height.max(1) as isize),
        Action::Wheel(n) => scroll(app, n as isize),
        Action::WheelDetail(n) => {
            app.detail_scroll = app.detail_scroll.saturating_add_signed(n as isize);
            vec![]
        }
        Action::Top if app.detail_focus => {
            app.detail_scroll = 0;
            vec![]
        }
        Action::Top => select_pos(app, 0),
        Action::Bottom if app.detail_focus => {
            app.detail_scroll = usize::MAX / 2;
            vec![]
        }
        Action::Bottom => select_pos(app, app.visible_len().saturating_sub(1)),
        Action::ToggleFocus => {
            app.detail_focus = !app.detail_focus;
            vec![]
        }
        Action::NextTab => set_tab(app, (app.tab.index() + 1) % Tab::ALL.len()),
        Action::PrevTab => set_tab(app, (app.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()),
        Action::SelectTab(n) => set_tab(app, n as usize),
        Action::ToggleRaw => {
            app.raw = !app.raw;
            app.detail_scroll = 0;
            vec![]
        }
        Action::PrevAttempt => {
            app.attempt_cursor = app.attempt_cursor.saturating_sub(1);
            vec![]
        }
        Action::NextAttempt => {
            let n = app.selected_row().map_or(0, |r| r.attempts as usize);
            app.attempt_cursor = (app.attempt_cursor + 1).min(n.saturating_sub(1));
            vec![]
        }
        Action::Replay { resign } => replay(app, resign),
        Action::EditReplay => edit_replay(app),
        Action::StartFilter => {
            app.filter_editing = true;
            vec![]
        }
        Action::FilterInput(c) => {
            let mut text = app.filter.text.clone();
            text.push(c);
            set_filter(app, &text)
        }
        Action::FilterBackspace => {
            let mut text = app.filter.text.clone();
            text.pop();
            set_filter(app, &text)
        }
        Action::FilterApply => {
            app.filter_editing = false;
            vec![]
        }
        Action::FilterCancel => {
            app.filter_editing = false;
            set_filter(app, "")
        }
        Action::CopyCurl => copy(app, "curl command", |app, d| {
            curl_command(d, app.sending.as_deref(), &app.header.target).into_bytes()
        }),
        Action::CopyBody => copy(app, "body", |_, d| d.request.body.to_vec()),
        Action::CopyUrl => vec![Effect::CopyToClipboard {
            what: "channel URL".into(),
            data: app.header.channel_url.clone().into_bytes(),
        }],
        Action::Mark => mark(app),
        Action::Compare => compare_with_mark(app),
        Action::ToggleHelp => {
            app.overlay = match app.overlay {
                Some(Overlay::Help) => None,
                _ => Some(Overlay::Help),
            };
            vec![]
        }
        Action::Back => {
            if app.overlay.is_some() {
                app.overlay = None;
            } else if app.detail_focus {
                app.detail_focus = false;
            } else if !app.filter.is_empty() {
                return set_filter(app, "");
            } else {
                app.status = None;
            }
            vec![]
        }
        Action::Quit => vec![Effect::Quit],
    }
}

/// Fold an event from the IO side into the state.
pub fn on_app_event(app: &mut App, ev: AppEvent) {
    match ev {
        AppEvent::Conn(state) => {
            app.reconnect_at_ms = match &state {
                ConnState::Reconnecting { retry_in_ms, .. } => {
                    Some(app.now_ms.saturating_add(*retry_in_ms as i64))
                }
                _ => None,
            };
            app.conn = state;
        }
        AppEvent::Delivery(d) => {
            let before = app.visible_len();
            let idx = app.push_row(Row::from_delivery(&d));
            let newly_visible = app.visible_len() > before;
            if app.detail.as_ref().is_some_and(|x| x.id == d.id) {
                app.detail = Some(d);
            } else if newly_visible && (app.follow || app.selected.is_none()) {
                app.selected = Some(idx);
                app.attempt_cursor = d.attempts.len().saturating_sub(1);
                app.detail_scroll = 0;
                app.detail = Some(d);
            } else if newly_visible && app.newest_first {
                // The view stays on what the user is reading.
                app.list_offset += 1;
            }
            ensure_visible(app);
        }
        AppEvent::Attempt { id, attempt } => {
            if attempt.replay {
                report_replay(app, &id, &attempt);
            }
            app.add_attempt(&id, attempt);
            if app.selected_row().is_some_and(|r| r.id == id) {
                app.attempt_cursor = app.selected_row().map_or(0, |r| r.attempts as usize - 1);
            }
        }
        AppEvent::Slack { id, result } => app.set_slack(&id, result),
        // the Slack tab builds the message from the body; nothing was sent
        AppEvent::SlackPreview { .. } => {}
        AppEvent::Gap(msg) => app.complain(crate::gap_notice::describe(&msg)),
        AppEvent::SlackWaiting { id, wait_ms } => app.say(format!(
            "{id}: Slack is rate limiting; its message waits {} s",
            wait_ms.div_ceil(1000)
        )),
        AppEvent::Retrying { id, .. } => {
            app.modify_row(&id, Row::retrying);
        }
        AppEvent::State { id, state, reason } => {
            app.modify_row(&id, Row::settled);
            if let Some(reason) = reason {
                app.complain(format!("{id} {state}: {reason}"))
            }
        }
        AppEvent::Resumed {
            pending,
            interrupted,
            ..
        } => app.say(format!(
            "resumed: {pending} deliveries from an earlier run go out first ({interrupted} interrupted, sent again)"
        )),
        AppEvent::Problem(msg) => app.complain(msg),
        AppEvent::Replied { id, record } => app.say(format!("{id} reply: {}", record.replied)),
    }
}

/// Say how a replay went (it replaces "replaying <id>" on the status line).
fn report_replay(app: &mut App, id: &str, a: &crate::delivery::Attempt) {
    let took = super::view::latency(a.latency_ms);
    match &a.outcome {
        AttemptOutcome::Response { status, .. } => {
            let text = format!("replayed {id}: {status} in {took}");
            if a.is_success() {
                app.say(text)
            } else {
                app.complain(text)
            }
        }
        AttemptOutcome::Error { message, .. } => {
            app.complain(format!("replay of {id} failed: {message}"))
        }
    }
}

/// Give the loaded delivery to the state (the loop calls this after [`Effect::LoadDelivery`]).
pub fn on_loaded(app: &mut App, id: &str, d: Option<crate::delivery::Delivery>) {
    match d {
        Some(d) => app.detail = Some(Box::new(d)),
        None => app.complain(format!("delivery {id} is not in the store")),
    }
}

fn scroll(app: &mut App, by: isize) -> Vec<Effect> {
    if let Some(Overlay::Compare { scroll, .. }) = &mut app.overlay {
        *scroll = scroll.saturating_add_signed(by);
        return vec![];
    }
    if app.detail_focus {
        app.detail_scroll = app.detail_scroll.saturating_add_signed(by);
        return vec![];
    }
    let Some(pos) = app.selected_pos() else {
        return select_pos(app, 0);
    };
    select_pos(app, pos.saturating_add_signed(by))
}

/// Select the row at a display position (clamped); follow resumes on the newest row.
fn select_pos(app: &mut App, pos: usize) -> Vec<Effect> {
    let n = app.visible_len();
    if n == 0 {
        app.selected = None;
        return vec![];
    }
    let pos = pos.min(n - 1);
    let row = app.row_at(pos).expect("pos < len");
    app.follow = Some(pos) == app.newest_pos();
    let changed = app.selected != Some(row);
    app.selected = Some(row);
    ensure_visible(app);
    if !changed {
        return vec![];
    }
    app.detail_scroll = 0;
    app.attempt_cursor = (app.rows[row].attempts as usize).saturating_sub(1);
    let id = app.rows[row].id.clone();
    if app.detail.as_ref().is_some_and(|d| d.id == id) {
        vec![]
    } else {
        vec![Effect::LoadDelivery(id)]
    }
}

/// Move the list window so the selection shows.
pub(crate) fn ensure_visible(app: &mut App) {
    let sel = app.selected_pos();
    app.list_offset =
        super::view::window_start(app.list_offset, sel, app.list_height, app.visible_len());
}

fn set_tab(app: &mut App, i: usize) -> Vec<Effect> {
    app.tab = Tab::ALL.get(i).copied().unwrap_or_default();
    app.detail_scroll = 0;
    vec![]
}

fn set_filter(app: &mut App, text: &str) -> Vec<Effect> {
    app.filter = Filter::parse(text);
    app.recompute_visible();
    if let Some(pos) = app.selected_pos() {
        app.follow = Some(pos) == app.newest_pos();
        ensure_visible(app);
        return vec![];
    }
    let pos = if app.follow {
        app.newest_pos().unwrap_or(0)
    } else {
        0
    };
    let effects = select_pos(app, pos);
    ensure_visible(app);
    effects
}

fn replay(app: &mut App, resign: bool) -> Vec<Effect> {
    let Some(row) = app.selected_row() else {
        app.complain("nothing selected");
        return vec![];
    };
    // The loop says "replaying <id>" once the command is queued.
    let id = row.id.clone();
    vec![Effect::Send(Command::Replay {
        id,
        resign,
        body: None,
    })]
}

fn edit_replay(app: &mut App) -> Vec<Effect> {
    let Some(d) = app.selected_delivery() else {
        app.complain("nothing selected (or still loading)");
        return vec![];
    };
    let signed = d
        .verification
        .as_ref()
        .is_some_and(|v| v.scheme.is_some() && v.outcome != Outcome::Unsigned);
    vec![Effect::EditBody {
        id: d.id.clone(),
        body: d.request.body.clone(),
        resign: signed,
        json: serde_json::from_slice::<serde::de::IgnoredAny>(&d.request.body).is_ok(),
    }]
}

fn copy(
    app: &mut App,
    what: &str,
    make: impl FnOnce(&App, &crate::delivery::Delivery) -> Vec<u8>,
) -> Vec<Effect> {
    let Some(d) = app.selected_delivery() else {
        app.complain("nothing selected (or still loading)");
        return vec![];
    };
    let data = make(app, d);
    vec![Effect::CopyToClipboard {
        what: what.into(),
        data,
    }]
}

fn mark(app: &mut App) -> Vec<Effect> {
    let Some(d) = app.selected_delivery() else {
        app.complain("nothing selected (or still loading)");
        return vec![];
    };
    let (mark, text) = match (app.tab, d.attempts.get(app.attempt_cursor)) {
        (Tab::Response, Some(a)) => (
            Mark::Attempt {
                delivery_id: d.id.clone(),
                index: app.attempt_cursor,
                attempt: Box::new(a.clone()),
            },
            format!(
                "marked attempt #{} of {}: `d` on another compares",
                app.attempt_cursor + 1,
                d.id
            ),
        ),
        _ => (
            Mark::Delivery(Box::new(d.clone())),
            format!("marked {}: `d` on another compares", d.id),
        ),
    };
    app.mark = Some(mark);
    app.say(text);
    vec![]
}

fn compare_with_mark(app: &mut App) -> Vec<Effect> {
    let Some(d) = app.selected_delivery() else {
        app.complain("nothing selected (or still loading)");
        return vec![];
    };
    let view = match &app.mark {
        None => {
            app.complain("mark something first with `m`");
            return vec![];
        }
        Some(Mark::Delivery(m)) => compare::compare_deliveries(m, d),
        Some(Mark::Attempt {
            delivery_id,
            index,
            attempt,
        }) => {
            let Some(b) = d.attempts.get(app.attempt_cursor) else {
                app.complain("this delivery has no attempt to compare");
                return vec![];
            };
            let la = format!("{delivery_id} #{}", index + 1);
            let lb = format!("{} #{}", d.id, app.attempt_cursor + 1);
            compare::compare_attempts(&la, attempt, &lb, b)
        }
    };
    app.overlay = Some(Overlay::Compare { view, scroll: 0 });
    vec![]
}
