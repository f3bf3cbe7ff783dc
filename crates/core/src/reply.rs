//! The round trip's wire (`forward --reply`): how a replying subscriber learns its reply secret,
//! what it posts to the relay once a delivery settles, and what the relay tells it back.
//!
//! - The subscriber asks to answer for its channel with [`REPLY_HEADER`]`: 1` on the
//!   subscription. The relay's `event: ready` then carries a secret for this connection only:
//!   `{"reply":{"token":"<43 base64url characters>"}}` (smee's clients ignore `ready`).
//! - After a delivery settles the subscriber posts a [`ReplyOutcome`] as JSON to
//!   [`reply_url`] (`<channel's parent>/.hookrelay/reply/<channel>/<event id>`) with the secret
//!   in [`REPLY_TOKEN_HEADER`]. `.hookrelay` is no channel name, so no webhook path is taken.
//! - The relay answers `200` with a [`ReplyAck`] (`sent`: whether this answer reached the
//!   sender, and why not), `403` for a secret that is not a replier's of this channel.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The subscription header asking to answer senders (`X-Hookrelay-Reply: 1`).
pub const REPLY_HEADER: &str = "x-hookrelay-reply";
/// The header carrying the connection's reply secret on a reply.
pub const REPLY_TOKEN_HEADER: &str = "x-hookrelay-reply-token";
/// The first path segment of replies (not a valid channel name).
pub const REPLY_SEGMENT: &str = ".hookrelay";
/// What a replying subscriber reports for one event: the dev server's response, or why there
/// is none. The relay turns it into the sender's answer (see [`ReplyOutcome::sender_status`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReplyOutcome {
    /// The dev server answered (whatever the status): the sender gets it as it is.
    Response {
        status: u16,
        /// In order, repeats kept; the relay passes on the end-to-end ones
        /// ([`crate::headers::end_to_end`]).
        headers: Vec<(String, String)>,
        #[serde(rename = "bodyB", with = "b64")]
        body: Bytes,
    },
    /// No response from the dev server after the retries: the sender gets `502`.
    Failed { reason: String },
    /// `--verify strict` held the delivery back: the sender gets `401` with the reason.
    Held { reason: String },
    /// The subscriber could not read the event: the sender gets `502`.
    Invalid { reason: String },
}

impl ReplyOutcome {
    /// The status the sender gets for this outcome.
    pub fn sender_status(&self) -> u16 {
        match self {
            ReplyOutcome::Response { status, .. } => *status,
            ReplyOutcome::Failed { .. } | ReplyOutcome::Invalid { .. } => 502,
            ReplyOutcome::Held { .. } => 401,
        }
    }

    /// The JSON posted to the relay (and carried between relay instances).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }

    pub fn from_json(raw: &[u8]) -> Result<ReplyOutcome, serde_json::Error> {
        serde_json::from_slice(raw)
    }
}

/// Why a reply did not reach a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotSent {
    /// The sender was already answered `504` (the reply timeout passed).
    TooLate,
    /// Another replying subscriber answered first.
    AlreadyAnswered,
    /// No sender waits for this event (no replier was connected when it arrived, or it was
    /// sent again from the relay's buffer).
    NotHeld,
}

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotSent::TooLate => "too late: the sender was already answered 504",
            NotSent::AlreadyAnswered => "another subscriber answered first",
            NotSent::NotHeld => "no sender was waiting for it",
        })
    }
}

/// The relay's answer to a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyAck {
    pub sent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<NotSent>,
}

/// What became of a replying subscriber's answer, as the log, the UI and the store show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Replied {
    /// The sender got this status (and the dev server's headers and body, or the JSON of a
    /// 502 / 401).
    Sent { status: u16 },
    /// The relay took the answer but no sender got it.
    NotSent { why: NotSent },
    /// The relay refused the answer (status and its words).
    Refused { status: u16, message: String },
    /// The answer could not be posted (the relay unreachable, ...).
    Failed { message: String },
}

impl Replied {
    /// What the sender was answered, when known.
    pub fn sender_status(&self) -> Option<u16> {
        match self {
            Replied::Sent { status } => Some(*status),
            Replied::NotSent {
                why: NotSent::TooLate,
            } => Some(504),
            _ => None,
        }
    }
}

impl std::fmt::Display for Replied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replied::Sent { status } => write!(f, "the sender got {status}"),
            Replied::NotSent { why } => write!(f, "not sent: {why}"),
            Replied::Refused { status, message } => {
                write!(f, "the relay refused the reply ({status}): {message}")
            }
            Replied::Failed { message } => write!(f, "the reply was not posted: {message}"),
        }
    }
}

/// A delivery's reply, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRecord {
    /// When it was posted, ms since the Unix epoch.
    pub at_ms: i64,
    pub replied: Replied,
}

/// The reply secret an `event: ready` announces, if any.
pub fn token_from_ready(data: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    let t = v.get("reply")?.get("token")?.as_str()?;
    // a relay is not trusted: only a plausible token is kept
    (t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| t.to_string())
}

/// The URL a reply for `event_id` goes to: the channel URL with its last segment `<channel>`
/// replaced by `.hookrelay/reply/<channel>/<event id>` (a path prefix of a proxy is kept).
pub fn reply_url(channel_url: &str, event_id: &str) -> Option<String> {
    let mut url = url::Url::parse(channel_url).ok()?;
    let path = url.path().trim_end_matches('/').to_string();
    let (parent, channel) = path.rsplit_once('/')?;
    if channel.is_empty()
        || !event_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    url.set_path(&format!(
        "{parent}/{REPLY_SEGMENT}/reply/{channel}/{event_id}"
    ));
    url.set_query(None);
    Some(url.to_string())
}

mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(b))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_and_map_to_statuses() {
        let r = ReplyOutcome::Response {
            status: 201,
            headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
            body: Bytes::from_static(b"\x00{\"ok\":1}\xff"),
        };
        assert_eq!(ReplyOutcome::from_json(&r.to_json()).unwrap(), r);
        assert_eq!(r.sender_status(), 201);
        let h = ReplyOutcome::Held {
            reason: "bad".into(),
        };
        assert_eq!(h.sender_status(), 401);
        assert!(
            String::from_utf8(h.to_json())
                .unwrap()
                .contains("\"outcome\":\"held\"")
        );
    }

    #[test]
    fn reply_urls_keep_the_prefix() {
        assert_eq!(
            reply_url("http://127.0.0.1:3300/abc", "e1-5").unwrap(),
            "http://127.0.0.1:3300/.hookrelay/reply/abc/e1-5"
        );
        assert_eq!(
            reply_url("https://h/relay/abc/?x=1", "1-2").unwrap(),
            "https://h/relay/.hookrelay/reply/abc/1-2"
        );
        assert!(reply_url("http://h/abc", "../x").is_none());
        assert_eq!(
            token_from_ready(r#"{"reply":{"token":"abc_-9"}}"#).as_deref(),
            Some("abc_-9")
        );
        assert!(token_from_ready("{}").is_none());
        assert!(token_from_ready(r#"{"reply":{"token":"a b"}}"#).is_none());
    }
}
