//! Every official (and spec-recomputed) test vector from port-webhooks.md and
//! other-signatures.md, run through the public `Verifier`.

use bytes::Bytes;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::reserialize::json_stringify;
use hookrelay::verify::{Outcome, Scheme, Secrets, Verification, Verifier, sign_port};

fn req(headers: &[(&str, &str)], body: &[u8]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: Bytes::copy_from_slice(body),
    }
}

fn verifier(scheme: Scheme, secret: &str) -> Verifier {
    let mut s = Secrets::new();
    s.insert(scheme, secret.into());
    Verifier::new(s)
}

fn check(v: &Verifier, r: &WebhookRequest, now_ms: i64) -> Verification {
    v.verify(r, &BodyOrigin::Exact, now_ms)
}

fn assert_valid(v: &Verification, scheme: Scheme, form: &str) {
    assert_eq!(v.outcome, Outcome::Valid, "{}", v.reason);
    assert_eq!(v.scheme, Some(scheme));
    assert_eq!(v.matched_form.as_deref(), Some(form), "{}", v.reason);
}

const PORT_AGENT_SIG: &str = "v1,uuBMfcio3oscejO5bOtL97K1AmiZjxDvou7sChjMNeE=";
const PORT_AGENT_TS: &str = "1713277889";

#[test]
fn port_agent_vector_raw_body() {
    let body = std::fs::read("tests/fixtures/port/vector-port-agent-signed-body.txt").unwrap();
    assert_eq!(body.len(), 825);
    let r = req(
        &[
            ("X-Port-Timestamp", PORT_AGENT_TS),
            ("X-Port-Signature", PORT_AGENT_SIG),
        ],
        &body,
    );
    let v = check(&verifier(Scheme::Port, "test"), &r, 1_713_277_889_000);
    assert_valid(&v, Scheme::Port, "raw");
    assert!(!v.reason.contains("test\""), "{}", v.reason);
    assert_eq!(sign_port("test", PORT_AGENT_TS, &body), PORT_AGENT_SIG);
}

#[test]
fn port_agent_vector_from_the_pretty_printed_message() {
    // File 10 is the whole Kafka message, pretty-printed, with the signature inside.
    let text =
        std::fs::read_to_string("tests/fixtures/port/10-action-run-kafka-message-signed.json")
            .unwrap();
    let mut msg: serde_json::Value = serde_json::from_str(&text).unwrap();
    let headers = msg["headers"].as_object().unwrap();
    assert_eq!(headers["X-Port-Signature"], PORT_AGENT_SIG);
    assert_eq!(headers["X-Port-Timestamp"].to_string(), PORT_AGENT_TS);
    msg["headers"] = serde_json::json!({});
    // The JSON.stringify form is byte-identical to the signed vector.
    let signed = std::fs::read("tests/fixtures/port/vector-port-agent-signed-body.txt").unwrap();
    assert_eq!(json_stringify(&msg).as_bytes(), &signed[..]);
    // Sent pretty-printed, it verifies under the JSON.stringify form.
    let pretty = serde_json::to_string_pretty(&msg).unwrap();
    let r = req(
        &[
            ("x-port-timestamp", PORT_AGENT_TS),
            ("x-port-signature", PORT_AGENT_SIG),
        ],
        pretty.as_bytes(),
    );
    let v = check(&verifier(Scheme::Port, "test"), &r, 1_713_277_889_000);
    assert_valid(&v, Scheme::Port, "json-stringify");
    assert!(v.reason.contains("JSON.stringify"), "{}", v.reason);
    // The wrong secret is a plain mismatch that lists every form tried.
    let bad = check(&verifier(Scheme::Port, "nope"), &r, 1_713_277_889_000);
    assert_eq!(bad.outcome, Outcome::Invalid);
    assert!(
        bad.reason.contains("raw body") && bad.reason.contains("JSON.stringify"),
        "{}",
        bad.reason
    );
    assert!(!bad.reason.contains("nope"), "{}", bad.reason);
}

#[test]
fn port_small_vector_and_milliseconds() {
    let body = br#"{"action":"UPDATE","resourceType":"entity","status":"SUCCESS"}"#;
    let sig = "v1,uxztFFv6DQWxgMUaXXE05kEZPWkH4K57Urehp/AU3ws=";
    assert_eq!(sign_port("my-client-secret", "1700000000", body), sig);
    let r = req(
        &[
            ("x-port-timestamp", "1700000000"),
            ("x-port-signature", sig),
        ],
        body,
    );
    let v = check(
        &verifier(Scheme::Port, "my-client-secret"),
        &r,
        1_700_000_100_000,
    );
    assert_valid(&v, Scheme::Port, "raw");
    assert_eq!((v.age_secs, v.tolerance_secs), (Some(100), Some(300)));

    // Port's example API reads the timestamp as milliseconds: accept that too.
    let ms = "1700000000123";
    let r = req(
        &[
            ("x-port-timestamp", ms),
            ("x-port-signature", &sign_port("k", ms, body)),
        ],
        body,
    );
    let v = check(&verifier(Scheme::Port, "k"), &r, 1_700_000_000_123);
    assert_valid(&v, Scheme::Port, "raw");
    assert!(v.reason.contains("milliseconds"), "{}", v.reason);
    assert_eq!(v.signed_at_ms, Some(1_700_000_000_123));
}

#[test]
fn port_serialization_variants_each_match_their_form() {
    // The wire bytes python-requests sends behind Port's execution agent.
    let wire = r#"{"title": "caf\u00e9 \u2713", "n": 1, "nested": {"a": [1, 2]}}"#;
    let v = verifier(Scheme::Port, "my-client-secret");
    for (sig, form) in [
        (
            "v1,aahxVbE1mekI+d41xNk3T2zS2yCNnpk31dwVU2Eq1Ww=",
            "json-stringify",
        ),
        (
            "v1,ziOpHfp5AExp5jHt2tib5Dfdr95vJbUvEVLBTtQQVSA=",
            "json-ascii",
        ),
        ("v1,G5HEJqOG4CkREcqiDbb5BCu4Nv9o8WYcIVN+TnF/FPg=", "raw"),
    ] {
        let r = req(
            &[
                ("x-port-timestamp", "1700000000"),
                ("x-port-signature", sig),
            ],
            wire.as_bytes(),
        );
        assert_valid(&check(&v, &r, 1_700_000_000_000), Scheme::Port, form);
    }
}

#[test]
fn port_docs_example_signature_is_not_a_real_mac() {
    let r = req(
        &[
            ("x-port-timestamp", "1700000000"),
            (
                "x-port-signature",
                "v1,2ehMaSsW+OTSDFERA/SmIKSSySlE3uaJELVlNIOLJ1OE=",
            ),
        ],
        b"{}",
    );
    let v = check(&verifier(Scheme::Port, "k"), &r, 1_700_000_000_000);
    assert_eq!(v.outcome, Outcome::MalformedHeader, "{}", v.reason);
}

#[test]
fn port_ocean_sha256_prefix_under_the_same_header() {
    let body = br#"{"a":1}"#;
    let sig = "sha256=d29dd118a40ee65d0b31c4f252bc6289edc660fd0e2548db55b152371c67dd2b";
    let r = req(&[("X-Port-Signature", sig)], body);
    assert_eq!(hookrelay::verify::detect(&r), Some(Scheme::PortOcean));
    let v = check(&verifier(Scheme::PortOcean, "ocean-secret"), &r, 0);
    assert_valid(&v, Scheme::PortOcean, "raw");
    // Forcing `port` still dispatches on the prefix.
    let mut forced = verifier(Scheme::PortOcean, "ocean-secret");
    forced.forced = Some(Scheme::Port);
    assert_eq!(check(&forced, &r, 0).outcome, Outcome::Valid);
    // A Port secret is not a Port Ocean secret.
    let v = check(&verifier(Scheme::Port, "ocean-secret"), &r, 0);
    assert_eq!(v.outcome, Outcome::NoSecret);
    assert!(
        v.reason.contains("HOOKRELAY_PORT_OCEAN_SECRET"),
        "{}",
        v.reason
    );
}

#[test]
fn github_official_vector_and_legacy_sha1() {
    let secret = "It's a Secret to Everybody";
    let body = b"Hello, World!";
    let r = req(
        &[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )],
        body,
    );
    assert_valid(
        &check(&verifier(Scheme::Github, secret), &r, 0),
        Scheme::Github,
        "raw",
    );
    let r = req(
        &[(
            "X-Hub-Signature",
            "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
        )],
        body,
    );
    let v = check(&verifier(Scheme::Github, secret), &r, 0);
    assert_valid(&v, Scheme::Github, "raw");
    assert!(v.reason.contains("SHA1"), "{}", v.reason);
    let v = check(&verifier(Scheme::Github, "other"), &r, 0);
    assert_eq!(v.outcome, Outcome::Invalid);
    assert!(v.age_secs.is_none(), "GitHub has no timestamp");
}

const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_BODY: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
const STRIPE_HEADER: &str = "t=1700000000,v1=4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";

#[test]
fn stripe_vector_tolerance_and_reserialization() {
    let v = verifier(Scheme::Stripe, STRIPE_SECRET);
    let r = req(
        &[("Stripe-Signature", STRIPE_HEADER)],
        STRIPE_BODY.as_bytes(),
    );
    assert_valid(&check(&v, &r, 1_700_000_000_000), Scheme::Stripe, "raw");
    // Within 300 s: fine. Past it: stale, with the age and the tolerance.
    assert_eq!(check(&v, &r, 1_700_000_300_000).outcome, Outcome::Valid);
    let stale = check(&v, &r, 1_700_000_000_000 + (2 * 3600 + 3 * 60) * 1000);
    assert_eq!(stale.outcome, Outcome::Stale);
    assert!(
        stale
            .reason
            .contains("signed 2 h 3 min ago; tolerance is 300 s"),
        "{}",
        stale.reason
    );
    // Stripe does not reject future timestamps.
    assert_eq!(check(&v, &r, 1_600_000_000_000).outcome, Outcome::Valid);
    // The compact re-serialization does not verify: Smee breaks Stripe.
    let compact = r#"{"id":"evt_test_webhook","object":"event"}"#;
    let r2 = req(&[("Stripe-Signature", STRIPE_HEADER)], compact.as_bytes());
    assert_eq!(check(&v, &r2, 1_700_000_000_000).outcome, Outcome::Invalid);
    let via_smee = v.verify(
        &r2,
        &BodyOrigin::Reserialized {
            relay: "smee.io".into(),
        },
        1_700_000_000_000,
    );
    assert_eq!(via_smee.outcome, Outcome::Reserialized);
    assert!(via_smee.reason.contains("smee.io"), "{}", via_smee.reason);
    // Several v1 signatures (a secret being rolled): any match is enough.
    let rolled = format!(
        "t=1700000000,v1={},{}",
        "ab".repeat(32),
        &STRIPE_HEADER[13..]
    );
    let r3 = req(&[("Stripe-Signature", &rolled)], STRIPE_BODY.as_bytes());
    assert_eq!(check(&v, &r3, 1_700_000_000_000).outcome, Outcome::Valid);
}

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: &str = "1614265330";
const SW_BODY: &str = r#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn standard_webhooks_vector_lists_and_svix_names() {
    let v = verifier(Scheme::StandardWebhooks, SW_SECRET);
    let now = 1_614_265_330_000;
    for prefix in ["webhook", "svix"] {
        let r = req(
            &[
                (&format!("{prefix}-id"), SW_ID),
                (&format!("{prefix}-timestamp"), SW_TS),
                (&format!("{prefix}-signature"), SW_SIG),
            ],
            SW_BODY.as_bytes(),
        );
        assert_valid(&check(&v, &r, now), Scheme::StandardWebhooks, "raw");
    }
    // Key rotation list with an unknown version and a wrong v1 entry first.
    let list = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz {SW_SIG}");
    let r = req(
        &[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", SW_TS),
            ("webhook-signature", &list),
        ],
        SW_BODY.as_bytes(),
    );
    assert_eq!(check(&v, &r, now).outcome, Outcome::Valid);
    // Tolerance both ways.
    assert_eq!(check(&v, &r, now + 301_000).outcome, Outcome::Stale);
    let fut = check(&v, &r, now - 600_000);
    assert_eq!(fut.outcome, Outcome::Future);
    assert!(
        fut.reason.contains("10 min 0 s in the future"),
        "{}",
        fut.reason
    );
    assert_eq!(fut.age_secs, Some(-600));
    // Only asymmetric signatures: nothing hookrelay can check.
    let r = req(
        &[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", SW_TS),
            ("webhook-signature", "v1a,hnO3f"),
        ],
        SW_BODY.as_bytes(),
    );
    assert_eq!(check(&v, &r, now).outcome, Outcome::MalformedHeader);
}

#[test]
fn scalr_legacy_sha1_and_sha256_with_three_date_formats() {
    let key = "bilFGi4ZVZUdG+C6r0NIM9tuRq6PaG33R3eBUVhLwMAErGBaazvXe4Gq2DcJs5q+";
    let body = br#"{"a": "b"}"#;
    let v = verifier(Scheme::Scalr, key);
    let now = 1_504_765_804_000; // 2017-09-07T06:30:04Z
    for (date, sig) in [
        (
            "Thu 07 Sep 2017 06:30:04 UTC",
            "48e395e38ac48988929167df531eb2da00063a7d",
        ),
        (
            "Thu 07 Sep 2017 06:30:04 UTC",
            "1f74fba65b6861baaa613189b375e85193a167aa08bf11eee5c54d16475e1703",
        ),
        (
            "2017-09-07T06:30:04+0000",
            "be58d2c42a6f42184eabc6fe2765e380877d4cc233554317a5d0b5ac3ac4c3f7",
        ),
        (
            "2017-09-07T06:30:04+00:00",
            "116375cad1fcf0bfeec04457392192f41b4fd4380a4f554d46a3ff5f5ff22b63",
        ),
        (
            "Thu, 07 Sep 2017 06:30:04 GMT",
            "c7088ebacbabecc76a47beeb1fd0d2788145f21a4b90a38d89b26a07254057aa",
        ),
    ] {
        let r = req(&[("X-Signature", sig), ("Date", date)], body);
        let out = check(&v, &r, now + 10_000);
        assert_valid(&out, Scheme::Scalr, "raw");
        assert_eq!(out.signed_at_ms, Some(now), "{date}");
        assert_eq!(
            out.reason.contains("SHA1"),
            sig.len() == 40,
            "{}",
            out.reason
        );
        // Scalr rejects at 300 s or more, both ways.
        assert_eq!(check(&v, &r, now + 299_000).outcome, Outcome::Valid);
        assert_eq!(check(&v, &r, now + 300_000).outcome, Outcome::Stale);
        assert_eq!(check(&v, &r, now - 300_000).outcome, Outcome::Future);
    }
}

#[test]
fn detection_prefers_a_scheme_with_a_secret() {
    let body = b"Hello, World!";
    let r = req(
        &[
            ("x-port-timestamp", "1"),
            ("x-port-signature", "v1,AAAA"),
            (
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
        ],
        body,
    );
    assert_eq!(
        hookrelay::verify::detect_all(&r),
        [Scheme::Port, Scheme::Github]
    );
    let v = check(
        &verifier(Scheme::Github, "It's a Secret to Everybody"),
        &r,
        0,
    );
    assert_valid(&v, Scheme::Github, "raw");
    // Without any secret the first detected scheme is reported.
    let v = check(&Verifier::default(), &r, 0);
    assert_eq!(
        (v.scheme, v.outcome),
        (Some(Scheme::Port), Outcome::MalformedHeader)
    );
    let unsigned = check(&Verifier::default(), &req(&[], body), 0);
    assert_eq!(unsigned.outcome, Outcome::Unsigned);
    assert_eq!(unsigned.reason, "no signature headers: nothing to verify");
}
