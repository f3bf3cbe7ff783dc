//! The reconnecting SSE subscription.
//!
//! It never gives up: a refused connection, a 503, a stream that ends or a connection that goes
//! silent (no bytes for two keep-alive intervals) all lead to a retry with exponential backoff
//! and jitter, resuming with `Last-Event-ID`. Every change of state is reported.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parser::{Parsed, Parser};
use crate::events::ConnState;

/// How to subscribe.
#[derive(Clone, Debug)]
pub struct SubscribeConfig {
    pub url: String,
    /// Ask a hookrelay server for the extended event (exact request).
    pub extended: bool,
    /// The server's keep-alive interval; no bytes for twice this means the connection is dead.
    pub keepalive: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The largest event accepted (larger ones are skipped with a reason).
    pub max_event_bytes: usize,
    /// Resume after this event id on the first connection.
    pub last_event_id: Option<String>,
    /// Sent as `Authorization: Bearer <token>` (a relay run with `--subscriber-tokens`).
    pub token: Option<String>,
}

impl SubscribeConfig {
    pub fn new(url: impl Into<String>) -> Self {
        SubscribeConfig {
            url: url.into(),
            extended: true,
            keepalive: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(3),
            max_event_bytes: 64 << 20,
            last_event_id: None,
            token: None,
        }
    }
}

/// What the subscription reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    Conn(ConnState),
    /// A webhook event: its SSE id and its `data`.
    Webhook {
        id: Option<String>,
        data: String,
    },
    /// The relay announced events it could not deliver (`event: gap`).
    Gap(String),
    /// Something was wrong with one event; the stream goes on.
    Problem(String),
}

/// Subscribe until `cancel` fires. Events go to `tx` in stream order.
pub async fn subscribe(
    cfg: SubscribeConfig,
    tx: mpsc::Sender<SourceEvent>,
    cancel: CancellationToken,
) {
    crate::tls::install_provider();
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = tx
                .send(SourceEvent::Problem(format!(
                    "cannot build HTTP client: {e}"
                )))
                .await;
            return;
        }
    };
    let mut parser = Parser::new(cfg.max_event_bytes);
    parser.set_last_event_id(cfg.last_event_id.clone());
    let mut failures: u32 = 0;
    let mut server_retry: Option<Duration> = None;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let _ = tx.send(SourceEvent::Conn(ConnState::Connecting)).await;
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            r = run_connection(&client, &cfg, &mut parser, &tx, &mut server_retry) => r,
        };
        let reason = match outcome {
            Connection::Closed { received_any } => {
                if received_any {
                    failures = 0;
                }
                "the relay closed the stream".to_string()
            }
            Connection::Failed {
                reason,
                received_any,
            } => {
                if received_any {
                    failures = 0;
                }
                reason
            }
            Connection::ReceiverGone => return,
        };
        let delay = server_retry
            .unwrap_or_else(|| backoff(cfg.backoff_initial, cfg.backoff_max, failures))
            .min(cfg.backoff_max.max(cfg.backoff_initial));
        failures = failures.saturating_add(1);
        tracing::warn!(
            "connection to the relay lost: {reason}; retrying in {} ms",
            delay.as_millis()
        );
        let _ = tx
            .send(SourceEvent::Conn(ConnState::Reconnecting {
                retry_in_ms: delay.as_millis() as u64,
                reason,
            }))
            .await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Exponential backoff with jitter: initial·2ⁿ capped at max, then scaled by a random 50–100 %.
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << failures.min(16)).min(max);
    let jitter: f64 = 0.5 + rand::random::<f64>() * 0.5;
    exp.mul_f64(jitter)
}

enum Connection {
    Closed { received_any: bool },
    Failed { reason: String, received_any: bool },
    ReceiverGone,
}

async fn run_connection(
    client: &reqwest::Client,
    cfg: &SubscribeConfig,
    parser: &mut Parser,
    tx: &mpsc::Sender<SourceEvent>,
    server_retry: &mut Option<Duration>,
) -> Connection {
    let mut req = client
        .get(&cfg.url)
        .header("accept", "text/event-stream")
        .header("cache-control", "no-cache");
    if cfg.extended {
        req = req.header(crate::wire::WIRE_HEADER, "1");
    }
    if let Some(id) = parser.last_event_id() {
        req = req.header("last-event-id", id);
    }
    if let Some(token) = &cfg.token {
        req = req.bearer_auth(token);
    }
    let failed = |reason: String| Connection::Failed {
        reason,
        received_any: false,
    };
    let resp = match tokio::time::timeout(cfg.keepalive * 2, req.send()).await {
        Err(_) => return failed("no answer from the relay".into()),
        Ok(Err(e)) => return failed(describe_reqwest_error(&e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if !status.is_success() {
        return failed(format!("the relay answered HTTP {status}"));
    }
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ctype.starts_with("text/event-stream") {
        return failed(format!(
            "the relay answered `{ctype}`, not an event stream (is this a channel URL?)"
        ));
    }
    parser.reset_stream();
    tracing::info!("connected to {}", cfg.url);
    if tx
        .send(SourceEvent::Conn(ConnState::Connected))
        .await
        .is_err()
    {
        return Connection::ReceiverGone;
    }
    let watchdog = cfg.keepalive * 2;
    let mut body = resp.bytes_stream();
    let mut received_any = false;
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(watchdog, body.next()).await {
            Err(_) => {
                return Connection::Failed {
                    reason: format!(
                        "no bytes for {} s (two keep-alive intervals): the connection is dead",
                        watchdog.as_secs()
                    ),
                    received_any,
                };
            }
            Ok(None) => return Connection::Closed { received_any },
            Ok(Some(Err(e))) => {
                return Connection::Failed {
                    reason: describe_reqwest_error(&e),
                    received_any,
                };
            }
            Ok(Some(Ok(c))) => c,
        };
        received_any = true;
        parser.feed(&chunk, &mut out);
        for p in out.drain(..) {
            let ev = match p {
                Parsed::Event(e) => match e.event.as_str() {
                    "message" => SourceEvent::Webhook {
                        id: e.id,
                        data: e.data,
                    },
                    "gap" | "reset" => SourceEvent::Gap(e.data),
                    _ => continue, // ready, ping and unknown event types
                },
                Parsed::Retry(ms) => {
                    *server_retry = Some(Duration::from_millis(ms));
                    continue;
                }
                Parsed::TooLarge { size, limit } => SourceEvent::Problem(format!(
                    "skipped an event of {size}+ bytes: over the {limit}-byte limit"
                )),
                Parsed::BadUtf8 { id } => SourceEvent::Problem(format!(
                    "skipped event {}: its data is not UTF-8",
                    id.as_deref().unwrap_or("(no id)")
                )),
            };
            if tx.send(ev).await.is_err() {
                return Connection::ReceiverGone;
            }
        }
    }
}

fn describe_reqwest_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_connect() {
        "cannot connect to the relay".to_string()
    } else if e.is_timeout() {
        "the relay timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "the stream broke".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(5);
        for n in 0..40 {
            let d = backoff(i, m, n);
            let cap = i.saturating_mul(1 << n.min(16)).min(m);
            assert!(d <= cap && d >= cap / 2, "{n}: {d:?} vs {cap:?}");
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(i, m, 3)).collect();
        assert!(samples.len() > 1, "no jitter");
    }
}
