//! `hookrelay forward`: subscribe to a channel and forward every webhook to the target.

use anyhow::Context;

use super::ForwardArgs;
use crate::events::ConnState;
use crate::logline::LogSink;
use crate::pipeline::{self, ForwardConfig, Pipeline, SlackOut};

/// `hookrelay forward`.
pub async fn run(args: ForwardArgs) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let checked = super::preflight::check(&args)?;
    let target = checked.target;
    let mut embedded = None;
    let mut start_id = None;
    let mut kept = false;
    let channel = match args.channel() {
        Some(url) => url,
        None => {
            let e = super::embedded::start(
                args.listen,
                args.reply_timeout,
                checked.store.as_deref(),
                args.new_channel,
            )
            .await?;
            start_id = Some(e.server.start_event_id());
            embedded = Some(e.server);
            kept = e.kept;
            e.channel
        }
    };
    eprintln!("hookrelay: forwarding {channel} -> {target}");
    for (prefix, to) in checked.options.routes.iter() {
        eprintln!("hookrelay:   sub-path {prefix} -> {to}");
    }
    if embedded.is_some() {
        eprintln!("hookrelay: no channel URL given, so a relay runs here on loopback.");
        eprintln!("hookrelay: send webhooks to: {channel}");
        if kept {
            eprintln!(
                "hookrelay:   (this project's channel: the same URL next time; --new-channel for a fresh one)"
            );
        }
        eprintln!(
            "hookrelay:   e.g. curl -X POST -H 'content-type: application/json' -d '{{\"hello\":\"world\"}}' {channel}"
        );
    }
    let mut cfg =
        ForwardConfig::new(channel, target).with_verifier(checked.verifier, args.verify.mode);
    cfg.concurrency = args.concurrency.max(1);
    cfg.retry_for = args.retry_for;
    cfg.forward_timeout = args.timeout;
    cfg.keepalive = args.keepalive;
    cfg.replay_header = !args.no_replay_header;
    cfg.last_event_id = start_id;
    cfg.subscriber_token = args.token.clone();
    cfg.slack_all = args.slack_all;
    cfg.reply = args.reply;
    if args.reply {
        eprintln!(
            "hookrelay: --reply: senders to this channel wait for {}'s answer and get it",
            cfg.target
        );
    }
    cfg.target_options = checked.options;
    if let Some(note) = args.verify.command_line_note() {
        eprintln!("hookrelay: note: {note}");
    }
    let store_path = checked.store;
    match &store_path {
        Some(p) => {
            cfg.store = Some(p.clone());
            eprintln!("hookrelay: deliveries are kept in {}", p.display());
        }
        // nothing to fall back on: keep more bodies in memory for replay
        None => cfg.recent_bytes = 64 << 20,
    }
    if let Some(url) = &args.slack_webhook {
        eprintln!(
            "hookrelay: Slack notifications for {} Port events go to {}",
            if args.slack_all { "all" } else { "verified" },
            crate::slack::redact_webhook_url(url)
        );
        cfg.slack = SlackOut::Webhook(crate::slack::SlackConfig::new(url.clone()));
    } else if args.slack_preview {
        cfg.slack = SlackOut::Preview;
    }
    let target_text = cfg.target.to_string();
    let sending = std::sync::Arc::new(crate::tui::Sending {
        target: cfg.target.clone(),
        options: cfg.target_options.clone(),
    });
    let channel_text = cfg.channel_url.clone();
    if args.json {
        super::session::print_session(&channel_text, &target_text, store_path.as_deref())?;
    }
    let pipeline = pipeline::start(cfg)
        .await
        .with_context(|| match &store_path {
            Some(p) => format!("cannot open the store {}", p.display()),
            None => "cannot start".into(),
        })?;
    let reader = match &store_path {
        Some(p) => Some(std::sync::Arc::new(std::sync::Mutex::new(
            crate::store::Store::open(p)
                .with_context(|| format!("cannot open the store {}", p.display()))?,
        ))),
        None => None,
    };
    let interactive = !args.json && !args.no_tui && crate::tui::tty_available();
    let result = if interactive {
        let setup = crate::tui::TuiSetup {
            channel_url: channel_text,
            target: target_text.clone(),
            verify_mode: format!("{:?}", args.verify.mode).to_lowercase(),
            store_path: store_path.map(|p| p.display().to_string()),
            newest_first: args.newest_first,
            sending: Some(sending),
        };
        run_tui(
            pipeline,
            setup,
            reader,
            stop,
            &target_text,
            embedded.is_none() || kept,
        )
        .await
    } else {
        log_until_interrupted(
            pipeline,
            args.json,
            stop,
            &target_text,
            embedded.is_none() || kept,
        )
        .await
    };
    if let Some(s) = embedded {
        s.shutdown().await;
    }
    result
}

/// Run the terminal UI on the pipeline's events until the user quits (or `stop`).
async fn run_tui(
    mut pipeline: Pipeline,
    setup: crate::tui::TuiSetup,
    reader: Option<std::sync::Arc<std::sync::Mutex<crate::store::Store>>>,
    stop: impl std::future::Future<Output = ()>,
    target: &str,
    resumable: bool,
) -> anyhow::Result<()> {
    let source: Box<dyn crate::tui::source::DeliverySource> = match reader {
        Some(store) => Box::new(crate::tui::store_source::StoreSource::new(store)),
        None => Box::new(crate::tui::source::MemorySource::new(100_000)),
    };
    let (_keep, empty) = tokio::sync::mpsc::channel(1);
    let events = std::mem::replace(&mut pipeline.events, empty);
    let result = crate::tui::run(setup, events, pipeline.commands.clone(), source, stop).await;
    let left = pipeline.shutdown().await;
    eprintln!("hookrelay: {}", left.describe(target, resumable));
    result
}

/// Print the log until Ctrl-C, SIGTERM or SIGHUP (or the relay refuses the channel).
async fn log_until_interrupted(
    mut pipeline: Pipeline,
    json: bool,
    stop: impl std::future::Future<Output = ()>,
    target: &str,
    resumable: bool,
) -> anyhow::Result<()> {
    let mut sink = LogSink::new(std::io::stdout(), json);
    tokio::pin!(stop);
    let mut refused = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = pipeline.events.recv() => match ev {
                Some(ev) => {
                    sink.handle(&ev);
                    if let crate::events::AppEvent::Conn(ConnState::Refused(r)) = ev {
                        refused = Some(r);
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let left = pipeline.shutdown().await;
    if let Some(r) = refused {
        return Err(r.into());
    }
    eprintln!(
        "hookrelay: received {}, forwarded {} ok, {} failed attempts, {} given up, {} held; {}",
        sink.received,
        sink.forwarded_ok,
        sink.failed,
        sink.gave_up,
        sink.held,
        left.describe(target, resumable)
    );
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (the terminal went away): each ends a run the way
/// `q` does. The signals are caught from the moment this is called (not from the first poll),
/// so create it before anything that must be cleaned up.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut signals: Vec<_> = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ]
        .into_iter()
        .filter_map(|k| signal(k).ok())
        .collect();
        async move {
            if signals.is_empty() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            let any = signals.iter_mut().map(|s| Box::pin(s.recv()));
            futures_util::future::select_all(any).await;
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
