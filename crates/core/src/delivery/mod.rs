//! The delivery model: one webhook request as its sender made it, and what happened to it.
//!
//! Bodies are bytes, end to end: nothing in this module parses or re-serializes a body.
//! Everything else (verification, the Port diff, Slack, the store, the UI) reads from these types.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub mod label;
pub mod notification;
pub mod state;
pub mod verdict;

pub use label::event_label;
pub use notification::SlackResult;
pub use state::{DeliveryState, ErrorKind};
pub use verdict::{Outcome, Scheme, Verification};

/// Header name/value pairs in arrival order. Repeated headers are repeated entries.
pub type Headers = Vec<(String, String)>;

/// A webhook request exactly as the sender made it to the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRequest {
    /// `POST`, `PUT`, `PATCH`, `DELETE`, `GET`, ... as sent.
    pub method: String,
    /// The path after the channel: empty or beginning with `/` (`/any/sub/path`).
    pub path: String,
    /// The raw query string without the leading `?` (repeated keys and encoding untouched).
    pub query: String,
    /// The sender's headers in arrival order (names as the relay saw them).
    pub headers: Headers,
    /// The body bytes, never re-serialized.
    #[serde(with = "body_b64")]
    pub body: Bytes,
}

impl WebhookRequest {
    /// About how many bytes the request holds in memory: body, headers (with their per-entry
    /// overhead), method, path and query. Memory bounds count this, not the body alone.
    pub fn memory_bytes(&self) -> usize {
        const PER_HEADER: usize = 2 * std::mem::size_of::<String>();
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + PER_HEADER)
            .sum();
        self.body.len() + headers + self.method.len() + self.path.len() + self.query.len()
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, by case-insensitive name, in arrival order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replace every value of `name` with one value (appended at the end when absent).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(pos) = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            self.headers[pos].1 = value;
            let mut i = pos + 1;
            while i < self.headers.len() {
                if self.headers[i].0.eq_ignore_ascii_case(name) {
                    self.headers.remove(i);
                } else {
                    i += 1;
                }
            }
        } else {
            self.headers.push((name.to_string(), value));
        }
    }

    /// The path and query as a request target would show them (`/sub/path?a=1`).
    pub fn path_and_query(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        if self.query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", self.query)
        }
    }

    /// `content-type` without parameters, lower-cased (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The body parsed as JSON, when it is JSON. Never used for forwarding.
    pub fn json_body(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
}

/// Whether the body bytes are the sender's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BodyOrigin {
    /// The relay carried the raw bytes: signatures can be checked byte-exact.
    #[default]
    Exact,
    /// The relay only carried parsed JSON; the body was rebuilt (as `JSON.stringify` would).
    Reserialized {
        /// Which relay did it (`smee.io`), said to the user when a signature fails.
        relay: String,
    },
}

impl BodyOrigin {
    pub fn is_exact(&self) -> bool {
        matches!(self, BodyOrigin::Exact)
    }
}

/// One captured delivery: the request, where it came from, and everything that happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Short stable id (see [`new_delivery_id`]); commands accept unique prefixes.
    pub id: String,
    /// The channel URL the delivery came through.
    pub channel: String,
    /// The relay's SSE event id, when it sent one.
    pub relay_event_id: Option<String>,
    /// When hookrelay received it, milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    pub request: WebhookRequest,
    pub origin: BodyOrigin,
    pub verification: Option<Verification>,
    /// Forwarding attempts in order (first forward, retries, replays).
    pub attempts: Vec<Attempt>,
    pub slack: Option<SlackResult>,
    /// Where the delivery is in the forward job's inbox.
    #[serde(default)]
    pub state: DeliveryState,
    /// Why it is failed, held or skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// The event label ([`event_label`]), derived once at intake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The one-liner for lists (the Port change), derived once at intake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Delivery {
    pub fn new(channel: impl Into<String>, request: WebhookRequest, origin: BodyOrigin) -> Self {
        Delivery {
            id: new_delivery_id(),
            channel: channel.into(),
            relay_event_id: None,
            received_at_ms: now_ms(),
            request,
            origin,
            verification: None,
            attempts: Vec::new(),
            slack: None,
            state: DeliveryState::Pending,
            state_reason: None,
            event: None,
            summary: None,
        }
    }

    /// About how many bytes the delivery's request and ids hold in memory (attempts are not
    /// counted: they are added after a delivery enters a bounded cache).
    pub fn memory_bytes(&self) -> usize {
        self.request.memory_bytes()
            + self.id.len()
            + self.channel.len()
            + self.relay_event_id.as_ref().map_or(0, String::len)
    }

    /// The most recent attempt, if any.
    pub fn last_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

/// One attempt to hand a delivery to a target (the first forward, a retry, or a replay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The target URL the request went to (path and query included).
    pub target: String,
    /// When the attempt started, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Whether this attempt was a replay asked for by the user.
    pub replay: bool,
    /// Milliseconds from sending to the end of the response head (or to the error).
    pub latency_ms: f64,
    pub outcome: AttemptOutcome,
    /// The request as it was sent, when that differs from the stored one (what the relay
    /// delivered): a replay's, or one that `-H` / `--drop-header` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Box<SentRequest>>,
}

/// What was actually sent, where it differs from the stored request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentRequest {
    /// The headers as sent: the target's `host`, `-H` headers, re-signed signatures,
    /// `x-hookrelay-replay-of`.
    pub headers: Headers,
    /// The body, when it was edited (otherwise the stored one).
    #[serde(
        default,
        with = "opt_body_b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<Bytes>,
    /// Signed again with a current timestamp.
    pub resigned: bool,
}

mod opt_body_b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(b: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_some(&B64.encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            B64.decode(s)
                .map(Bytes::from)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// What the target answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Response {
        status: u16,
        headers: Headers,
        /// The response body, cut at the configured bound.
        #[serde(with = "body_b64")]
        body: Bytes,
        /// The full size of the response body (larger than `body.len()` when cut).
        body_size: u64,
    },
    /// No response: connection refused, timeout, bad target, ...
    Error {
        message: String,
        /// What kind of failure (decides whether it is retried). Rows stored before it existed
        /// read back with [`ErrorKind::from_message`].
        #[serde(default)]
        error: ErrorKind,
    },
}

impl Attempt {
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            AttemptOutcome::Response { status, .. } => Some(*status),
            AttemptOutcome::Error { .. } => None,
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self.status(), Some(s) if (200..300).contains(&s))
    }

    /// Whether another try may do better: refused, reset, timeout, 502, 503, 504.
    pub fn retryable(&self) -> bool {
        match &self.outcome {
            AttemptOutcome::Response { status, .. } => matches!(status, 502..=504),
            AttemptOutcome::Error { error, .. } => error.retryable(),
        }
    }

    /// The attempt that was cut short by a crash (found `delivering` at start).
    pub fn interrupted(target: String) -> Attempt {
        Attempt {
            target,
            started_at_ms: now_ms(),
            replay: false,
            latency_ms: 0.0,
            outcome: AttemptOutcome::Error {
                message: "interrupted: hookrelay stopped while the target had the request \
                          (it may have acted on it); sent again"
                    .into(),
                error: ErrorKind::Interrupted,
            },
            sent: None,
        }
    }
}

/// Serde helper: bytes as standard base64 in JSON.
pub mod body_b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// A short, stable delivery id: 10 lower-case base32 characters (50 random bits).
pub fn new_delivery_id() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bits: u64 = rand::random();
    (0..10)
        .map(|_| {
            let c = ALPHABET[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A `POST /` with these headers and body, for the unit tests of this module and its children.
#[cfg(test)]
pub(crate) fn test_request(headers: &[(&str, &str)], body: &str) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::test_request as req;
    use super::*;

    #[test]
    fn header_lookup_is_case_insensitive_and_keeps_repeats() {
        let r = req(&[("X-Multi", "one"), ("x-multi", "two")], "");
        assert_eq!(r.header("x-MULTI"), Some("one"));
        assert_eq!(r.header_all("X-multi").collect::<Vec<_>>(), ["one", "two"]);
    }

    #[test]
    fn set_header_replaces_all_values() {
        let mut r = req(&[("A", "1"), ("b", "2"), ("a", "3")], "");
        r.set_header("a", "9");
        assert_eq!(
            r.headers,
            vec![("A".into(), "9".into()), ("b".into(), "2".into())]
        );
        r.set_header("c", "x");
        assert_eq!(r.headers.last().unwrap().0, "c");
    }

    #[test]
    fn ids_are_short_and_distinct() {
        let a = new_delivery_id();
        let b = new_delivery_id();
        assert_eq!(a.len(), 10);
        assert_ne!(a, b);
    }

    #[test]
    fn request_round_trips_through_json_byte_exact() {
        let mut r = req(&[("Content-Type", "application/octet-stream")], "");
        r.body = Bytes::from_static(&[0, 255, 1, 2, b'"', 0xc3]);
        let s = serde_json::to_string(&r).unwrap();
        let back: WebhookRequest = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }
}
