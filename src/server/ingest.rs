//! Webhook ingest: read the body (bounded per request and across concurrent requests), build
//! the exact [`WebhookRequest`], publish it, answer `200 {"ok":true,...}` at once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::routes::{Resp, refused, text};
use crate::delivery::{WebhookRequest, now_ms};

/// How long a request waits for room in the in-flight body budget before it gets `503`.
const BUDGET_WAIT: Duration = Duration::from_secs(10);

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body is larger than this relay's limit of {0} bytes")]
    TooLarge(usize),
    #[error("the relay is receiving too many large bodies at once; retry shortly")]
    Busy,
    #[error("could not read the request body: {0}")]
    Read(String),
}

/// Any request on a channel that is not a subscription or a help page: a webhook.
pub(crate) async fn ingest(st: &AppState, channel: String, sub_path: String, req: Request) -> Resp {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let read = read_body(
        body,
        declared,
        st.cfg.max_body_bytes,
        &st.inflight,
        BUDGET_WAIT,
    )
    .await;
    let (body, _held) = match read {
        Ok(ok) => ok,
        Err(e) => {
            tracing::debug!(channel, error = %e, "webhook refused");
            let status = match e {
                BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            return text(status, &format!("{e}\n"));
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
    let (method, size) = (request.method.clone(), request.body.len());
    match st.hub.publish(&channel, request, now_ms()) {
        Ok(id) => {
            tracing::debug!(channel, id, method, size, "webhook published");
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
        Err(e) => refused(e),
    }
}

/// Read a whole body of at most `limit` bytes. Every byte held is first taken from the shared
/// `budget` (one permit per byte; the declared length at once, else as frames arrive), so
/// concurrent uploads cannot hold more than the budget. The permits come back with the body
/// and are released when the caller drops them.
pub(crate) async fn read_body(
    mut body: Body,
    declared: Option<u64>,
    limit: usize,
    budget: &Arc<Semaphore>,
    wait: Duration,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut reserved = 0usize;
    let declared = declared.map_or(0, |n| n as usize);
    reserve(budget, &mut held, &mut reserved, declared, limit, wait).await?;
    // One frame (the usual case) is kept as is; more are gathered in one buffer.
    let mut single: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not part of the body
        };
        let have = single.as_ref().map_or(buf.len(), Bytes::len);
        let len = have + data.len();
        if len > limit {
            return Err(BodyError::TooLarge(limit));
        }
        reserve(budget, &mut held, &mut reserved, len, limit, wait).await?;
        if have == 0 && single.is_none() {
            single = Some(data);
        } else {
            if let Some(first) = single.take() {
                buf.reserve(declared.max(len));
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((single.unwrap_or_else(|| buf.freeze()), held))
}

/// Hold permits for `n` bytes in all (taking only what is not held yet).
async fn reserve(
    budget: &Arc<Semaphore>,
    held: &mut Option<OwnedSemaphorePermit>,
    reserved: &mut usize,
    n: usize,
    limit: usize,
    wait: Duration,
) -> Result<(), BodyError> {
    let more = n.saturating_sub(*reserved);
    if more == 0 {
        return Ok(());
    }
    let more32 = u32::try_from(more).map_err(|_| BodyError::TooLarge(limit))?;
    let permit = tokio::time::timeout(wait, Arc::clone(budget).acquire_many_owned(more32))
        .await
        .map_err(|_| BodyError::Busy)?
        .map_err(|_| BodyError::Busy)?;
    match held {
        Some(h) => h.merge(permit),
        None => *held = Some(permit),
    }
    *reserved += more;
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

    #[tokio::test]
    async fn bodies_are_bounded_and_budgeted() {
        let budget = Arc::new(Semaphore::new(10));
        let wait = Duration::from_millis(50);
        let (b, held) = read_body(body_of(&[b"abc", b"def"]), None, 8, &budget, wait)
            .await
            .unwrap();
        assert_eq!(&b[..], b"abcdef");
        assert_eq!(budget.available_permits(), 4, "6 bytes held");
        // While held, a body needing more than what is left waits, then gives up.
        let busy = read_body(body_of(&[b"12345"]), None, 8, &budget, wait).await;
        assert!(matches!(busy, Err(BodyError::Busy)), "{busy:?}");
        drop(held);
        assert_eq!(budget.available_permits(), 10);
        let big = read_body(body_of(&[b"12345", b"6789"]), None, 8, &budget, wait).await;
        assert!(matches!(big, Err(BodyError::TooLarge(8))));
        let declared = read_body(body_of(&[]), Some(9), 8, &budget, wait).await;
        assert!(matches!(declared, Err(BodyError::TooLarge(8))));
        assert_eq!(budget.available_permits(), 10, "nothing leaked");
        let (b, _h) = read_body(body_of(&[]), Some(0), 8, &budget, wait)
            .await
            .unwrap();
        assert!(b.is_empty());
    }
}
