//! The Smee-compatible relay server (`hookrelay serve`, and the embedded default).
//!
//! Speaks smee.io's protocol so smee-client and pysmee work unchanged, and goes further:
//! - any method, any sub-path, any content type and body is a webhook, carried byte-exact to
//!   subscribers that ask for the extended event (`X-Hookrelay-Wire: 1` or `?wire=hookrelay`,
//!   see [`crate::wire`]);
//! - event ids (`<epoch>-<seq>`) survive reconnects: a client sending `Last-Event-ID` gets
//!   exactly what it missed from the channel's ring, or an `event: gap` saying what is gone;
//! - every size and queue is bounded (see [`ServerConfig`]).
//!
//! Files: `hub.rs` (channels, rings, cursors, ids), `routes.rs` (request routing),
//! `ingest.rs` (publishing webhooks), `body.rs` (reading bodies within the budgets), `stream.rs` (the SSE response), `frame.rs` (an event's SSE frame: whole and shared, or written in pieces), `page.rs`
//! (the help pages), `listener.rs` (connections: limits, timeouts, TLS, graceful shutdown),
//! `reply.rs` (the round trip: held senders and replies), `client.rs` (per-address limits), `memory.rs` (the memory budget), `metrics.rs`
//! (`/metrics`), `auth.rs` (optional subscriber tokens).
//! `backend/` keeps accepted webhooks: this process's rings (`hub.rs`), or Redis streams
//! shared by several instances (`--redis`).
//!
//! Header names reach subscribers lower-cased and grouped by name in first-arrival order
//! (what `http::HeaderMap` keeps); values, repeats, the body, sub-path and query are exact.

mod auth;
mod backend;
mod body;
mod chunked;
mod client;
mod frame;
mod hub;
mod ingest;
mod listener;
mod memory;
mod metrics;
mod page;
mod raw_head;
mod reply;
mod response;
mod routes;
mod sse_conn;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::SubscriberTokens;
use backend::Backend;
pub use backend::redis::RedisConfig;
pub use client::ClientLimits;
pub use hub::HubError;
use hub::{Hub, HubLimits};
pub use ipnet::IpNet;
pub use reply::HoldLimits;

/// Configuration of a relay server. Every limit bounds memory whatever senders and
/// subscribers do; [`Default`] gives values fit for a developer machine.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to bind (port 0 picks a free port). Default `127.0.0.1:3300`.
    pub listen: SocketAddr,
    /// Largest webhook body accepted; larger ones get `413`. Default 25 MiB.
    pub max_body_bytes: usize,
    /// Most channels alive at once; a new channel beyond it gets `503` (channels idle longer
    /// than [`channel_idle_ttl`](Self::channel_idle_ttl) with no subscribers are evicted
    /// first). Default 1000.
    pub max_channels: usize,
    /// Most concurrent subscribers (SSE streams) on one channel; more get `503`. Default 64.
    pub max_subscribers_per_channel: usize,
    /// Most recent events each channel keeps for resuming subscribers. Default 1000.
    pub ring_len: usize,
    /// Most bytes of events (bodies + headers) each channel keeps. The newest event is always
    /// kept, so a ring may exceed this by one event of at most `max_body_bytes`. Default 64 MiB.
    pub ring_bytes: usize,
    /// Most events handed to one subscriber's connection at a time before the ring is read
    /// again; a subscriber further behind is served from the ring in later batches (or told
    /// of a gap when the ring dropped what it missed). Default 64.
    pub subscriber_queue: usize,
    /// Interval of `event: ping` keep-alives on idle streams. Default 30 s.
    pub ping_interval: Duration,
    /// One memory budget: half for the rings (oldest events of any channel evicted first; on
    /// Redis, for the events read from Redis for subscribers), a quarter for bodies being received, a quarter for frames queued for subscribers (see
    /// `memory.rs`). RSS stays within it plus a fixed overhead. Default 256 MiB.
    pub memory_budget: usize,
    /// A channel with no subscribers and no traffic for this long may be evicted. Default 1 h.
    pub channel_idle_ttl: Duration,
    /// The same for a channel a publish created and nobody ever subscribed to. Default 10 min.
    pub publish_channel_ttl: Duration,
    /// Most open connections (senders and subscribers); more wait in the accept backlog.
    /// Default 1024.
    pub max_connections: usize,
    /// Timeouts of requests and connections.
    pub timeouts: Timeouts,
    /// Limits per client address. Default [`ClientLimits::none`] (one developer on loopback);
    /// `hookrelay serve` uses [`ClientLimits::default`].
    pub per_client: ClientLimits,
    /// Proxies whose `X-Forwarded-For` names the client (and which are exempt from the
    /// per-address connection limit). Default none.
    pub trust_proxy: Vec<IpNet>,
    /// With tokens, subscribing needs `Authorization: Bearer <token>`. Default none.
    pub subscriber_tokens: Option<SubscriberTokens>,
    /// Serve HTTPS with this TLS configuration. Default none (plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Keep webhooks in Redis streams shared by several instances instead of this process's
    /// rings (see `backend/redis.rs`). Default none (memory).
    pub redis: Option<RedisConfig>,
    /// Log one line per request (client address, method, route, status, time) at `info`
    /// (target `hookrelay::access`); otherwise at `debug`. Default off; `serve` turns it on.
    pub access_log: bool,
    /// How long a sender is held for a replying subscriber's answer (`forward --reply`)
    /// before it gets `504`. Default 30 s.
    pub reply_timeout: Duration,
    /// Most senders held at once, per channel and in all; past either, `503`.
    pub hold_limits: HoldLimits,
}

/// Timeouts of requests and connections.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// Time to send a whole request head; also how long an idle keep-alive connection stays
    /// open. Default 10 s.
    pub header: Duration,
    /// Time a request body may take before the minimum rate applies. Default 10 s.
    pub body_grace: Duration,
    /// Bytes per second a body must arrive at on average after the grace time (else `408`).
    /// Default 16 KiB/s.
    pub body_min_rate: usize,
    /// A connection whose peer takes no bytes for this long is closed; a subscriber that
    /// cannot get memory for its next frame for this long is disconnected. Default 30 s.
    pub write: Duration,
    /// How long shutdown waits for connections to finish. Default 10 s.
    pub shutdown: Duration,
    /// Before that, how long the relay keeps serving with `/readyz` answering `503`, so a load
    /// balancer takes it out of rotation before it stops accepting. Default 0 (none).
    pub drain: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            body_grace: Duration::from_secs(10),
            body_min_rate: 16 * 1024,
            write: Duration::from_secs(30),
            shutdown: Duration::from_secs(10),
            drain: Duration::ZERO,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3300)),
            max_body_bytes: 25 * 1024 * 1024,
            max_channels: 1000,
            max_subscribers_per_channel: 64,
            ring_len: 1000,
            ring_bytes: 64 * 1024 * 1024,
            subscriber_queue: 64,
            ping_interval: Duration::from_secs(30),
            memory_budget: 256 * 1024 * 1024,
            channel_idle_ttl: Duration::from_secs(3600),
            publish_channel_ttl: Duration::from_secs(600),
            max_connections: 1024,
            timeouts: Timeouts::default(),
            per_client: ClientLimits::none(),
            trust_proxy: Vec::new(),
            subscriber_tokens: None,
            tls: None,
            redis: None,
            access_log: false,
            reply_timeout: Duration::from_secs(30),
            hold_limits: HoldLimits::default(),
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> std::io::Result<()> {
        let bad = |what: &str| {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid relay configuration: {what}"),
            ))
        };
        if self.max_channels == 0 || self.max_subscribers_per_channel == 0 {
            return bad("max_channels and max_subscribers_per_channel must be at least 1");
        }
        if self.ring_len == 0 || self.subscriber_queue == 0 {
            return bad("ring_len and subscriber_queue must be at least 1");
        }
        if self.max_body_bytes > u32::MAX as usize {
            return bad("max_body_bytes must be at most 4 GiB");
        }
        if self.memory_budget / 4 < self.max_body_bytes {
            return bad("memory_budget must be at least 4 times max_body_bytes");
        }
        if self.per_client.body_bytes < self.max_body_bytes {
            return bad("per_client.body_bytes must be at least max_body_bytes");
        }
        if self.per_client.connections == 0 || self.timeouts.header.is_zero() {
            return bad("per_client.connections and timeouts.header must be more than zero");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.reply_timeout.is_zero()
            || self.hold_limits.per_channel == 0
            || self.hold_limits.total == 0
        {
            return bad("reply_timeout and the held-sender limits must be more than zero");
        }
        if self.ping_interval.is_zero() {
            return bad("ping_interval must be more than zero");
        }
        Ok(())
    }
}

/// Shared state of the HTTP handlers.
pub(crate) struct AppState {
    /// Where accepted webhooks are kept (memory rings or Redis streams).
    pub hub: Arc<dyn Backend>,
    pub cfg: ServerConfig,
    pub local_addr: SocketAddr,
    /// Flips to `true` on shutdown: streams end.
    pub shutdown: watch::Receiver<bool>,
    /// Set when shutdown begins, before the drain time: `/readyz` answers `503`.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The memory budget's shares.
    pub memory: memory::Memory,
    /// Slots for encoding large events (see [`frame::LARGE_ENCODES`]).
    pub encode_slots: Arc<tokio::sync::Semaphore>,
    /// Per-address limits.
    pub clients: Arc<client::Clients>,
    pub metrics: metrics::Metrics,
    /// Senders held for a replying subscriber's answer.
    pub holds: Arc<reply::Holds>,
}

/// A running relay server.
pub struct RelayServer {
    scheme: &'static str,
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    drain: Duration,
    /// The serve task (taken by [`RelayServer::shutdown`]).
    task: Option<JoinHandle<()>>,
    janitor: JoinHandle<()>,
    hub: Arc<dyn Backend>,
    grace: Duration,
}

/// A snapshot of a relay's memory use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayStats {
    /// Channels alive.
    pub channels: usize,
    /// Event bytes retained across all rings (bounded by `retained_bytes_total`).
    pub retained_bytes: usize,
}

impl RelayServer {
    /// Bind `cfg.listen` and serve in a spawned task.
    pub async fn start(cfg: ServerConfig) -> std::io::Result<RelayServer> {
        cfg.validate()?;
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        Self::start_on(cfg, listener).await
    }

    /// Serve on a listener bound by someone else (socket activation, `serve --listen-fd`);
    /// `cfg.listen` is not used.
    pub async fn start_on(
        cfg: ServerConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<RelayServer> {
        cfg.validate()?;
        let local_addr = listener.local_addr()?;
        let memory = memory::Memory::new(cfg.memory_budget);
        let hub: Arc<dyn Backend> = match &cfg.redis {
            None => Arc::new(backend::memory::MemoryBackend::new(Hub::new(
                HubLimits {
                    max_channels: cfg.max_channels,
                    max_subscribers_per_channel: cfg.max_subscribers_per_channel,
                    ring_len: cfg.ring_len,
                    ring_bytes: cfg.ring_bytes,
                    retained_bytes_total: memory.ring,
                    batch: cfg.subscriber_queue,
                    channel_idle_ttl: cfg.channel_idle_ttl,
                    publish_channel_ttl: cfg.publish_channel_ttl,
                    channels_per_sender: cfg.per_client.channels,
                },
                new_epoch(),
            ))),
            Some(redis) => Arc::new(backend::redis::RedisBackend::new(
                redis.clone(),
                backend::redis::LocalLimits {
                    max_channels: cfg.max_channels,
                    max_subscribers_per_channel: cfg.max_subscribers_per_channel,
                    batch: cfg.subscriber_queue,
                    publish_channel_ttl: cfg.publish_channel_ttl,
                    channels_per_sender: cfg.per_client.channels,
                    // on Redis the rings' share holds the events read for subscribers
                    read_bytes: memory.ring,
                },
            )?),
        };
        let clients = Arc::new(client::Clients::new(
            cfg.per_client.clone(),
            cfg.trust_proxy.clone(),
        ));
        let (tx, rx) = watch::channel(false);
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = Arc::new(AppState {
            draining: Arc::clone(&draining),
            hub: Arc::clone(&hub),
            cfg: cfg.clone(),
            local_addr,
            shutdown: rx.clone(),
            memory,
            encode_slots: Arc::new(tokio::sync::Semaphore::new(frame::LARGE_ENCODES)),
            clients: Arc::clone(&clients),
            metrics: metrics::Metrics::new(),
            holds: reply::Holds::new(cfg.hold_limits),
        });
        let app = routes::router(state);
        let policy = listener::ConnPolicy {
            max_connections: cfg.max_connections,
            header_timeout: cfg.timeouts.header,
            write_timeout: cfg.timeouts.write,
            tls: cfg.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            clients: Arc::clone(&clients),
        };
        let task = tokio::spawn(listener::serve(
            listener,
            app,
            policy,
            rx.clone(),
            cfg.timeouts.shutdown,
        ));
        let janitor = tokio::spawn(janitor(
            Arc::clone(&hub),
            clients,
            cfg.channel_idle_ttl.min(cfg.publish_channel_ttl),
        ));
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        tracing::info!(
            url = %format!("{scheme}://{local_addr}"),
            store = %hub.describe(),
            "relay listening on {scheme}://{local_addr} (new channel: {scheme}://{local_addr}/new)"
        );
        Ok(RelayServer {
            scheme,
            local_addr,
            shutdown: tx,
            draining,
            drain: cfg.timeouts.drain,
            task: Some(task),
            janitor,
            hub,
            grace: cfg.timeouts.shutdown,
        })
    }

    /// The event id that comes before every event of this run: a subscriber resuming from it
    /// gets everything its channels still hold (the embedded relay uses it, so a webhook sent
    /// before the subscription is up is not lost).
    pub fn start_event_id(&self) -> String {
        self.hub.start_event_id()
    }

    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://IP:PORT` of this server.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.local_addr)
    }

    /// Channels alive and bytes retained now.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            channels: self.hub.channel_count(),
            retained_bytes: self.hub.retained_bytes(),
        }
    }

    /// A fresh channel URL (128 random bits, base64url).
    pub fn new_channel(&self) -> String {
        format!("{}/{}", self.base_url(), new_channel_name())
    }

    /// Answer `/readyz` with `503` and keep serving for the drain time; then stop accepting,
    /// tell every subscriber (`event: shutdown`) and end its stream, let in-flight requests get
    /// their answer, and wait (at most the shutdown timeout) for connections to close.
    /// (Dropping the server also stops it, without draining or waiting.)
    pub async fn shutdown(mut self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
        if !self.drain.is_zero() {
            tracing::info!(drain = ?self.drain, "relay draining: /readyz answers 503");
            tokio::time::sleep(self.drain).await;
        }
        let _ = self.shutdown.send(true);
        self.janitor.abort();
        let Some(mut task) = self.task.take() else {
            return;
        };
        let bound = self.grace + Duration::from_secs(1);
        if tokio::time::timeout(bound, &mut task).await.is_err() {
            tracing::warn!("relay connections did not close within {bound:?}; aborting them");
            task.abort();
        }
        tracing::info!("relay stopped");
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.janitor.abort();
    }
}

/// Periodically drop idle channels so their rings do not hold memory forever, and forget
/// rate-limit state of addresses gone quiet.
async fn janitor(hub: Arc<dyn Backend>, clients: Arc<client::Clients>, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        hub.evict_idle();
        clients.tidy();
    }
}

/// A fresh channel name: 128 random bits in base64url (22 characters).
pub fn new_channel_name() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// This run's epoch: start time in ms, base36, plus random digits (two runs never share one).
fn new_epoch() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let salt = rand::random::<u32>() % (36 * 36 * 36);
    format!("{}{:0>3}", base36(ms), base36(u64::from(salt)))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

/// Whether a channel name is valid: `[A-Za-z0-9_-]{1,128}`.
pub fn valid_channel_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_epochs() {
        let n = new_channel_name();
        assert_eq!(n.len(), 22);
        assert!(valid_channel_name(&n));
        assert_ne!(n, new_channel_name());
        assert!(!valid_channel_name(""));
        assert!(!valid_channel_name("a.b"));
        assert!(!valid_channel_name(&"a".repeat(129)));
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36 * 36 + 35), "10z");
        let e = new_epoch();
        assert!(e.bytes().all(|b| b.is_ascii_alphanumeric()), "{e}");
    }
}
