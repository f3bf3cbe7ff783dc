//! Writing a request head with the sender's header-name case and interleaved order.
//!
//! hyper's client writes names lower-cased and repeats of a name together (`X-Multi`,
//! `X-Other`, `X-Multi` goes out as `x-multi`, `x-multi`, `x-other`); its case map is private
//! (hyperium/hyper#2695), so no request can ask it for another order. Instead, the forwarder
//! names the order it wants in one private header, [`ORDER_HEADER`], and the connection under
//! hyper (`ExactHead`) rewrites each head it writes: the same request line and the same header
//! lines, value bytes untouched, only renamed to the sender's case and reordered, with the
//! private header taken out. Headers hyper added (`host`, `content-length`) keep their place
//! around them. The request's body is passed through unread: its length is the head's
//! `content-length` (the forwarder's bodies always have one), so no body byte is ever taken
//! for a head. A head that does not parse, or uses another framing, makes the connection pass
//! everything through as hyper wrote it.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

use crate::delivery::Headers;

/// The private header that carries the wanted order of names, comma-separated (header names
/// are tokens and never contain a comma). It never leaves the process.
pub const ORDER_HEADER: &str = "x-hookrelay-header-order";

/// Heads longer than this are passed through as hyper wrote them.
const MAX_HEAD: usize = 256 * 1024;
/// Header lines parsed per head (the wire format's own bound).
const MAX_HEADERS: usize = crate::wire::MAX_HEADERS + 8;

/// The [`ORDER_HEADER`] value for `headers`, when hyper on its own would not send them exactly:
/// a name with an upper-case letter, or a name repeated after another one.
pub fn order_marker(headers: &Headers) -> Option<String> {
    let cased = headers
        .iter()
        .any(|(n, _)| n.bytes().any(|b| b.is_ascii_uppercase()));
    let interleaved = headers.iter().enumerate().any(|(i, (n, _))| {
        i > 1
            && !headers[i - 1].0.eq_ignore_ascii_case(n)
            && headers[..i - 1]
                .iter()
                .any(|(m, _)| m.eq_ignore_ascii_case(n))
    });
    (cased || interleaved).then(|| {
        headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// A connector whose connections write exact heads (see the module's text).
#[derive(Clone)]
pub(crate) struct ExactHeadConnector<C>(pub(crate) C);

impl<C> tower_service::Service<hyper::Uri> for ExactHeadConnector<C>
where
    C: tower_service::Service<hyper::Uri>,
    C::Future: Send + 'static,
{
    type Response = ExactHead<C::Response>;
    type Error = C::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<ExactHead<C::Response>, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(ExactHead::new) })
    }
}

enum State {
    /// Reading a head hyper writes, into `head`.
    Head,
    /// Passing this many body bytes through.
    Body(u64),
    /// Passing everything through (a head this does not understand was seen).
    Off,
}

/// A client connection that rewrites the heads hyper writes (see the module's text).
pub(crate) struct ExactHead<T> {
    inner: T,
    state: State,
    head: Vec<u8>,
    /// Bytes accepted from hyper and not yet written to `inner`.
    out: Vec<u8>,
    written: usize,
}

impl<T> ExactHead<T> {
    fn new(inner: T) -> Self {
        ExactHead {
            inner,
            state: State::Head,
            head: Vec::new(),
            out: Vec::new(),
            written: 0,
        }
    }

    /// Take head bytes from `bufs`; returns how many were taken.
    fn take_head(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut taken = 0;
        for buf in bufs {
            // copy only the head's bytes, never the body after it in the same buffer
            if let Some(end) = crate::headers::head_end(&self.head, buf) {
                self.head.extend_from_slice(&buf[..end]);
                taken += end;
                let head = std::mem::take(&mut self.head);
                let (bytes, next) = rewrite(&head);
                self.out.extend_from_slice(&bytes);
                self.state = next;
                return taken;
            }
            self.head.extend_from_slice(buf);
            taken += buf.len();
            if self.head.len() > MAX_HEAD {
                self.out.append(&mut self.head);
                self.state = State::Off;
                return taken;
            }
        }
        taken
    }
}

impl<T: Write + Unpin> ExactHead<T> {
    /// Write what was accepted and not yet written; ready once all of it is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    fn write(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if let State::Body(0) = self.state {
            self.state = State::Head;
        }
        match self.state {
            State::Off => Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            State::Body(left) => {
                let limited = limit(bufs, left);
                let r = Pin::new(&mut self.inner).poll_write_vectored(cx, &limited);
                if let Poll::Ready(Ok(n)) = r {
                    self.state = State::Body(left - n as u64);
                }
                r
            }
            State::Head => {
                let taken = self.take_head(bufs);
                // start writing what is ready; anything left goes out on the next call or flush
                if let Poll::Ready(Err(e)) = self.drain(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(taken))
            }
        }
    }
}

/// `bufs` cut to at most `left` bytes.
fn limit<'a>(bufs: &'a [IoSlice<'a>], left: u64) -> Vec<IoSlice<'a>> {
    let mut room = usize::try_from(left).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(bufs.len());
    for b in bufs {
        if room == 0 {
            break;
        }
        let n = b.len().min(room);
        out.push(IoSlice::new(&b[..n]));
        room -= n;
    }
    out
}

/// The head to write instead of `head`, and what follows it.
fn rewrite(head: &[u8]) -> (Vec<u8>, State) {
    let mut slots = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(n)) if n == head.len()) {
        return (head.to_vec(), State::Off);
    }
    let headers: &[httparse::Header<'_>] = req.headers;
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    };
    let next = if named("transfer-encoding").next().is_some() {
        State::Off
    } else {
        let lengths: Vec<&[u8]> = named("content-length").map(|h| h.value).collect();
        match lengths.as_slice() {
            [] => State::Body(0),
            [one] => match std::str::from_utf8(one).ok().and_then(|s| s.parse().ok()) {
                Some(n) => State::Body(n),
                None => State::Off,
            },
            _ => State::Off,
        }
    };
    let Some(order) = named(ORDER_HEADER).next().map(|h| h.value) else {
        return (head.to_vec(), next);
    };
    let order = String::from_utf8_lossy(order).into_owned();
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(0, |i| i + 2);
    let mut out = Vec::with_capacity(head.len());
    out.extend_from_slice(&head[..line_end]);
    let mut used: Vec<bool> = headers
        .iter()
        .map(|h| h.name.eq_ignore_ascii_case(ORDER_HEADER))
        .collect();
    let line = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    let wanted: Vec<&str> = order.split(',').filter(|n| !n.is_empty()).collect();
    // `host` first, as senders write it, when the order does not place it
    if !wanted.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        for (i, h) in headers.iter().enumerate() {
            if !used[i] && h.name.eq_ignore_ascii_case("host") {
                line(&mut out, h.name, h.value);
                used[i] = true;
            }
        }
    }
    for name in wanted {
        if let Some(i) =
            (0..headers.len()).find(|&i| !used[i] && headers[i].name.eq_ignore_ascii_case(name))
        {
            line(&mut out, name, headers[i].value);
            used[i] = true;
        }
    }
    for (i, h) in headers.iter().enumerate() {
        if !used[i] {
            line(&mut out, h.name, h.value);
        }
    }
    out.extend_from_slice(b"\r\n");
    (out, next)
}

impl<T: Write + Unpin> Write for ExactHead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

impl<T: Read + Unpin> Read for ExactHead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Connection> Connection for ExactHead<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests;
