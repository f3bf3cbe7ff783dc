//! The SSE response of one subscriber, in smee.io's format:
//! `event: ready` on connect, webhook events as unnamed messages (`id:` + one `data:` line),
//! `event: ping` keep-alives, and hookrelay's `event: gap` when events were lost.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use tokio::sync::{Semaphore, watch};

use super::hub::{Event, Gap, Subscription};
use crate::wire;

/// Bodies at least this large are encoded on a blocking thread (JSON parsing of big bodies
/// must not stall the async workers), at most [`LARGE_ENCODES`] at once per server.
const BLOCKING_ENCODE_BYTES: usize = 256 * 1024;
/// How many large events may be encoded at once (bounds the transient memory of encoding).
pub(crate) const LARGE_ENCODES: usize = 2;

pub(crate) const READY: &[u8] = b"event: ready\ndata: {}\n\n";
pub(crate) const PING: &[u8] = b"event: ping\ndata: {}\n\n";

/// Build the streaming response for a registered subscription.
pub(crate) fn response(
    mut sub: Subscription,
    extended: bool,
    ping_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    encode_slots: Arc<Semaphore>,
) -> Response<Body> {
    let body = async_stream::stream! {
        yield Ok::<Bytes, Infallible>(Bytes::from_static(READY));
        if let Some(gap) = sub.restart_gap.take() {
            yield Ok(gap_frame(&gap));
        }
        let start = tokio::time::Instant::now() + ping_interval;
        let mut ping = tokio::time::interval_at(start, ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let batch = sub.take();
            let busy = batch.gap.is_some() || !batch.events.is_empty();
            if let Some(gap) = batch.gap {
                yield Ok(gap_frame(&gap));
            }
            for ev in batch.events {
                yield Ok(event_frame(ev, extended, &encode_slots).await);
            }
            if busy {
                continue;
            }
            let woke = tokio::select! {
                _ = sub.wait() => Wake::Published,
                _ = ping.tick() => Wake::Ping,
                _ = shutdown.wait_for(|s| *s) => Wake::Shutdown,
            };
            match woke {
                Wake::Published => {}
                Wake::Ping => yield Ok(Bytes::from_static(PING)),
                Wake::Shutdown => break,
            }
        }
    };
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

enum Wake {
    Published,
    Ping,
    Shutdown,
}

fn gap_frame(gap: &Gap) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: gap\ndata: {}\n\n",
        gap.id, gap.data
    ))
}

async fn event_frame(ev: Arc<Event>, extended: bool, slots: &Arc<Semaphore>) -> Bytes {
    if let Some(frame) = cached(&ev, extended) {
        return frame;
    }
    let frame = if ev.request.body.len() < BLOCKING_ENCODE_BYTES {
        encode_frame(&ev, extended)
    } else {
        // Encoding a large JSON body takes several times its size in memory: few at once.
        let _slot = Arc::clone(slots).acquire_owned().await;
        // another subscriber may have encoded it while this one waited for a slot
        if let Some(frame) = cached(&ev, extended) {
            return frame;
        }
        let ev2 = Arc::clone(&ev);
        match tokio::task::spawn_blocking(move || encode_frame(&ev2, extended)).await {
            Ok(b) => b,
            Err(_) => encode_frame(&ev, extended),
        }
    };
    if let Ok(mut frames) = ev.frames.lock() {
        frames[usize::from(extended)] = Some(frame.clone());
    }
    frame
}

/// The frame another subscriber already encoded for this event and shape.
fn cached(ev: &Event, extended: bool) -> Option<Bytes> {
    ev.frames.lock().ok()?[usize::from(extended)].clone()
}

/// Encode one event as an SSE frame (`id:` + one `data:` line), in one allocation.
fn encode_frame(ev: &Event, extended: bool) -> Bytes {
    let mut out =
        String::with_capacity(wire::encoded_len_hint(&ev.request, extended) + ev.id.len() + 16);
    out.push_str("id: ");
    out.push_str(&ev.id);
    out.push_str("\ndata: ");
    let start = out.len();
    wire::encode_event_into(&mut out, &ev.request, ev.received_at_ms, extended);
    debug_assert!(!out[start..].contains('\n') && !out[start..].contains('\r'));
    out.push_str("\n\n");
    Bytes::from(out)
}
