//! A signature never vouches for bytes nobody signed (issue 14).
//!
//! Three bodies whose JSON re-serialization equals a signed body, relayed byte-exact through
//! our relay (the embedded `RelayServer` on 127.0.0.1:0) to the real `hookrelay forward
//! --verify strict --secret port=S`: each is held back (the target never sees it) and reported
//! as a plain mismatch over the raw body, in the log and in the store. A valid delivery sent
//! after them is forwarded, so the target saw everything that was going to reach it.

use crate::cli_support;
use crate::common;

use std::time::{Duration, Instant};

use cli_support::{forward, run};
use common::Recorder;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier, VerifyMode, sign_port};

const SECRET: &str = "S";

/// (raw body sent, body the signature was made over)
const CASES: [(&str, &str); 3] = [
    (
        r#"{"amount":1,"to":"mallory","to":"alice"}"#,
        r#"{"amount":1,"to":"alice"}"#,
    ),
    (
        r#"{"id":12345678901234567890}"#,
        r#"{"id":12345678901234567000}"#,
    ),
    ("100.000000000000001", "100"),
];

fn port_verifier() -> Verifier {
    let mut s = Secrets::new();
    s.insert(Scheme::Port, SECRET.into());
    Verifier::new(s)
}

fn signed(raw: &str, signed_over: &str, ts: &str) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: "/hook".into(),
        query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-port-timestamp".into(), ts.into()),
            (
                "x-port-signature".into(),
                sign_port(SECRET, ts, signed_over.as_bytes()),
            ),
        ],
        body: raw.as_bytes().to_vec().into(),
    }
}

#[test]
fn the_three_cases_are_invalid_on_exact_bytes_and_never_valid_through_a_rebuilt_form() {
    let ts = "1700000000";
    let now = 1_700_000_000_000;
    let v = port_verifier();
    for (raw, over) in CASES {
        let r = signed(raw, over, ts);
        let exact = v.verify(&r, &BodyOrigin::Exact, now);
        assert_eq!(exact.outcome, Outcome::Invalid, "{raw}: {}", exact.reason);
        assert!(exact.reason.contains("raw body"), "{}", exact.reason);
        assert!(!VerifyMode::Strict.forwards(Some(&exact)));
        // Even as a smee.io delivery, an unfaithful body has no rebuilt form to match.
        let smee = BodyOrigin::Reserialized {
            relay: "smee.io".into(),
        };
        let rebuilt = v.verify(&r, &smee, now);
        assert_eq!(rebuilt.outcome, Outcome::Reserialized, "{}", rebuilt.reason);
        assert!(!VerifyMode::Strict.forwards(Some(&rebuilt)));
        // The signed bytes themselves verify, so the secret and headers are right.
        let good = signed(over, over, ts);
        assert_eq!(
            v.verify(&good, &BodyOrigin::Exact, now).outcome,
            Outcome::Valid
        );
    }
}

#[test]
fn a_faithful_rebuilt_form_through_smee_is_its_own_warning_and_strict_holds_it_back() {
    // Sent pretty-printed with non-ASCII escaped; signed compact (JSON.stringify form).
    let raw = r#"{ "title": "caf\u00e9", "n": 1.0 }"#;
    let over = r#"{"title":"café","n":1}"#;
    let r = signed(raw, over, "1700000000");
    let v = port_verifier();
    let exact = v.verify(&r, &BodyOrigin::Exact, 1_700_000_000_000);
    assert_eq!(exact.outcome, Outcome::Invalid, "{}", exact.reason);
    let smee = BodyOrigin::Reserialized {
        relay: "smee.io".into(),
    };
    let out = v.verify(&r, &smee, 1_700_000_000_000);
    assert_eq!(
        out.outcome,
        Outcome::ValidAfterReserialization,
        "{}",
        out.reason
    );
    assert_eq!(out.matched_form.as_deref(), Some("json-stringify"));
    assert!(
        out.reason.starts_with(
            "valid only after smee.io's re-serialization: the raw bytes were not signed"
        ),
        "{}",
        out.reason
    );
    assert!(!VerifyMode::Strict.forwards(Some(&out)));
    assert!(VerifyMode::Report.forwards(Some(&out)));
    // Stored and read back under its own name.
    assert_eq!(
        serde_json::to_value(out.outcome).unwrap(),
        "valid_after_reserialization"
    );
}

#[test]
fn strict_forward_through_our_relay_holds_back_unsigned_bytes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, target) = rt.block_on(async { (common::relay().await, Recorder::start().await) });
    let channel = server.new_channel();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let mut fwd = forward(
        &channel,
        &target.url("/"),
        &store,
        &["--verify", "strict", "--secret", &format!("port={SECRET}")],
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    let post = |raw: &str, over: &str| {
        let sig = sign_port(SECRET, &ts, over.as_bytes());
        let status = rt.block_on(async {
            common::http()
                .post(&channel)
                .header("content-type", "application/json")
                .header("x-port-timestamp", &ts)
                .header("x-port-signature", &sig)
                .body(raw.as_bytes().to_vec())
                .send()
                .await
                .unwrap()
                .status()
        });
        assert!(status.is_success(), "{status}");
    };
    for (raw, over) in CASES {
        post(raw, over);
        let line = fwd.wait_line("not forwarded", Duration::from_secs(15));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains("--verify strict: the Port signature does not match the raw body"),
            "{raw}: {msg}"
        );
    }
    // A valid one afterwards is forwarded: the target saw everything it was going to see.
    let ok = r#"{"amount":1,"to":"alice"}"#;
    post(ok, ok);
    fwd.wait_line("\"type\":\"attempt\"", Duration::from_secs(15));
    let got = rt.block_on(target.wait_for(1, Duration::from_secs(10)));
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(&got[0].body[..], ok.as_bytes());

    // The store records each outcome.
    let end = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        let out = run(&["list", "--json", "--store", store.to_str().unwrap()]);
        let rows = if out.ok() { out.json_lines() } else { vec![] };
        if rows.len() == 4 && rows.iter().all(|r| !r["verification"].is_null()) {
            break rows;
        }
        assert!(Instant::now() < end, "store rows: {rows:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut outcomes: Vec<_> = rows
        .iter()
        .map(|r| r["verification"]["outcome"].as_str().unwrap().to_string())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["invalid", "invalid", "invalid", "valid"]);
    drop(fwd);
    rt.block_on(server.shutdown());
}
