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

pub mod exact_head;
pub mod filter;
pub mod headers;
pub mod options;
mod outgoing;
mod quick_ack;
pub mod routes;

pub use filter::EventFilter;
pub use headers::HeaderRules;
pub use options::TargetOptions;
pub use outgoing::Outgoing;
pub use routes::Routes;

use crate::delivery::{Attempt, AttemptOutcome, Headers, SentRequest, WebhookRequest, now_ms};
pub use crate::forward_error::ForwardError;
use crate::forward_error::describe_client_error;
use exact_head::{ExactHeadConnector, ORDER_HEADER, order_marker};
use quick_ack::QuickAckConnector;

/// The header that marks a replay for the target (ngrok's inspector does the same).
pub const REPLAY_HEADER: &str = "x-hookrelay-replay-of";

/// The one target the user configured. Requests only ever go here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` or `https://host:port` (no trailing slash).
    origin: String,
    /// The path prefix, without a trailing slash (`/api/slack`, or empty).
    path: String,
    /// The target's own query string, without `?`.
    query: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "target `{0}` is not an http:// or https:// URL; \
         expected e.g. http://localhost:3000/webhook or https://localhost:8443/webhook"
    )]
    Scheme(String),
    #[error(
        "target `{0}` is not a valid URL ({1}); expected HOST:PORT/PATH, \
         http://HOST:PORT/PATH or https://HOST:PORT/PATH, e.g. localhost:3000/webhook"
    )]
    Invalid(String, String),
}

impl Target {
    /// Parse the user's target: `http://` or `https://`. Without a scheme it means `http://`
    /// (`localhost:3000/api`, `127.0.0.1:8080`), and a bare port number means
    /// `http://127.0.0.1:PORT`.
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
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            _ => return Err(TargetError::Scheme(s.into())),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.host().is_empty() {
            return Err(invalid("no host"));
        }
        let after_host = &authority.as_str()[authority.as_str().rfind(']').unwrap_or(0)..];
        if after_host.contains(':') && authority.port_u16().is_none() {
            return Err(invalid("the port is not a number"));
        }
        Ok(Target {
            origin: format!("{scheme}://{authority}"),
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

pub use crate::headers::forwarded_headers;

/// The headers a request to `url` carries as sent: `host` (the target's, which the client sets
/// from the URL, unless `-H` set one), then `headers` in order.
pub fn sent_headers(url: &str, headers: &Headers) -> Headers {
    let mut h: Headers = Vec::with_capacity(headers.len() + 1);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"))
        && let Some(authority) = url
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.to_string()))
    {
        h.push(("host".into(), authority));
    }
    h.extend(headers.iter().cloned());
    h
}

/// Sends requests to the target.
#[derive(Clone)]
pub struct Forwarder {
    client:
        Client<ExactHeadConnector<hyper_rustls::HttpsConnector<QuickAckConnector>>, Full<Bytes>>,
    /// The whole exchange (connect, send, read the response) must finish within this.
    pub timeout: Duration,
    /// How much of a response body is kept (its full size is always noted).
    pub max_response_body: usize,
    /// Header rules (and the rest of the user's target options).
    options: TargetOptions,
}

impl Forwarder {
    /// A forwarder for `http://` and `https://` targets, trusting what `options` says.
    pub fn new(timeout: Duration, max_response_body: usize, options: &TargetOptions) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        // https:// is for the TLS layer above to take
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*options.tls()).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(QuickAckConnector(http));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(ExactHeadConnector(https));
        Forwarder {
            client,
            timeout,
            max_response_body,
            options: options.clone(),
        }
    }

    /// Send `req` to `target` (or the route its sub-path matches) once. `extra` headers (a
    /// replay marker) are appended.
    pub async fn send(
        &self,
        target: &Target,
        req: &WebhookRequest,
        extra: &[(String, String)],
        replay: bool,
    ) -> Attempt {
        let Outgoing { url, headers } = self.options.outgoing(target, req, extra);
        let started_at_ms = now_ms();
        let start = Instant::now();
        let outcome =
            match tokio::time::timeout(self.timeout, self.exchange(&url, req, &headers)).await {
                Ok(Ok((status, headers, body, body_size))) => AttemptOutcome::Response {
                    status,
                    headers,
                    body,
                    body_size,
                },
                Ok(Err(e)) => e.into(),
                Err(_) => ForwardError::Timeout(self.timeout).into(),
            };
        // what went out, when it is not the stored request (what the relay delivered): a
        // replay's marker and target host, or the headers `-H` / `--drop-header` changed
        let sent = (replay || !self.options.headers.is_empty()).then(|| {
            Box::new(SentRequest {
                headers: sent_headers(&url, &headers),
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
        headers: &Headers,
    ) -> Result<(u16, Headers, Bytes, u64), ForwardError> {
        let mut builder = Request::builder().method(req.method.as_str()).uri(url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(order) = order_marker(headers) {
            builder = builder.header(ORDER_HEADER, order);
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
        let headers = crate::headers::from_raw(
            resp.headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A POST with this sub-path and query, no headers or body (the routes' tests use it too).
    pub(crate) fn req(path: &str, query: &str) -> WebhookRequest {
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
        let t = Target::parse("https://localhost:8443/hook").unwrap();
        assert_eq!(
            t.url_for(&req("/a", "b=1")),
            "https://localhost:8443/hook/a?b=1"
        );
        assert!(matches!(
            Target::parse("ftp://x"),
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
        for bad in [
            "",
            "localhost:notaport",
            "http://",
            "https://",
            ":3000",
            "ftp://x/y",
            "a b",
        ] {
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
