//! `hookrelay forward`: subscribe to a channel and forward every webhook to the target.

use anyhow::Context;

use super::ForwardArgs;
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
    cfg.subscriber_token = args.token.clone();
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
