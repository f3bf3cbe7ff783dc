//! End to end: a Port-signed delivery relayed through our server verifies as valid (the raw
//! bytes arrive); the same payload as smee.io streamed it (tests/fixtures/smee/sse) gets the
//! "re-serialized" outcome, not a bare mismatch.

use crate::common;

use std::time::Duration;

use common::{Recorder, fixture};
use hookrelay::delivery::BodyOrigin;
use hookrelay::events::AppEvent;
use hookrelay::forward::Target;
use hookrelay::pipeline::{self, ForwardConfig};
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier, VerifyMode};

const SECRET: &str = "test-secret";

fn verifier() -> Verifier {
    let mut s = Secrets::new();
    s.insert(Scheme::Port, SECRET.into());
    Verifier::new(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_json_is_valid_through_our_relay_and_reserialized_through_smee_io() {
    // the a1 payload: spaces, \u00e9 and é, 12345678901234567890, 1.0, 1E2, -0.0, \/, dup key
    let body = std::fs::read(fixture("smee/sent/a1-json-unusual-format/body")).unwrap();

    // 1. through hookrelay's relay: exact bytes, valid on the raw body
    let server = common::relay().await;
    let target = Recorder::start().await;
    let channel = server.new_channel();
    let cfg = ForwardConfig::new(channel.clone(), Target::parse(&target.url("/")).unwrap())
        .with_verifier(verifier(), VerifyMode::Strict);
    let mut p = pipeline::start(cfg).await.unwrap();
    common::connected(&mut p).await;
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = hookrelay::verify::sign_port(SECRET, &ts, &body);
    common::http()
        .post(&channel)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-port-timestamp", &ts)
        .header("x-port-signature", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let d = loop {
        match tokio::time::timeout(Duration::from_secs(10), p.events.recv()).await {
            Ok(Some(AppEvent::Delivery(d))) => break d,
            Ok(Some(_)) => continue,
            other => panic!("no delivery: {other:?}"),
        }
    };
    let v = d.verification.clone().unwrap();
    assert_eq!(v.outcome, Outcome::Valid, "{}", v.reason);
    assert_eq!(v.matched_form.as_deref(), Some("raw"));
    // strict mode forwarded it, byte for byte
    let got = target.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].body.as_ref(), &body[..]);
    p.shutdown().await;
    server.shutdown().await;

    // 2. the same payload as smee.io streamed it: re-serialized, and said so
    let sse = std::fs::read(fixture("smee/sse/a1-json-unusual-format.sse")).unwrap();
    let mut parser = hookrelay::sse::Parser::new(1 << 20);
    let mut out = Vec::new();
    parser.feed(&sse, &mut out);
    let data = out
        .into_iter()
        .find_map(|e| match e {
            hookrelay::sse::Parsed::Event(e) if e.event == "message" => Some(e.data),
            _ => None,
        })
        .unwrap();
    let decoded = hookrelay::wire::decode_event(&data, 1 << 20).unwrap();
    assert_eq!(
        decoded.origin,
        BodyOrigin::Reserialized {
            relay: "smee.io".into()
        }
    );
    let now = decoded.relay_timestamp_ms.unwrap();
    let v = verifier().verify(&decoded.request, &decoded.origin, now);
    assert_eq!(v.outcome, Outcome::Reserialized, "{}", v.reason);
    assert!(v.reason.contains("smee.io"), "{}", v.reason);
}
