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

/// Port's signature header value for a body: `v1,` + base64(HMAC-SHA256(secret, ts.body)).
pub fn sign_port(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}
