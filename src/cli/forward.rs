//! `forward`, `serve` and `demo`: the long-running commands.

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
    let mut start_id = None;
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
            start_id = Some(server.start_event_id());
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
    cfg.last_event_id = start_id;
    if args.store.path().is_none() {
        // nothing to fall back on: keep more bodies in memory for replay
        cfg.recent_bytes = 64 << 20;
    }
    let mut services = Services::default().with_verifier(args.verify.verifier()?, args.verify.mode);
    let store_path = args.store.path();
    if let Some(p) = &store_path {
        services = services
            .with_store(p)
            .with_context(|| format!("cannot open the store {}", p.display()))?;
        eprintln!("hookrelay: deliveries are kept in {}", p.display());
    }
    if let Some(url) = &args.slack_webhook {
        eprintln!(
            "hookrelay: Slack notifications for Port events go to {}",
            crate::slack::redact_webhook_url(url)
        );
        services = services.with_slack(crate::slack::SlackConfig::new(url.clone()));
    } else if args.slack_preview {
        services = services.with_slack_preview();
    }
    let reader = services.store_reader();
    let target_text = cfg.target.to_string();
    let channel_text = cfg.channel_url.clone();
    let pipeline = pipeline::start(cfg, services);
    let interactive = !args.json && !args.no_tui && crate::tui::tty_available();
    let result = if interactive {
        let setup = crate::tui::TuiSetup {
            channel_url: channel_text,
            target: target_text,
            verify_mode: format!("{:?}", args.verify.mode).to_lowercase(),
            store_path: store_path.map(|p| p.display().to_string()),
            newest_first: args.newest_first,
        };
        run_tui(pipeline, setup, reader).await
    } else {
        log_until_interrupted(pipeline, args.json).await
    };
    if let Some(s) = embedded {
        s.shutdown().await;
    }
    result
}

/// Run the terminal UI on the pipeline's events until the user quits.
async fn run_tui(
    mut pipeline: Pipeline,
    setup: crate::tui::TuiSetup,
    reader: Option<std::sync::Arc<std::sync::Mutex<crate::store::Store>>>,
) -> anyhow::Result<()> {
    let source: Box<dyn crate::tui::source::DeliverySource> = match reader {
        Some(store) => Box::new(crate::tui::store_source::StoreSource::new(store)),
        None => Box::new(crate::tui::source::MemorySource::new(100_000)),
    };
    let (_keep, empty) = tokio::sync::mpsc::channel(1);
    let events = std::mem::replace(&mut pipeline.events, empty);
    let result = crate::tui::run(setup, events, pipeline.commands.clone(), source).await;
    pipeline.shutdown().await;
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
    let interactive = !args.no_tui && !args.json && crate::tui::tty_available();
    let (store_path, temporary) = match &args.store {
        Some(p) => (p.clone(), false),
        None => (
            std::env::temp_dir().join(format!("hookrelay-demo-{}.sqlite", std::process::id())),
            true,
        ),
    };
    if !interactive {
        eprintln!(
            "hookrelay demo: a relay, a sample dev server and six signed Port events, all on loopback."
        );
        eprintln!("  relay channel : {channel}");
        eprintln!("  dev server    : {target_url} (checks the Port signature like a real handler)");
        eprintln!("  history       : {}", store_path.display());
    }
    let mut secrets = crate::verify::Secrets::new();
    secrets.insert(crate::verify::Scheme::Port, DEMO_SECRET.to_string());
    let mut services = Services::default()
        .with_verifier(
            crate::verify::Verifier::new(secrets),
            crate::verify::VerifyMode::Report,
        )
        .with_store(&store_path)
        .with_context(|| format!("cannot open the store {}", store_path.display()))?;
    if args.slack_preview {
        services = services.with_slack_preview();
    }
    let reader = services.store_reader();
    let cfg = PipelineConfig::new(channel.clone(), Target::parse(&target_url)?);
    let mut pipeline = pipeline::start(cfg, services);
    let total = sample_events().len();

    // a tap on the events: start sending once the subscription listens, so none is missed
    let (tap_tx, mut tap_rx) = tokio::sync::mpsc::channel(4096);
    let (_keep, empty) = tokio::sync::mpsc::channel(1);
    let mut upstream = std::mem::replace(&mut pipeline.events, empty);
    let sender_channel = channel.clone();
    let interval = args.interval;
    let tap = tokio::spawn(async move {
        let mut sender = None;
        while let Some(ev) = upstream.recv().await {
            if sender.is_none() && matches!(ev, AppEvent::Conn(crate::events::ConnState::Connected))
            {
                sender = Some(tokio::spawn(send_samples(
                    sender_channel.clone(),
                    sample_events(),
                    interval,
                )));
            }
            if tap_tx.send(ev).await.is_err() {
                break;
            }
        }
    });

    let result = if interactive {
        let setup = crate::tui::TuiSetup {
            channel_url: channel.clone(),
            target: target_url.clone(),
            verify_mode: "report".into(),
            store_path: Some(store_path.display().to_string()),
            newest_first: false,
        };
        let source: Box<dyn crate::tui::source::DeliverySource> = match reader {
            Some(store) => Box::new(crate::tui::store_source::StoreSource::new(store)),
            None => Box::new(crate::tui::source::MemorySource::new(10_000)),
        };
        crate::tui::run(setup, tap_rx, pipeline.commands.clone(), source).await
    } else {
        let mut sink = LogSink::new(std::io::stdout(), args.json);
        let mut done = 0usize;
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        while done < total {
            tokio::select! {
                _ = &mut deadline => {
                    eprintln!("hookrelay demo: gave up waiting after 60 s");
                    break;
                }
                ev = tap_rx.recv() => {
                    let Some(ev) = ev else { break };
                    if matches!(&ev, AppEvent::Attempt { attempt, .. } if !attempt.replay) {
                        done += 1;
                    }
                    sink.handle(&ev);
                }
            }
        }
        eprintln!(
            "hookrelay demo: {} deliveries relayed; the dev server accepted {} and rejected {} (the stale and the tampered signature, as intended).",
            sink.received, sink.forwarded_ok, sink.failed
        );
        if !temporary {
            eprintln!("  try: hookrelay list --store {}", store_path.display());
        }
        Ok(())
    };
    tap.abort();
    pipeline.shutdown().await;
    server.shutdown().await;
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", store_path.display()));
        }
    }
    result
}

async fn send_samples(
    channel: String,
    events: Vec<crate::demo::SampleEvent>,
    interval: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for ev in events {
        tokio::time::sleep(interval).await;
        let (headers, body) = ev.signed(crate::demo::DEMO_SECRET);
        let mut req = client.post(&channel).body(body);
        for (n, v) in headers {
            req = req.header(n, v);
        }
        req.send().await?.error_for_status()?;
    }
    Ok(())
}
