//! The log's lines, plain and JSON, as a person and a program read them.

use super::*;
use crate::delivery::{BodyOrigin, WebhookRequest};
use bytes::Bytes;

fn delivery() -> Delivery {
    let req = WebhookRequest {
        method: "POST".into(),
        path: "/hook\u{1b}[31m".into(),
        query: "a=1".into(),
        headers: vec![("X-GitHub-Event".into(), "push".into())],
        body: Bytes::from_static(b"{}"),
    };
    let mut d = Delivery::new("http://relay/ch", req, BodyOrigin::Exact);
    d.id = "abcdefghij".into();
    // as intake derives it
    d.event = crate::delivery::event_label(&d.request);
    d
}

fn attempt(status: Option<u16>) -> Attempt {
    Attempt {
        target: "http://127.0.0.1:1/hook".into(),
        started_at_ms: 0,
        replay: false,
        latency_ms: 1.25,
        outcome: match status {
            Some(s) => AttemptOutcome::Response {
                status: s,
                headers: vec![],
                body: Bytes::new(),
                body_size: 0,
            },
            None => AttemptOutcome::Error {
                message: "connection refused".into(),
                error: crate::delivery::ErrorKind::Refused,
            },
        },
        sent: None,
    }
}

#[test]
fn plain_line_has_the_facts_and_no_escape_bytes() {
    let mut sink = LogSink::new(Vec::new(), false);
    sink.handle(&AppEvent::Delivery(Box::new(delivery())));
    sink.handle(&AppEvent::Attempt {
        id: "abcdefghij".into(),
        attempt: attempt(Some(200)),
    });
    sink.handle(&AppEvent::Attempt {
        id: "abcdefghij".into(),
        attempt: attempt(None),
    });
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("abcdefghij  POST /hook"), "{out}");
    assert!(
        lines[0].contains("[push]") && lines[0].contains("-> 200") && lines[0].contains("1.2 ms")
    );
    assert!(lines[1].contains("-> error: connection refused"));
    assert!(
        !out.contains('\u{1b}'),
        "escape byte reached the log: {out:?}"
    );
}

#[test]
fn json_lines_parse() {
    let mut sink = LogSink::new(Vec::new(), true);
    sink.handle(&AppEvent::Delivery(Box::new(delivery())));
    sink.handle(&AppEvent::Attempt {
        id: "abcdefghij".into(),
        attempt: attempt(Some(503)),
    });
    sink.handle(&AppEvent::Problem("bad event".into()));
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let vals: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(vals[0]["status"], 503);
    assert_eq!(vals[0]["event"], "push");
    assert_eq!(vals[0]["path"], "/hook\u{1b}[31m?a=1");
    assert_eq!(vals[1]["type"], "problem");
    assert_eq!(vals.len(), 2);
}

#[test]
fn a_relay_restart_is_said_in_words_without_claiming_a_loss() {
    let mut sink = LogSink::new(Vec::new(), false);
    sink.handle(&AppEvent::Gap(
        r#"{"reason":"relay_restarted","message":"events it held before the restart are gone","missed":null}"#
            .into(),
    ));
    sink.handle(&AppEvent::Gap(
        r#"{"reason":"not_retained","missed":2}"#.into(),
    ));
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert!(lines[0].contains("gap: the relay restarted"), "{out}");
    assert!(
        !lines[0].contains("lost:") && !lines[0].contains('{'),
        "{out}"
    );
    assert!(lines[1].contains("2 webhooks were lost"), "{out}");
}

#[test]
fn retries_say_which_try_and_when_the_next_is_then_a_clear_final_state() {
    let mut sink = LogSink::new(Vec::new(), false);
    sink.handle(&AppEvent::Delivery(Box::new(delivery())));
    let id = "abcdefghij".to_string();
    for (tries, next_in_ms) in [(1, 500), (2, 2000)] {
        sink.handle(&AppEvent::Attempt {
            id: id.clone(),
            attempt: attempt(None),
        });
        sink.handle(&AppEvent::Retrying {
            id: id.clone(),
            tries,
            next_in_ms,
        });
    }
    sink.handle(&AppEvent::Attempt {
        id: id.clone(),
        attempt: attempt(None),
    });
    sink.handle(&AppEvent::State {
        id: id.clone(),
        state: DeliveryState::Failed,
        reason: Some("connection refused (retried for 5m)".into()),
    });
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[0].contains("POST /hook"),
        "the first try has the facts: {out}"
    );
    assert!(lines[1].ends_with("retrying (1/…, next in 0.5 s)"), "{out}");
    assert!(
        lines[2].contains("try 2  -> error: connection refused"),
        "{out}"
    );
    assert!(
        !lines[2].contains("POST"),
        "a retry is not the full line again: {out}"
    );
    assert!(lines[3].ends_with("retrying (2/…, next in 2 s)"), "{out}");
    assert!(lines[4].contains("try 3"), "{out}");
    assert!(
        lines[5].contains("gave up, kept as failed: connection refused (retried for 5m)"),
        "{out}"
    );
}

#[test]
fn slack_lines_follow_their_delivery_say_posted_and_show_a_429_wait() {
    let mut sink = LogSink::new(Vec::new(), false);
    sink.handle(&AppEvent::Delivery(Box::new(delivery())));
    let id = "abcdefghij".to_string();
    // Slack answers before the target does
    sink.handle(&AppEvent::SlackWaiting {
        id: id.clone(),
        wait_ms: 3000,
    });
    sink.handle(&AppEvent::Slack {
        id: id.clone(),
        result: crate::slack::SlackResult {
            ok: true,
            status: Some(200),
            error: None,
            explanation: "sent".into(),
        },
    });
    sink.handle(&AppEvent::Attempt {
        id: id.clone(),
        attempt: attempt(Some(200)),
    });
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("-> 200"), "the delivery first: {out}");
    assert!(
        lines[1].ends_with("slack: rate limited by Slack (429), waiting 3 s before the next try"),
        "{out}"
    );
    assert!(lines[2].ends_with("slack: posted"), "{out}");
    assert!(!out.contains("sent: sent"), "{out}");
}
