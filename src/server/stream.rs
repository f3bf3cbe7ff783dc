//! The SSE response of one subscriber, in smee.io's format:
//! `event: ready` on connect, webhook events as unnamed messages (`id:` + one `data:` line),
//! `event: ping` keep-alives, and hookrelay's `event: gap` when events were lost.

use std::convert::Infallible;
use std::sync::{Arc, Weak};

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;

use super::AppState;
use super::backend::Cursor;
use super::frame::{Framed, Room, event_frame};
use super::hub::{Event, Gap};

pub(crate) const READY: &[u8] = b"event: ready\ndata: {}\n\n";
pub(crate) const PING: &[u8] = b"event: ping\ndata: {}\n\n";
/// Sent when the relay shuts down, just before the stream ends (clients reconnect with
/// `Last-Event-ID` to wherever the relay comes back).
pub(crate) const SHUTDOWN: &[u8] =
    b"event: shutdown\ndata: {\"reason\":\"relay_shutting_down\"}\n\n";

/// The SSE media type: UTF-8, said explicitly (clients that default to Latin-1 otherwise
/// mangle every non-ASCII payload).
pub(crate) const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// Build the streaming response for a registered subscription.
/// `replier`: a replying subscriber's `ready` frame (with its secret) and its registration,
/// held as long as the stream.
pub(crate) fn response(
    mut sub: Box<dyn Cursor>,
    extended: bool,
    replier: Option<(Bytes, Box<dyn Send + Sync>)>,
    st: Arc<AppState>,
) -> Response<Body> {
    let ping_interval = st.cfg.ping_interval;
    let mut shutdown = st.shutdown.clone();
    let body = async_stream::stream! {
        let (ready, _lease) = match replier {
            Some((frame, lease)) => (frame, Some(lease)),
            None => (Bytes::from_static(READY), None),
        };
        yield Ok::<Bytes, Infallible>(ready);
        if let Some(gap) = sub.restart_gap() {
            st.metrics.gap();
            yield Ok(gap_frame(&gap));
        }
        let start = tokio::time::Instant::now() + ping_interval;
        let mut ping = tokio::time::interval_at(start, ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'stream: loop {
            if *shutdown.borrow() {
                yield Ok(Bytes::from_static(SHUTDOWN));
                break;
            }
            let batch = sub.take().await;
            let busy = batch.gap.is_some() || !batch.events.is_empty();
            if let Some(gap) = batch.gap {
                st.metrics.gap();
                yield Ok(gap_frame(&gap));
            }
            // Hold the events only weakly while waiting for room for their frames: an event
            // the ring dropped meanwhile frees its memory, and is announced as a gap.
            let pending: Vec<(u64, Weak<Event>)> =
                batch.events.iter().map(|e| (e.seq, Arc::downgrade(e))).collect();
            drop(batch.events);
            for (seq, ev) in pending {
                match event_frame(&ev, extended, &st).await {
                    Framed::Frame(frame) => {
                        st.metrics.streamed();
                        yield Ok(frame);
                    }
                    Framed::Pieces(mut pieces) => {
                        // a large frame written as it is encoded, never held whole
                        while let Some(piece) = pieces.next(&Room::of(&st)).await {
                            match piece {
                                Ok(piece) => yield Ok(piece),
                                Err(_) => {
                                    // mid-line: nothing else can be sent; it resumes with
                                    // Last-Event-ID from the last whole event
                                    tracing::debug!("subscriber disconnected: no memory for its frames in time");
                                    break 'stream;
                                }
                            }
                        }
                        st.metrics.streamed();
                    }
                    Framed::Dropped => {
                        sub.rewind(seq);
                        break;
                    }
                    Framed::NoRoom => {
                        // No room for this subscriber's frames within the write timeout: it
                        // cannot keep up. It resumes with Last-Event-ID from what it received.
                        tracing::debug!("subscriber disconnected: no memory for its frames in time");
                        break 'stream;
                    }
                }
            }
            if busy {
                continue;
            }
            let woke = tokio::select! {
                _ = sub.wait() => Wake::Published,
                _ = ping.tick() => Wake::Ping,
                _ = super::listener::stopped(&mut shutdown) => Wake::Shutdown,
            };
            match woke {
                Wake::Published | Wake::Shutdown => {}
                Wake::Ping => yield Ok(Bytes::from_static(PING)),
            }
        }
    };
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
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
