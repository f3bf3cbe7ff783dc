//! Signature verification and re-signing (issue 3).
//!
//! One [`Verifier`] holds the secrets and settings. [`Verifier::verify`] detects the scheme
//! from the headers (or uses the forced one), hands the request to that scheme's module
//! (`port`, `github`, `stripe`, `standard`, `scalr`), and turns what it found into one
//! [`Verification`] with a reason a person understands. [`Verifier::resign`] replaces the
//! signature headers with fresh ones so a captured delivery can be replayed later.
//!
//! Comparisons are constant-time (`hmac`'s `verify_slice`). Reasons never contain a secret
//! or an expected MAC.

pub mod faithful;
pub mod freshness;
pub mod github;
mod mac;
pub mod outcome;
pub mod port;
pub mod reserialize;
pub mod scalr;
pub mod secrets;
pub mod standard;
pub mod stripe;

use crate::delivery::{BodyOrigin, WebhookRequest};
use freshness::{Freshness, Window, human_duration};
use reserialize::{BodyForms, Form};

pub use crate::delivery::verdict::{Outcome, Scheme, Verification};
pub use mac::Digest;
pub use outcome::VerifyMode;
pub use port::sign_port;
pub use secrets::{SecretError, Secrets};

/// The default tolerance for timestamped schemes (seconds).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why re-signing failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResignError {
    #[error("cannot re-sign: no secret configured for {schemes}")]
    NoSecret { schemes: String },
    #[error("cannot re-sign {scheme}: {why}")]
    BadSecret { scheme: Scheme, why: String },
}

/// What a scheme's checker found (crate-internal; turned into a [`Verification`]).
pub(crate) struct Checked {
    pub scheme: Scheme,
    /// The form whose MAC matched, if any.
    pub matched: Option<Form>,
    /// The forms that were tried, in order.
    pub tried: Vec<Form>,
    pub signed_at_ms: Option<i64>,
    pub window: Window,
    /// Extra facts for the reason (`legacy sha1 header`, `timestamp in milliseconds`).
    pub notes: Vec<String>,
}

/// Why a scheme could not be checked at all.
pub(crate) enum Problem {
    Missing(String),
    Malformed(String),
    NoSecret(String),
}

/// The one value of a header; several different values are malformed.
pub(crate) fn single<'a>(req: &'a WebhookRequest, name: &str) -> Result<Option<&'a str>, Problem> {
    let mut vals = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let Some(first) = vals.next() else {
        return Ok(None);
    };
    let extra = vals.filter(|v| *v != first).count();
    if extra > 0 {
        return Err(Problem::Malformed(format!(
            "{name} appears {} times with different values; expected one",
            extra + 1
        )));
    }
    Ok(Some(first))
}

/// The secret for a scheme, or the sentence that says how to give one.
pub(crate) fn secret_for(secrets: &Secrets, s: Scheme) -> Result<&str, Problem> {
    secrets.get(s).ok_or_else(|| {
        Problem::NoSecret(format!(
            "no secret configured for {}: pass --secret {}=SECRET, set {}, or add `{} = SECRET` to the secrets file",
            s.label(),
            s.name(),
            s.env_var(),
            s.name()
        ))
    })
}

/// Every scheme whose signature header is present, in priority order.
pub fn detect_all(req: &WebhookRequest) -> Vec<Scheme> {
    let mut out = Vec::new();
    if let Some(s) = port::family(req) {
        out.push(s);
    }
    if standard::present(req) {
        out.push(Scheme::StandardWebhooks);
    }
    if req.header(stripe::HEADER).is_some() {
        out.push(Scheme::Stripe);
    }
    if github::present(req) {
        out.push(Scheme::Github);
    }
    if req.header(scalr::SIGNATURE).is_some() {
        out.push(Scheme::Scalr);
    }
    out
}

/// The scheme the headers point at (the first in priority order), if any.
pub fn detect(req: &WebhookRequest) -> Option<Scheme> {
    detect_all(req).into_iter().next()
}

/// Verifies deliveries and re-signs them.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub secrets: Secrets,
    /// Use this scheme whatever the headers say (Port vs Port Ocean still follows the prefix).
    pub forced: Option<Scheme>,
    /// Tolerance for timestamped schemes, in seconds (300 by default).
    pub tolerance_secs: i64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new(Secrets::new())
    }
}

impl Verifier {
    /// A verifier with these secrets, scheme detection, and the default tolerance.
    pub fn new(secrets: Secrets) -> Self {
        Verifier {
            secrets,
            forced: None,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// The scheme to check: the forced one, else the first detected one with a secret,
    /// else the first detected one.
    fn pick(&self, req: &WebhookRequest) -> Option<Scheme> {
        if let Some(f) = self.forced {
            return Some(match f {
                Scheme::Port | Scheme::PortOcean => port::family(req).unwrap_or(f),
                other => other,
            });
        }
        let found = detect_all(req);
        found
            .iter()
            .copied()
            .find(|s| self.secrets.has(*s))
            .or_else(|| found.first().copied())
    }

    /// Verify one delivery. `origin` says whether the body bytes are the sender's own.
    pub fn verify(&self, req: &WebhookRequest, origin: &BodyOrigin, now_ms: i64) -> Verification {
        let Some(scheme) = self.pick(req) else {
            return Verification::plain(
                None,
                Outcome::Unsigned,
                "no signature headers: nothing to verify",
            );
        };
        // The exact bytes are judged as they are; rebuilt forms only stand in for bytes a
        // relay already rebuilt (and then never give a plain `Valid`).
        let mut forms = match origin {
            BodyOrigin::Exact => BodyForms::exact(&req.body),
            BodyOrigin::Reserialized { .. } => BodyForms::new(&req.body),
        };
        let checked = match scheme {
            Scheme::Port => port::check(req, &self.secrets, &mut forms),
            Scheme::PortOcean => port::check_ocean(req, &self.secrets, &mut forms),
            Scheme::Github => github::check(req, &self.secrets, &mut forms),
            Scheme::Stripe => stripe::check(req, &self.secrets, &mut forms),
            Scheme::StandardWebhooks => standard::check(req, &self.secrets, &mut forms),
            Scheme::Scalr => scalr::check(req, &self.secrets, &mut forms),
        };
        match checked {
            Ok(c) => self.conclude(c, origin, now_ms),
            Err(Problem::Missing(r)) => {
                Verification::plain(Some(scheme), Outcome::MissingHeader, r)
            }
            Err(Problem::Malformed(r)) => {
                Verification::plain(Some(scheme), Outcome::MalformedHeader, r)
            }
            Err(Problem::NoSecret(r)) => Verification::plain(Some(scheme), Outcome::NoSecret, r),
        }
    }

    fn conclude(&self, c: Checked, origin: &BodyOrigin, now_ms: i64) -> Verification {
        let label = c.scheme.label();
        let tol = self.tolerance_secs;
        let timing = c
            .signed_at_ms
            .map(|t| freshness::judge(t, now_ms, tol, c.window));
        let notes = if c.notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.notes.join("; "))
        };
        let mut v = Verification::plain(Some(c.scheme), Outcome::Invalid, String::new());
        v.signed_at_ms = c.signed_at_ms;
        v.age_secs = timing.map(|(_, age)| age);
        v.tolerance_secs = c.signed_at_ms.map(|_| tol);
        let relay = match origin {
            BodyOrigin::Reserialized { relay } => Some(relay.as_str()),
            BodyOrigin::Exact => None,
        };
        let age_text = |f: Freshness, age: i64| match f {
            Freshness::Future => format!(
                "signed {} in the future; tolerance is {tol} s (is a clock wrong?)",
                human_duration(age.unsigned_abs())
            ),
            _ => format!(
                "signed {} ago; tolerance is {tol} s",
                human_duration(age.unsigned_abs())
            ),
        };
        match c.matched {
            Some(form) => {
                // The bytes a relay rebuilt are its JSON.stringify output, not the sender's.
                let (name, what) = match (form, relay) {
                    (Form::Raw, Some(r)) => (
                        Form::JsonStringify.name(),
                        format!("the body as {r} re-serialized it (the JSON.stringify form)"),
                    ),
                    (f, _) => (f.name(), f.describe().to_string()),
                };
                v.matched_form = Some(name.to_string());
                let rebuilt = match (form, relay) {
                    (Form::Raw, _) | (_, None) => None,
                    (_, Some(r)) => Some(r),
                };
                match (timing, rebuilt) {
                    (Some((f @ (Freshness::Stale | Freshness::Future), age)), _) => {
                        v.outcome = if f == Freshness::Stale {
                            Outcome::Stale
                        } else {
                            Outcome::Future
                        };
                        v.reason = format!(
                            "the {label} signature matches {what}, but it was {}{notes}",
                            age_text(f, age)
                        );
                    }
                    (_, Some(r)) => {
                        v.outcome = Outcome::ValidAfterReserialization;
                        v.reason = format!(
                            "valid only after {r}'s re-serialization: the raw bytes were not \
                             signed (the {label} signature matches {what}){notes}"
                        );
                    }
                    (_, None) => {
                        v.outcome = Outcome::Valid;
                        v.reason = format!("valid {label} signature over {what}{notes}");
                    }
                }
            }
            None => {
                let tried = c
                    .tried
                    .iter()
                    .map(|f| f.describe())
                    .collect::<Vec<_>>()
                    .join(", nor ");
                let also = match timing {
                    Some((f @ (Freshness::Stale | Freshness::Future), age)) => {
                        format!("; also, it was {}", age_text(f, age))
                    }
                    _ => String::new(),
                };
                if let Some(r) = relay {
                    v.outcome = Outcome::Reserialized;
                    v.reason = format!(
                        "the body was re-serialized by {r}, so the sender's exact bytes are gone; \
                         the {label} signature cannot be checked byte-exact{notes}"
                    );
                } else {
                    v.outcome = Outcome::Invalid;
                    v.reason = format!(
                        "the {label} signature does not match {tried}: wrong secret, or the body \
                         changed on the way{notes}{also}"
                    );
                }
            }
        }
        v
    }

    /// Replace the signature headers of every scheme present on `req` (or the forced one)
    /// with fresh ones signed now over the current body. Schemes without a secret are left
    /// as they are; it is an error only when nothing could be re-signed. Returns the schemes
    /// re-signed.
    pub fn resign(
        &self,
        req: &mut WebhookRequest,
        now_ms: i64,
    ) -> Result<Vec<Scheme>, ResignError> {
        let schemes = match self.forced {
            Some(f @ (Scheme::Port | Scheme::PortOcean)) => vec![port::family(req).unwrap_or(f)],
            Some(f) => vec![f],
            None => detect_all(req),
        };
        let mut done = Vec::new();
        let mut missing = Vec::new();
        for s in schemes {
            let Some(secret) = self.secrets.get(s) else {
                missing.push(s.name());
                continue;
            };
            match s {
                Scheme::Port => port::resign(req, secret, now_ms),
                Scheme::PortOcean => port::resign_ocean(req, secret),
                Scheme::Github => github::resign(req, secret),
                Scheme::Stripe => stripe::resign(req, secret, now_ms),
                Scheme::StandardWebhooks => standard::resign(req, secret, now_ms)?,
                Scheme::Scalr => scalr::resign(req, secret, now_ms),
            }
            done.push(s);
        }
        if done.is_empty() && !missing.is_empty() {
            return Err(ResignError::NoSecret {
                schemes: missing.join(", "),
            });
        }
        Ok(done)
    }
}
