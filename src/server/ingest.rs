//! Webhook ingest: read the body (bounded per request and across concurrent requests, see
//! `body.rs`), build the exact [`WebhookRequest`], publish it, answer `200 {"ok":true,...}` at
//! once, or, for a channel with a replying subscriber, hold the sender for the dev server's
//! answer (`reply.rs`).

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};

use super::AppState;
use super::backend::{BackendError, Waiter};
use super::body::{BodyRules, read_body};
use super::hub::HubError;
use super::metrics::Refusal;
use super::raw_head::{RawHead, exact_headers};
use super::response::{Resp, refused, text};
use crate::delivery::{WebhookRequest, now_ms};

/// How long a request waits for room in the in-flight body budget before it gets `503`.
const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// Any request on a channel that is not a subscription or a help page: a webhook.
pub(crate) async fn ingest(
    st: &AppState,
    channel: String,
    sub_path: String,
    client: IpAddr,
    req: Request,
) -> Resp {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let rules = BodyRules {
        limit: st.cfg.max_body_bytes,
        wait: BUDGET_WAIT,
        grace: st.cfg.timeouts.body_grace,
        min_rate: st.cfg.timeouts.body_min_rate,
    };
    let read = read_body(
        body,
        declared,
        rules,
        &st.memory.bodies,
        Some((&st.clients, client)),
    )
    .await;
    let (body, _held) = match read {
        Ok(ok) => ok,
        Err(e) => {
            tracing::debug!(%client, error = %e, "webhook refused");
            st.metrics.refused(e.refusal());
            return text(e.status(), &format!("{e}\n"));
        }
    };
    let request = WebhookRequest {
        method: parts.method.as_str().to_string(),
        path: sub_path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: exact_headers(&parts, parts.extensions.get::<RawHead>()),
        body,
    };
    let size = request.body.len();
    // A channel with a replying subscriber holds its sender (within the limits): the body is
    // in the ring from here on, so its budget share is returned before the wait.
    let published = match st.holds.try_hold(&channel) {
        Some(permit) => {
            let r = st
                .hub
                .publish_held(&channel, request, now_ms(), client, st.cfg.reply_timeout)
                .await;
            drop(_held);
            match r {
                Ok((id, Some(waiter))) => {
                    st.metrics.accepted();
                    tracing::debug!(id, size, "webhook published; sender held for the reply");
                    return wait_for_reply(st, waiter, permit).await;
                }
                Ok((id, None)) => Ok(id),
                Err(e) => Err(e),
            }
        }
        None if st.hub.has_replier(&channel).await => {
            st.metrics.refused(Refusal::too_many_held);
            return super::reply::too_many_held();
        }
        None => st.hub.publish(&channel, request, now_ms(), client).await,
    };
    match published {
        Ok(id) => {
            st.metrics.accepted();
            tracing::debug!(id, size, "webhook published");
            let mut r = Response::new(Body::from(accepted_json(&channel, &id)));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            r
        }
        Err(BackendError::Refused(e)) => {
            st.metrics.refused(match e {
                HubError::SenderQuota(_) => Refusal::channel_quota,
                _ => Refusal::too_many_channels,
            });
            refused(e)
        }
        Err(e @ BackendError::Unavailable) => {
            // never a 2xx for a webhook that was not stored (the backend logs the outage once)
            st.metrics.refused(Refusal::store_unavailable);
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"));
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// The answer to an accepted webhook, `{"ok":true,"channel":…,"id":…}`, serialized straight
/// into one buffer (no JSON tree per webhook).
fn accepted_json(channel: &str, id: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Accepted<'a> {
        ok: bool,
        channel: &'a str,
        id: &'a str,
    }
    let answer = Accepted {
        ok: true,
        channel,
        id,
    };
    serde_json::to_vec(&answer).expect("strings serialize")
}

/// Hold the sender until its answer comes, the reply timeout passes (`504`) or the relay
/// shuts down (`503`).
async fn wait_for_reply(
    st: &AppState,
    waiter: Box<dyn Waiter>,
    _permit: super::reply::HoldPermit,
) -> Resp {
    let timeout = st.cfg.reply_timeout;
    let mut shutdown = st.shutdown.clone();
    tokio::select! {
        answer = waiter.wait(timeout) => match answer {
            Some(outcome) => super::reply::sender_response(outcome),
            None => super::reply::timed_out(timeout),
        },
        _ = super::listener::stopped(&mut shutdown) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "the relay is shutting down; retry shortly\n")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_accepted_answer_is_the_documented_json() {
        let v: serde_json::Value =
            serde_json::from_slice(&super::accepted_json("ab_c", "e1-7")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ok": true, "channel": "ab_c", "id": "e1-7"})
        );
    }
}
