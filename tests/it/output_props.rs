//! Property: no output path writes a raw control or format character (issue 14).
//!
//! Random deliveries whose method, path, query, headers, body (bytes, or a Port event full of
//! hostile strings), verification reason, attempts and Slack result carry C0/C1 controls, bidi
//! and zero-width characters go through every output: the log (plain and `--json`, including
//! the `--slack-preview` block), and the real binary's `list`, `show` (Port section included),
//! `diff ID`, `diff ID OTHER`, `export --curl`, and the JSON outputs (`list --json`,
//! `show --json`, `export --json`, `export --har`). Human outputs hold no character
//! [`needs_escape`] flags but the newline; JSON outputs parse and hold none either.

use crate::cli_support;
use crate::common;

use bytes::Bytes;
use cli_support::run;
use common::{delivery, response};
use hookrelay::delivery::{Attempt, AttemptOutcome, Delivery, WebhookRequest};
use hookrelay::events::AppEvent;
use hookrelay::logline::LogSink;
use hookrelay::sanitize::needs_escape;
use hookrelay::store::Store;
use hookrelay::verify::{Outcome, Scheme, Verification};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

const NASTY: &[char] = &[
    '\x1b',
    '\r',
    '\n',
    '\t',
    '\0',
    '\x07',
    '\x7f',
    '\u{85}',
    '\u{9b}',
    '\u{2028}',
    '\u{2029}',
    '\u{200b}',
    '\u{200d}',
    '\u{200e}',
    '\u{202a}',
    '\u{202e}',
    '\u{2066}',
    '\u{2069}',
    '\u{feff}',
    '\u{e0001}',
    '[',
    ']',
    '"',
    '\'',
    '\\',
    '$',
    '`',
    ';',
    'é',
    '✓',
];

fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(NASTY),
            2 => prop::char::range('a', 'z'),
            1 => any::<char>(),
        ],
        0..16,
    )
    .prop_map(String::from_iter)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (nasty(), nasty(), nasty(), nasty(), nasty()).prop_map(|(a, b, c, k, e)| {
            serde_json::to_vec(&json!({
                "action": "UPDATE",
                "resourceType": "entity",
                "status": a,
                "trigger": {"by": {"user": {"email": e}}, "origin": c},
                "context": {"blueprint": b, "entity": c},
                "diff": {
                    "before": {"identifier": c, "title": a, "properties": {k.clone(): a, "n": 1}},
                    "after": {"identifier": c, "title": b, "properties": {k: b, "n": 2, "x": e}},
                },
            }))
            .unwrap()
        }),
    ]
}

fn request() -> impl Strategy<Value = WebhookRequest> {
    (nasty(), nasty(), nasty(), nasty(), nasty(), body()).prop_map(|(m, p, q, hn, hv, body)| {
        WebhookRequest {
            method: format!("P{m}"),
            path: format!("/{p}"),
            query: q,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                (hn, hv.clone()),
                ("X-Value".into(), hv),
            ],
            body: Bytes::from(body),
        }
    })
}

fn with_everything(id: &str, req: WebhookRequest, text: &str) -> Delivery {
    let mut d = delivery(id, 1_700_000_000_000, req);
    d.verification = Some(Verification::new(
        Some(Scheme::Port),
        Outcome::Invalid,
        text,
    ));
    let mut answered = response(200, text.as_bytes());
    if let AttemptOutcome::Response { headers, .. } = &mut answered.outcome {
        headers.push(("X-Back".into(), text.into()));
    }
    let failed = Attempt {
        outcome: AttemptOutcome::Error {
            message: text.into(),
            error: hookrelay::delivery::ErrorKind::from_message(text),
        },
        ..answered.clone()
    };
    d.attempts = vec![answered, failed];
    d.slack = Some(hookrelay::slack::SlackResult {
        ok: false,
        status: Some(400),
        error: Some(text.into()),
        explanation: text.into(),
    });
    d
}

fn assert_inert(what: &str, text: &str) -> Result<(), TestCaseError> {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && needs_escape(c))
        .collect();
    prop_assert!(bad.is_empty(), "{what} wrote {bad:?}:\n{text}");
    Ok(())
}

fn assert_json_lines(what: &str, text: &str) -> Result<(), TestCaseError> {
    assert_inert(what, text)?;
    for line in text.lines() {
        prop_assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{what}: not JSON: {line}"
        );
    }
    Ok(())
}

fn log_output(d: &Delivery, json: bool) -> String {
    let mut sink = LogSink::new(Vec::new(), json);
    sink.handle(&AppEvent::Delivery(Box::new(d.clone())));
    for a in &d.attempts {
        sink.handle(&AppEvent::Attempt {
            id: d.id.clone(),
            attempt: a.clone(),
        });
    }
    if let Some(ev) = hookrelay::port::parse_bytes(&d.request.body) {
        sink.handle(&AppEvent::SlackPreview {
            id: d.id.clone(),
            message: hookrelay::slack::build_message(&ev),
        });
    }
    if let Some(s) = &d.slack {
        sink.handle(&AppEvent::Slack {
            id: d.id.clone(),
            result: s.clone(),
        });
    }
    let reason = &d.verification.as_ref().unwrap().reason;
    sink.handle(&AppEvent::Problem(format!(
        "{} not forwarded: {reason}",
        d.id
    )));
    String::from_utf8(sink.into_inner()).unwrap()
}

#[test]
fn no_output_path_writes_a_raw_control_or_format_character() {
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(request(), request(), nasty()), |(r1, r2, text)| {
            let d1 = with_everything("aaaaaaaaa1", r1, &text);
            let d2 = with_everything("bbbbbbbbb2", r2, &text);
            let plain = log_output(&d1, false);
            assert_inert("the log", &plain)?;
            prop_assert!(plain.lines().count() >= 3, "{plain}");
            assert_json_lines("the --json log", &log_output(&d1, true))?;

            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("s.sqlite");
            {
                let s = Store::open(&store).unwrap();
                s.insert_delivery(&d1).unwrap();
                s.insert_delivery(&d2).unwrap();
            }
            let st = store.to_str().unwrap();
            let cli = |args: &[&str]| {
                let mut a = args.to_vec();
                a.extend(["--store", st]);
                run(&a)
            };
            for args in [
                &["list"][..],
                &["show", "aaaaaaaaa1"],
                &["diff", "aaaaaaaaa1", "bbbbbbbbb2"],
                &["export", "aaaaaaaaa1", "--curl"],
            ] {
                let out = cli(args);
                prop_assert!(out.ok(), "{args:?}: {out:#?}");
                assert_inert(&args.join(" "), &out.stdout)?;
                assert_inert(&args.join(" "), &out.stderr)?;
            }
            let diff = cli(&["diff", "aaaaaaaaa1"]);
            assert_inert("diff ID", &diff.stdout)?;
            assert_inert("diff ID (stderr)", &diff.stderr)?;
            for args in [&["list", "--json"][..], &["show", "aaaaaaaaa1", "--json"]] {
                let out = cli(args).expect_ok();
                assert_json_lines(&args.join(" "), &out.stdout)?;
            }
            for args in [
                &["export", "aaaaaaaaa1", "--json"][..],
                &["export", "aaaaaaaaa1", "--har"],
            ] {
                let out = cli(args).expect_ok();
                assert_inert(&args.join(" "), &out.stdout)?;
                let v: Result<serde_json::Value, _> = serde_json::from_str(&out.stdout);
                prop_assert!(v.is_ok(), "{}: not JSON", args.join(" "));
            }
            Ok(())
        })
        .unwrap();
}
