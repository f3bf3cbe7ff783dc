//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, and the legacy
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1>`. No timestamp, so no freshness window.

use super::freshness::Window;
use super::mac::{self, Digest, excerpt};
use super::reserialize::{BodyForms, Form};
use super::{Checked, Problem, Scheme, Secrets, secret_for, single};
use crate::delivery::WebhookRequest;

/// The SHA-256 header GitHub recommends.
pub const SIGNATURE_256: &str = "x-hub-signature-256";
/// The legacy SHA-1 header.
pub const SIGNATURE_SHA1: &str = "x-hub-signature";

/// Whether either GitHub header is present.
pub fn present(req: &WebhookRequest) -> bool {
    req.header(SIGNATURE_256).is_some() || req.header(SIGNATURE_SHA1).is_some()
}

/// `sha256=<hex>` (or `sha1=<hex>`) of `body`.
pub fn sign(secret: &str, body: &[u8], digest_sha1: bool) -> String {
    let (d, p) = if digest_sha1 {
        (Digest::Sha1, "sha1=")
    } else {
        (Digest::Sha256, "sha256=")
    };
    format!(
        "{p}{}",
        hex::encode(mac::sign(d, secret.as_bytes(), &[body]))
    )
}

/// Parse a GitHub signature value; `sha1` selects the legacy header's format.
pub fn parse_signature(value: &str, sha1: bool) -> Result<Vec<u8>, String> {
    let (name, prefix, d) = if sha1 {
        (SIGNATURE_SHA1, "sha1=", Digest::Sha1)
    } else {
        (SIGNATURE_256, "sha256=", Digest::Sha256)
    };
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    let hexpart = v
        .strip_prefix(prefix)
        .ok_or_else(|| format!("{name} {} does not start with {prefix}", excerpt(v)))?;
    match mac::unhex(hexpart) {
        Some(b) if b.len() == d.len() => Ok(b),
        _ => Err(format!(
            "{name} {} is not {prefix} followed by {} hex digits",
            excerpt(v),
            d.len() * 2
        )),
    }
}

pub(crate) fn check(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let (value, sha1) = match single(req, SIGNATURE_256)? {
        Some(v) => (v, false),
        None => match single(req, SIGNATURE_SHA1)? {
            Some(v) => (v, true),
            None => {
                return Err(Problem::Missing(format!(
                    "no {SIGNATURE_256} (or legacy {SIGNATURE_SHA1}) header"
                )));
            }
        },
    };
    let tag = parse_signature(value, sha1).map_err(Problem::Malformed)?;
    let secret = secret_for(secrets, Scheme::Github)?;
    let d = if sha1 { Digest::Sha1 } else { Digest::Sha256 };
    let ok = mac::check(d, secret.as_bytes(), &[forms.raw()], &tag);
    Ok(Checked {
        scheme: Scheme::Github,
        matched: ok.then_some(Form::Raw),
        tried: vec![Form::Raw],
        signed_at_ms: None,
        window: Window::Symmetric,
        notes: if sha1 {
            vec![format!("legacy {SIGNATURE_SHA1}, HMAC-SHA1")]
        } else {
            Vec::new()
        },
    })
}

/// Recompute the headers present over the current body (`X-Hub-Signature-256` at least).
pub(crate) fn resign(req: &mut WebhookRequest, secret: &str) {
    let had_sha1 = req.header(SIGNATURE_SHA1).is_some();
    let had_256 = req.header(SIGNATURE_256).is_some();
    if had_256 || !had_sha1 {
        let s = sign(secret, &req.body, false);
        req.set_header(SIGNATURE_256, s);
    }
    if had_sha1 {
        let s = sign(secret, &req.body, true);
        req.set_header(SIGNATURE_SHA1, s);
    }
}
