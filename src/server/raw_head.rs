//! The sender's request head as it came over the wire, so a webhook's headers keep the names'
//! case and the interleaved order of repeats (`X-Multi`, `X-Other`, `X-Multi`).
//!
//! hyper parses heads into a `HeaderMap`, which lower-cases names and groups repeats, and keeps
//! its case map private (hyperium/hyper#2695). So the connection is wrapped in a [`Recorder`]
//! that copies each request head's bytes as hyper reads them (a head ends at the first blank
//! line after a response was written, or at the connection's start), and the service takes the
//! copy when hyper hands it the request. [`exact_headers`] parses it with httparse (hyper's own
//! parser) and uses it only when it says exactly what hyper parsed (method, target, and every
//! header name and value), so a pipelined or otherwise surprising head falls back to hyper's
//! map rather than to a wrong one.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::http::request::Parts;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::delivery::Headers;

/// Heads longer than this are not recorded (hyper refuses far shorter ones by default).
const MAX_HEAD: usize = 64 * 1024;
/// As many headers as a recorded head is parsed for (hyper's own default limit).
const MAX_HEADERS: usize = 100;

/// The last complete head read on a connection, waiting for its request's service call.
#[derive(Clone, Default)]
pub(crate) struct HeadSlot(Arc<Mutex<Option<Vec<u8>>>>);

impl HeadSlot {
    /// Take the recorded head (the service does, once per request).
    pub(crate) fn take(&self) -> Option<RawHead> {
        self.0.lock().ok()?.take().map(RawHead)
    }

    fn put(&self, head: Option<Vec<u8>>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = head;
        }
    }
}

/// One request head's bytes, in the request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct RawHead(Vec<u8>);

/// A connection that records request heads into a [`HeadSlot`] as they are read.
pub(crate) struct Recorder<I> {
    inner: I,
    slot: HeadSlot,
    /// Bytes of the head being read; `None` between a head's end and the next response.
    head: Option<Vec<u8>>,
}

impl<I> Recorder<I> {
    pub(crate) fn new(inner: I, slot: HeadSlot) -> Self {
        Recorder {
            inner,
            slot,
            head: Some(Vec::new()),
        }
    }

    fn record(&mut self, read: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            return;
        };
        let end = crate::headers::head_end(head, read);
        // copy only the head's bytes, never the body that follows it in the same read
        let room = (MAX_HEAD + 4).saturating_sub(head.len());
        let take = end.unwrap_or(read.len()).min(room);
        head.extend_from_slice(&read[..take]);
        if end.is_some_and(|e| e <= take) {
            let done = self.head.take().expect("recording");
            self.slot.put(Some(done));
        } else if head.len() > MAX_HEAD {
            self.head = None; // too long to keep; hyper's map it is
        }
    }

    /// A response is being written: whatever is read next is the next request's head.
    fn wrote(&mut self) {
        if self.head.as_ref().is_none_or(|h| !h.is_empty()) {
            self.head = Some(Vec::new());
            self.slot.put(None);
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Recorder<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) {
            this.record(&buf.filled()[before..]);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Recorder<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request's headers in the sender's case and order, when `raw` is the head hyper parsed
/// into `parts`; otherwise hyper's (lower-cased names, repeats grouped).
pub(crate) fn exact_headers(parts: &Parts, raw: Option<&RawHead>) -> Headers {
    raw.and_then(|raw| matching(parts, &raw.0))
        .unwrap_or_else(|| {
            crate::headers::from_raw(
                parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_bytes())),
            )
        })
}

fn matching(parts: &Parts, raw: &[u8]) -> Option<Headers> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    if !req.parse(raw).ok()?.is_complete() {
        return None;
    }
    let target = parts.uri.path_and_query().map(|p| p.as_str());
    if req.method != Some(parts.method.as_str()) || req.path != target {
        return None;
    }
    if req.headers.len() != parts.headers.len() {
        return None;
    }
    // Every recorded header is the same-numbered value of its name in hyper's map (which keeps
    // a name's values in order): with the counts equal, that is the same headers. Compared in
    // place, without allocating (this runs for every webhook).
    let all = &req.headers[..];
    for (i, h) in all.iter().enumerate() {
        let nth = all[..i]
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(h.name))
            .count();
        let theirs = parts.headers.get_all(h.name).iter().nth(nth)?;
        if theirs.as_bytes() != h.value {
            return None;
        }
    }
    Some(crate::headers::from_raw(
        req.headers.iter().map(|h| (h.name, h.value)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(head: &str) -> Parts {
        // hyper's view of the same head: lower-cased names, repeats grouped
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut slots);
        req.parse(head.as_bytes()).unwrap();
        let mut b = axum::http::Request::builder()
            .method(req.method.unwrap())
            .uri(req.path.unwrap());
        for h in req.headers.iter() {
            b = b.header(h.name, h.value);
        }
        b.body(()).unwrap().into_parts().0
    }

    const HEAD: &str = "POST /chan/x?a=1 HTTP/1.1\r\nHost: relay\r\nX-Multi: one\r\n\
                        X-GitHub-Event: push\r\nX-Multi: two\r\nContent-Length: 2\r\n\r\n";

    #[test]
    fn the_recorded_head_gives_case_and_interleaved_order() {
        let p = parts(HEAD);
        let h = exact_headers(&p, Some(&RawHead(HEAD.as_bytes().to_vec())));
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Host",
                "X-Multi",
                "X-GitHub-Event",
                "X-Multi",
                "Content-Length"
            ]
        );
        assert_eq!(h[3].1, "two");
        // without the recording: hyper's map
        let grouped = exact_headers(&p, None);
        assert_eq!(grouped[1], ("x-multi".to_string(), "one".to_string()));
        assert_eq!(grouped[2], ("x-multi".to_string(), "two".to_string()));
    }

    #[test]
    fn a_head_that_is_not_the_parsed_request_is_not_used() {
        let p = parts(HEAD);
        let other = HEAD.replace("push", "pull");
        let h = exact_headers(&p, Some(&RawHead(other.into_bytes())));
        assert_eq!(h[0].0, "host", "fell back to hyper's map");
        let other_path = HEAD.replace("/chan/x?a=1", "/chan/y");
        let h = exact_headers(&p, Some(&RawHead(other_path.into_bytes())));
        assert_eq!(h[0].0, "host");
    }

    #[tokio::test]
    async fn the_recorder_takes_each_head_after_a_response() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(1024);
        let slot = HeadSlot::default();
        let mut rec = Recorder::new(server, slot.clone());
        let mut buf = [0u8; 256];
        // a head split over two reads, then its body
        client
            .write_all(b"POST /a HTTP/1.1\r\nX-A: 1\r")
            .await
            .unwrap();
        let n = rec.read(&mut buf).await.unwrap();
        assert!(n > 0 && slot.take().is_none());
        client.write_all(b"\n\r\nhi\r\n\r\n").await.unwrap();
        let _ = rec.read(&mut buf).await.unwrap();
        let head = slot.take().expect("recorded");
        assert_eq!(head.0, b"POST /a HTTP/1.1\r\nX-A: 1\r\n\r\n");
        assert!(slot.take().is_none(), "taken once; the body is not a head");
        // the response, then the next request
        rec.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        client.write_all(b"GET /b HTTP/1.1\r\n\r\n").await.unwrap();
        let _ = rec.read(&mut buf).await.unwrap();
        assert_eq!(slot.take().unwrap().0, b"GET /b HTTP/1.1\r\n\r\n");
    }
}
