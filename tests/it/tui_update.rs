//! Key sequences, follow, filter, marks and replays: the pure update functions, no terminal.

use crate::tui_common;

use crossterm::event::{KeyCode, KeyModifiers};
use hookrelay::events::{AppEvent, Command, ConnState};
use hookrelay::tui::model::{Mark, Overlay, Tab};
use hookrelay::tui::update::Effect;
use tui_common::*;

fn ids(h: &Harness) -> Vec<String> {
    (0..h.app.visible_len())
        .map(|p| h.app.rows[h.app.row_at(p).unwrap()].id.clone())
        .collect()
}

#[test]
fn follows_new_arrivals_until_the_user_moves_away() {
    let mut all = mixed();
    let last = all.pop().unwrap();
    let mut h = Harness::with(all);
    assert!(h.app.follow);
    assert_eq!(h.selected_id().as_deref(), Some("fm00000004"));
    // Moving up pauses following; a new arrival does not move the selection.
    h.key(KeyCode::Char('k'));
    assert!(!h.app.follow);
    assert_eq!(h.selected_id().as_deref(), Some("st00000003"));
    h.event(AppEvent::Delivery(Box::new(last.clone())));
    assert_eq!(h.selected_id().as_deref(), Some("st00000003"));
    // G goes to the newest and follows again.
    h.key(KeyCode::Char('G'));
    assert!(h.app.follow);
    assert_eq!(h.selected_id().as_deref(), Some("bn00000005"));
    let mut next = last;
    next.id = "nw00000007".into();
    h.event(AppEvent::Delivery(Box::new(next)));
    assert_eq!(h.selected_id().as_deref(), Some("nw00000007"));
    // The detail pane has the new one without a load.
    assert_eq!(h.app.selected_delivery().unwrap().id, "nw00000007");
}

#[test]
fn newest_first_keeps_the_view_still_when_paused() {
    let mut h = Harness::new(true);
    h.app.list_height = 3;
    for (i, d) in mixed().into_iter().enumerate().take(4) {
        h.event(AppEvent::Delivery(Box::new(d)));
        assert_eq!(h.app.selected_pos(), Some(0), "after {i}");
    }
    assert_eq!(ids(&h)[0], "fm00000004");
    h.key(KeyCode::Down);
    h.key(KeyCode::Down);
    assert_eq!(h.selected_id().as_deref(), Some("pt00000002"));
    let offset = h.app.list_offset;
    h.event(AppEvent::Delivery(Box::new(mixed().pop().unwrap())));
    assert_eq!(h.selected_id().as_deref(), Some("pt00000002"));
    assert_eq!(
        h.app.list_offset,
        offset + 1,
        "the window moved with the rows"
    );
    // g is the newest here, and following resumes.
    h.key(KeyCode::Char('g'));
    assert!(h.app.follow);
    assert_eq!(h.selected_id().as_deref(), Some("bn00000005"));
}

#[test]
fn paging_and_bounds() {
    let mut h = Harness::with(mixed());
    h.app.list_height = 2;
    h.key(KeyCode::Char('g'));
    assert_eq!(h.app.selected_pos(), Some(0));
    h.key(KeyCode::Up);
    assert_eq!(h.app.selected_pos(), Some(0));
    h.key(KeyCode::PageDown);
    assert_eq!(h.app.selected_pos(), Some(2));
    assert_eq!(h.app.list_offset, 1);
    h.key(KeyCode::PageDown);
    h.key(KeyCode::PageDown);
    assert_eq!(h.app.selected_pos(), Some(4));
    h.key(KeyCode::PageUp);
    assert_eq!(h.app.selected_pos(), Some(2));
}

#[test]
fn filter_typing_narrows_and_escape_clears() {
    let mut h = Harness::with(mixed());
    h.key(KeyCode::Char('/'));
    assert!(h.app.filter_editing);
    // While typing, letters go to the filter, not to the key map (q does not quit).
    let fx = h.keys("sig:invalid");
    assert!(fx.is_empty());
    assert_eq!(ids(&h), ["pt00000002"]);
    assert_eq!(h.selected_id().as_deref(), Some("pt00000002"));
    h.key(KeyCode::Enter);
    assert!(!h.app.filter_editing);
    assert_eq!(h.app.filter.text, "sig:invalid");
    h.key(KeyCode::Char('/'));
    for _ in 0.."sig:invalid".len() {
        h.key(KeyCode::Backspace);
    }
    h.keys("status:2xx");
    assert_eq!(ids(&h), ["gh00000001", "pt00000002"]);
    h.key(KeyCode::Esc);
    assert!(h.app.filter.is_empty());
    assert_eq!(ids(&h).len(), 5);
    // New arrivals that do not match stay hidden.
    h.key(KeyCode::Char('/'));
    h.keys("method:put");
    h.key(KeyCode::Enter);
    let mut d = mixed().remove(0);
    d.id = "gh00000009".into();
    h.event(AppEvent::Delivery(Box::new(d)));
    assert_eq!(ids(&h), ["fm00000004"]);
}

#[test]
fn replay_keys_send_commands() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    let fx = h.key(KeyCode::Char('r'));
    assert!(
        matches!(&fx[..], [Effect::Send(Command::Replay { id, resign: false, body: None })] if id == "pt00000002")
    );
    let fx = h.key(KeyCode::Char('R'));
    assert!(matches!(
        &fx[..],
        [Effect::Send(Command::Replay { resign: true, .. })]
    ));
    // e edits: re-signs because the delivery was signed.
    let fx = h.key(KeyCode::Char('e'));
    assert!(
        matches!(&fx[..], [Effect::EditBody { id, resign: true, json: true, body }] if id == "pt00000002" && body[..] == port_update_body()[..])
    );
    h.select("fm00000004");
    let fx = h.key(KeyCode::Char('e'));
    assert!(matches!(
        &fx[..],
        [Effect::EditBody {
            resign: false,
            json: false,
            ..
        }]
    ));
}

#[test]
fn replays_appear_as_new_attempts() {
    let mut h = Harness::with(mixed());
    h.select("st00000003");
    // The Port delivery's replay succeeded: the 404 and the refused one are the failures.
    assert_eq!(h.app.counts.failed, 2);
    assert_eq!(h.app.counts.forwarded_ok, 2);
    h.event(AppEvent::Attempt {
        id: "st00000003".into(),
        attempt: response(9, 201, 7.0, true, "{}"),
    });
    let row = h.app.selected_row().unwrap();
    assert_eq!(row.attempts, 2);
    assert_eq!(h.app.selected_delivery().unwrap().attempts.len(), 2);
    assert_eq!(h.app.attempt_cursor, 1);
    assert_eq!(h.app.counts.failed, 1);
    assert_eq!(h.app.counts.forwarded_ok, 3);
    // The status line says how the replay went.
    let status = h.app.status.as_ref().unwrap();
    assert_eq!(status.text, "replayed st00000003: 201 in 7ms");
    assert!(!status.error);
    // A failed replay is a problem; the first forward's attempts say nothing there.
    let mut failed = refused(10);
    failed.replay = true;
    h.event(AppEvent::Attempt {
        id: "st00000003".into(),
        attempt: failed,
    });
    let status = h.app.status.as_ref().unwrap();
    assert!(status.error && status.text.starts_with("replay of st00000003 failed: "));
    h.app.status = None;
    h.event(AppEvent::Attempt {
        id: "st00000003".into(),
        attempt: response(11, 200, 1.0, false, "{}"),
    });
    assert_eq!(h.app.status, None);
}

#[test]
fn wheel_scrolls_the_pane_under_the_mouse() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    use hookrelay::tui::update::{Action, handle_mouse};
    use hookrelay::tui::view::layout;
    let mut h = Harness::with(mixed());
    let areas = layout(&h.app, ratatui::layout::Rect::new(0, 0, 80, 24));
    let wheel = |kind, row| MouseEvent {
        kind,
        column: 5,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let over_list = areas.list.unwrap().y + 2;
    let over_detail = areas.detail.y + 3;
    assert_eq!(
        handle_mouse(&h.app, wheel(MouseEventKind::ScrollUp, over_list), &areas),
        Some(Action::Wheel(-3))
    );
    let down = handle_mouse(
        &h.app,
        wheel(MouseEventKind::ScrollDown, over_detail),
        &areas,
    );
    assert_eq!(down, Some(Action::WheelDetail(3)));
    let sel = h.selected_id();
    h.act(down.unwrap());
    assert_eq!(h.app.detail_scroll, 3);
    assert_eq!(h.selected_id(), sel, "the selection stays");
    // Clicks are not scrolls.
    assert_eq!(
        handle_mouse(&h.app, wheel(MouseEventKind::Moved, over_detail), &areas),
        None
    );
}

#[test]
fn drawing_reports_how_far_the_detail_scrolls() {
    use hookrelay::tui::view::draw;
    let mut h = Harness::with(mixed());
    h.select("pt00000002"); // a long JSON body
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    let mut drawn = Default::default();
    term.draw(|f| drawn = draw(&h.app, f)).unwrap();
    let max = drawn.detail_max_scroll;
    assert!(max > 10, "{max}");
    // Past the end shows the same screen as the end itself (the loop clamps to `max`).
    h.app.detail_scroll = max;
    let at_end = hookrelay::tui::render_to_string(&h.app, 80, 24);
    h.app.detail_scroll = max + 50;
    assert_eq!(hookrelay::tui::render_to_string(&h.app, 80, 24), at_end);
    h.app.detail_scroll = max - 1;
    assert_ne!(hookrelay::tui::render_to_string(&h.app, 80, 24), at_end);
}

#[test]
fn copy_keys() {
    let mut h = Harness::with(mixed());
    h.select("st00000003");
    let fx = h.key(KeyCode::Char('y'));
    assert!(
        matches!(&fx[..], [Effect::CopyToClipboard { data, .. }] if data.starts_with(b"{\"id\":\"evt_1\""))
    );
    let fx = h.key(KeyCode::Char('c'));
    let [Effect::CopyToClipboard { data, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let curl = String::from_utf8(data.clone()).unwrap();
    // The same builder as `export --curl` (src/curl.rs).
    assert!(
        curl.starts_with("curl \\\n  -sS \\\n  --globoff \\\n  --path-as-is \\\n")
            && curl.contains("-X 'POST' \\\n  'http://localhost:3000/webhooks'"),
        "{curl}"
    );
    assert!(curl.contains("-H 'Stripe-Signature: t=1699990000,v1=00ff'"));
    let fx = h.key(KeyCode::Char('u'));
    assert!(
        matches!(&fx[..], [Effect::CopyToClipboard { data, .. }] if data == b"https://smee.io/Xy7pQ2mN9aB3cD4e")
    );
}

#[test]
fn mark_and_compare_deliveries_and_attempts() {
    let mut h = Harness::with(mixed());
    h.select("gh00000001");
    h.key(KeyCode::Char('d'));
    assert!(h.app.overlay.is_none());
    assert!(h.app.status.as_ref().unwrap().error);
    h.key(KeyCode::Char('m'));
    assert!(matches!(&h.app.mark, Some(Mark::Delivery(d)) if d.id == "gh00000001"));
    h.select("st00000003");
    h.key(KeyCode::Char('d'));
    let Some(Overlay::Compare { view, .. }) = &h.app.overlay else {
        panic!("no compare overlay")
    };
    assert_eq!(view.title, "gh00000001 ↔ st00000003");
    assert!(
        view.sections
            .iter()
            .any(|s| s.name == "Headers" && !s.changes.is_empty())
    );
    h.key(KeyCode::Esc);
    assert!(h.app.overlay.is_none());
    // Attempts: in the Response tab, m marks the attempt under the cursor.
    h.select("pt00000002");
    h.key(KeyCode::Char('2'));
    assert_eq!(h.app.tab, Tab::Response);
    h.key(KeyCode::Char('['));
    assert_eq!(h.app.attempt_cursor, 0);
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Char(']'));
    h.key(KeyCode::Char('d'));
    let Some(Overlay::Compare { view, .. }) = &h.app.overlay else {
        panic!("no compare overlay")
    };
    assert_eq!(view.title, "response pt00000002 #1 ↔ pt00000002 #2");
    assert!(
        view.sections[0].changes.len() == 1,
        "{:?}",
        view.sections[0]
    );
}

#[test]
fn tabs_help_focus_and_quit() {
    let mut h = Harness::with(mixed());
    h.key(KeyCode::Tab);
    assert_eq!(h.app.tab, Tab::Response);
    h.key(KeyCode::BackTab);
    h.key(KeyCode::BackTab);
    assert_eq!(h.app.tab, Tab::Slack);
    h.key(KeyCode::Char('3'));
    assert_eq!(h.app.tab, Tab::Diff);
    h.key(KeyCode::Char('?'));
    assert_eq!(h.app.overlay, Some(Overlay::Help));
    // q closes the help rather than quitting.
    assert!(h.key(KeyCode::Char('q')).is_empty());
    assert!(h.app.overlay.is_none());
    h.key(KeyCode::Enter);
    assert!(h.app.detail_focus);
    let sel = h.selected_id();
    h.key(KeyCode::Down);
    assert_eq!(h.app.detail_scroll, 1);
    assert_eq!(h.selected_id(), sel, "arrows scroll the zoomed detail");
    h.key(KeyCode::Esc);
    assert!(!h.app.detail_focus);
    assert!(matches!(&h.key(KeyCode::Char('q'))[..], [Effect::Quit]));
    assert!(matches!(
        &h.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL)[..],
        [Effect::Quit]
    ));
}

#[test]
fn reconnect_countdown_and_problems() {
    let mut h = Harness::with(vec![]);
    h.event(AppEvent::Conn(ConnState::Reconnecting {
        retry_in_ms: 2_500,
        reason: "connection refused".into(),
    }));
    assert!(h.app.animating());
    assert_eq!(h.app.reconnect_in_s(), Some(3));
    h.app.now_ms += 2_000;
    assert_eq!(h.app.reconnect_in_s(), Some(1));
    h.event(AppEvent::Conn(ConnState::Connected));
    assert!(!h.app.animating());
    h.event(AppEvent::Problem("malformed event".into()));
    assert!(h.app.status.as_ref().unwrap().error);
}

#[test]
fn keymap_has_no_duplicate_keys() {
    use hookrelay::tui::keymap::KEYMAP;
    let mut seen = std::collections::HashSet::new();
    for b in KEYMAP {
        for k in b.keys {
            assert!(seen.insert((k.code, k.ctrl)), "{k:?} bound twice");
        }
    }
}

#[test]
fn messages_go_after_a_while_problems_stay() {
    use hookrelay::tui::model::STATUS_TTL_MS;
    let mut h = Harness::with(mixed());
    assert!(!h.app.animating());
    h.app.say("copied");
    assert_eq!(h.app.current_status().unwrap().text, "copied");
    assert!(h.app.animating(), "the loop must tick to clear it");
    h.app.now_ms += STATUS_TTL_MS;
    assert_eq!(h.app.current_status(), None);
    assert!(!h.app.animating());
    let footer = hookrelay::tui::render_to_string(&h.app, 80, 24);
    assert!(footer.contains("? help · q quit"), "{footer}");
    h.app.complain("replay failed");
    h.app.now_ms += 10 * STATUS_TTL_MS;
    assert_eq!(h.app.current_status().unwrap().text, "replay failed");
    h.key(KeyCode::Esc);
    assert_eq!(h.app.current_status(), None);
}

/// A delivery whose try failed and that will be tried again is not counted as failed until
/// the worker gives up on it; the row says `retry` meanwhile.
#[test]
fn a_delivery_being_retried_is_not_counted_failed_until_it_gives_up() {
    use hookrelay::delivery::DeliveryState;
    use hookrelay::tui::model::RowStatus;
    let mut h = Harness::with(vec![]);
    let d = delivery("rt00000001", 1, req("POST", "/hook", &[], b"{}"));
    h.event(AppEvent::Delivery(Box::new(d)));
    for n in 0..3 {
        h.event(AppEvent::Attempt {
            id: "rt00000001".into(),
            attempt: refused(2 + n),
        });
        h.event(AppEvent::Retrying {
            id: "rt00000001".into(),
            tries: n as u32 + 1,
            next_in_ms: 500,
        });
        assert_eq!(h.app.counts.failed, 0, "counted failed while retrying");
        assert_eq!(h.app.rows[0].status, RowStatus::Retrying(None));
    }
    h.event(AppEvent::Attempt {
        id: "rt00000001".into(),
        attempt: response(9, 503, 1.0, false, ""),
    });
    assert_eq!(h.app.counts.failed, 0);
    h.event(AppEvent::State {
        id: "rt00000001".into(),
        state: DeliveryState::Failed,
        reason: Some("the target answered 503 (retried for 5m)".into()),
    });
    assert_eq!(h.app.counts.failed, 1, "failed once it gave up");
    assert_eq!(h.app.rows[0].status, RowStatus::Code(503));
}

#[test]
fn copy_as_curl_follows_routes_and_header_flags_and_what_an_attempt_sent() {
    use hookrelay::forward::{HeaderRules, Routes, Target, TargetOptions};
    let mut d = mixed().remove(0); // POST /github, X-GitHub-Event: push
    d.attempts.clear();
    let mut options = TargetOptions::default();
    options.routes = Routes::parse(&["/github=http://localhost:4000/gh".into()]).unwrap();
    options.headers =
        HeaderRules::parse(&["Host: api.local".into()], &["x-github-event".into()]).unwrap();
    let mut h = Harness::with(vec![d.clone()]);
    h.app.sending = Some(std::sync::Arc::new(hookrelay::tui::Sending {
        target: Target::parse("http://localhost:3000/webhooks").unwrap(),
        options,
    }));
    h.select(&d.id);
    let copied = |fx: Vec<Effect>| match &fx[..] {
        [Effect::CopyToClipboard { data, .. }] => String::from_utf8(data.clone()).unwrap(),
        other => panic!("{other:?}"),
    };
    let curl = copied(h.key(KeyCode::Char('c')));
    assert!(
        curl.contains("'http://localhost:4000/gh'"),
        "routed: {curl}"
    );
    assert!(curl.contains("-H 'Host: api.local'"), "-H: {curl}");
    assert!(!curl.contains("X-GitHub-Event"), "--drop-header: {curl}");

    // once attempted, the curl is what that attempt sent
    let mut attempted = d.clone();
    let mut a = crate::common::error("refused");
    a.target = "http://localhost:4000/gh".into();
    a.sent = Some(Box::new(hookrelay::delivery::SentRequest {
        headers: vec![
            ("host".into(), "localhost:4000".into()),
            ("X-Env".into(), "sent".into()),
        ],
        body: Some(bytes::Bytes::from_static(b"edited")),
        resigned: false,
    }));
    attempted.attempts.push(a);
    let mut h = Harness::with(vec![attempted]);
    h.select(&d.id);
    let curl = copied(h.key(KeyCode::Char('c')));
    assert!(
        curl.contains("-H 'X-Env: sent'") && curl.contains("'edited'"),
        "{curl}"
    );
    assert!(
        !curl.to_ascii_lowercase().contains("-h 'host:"),
        "curl sets its own host: {curl}"
    );
}

#[test]
fn a_delivery_held_by_strict_verification_shows_held_not_pending() {
    use hookrelay::delivery::DeliveryState;
    use hookrelay::tui::row::RowStatus;
    let mut d = mixed().remove(0);
    d.attempts.clear();
    d.state = DeliveryState::Held;
    let mut pending = d.clone();
    pending.id = "pd00000009".into();
    pending.state = DeliveryState::Pending;
    let mut h = Harness::new(false);
    h.event(AppEvent::Delivery(Box::new(d.clone())));
    h.event(AppEvent::Delivery(Box::new(pending)));
    assert_eq!(h.app.rows[0].status, RowStatus::Held);
    assert_eq!(h.app.rows[1].status, RowStatus::Pending);
    let screen = hookrelay::tui::render_to_string(&h.app, 100, 30);
    assert_eq!(
        screen.lines().filter(|l| l.contains(" held ")).count(),
        1,
        "one held row: {screen}"
    );
}
