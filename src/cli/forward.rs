//! `forward`, `serve` and `demo`: the long-running commands.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;

use super::{DemoArgs, ForwardArgs, ServeArgs};
use crate::events::AppEvent;
use crate::forward::Target;
use crate::logline::LogSink;
use crate::pipeline::{self, Pipeline, PipelineConfig};
use crate::server::{RelayServer, ServerConfig};
use crate::services::Services;

/// `hookrelay forward`.
pub async fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target_url())?;
    let mut embedded = None;
    let channel = match args.channel() {
        Some(url) => url,
        None => {
            let cfg = ServerConfig {
                listen: args.listen,
                ..ServerConfig::default()
            };
            let server = RelayServer::start(cfg)
                .await
                .with_context(|| format!("cannot start the embedded relay on {}", args.listen))?;
            let url = server.new_channel();
            embedded = Some(server);
            url
        }
    };
    eprintln!("hookrelay: forwarding {channel} -> {target}");
    if embedded.is_some() {
        eprintln!("hookrelay: no channel URL given, so a relay runs here on loopback.");
        eprintln!("hookrelay: send webhooks to: {channel}");
        eprintln!(
            "hookrelay:   e.g. curl -X POST -H 'content-type: application/json' -d '{{\"hello\":\"world\"}}' {channel}"
        );
    }
    let mut cfg = PipelineConfig::new(channel, target);
    cfg.concurrency = args.concurrency.max(1);
    cfg.retry_for = args.retry_for;
    cfg.forward_timeout = args.timeout;
    cfg.keepalive = args.keepalive;
    cfg.replay_header = !args.no_replay_header;
    let mut services = Services::default();
    if let Some(url) = &args.slack_webhook {
        eprintln!(
            "hookrelay: Slack notifications for Port events go to {}",
            crate::slack::redact_webhook_url(url)
        );
        services = services.with_slack(crate::slack::SlackConfig::new(url.clone()));
    } else if args.slack_preview {
        services = services.with_slack_preview();
    }
    let pipeline = pipeline::start(cfg, services);
    let result = log_until_interrupted(pipeline, args.json).await;
    if let Some(s) = embedded {
        s.shutdown().await;
    }
    result
}

/// Print the log until Ctrl-C (or SIGTERM).
async fn log_until_interrupted(mut pipeline: Pipeline, json: bool) -> anyhow::Result<()> {
    let mut sink = LogSink::new(std::io::stdout(), json);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = pipeline.events.recv() => match ev {
                Some(ev) => sink.handle(&ev),
                None => break,
            },
        }
    }
    eprintln!(
        "hookrelay: received {}, forwarded {} ok, {} failed attempts",
        sink.received, sink.forwarded_ok, sink.failed
    );
    pipeline.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
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

/// `hookrelay demo`.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    use crate::demo::{DEMO_SECRET, SampleTarget, sample_events};
    let server = RelayServer::start(ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    })
    .await
    .context("cannot start the embedded relay")?;
    let target = SampleTarget::start(DEMO_SECRET)
        .await
        .context("cannot start the sample dev server")?;
    let channel = server.new_channel();
    let target_url = format!("{}webhooks/port", target.url());
    eprintln!(
        "hookrelay demo: a relay, a sample dev server and six signed Port events, all on loopback."
    );
    eprintln!("  relay channel : {channel}");
    eprintln!("  dev server    : {target_url} (checks the Port signature like a real handler)");
    eprintln!(
        "  signing secret: the demo's own (set your real one with --secret port=... or HOOKRELAY_PORT_SECRET)"
    );
    let cfg = PipelineConfig::new(channel.clone(), Target::parse(&target_url)?);
    let mut services = Services::default();
    if args.slack_preview {
        services = services.with_slack_preview();
    }
    let mut pipeline = pipeline::start(cfg, services);
    let mut events = Some(sample_events());
    let total = events.as_ref().map_or(0, Vec::len);
    let mut sender = None;
    let mut sink = LogSink::new(std::io::stdout(), args.json);
    let _interactive = std::io::stdout().is_terminal() && !args.no_tui && !args.json;
    let mut done = 0usize;
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    while done < total {
        tokio::select! {
            _ = &mut deadline => {
                eprintln!("hookrelay demo: gave up waiting after 60 s");
                break;
            }
            ev = pipeline.events.recv() => {
                let Some(ev) = ev else { break };
                match &ev {
                    AppEvent::Attempt { attempt, .. } if !attempt.replay => done += 1,
                    // send the samples once the subscription listens, so none is missed
                    AppEvent::Conn(crate::events::ConnState::Connected) => {
                        if let Some(evs) = events.take() {
                            sender = Some(tokio::spawn(send_samples(channel.clone(), evs, args.interval)));
                        }
                    }
                    _ => {}
                }
                sink.handle(&ev);
            }
        }
    }
    if let Some(Ok(Err(e))) = match sender {
        Some(s) => Some(s.await),
        None => None,
    } {
        eprintln!("hookrelay demo: sending failed: {e:#}");
    }
    eprintln!(
        "hookrelay demo: {} deliveries relayed; the dev server accepted {} and rejected {} (a stale and a tampered signature, as intended).",
        sink.received, sink.forwarded_ok, sink.failed
    );
    pipeline.shutdown().await;
    server.shutdown().await;
    Ok(())
}

async fn send_samples(
    channel: String,
    events: Vec<crate::demo::SampleEvent>,
    interval: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for ev in events {
        let (headers, body) = ev.signed(crate::demo::DEMO_SECRET);
        let mut req = client.post(&channel).body(body);
        for (n, v) in headers {
            req = req.header(n, v);
        }
        req.send().await?.error_for_status()?;
        tokio::time::sleep(interval).await;
    }
    Ok(())
}
