//! Properties (proptest): for every scheme, sign-then-verify holds for any body bytes, and a
//! flipped byte, a timestamp past the tolerance, or a wrong secret fails with the right
//! outcome. Reasons never carry the secret.

use base64::Engine as _;
use bytes::Bytes;
use hookrelay::delivery::{BodyOrigin, WebhookRequest};
use hookrelay::verify::reserialize::BodyForms;
use hookrelay::verify::{Outcome, Scheme, Secrets, Verification, Verifier};
use proptest::prelude::*;

const TOL: i64 = 300;

fn unsigned(body: Vec<u8>) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(body),
    }
}

fn verifier(scheme: Scheme, secret: &str) -> Verifier {
    let mut s = Secrets::new();
    s.insert(scheme, secret.to_string());
    let mut v = Verifier::new(s);
    v.forced = Some(scheme);
    v
}

/// A secret in the scheme's own format (Standard Webhooks: `whsec_` + base64 key).
fn secret_for(scheme: Scheme, raw: &[u8]) -> String {
    match scheme {
        Scheme::StandardWebhooks => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ),
        _ => raw.iter().map(|b| (b'a' + b % 26) as char).collect(),
    }
}

fn has_timestamp(s: Scheme) -> bool {
    !matches!(s, Scheme::Github | Scheme::PortOcean)
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop::sample::select(Scheme::ALL.to_vec())
}

fn signed(scheme: Scheme, secret: &str, body: Vec<u8>, now: i64) -> WebhookRequest {
    let mut r = unsigned(body);
    let done = verifier(scheme, secret).resign(&mut r, now).unwrap();
    assert_eq!(done, [scheme]);
    r
}

fn verify(scheme: Scheme, secret: &str, r: &WebhookRequest, now: i64) -> Verification {
    verifier(scheme, secret).verify(r, &BodyOrigin::Exact, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_holds_for_any_body(
        scheme in scheme(),
        key in prop::collection::vec(any::<u8>(), 12..48),
        body in prop::collection::vec(any::<u8>(), 0..600),
        now in 1_000_000_000_000i64..4_000_000_000_000,
    ) {
        let secret = secret_for(scheme, &key);
        let r = signed(scheme, &secret, body, now);
        let v = verify(scheme, &secret, &r, now);
        prop_assert_eq!(v.outcome, Outcome::Valid, "{}", v.reason);
        prop_assert_eq!(v.matched_form.as_deref(), Some("raw"));
        prop_assert!(!v.reason.contains(&secret));
    }

    #[test]
    fn a_flipped_byte_is_invalid(
        scheme in scheme(),
        key in prop::collection::vec(any::<u8>(), 12..48),
        body in prop::collection::vec(any::<u8>(), 1..600),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        now in 1_000_000_000_000i64..4_000_000_000_000,
    ) {
        let secret = secret_for(scheme, &key);
        let original = body.clone();
        let mut r = signed(scheme, &secret, body, now);
        let mut b = r.body.to_vec();
        let i = at.index(b.len());
        b[i] ^= mask;
        r.body = Bytes::from(b);
        let v = verify(scheme, &secret, &r, now);
        if v.outcome == Outcome::Valid {
            // Only possible for Port when the edited JSON re-serializes to the signed bytes
            // (e.g. `1E2` vs `1e2`): then it truly is the same payload.
            prop_assert_eq!(scheme, Scheme::Port);
            prop_assert_ne!(v.matched_form.as_deref(), Some("raw"));
            let mut forms = BodyForms::new(&r.body);
            prop_assert!(forms.all().iter().any(|(_, f)| *f == &original[..]));
        } else {
            prop_assert_eq!(v.outcome, Outcome::Invalid, "{}", v.reason);
            prop_assert!(v.reason.contains("does not match"), "{}", v.reason);
        }
    }

    #[test]
    fn a_timestamp_past_the_tolerance_is_stale_or_future(
        scheme in scheme(),
        key in prop::collection::vec(any::<u8>(), 12..48),
        body in prop::collection::vec(any::<u8>(), 0..200),
        now in 1_000_000_000_000i64..4_000_000_000_000,
        extra in 1i64..1_000_000_000,
    ) {
        let secret = secret_for(scheme, &key);
        let r = signed(scheme, &secret, body, now);
        let later = verify(scheme, &secret, &r, now + (TOL + extra) * 1000);
        let earlier = verify(scheme, &secret, &r, now - (TOL + extra) * 1000);
        if has_timestamp(scheme) {
            prop_assert_eq!(later.outcome, Outcome::Stale, "{}", later.reason);
            prop_assert!(later.reason.contains("ago; tolerance is 300 s"), "{}", later.reason);
            prop_assert!(later.age_secs.unwrap() > TOL);
            prop_assert_eq!(later.tolerance_secs, Some(TOL));
            // Stripe only rejects old timestamps.
            let want = if scheme == Scheme::Stripe { Outcome::Valid } else { Outcome::Future };
            prop_assert_eq!(earlier.outcome, want, "{}", earlier.reason);
        } else {
            prop_assert_eq!(later.outcome, Outcome::Valid);
            prop_assert_eq!(earlier.outcome, Outcome::Valid);
            prop_assert_eq!(later.age_secs, None);
        }
    }

    #[test]
    fn a_wrong_secret_is_invalid(
        scheme in scheme(),
        key in prop::collection::vec(any::<u8>(), 12..48),
        other in prop::collection::vec(any::<u8>(), 12..48),
        body in prop::collection::vec(any::<u8>(), 0..300),
        now in 1_000_000_000_000i64..4_000_000_000_000,
    ) {
        let (secret, wrong) = (secret_for(scheme, &key), secret_for(scheme, &other));
        prop_assume!(secret != wrong);
        let r = signed(scheme, &secret, body, now);
        let v = verify(scheme, &wrong, &r, now);
        prop_assert_eq!(v.outcome, Outcome::Invalid, "{}", v.reason);
        prop_assert!(!v.reason.contains(&wrong) && !v.reason.contains(&secret));
    }

    #[test]
    fn a_relay_rebuilt_body_that_fails_is_reserialized_not_invalid(
        scheme in scheme(),
        key in prop::collection::vec(any::<u8>(), 12..48),
        body in prop::collection::vec(any::<u8>(), 1..200),
        now in 1_000_000_000_000i64..4_000_000_000_000,
    ) {
        let secret = secret_for(scheme, &key);
        let mut r = signed(scheme, &secret, body, now);
        let mut b = r.body.to_vec();
        b.push(b'\n');
        r.body = Bytes::from(b);
        let origin = BodyOrigin::Reserialized { relay: "smee.io".into() };
        let v = verifier(scheme, &secret).verify(&r, &origin, now);
        if v.outcome != Outcome::Valid {
            prop_assert_eq!(v.outcome, Outcome::Reserialized, "{}", v.reason);
            prop_assert!(v.reason.contains("smee.io"));
        } else {
            // Port: a JSON body with a trailing newline still re-serializes to the signed bytes.
            prop_assert_eq!(scheme, Scheme::Port);
        }
    }
}
