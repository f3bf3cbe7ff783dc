//! Shared helpers of the relay server tests: start a server on 127.0.0.1:0, a reqwest client,
//! and a streaming SSE reader with timeouts.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::StreamExt;
use hookrelay::server::{RelayServer, ServerConfig};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> RelayServer {
    let mut cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    tweak(&mut cfg);
    RelayServer::start(cfg).await.expect("server starts")
}

/// A server on `port`'s socket (the test holds it, so a server started on it after another
/// was shut down comes back on the same port, which nobody else could take meanwhile).
pub async fn start_on(
    port: &crate::cli_support::HeldPort,
    tweak: impl FnOnce(&mut ServerConfig),
) -> RelayServer {
    let mut cfg = ServerConfig::default();
    tweak(&mut cfg);
    RelayServer::start_on(cfg, port.listen())
        .await
        .expect("server starts")
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// One parsed SSE event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// `None` for the default (`message`) type.
    pub event: Option<String>,
    pub data: String,
}

/// A streaming SSE reader over a real HTTP response.
pub struct Sse {
    pub response_headers: reqwest::header::HeaderMap,
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: Vec<u8>,
    /// How far `buf` was already searched for the end of an event.
    scanned: usize,
}

impl Sse {
    /// Subscribe with `Accept: text/event-stream` plus extra headers.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Sse {
        Self::connect_accept(url, "text/event-stream", headers).await
    }

    pub async fn connect_accept(url: &str, accept: &str, headers: &[(&str, &str)]) -> Sse {
        // No overall timeout: streams live long; every read below is bounded instead.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = reqwest::Client::builder().build().unwrap();
        let mut rb = c.get(url).header("accept", accept);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = tokio::time::timeout(WAIT, rb.send())
            .await
            .expect("subscribe timed out")
            .expect("subscribe request");
        assert_eq!(resp.status(), 200, "subscribe status");
        Sse {
            response_headers: resp.headers().clone(),
            stream: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
            scanned: 0,
        }
    }

    /// The next event, or `None` when the stream ended or nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(ev) = self.parse_one() {
                return Some(ev);
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => panic!("stream error: {e}"),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event; panics when none comes within [`WAIT`].
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(WAIT)
            .await
            .expect("an SSE event within the timeout")
    }

    /// The next event that is not a ping.
    pub async fn next_non_ping(&mut self) -> SseEvent {
        loop {
            let ev = self.next().await;
            if ev.event.as_deref() != Some("ping") {
                return ev;
            }
        }
    }

    /// Whether the stream ends (EOF) within `wait`, skipping events.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    fn parse_one(&mut self) -> Option<SseEvent> {
        let from = self.scanned.saturating_sub(1);
        let Some(end) = self.buf[from..].windows(2).position(|w| w == b"\n\n") else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = from + end;
        let block: Vec<u8> = self.buf.drain(..end + 2).collect();
        self.scanned = 0;
        let text = String::from_utf8(block).expect("SSE is UTF-8");
        let mut ev = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            match field {
                "id" => ev.id = Some(value.to_string()),
                "event" => ev.event = Some(value.to_string()),
                "data" => data.push(value),
                other => panic!("unexpected SSE field {other:?}"),
            }
        }
        ev.data = data.join("\n");
        Some(ev)
    }
}

/// Subscribe and consume the `ready` event.
pub async fn subscribe_ready(url: &str, headers: &[(&str, &str)]) -> Sse {
    let mut s = Sse::connect(url, headers).await;
    let ready = s.next().await;
    assert_eq!(ready.event.as_deref(), Some("ready"), "{ready:?}");
    assert_eq!(ready.data, "{}");
    assert_eq!(ready.id, None);
    s
}

/// POST a small JSON webhook and return the event id from the relay's answer.
pub async fn post_json(c: &reqwest::Client, url: &str, body: &str) -> String {
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["ok"], true);
    v["id"].as_str().expect("id").to_string()
}
