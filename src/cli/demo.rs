//! `hookrelay demo`: the embedded relay, a sample dev server and signed Port events.

use std::time::Duration;

use anyhow::Context;

use super::DemoArgs;
use crate::events::AppEvent;
use crate::forward::Target;
use crate::logline::LogSink;
use crate::pipeline::{self, ForwardConfig, SlackOut};
use crate::server::{RelayServer, ServerConfig};

/// `hookrelay demo`.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // Ctrl-C, SIGTERM, SIGHUP: caught from here on, so every exit ends as `q` does (the
    // history flushed where the closing hint points)
    let stop = super::forward::shutdown_signal();
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
    let store_path = match &args.store {
        Some(p) => p.clone(),
        None => {
            // the demo's own file, kept after exit so the hint below works; each run starts
            // it afresh so the list shows this run's six deliveries
            let p = crate::store::demo_path();
            remove_store_files(&p);
            p
        }
    };
    if !interactive {
        eprintln!(
            "hookrelay demo: a relay, a sample dev server, six signed Port events and a synchronized action run, all on loopback."
        );
        eprintln!("  relay channel : {channel}");
        eprintln!("  dev server    : {target_url} (checks the Port signature like a real handler)");
        eprintln!("  history       : {}", store_path.display());
    }
    let mut secrets = crate::verify::Secrets::new();
    secrets.insert(crate::verify::Scheme::Port, DEMO_SECRET.to_string());
    let mut cfg = ForwardConfig::new(channel.clone(), Target::parse(&target_url)?)
        .with_verifier(
            crate::verify::Verifier::new(secrets),
            crate::verify::VerifyMode::Report,
        )
        .with_store(&store_path);
    // the demo's subscriber answers senders: the action run's result comes back to its sender
    cfg.reply = true;
    if args.slack_preview {
        cfg.slack = SlackOut::Preview;
    }
    if args.json {
        super::session::print_session(&channel, &target_url, Some(&store_path))?;
    }
    let mut pipeline = pipeline::start(cfg)
        .await
        .with_context(|| format!("cannot open the store {}", store_path.display()))?;
    let reader = Some(std::sync::Arc::new(std::sync::Mutex::new(
        crate::store::Store::open(&store_path)
            .with_context(|| format!("cannot open the store {}", store_path.display()))?,
    )));
    let total = sample_events().len() + 1;

    // a tap on the events: start sending once the subscription listens, so none is missed
    let (tap_tx, mut tap_rx) = tokio::sync::mpsc::channel(4096);
    let (_keep, empty) = tokio::sync::mpsc::channel(1);
    let mut upstream = std::mem::replace(&mut pipeline.events, empty);
    let sender_channel = channel.clone();
    let interval = args.interval;
    let (run_tx, run_rx) = tokio::sync::oneshot::channel();
    let mut run_tx = Some(run_tx);
    let tap = tokio::spawn(async move {
        let mut sender = None;
        while let Some(ev) = upstream.recv().await {
            if sender.is_none() && matches!(ev, AppEvent::Conn(crate::events::ConnState::Connected))
            {
                sender = Some(tokio::spawn(send_samples(
                    sender_channel.clone(),
                    sample_events(),
                    interval,
                    run_tx.take(),
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
            sending: None,
        };
        let source: Box<dyn crate::tui::source::DeliverySource> = match reader {
            Some(store) => Box::new(crate::tui::store_source::StoreSource::new(store)),
            None => Box::new(crate::tui::source::MemorySource::new(10_000)),
        };
        crate::tui::run(setup, tap_rx, pipeline.commands.clone(), source, stop).await
    } else {
        let mut sink = LogSink::new(std::io::stdout(), args.json);
        let mut done = 0usize;
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        // stop early, still clean up below
        tokio::pin!(stop);
        while done < total {
            tokio::select! {
                _ = &mut stop => break,
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
        if let Ok(Ok((status, body))) = tokio::time::timeout(Duration::from_secs(5), run_rx).await {
            eprintln!(
                "hookrelay demo: the synchronized action run came back {status} {} (Port sets the run's result from this answer)",
                crate::sanitize::display_safe(&body)
            );
        }
        Ok(())
    };
    tap.abort();
    let _ = pipeline.shutdown().await;
    server.shutdown().await;
    let shown = store_path.display().to_string();
    let quoted = shlex::try_quote(&shown).map_or(shown.clone(), |q| q.into_owned());
    eprintln!("hookrelay demo: the history stays in {shown}; try: hookrelay list --store {quoted}");
    result
}

/// Remove a store file and SQLite's companions of it.
fn remove_store_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Send the samples, then the synchronized action run, whose answer (the dev server's, through
/// the relay) is what Port would set the run's result from; it goes to `run_result`.
async fn send_samples(
    channel: String,
    mut events: Vec<crate::demo::SampleEvent>,
    interval: Duration,
    mut run_result: Option<tokio::sync::oneshot::Sender<(u16, String)>>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    events.push(crate::demo::action_run_event());
    for ev in events {
        tokio::time::sleep(interval).await;
        let (headers, body) = ev.signed(crate::demo::DEMO_SECRET);
        let mut req = client.post(&channel).body(body);
        for (n, v) in headers {
            req = req.header(n, v);
        }
        // with --reply each sender gets the dev server's own answer (401 for the bad ones)
        let resp = req.send().await?;
        if ev.name == "synchronized action run"
            && let Some(tx) = run_result.take()
        {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            let _ = tx.send((status, body));
        }
    }
    Ok(())
}
