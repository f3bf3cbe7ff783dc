//! `hookrelay serve`: the relay server a team puts on the internet.

use anyhow::Context;

use super::ServeArgs;
use super::forward::shutdown_signal;
use crate::server::{RelayServer, ServerConfig};

/// `hookrelay serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listen = match args.listen {
        Some(a) => a,
        None => {
            let port = std::env::var("PORT")
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(3300);
            std::net::SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    let cfg = ServerConfig {
        listen,
        max_body_bytes: args.max_body,
        ring_len: args.ring_len,
        max_channels: args.max_channels,
        max_subscribers_per_channel: args.max_subscribers,
        ping_interval: args.ping_interval,
        ..ServerConfig::default()
    };
    let server = RelayServer::start(cfg)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!(
        "hookrelay: relay listening on {} (GET {}/new for a channel)",
        server.base_url(),
        server.base_url()
    );
    shutdown_signal().await;
    eprintln!("hookrelay: shutting down");
    server.shutdown().await;
    Ok(())
}
