//! Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…][,v0=…]` where each `v1` is
//! hex HMAC-SHA256 over `"<t>.<body>"`, keyed with the endpoint secret exactly as shown
//! (`whsec_` prefix included). Valid when any `v1` matches; only too-old timestamps are
//! rejected (stripe-python's rule).

use super::freshness::{Window, parse_unix};
use super::mac::{self, Digest, MAX_SIGNATURES, excerpt};
use super::reserialize::{BodyForms, Form};
use super::{Checked, Problem, Scheme, Secrets, secret_for, single};
use crate::delivery::WebhookRequest;

/// The header.
pub const HEADER: &str = "stripe-signature";

/// A parsed `Stripe-Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeHeader<'a> {
    /// The `t` value as sent (it is signed verbatim).
    pub t: &'a str,
    /// Every well-formed `v1` MAC.
    pub v1: Vec<Vec<u8>>,
}

/// Parse a `Stripe-Signature` value: split on `,`, then on the first `=`.
pub fn parse_header(value: &str) -> Result<StripeHeader<'_>, String> {
    if value.trim().is_empty() {
        return Err(format!("{HEADER} is empty"));
    }
    let mut t = None;
    let mut v1 = Vec::new();
    let mut bad_v1 = None;
    let mut n = 0;
    for item in value.split(',') {
        n += 1;
        if n > MAX_SIGNATURES * 2 {
            return Err(format!("{HEADER} has too many entries"));
        }
        let Some((k, v)) = item.trim().split_once('=') else {
            return Err(format!(
                "{HEADER} entry {} is not key=value",
                excerpt(item.trim())
            ));
        };
        match k {
            "t" if t.is_some() => return Err(format!("{HEADER} has more than one t=")),
            "t" => t = Some(v),
            "v1" => match mac::unhex(v) {
                Some(b) if b.len() == 32 => v1.push(b),
                _ => {
                    bad_v1.get_or_insert_with(|| {
                        format!("{HEADER} v1 {} is not 64 hex digits", excerpt(v))
                    });
                }
            },
            _ => {} // v0 (test-mode legacy) and future schemes are ignored
        }
    }
    let t = t.ok_or_else(|| format!("{HEADER} has no t= timestamp"))?;
    if v1.is_empty() {
        return Err(bad_v1.unwrap_or_else(|| format!("{HEADER} has no v1 signature")));
    }
    Ok(StripeHeader { t, v1 })
}

/// A fresh `Stripe-Signature` value for `body` at `t` (seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    let m = mac::sign(
        Digest::Sha256,
        secret.as_bytes(),
        &[t.as_bytes(), b".", body],
    );
    format!("t={t},v1={}", hex::encode(m))
}

pub(crate) fn check(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let value =
        single(req, HEADER)?.ok_or_else(|| Problem::Missing(format!("no {HEADER} header")))?;
    let h = parse_header(value).map_err(Problem::Malformed)?;
    let signed_at_ms =
        parse_unix(&format!("{HEADER} t="), h.t, false).map_err(Problem::Malformed)?;
    let secret = secret_for(secrets, Scheme::Stripe)?;
    let ok = h.v1.iter().any(|m| {
        mac::check(
            Digest::Sha256,
            secret.as_bytes(),
            &[h.t.as_bytes(), b".", forms.raw()],
            m,
        )
    });
    Ok(Checked {
        scheme: Scheme::Stripe,
        matched: ok.then_some(Form::Raw),
        tried: vec![Form::Raw],
        signed_at_ms: Some(signed_at_ms),
        window: Window::PastOnly,
        notes: Vec::new(),
    })
}

pub(crate) fn resign(req: &mut WebhookRequest, secret: &str, now_ms: i64) {
    let v = sign(secret, now_ms.div_euclid(1000), &req.body);
    req.set_header(HEADER, v);
}
