//! Rebuilding a webhook request for the user's target and sending it.
//!
//! The request goes out as the sender made it: its method; the target's path plus the event's
//! sub-path; the target's query then the event's raw query; the sender's headers in order minus
//! hop-by-hop ones, `host` (set to the target's) and `content-length` (recomputed from the same
//! bytes); the body bytes unchanged. Nothing is added: hyper's client is used rather than
//! reqwest because reqwest inserts `accept: */*` into every request that lacks one.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::delivery::{Attempt, AttemptOutcome, Headers, SentRequest, WebhookRequest, now_ms};
pub use crate::forward_error::ForwardError;
use crate::forward_error::describe_client_error;

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus the ones the
/// client sets itself.
const NOT_FORWARDED: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The header that marks a replay for the target (ngrok's inspector does the same).
pub const REPLAY_HEADER: &str = "x-hookrelay-replay-of";

/// The one target the user configured. Requests only ever go here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` (no trailing slash).
    origin: String,
    /// The path prefix, without a trailing slash (`/api/slack`, or empty).
    path: String,
    /// The target's own query string, without `?`.
    query: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "target `{0}` is not an http:// URL (https targets are not supported yet); \
         expected e.g. http://localhost:3000/webhook"
    )]
    Scheme(String),
    #[error(
        "target `{0}` is not a valid URL ({1}); expected HOST:PORT/PATH or \
         http://HOST:PORT/PATH, e.g. localhost:3000/webhook"
    )]
    Invalid(String, String),
}

impl Target {
    /// Parse the user's target. Without a scheme it means `http://` (`localhost:3000/api`,
    /// `127.0.0.1:8080`), and a bare port number means `http://127.0.0.1:PORT`.
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        let invalid = |why: &str| TargetError::Invalid(s.into(), why.into());
        let t = s.trim();
        let full = if t.contains("://") {
            t.to_string()
        } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            format!("http://127.0.0.1:{t}")
        } else {
            format!("http://{t}")
        };
        let uri: hyper::Uri = full
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::Scheme(s.into()));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.host().is_empty() {
            return Err(invalid("no host"));
        }
        let after_host = &authority.as_str()[authority.as_str().rfind(']').unwrap_or(0)..];
        if after_host.contains(':') && authority.port_u16().is_none() {
            return Err(invalid("the port is not a number"));
        }
        Ok(Target {
            origin: format!("http://{authority}"),
            path: uri.path().trim_end_matches('/').to_string(),
            query: uri.query().unwrap_or("").to_string(),
        })
    }

    /// The URL a request is sent to: target path + sub-path, target query + raw query.
    ///
    /// ```
    /// use hookrelay::delivery::WebhookRequest;
    /// use hookrelay::forward::Target;
    ///
    /// let target = Target::parse("http://localhost:3000/api/slack?env=dev").unwrap();
    /// let req = WebhookRequest {
    ///     method: "POST".into(),
    ///     path: "/github".into(),
    ///     query: "a=1&a=2".into(),
    ///     headers: vec![],
    ///     body: Default::default(),
    /// };
    /// assert_eq!(target.url_for(&req), "http://localhost:3000/api/slack/github?env=dev&a=1&a=2");
    /// ```
    pub fn url_for(&self, req: &WebhookRequest) -> String {
        let mut url = self.origin.clone();
        url.push_str(&self.path);
        if req.path.is_empty() || req.path == "/" {
            if self.path.is_empty() || req.path == "/" {
                url.push('/');
            }
        } else if req.path.starts_with('/') {
            url.push_str(&req.path);
        } else {
            url.push('/');
            url.push_str(&req.path);
        }
        let q = match (self.query.is_empty(), req.query.is_empty()) {
            (true, true) => String::new(),
            (false, true) => self.query.clone(),
            (true, false) => req.query.clone(),
            (false, false) => format!("{}&{}", self.query, req.query),
        };
        if !q.is_empty() {
            url.push('?');
            url.push_str(&q);
        }
        url
    }

    pub fn as_str(&self) -> String {
        let mut s = format!("{}{}", self.origin, self.path);
        if s.ends_with("//") || self.path.is_empty() {
            s.push('/');
        }
        if !self.query.is_empty() {
            s.push('?');
            s.push_str(&self.query);
        }
        s
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The headers that go to the target, in order.
pub fn forwarded_headers(req: &WebhookRequest) -> Headers {
    // headers the Connection header names are connection-specific too
    let named: Vec<String> = req
        .header_all("connection")
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    req.headers
        .iter()
        .filter(|(n, _)| {
            let l = n.to_ascii_lowercase();
            !NOT_FORWARDED.contains(&l.as_str()) && !named.contains(&l)
        })
        .cloned()
        .collect()
}

/// The headers a request to `url` carries as sent: `host` (the target's, which the client sets
/// from the URL), then the forwarded ones and `extra`, in order.
pub fn sent_headers(url: &str, req: &WebhookRequest, extra: &[(String, String)]) -> Headers {
    let mut h: Headers = Vec::new();
    if let Some(authority) = url
        .parse::<hyper::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
    {
        h.push(("host".into(), authority));
    }
    h.extend(forwarded_headers(req));
    h.extend(extra.iter().cloned());
    h
}

/// Sends requests to the target.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<QuickAckConnector, Full<Bytes>>,
    /// The whole exchange (connect, send, read the response) must finish within this.
    pub timeout: Duration,
    /// How much of a response body is kept (its full size is always noted).
    pub max_response_body: usize,
}

impl Forwarder {
    pub fn new(timeout: Duration, max_response_body: usize) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(QuickAckConnector(http));
        Forwarder {
            client,
            timeout,
            max_response_body,
        }
    }

    /// Send `req` to `target` once. `extra` headers (a replay marker) are appended.
    pub async fn send(
        &self,
        target: &Target,
        req: &WebhookRequest,
        extra: &[(String, String)],
        replay: bool,
    ) -> Attempt {
        let url = target.url_for(req);
        let started_at_ms = now_ms();
        let start = Instant::now();
        let outcome =
            match tokio::time::timeout(self.timeout, self.exchange(&url, req, extra)).await {
                Ok(Ok((status, headers, body, body_size))) => AttemptOutcome::Response {
                    status,
                    headers,
                    body,
                    body_size,
                },
                Ok(Err(e)) => e.into(),
                Err(_) => ForwardError::Timeout(self.timeout).into(),
            };
        // a replay records what it sent (the stored request is what the relay delivered)
        let sent = replay.then(|| {
            Box::new(SentRequest {
                headers: sent_headers(&url, req, extra),
                body: None,
                resigned: false,
            })
        });
        Attempt {
            target: url,
            started_at_ms,
            replay,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            outcome,
            sent,
        }
    }

    async fn exchange(
        &self,
        url: &str,
        req: &WebhookRequest,
        extra: &[(String, String)],
    ) -> Result<(u16, Headers, Bytes, u64), ForwardError> {
        let mut builder = Request::builder().method(req.method.as_str()).uri(url);
        for (name, value) in forwarded_headers(req).iter().chain(extra) {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| ForwardError::InvalidRequest(e.to_string()))?;
        let resp = self
            .client
            .request(request)
            .await
            .map_err(|e| describe_client_error(&e))?;
        let status = resp.status().as_u16();
        let headers: Headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        let mut size: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ForwardError::BrokenResponse(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                size += data.len() as u64;
                let room = self.max_response_body.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok((status, headers, Bytes::from(kept), size))
    }
}

/// [`HttpConnector`] whose connections acknowledge received data at once (`TCP_QUICKACK` after
/// every read, on Linux).
///
/// Why: many dev servers (Python's `http.server`, Werkzeug/Flask) write a response's head and its
/// body in two sends with Nagle on. On a kept-alive connection Linux delays the client's ACK of
/// the head (up to 40 ms), and Nagle holds the body back until that ACK comes: every delivery
/// then takes 40 ms more. Acknowledging at once costs one `setsockopt` per read.
#[derive(Clone)]
struct QuickAckConnector(HttpConnector);

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
struct QuickAck(hyper_util::rt::TokioIo<tokio::net::TcpStream>);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, query: &str) -> WebhookRequest {
        WebhookRequest {
            method: "POST".into(),
            path: path.into(),
            query: query.into(),
            headers: vec![],
            body: Bytes::new(),
        }
    }

    #[test]
    fn urls_join_path_and_query() {
        let t = Target::parse("http://localhost:3000/api/slack").unwrap();
        assert_eq!(t.url_for(&req("", "")), "http://localhost:3000/api/slack");
        assert_eq!(
            t.url_for(&req("/a/b", "x=1&x=2")),
            "http://localhost:3000/api/slack/a/b?x=1&x=2"
        );
        let t = Target::parse("http://localhost:3000/?k=v").unwrap();
        assert_eq!(t.url_for(&req("", "")), "http://localhost:3000/?k=v");
        assert_eq!(
            t.url_for(&req("/h", "a=%20")),
            "http://localhost:3000/h?k=v&a=%20"
        );
        let t = Target::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(t.url_for(&req("", "")), "http://127.0.0.1:9/");
        assert_eq!(t.as_str(), "http://127.0.0.1:9/");
        assert!(matches!(
            Target::parse("https://x"),
            Err(TargetError::Scheme(_))
        ));
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn a_target_without_a_scheme_means_http() {
        let t = Target::parse("localhost:3000/api").unwrap();
        assert_eq!(t.as_str(), "http://localhost:3000/api");
        let t = Target::parse("127.0.0.1:8080").unwrap();
        assert_eq!(t.as_str(), "http://127.0.0.1:8080/");
        let t = Target::parse("127.0.0.1:8081/api/slack?x=1").unwrap();
        assert_eq!(
            t.url_for(&req("", "")),
            "http://127.0.0.1:8081/api/slack?x=1"
        );
        let t = Target::parse("8081").unwrap();
        assert_eq!(t.as_str(), "http://127.0.0.1:8081/");
        for bad in ["", "localhost:notaport", "http://", "ftp://x/y", "a b"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }

    #[test]
    fn hop_by_hop_host_and_length_are_not_forwarded() {
        let mut r = req("", "");
        r.headers = [
            ("Host", "relay"),
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "10"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let names: Vec<_> = forwarded_headers(&r)
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(
            names,
            [
                "Content-Type=application/json",
                "X-Multi=one",
                "x-multi=two"
            ]
        );
    }
}
