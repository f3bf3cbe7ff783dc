//! Webhook ingest: read the body (bounded per request and across concurrent requests), build
//! the exact [`WebhookRequest`], publish it, answer `200 {"ok":true,...}` at once.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::backend::{BackendError, Waiter};
use super::client::Clients;
use super::hub::HubError;
use super::metrics::Refusal;
use super::response::{Resp, refused, text};
use crate::delivery::{WebhookRequest, now_ms};

/// How long a request waits for room in the in-flight body budget before it gets `503`.
const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body is larger than this relay's limit of {0} bytes")]
    TooLarge(usize),
    #[error("the relay is receiving too many large bodies at once; retry shortly")]
    Busy,
    #[error("this address is sending too many large bodies at once; retry shortly")]
    ClientBusy,
    #[error("the request body arrived too slowly")]
    TooSlow,
    #[error("could not read the request body: {0}")]
    Read(String),
}

impl BodyError {
    fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::ClientBusy => StatusCode::TOO_MANY_REQUESTS,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn refusal(&self) -> Refusal {
        match self {
            BodyError::TooLarge(_) => Refusal::too_large,
            BodyError::Busy => Refusal::memory_busy,
            BodyError::ClientBusy => Refusal::client_body_bytes,
            BodyError::TooSlow => Refusal::too_slow,
            BodyError::Read(_) => Refusal::bad_body,
        }
    }
}

/// How a body must arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyRules {
    /// Largest body.
    pub limit: usize,
    /// Longest wait for room in the shared budget.
    pub wait: Duration,
    /// Time allowed before the minimum rate applies.
    pub grace: Duration,
    /// Bytes per second the body must arrive at on average after the grace time.
    pub min_rate: usize,
}

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
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
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
            let json = serde_json::json!({"ok": true, "channel": channel, "id": id});
            let mut r = Response::new(Body::from(json.to_string()));
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

/// Body bytes held from the shared budget and the client's own; released when dropped.
#[derive(Default)]
pub(crate) struct Held {
    global: Option<OwnedSemaphorePermit>,
    client: Option<(Arc<Clients>, IpAddr)>,
    reserved: usize,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("reserved", &self.reserved)
            .finish()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((clients, ip)) = &self.client {
            clients.release_body_bytes(*ip, self.reserved);
        }
    }
}

/// Read a whole body of at most `rules.limit` bytes. Every byte is taken from the shared
/// `budget` (one permit per byte) and from the client's own limit *as it arrives* (a declared
/// length reserves nothing), so slow or lying uploads cannot hold room they have not used.
/// The body must keep arriving: after `rules.grace`, at `rules.min_rate` bytes/s on average.
pub(crate) async fn read_body(
    mut body: Body,
    declared: Option<u64>,
    rules: BodyRules,
    budget: &Arc<Semaphore>,
    client: Option<(&Arc<Clients>, IpAddr)>,
) -> Result<(Bytes, Held), BodyError> {
    let limit = rules.limit;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut held = Held {
        global: None,
        client: client.map(|(c, ip)| (Arc::clone(c), ip)),
        reserved: 0,
    };
    let started = tokio::time::Instant::now();
    // One frame (the usual case) is kept as is; more are gathered in one buffer (its capacity
    // is only address space until written, so the declared length may size it).
    let mut single: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    loop {
        let have = single.as_ref().map_or(buf.len(), Bytes::len);
        let min_rate = rules.min_rate.max(1) as u64;
        let deadline = started + rules.grace + Duration::from_millis(have as u64 * 1000 / min_rate);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(|e| BodyError::Read(e.to_string()))?,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not part of the body
        };
        let len = have + data.len();
        if len > limit {
            return Err(BodyError::TooLarge(limit));
        }
        reserve(budget, &mut held, len, limit, rules.wait).await?;
        if have == 0 && single.is_none() {
            single = Some(data);
        } else {
            if let Some(first) = single.take() {
                let want = declared.map_or(0, |n| n as usize);
                buf.reserve(want.max(len));
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((single.unwrap_or_else(|| buf.freeze()), held))
}

/// Hold `n` bytes in all (taking only what is not held yet): first the client's own limit
/// (refused at once when over it), then the shared budget (waiting at most `wait`).
async fn reserve(
    budget: &Arc<Semaphore>,
    held: &mut Held,
    n: usize,
    limit: usize,
    wait: Duration,
) -> Result<(), BodyError> {
    let more = n.saturating_sub(held.reserved);
    if more == 0 {
        return Ok(());
    }
    let more32 = u32::try_from(more).map_err(|_| BodyError::TooLarge(limit))?;
    if let Some((clients, ip)) = &held.client
        && !clients.take_body_bytes(*ip, more)
    {
        return Err(BodyError::ClientBusy);
    }
    // from here `held` owns the client bytes: dropping it gives them back
    held.reserved += more;
    let permit = tokio::time::timeout(wait, Arc::clone(budget).acquire_many_owned(more32))
        .await
        .map_err(|_| BodyError::Busy)?
        .map_err(|_| BodyError::Busy)?;
    match &mut held.global {
        Some(h) => h.merge(permit),
        None => held.global = Some(permit),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(parts: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    fn rules(limit: usize) -> BodyRules {
        BodyRules {
            limit,
            wait: Duration::from_millis(50),
            grace: Duration::from_secs(5),
            min_rate: 1,
        }
    }

    #[tokio::test]
    async fn bodies_are_bounded_and_budgeted() {
        let budget = Arc::new(Semaphore::new(10));
        let (b, held) = read_body(body_of(&[b"abc", b"def"]), None, rules(8), &budget, None)
            .await
            .unwrap();
        assert_eq!(&b[..], b"abcdef");
        assert_eq!(budget.available_permits(), 4, "6 bytes held");
        // While held, a body needing more than what is left waits, then gives up.
        let busy = read_body(body_of(&[b"12345"]), None, rules(8), &budget, None).await;
        assert!(matches!(busy, Err(BodyError::Busy)), "{busy:?}");
        drop(held);
        assert_eq!(budget.available_permits(), 10);
        let big = read_body(body_of(&[b"12345", b"6789"]), None, rules(8), &budget, None).await;
        assert!(matches!(big, Err(BodyError::TooLarge(8))));
        let declared = read_body(body_of(&[]), Some(9), rules(8), &budget, None).await;
        assert!(matches!(declared, Err(BodyError::TooLarge(8))));
        assert_eq!(budget.available_permits(), 10, "nothing leaked");
        let (b, _h) = read_body(body_of(&[]), Some(0), rules(8), &budget, None)
            .await
            .unwrap();
        assert!(b.is_empty());
    }
}
