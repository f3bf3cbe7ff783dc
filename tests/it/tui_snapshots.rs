//! Snapshots of every view on a TestBackend, at 100x30 and 80x24 (fixed clock and ids).

use crate::tui_common;

use crossterm::event::KeyCode;
use hookrelay::events::{AppEvent, ConnState};
use hookrelay::sanitize::is_invisible;
use hookrelay::tui::render_to_string;
use proptest::prelude::*;
use tui_common::*;

fn snap(name: &str, h: &Harness) {
    for (w, hh) in [(100, 30), (80, 24)] {
        let screen = render_to_string(&h.app, w, hh);
        insta::assert_snapshot!(format!("{name}_{w}x{hh}"), screen);
    }
}

#[test]
fn empty_state() {
    let mut h = Harness::new(false);
    h.event(AppEvent::Conn(ConnState::Connected));
    snap("empty", &h);
}

#[test]
fn empty_reconnecting() {
    let mut h = Harness::new(false);
    h.event(AppEvent::Conn(ConnState::Reconnecting {
        retry_in_ms: 4_200,
        reason: "503 Service Unavailable".into(),
    }));
    snap("empty_reconnecting", &h);
}

#[test]
fn list_with_mixed_outcomes() {
    let h = Harness::with(mixed());
    snap("list_mixed", &h);
}

#[test]
fn list_newest_first() {
    let mut h = Harness::new(true);
    for d in mixed() {
        h.event(AppEvent::Delivery(Box::new(d)));
    }
    snap("list_newest_first", &h);
}

#[test]
fn request_tab_json() {
    let mut h = Harness::with(mixed());
    h.select("gh00000001");
    snap("tab_request_json", &h);
    h.key(KeyCode::Char('v'));
    snap("tab_request_json_raw", &h);
}

#[test]
fn request_tab_binary_is_hex() {
    let mut h = Harness::with(mixed());
    h.select("bn00000005");
    snap("tab_request_binary", &h);
}

#[test]
fn response_tab_two_attempts_with_replay() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    h.key(KeyCode::Char('2'));
    snap("tab_response", &h);
}

#[test]
fn diff_tab_port_update() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    h.key(KeyCode::Char('3'));
    snap("tab_diff", &h);
}

#[test]
fn verification_tab() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    h.key(KeyCode::Char('4'));
    snap("tab_verification", &h);
}

#[test]
fn slack_tab() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    h.key(KeyCode::Char('5'));
    snap("tab_slack", &h);
}

#[test]
fn zoomed_detail() {
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    h.key(KeyCode::Enter);
    h.key(KeyCode::PageDown);
    snap("zoomed_detail", &h);
}

#[test]
fn filter_active() {
    let mut h = Harness::with(mixed());
    h.key(KeyCode::Char('/'));
    h.keys("status:2xx");
    snap("filter_typing", &h);
    h.key(KeyCode::Enter);
    snap("filter_applied", &h);
}

#[test]
fn help_overlay() {
    let mut h = Harness::with(mixed());
    h.key(KeyCode::Char('?'));
    snap("help", &h);
}

#[test]
fn compare_view() {
    let mut h = Harness::with(mixed());
    h.select("gh00000001");
    h.key(KeyCode::Char('m'));
    h.select("st00000003");
    h.key(KeyCode::Char('d'));
    snap("compare_deliveries", &h);
    h.key(KeyCode::Esc);
    h.select("pt00000002");
    h.key(KeyCode::Char('2'));
    h.key(KeyCode::Char('['));
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Char(']'));
    h.key(KeyCode::Char('d'));
    snap("compare_attempts", &h);
}

// ---- a newcomer's first hour (issue 15) ----

/// A delivery forwarded once (503), then replayed while the Response tab is open.
#[test]
fn response_tab_shows_a_new_replay_first_without_zooming() {
    let mut d = delivery(
        "rp00000001",
        0,
        req(
            "POST",
            "/hook",
            &[("Content-Type", "application/json")],
            b"{}",
        ),
    );
    d.attempts = vec![response(
        0,
        503,
        1500.0,
        false,
        "{\"error\":\"down\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}",
    )];
    let mut h = Harness::with(vec![d]);
    h.key(KeyCode::Char('2'));
    h.event(AppEvent::Attempt {
        id: "rp00000001".into(),
        attempt: response(1, 200, 4.0, true, r#"{"ok":true}"#),
    });
    assert!(!h.app.detail_focus);
    snap("response_after_replay", &h);
    for (w, hh) in [(100, 30), (80, 24)] {
        let screen = render_to_string(&h.app, w, hh);
        let detail = screen.split(" 1 Request").nth(1).unwrap();
        let first = detail.lines().nth(1).unwrap();
        assert!(first.starts_with("▶ #2 replay 200"), "{w}x{hh}:\n{screen}");
    }
}

/// A re-signed replay says so on the Response tab (issue 15 item 8).
#[test]
fn a_resigned_replay_is_marked_on_the_response_tab() {
    let d = delivery("rs00000001", 0, req("POST", "/hook", &[], b"{}"));
    let mut h = Harness::with(vec![d]);
    h.key(KeyCode::Char('2'));
    let mut a = response(1, 200, 4.0, true, "ok");
    a.sent = Some(Box::new(hookrelay::delivery::SentRequest {
        headers: vec![("host".into(), "127.0.0.1:9".into())],
        body: None,
        resigned: true,
    }));
    h.event(AppEvent::Attempt {
        id: "rs00000001".into(),
        attempt: a,
    });
    let screen = render_to_string(&h.app, 120, 30);
    assert!(screen.contains("#1 replay (re-signed) 200"), "{screen}");
}

/// An attempt line at 120 columns: the target URL is whole, on its own line when it must be.
#[test]
fn attempt_lines_never_cut_the_target_url() {
    let target = "http://127.0.0.1:8081/api/webhooks/port/changelog?env=development&team=platform";
    let mut d = delivery("lu00000001", 0, req("POST", "/", &[], b"{}"));
    let mut failed = refused(0);
    failed.target = target.into();
    if let hookrelay::delivery::AttemptOutcome::Error { message, .. } = &mut failed.outcome {
        *message = "error sending request: client error (Connect): tcp connect error: \
                    Connection refused (os error 111)"
            .into();
    }
    d.attempts = vec![failed];
    let mut h = Harness::with(vec![d]);
    h.key(KeyCode::Char('2'));
    let screen = render_to_string(&h.app, 120, 30);
    insta::assert_snapshot!("attempt_long_target_120x30", screen);
    assert!(screen.contains(target), "{screen}");
    assert!(
        screen.contains("Connection refused (os error 111)"),
        "{screen}"
    );
}

/// The selected row keeps its time readable: nothing on the selection's grey is grey.
#[test]
fn the_selected_row_has_no_grey_on_grey() {
    use ratatui::style::Color;
    let mut h = Harness::with(mixed());
    h.select("pt00000002");
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| hookrelay::tui::view::render(&h.app, f))
        .unwrap();
    let buf = term.backend().buffer();
    let mut selected_cells = 0;
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            if c.bg == Color::DarkGray && !c.symbol().trim().is_empty() {
                selected_cells += 1;
                assert_ne!(
                    c.fg,
                    Color::DarkGray,
                    "grey on grey at {x},{y}: {:?}",
                    c.symbol()
                );
            }
        }
    }
    assert!(selected_cells > 20, "no selected row drawn");
}

/// Cut text ends in `…`; the raw view wraps a long one-line body instead of cutting it.
#[test]
fn cut_text_shows_an_ellipsis_and_the_raw_view_wraps() {
    let mut h = Harness::with(mixed());
    let screen = render_to_string(&h.app, 80, 24);
    assert!(screen.contains("/stripe?account…"), "{screen}");
    h.select("gh00000001");
    h.key(KeyCode::Char('v'));
    let screen = render_to_string(&h.app, 100, 30);
    // the body is one line of 226 characters: all of it is on screen, wrapped
    assert!(screen.contains(r#""head":null}"#), "{screen}");
}

/// A Port event sent to the channel itself (path `/`): the path column names the entity.
#[test]
fn the_path_column_shows_the_port_entity() {
    let port = delivery(
        "pe00000001",
        0,
        req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            &port_update_body(),
        ),
    );
    let sub = delivery(
        "pe00000002",
        1,
        req(
            "POST",
            "/port/sub",
            &[("Content-Type", "application/json")],
            &port_update_body(),
        ),
    );
    let h = Harness::with(vec![port, sub]);
    snap("list_port_entity", &h);
    let screen = render_to_string(&h.app, 100, 30);
    assert!(screen.contains("storage-example (vm)"), "{screen}");
    assert!(screen.contains("/port/sub"), "{screen}");
}

/// Every character on screen is printable: no control, format or bidi character got through.
fn assert_harmless(screen: &str) {
    for (i, line) in screen.lines().enumerate() {
        for c in line.chars() {
            assert!(
                !c.is_control() && !is_invisible(c),
                "line {i} has {c:?}: {line:?}"
            );
        }
    }
}

#[test]
fn escape_sequences_are_rendered_harmless() {
    let mut h = Harness::with(vec![hostile_text(), hostile()]);
    h.event(AppEvent::Problem("relay said \u{1b}]0;gotcha\u{7}".into()));
    snap("escapes_request", &h);
    let screen = render_to_string(&h.app, 100, 30);
    assert_harmless(&screen);
    // Shown, visibly escaped, not dropped.
    assert!(
        screen.contains(r#""title": "\u001b[31mRED\u001b[0m""#),
        "{screen}"
    );
    assert!(screen.contains("<U+009B>2J"));
    assert!(screen.contains("invoice<U+202E>fdp.exe"));
    assert!(screen.contains("pay<U+200B>pal<U+200D>"));
    assert!(screen.contains("^[]0;title^G^[[5mblink  TAB<U+009B>1m<U+200B>"));
    assert!(screen.contains("/x^[[2J<U+202E>"));
    h.key(KeyCode::Char('2'));
    snap("escapes_response", &h);
    assert_harmless(&render_to_string(&h.app, 100, 30));
    h.key(KeyCode::Char('4'));
    assert_harmless(&render_to_string(&h.app, 80, 24));
    // Raw bytes in a text body: escaped in place, tabs expanded, CR shown.
    h.select("tx00000007");
    h.key(KeyCode::Char('1'));
    snap("escapes_text_body", &h);
    let text = render_to_string(&h.app, 100, 30);
    assert_harmless(&text);
    assert!(text.contains("^[[31mRED^[[0m  col^M"), "{text}");
    assert!(
        text.contains("^[]0;title^G^[]52;c;ZXZpbA==^G<U+009B>2J <U+202E>abc<U+200B>"),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever a payload holds, nothing but printable text reaches the screen buffer.
    #[test]
    fn no_payload_reaches_the_terminal_unescaped(
        header in any::<String>(),
        path in any::<String>(),
        body in any::<String>(),
        raw in any::<bool>(),
    ) {
        let mut d = hostile();
        d.request.headers.push(("X-Fuzz".into(), header));
        d.request.path = path;
        d.request.body = bytes::Bytes::from(body);
        let mut h = Harness::with(vec![d]);
        if raw {
            h.key(KeyCode::Char('v'));
        }
        for tab in ['1', '2', '4'] {
            h.key(KeyCode::Char(tab));
            assert_harmless(&render_to_string(&h.app, 80, 24));
        }
    }
}
