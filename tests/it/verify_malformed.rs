//! Malformed and missing headers of every kind give a clear outcome, never a panic; and
//! re-signing makes a captured delivery pass again after the tolerance has passed.

use bytes::Bytes;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::{Outcome, ResignError, Scheme, Secrets, Verifier, VerifyMode};

const NOW: i64 = 1_700_000_000_000;
const GOOD_B64: &str = "uxztFFv6DQWxgMUaXXE05kEZPWkH4K57Urehp/AU3ws=";
const HEX64: &str = "4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150";

fn req(headers: &[(&str, &str)]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: Bytes::from_static(b"{\"a\":1}"),
    }
}

fn all_secrets() -> Secrets {
    let mut s = Secrets::new();
    for scheme in Scheme::ALL {
        s.insert(scheme, "whsec_c2VjcmV0LWtleS1ieXRlcw==".into());
    }
    s
}

/// Headers, the expected outcome, and words the reason must contain.
type Row<'a> = (Vec<(&'a str, &'a str)>, Outcome, &'a str);

#[test]
fn malformed_header_table() {
    use Outcome::*;
    let several: String = (0..17)
        .map(|_| format!("v1,{GOOD_B64}"))
        .collect::<Vec<_>>()
        .join(" ");
    let o0 = format!("v1,{GOOD_B64}");
    let o1 = format!("v1={HEX64}");
    let o2 = format!("t=abc,v1={HEX64}");
    let o3 = format!("t=1,t=2,v1={HEX64}");
    let o4 = format!("t=99999999999999999,v1={HEX64}");
    let o5 = "z".repeat(40);
    let rows: Vec<Row> = vec![
        // Port
        (
            vec![("x-port-signature", ""), ("x-port-timestamp", "1700000000")],
            MalformedHeader,
            "is empty",
        ),
        (
            vec![
                ("x-port-signature", "v1"),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "no comma",
        ),
        (
            vec![
                ("x-port-signature", "v1,!!!notbase64"),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "not valid base64",
        ),
        (
            vec![
                ("x-port-signature", "v1,AAAA"),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "3 bytes",
        ),
        (
            vec![
                ("x-port-signature", "v2,AAAA"),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "no v1 signature",
        ),
        (
            vec![
                ("x-port-signature", &several),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "at most 16",
        ),
        (
            vec![
                ("x-port-signature", GOOD_B64),
                ("x-port-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "no comma",
        ),
        (
            vec![("x-port-signature", "v1,AAAA")],
            MissingHeader,
            "x-port-timestamp is missing",
        ),
        (
            vec![("x-port-signature", &o0), ("x-port-timestamp", "soon")],
            MalformedHeader,
            "not a whole number",
        ),
        (
            vec![("x-port-signature", &o0), ("x-port-timestamp", "")],
            MalformedHeader,
            "is empty",
        ),
        (
            vec![("x-port-signature", &o0), ("x-port-timestamp", "-1")],
            MalformedHeader,
            "not a whole number",
        ),
        (
            vec![
                ("x-port-signature", &o0),
                ("x-port-timestamp", "99999999999999999999"),
            ],
            MalformedHeader,
            "too large",
        ),
        (
            vec![
                ("x-port-signature", &o0),
                ("x-port-timestamp", "1"),
                ("x-port-timestamp", "2"),
            ],
            MalformedHeader,
            "appears 2 times",
        ),
        // the largest i64 is read as milliseconds: a valid-looking but mismatching signature
        (
            vec![
                ("x-port-signature", &o0),
                ("x-port-timestamp", "9223372036854775807"),
            ],
            Invalid,
            "signed 106751",
        ),
        // Port Ocean
        (
            vec![("x-port-signature", "sha256=xyz")],
            MalformedHeader,
            "64 hex digits",
        ),
        // GitHub
        (
            vec![("x-hub-signature-256", "")],
            MalformedHeader,
            "is empty",
        ),
        (
            vec![("x-hub-signature-256", HEX64)],
            MalformedHeader,
            "does not start with sha256=",
        ),
        (
            vec![("x-hub-signature-256", "sha256=abc")],
            MalformedHeader,
            "64 hex digits",
        ),
        (
            vec![("x-hub-signature", "sha1=zz")],
            MalformedHeader,
            "40 hex digits",
        ),
        // Stripe
        (vec![("stripe-signature", "")], MalformedHeader, "is empty"),
        (
            vec![("stripe-signature", "garbage")],
            MalformedHeader,
            "not key=value",
        ),
        (
            vec![("stripe-signature", &o1)],
            MalformedHeader,
            "no t= timestamp",
        ),
        (
            vec![("stripe-signature", "t=1700000000,v0=abc")],
            MalformedHeader,
            "no v1 signature",
        ),
        (
            vec![("stripe-signature", "t=1700000000,v1=nothex")],
            MalformedHeader,
            "not 64 hex digits",
        ),
        (
            vec![("stripe-signature", &o2)],
            MalformedHeader,
            "not a whole number",
        ),
        (
            vec![("stripe-signature", &o3)],
            MalformedHeader,
            "more than one t=",
        ),
        (
            vec![("stripe-signature", &o4)],
            MalformedHeader,
            "too large",
        ),
        // Standard Webhooks
        (
            vec![
                ("webhook-signature", &o0),
                ("webhook-timestamp", "1700000000"),
            ],
            MissingHeader,
            "webhook-id is missing",
        ),
        (
            vec![("webhook-signature", &o0), ("webhook-id", "m")],
            MissingHeader,
            "webhook-timestamp is missing",
        ),
        (
            vec![
                ("webhook-signature", ""),
                ("webhook-id", "m"),
                ("webhook-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "is empty",
        ),
        (
            vec![
                ("webhook-signature", &o0),
                ("webhook-id", " "),
                ("webhook-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "webhook-id is empty",
        ),
        (
            vec![
                ("svix-signature", "v1,@@@"),
                ("svix-id", "m"),
                ("svix-timestamp", "1700000000"),
            ],
            MalformedHeader,
            "svix-signature signature",
        ),
        (
            vec![
                ("webhook-signature", &o0),
                ("webhook-id", "m"),
                ("webhook-timestamp", "1.5"),
            ],
            MalformedHeader,
            "not a whole number",
        ),
        // Scalr
        (
            vec![("x-signature", HEX64)],
            MissingHeader,
            "Date is missing",
        ),
        (
            vec![
                ("x-signature", "abc"),
                ("date", "Thu 07 Sep 2017 06:30:04 UTC"),
            ],
            MalformedHeader,
            "has 3 characters",
        ),
        (
            vec![
                ("x-signature", &o5),
                ("date", "Thu 07 Sep 2017 06:30:04 UTC"),
            ],
            MalformedHeader,
            "not hex",
        ),
        (
            vec![("x-signature", HEX64), ("date", "yesterday")],
            MalformedHeader,
            "not a date",
        ),
        (
            vec![("x-signature", ""), ("date", "yesterday")],
            MalformedHeader,
            "is empty",
        ),
    ];
    let v = Verifier::new(all_secrets());
    for (headers, want, says) in rows {
        let r = req(&headers);
        let got = v.verify(&r, &BodyOrigin::Exact, NOW);
        assert_eq!(got.outcome, want, "{headers:?}: {}", got.reason);
        assert!(
            got.reason.contains(says),
            "{headers:?}: {:?} lacks {says:?}",
            got.reason
        );
        assert!(
            !got.reason.contains("c2VjcmV0"),
            "secret leaked: {}",
            got.reason
        );
    }
}

#[test]
fn forced_scheme_without_its_headers_is_missing() {
    for scheme in Scheme::ALL {
        let mut v = Verifier::new(all_secrets());
        v.forced = Some(scheme);
        let got = v.verify(&req(&[]), &BodyOrigin::Exact, NOW);
        assert_eq!(
            got.outcome,
            Outcome::MissingHeader,
            "{scheme}: {}",
            got.reason
        );
    }
}

#[test]
fn no_secret_says_how_to_configure_one() {
    let r = req(&[("x-hub-signature-256", &format!("sha256={HEX64}"))]);
    let got = Verifier::default().verify(&r, &BodyOrigin::Exact, NOW);
    assert_eq!(got.outcome, Outcome::NoSecret);
    assert!(
        got.reason.contains("--secret github=") && got.reason.contains("HOOKRELAY_GITHUB_SECRET"),
        "{}",
        got.reason
    );
    // A Standard Webhooks secret that is not base64 is no usable secret.
    let mut s = Secrets::new();
    s.insert(Scheme::StandardWebhooks, "whsec_***".into());
    let r = req(&[
        ("webhook-signature", &format!("v1,{GOOD_B64}")),
        ("webhook-id", "m"),
        ("webhook-timestamp", "1700000000"),
    ]);
    let got = Verifier::new(s).verify(&r, &BodyOrigin::Exact, NOW);
    assert_eq!(got.outcome, Outcome::NoSecret, "{}", got.reason);
}

#[test]
fn resigning_revives_a_stale_capture_for_every_scheme() {
    let secrets = all_secrets();
    for scheme in Scheme::ALL {
        let mut signer = Verifier::new(secrets.clone());
        signer.forced = Some(scheme);
        let mut r = req(&[]);
        signer.resign(&mut r, NOW).unwrap();
        let v = Verifier::new(secrets.clone());
        assert_eq!(
            v.verify(&r, &BodyOrigin::Exact, NOW).outcome,
            Outcome::Valid,
            "{scheme}"
        );
        // An hour later it is stale (GitHub and Port Ocean carry no timestamp) ...
        let later = NOW + 3_600_000;
        let stale = v.verify(&r, &BodyOrigin::Exact, later);
        let timed = !matches!(scheme, Scheme::Github | Scheme::PortOcean);
        assert_eq!(
            stale.outcome == Outcome::Stale,
            timed,
            "{scheme}: {}",
            stale.reason
        );
        // ... and re-signing (detected from the headers) makes it valid again.
        let resigned = v.resign(&mut r, later).unwrap();
        assert_eq!(resigned, [scheme]);
        assert_eq!(
            v.verify(&r, &BodyOrigin::Exact, later).outcome,
            Outcome::Valid,
            "{scheme}"
        );
        // an edited body is re-signed too
        r.body = Bytes::from_static(b"{\"a\":2}");
        v.resign(&mut r, later).unwrap();
        assert_eq!(
            v.verify(&r, &BodyOrigin::Exact, later).outcome,
            Outcome::Valid,
            "{scheme}"
        );
    }
}

#[test]
fn resign_keeps_formats_and_skips_schemes_without_secrets() {
    let mut s = Secrets::new();
    s.insert(Scheme::Port, "p".into());
    let v = Verifier::new(s);
    let mut r = req(&[
        ("X-Port-Timestamp", "1600000000000"),
        ("X-Port-Signature", "v1,AAAA"),
        ("X-Hub-Signature-256", "sha256=00"),
    ]);
    assert_eq!(v.resign(&mut r, NOW).unwrap(), [Scheme::Port]);
    assert_eq!(
        r.header("x-port-timestamp"),
        Some("1700000000000"),
        "milliseconds stay milliseconds"
    );
    assert_eq!(
        r.header("x-hub-signature-256"),
        Some("sha256=00"),
        "no GitHub secret: untouched"
    );
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-port-signature"))
            .count(),
        1
    );

    let mut only_github = req(&[("X-Hub-Signature-256", "sha256=00")]);
    assert!(matches!(
        v.resign(&mut only_github, NOW),
        Err(ResignError::NoSecret { schemes }) if schemes == "github"
    ));
    assert_eq!(v.resign(&mut req(&[]), NOW).unwrap(), Vec::<Scheme>::new());

    // Scalr keeps the legacy Date style and SHA-1.
    let mut s = Secrets::new();
    s.insert(Scheme::Scalr, "k".into());
    let v = Verifier::new(s);
    let mut r = req(&[
        ("X-Signature", &"0".repeat(40)),
        ("Date", "Thu 07 Sep 2017 06:30:04 UTC"),
    ]);
    v.resign(&mut r, NOW).unwrap();
    assert_eq!(r.header("date"), Some("Tue 14 Nov 2023 22:13:20 UTC"));
    assert_eq!(r.header("x-signature").map(str::len), Some(40));
    assert_eq!(
        v.verify(&r, &BodyOrigin::Exact, NOW).outcome,
        Outcome::Valid
    );
}

#[test]
fn strict_mode_forwards_only_valid() {
    let v = Verifier::default();
    let unsigned = v.verify(&req(&[]), &BodyOrigin::Exact, NOW);
    assert!(VerifyMode::Report.forwards(Some(&unsigned)));
    assert!(VerifyMode::Off.forwards(None));
    assert!(!VerifyMode::Strict.forwards(Some(&unsigned)));
    assert!(!VerifyMode::Strict.forwards(None));
    let mut s = Secrets::new();
    s.insert(Scheme::Port, "p".into());
    let mut r = req(&[]);
    let mut signer = Verifier::new(s);
    signer.forced = Some(Scheme::Port);
    signer.resign(&mut r, NOW).unwrap();
    let valid = signer.verify(&r, &BodyOrigin::Exact, NOW);
    assert!(VerifyMode::Strict.forwards(Some(&valid)));
}
