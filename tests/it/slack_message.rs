//! The Block Kit message: the guide's layout, escaping, Slack's limits, the preview, redaction
//! and the explanations of Slack's answers.

use std::path::PathBuf;

use hookrelay::port::{self, PortEvent};
use hookrelay::slack::message::{LimitError, MAX_SECTION, MAX_TOTAL_TEXT, slack_len};
use hookrelay::slack::{build_message, check_limits, explain, preview_text, redact_webhook_url};
use serde_json::{Map, Value, json};

fn fixture(name: &str) -> PortEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/port")
        .join(name);
    port::parse_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn all_texts(msg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for block in msg["blocks"].as_array().unwrap() {
        if let Some(t) = block.pointer("/text/text").and_then(Value::as_str) {
            out.push(t.to_string());
        }
        for key in ["fields", "elements"] {
            for item in block
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(item["text"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn section_starting(msg: &Value, prefix: &str) -> String {
    all_texts(msg)
        .into_iter()
        .find(|t| t.starts_with(prefix))
        .unwrap_or_else(|| panic!("no section {prefix}"))
}

#[test]
fn golden_guide_example_entity_update() {
    let msg = build_message(&fixture("01-changelog-entity-update.json"));
    check_limits(&msg).unwrap();
    insta::assert_snapshot!(
        "entity_update_block_kit",
        serde_json::to_string_pretty(&msg).unwrap()
    );
    insta::assert_snapshot!("entity_update_preview", preview_text(&msg));
}

#[test]
fn guide_layout_with_diff_and_real_json() {
    let msg = build_message(&fixture("01-changelog-entity-update.json"));
    let blocks = msg["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Change in Software Catalog :white_check_mark:"
    );
    assert_eq!(blocks[1]["type"], "divider");
    assert!(
        blocks[2]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Triggered by *h2Mf13aRSCYQCUPIcqufoP4XRLwAt8Od@clients*")
    );
    let fields: Vec<&str> = blocks[3]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        &fields[..3],
        [
            "*Change type*\nUPDATE",
            "*Resource type*\nentity",
            "*Status*\nSUCCESS"
        ]
    );
    assert_eq!(
        section_starting(&msg, "*Changes"),
        "*Changes (1)*\n```~ properties.free_storage: 6 -&gt; 0.5```"
    );
    let after = section_starting(&msg, "*After*");
    assert!(
        after.contains("\"free_storage\": 0.5"),
        "real JSON: {after}"
    );
    assert!(
        !after.contains("None") && !after.contains("'"),
        "not a Python repr"
    );
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .starts_with("UPDATE entity storage-example (vm)")
    );
}

#[test]
fn every_example_builds_a_message_within_limits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/port");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let ev = port::parse_bytes(&std::fs::read(&path).unwrap()).unwrap();
            let msg = build_message(&ev);
            assert_eq!(check_limits(&msg), Ok(()), "{}", path.display());
            assert!(!msg["text"].as_str().unwrap().is_empty());
        }
    }
    // A create has no "Changes" section (After already shows everything) and Before is null.
    let created = build_message(&fixture("02-changelog-entity-create.json"));
    assert!(
        all_texts(&created)
            .iter()
            .all(|t| !t.starts_with("*Changes"))
    );
    assert_eq!(
        section_starting(&created, "*Before*"),
        "*Before*\n```null```"
    );
}

/// An entity with thousands of long properties, `<>&` and non-ASCII in it.
fn huge_event() -> PortEvent {
    let mut before = Map::new();
    let mut after = Map::new();
    for i in 0..2000 {
        before.insert(
            format!("prop_{i:04}"),
            json!(format!("<value> & {i} — ünïcödé 🚀")),
        );
        after.insert(
            format!("prop_{i:04}"),
            json!(format!("<value> & {} — ünïcödé 🚀", i * 7)),
        );
    }
    let entity = |props: Map<String, Value>| {
        json!({"identifier": "big", "title": "Big & <bold>", "blueprint": "svc",
               "properties": props, "relations": {}})
    };
    let body = json!({
        "action": "UPDATE", "resourceType": "entity", "status": "SUCCESS",
        "trigger": {"by": {"orgId": "o", "userId": "u@example.com"}, "origin": "UI", "at": "2024-01-01T00:00:00.000Z"},
        "context": {"blueprint": "svc", "entity": "big"},
        "diff": {"before": entity(before), "after": entity(after)}
    });
    port::parse(&body).unwrap()
}

#[test]
fn huge_payload_is_truncated_visibly_and_stays_within_limits() {
    let ev = huge_event();
    assert!(serde_json::to_string(&ev.after).unwrap().len() > 100_000);
    let msg = build_message(&ev);
    assert_eq!(check_limits(&msg), Ok(()));
    let texts = all_texts(&msg);
    let total: usize = texts.iter().map(|t| slack_len(t)).sum();
    assert!(total <= MAX_TOTAL_TEXT, "{total}");
    assert!(texts.iter().all(|t| slack_len(t) <= MAX_SECTION));
    assert!(msg["blocks"].as_array().unwrap().len() <= 50);
    for label in ["*Changes (1999)*", "*Before*", "*After*"] {
        let s = section_starting(&msg, label);
        assert!(s.contains("_… (truncated, "), "{label} marked as cut");
        assert!(s.contains("more characters)_"));
        // The code block closes before the marker; no entity is cut in half.
        assert!(s.contains("```\n_… (truncated"));
        assert!(!s.contains("&am```") && !s.contains("&l```") && !s.contains("&g```"));
        assert!(!s.contains('<') && !s.contains('>'), "escaped");
    }
    insta::assert_snapshot!(
        "huge_update_block_kit",
        serde_json::to_string_pretty(&msg).unwrap()
    );
}

#[test]
fn the_number_of_cut_characters_is_right() {
    let mut props = Map::new();
    props.insert("blob".into(), json!("x".repeat(10_000)));
    let body = json!({"action": "CREATE", "resourceType": "entity",
        "diff": {"before": null, "after": {"properties": props}}});
    let ev = port::parse(&body).unwrap();
    let msg = build_message(&ev);
    let after = section_starting(&msg, "*After*");
    let full = serde_json::to_string_pretty(ev.after.as_ref().unwrap()).unwrap();
    let kept = after
        .strip_prefix("*After*\n```")
        .unwrap()
        .split("```\n_…")
        .next()
        .unwrap();
    assert!(full.starts_with(kept));
    let more = full.chars().count() - kept.chars().count();
    let expected = format!("(truncated, {} more characters)", thousands(more));
    assert!(
        after.ends_with(&format!("{expected}_")),
        "{after:.80} … {expected}"
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn mrkdwn_is_escaped() {
    let body = json!({"action": "UPDATE", "resourceType": "entity",
        "trigger": {"by": {"userId": "<!channel> & friends"}},
        "context": {"entity": "a<b>c", "blueprint": "x&y"},
        "diff": {"before": {"title": "```"}, "after": {"title": "<@U123>"}}});
    let msg = build_message(&port::parse(&body).unwrap());
    for text in all_texts(&msg) {
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            !text
                .replace("&amp;", "")
                .replace("&lt;", "")
                .replace("&gt;", "")
                .contains('&')
        );
    }
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt; &amp; friends")
    );
    let changes = section_starting(&msg, "*Changes");
    assert_eq!(
        changes.matches("```").count(),
        2,
        "inner backticks cannot close the block"
    );
    let preview = preview_text(&msg);
    assert!(
        preview.contains("<!channel> & friends"),
        "the preview reads unescaped"
    );
}

#[test]
fn limits_are_enforced() {
    let section =
        |n: usize| json!({"type": "section", "text": {"type": "mrkdwn", "text": "a".repeat(n)}});
    assert_eq!(check_limits(&json!({"text": "hi"})), Ok(()));
    assert_eq!(check_limits(&json!([1])), Err(LimitError::Shape));
    let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    assert_eq!(
        check_limits(&json!({"blocks": many})),
        Err(LimitError::TooManyBlocks(51))
    );
    assert!(check_limits(&json!({"blocks": [section(3000)]})).is_ok());
    assert!(matches!(
        check_limits(&json!({"blocks": [section(3001)]})),
        Err(LimitError::TooLong { len: 3001, .. })
    ));
    let header = json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}});
    assert!(check_limits(&json!({"blocks": [header]})).is_err());
    let fields: Vec<Value> = (0..11)
        .map(|_| json!({"type": "mrkdwn", "text": "f"}))
        .collect();
    assert!(matches!(
        check_limits(&json!({"blocks": [{"type": "section", "fields": fields}]})),
        Err(LimitError::TooMany { count: 11, .. })
    ));
    let five: Vec<Value> = (0..5).map(|_| section(2900)).collect();
    assert_eq!(
        check_limits(&json!({"blocks": five})),
        Err(LimitError::TooMuchText(14_500))
    );
    // Astral characters count twice (UTF-16), never fewer than Slack's count.
    assert!(check_limits(&json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "🚀".repeat(1501)}}]})).is_err());
}

#[test]
fn webhook_url_is_redacted() {
    let url = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    let shown = redact_webhook_url(url);
    assert_eq!(
        shown,
        "https://hooks.slack.com/services/T00000000/B00000000/••••"
    );
    assert!(!shown.contains("XXXX"));
    assert_eq!(
        redact_webhook_url("http://127.0.0.1:8080/hook/s3cret?token=x"),
        "http://127.0.0.1:8080/••••"
    );
    assert_eq!(
        redact_webhook_url("https://user:pw@example.com/a"),
        "https://example.com/••••"
    );
    assert_eq!(redact_webhook_url("not a url s3cret"), "••••");
    assert_eq!(
        redact_webhook_url("https://hooks.slack.com/services/s3cret"),
        "https://hooks.slack.com/••••"
    );
    let cfg = hookrelay::slack::SlackConfig::new(url);
    assert!(!format!("{cfg:?}").contains("XXXX"));
}

#[test]
fn slack_answers_in_words() {
    let ok = explain(Some(200), "ok");
    assert!(ok.ok && ok.error.is_none() && ok.explanation == "sent");
    let cases = [
        (400, "invalid_blocks", "layout"),
        (400, "invalid_payload", "could not read"),
        (404, "no_service", "disabled, removed or invalid"),
        (404, "channel_not_found", "channel no longer exists"),
        (403, "action_prohibited", "admin has restricted"),
        (410, "channel_is_archived", "archived"),
        (500, "rollup_error", "internal error"),
        (429, "rate_limited", "rate limiting"),
        (403, "invalid_token", "revoked"),
    ];
    for (status, code, words) in cases {
        let r = explain(Some(status), code);
        assert!(!r.ok);
        assert_eq!(r.status, Some(status));
        assert_eq!(r.error.as_deref(), Some(code));
        assert!(r.explanation.contains(words), "{code}: {}", r.explanation);
        assert!(r.explanation.contains(&status.to_string()));
    }
    let odd = explain(Some(400), "something_new");
    assert_eq!(odd.error.as_deref(), Some("something_new"));
    assert!(odd.explanation.contains("something_new"));
    let html = explain(Some(502), "<html>Bad Gateway</html>");
    assert_eq!(html.error, None);
    assert!(html.explanation.contains("server error"));
    let limited = explain(Some(429), "");
    assert!(limited.explanation.contains("rate limiting"));
    let down = explain(None, "could not connect: Connection refused");
    assert!(!down.ok && down.status.is_none());
    assert!(down.explanation.contains("could not be reached"));
}
