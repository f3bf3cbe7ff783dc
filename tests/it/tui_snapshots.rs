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
