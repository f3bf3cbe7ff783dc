//! Port: `x-port-signature: v1,<base64 HMAC-SHA256(client secret, "<x-port-timestamp>.<body>")>`,
//! and Port Ocean's other scheme under the same header name, `sha256=<hex HMAC-SHA256(body)>`.
//!
//! Port's docs disagree with its code (port-webhooks.md §1): the timestamp may be seconds or
//! milliseconds, and the signed body may be the raw bytes, the `JSON.stringify` form, or the
//! compact ASCII-escaped form its execution agent signs. All are tried; the reason says
//! which matched. The key is the organisation's client secret.

use super::freshness::{Window, is_millis, parse_unix};
use super::mac::{self, Digest, excerpt};
use super::reserialize::{BodyForms, Form};
use super::{Checked, Problem, Scheme, Secrets, secret_for, single};
use crate::delivery::WebhookRequest;

/// The signature header (both Port schemes).
pub const SIGNATURE: &str = "x-port-signature";
/// The timestamp header (Port's `v1` scheme).
pub const TIMESTAMP: &str = "x-port-timestamp";
const OCEAN_PREFIX: &str = "sha256=";

/// Port's `v1,<base64>` signature of `body` at `timestamp` (used verbatim as text).
pub fn sign_port(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let m = mac::sign(
        Digest::Sha256,
        secret.as_bytes(),
        &[timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", mac::b64(&m))
}

/// Port Ocean's `sha256=<hex>` signature of `body`.
pub fn sign_ocean(secret: &str, body: &[u8]) -> String {
    format!(
        "{OCEAN_PREFIX}{}",
        hex::encode(mac::sign(Digest::Sha256, secret.as_bytes(), &[body]))
    )
}

/// Which Port scheme `x-port-signature` carries, by its value's prefix.
pub fn family(req: &WebhookRequest) -> Option<Scheme> {
    let v = req.header(SIGNATURE)?;
    Some(if v.trim_start().starts_with(OCEAN_PREFIX) {
        Scheme::PortOcean
    } else {
        Scheme::Port
    })
}

/// Parse an `x-port-signature` value of the `v1` scheme into its MACs.
pub fn parse_signature(value: &str) -> Result<Vec<Vec<u8>>, String> {
    mac::v1_list(SIGNATURE, value)
}

/// Parse a Port Ocean `sha256=<hex>` value into its MAC.
pub fn parse_ocean(value: &str) -> Result<Vec<u8>, String> {
    let v = value.trim();
    let hexpart = v
        .strip_prefix(OCEAN_PREFIX)
        .ok_or_else(|| format!("{SIGNATURE} {} does not start with sha256=", excerpt(v)))?;
    match mac::unhex(hexpart) {
        Some(b) if b.len() == 32 => Ok(b),
        _ => Err(format!(
            "{SIGNATURE} {} is not sha256= followed by 64 hex digits",
            excerpt(v)
        )),
    }
}

pub(crate) fn check(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let sig = single(req, SIGNATURE)?
        .ok_or_else(|| Problem::Missing(format!("no {SIGNATURE} header")))?;
    let ts = single(req, TIMESTAMP)?.ok_or_else(|| {
        Problem::Missing(format!(
            "{SIGNATURE} is present but {TIMESTAMP} is missing (Port signs \"<timestamp>.<body>\")"
        ))
    })?;
    let macs = parse_signature(sig).map_err(Problem::Malformed)?;
    let signed_at_ms = parse_unix(TIMESTAMP, ts, true).map_err(Problem::Malformed)?;
    let secret = secret_for(secrets, Scheme::Port)?;
    let mut notes = Vec::new();
    if is_millis(ts) {
        notes.push(format!("{TIMESTAMP} is in milliseconds"));
    }
    let mut tried = Vec::new();
    let mut matched = None;
    'forms: for (form, body) in forms.all() {
        tried.push(form);
        for m in &macs {
            if mac::check(
                Digest::Sha256,
                secret.as_bytes(),
                &[ts.as_bytes(), b".", body],
                m,
            ) {
                matched = Some(form);
                break 'forms;
            }
        }
    }
    Ok(Checked {
        scheme: Scheme::Port,
        matched,
        tried,
        signed_at_ms: Some(signed_at_ms),
        window: Window::Symmetric,
        notes,
    })
}

pub(crate) fn check_ocean(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let sig = single(req, SIGNATURE)?
        .ok_or_else(|| Problem::Missing(format!("no {SIGNATURE} header")))?;
    let m = parse_ocean(sig).map_err(Problem::Malformed)?;
    let secret = secret_for(secrets, Scheme::PortOcean)?;
    let ok = mac::check(Digest::Sha256, secret.as_bytes(), &[forms.raw()], &m);
    Ok(Checked {
        scheme: Scheme::PortOcean,
        matched: ok.then_some(Form::Raw),
        tried: vec![Form::Raw],
        signed_at_ms: None,
        window: Window::Symmetric,
        notes: Vec::new(),
    })
}

/// Fresh `x-port-timestamp` (same unit as before: seconds unless it was milliseconds) and
/// `x-port-signature` over the current body.
pub(crate) fn resign(req: &mut WebhookRequest, secret: &str, now_ms: i64) {
    let was_ms = req.header(TIMESTAMP).is_some_and(is_millis);
    let ts = if was_ms {
        now_ms.to_string()
    } else {
        now_ms.div_euclid(1000).to_string()
    };
    let sig = sign_port(secret, &ts, &req.body);
    req.set_header(TIMESTAMP, ts);
    req.set_header(SIGNATURE, sig);
}

pub(crate) fn resign_ocean(req: &mut WebhookRequest, secret: &str) {
    let sig = sign_ocean(secret, &req.body);
    req.set_header(SIGNATURE, sig);
}
