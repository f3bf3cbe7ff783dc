//! What signature verification concluded about one delivery, recorded with it: the
//! [`Scheme`] that signed it, the [`Outcome`], and the [`Verification`] with a reason a person
//! understands. The log, the UI, `show` and the store render these; [`crate::verify`] produces
//! them. They live in the model so that the model depends on no feature.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A signature scheme hookrelay knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Port: `x-port-signature: v1,<base64>` over `<x-port-timestamp>.<body>`.
    Port,
    /// Port Ocean live events: `x-port-signature: sha256=<hex>` over the body.
    PortOcean,
    /// GitHub: `X-Hub-Signature-256` (and the legacy sha1 `X-Hub-Signature`).
    Github,
    /// Scalr: `X-Signature` over the body followed by the `Date` header.
    Scalr,
    /// Stripe: `Stripe-Signature: t=..,v1=..`.
    Stripe,
    /// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    #[cfg_attr(feature = "clap", value(alias = "svix"))]
    StandardWebhooks,
}

impl Scheme {
    /// Every scheme, in detection priority order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Port,
        Scheme::PortOcean,
        Scheme::StandardWebhooks,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Scalr,
    ];

    /// The names accepted on the command line, for messages.
    pub const NAMES: &str = "port, port-ocean, github, scalr, stripe, standard-webhooks (svix)";

    /// The command-line name (`port-ocean`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Port => "port",
            Scheme::PortOcean => "port-ocean",
            Scheme::Github => "github",
            Scheme::Scalr => "scalr",
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
        }
    }

    /// The name people use (`Port Ocean`).
    pub fn label(self) -> &'static str {
        match self {
            Scheme::Port => "Port",
            Scheme::PortOcean => "Port Ocean",
            Scheme::Github => "GitHub",
            Scheme::Scalr => "Scalr",
            Scheme::Stripe => "Stripe",
            Scheme::StandardWebhooks => "Standard Webhooks",
        }
    }

    /// The environment variable holding this scheme's secret (`HOOKRELAY_PORT_OCEAN_SECRET`).
    pub fn env_var(self) -> String {
        format!(
            "HOOKRELAY_{}_SECRET",
            self.name().replace('-', "_").to_ascii_uppercase()
        )
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match n.as_str() {
            "port" => Scheme::Port,
            "port-ocean" | "ocean" => Scheme::PortOcean,
            "github" => Scheme::Github,
            "scalr" => Scheme::Scalr,
            "stripe" => Scheme::Stripe,
            "standard-webhooks" | "standardwebhooks" | "svix" => Scheme::StandardWebhooks,
            _ => return Err(format!("unknown scheme {s:?} (schemes: {})", Scheme::NAMES)),
        })
    }
}

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

    pub fn plain(scheme: Option<Scheme>, outcome: Outcome, reason: impl Into<String>) -> Self {
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
