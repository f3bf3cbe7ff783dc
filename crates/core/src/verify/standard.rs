//! Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` over
//! `"<id>.<timestamp>.<body>"`. The key is the base64 after `whsec_`. Svix's `svix-*`
//! header names are accepted too. Tolerance applies both ways.

use super::freshness::{Window, parse_unix};
use super::mac::{self, Digest};
use super::reserialize::{BodyForms, Form};
use super::{Checked, Problem, ResignError, Scheme, Secrets, secret_for, single};
use crate::delivery::WebhookRequest;

/// The header family on a request: `webhook` or `svix`.
fn prefix(req: &WebhookRequest) -> Option<&'static str> {
    if req.header("webhook-signature").is_some() {
        Some("webhook")
    } else if req.header("svix-signature").is_some() {
        Some("svix")
    } else {
        None
    }
}

/// Whether a Standard Webhooks or Svix signature header is present.
pub fn present(req: &WebhookRequest) -> bool {
    prefix(req).is_some()
}

/// The key bytes: base64 after an optional `whsec_` prefix.
pub fn key(secret: &str) -> Result<Vec<u8>, String> {
    let b = secret.strip_prefix("whsec_").unwrap_or(secret);
    mac::unb64(b)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| "the standard-webhooks secret is not whsec_<base64> (or bare base64)".into())
}

/// Parse a `webhook-signature` value into its `v1` MACs.
pub fn parse_signatures(value: &str) -> Result<Vec<Vec<u8>>, String> {
    mac::v1_list("webhook-signature", value)
}

/// `v1,<base64>` for `id`, `timestamp` (seconds, as text) and `body`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let m = mac::sign(
        Digest::Sha256,
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", mac::b64(&m))
}

pub(crate) fn check(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let p = prefix(req).ok_or_else(|| Problem::Missing("no webhook-signature header".into()))?;
    let (sig_h, id_h, ts_h) = (
        format!("{p}-signature"),
        format!("{p}-id"),
        format!("{p}-timestamp"),
    );
    let sig = single(req, &sig_h)?.unwrap_or_default();
    let id = single(req, &id_h)?
        .ok_or_else(|| Problem::Missing(format!("{sig_h} is present but {id_h} is missing")))?;
    let ts = single(req, &ts_h)?
        .ok_or_else(|| Problem::Missing(format!("{sig_h} is present but {ts_h} is missing")))?;
    if id.trim().is_empty() {
        return Err(Problem::Malformed(format!("{id_h} is empty")));
    }
    let macs = mac::v1_list(&sig_h, sig).map_err(Problem::Malformed)?;
    let signed_at_ms = parse_unix(&ts_h, ts, false).map_err(Problem::Malformed)?;
    let secret = secret_for(secrets, Scheme::StandardWebhooks)?;
    let key = key(secret).map_err(Problem::NoSecret)?;
    let ok = macs.iter().any(|m| {
        mac::check(
            Digest::Sha256,
            &key,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", forms.raw()],
            m,
        )
    });
    Ok(Checked {
        scheme: Scheme::StandardWebhooks,
        matched: ok.then_some(Form::Raw),
        tried: vec![Form::Raw],
        signed_at_ms: Some(signed_at_ms),
        window: Window::Symmetric,
        notes: Vec::new(),
    })
}

/// Fresh timestamp and signature (the message id is kept; one is made up when absent).
pub(crate) fn resign(
    req: &mut WebhookRequest,
    secret: &str,
    now_ms: i64,
) -> Result<(), ResignError> {
    let key = key(secret).map_err(|why| ResignError::BadSecret {
        scheme: Scheme::StandardWebhooks,
        why,
    })?;
    let p = prefix(req).unwrap_or("webhook");
    let id_h = format!("{p}-id");
    let id = match req.header(&id_h) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("msg_hookrelay_{now_ms}"),
    };
    let ts = now_ms.div_euclid(1000).to_string();
    let sig = sign(&key, &id, &ts, &req.body);
    req.set_header(&id_h, id);
    req.set_header(&format!("{p}-timestamp"), ts);
    req.set_header(&format!("{p}-signature"), sig);
    Ok(())
}
