//! `hookrelay serve`: the relay server a team puts on the internet.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::forward::shutdown_signal;
use crate::server::{
    ClientLimits, HoldLimits, IpNet, RedisConfig, RelayServer, ServerConfig, SubscriberTokens,
    Timeouts,
};

/// `hookrelay serve`. The defaults suit a public relay; every limit is per process.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:$PORT, or 127.0.0.1:3300).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve on an inherited, already bound TCP socket (this file descriptor, e.g. 3 under
    /// systemd socket activation) instead of binding --listen. The socket may be bound but
    /// not yet listening: the relay starts listening on it.
    #[arg(long, value_name = "FD", conflicts_with = "listen")]
    pub listen_fd: Option<i32>,
    /// Largest webhook body accepted (413 beyond).
    #[arg(long, default_value = "25MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Events each channel keeps for clients that reconnect.
    // The defaults are the relay's own (`ServerConfig::default`), which the embedded relay uses.
    #[arg(long, default_value_t = ServerConfig::default().ring_len)]
    pub ring_len: usize,
    /// Channels at most.
    #[arg(long, default_value_t = ServerConfig::default().max_channels)]
    pub max_channels: usize,
    /// Subscribers per channel at most.
    #[arg(long, default_value_t = ServerConfig::default().max_subscribers_per_channel)]
    pub max_subscribers: usize,
    /// Keep-alive `ping` interval.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub ping_interval: Duration,
    /// One memory budget for the rings (half; with --redis, the events read from Redis for
    /// subscribers), bodies being received and frames queued for subscribers (a quarter each).
    /// At least 4 × --max-body.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub memory_budget: usize,
    /// Open connections at most (more wait in the accept backlog).
    #[arg(long, default_value_t = ServerConfig::default().max_connections)]
    pub max_connections: usize,
    /// Open connections per client address at most (more are closed at once).
    #[arg(long, default_value_t = 64)]
    pub max_connections_per_addr: usize,
    /// Body bytes one client address may be sending at once.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub max_body_bytes_per_addr: usize,
    /// Requests per second per client address on average (0: no limit).
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Requests per client address in a burst.
    #[arg(long, default_value_t = 1000)]
    pub burst: u32,
    /// Channels one client address may create by publishing to a channel nobody subscribed to
    /// (with --redis: one count across every instance on that Redis).
    #[arg(long, default_value_t = 32)]
    pub channels_per_addr: usize,
    /// How long a channel created by a publish lives while nobody subscribes to it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub publish_channel_ttl: Duration,
    /// How long a sender is held for a replying subscriber's answer (`forward --reply`)
    /// before it gets 504.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub reply_timeout: Duration,
    /// Senders held for an answer at once, per channel (more get 503).
    #[arg(long, default_value_t = 64)]
    pub max_held_per_channel: usize,
    /// Senders held for an answer at once, in all (more get 503).
    #[arg(long, default_value_t = 512)]
    pub max_held: usize,
    /// How long an idle channel without subscribers lives.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub channel_ttl: Duration,
    /// Time to send a request head; also the idle keep-alive timeout.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// Time a request body may take before --body-min-rate applies.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub body_timeout: Duration,
    /// Bytes per second a body must arrive at, on average, after --body-timeout.
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    pub body_min_rate: usize,
    /// A peer that takes no bytes for this long is disconnected (subscribers resume with
    /// Last-Event-ID).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub write_timeout: Duration,
    /// On SIGTERM or Ctrl-C, how long to keep serving with /readyz answering 503 (so a load
    /// balancer stops sending here) before stopping to accept.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub drain: Duration,
    /// How long shutdown (SIGTERM, Ctrl-C) waits for connections to finish.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub shutdown_timeout: Duration,
    /// A proxy (CIDR, repeatable) whose X-Forwarded-For names the client.
    #[arg(long, value_name = "CIDR")]
    pub trust_proxy: Vec<IpNet>,
    /// File of subscriber tokens (one per line): subscribing then needs
    /// `Authorization: Bearer <token>`.
    #[arg(long, env = "HOOKRELAY_SUBSCRIBER_TOKENS", value_name = "FILE")]
    pub subscriber_tokens: Option<PathBuf>,
    /// TLS certificate chain (PEM); serves HTTPS with --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// A shared relay: several `serve` instances keeping webhooks in one Redis.
#[derive(Debug, Args, Clone)]
pub struct RedisArgs {
    /// Keep webhooks in Redis streams (redis://[user:password@]host:port[/db], or
    /// unix:///path): every instance on the same Redis serves every channel, and a sender gets
    /// its 2xx only once Redis stored the webhook (503 while Redis is unreachable).
    #[arg(
        long = "redis",
        env = "HOOKRELAY_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
    /// Webhooks each channel's stream keeps at most (trimmed approximately).
    #[arg(long = "redis-max-len", default_value_t = 10_000)]
    pub max_len: usize,
    /// Webhooks older than this are trimmed; a channel idle this long is deleted.
    #[arg(long = "redis-max-age", value_parser = humantime::parse_duration, default_value = "24h")]
    pub max_age: Duration,
    /// Prefix of every Redis key (several relays may share one Redis).
    #[arg(long = "redis-prefix", default_value = "hookrelay")]
    pub prefix: String,
}

impl RedisArgs {
    fn config(&self) -> Option<RedisConfig> {
        let url = self.url.as_ref()?;
        let mut cfg = RedisConfig::new(url.clone());
        cfg.max_len = self.max_len;
        cfg.max_age = self.max_age;
        cfg.key_prefix = self.prefix.clone();
        Some(cfg)
    }
}

/// `hookrelay serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listen = match args.listen {
        Some(a) => a,
        None => {
            let port = std::env::var("PORT")
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(3300);
            SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    let subscriber_tokens =
        match &args.subscriber_tokens {
            Some(path) => Some(SubscriberTokens::load(path).with_context(|| {
                format!("cannot read subscriber tokens from {}", path.display())
            })?),
            None => None,
        };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let cfg = ServerConfig {
        listen,
        max_body_bytes: args.max_body,
        ring_len: args.ring_len,
        max_channels: args.max_channels,
        max_subscribers_per_channel: args.max_subscribers,
        ping_interval: args.ping_interval,
        memory_budget: args.memory_budget,
        channel_idle_ttl: args.channel_ttl,
        publish_channel_ttl: args.publish_channel_ttl,
        max_connections: args.max_connections,
        timeouts: Timeouts {
            header: args.header_timeout,
            body_grace: args.body_timeout,
            body_min_rate: args.body_min_rate,
            write: args.write_timeout,
            shutdown: args.shutdown_timeout,
            drain: args.drain,
        },
        per_client: ClientLimits {
            connections: args.max_connections_per_addr,
            body_bytes: args.max_body_bytes_per_addr,
            requests_per_second: args.rate,
            burst: args.burst,
            channels: args.channels_per_addr,
        },
        trust_proxy: args.trust_proxy,
        subscriber_tokens,
        tls,
        redis: args.redis.config(),
        access_log: true,
        reply_timeout: args.reply_timeout,
        hold_limits: HoldLimits {
            per_channel: args.max_held_per_channel,
            total: args.max_held,
        },
        ..ServerConfig::default()
    };
    let server = match args.listen_fd {
        None => RelayServer::start(cfg)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?,
        Some(fd) => {
            let listener = inherited_listener(fd)
                .with_context(|| format!("cannot listen on the inherited socket {fd}"))?;
            RelayServer::start_on(cfg, listener).await?
        }
    };
    eprintln!(
        "hookrelay: relay listening on {} (GET {}/new for a channel)",
        server.base_url(),
        server.base_url()
    );
    shutdown_signal().await;
    eprintln!("hookrelay: shutting down");
    server.shutdown().await;
    eprintln!("hookrelay: stopped");
    Ok(())
}

/// The TCP socket at file descriptor `fd`, inherited from whoever started the relay, as a
/// listener. Refuses a descriptor that is not open or not a TCP socket.
fn inherited_listener(fd: i32) -> anyhow::Result<tokio::net::TcpListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    anyhow::ensure!(fd > 2, "--listen-fd must name a descriptor above 2 (stdio)");
    // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags; -1 means it is not open.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
    anyhow::ensure!(open, "file descriptor {fd} is not open");
    // SAFETY: the descriptor is open and nothing else in this process uses it: it was
    // inherited for this purpose and is named once, on the command line; it is owned from here.
    let socket = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let addr = socket.local_addr()?;
    anyhow::ensure!(
        addr.as_socket().is_some() && socket.r#type()? == socket2::Type::STREAM,
        "file descriptor {fd} is not a TCP socket"
    );
    socket.set_cloexec(true)?;
    socket.set_nonblocking(true)?;
    socket.listen(1024)?;
    Ok(tokio::net::TcpListener::from_std(socket.into())?)
}

/// The TLS configuration from PEM files.
fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the TLS key {}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not make a usable configuration")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A size: bytes, or with a suffix KiB, MiB, GiB (also K, M, G, KB, MB, GB as binary units).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 512KiB, 256MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25MiB"), Ok(25 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16 KiB"), Ok(16 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
