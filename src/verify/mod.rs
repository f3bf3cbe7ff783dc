//! Signature verification (issue 3). Interface fixed here; the implementation lands with its issue.

use serde::{Deserialize, Serialize};

/// A signature scheme hookrelay knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    Port,
    PortOcean,
    Github,
    Scalr,
    Stripe,
    StandardWebhooks,
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
    Reserialized,
    Unsigned,
}

/// The verification result recorded on a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub scheme: Option<Scheme>,
    pub outcome: Outcome,
    /// A sentence a person understands.
    pub reason: String,
}
