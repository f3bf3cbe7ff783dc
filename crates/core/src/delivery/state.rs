//! Part of the delivery model: where a delivery is in the forward job's inbox
//! ([`DeliveryState`]) and why an attempt got no response ([`ErrorKind`]). Both are stored as
//! their snake_case names.

use serde::{Deserialize, Serialize};

/// Where a delivery is in the forward job's inbox (the store's `state` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// On disk, waiting for its turn.
    #[default]
    Pending,
    /// Being forwarded; found at start, it was interrupted (it may have reached the target).
    Delivering,
    /// The target answered 2xx.
    Delivered,
    /// Given up: the target answered an error, or the retries ran out (the reason says which).
    Failed,
    /// Not forwarded: `--verify strict` and the signature did not check out.
    Held,
    /// Not forwarded by a filter (reserved).
    Skipped,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Pending,
        DeliveryState::Delivering,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Held,
        DeliveryState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivering => "delivering",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Held => "held",
            DeliveryState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Still to be sent (by this run or the next).
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryState::Pending | DeliveryState::Delivering)
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt got no response, as a type: it decides retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Nothing listens on the target's port.
    Refused,
    /// The target took longer than `--timeout`.
    Timeout,
    /// The connection broke (reset, closed before the response).
    Reset,
    /// Other connect failures (no route, DNS, ...).
    Connect,
    /// The request cannot be built (a path or header the HTTP library refuses): never retried.
    InvalidRequest,
    /// The response started but its body broke off.
    BrokenResponse,
    /// hookrelay stopped (crash, kill -9) while the target had the request.
    Interrupted,
    /// The TLS handshake with an `https://` target failed (an untrusted certificate, ...): not
    /// retried, the certificate will not change by itself.
    Tls,
    #[default]
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Connect => "connect",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::BrokenResponse => "broken_response",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Tls => "tls",
            ErrorKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        [
            ErrorKind::Refused,
            ErrorKind::Timeout,
            ErrorKind::Reset,
            ErrorKind::Connect,
            ErrorKind::InvalidRequest,
            ErrorKind::BrokenResponse,
            ErrorKind::Interrupted,
            ErrorKind::Tls,
            ErrorKind::Other,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// For attempts stored before the kind was (the message is all there is).
    pub fn from_message(message: &str) -> ErrorKind {
        if message.contains("refused") {
            ErrorKind::Refused
        } else if message.contains("did not answer") {
            ErrorKind::Timeout
        } else if message.contains("cannot build") {
            ErrorKind::InvalidRequest
        } else if message.contains("cannot connect") {
            ErrorKind::Connect
        } else {
            ErrorKind::Other
        }
    }

    /// Worth trying again: the target is not there yet, or did not answer.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Refused
                | ErrorKind::Timeout
                | ErrorKind::Reset
                | ErrorKind::Connect
                | ErrorKind::Interrupted
        )
    }
}
