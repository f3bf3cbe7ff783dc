//! Fuzz the signature header parsers and `Verifier::verify` / `resign` with arbitrary bytes.
//!
//! Input layout: pieces separated by 0xFF; the last piece is the body. In every other
//! piece the first byte picks a signature-related header name from `NAMES` and the rest is
//! its value (empty pieces add no header). The whole input also goes, as text, into every
//! header parser on its own.
#![no_main]

use bytes::Bytes;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::{
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
    }
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
