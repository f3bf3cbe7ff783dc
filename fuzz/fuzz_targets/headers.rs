//! Fuzz the signature header parsers and `Verifier::verify` / `resign` with arbitrary bytes,
//! and the output side on the same input: the sanitizer (nothing a terminal acts on comes out;
//! idempotent), the JSON writer (same value, none raw) and the curl builder (printable only).
//!
//! Input layout: pieces separated by 0xFF; the last piece is the body. In every other
//! piece the first byte picks a signature-related header name from `NAMES` and the rest is
//! its value (empty pieces add no header). The whole input also goes, as text, into every
//! header parser on its own.
#![no_main]

use bytes::Bytes;
use hookrelay_core::delivery::{BodyOrigin, WebhookRequest};
use hookrelay_core::verify::{
    Outcome, Scheme, Secrets, Verifier, github, port, reserialize, scalr, standard, stripe,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 12] = [
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
    "x-port-timestamp",
];
const NOW: i64 = 1_700_000_000_000;

fn request(data: &[u8]) -> WebhookRequest {
    let mut pieces: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let body = if pieces.len() > 1 {
        pieces.pop().unwrap_or_default()
    } else {
        &[]
    };
    let mut headers = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        // The first byte picks the header; the rest is its value.
        let Some((&pick, value)) = p.split_first() else {
            continue;
        };
        let name = NAMES[(pick as usize + i) % NAMES.len()];
        headers.push((
            name.to_string(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers,
        body: Bytes::copy_from_slice(body),
    }
}

fn check_outputs(data: &[u8], text: &str, req: &WebhookRequest) {
    use hookrelay_core::sanitize::{display_safe, json_text, needs_escape};
    let once = display_safe(text).into_owned();
    assert!(!once.chars().any(needs_escape), "{once:?}");
    assert_eq!(
        display_safe(&once),
        once,
        "sanitizing twice changes nothing"
    );
    let json = json_text(text);
    assert!(!json.chars().any(needs_escape), "{json:?}");
    assert_eq!(
        serde_json::from_str::<String>(&json).ok().as_deref(),
        Some(text)
    );
    let mut r = req.clone();
    r.method = text.to_string();
    r.path = format!("/{text}");
    r.query = text.to_string();
    r.headers.push((text.to_string(), text.to_string()));
    let cmd = hookrelay_core::curl::command(&r, &hookrelay_core::curl::url_for(&r, "http://h"), None);
    assert!(
        !cmd.chars().any(|c| c != '\n' && needs_escape(c)),
        "{cmd:?}"
    );
    if !data.contains(&0) {
        let word = hookrelay_core::curl::quote(data);
        assert!(!word.chars().any(needs_escape), "{word:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = port::parse_signature(&text);
    let _ = port::parse_ocean(&text);
    let _ = github::parse_signature(&text, false);
    let _ = github::parse_signature(&text, true);
    let _ = stripe::parse_header(&text);
    let _ = standard::parse_signatures(&text);
    let _ = standard::key(&text);
    let _ = scalr::parse_signature(&text);
    let _ = scalr::parse_date(&text);
    let _ = reserialize::BodyForms::new(data).all();

    let req = request(data);
    let mut secrets = Secrets::new();
    for s in Scheme::ALL {
        secrets.insert(s, "whsec_c2VjcmV0LWtleS1ieXRlcw==".into());
    }
    let mut v = Verifier::new(secrets);
    for origin in [
        BodyOrigin::Exact,
        BodyOrigin::Reserialized {
            relay: "smee.io".into(),
        },
    ] {
        let out = v.verify(&req, &origin, NOW);
        assert!(!out.reason.is_empty());
        assert!(!out.reason.contains("c2VjcmV0"));
        // Never valid for bytes nobody signed: the exact bytes are judged as they are.
        if out.outcome == Outcome::Valid && origin == BodyOrigin::Exact {
            assert_eq!(out.matched_form.as_deref(), Some("raw"));
        }
    }
    check_outputs(data, &text, &req);
    // Re-signing any request under a forced scheme makes it verify.
    for s in Scheme::ALL {
        v.forced = Some(s);
        let _ = v.verify(&req, &BodyOrigin::Exact, NOW);
        let mut r = req.clone();
        if v.resign(&mut r, NOW).is_ok() {
            let out = v.verify(&r, &BodyOrigin::Exact, NOW);
            assert_eq!(out.outcome, Outcome::Valid, "{s}: {}", out.reason);
        }
    }
});
