//! Accepting and serving connections: at most `max_connections` open (more wait in the
//! kernel's accept backlog) and a per-address limit (over it, a connection is closed at once);
//! optional TLS; hyper's HTTP/1 with a request-head timeout that also bounds idle keep-alive
//! connections; a write timeout (a peer that takes nothing for that long is disconnected); and
//! graceful shutdown (in-flight requests get their answer, then connections close).
//!
//! Hand-written on hyper's connection builder rather than `axum::serve` because that exposes
//! neither the head timeout nor the peer address before the request nor TLS.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;
use tower_service::Service;

use super::client::Clients;
use super::raw_head::{HeadSlot, Recorder};
use super::sse_conn::{First, read_first, serve_subscriber};

/// The peer of a connection, put in every request's extensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub SocketAddr);

/// How connections are served.
pub(crate) struct ConnPolicy {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub clients: Arc<Clients>,
}

/// Accept and serve until `stop` flips; then stop accepting, let every connection finish its
/// request (streams end on the same signal) and wait for them, at most `grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    policy: ConnPolicy,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let policy = Arc::new(policy);
    let slots = Arc::new(Semaphore::new(policy.max_connections));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.expect("never closed"),
            _ = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let Some(slot) = policy.clients.connect(peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "connection refused: too many from this address");
            continue; // dropping the stream closes it
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let policy = Arc::clone(&policy);
        let stop = stop.clone();
        tokio::spawn(async move {
            let io = Guarded::new(stream, policy.write_timeout);
            match policy.tls.clone() {
                None => serve_conn(io, peer, app, &policy, stop).await,
                // boxed: a plain connection's task need not have room for a TLS session
                Some(acceptor) => {
                    Box::pin(async {
                        match tokio::time::timeout(policy.header_timeout, acceptor.accept(io)).await
                        {
                            Ok(Ok(tls)) => serve_conn(tls, peer, app, &policy, stop).await,
                            Ok(Err(e)) => {
                                tracing::debug!(client = %peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
                        }
                    })
                    .await
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("relay stopped accepting connections");
    let all = u32::try_from(policy.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("relay connections did not close within {grace:?}; closing them");
    }
}

/// Serve a connection: its first request here if it is a subscriber's (see `sse_conn.rs`),
/// else everything with hyper.
async fn serve_conn<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    policy: &ConnPolicy,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = tokio::select! {
        f = tokio::time::timeout(policy.header_timeout, read_first(io)) => f,
        _ = stopped(&mut stop) => return,
    };
    match first {
        Ok(First::Subscribe(io, req)) => {
            let mut req = *req;
            req.extensions_mut().insert(Peer(peer));
            serve_subscriber(io, req, peer, app).await
        }
        Ok(First::Hyper(io)) => Box::pin(serve_hyper(io, peer, app, policy, stop)).await,
        Ok(First::Gone) => {}
        Err(_) => tracing::debug!(client = %peer, "request head timed out"),
    }
}

/// Serve a connection with hyper (boxed by the caller: a subscriber's task, served without
/// hyper, need not have room for hyper's connection state).
async fn serve_hyper<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    policy: &ConnPolicy,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let heads = HeadSlot::default();
    let io = Recorder::new(io, heads.clone());
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(Peer(peer));
        if let Some(head) = heads.take() {
            req.extensions_mut().insert(head);
        }
        let mut app = app.clone();
        app.call(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(policy.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let done = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = stopped(&mut stop) => None,
    };
    let result = match done {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %peer, error = %e, "connection ended");
    }
}

/// A TCP stream whose writes fail once the peer has taken nothing for the write timeout.
struct Guarded {
    stream: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        Guarded {
            stream,
            timeout,
            stalled: None,
        }
    }

    /// Track a write's progress: `Pending` arms the timer; the timer firing is an error.
    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer took nothing within the write timeout",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Resolves once the stop signal is set.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
