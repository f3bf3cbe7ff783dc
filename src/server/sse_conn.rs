//! A subscriber's connection, served without hyper: the first request of every connection is
//! read here, and a plain `GET /<channel>` asking for `text/event-stream` is answered by writing
//! the router's response straight to the socket (chunked); every other request goes on to hyper
//! with the bytes read so far put back in front of the stream ([`Rewind`]).
//!
//! Why not hyper for these: an idle subscriber is only a cursor into its channel's ring, but
//! hyper's HTTP/1 connection keeps an 8 KiB read buffer and an 8 KiB write buffer (allocated
//! at connection start; neither size can be configured below 8 KiB) plus its connection state
//! for the stream's whole life, in all about 16 KiB of RSS per subscriber, so 10,000 idle
//! subscribers took 188 MiB. Served here, a subscriber holds its socket, its response stream
//! and a small task (see docs/benchmarks.md, section 5).
//!
//! Only the plainest subscribe requests take this path (HTTP/1.1 GET, no body, head complete
//! within [`HEAD_MAX`] bytes, a channel path); anything else, and anything this code does not
//! parse, is hyper's, so hyper stays the one HTTP implementation for everything unusual.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, Version, header};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tower_service::Service;

use super::chunked::Chunks;

/// Longest request head read here; a longer one goes to hyper.
const HEAD_MAX: usize = 4096;
/// Most headers in a subscribe request read here; more go to hyper.
const MAX_HEADERS: usize = 48;
/// Most bytes of ready stream frames gathered into one write.
const WRITE_GATHER: usize = 64 * 1024;
/// Largest non-stream answer written here (refusals and other short texts).
const ANSWER_MAX: usize = 64 * 1024;

/// What the first request of a connection turned out to be.
pub(crate) enum First<I> {
    /// A plain subscribe request, to be served with [`serve_subscriber`].
    Subscribe(I, Box<Request<Body>>),
    /// The peer closed before sending a request head.
    Gone,
    /// Not a plain subscribe request: hyper's, with what was read put back.
    Hyper(Rewind<I>),
}

/// Read the connection's first request head (the caller bounds the time): a plain subscribe
/// request, or the connection for hyper.
pub(crate) async fn read_first<I>(mut io: I) -> First<I>
where
    I: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(HEAD_MAX);
    loop {
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return First::Gone,
            Ok(_) => {}
        }
        match parse(&buf) {
            Parsed::Partial if buf.len() < HEAD_MAX => continue,
            Parsed::Subscribe(req) => return First::Subscribe(io, req),
            Parsed::Partial | Parsed::Other => return First::Hyper(Rewind::new(buf.into(), io)),
        }
    }
}

/// Answer a subscribe request (its connection's details already in its extensions) through
/// the router and write its response; the connection closes after it (a stream ends only
/// when the subscriber or the relay goes).
pub(crate) async fn serve_subscriber<I>(
    mut io: I,
    req: Request<Body>,
    peer: SocketAddr,
    app: Router,
) where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut app = app;
    let Ok(resp) = app.call(req).await;
    if let Err(e) = respond(&mut io, resp).await {
        tracing::debug!(client = %peer, error = %e, "subscriber connection ended");
    }
    let _ = io.shutdown().await;
}

enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// A plain subscribe request, as the router takes it.
    Subscribe(Box<Request<Body>>),
    /// Anything else.
    Other,
}

/// Parse a request head; a subscribe request only if it is the plainest kind.
fn parse(buf: &[u8]) -> Parsed {
    // "GET " or a prefix of it, else not ours (most connections: senders' POSTs)
    let start = &buf[..buf.len().min(4)];
    if !b"GET ".starts_with(start) {
        return Parsed::Other;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    match head.parse(buf) {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(n)) if n == buf.len() => {
            subscribe_request(&head).map_or(Parsed::Other, |r| Parsed::Subscribe(Box::new(r)))
        }
        // pipelined bytes after the head, or a head httparse refuses: hyper's
        _ => Parsed::Other,
    }
}

fn subscribe_request(head: &httparse::Request<'_, '_>) -> Option<Request<Body>> {
    if head.method != Some("GET") || head.version != Some(1) {
        return None;
    }
    let path = head.path?;
    let chan = path.split('?').next()?.strip_prefix('/')?;
    if !super::valid_channel_name(chan.strip_suffix('/').unwrap_or(chan)) {
        return None;
    }
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11);
    let mut event_stream = false;
    for h in head.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        // a body, an upgrade or an expectation: hyper knows what to do
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::UPGRADE
            || name == header::EXPECT
        {
            return None;
        }
        if name == header::ACCEPT {
            event_stream |= h
                .value
                .to_ascii_lowercase()
                .windows(17)
                .any(|w| w == b"text/event-stream");
        }
        req = req.header(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    if !event_stream {
        return None;
    }
    req.body(Body::empty()).ok()
}

/// Write the router's answer: a stream chunked until it ends (or the peer goes), anything
/// else whole with `Connection: close`.
async fn respond<I>(io: &mut I, resp: Response<Body>) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let (parts, mut body) = resp.into_parts();
    let streaming = parts.status.is_success()
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let mut head = BytesMut::with_capacity(512);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.extend_from_slice(b" ");
    head.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        // the framing is this writer's to say
        let framing = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        if framing || (!streaming && name == header::CONNECTION) {
            continue;
        }
        push_header(&mut head, name.as_str(), value.as_bytes());
    }
    push_header(
        &mut head,
        "date",
        httpdate::fmt_http_date(SystemTime::now()).as_bytes(),
    );
    if !streaming {
        let bytes = http_body_util::Limited::new(body, ANSWER_MAX)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        push_header(
            &mut head,
            "content-length",
            bytes.len().to_string().as_bytes(),
        );
        push_header(&mut head, "connection", b"close");
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&bytes);
        return io.write_all(&head).await;
    }
    push_header(&mut head, "transfer-encoding", b"chunked");
    head.extend_from_slice(b"\r\n");
    io.write_all(&head).await?;
    drop(head);
    // A subscriber sends nothing after its request: any read that completes (data, the end
    // of its stream, an error) means it is gone or misbehaving, and the stream ends.
    let mut probe = [0u8; 16];
    loop {
        let first = tokio::select! {
            f = body.frame() => f,
            _ = io.read(&mut probe) => return Ok(()),
        };
        let mut out = Chunks::default();
        let mut ended = !out.add(first);
        // Gather the frames that are ready into one write, as hyper does. When none is ready
        // after the first, let the runtime run the other tasks that are ready once (the
        // senders whose requests have arrived): what they publish meanwhile goes out in the
        // same write. Under load that is several frames per write (and one wake-up of the
        // subscriber) instead of one each; when the relay is idle, nothing else is ready and
        // the write is not delayed.
        let mut yielded = false;
        while !ended && out.len() < WRITE_GATHER {
            match body.frame().now_or_never() {
                Some(f) => ended = !out.add(f),
                None if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                None => break,
            }
        }
        if ended {
            out.push_small(b"0\r\n\r\n");
        }
        out.seal();
        io.write_all_buf(&mut out).await?;
        io.flush().await?;
        if ended {
            return Ok(());
        }
    }
}

fn push_header(head: &mut BytesMut, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// A stream with bytes already read from it put back in front.
pub(crate) struct Rewind<I> {
    prefix: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    fn new(prefix: Bytes, inner: I) -> Self {
        Rewind { prefix, inner }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        if self.prefix.is_empty() {
            self.prefix = Bytes::new(); // free the head buffer
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(head: &[u8]) -> &'static str {
        match parse(head) {
            Parsed::Partial => "partial",
            Parsed::Subscribe(_) => "subscribe",
            Parsed::Other => "other",
        }
    }

    #[test]
    fn only_plain_subscribe_requests_are_taken() {
        let sub = b"GET /abc_-1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
        assert_eq!(kind(sub), "subscribe");
        assert_eq!(
            kind(b"GET /abc/?wire=hookrelay HTTP/1.1\r\nAccept: Text/Event-Stream\r\n\r\n"),
            "subscribe"
        );
        assert_eq!(kind(b"GE"), "partial");
        assert_eq!(kind(&sub[..30]), "partial");
        assert_eq!(kind(b"POST /abc HTTP/1.1\r\n"), "other");
        assert_eq!(
            kind(b"GET /abc HTTP/1.1\r\nAccept: text/html\r\n\r\n"),
            "other"
        );
        assert_eq!(
            kind(b"GET /abc HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n"),
            "other"
        );
        assert_eq!(
            kind(b"GET /abc/sub HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"),
            "other"
        );
        assert_eq!(
            kind(b"GET /a.b HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n"),
            "other"
        );
        assert_eq!(
            kind(b"GET /abc HTTP/1.1\r\nAccept: text/event-stream\r\nContent-Length: 1\r\n\r\nx"),
            "other"
        );
        // a second request already behind the first: hyper's (it serves both in order)
        let mut two = sub.to_vec();
        two.extend_from_slice(sub);
        assert_eq!(kind(&two), "other");
    }
}
