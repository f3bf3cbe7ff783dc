//! End to end: deliveries captured from smee.io (body re-serialized by the relay) decoded
//! with the real wire decoder and verified with the sender's secret.

use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::reserialize::json_stringify;
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier};
use hookrelay::wire::decode_event;

/// The secret the capture's sender used (tests/fixtures/smee/sent/*/meta.json).
fn sender_secret(name: &str) -> String {
    let meta =
        std::fs::read_to_string(format!("tests/fixtures/smee/sent/{name}/meta.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    meta["secret"].as_str().unwrap().to_string()
}

/// The one webhook event (no `event:` line) of a raw SSE capture, decoded.
fn smee_delivery(name: &str) -> (WebhookRequest, BodyOrigin, i64) {
    let sse = std::fs::read_to_string(format!("tests/fixtures/smee/sse/{name}.sse")).unwrap();
    let block = sse
        .split("\n\n")
        .find(|b| b.contains("data:") && !b.lines().any(|l| l.starts_with("event:")))
        .expect("a webhook event in the capture");
    let data: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    let ev = decode_event(&data.join("\n"), usize::MAX).unwrap();
    (ev.request, ev.origin, ev.relay_timestamp_ms.unwrap())
}

fn port_verifier(secret: String) -> Verifier {
    let mut s = Secrets::new();
    s.insert(Scheme::Port, secret);
    Verifier::new(s)
}

#[test]
fn compact_ascii_json_through_smee_still_verifies() {
    let (req, origin, now) = smee_delivery("a0-json-compact-ascii");
    assert_eq!(
        origin,
        BodyOrigin::Reserialized {
            relay: "smee.io".into()
        }
    );
    let v = port_verifier(sender_secret("a0-json-compact-ascii")).verify(&req, &origin, now);
    assert_eq!(v.outcome, Outcome::Valid, "{}", v.reason);
    assert_eq!(v.scheme, Some(Scheme::Port));
    assert_eq!(v.matched_form.as_deref(), Some("json-stringify"));
    assert!(
        v.reason.contains("smee.io") && v.reason.contains("JSON.stringify"),
        "{}",
        v.reason
    );
    assert!(v.reason.contains("milliseconds"), "{}", v.reason);
    assert_eq!(v.age_secs, Some(1)); // relay received it 1.5 s after signing

    // The GitHub signature on the same delivery survives too.
    let mut s = Secrets::new();
    s.insert(Scheme::Github, sender_secret("a0-json-compact-ascii"));
    let g = Verifier::new(s).verify(&req, &origin, now);
    assert_eq!(
        (g.scheme, g.outcome),
        (Some(Scheme::Github), Outcome::Valid),
        "{}",
        g.reason
    );
}

#[test]
fn unusual_json_through_smee_is_reported_as_reserialized() {
    let name = "a1-json-unusual-format";
    let (req, origin, now) = smee_delivery(name);
    let v = port_verifier(sender_secret(name)).verify(&req, &origin, now);
    assert_eq!(v.outcome, Outcome::Reserialized, "{}", v.reason);
    assert_eq!(v.scheme, Some(Scheme::Port));
    assert!(
        v.reason.contains("re-serialized by smee.io") && v.reason.contains("byte-exact"),
        "{}",
        v.reason
    );
    assert!(!v.reason.contains(&sender_secret(name)));

    // The same request as sent (exact bytes) is valid: the secret and headers are right,
    // only the relay lost the bytes.
    let raw = std::fs::read(format!("tests/fixtures/smee/sent/{name}/body")).unwrap();
    let exact = WebhookRequest {
        body: raw.clone().into(),
        ..req.clone()
    };
    let ok = port_verifier(sender_secret(name)).verify(&exact, &BodyOrigin::Exact, now);
    assert_eq!(
        (ok.outcome, ok.matched_form.as_deref()),
        (Outcome::Valid, Some("raw")),
        "{}",
        ok.reason
    );

    // And hookrelay's JSON.stringify form of the sender's bytes is exactly what smee.io
    // (Node's JSON.stringify) produced: numbers, escapes, duplicate keys and all.
    let parsed: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(json_stringify(&parsed).as_bytes(), &req.body[..]);
}
