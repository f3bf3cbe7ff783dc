//! The embedded relay (`forward` with no channel URL) and its channel: the same URL on every
//! run for a project, kept in the project's store (`--new-channel` for a fresh one), so a sender
//! configured once keeps working.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::server::{RelayServer, ServerConfig, new_channel_name, valid_channel_name};
use crate::store::Store;

/// The store setting that holds the channel: `PORT/NAME`.
const SETTING: &str = "embedded_channel";

/// The embedded relay, running, and the channel URL to send webhooks to.
pub struct Embedded {
    pub server: RelayServer,
    pub channel: String,
    /// The URL is the project's, from an earlier run (or kept for the next one).
    pub kept: bool,
}

/// Start the embedded relay on `listen`. With a store and without `new_channel`, the channel
/// (its port, when `listen` leaves the port to chance, and its name) is the one the store
/// keeps, and the one used is kept for the next run.
pub async fn start(
    listen: SocketAddr,
    reply_timeout: Duration,
    store: Option<&Path>,
    new_channel: bool,
) -> anyhow::Result<Embedded> {
    let saved = match (store, new_channel) {
        (Some(p), false) => read(p),
        _ => None,
    };
    let mut server = None;
    if let Some((port, _)) = &saved
        && listen.port() == 0
    {
        let at = SocketAddr::new(listen.ip(), *port);
        match RelayServer::start(config(at, reply_timeout)).await {
            Ok(s) => server = Some(s),
            Err(e) => eprintln!(
                "hookrelay: note: this project's channel port {port} is taken ({e}), so the \
                 channel URL changes this run"
            ),
        }
    }
    let server = match server {
        Some(s) => s,
        None => RelayServer::start(config(listen, reply_timeout))
            .await
            .with_context(|| format!("cannot start the embedded relay on {listen}"))?,
    };
    let name = saved.map(|(_, name)| name).unwrap_or_else(new_channel_name);
    let channel = format!("{}/{name}", server.base_url());
    let mut kept = false;
    if let Some(p) = store {
        let value = format!("{}/{name}", server.local_addr().port());
        match Store::open(p).and_then(|s| s.set_setting(SETTING, &value)) {
            Ok(()) => kept = true,
            Err(e) => eprintln!("hookrelay: note: the channel URL was not kept for next time: {e}"),
        }
    }
    Ok(Embedded {
        server,
        channel,
        kept,
    })
}

fn config(listen: SocketAddr, reply_timeout: Duration) -> ServerConfig {
    ServerConfig {
        listen,
        reply_timeout,
        ..ServerConfig::default()
    }
}

/// The kept channel: its port and name.
fn read(store: &Path) -> Option<(u16, String)> {
    let value = Store::open(store).ok()?.setting(SETTING).ok()??;
    let (port, name) = value.split_once('/')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    valid_channel_name(name).then(|| (port, name.to_string()))
}
