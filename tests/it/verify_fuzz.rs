//! A proptest-based fuzz of the verifier, for machines without cargo-fuzz (see
//! `scripts/fuzz.sh`). Arbitrary header sets and bodies: verifying never panics, always
//! gives a reason, never leaks the secret; re-signing under any forced scheme verifies.
//!
//! `cargo test --test verify_fuzz` runs a small number of cases; the long run is
//! `HOOKRELAY_FUZZ_CASES=100000 cargo test --test verify_fuzz -- --ignored`.

use bytes::Bytes;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const NAMES: [&str; 11] = [
    "x-port-signature",
    "x-port-timestamp",
    "x-hub-signature-256",
    "x-hub-signature",
    "stripe-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-signature",
    "x-signature",
    "date",
];
const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";
const NOW: i64 = 1_700_000_000_000;

/// Header values that look like the real thing often enough to get past the first checks.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(v1|v1a|v2|sha256|sha1|t)[,=][A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,50})*",
        "t=[0-9]{0,20},v1=[0-9a-f]{0,70}(,v0=[0-9a-f]{0,8})?",
        "-?[0-9]{0,22}",
        "[0-9a-fA-F]{38,66}",
        "(Mon|Thu),? [0-9]{1,2} (Sep|Jan) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} (UTC|GMT|\\+0000)",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:?[0-9]{2})",
    ]
}

fn request() -> impl Strategy<Value = WebhookRequest> {
    (
        prop::collection::vec((prop::sample::select(NAMES.to_vec()), value()), 0..6),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            "\\{\"[a-z]{0,5}\": ?(-?[0-9]{1,25}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?|\"[^\"\\\\]{0,10}\")\\}"
                .prop_map(String::into_bytes),
        ],
    )
        .prop_map(|(h, body)| WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: h.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
            body: Bytes::from(body),
        })
}

fn run(cases: u32) {
    let mut secrets = Secrets::new();
    for s in Scheme::ALL {
        secrets.insert(s, SECRET.into());
    }
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&request(), |req| {
            let mut v = Verifier::new(secrets.clone());
            for origin in [
                BodyOrigin::Exact,
                BodyOrigin::Reserialized {
                    relay: "smee.io".into(),
                },
            ] {
                let out = v.verify(&req, &origin, NOW);
                prop_assert!(!out.reason.is_empty());
                prop_assert!(!out.reason.contains("c2VjcmV0"));
            }
            for s in Scheme::ALL {
                v.forced = Some(s);
                let _ = v.verify(&req, &BodyOrigin::Exact, NOW);
                let mut r = req.clone();
                prop_assert!(v.resign(&mut r, NOW).is_ok());
                let out = v.verify(&r, &BodyOrigin::Exact, NOW);
                prop_assert_eq!(out.outcome, Outcome::Valid, "{}: {}", s, out.reason);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn verifier_survives_arbitrary_headers() {
    run(300);
}

#[test]
#[ignore = "long fuzz run: scripts/fuzz.sh without cargo-fuzz"]
fn fuzz_verifier_long() {
    let cases = std::env::var("HOOKRELAY_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20_000);
    run(cases);
}
