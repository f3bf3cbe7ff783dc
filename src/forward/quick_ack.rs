//! The forwarder's connector: plain TCP connections that acknowledge what they read at once
//! (TLS for `https://` targets goes on top of it).

use hyper_util::client::legacy::connect::HttpConnector;

/// [`HttpConnector`] whose connections acknowledge received data at once (`TCP_QUICKACK` after
/// every read, on Linux).
///
/// Why: many dev servers (Python's `http.server`, Werkzeug/Flask) write a response's head and its
/// body in two sends with Nagle on. On a kept-alive connection Linux delays the client's ACK of
/// the head (up to 40 ms), and Nagle holds the body back until that ACK comes: every delivery
/// then takes 40 ms more. Acknowledging at once costs one `setsockopt` per read.
#[derive(Clone)]
pub(super) struct QuickAckConnector(pub(super) HttpConnector);

type ConnectFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<QuickAck, ConnectError>> + Send>>;
type ConnectError = <HttpConnector as tower_service::Service<hyper::Uri>>::Error;

impl tower_service::Service<hyper::Uri> for QuickAckConnector {
    type Response = QuickAck;
    type Error = ConnectError;
    type Future = ConnectFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(QuickAck) })
    }
}

/// A target connection that sends its ACKs without delay (see [`QuickAckConnector`]).
pub(super) struct QuickAck(hyper_util::rt::TokioIo<tokio::net::TcpStream>);

impl QuickAck {
    fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(self.0.inner()).set_tcp_quickack(true);
    }
}

impl hyper_util::client::legacy::connect::Connection for QuickAck {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.0.connected()
    }
}

impl hyper::rt::Read for QuickAck {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.0).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) {
            this.ack_now();
        }
        polled
    }
}

impl hyper::rt::Write for QuickAck {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
