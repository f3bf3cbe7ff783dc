//! What `--verify` does with a delivery's verdict ([`VerifyMode`]). The verdict itself
//! ([`Outcome`], [`Verification`]) is part of the delivery model: [`crate::delivery::verdict`].

use serde::{Deserialize, Serialize};

use crate::delivery::verdict::{Outcome, Verification};

/// What `--verify` does with the outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
