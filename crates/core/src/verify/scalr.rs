//! Scalr: `X-Signature` = hex HMAC over the raw body followed by the `Date` header's value
//! (no separator). scalr.io uses SHA-256 (64 hex digits); the legacy Scalr Cloud Management
//! Platform used SHA-1 (40 hex digits). Rejected when the Date is 300 s or more from now.
//! The Date may be RFC 2822, RFC 3339 / ISO 8601 (with or without a colon in the offset),
//! or the legacy `Thu 07 Sep 2017 06:30:04 UTC`.

use super::freshness::Window;
use super::mac::{self, Digest, excerpt};
use super::reserialize::{BodyForms, Form};
use super::{Checked, Problem, Scheme, Secrets, secret_for, single};
use crate::delivery::WebhookRequest;
use chrono::{DateTime, NaiveDateTime, Utc};

/// The signature header.
pub const SIGNATURE: &str = "x-signature";
/// The date header whose value is signed.
pub const DATE: &str = "date";

const LEGACY_FORMAT: &str = "%a %d %b %Y %H:%M:%S UTC";
const ISO_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f%z";

/// How a `Date` was written (re-signing writes the same style).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// `Thu 07 Sep 2017 06:30:04 UTC` (legacy Scalr).
    Legacy,
    /// `Thu, 07 Sep 2017 06:30:04 +0000`.
    Rfc2822,
    /// `2020-11-25T00:43:38+00:00`.
    Rfc3339,
    /// `2020-11-25T00:43:38+0000` (scalr.io's example).
    IsoNoColon,
}

/// Parse a Scalr `Date` value into ms since the epoch and its style.
pub fn parse_date(value: &str) -> Option<(i64, DateStyle)> {
    let v = value.trim();
    if v.len() > 64 {
        return None;
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(v, LEGACY_FORMAT) {
        return Some((n.and_utc().timestamp_millis(), DateStyle::Legacy));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some((d.timestamp_millis(), DateStyle::Rfc2822));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some((d.timestamp_millis(), DateStyle::Rfc3339));
    }
    if let Ok(d) = DateTime::parse_from_str(v, ISO_FORMAT) {
        return Some((d.timestamp_millis(), DateStyle::IsoNoColon));
    }
    None
}

/// Format `ms` in a style (UTC).
pub fn format_date(ms: i64, style: DateStyle) -> String {
    let d = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    match style {
        DateStyle::Legacy => d.format(LEGACY_FORMAT).to_string(),
        DateStyle::Rfc2822 => d.to_rfc2822(),
        DateStyle::Rfc3339 => d.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        DateStyle::IsoNoColon => d.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
    }
}

/// Parse an `X-Signature` value: 40 hex digits (SHA-1) or 64 (SHA-256).
pub fn parse_signature(value: &str) -> Result<(Digest, Vec<u8>), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{SIGNATURE} is empty"));
    }
    let d = match v.len() {
        40 => Digest::Sha1,
        64 => Digest::Sha256,
        n => {
            return Err(format!(
                "{SIGNATURE} has {n} characters; expected 64 hex digits (HMAC-SHA256) or 40 (legacy HMAC-SHA1)"
            ));
        }
    };
    mac::unhex(v)
        .map(|b| (d, b))
        .ok_or_else(|| format!("{SIGNATURE} {} is not hex", excerpt(v)))
}

/// Hex HMAC of `body ‖ date`.
pub fn sign(secret: &str, body: &[u8], date: &str, sha1: bool) -> String {
    let d = if sha1 { Digest::Sha1 } else { Digest::Sha256 };
    hex::encode(mac::sign(d, secret.as_bytes(), &[body, date.as_bytes()]))
}

pub(crate) fn check(
    req: &WebhookRequest,
    secrets: &Secrets,
    forms: &mut BodyForms,
) -> Result<Checked, Problem> {
    let sig = single(req, SIGNATURE)?
        .ok_or_else(|| Problem::Missing(format!("no {SIGNATURE} header")))?;
    let date = single(req, DATE)?.ok_or_else(|| {
        Problem::Missing(format!(
            "{SIGNATURE} is present but Date is missing (Scalr signs the body followed by the Date)"
        ))
    })?;
    let (digest, tag) = parse_signature(sig).map_err(Problem::Malformed)?;
    let (signed_at_ms, _) = parse_date(date).ok_or_else(|| {
        Problem::Malformed(format!(
            "Date {} is not a date hookrelay can read (RFC 2822, ISO 8601, or `Thu 07 Sep 2017 06:30:04 UTC`)",
            excerpt(date)
        ))
    })?;
    let secret = secret_for(secrets, Scheme::Scalr)?;
    let ok = mac::check(
        digest,
        secret.as_bytes(),
        &[forms.raw(), date.as_bytes()],
        &tag,
    );
    Ok(Checked {
        scheme: Scheme::Scalr,
        matched: ok.then_some(Form::Raw),
        tried: vec![Form::Raw],
        signed_at_ms: Some(signed_at_ms),
        window: Window::SymmetricInclusive,
        notes: if digest == Digest::Sha1 {
            vec!["legacy HMAC-SHA1".into()]
        } else {
            Vec::new()
        },
    })
}

/// A fresh `Date` (same style as before; ISO 8601 when there was none) and `X-Signature`
/// (same digest as before; SHA-256 when there was none).
pub(crate) fn resign(req: &mut WebhookRequest, secret: &str, now_ms: i64) {
    let style = req
        .header(DATE)
        .and_then(parse_date)
        .map_or(DateStyle::IsoNoColon, |(_, s)| s);
    let sha1 = req.header(SIGNATURE).is_some_and(|s| s.trim().len() == 40);
    let date = format_date(now_ms, style);
    let sig = sign(secret, &req.body, &date, sha1);
    req.set_header("Date", date);
    req.set_header(SIGNATURE, sig);
}
