//! Fixed deliveries and a headless harness for the TUI tests (no wall clock, fixed ids).
#![allow(dead_code)]

use bytes::Bytes;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hookrelay::delivery::{Attempt, AttemptOutcome, BodyOrigin, Delivery, WebhookRequest};
use hookrelay::events::{AppEvent, ConnState};
use hookrelay::slack::SlackResult;
use hookrelay::tui::update::{self, Action, Effect};
use hookrelay::tui::{App, DeliverySource, HeaderInfo, MemorySource, Theme};
use hookrelay::verify::{Outcome, Scheme, Verification};

/// 2023-11-14 22:13:20 UTC.
pub const T0: i64 = 1_700_000_000_000;

pub fn header() -> HeaderInfo {
    HeaderInfo {
        channel_url: "https://smee.io/Xy7pQ2mN9aB3cD4e".into(),
        target: "http://localhost:3000/webhooks".into(),
        verify_mode: "github".into(),
        store_path: Some("/home/dev/.local/share/hookrelay/deliveries.sqlite".into()),
    }
}

pub fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> WebhookRequest {
    WebhookRequest {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: Bytes::copy_from_slice(body),
    }
}

pub fn delivery(id: &str, n: i64, request: WebhookRequest) -> Delivery {
    Delivery {
        id: id.into(),
        channel: header().channel_url,
        relay_event_id: None,
        received_at_ms: T0 + n * 61_000,
        request,
        origin: BodyOrigin::Exact,
        verification: None,
        attempts: vec![],
        slack: None,
        state: Default::default(),
        state_reason: None,
        event: None,
        summary: None,
    }
}

pub fn verified(scheme: Scheme, outcome: Outcome, reason: &str) -> Option<Verification> {
    Some(Verification::new(Some(scheme), outcome, reason))
}

pub fn response(n: i64, status: u16, latency: f64, replay: bool, body: &str) -> Attempt {
    Attempt {
        target: "http://localhost:3000/webhooks".into(),
        started_at_ms: T0 + n * 61_000 + 5,
        replay,
        latency_ms: latency,
        outcome: AttemptOutcome::Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), format!("req-{status}")),
            ],
            body: Bytes::copy_from_slice(body.as_bytes()),
            body_size: body.len() as u64,
        },
        sent: None,
    }
}

pub fn refused(n: i64) -> Attempt {
    Attempt {
        target: "http://localhost:3000/webhooks".into(),
        started_at_ms: T0 + n * 61_000 + 5,
        replay: false,
        latency_ms: 0.4,
        outcome: AttemptOutcome::Error {
            message: "connection refused (is the local server running?)".into(),
            error: hookrelay::delivery::ErrorKind::Refused,
        },
        sent: None,
    }
}

pub fn slack(ok: bool) -> Option<SlackResult> {
    Some(if ok {
        SlackResult {
            ok: true,
            status: Some(200),
            error: None,
            explanation: "Slack accepted the message.".into(),
        }
    } else {
        SlackResult {
            ok: false,
            status: Some(404),
            error: Some("channel_not_found".into()),
            explanation: "The webhook's channel no longer exists.".into(),
        }
    })
}

pub fn port_update_body() -> Vec<u8> {
    std::fs::read("tests/fixtures/port/01-changelog-entity-update.json").unwrap()
}

/// Five deliveries with every kind of outcome, oldest first.
pub fn mixed() -> Vec<Delivery> {
    let mut gh = delivery(
        "gh00000001",
        0,
        req(
            "POST",
            "/github",
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", "sha256=5d61605c3feea9799210ddcb71307d4ba264225d3b4c1b9b1e7c3b8e8c9a1f00"),
            ],
            br#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","commits":[{"id":"abc","message":"Fix the\tbuild","added":[],"removed":["old.txt"]}],"pusher":{"name":"octocat"},"size":1,"forced":false,"head":null}"#,
        ),
    );
    gh.verification = verified(
        Scheme::Github,
        Outcome::Valid,
        "The signature matches the body.",
    );
    gh.attempts = vec![response(0, 200, 12.3, false, r#"{"ok":true}"#)];
    gh.slack = slack(true);

    let mut port = delivery(
        "pt00000002",
        1,
        req(
            "POST",
            "/port",
            &[
                ("Content-Type", "application/json"),
                ("X-Port-Signature", "v1,ZmFrZQ=="),
                ("X-Port-Timestamp", "1700000061"),
            ],
            &port_update_body(),
        ),
    );
    port.verification = verified(
        Scheme::Port,
        Outcome::Invalid,
        "The signature does not match: the secret differs or the body was changed.",
    );
    port.attempts = vec![
        response(1, 503, 1530.0, false, r#"{"error":"database is down"}"#),
        response(2, 200, 48.0, true, r#"{"ok":true,"replayed":true}"#),
    ];
    port.slack = slack(false);

    let mut stripe = delivery(
        "st00000003",
        2,
        req(
            "POST",
            "/stripe?account=acct_1",
            &[
                ("Content-Type", "application/json"),
                ("Stripe-Signature", "t=1699990000,v1=00ff"),
            ],
            br#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":2000}}}"#,
        ),
    );
    stripe.verification = verified(
        Scheme::Stripe,
        Outcome::Stale,
        "The timestamp is 10000 s old (tolerance 300 s).",
    );
    stripe.attempts = vec![response(2, 404, 3.1, false, "Not Found")];

    let mut plain = delivery(
        "fm00000004",
        3,
        req(
            "PUT",
            "/form",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=1&b=two",
        ),
    );
    plain.verification = Some(Verification::new(
        None,
        Outcome::Unsigned,
        "No signature header.",
    ));
    plain.attempts = vec![refused(3)];

    let bin = delivery(
        "bn00000005",
        4,
        req(
            "POST",
            "/upload",
            &[("Content-Type", "application/octet-stream")],
            &[
                0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D',
                b'R', 0, 0, 1, 0, 0xff, 0xfe, 0x1b, b'[', b'2', b'J',
            ],
        ),
    );
    vec![gh, port, stripe, plain, bin]
}

/// A delivery whose every field tries to drive the terminal.
pub fn hostile() -> Delivery {
    // Valid JSON: controls as \u escapes (a sender's JSON), C1/bidi/zero-width as UTF-8.
    let body = "{\"title\":\"\\u001b[31mRED\\u001b[0m\",\"osc0\":\"\\u001b]0;pwned title\\u0007\",\"osc52\":\"\\u001b]52;c;cm0gLXJmIH4=\\u0007\",\"c1\":\"\u{9b}2J\",\"bidi\":\"invoice\u{202e}fdp.exe\",\"zw\":\"pay\u{200b}pal\u{200d}\",\"tab\":\"a\\tb\"}";
    let mut d = delivery(
        "ev00000006",
        5,
        req(
            "POST",
            "/x\u{1b}[2J\u{202e}",
            &[
                ("Content-Type", "application/json"),
                (
                    "X-Evil",
                    "\u{1b}]0;title\u{7}\u{1b}[5mblink\tTAB\u{9b}1m\u{200b}",
                ),
                ("X-GitHub-Event", "\u{1b}[31mpush\u{202e}"),
            ],
            body.as_bytes(),
        ),
    );
    d.verification = verified(Scheme::Github, Outcome::Invalid, "bad \u{1b}[1msig\u{7}");
    d.attempts = vec![response(
        5,
        500,
        2.0,
        false,
        "\u{1b}]52;c;ZXZpbA==\u{7}boom\u{202e}",
    )];
    d
}

/// A text body with raw escape bytes, a tab and a carriage return.
pub fn hostile_text() -> Delivery {
    let mut d = delivery(
        "tx00000007",
        6,
        req(
            "POST",
            "/text",
            &[("Content-Type", "text/plain")],
            "\u{1b}[31mRED\u{1b}[0m\tcol\r\n\u{1b}]0;title\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}2J \u{202e}abc\u{200b}\n".as_bytes(),
        ),
    );
    d.attempts = vec![response(6, 204, 1.0, false, "")];
    d
}

/// The app plus an in-memory source, driven like the real loop drives it.
pub struct Harness {
    pub app: App,
    pub source: MemorySource,
}

impl Harness {
    pub fn new(newest_first: bool) -> Harness {
        let mut app = App::new(header(), newest_first, Theme::default());
        app.now_ms = T0 + 10 * 61_000;
        app.list_height = 8;
        Harness {
            app,
            source: MemorySource::new(1000),
        }
    }

    pub fn with(deliveries: Vec<Delivery>) -> Harness {
        let mut h = Harness::new(false);
        h.event(AppEvent::Conn(ConnState::Connected));
        for d in deliveries {
            h.event(AppEvent::Delivery(Box::new(d)));
        }
        h
    }

    pub fn event(&mut self, ev: AppEvent) {
        self.source.observe(&ev);
        update::on_app_event(&mut self.app, ev);
    }

    /// Apply an action; loads are carried out, other effects returned.
    pub fn act(&mut self, a: Action) -> Vec<Effect> {
        let mut out = vec![];
        for e in update::update(&mut self.app, a) {
            match e {
                Effect::LoadDelivery(id) => {
                    let d = self.source.load(&id);
                    update::on_loaded(&mut self.app, &id, d);
                }
                e => out.push(e),
            }
        }
        out
    }

    pub fn key(&mut self, code: KeyCode) -> Vec<Effect> {
        self.key_mod(code, KeyModifiers::NONE)
    }

    pub fn key_mod(&mut self, code: KeyCode, m: KeyModifiers) -> Vec<Effect> {
        match update::handle_key(&self.app, KeyEvent::new(code, m)) {
            Some(a) => self.act(a),
            None => vec![],
        }
    }

    pub fn keys(&mut self, s: &str) -> Vec<Effect> {
        s.chars().flat_map(|c| self.key(KeyCode::Char(c))).collect()
    }

    /// Select a delivery by id, with the arrow keys.
    pub fn select(&mut self, id: &str) {
        self.key(KeyCode::Char('g'));
        for _ in 0..self.app.rows.len() {
            if self.app.selected_row().is_some_and(|r| r.id == id) {
                return;
            }
            self.key(KeyCode::Down);
        }
        panic!("{id} not found");
    }

    pub fn selected_id(&self) -> Option<String> {
        self.app.selected_row().map(|r| r.id.clone())
    }
}
