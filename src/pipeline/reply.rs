//! Stage 3b, the reply (`forward --reply`): once a delivery settles, the dev server's answer
//! goes back to the relay, which hands it to the sender it holds (see [`crate::reply`] for the
//! wire and the relay's side in `server/reply.rs`).
//!
//! What is posted ([`outcome_of`]): the target's last response as it came (status, headers,
//! body bytes) whether the delivery was delivered or failed; `failed` (the sender gets 502)
//! when the target never answered; `held` (401 with the reason) when `--verify strict` held it
//! back; `invalid` (502) for an event this subscriber could not read. Replays never reply: their
//! sender is long gone. What the relay said ([`Replied`]) is stored with the delivery and shown.

use std::sync::Mutex;
use std::time::Duration;

use super::Ctx;
use crate::delivery::{Attempt, AttemptOutcome};
use crate::events::AppEvent;
use crate::reply::{REPLY_TOKEN_HEADER, Replied, ReplyAck, ReplyOutcome, ReplyRecord, reply_url};

/// How long posting one reply may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of the relay's answer to a reply that is read.
const ACK_BYTES: usize = 4096;

/// Posts replies for one channel with the secret of the current connection.
pub(crate) struct Replier {
    client: reqwest::Client,
    channel_url: String,
    /// The secret of the current connection (`None` before the first `ready`, or when the
    /// relay announced none).
    token: Mutex<Option<String>>,
}

impl Replier {
    pub fn new(channel_url: &str) -> Option<Replier> {
        let client = crate::sse::client::http_client().ok()?;
        Some(Replier {
            client,
            channel_url: channel_url.to_string(),
            token: Mutex::new(None),
        })
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Post the answer for relay event `event_id`; what the relay said.
    pub async fn post(&self, event_id: &str, outcome: &ReplyOutcome) -> Replied {
        let Some(token) = self.token() else {
            return Replied::Failed {
                message: "the relay announced no reply secret (it cannot hold senders)".into(),
            };
        };
        let Some(url) = reply_url(&self.channel_url, event_id) else {
            return Replied::Failed {
                message: format!("no reply address for event {event_id}"),
            };
        };
        let sent = self
            .client
            .post(url)
            .header(REPLY_TOKEN_HEADER, token)
            .header("content-type", "application/json")
            .body(outcome.to_json())
            .timeout(POST_TIMEOUT)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Replied::Failed {
                    message: e.to_string(),
                };
            }
        };
        let status = resp.status().as_u16();
        let body = read_bounded(resp).await;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            return Replied::Refused {
                status,
                message: crate::sanitize::display_safe_bounded(text.trim(), 200).into_owned(),
            };
        }
        match serde_json::from_slice::<ReplyAck>(&body) {
            Ok(ReplyAck { sent: true, .. }) => Replied::Sent {
                status: outcome.sender_status(),
            },
            Ok(ReplyAck {
                sent: false,
                why: Some(why),
            }) => Replied::NotSent { why },
            _ => Replied::Failed {
                message: "the relay's answer to the reply is not understood".into(),
            },
        }
    }
}

async fn read_bounded(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk[..chunk.len().min(ACK_BYTES - out.len())]);
        if out.len() >= ACK_BYTES {
            break;
        }
    }
    out
}

/// The answer for a delivery that settled after `last` (its last attempt).
pub fn outcome_of(last: &Attempt, bound: usize) -> ReplyOutcome {
    match &last.outcome {
        AttemptOutcome::Response {
            body, body_size, ..
        } if *body_size > body.len() as u64 => ReplyOutcome::Failed {
            reason: format!(
                "the dev server's response body ({body_size} bytes) is over this subscriber's \
                 {bound}-byte bound, so it is not passed on cut"
            ),
        },
        AttemptOutcome::Response {
            status,
            headers,
            body,
            ..
        } => ReplyOutcome::Response {
            status: *status,
            headers: headers.clone(),
            body: body.clone(),
        },
        AttemptOutcome::Error { message, .. } => ReplyOutcome::Failed {
            reason: format!("the dev server did not answer: {message}"),
        },
    }
}

impl Ctx {
    /// Whether this job answers senders (`--reply`): only then is an outcome worth building.
    pub(super) fn replies(&self) -> bool {
        self.replier.is_some()
    }

    /// Post the answer for a delivery (when replying and it came from the relay with an id),
    /// store what the relay said and tell the consumers.
    pub(super) async fn reply(&self, id: &str, event_id: Option<&str>, outcome: ReplyOutcome) {
        let (Some(replier), Some(event_id)) = (&self.replier, event_id) else {
            return;
        };
        let replied = replier.post(event_id, &outcome).await;
        let record = ReplyRecord {
            at_ms: crate::delivery::now_ms(),
            replied,
        };
        if let Some(disk) = &self.disk {
            let (id2, r) = (id.to_string(), record.clone());
            if let Ok(Err(e)) = disk.call(move |s| s.set_reply(&id2, &r)).await {
                self.out
                    .problem(format!("store: the reply of {id} was not saved: {e}"))
                    .await;
            }
        }
        self.out
            .emit(AppEvent::Replied {
                id: id.to_string(),
                record,
            })
            .await;
    }

    /// An event this subscriber could not read: its sender is answered `invalid` (502).
    pub(super) async fn reply_invalid(&self, event_id: Option<&str>, reason: String) {
        let (Some(replier), Some(event_id)) = (&self.replier, event_id) else {
            return;
        };
        let replied = replier
            .post(event_id, &ReplyOutcome::Invalid { reason })
            .await;
        tracing::info!("event {event_id} (not readable): {replied}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn attempt(outcome: AttemptOutcome) -> Attempt {
        Attempt {
            target: "http://127.0.0.1:1/".into(),
            started_at_ms: 0,
            replay: false,
            latency_ms: 1.0,
            outcome,
            sent: None,
        }
    }

    #[test]
    fn outcomes_follow_the_last_attempt() {
        let full = attempt(AttemptOutcome::Response {
            status: 500,
            headers: vec![("x".into(), "1".into())],
            body: Bytes::from_static(b"boom"),
            body_size: 4,
        });
        assert_eq!(outcome_of(&full, 10).sender_status(), 500);
        let cut = attempt(AttemptOutcome::Response {
            status: 200,
            headers: vec![],
            body: Bytes::from_static(b"0123456789"),
            body_size: 99,
        });
        assert_eq!(outcome_of(&cut, 10).sender_status(), 502);
        let err = attempt(AttemptOutcome::Error {
            message: "refused".into(),
            error: Default::default(),
        });
        assert!(matches!(outcome_of(&err, 10), ReplyOutcome::Failed { .. }));
    }
}
