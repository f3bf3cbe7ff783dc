//! The round trip (`forward --reply`), relay side: a webhook on a channel with a replying
//! subscriber holds its sender until that subscriber reports the dev server's answer (or the
//! reply timeout passes: `504`), and replies come in on `POST /.hookrelay/reply/<channel>/<id>`
//! with the connection's secret (wire format in [`crate::reply`]).
//!
//! Held senders are bounded per channel and in all ([`Holds`]); past either a webhook for a
//! channel with a replier gets `503`. A held sender costs its connection and a small waiting
//! task: its body is in the channel's ring (counted there), not held twice.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::AppState;
use super::backend::{BackendError, Posted};
use super::body::{BodyRules, read_body};
use super::response::{Resp, text};
use crate::reply::{REPLY_TOKEN_HEADER, ReplyAck, ReplyOutcome};

/// A fresh reply secret (256 random bits, base64url) and its hash (what the relay keeps).
pub(crate) fn new_token() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    (token, hash)
}

/// The hash a secret is known by (hex SHA-256): the relay and Redis never keep the secret.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The `event: ready` frame of a replying subscriber, announcing its secret.
pub(crate) fn ready_frame(token: &str) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        "event: ready\ndata: {{\"reply\":{{\"token\":\"{token}\"}}}}\n\n"
    ))
}

/// How many senders may be held at once.
#[derive(Clone, Copy, Debug)]
pub struct HoldLimits {
    /// Per channel. Default 64.
    pub per_channel: usize,
    /// In all (per instance). Default 512.
    pub total: usize,
}

impl Default for HoldLimits {
    fn default() -> Self {
        HoldLimits {
            per_channel: 64,
            total: 512,
        }
    }
}

/// The senders held now, per channel.
pub(crate) struct Holds {
    limits: HoldLimits,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// One held sender's place; dropping it frees it.
pub(crate) struct HoldPermit {
    holds: Arc<Holds>,
    channel: String,
}

impl Holds {
    pub fn new(limits: HoldLimits) -> Arc<Holds> {
        Arc::new(Holds {
            limits,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for one more held sender of `channel`, if within both limits.
    pub fn try_hold(self: &Arc<Self>, channel: &str) -> Option<HoldPermit> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per) = &mut *g;
        let n = per.get(channel).copied().unwrap_or(0);
        if *total >= self.limits.total || n >= self.limits.per_channel {
            return None;
        }
        *total += 1;
        per.insert(channel.to_string(), n + 1);
        Some(HoldPermit {
            holds: Arc::clone(self),
            channel: channel.to_string(),
        })
    }

    /// Senders held now.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for HoldPermit {
    fn drop(&mut self) {
        let mut g = self.holds.held.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per) = &mut *g;
        *total -= 1;
        if let Some(n) = per.get_mut(&self.channel) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.channel);
            }
        }
    }
}

/// What the sender gets for a reply: the dev server's status, headers (minus hop-by-hop ones
/// and `content-length`) and body bytes; or 502 / 401 with a short JSON body.
pub(crate) fn sender_response(outcome: ReplyOutcome) -> Resp {
    let (error, message) = match outcome {
        ReplyOutcome::Response {
            status,
            headers,
            body,
        } => {
            let mut r = Response::new(Body::from(body));
            // a final answer only: an informational (1xx) or unknown status is no answer
            *r.status_mut() = StatusCode::from_u16(status)
                .ok()
                .filter(|s| (200..600).contains(&s.as_u16()))
                .unwrap_or(StatusCode::BAD_GATEWAY);
            let h = r.headers_mut();
            // hop-by-hop headers describe the subscriber's connection; the length is the body's
            for (n, v) in crate::headers::end_to_end(&headers) {
                let lower = n.to_ascii_lowercase();
                if lower == "content-length" {
                    continue;
                }
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(lower.as_bytes()),
                    HeaderValue::from_bytes(v.as_bytes()),
                ) {
                    h.append(n, v);
                }
            }
            return r;
        }
        ReplyOutcome::Failed { reason } => ("target_unreachable", reason),
        ReplyOutcome::Invalid { reason } => ("invalid_event", reason),
        ReplyOutcome::Held { reason } => ("signature_rejected", reason),
    };
    let status = if error == "signature_rejected" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_GATEWAY
    };
    json(
        status,
        serde_json::json!({"error": error, "message": message}),
    )
}

/// The sender's `504`: no answer within the reply timeout.
pub(crate) fn timed_out(timeout: Duration) -> Resp {
    json(
        StatusCode::GATEWAY_TIMEOUT,
        serde_json::json!({
            "error": "reply_timeout",
            "message": format!(
                "the dev server did not answer within {}",
                humantime::format_duration(timeout)
            ),
        }),
    )
}

/// The sender's `503` past the held-senders limits.
pub(crate) fn too_many_held() -> Resp {
    let mut r = json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({
            "error": "too_many_waiting",
            "message": "too many senders are waiting for this channel's dev server to answer; retry shortly",
        }),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn json(status: StatusCode, v: serde_json::Value) -> Resp {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `POST /.hookrelay/reply/<channel>/<id>`: a replying subscriber's answer.
pub(crate) async fn post(
    st: &AppState,
    channel: &str,
    id: &str,
    client: IpAddr,
    req: Request,
) -> Resp {
    if req.method() != axum::http::Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "replies are POSTed by `hookrelay forward --reply`\n",
        );
    }
    let Some(token) = req
        .headers()
        .get(REPLY_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return forbidden();
    };
    let rules = BodyRules {
        limit: st.cfg.max_body_bytes,
        wait: Duration::from_secs(5),
        grace: st.cfg.timeouts.body_grace,
        min_rate: st.cfg.timeouts.body_min_rate,
    };
    let (body, _held) = match read_body(
        req.into_body(),
        None,
        rules,
        &st.memory.bodies,
        Some((&st.clients, client)),
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    };
    let outcome = match ReplyOutcome::from_json(&body) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("not a reply: {e}\n")),
    };
    drop(body);
    match st
        .hub
        .answer(channel, id, &token_hash(&token), outcome)
        .await
    {
        Ok(Posted::Sent) => ack(ReplyAck {
            sent: true,
            why: None,
        }),
        Ok(Posted::NotSent(why)) => ack(ReplyAck {
            sent: false,
            why: Some(why),
        }),
        Ok(Posted::Forbidden) => forbidden(),
        Err(e @ BackendError::Unavailable) | Err(e @ BackendError::Refused(_)) => {
            text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"))
        }
    }
}

fn ack(a: ReplyAck) -> Resp {
    json(
        StatusCode::OK,
        serde_json::to_value(a).expect("plain data serializes"),
    )
}

fn forbidden() -> Resp {
    tracing::debug!("reply refused: not a replying subscriber's secret for this channel");
    text(
        StatusCode::FORBIDDEN,
        "not a replying subscriber of this channel (the secret comes in the subscription's ready event)\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_gets_the_answer_minus_hop_by_hop_headers() {
        let r = sender_response(ReplyOutcome::Response {
            status: 201,
            headers: vec![
                ("Connection".into(), "close".into()),
                ("transfer-encoding".into(), "chunked".into()),
                ("content-length".into(), "999".into()),
                ("x-a".into(), "1".into()),
                ("x-a".into(), "2".into()),
                ("x-bad".into(), "a\r\nb".into()),
            ],
            body: bytes::Bytes::from_static(b"{}"),
        });
        assert_eq!(r.status(), 201);
        let names: Vec<&str> = r.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-a"]);
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        let odd = sender_response(ReplyOutcome::Response {
            status: 101,
            headers: vec![],
            body: bytes::Bytes::new(),
        });
        assert_eq!(odd.status(), 502);
        let held = sender_response(ReplyOutcome::Held {
            reason: "--verify strict: bad".into(),
        });
        assert_eq!(held.status(), 401);
    }

    #[test]
    fn holds_are_bounded_per_channel_and_in_all() {
        let h = Holds::new(HoldLimits {
            per_channel: 2,
            total: 3,
        });
        let a1 = h.try_hold("a").unwrap();
        let _a2 = h.try_hold("a").unwrap();
        assert!(h.try_hold("a").is_none(), "per channel");
        let _b1 = h.try_hold("b").unwrap();
        assert!(h.try_hold("c").is_none(), "in all");
        drop(a1);
        let _a3 = h.try_hold("a").expect("room again");
        assert_eq!(h.count(), 3);
    }
}
