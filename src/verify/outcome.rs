//! What verification concluded: the [`Outcome`] of one delivery, the [`Verification`] recorded
//! with it (rendered by the log, the UI, `show` and the store), and what `--verify` does with
//! it ([`VerifyMode`]).

use serde::{Deserialize, Serialize};

use super::Scheme;

/// The verdict on one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Valid,
    Invalid,
    Stale,
    Future,
    MissingHeader,
    MalformedHeader,
    NoSecret,
    /// The relay (smee.io) rebuilt the body and no form of it matches: nothing can be said.
    Reserialized,
    Unsigned,
    /// The signature matches only a re-serialized form of the body smee.io rebuilt, not the
    /// bytes held: a warning, never accepted by `--verify strict`.
    ValidAfterReserialization,
}

/// The verification result recorded on a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub scheme: Option<Scheme>,
    pub outcome: Outcome,
    /// A sentence a person understands.
    pub reason: String,
    /// Which body form matched (`raw`, `json-stringify`, `json-ascii`) when one did.
    #[serde(default)]
    pub matched_form: Option<String>,
    /// The signature's timestamp (ms since the epoch), for schemes that carry one.
    #[serde(default)]
    pub signed_at_ms: Option<i64>,
    /// Seconds between signing and verifying (negative: signed in the future).
    #[serde(default)]
    pub age_secs: Option<i64>,
    /// The tolerance applied to the timestamp, in seconds.
    #[serde(default)]
    pub tolerance_secs: Option<i64>,
}

impl Verification {
    /// A verdict with no timestamps or matched form.
    pub fn new(scheme: Option<Scheme>, outcome: Outcome, reason: impl Into<String>) -> Self {
        Self::plain(scheme, outcome, reason)
    }

    pub(crate) fn plain(
        scheme: Option<Scheme>,
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> Self {
        Verification {
            scheme,
            outcome,
            reason: reason.into(),
            matched_form: None,
            signed_at_ms: None,
            age_secs: None,
            tolerance_secs: None,
        }
    }
}

/// What `--verify` does with the outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyMode {
    /// Forward everything and show the outcome.
    #[default]
    Report,
    /// Forward only deliveries whose signature is valid; log why the others were held back.
    Strict,
    /// Do not verify.
    Off,
}

impl VerifyMode {
    /// Whether a delivery with this verification is forwarded. In strict mode only `Valid`
    /// passes (an unsigned delivery proves nothing either, and a signature that matches only
    /// a rebuilt form of the body vouches for no bytes anyone holds).
    pub fn forwards(self, v: Option<&Verification>) -> bool {
        match self {
            VerifyMode::Report | VerifyMode::Off => true,
            VerifyMode::Strict => matches!(v, Some(v) if v.outcome == Outcome::Valid),
        }
    }
}
