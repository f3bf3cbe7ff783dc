//! The reconnecting SSE subscription.
//!
//! It does not give up once it has been connected: a refused connection, a 503, a stream that
//! ends or a connection that goes silent (no bytes for two keep-alive intervals) all lead to a
//! retry with exponential backoff and jitter ([`backon`]), resuming with `Last-Event-ID`. A
//! relay's `retry:` is clamped to the backoff's range and never shortens a growing backoff.
//! On the first connection, a 404, 401 or 403 (or a redirect to another origin) means the URL
//! or its credentials are wrong: the subscription reports a [`Refusal`] and stops.
//!
//! A relay is not trusted: redirects are followed only within the channel's origin (or from
//! `http` to `https` on the same host), no `Referer` is sent, and the parser bounds event ids.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parser::{MAX_ID_BYTES, Parsed, Parser};
use crate::events::{ConnState, Refusal};

/// A connection that stayed up this long resets the backoff; one that ends sooner counts as
/// another failure, so a relay that accepts and closes at once is still backed off.
pub const STABLE_AFTER: Duration = Duration::from_secs(5);
/// Redirects followed within the channel's origin.
const MAX_REDIRECTS: usize = 5;

/// How to subscribe.
#[derive(Clone, Debug)]
pub struct SubscribeConfig {
    pub url: String,
    /// Ask a hookrelay server for the extended event (exact request).
    pub extended: bool,
    /// The server's keep-alive interval; no bytes for twice this means the connection is dead.
    pub keepalive: Duration,
    /// The reconnect backoff's range (the first delay and the cap). A server's `retry:` is
    /// clamped to it.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The largest event accepted (larger ones are skipped with a reason).
    pub max_event_bytes: usize,
    /// Resume after this event id on the first connection.
    pub last_event_id: Option<String>,
    /// Sent as `Authorization: Bearer <token>` (a relay run with `--subscriber-tokens`).
    pub token: Option<String>,
    /// Ask to answer the channel's senders (`forward --reply`, see [`crate::reply`]): each
    /// connection's `ready` is reported as [`SourceEvent::ReplyToken`].
    pub reply: bool,
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
            reply: false,
        }
    }

    /// The reconnect backoff: doubling from `backoff_initial`, with jitter, never giving up.
    /// backon's jitter adds up to the step again, so steps stop at half of `backoff_max`: every
    /// delay is in `[backoff_initial, backoff_max)`.
    pub fn backoff(&self) -> ExponentialBuilder {
        let max = self.backoff_max.max(self.backoff_initial);
        ExponentialBuilder::default()
            .with_min_delay(self.backoff_initial)
            .with_max_delay((max / 2).max(self.backoff_initial))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    /// The delay before the next connection: the backoff's next step, or the server's `retry:`
    /// (clamped to the backoff's range) when that is longer.
    fn next_delay(
        &self,
        backoff: &mut impl Iterator<Item = Duration>,
        server: Option<Duration>,
    ) -> Duration {
        let max = self.backoff_max.max(self.backoff_initial);
        let step = backoff.next().unwrap_or(max);
        match server {
            Some(s) => step.max(s.clamp(self.backoff_initial, max)),
            None => step,
        }
    }
}

/// What the subscription reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    Conn(ConnState),
    /// A webhook event: its SSE id and its `data`, with the `bodyB` decoded while it streamed
    /// in cut out of it (read both with [`crate::wire::decode_event_streamed`]).
    Webhook {
        id: Option<String>,
        data: String,
        body_b: Option<crate::wire::StreamedBody>,
    },
    /// The relay announced events it could not deliver (`event: gap`).
    Gap(String),
    /// Something was wrong with one event; the stream goes on.
    Problem(String),
    /// A connection's reply secret (with [`SubscribeConfig::reply`]; `None` when the relay
    /// announced none: it cannot hold senders).
    ReplyToken(Option<String>),
}

/// The HTTP client of a subscription: no redirect to another origin, no `Referer`.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    crate::tls::install_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .referer(false)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().cloned();
            match first {
                Some(first)
                    if attempt.previous().len() <= MAX_REDIRECTS
                        && same_origin_or_upgrade(&first, attempt.url()) =>
                {
                    attempt.follow()
                }
                // hand the 3xx back: the subscription reports where it pointed
                _ => attempt.stop(),
            }
        }))
        .build()
}

/// Whether a redirect from `from` to `to` stays with the same relay: the same origin, or the
/// same host and port moved from `http` to `https`.
fn same_origin_or_upgrade(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    if from.origin() == to.origin() {
        return true;
    }
    from.scheme() == "http"
        && to.scheme() == "https"
        && from.host_str() == to.host_str()
        && from.port().is_none()
        && to.port().is_none()
}

/// Subscribe until `cancel` fires (or the relay refuses the channel on the first connection).
/// Events go to `tx` in stream order.
pub async fn subscribe(
    cfg: SubscribeConfig,
    tx: mpsc::Sender<SourceEvent>,
    cancel: CancellationToken,
) {
    let client = match http_client() {
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
    // a large event's `bodyB` is decoded as it arrives, never held as base64 and bytes at once
    let mut parser = Parser::new(cfg.max_event_bytes).decode_body_b();
    parser.set_last_event_id(cfg.last_event_id.clone());
    let policy = cfg.backoff();
    let mut backoff = policy.build();
    let mut ever_connected = false;
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
            Connection::Refused(r) if !ever_connected => {
                tracing::error!("{r}");
                let _ = tx.send(SourceEvent::Conn(ConnState::Refused(r))).await;
                return;
            }
            Connection::Refused(r) => r.to_string(),
            Connection::Lost {
                reason,
                connected_for,
            } => {
                if let Some(up) = connected_for {
                    ever_connected = true;
                    if up >= STABLE_AFTER {
                        backoff = policy.build();
                    }
                }
                reason
            }
            Connection::ReceiverGone => return,
        };
        let delay = cfg.next_delay(&mut backoff, server_retry);
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

enum Connection {
    /// The relay answered, and what it said will not change by retrying (fatal only on the
    /// first connection).
    Refused(Refusal),
    /// The connection failed or ended. `connected_for` is how long the stream was open, when
    /// it was.
    Lost {
        reason: String,
        connected_for: Option<Duration>,
    },
    ReceiverGone,
}

/// The relay's non-success answer as a refusal (404, 401, 403, a redirect elsewhere), or as
/// a reason to retry.
fn classify(url: &str, resp: &reqwest::Response) -> Result<Refusal, String> {
    let status = resp.status();
    let url = url.to_string();
    match status.as_u16() {
        404 => Ok(Refusal::NoChannel { url }),
        401 | 403 => Ok(Refusal::Unauthorized {
            url,
            status: status.as_u16(),
        }),
        _ if status.is_redirection() => {
            let location = resp
                .headers()
                .get("location")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "no Location".into());
            Ok(Refusal::CrossOriginRedirect {
                url,
                location: crate::sanitize::display_safe_bounded(&location, 200).into_owned(),
            })
        }
        _ => Err(format!("the relay answered HTTP {status}")),
    }
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
    if cfg.reply {
        req = req.header(crate::reply::REPLY_HEADER, "1");
    }
    let failed = |reason: String| Connection::Lost {
        reason,
        connected_for: None,
    };
    let resp = match tokio::time::timeout(cfg.keepalive * 2, req.send()).await {
        Err(_) => return failed("no answer from the relay".into()),
        Ok(Err(e)) => return failed(describe_reqwest_error(&e)),
        Ok(Ok(r)) => r,
    };
    if !resp.status().is_success() {
        return match classify(&cfg.url, &resp) {
            Ok(refusal) => Connection::Refused(refusal),
            Err(reason) => failed(reason),
        };
    }
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ctype.starts_with("text/event-stream") {
        let ctype = crate::sanitize::display_safe_bounded(&ctype, 100);
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
    let opened = Instant::now();
    let lost = |reason: String| Connection::Lost {
        reason,
        connected_for: Some(opened.elapsed()),
    };
    let watchdog = cfg.keepalive * 2;
    let mut body = resp.bytes_stream();
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(watchdog, body.next()).await {
            Err(_) => {
                return lost(format!(
                    "no bytes for {} s (two keep-alive intervals): the connection is dead",
                    watchdog.as_secs()
                ));
            }
            Ok(None) => return lost("the relay closed the stream".into()),
            Ok(Some(Err(e))) => return lost(describe_reqwest_error(&e)),
            Ok(Some(Ok(c))) => c,
        };
        parser.feed(&chunk, &mut out);
        for p in out.drain(..) {
            let ev = match p {
                Parsed::Event(e) => match e.event.as_str() {
                    "message" => SourceEvent::Webhook {
                        id: e.id,
                        data: e.data,
                        body_b: e.body_b,
                    },
                    "gap" | "reset" => SourceEvent::Gap(e.whole_data()),
                    "ready" if cfg.reply => {
                        SourceEvent::ReplyToken(crate::reply::token_from_ready(&e.whole_data()))
                    }
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
                Parsed::IdTooLong { size } => SourceEvent::Problem(format!(
                    "ignored an event id of {size} bytes (over {MAX_ID_BYTES}): the previous id stays"
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

    fn cfg() -> SubscribeConfig {
        let mut c = SubscribeConfig::new("http://127.0.0.1:1/c");
        c.backoff_initial = Duration::from_millis(100);
        c.backoff_max = Duration::from_secs(5);
        c
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let c = cfg();
        let mut b = c.backoff().build();
        let delays: Vec<Duration> = (0..40).map(|_| c.next_delay(&mut b, None)).collect();
        for (n, d) in delays.iter().enumerate() {
            let floor = c
                .backoff_initial
                .saturating_mul(1 << n.min(16))
                .min(c.backoff_max / 2);
            assert!(*d >= floor, "{n}: {d:?} under {floor:?}");
            assert!(*d <= c.backoff_max, "{n}: {d:?} over the cap");
        }
        let samples: std::collections::HashSet<_> = (0..20)
            .map(|_| c.next_delay(&mut c.backoff().build(), None))
            .collect();
        assert!(samples.len() > 1, "no jitter");
    }

    #[test]
    fn server_retry_is_clamped_and_never_shortens_the_backoff() {
        let c = cfg();
        let mut b = c.backoff().build();
        let zero = Some(Duration::ZERO);
        let first = c.next_delay(&mut b, zero);
        assert!(first >= c.backoff_initial, "{first:?}");
        let later: Vec<Duration> = (0..5).map(|_| c.next_delay(&mut b, zero)).collect();
        assert!(later[4] >= Duration::from_millis(1600), "{later:?}");
        let huge = c.next_delay(&mut c.backoff().build(), Some(Duration::from_secs(3600)));
        assert_eq!(huge, c.backoff_max);
    }

    #[test]
    fn redirects_stay_with_the_relay() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(same_origin_or_upgrade(
            &u("http://a.test/x"),
            &u("http://a.test/y")
        ));
        assert!(same_origin_or_upgrade(
            &u("http://a.test/x"),
            &u("https://a.test/x")
        ));
        assert!(!same_origin_or_upgrade(
            &u("http://a.test/x"),
            &u("http://b.test/x")
        ));
        assert!(!same_origin_or_upgrade(
            &u("http://127.0.0.1:80/x"),
            &u("http://127.0.0.1:81/x")
        ));
        assert!(!same_origin_or_upgrade(
            &u("https://a.test/x"),
            &u("http://a.test/x")
        ));
    }
}
