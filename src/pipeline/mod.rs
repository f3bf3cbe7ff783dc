//! The forward job, as stages a reader can follow in order:
//!
//! 1. [`intake`]: the subscription's events, decoded and derived once (label, Port event,
//!    verdict), committed to the inbox a burst at a time with the channel's cursor.
//! 2. [`inbox`]: the store (or, with `--no-store`, a bounded queue). Every delivery is on disk
//!    before the target sees it; the backlog waits there, not in memory. When nothing waits
//!    ahead of a delivery, intake hands it to an idle worker with its commit (`handoff.rs`),
//!    instead of waking the feeder to read it back.
//! 3. [`worker`]: pending deliveries in order from the workers' queue ([`jobs`]), forwarded,
//!    retried, settled (delivered / failed).
//! 4. [`outcomes`]: typed events for the log, the UI and Slack. With a store, a worker's
//!    outcomes are written on the store's thread while it goes on to the next delivery, and
//!    told once written, in order (`recorder.rs`).
//!
//! [`ForwardConfig`] says how it runs. Restarting on the same store and channel resumes: the
//! subscription asks the relay for what came after the saved cursor, deliveries cut off
//! mid-attempt are sent again first, then every pending one in arrival order.

pub mod config;
mod fresh_bodies;
mod handoff;
pub mod inbox;
pub mod intake;
pub mod jobs;
pub mod outcomes;
mod recorder;
pub mod reply;
pub(crate) mod trace;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::{ForwardConfig, SlackOut};
use inbox::DiskInbox;
use outcomes::Outcomes;

use crate::delivery::DeliveryState;
use crate::delivery_cache::DeliveryCache;
use crate::events::{AppEvent, Command};
use crate::forward::{Forwarder, REPLAY_HEADER};
use crate::sse::SubscribeConfig;
use crate::store::StoreError;

/// What the stages share.
pub(crate) struct Ctx {
    cfg: ForwardConfig,
    forwarder: Forwarder,
    /// The store's thread, when the inbox is the store.
    disk: Option<DiskInbox>,
    out: Outcomes,
    /// Intake committed new pending deliveries: the feeder reads the store again.
    wake: Arc<Notify>,
    /// The bodies of those deliveries, lent to the feeder (it need not read them back).
    fresh: Arc<fresh_bodies::FreshBodies>,
    /// With a store: intake's shortcut to an idle worker.
    handoff: Option<handoff::Handoff>,
    /// With a store: where the workers' outcomes wait for their writes to be told.
    recorder: Option<mpsc::Sender<recorder::Record>>,
    /// Without a store: deliveries queued and not yet settled.
    open: AtomicUsize,
    /// With `--reply`: posts the dev server's answers back to the relay.
    replier: Option<reply::Replier>,
}

/// A running forward job.
pub struct Pipeline {
    pub events: mpsc::Receiver<AppEvent>,
    pub commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ctx: Arc<Ctx>,
    store_thread: Option<std::thread::JoinHandle<()>>,
}

/// What is left at exit, for the exit line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// In the store: they go out at the next start on this channel, or with
    /// `hookrelay replay --pending`.
    Stored {
        pending: usize,
        store: std::path::PathBuf,
    },
    /// Without a store: these were still queued and are gone.
    Lost { count: usize },
}

impl Leftover {
    /// The exit line's second half. `resumable`: the channel outlives this run (not the
    /// embedded relay's), so the next `forward` on it sends what is left.
    pub fn describe(&self, target: &str, resumable: bool) -> String {
        match self {
            Leftover::Stored { pending: 0, .. } | Leftover::Lost { count: 0 } => {
                "nothing left to send".into()
            }
            Leftover::Stored { pending, store } => format!(
                "{pending} still pending in {}: {}`hookrelay replay --pending --store {} --target {target}`",
                store.display(),
                if resumable {
                    "they go out first at the next `hookrelay forward` on this channel, or now with "
                } else {
                    "send them with "
                },
                store.display()
            ),
            Leftover::Lost { count } => format!(
                "{count} not yet forwarded were lost (--no-store keeps them in memory only)"
            ),
        }
    }
}

impl Pipeline {
    /// Stop subscribing and forwarding (an attempt in flight is abandoned, not waited out), and
    /// say what is left.
    pub async fn shutdown(self) -> Leftover {
        self.cancel.cancel();
        // nobody reads events any more: a stage waiting to emit one must not wait forever
        drop(self.events);
        for t in self.tasks {
            let _ = t.await;
        }
        let leftover = match &self.ctx.disk {
            Some(disk) => {
                let channel = self.ctx.cfg.channel_url.clone();
                let pending = disk
                    .call(move |s| {
                        DeliveryState::ALL
                            .iter()
                            .filter(|st| st.is_open())
                            .map(|st| s.count_state(Some(&channel), *st).unwrap_or(0))
                            .sum::<usize>()
                    })
                    .await
                    .unwrap_or(0);
                Leftover::Stored {
                    pending,
                    store: disk.path().to_path_buf(),
                }
            }
            None => Leftover::Lost {
                count: self.ctx.open.load(Ordering::Acquire),
            },
        };
        drop(self.ctx);
        if let Some(t) = self.store_thread {
            // the thread ends once the last handle is gone; a bounded wait
            let joined = tokio::task::spawn_blocking(move || t.join());
            let _ = tokio::time::timeout(Duration::from_secs(5), joined).await;
        }
        leftover
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// Start the forward job: open the inbox, recover what an earlier run left, subscribe.
pub async fn start(cfg: ForwardConfig) -> Result<Pipeline, StoreError> {
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (src_tx, src_rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();

    let (disk, store_thread) = match &cfg.store {
        Some(path) => {
            let (d, t) = DiskInbox::open(path).await?;
            (Some(d), Some(t))
        }
        None => (None, None),
    };
    let (slack, slack_results, slack_waits) = match &cfg.slack {
        SlackOut::Webhook(sc) => {
            let (tx, rx) = mpsc::channel(1024);
            let (wtx, wrx) = mpsc::channel(64);
            (
                Some(crate::slack::SlackNotifier::spawn_with_waits(
                    sc.clone(),
                    tx,
                    Some(wtx),
                )),
                Some(rx),
                Some(wrx),
            )
        }
        _ => (None, None, None),
    };
    let recent = disk
        .is_none()
        .then(|| DeliveryCache::new(cfg.recent, cfg.recent_bytes));
    let out = Outcomes::new(
        ev_tx,
        slack,
        matches!(cfg.slack, SlackOut::Preview),
        cfg.slack_all,
        cfg.verify_mode,
        recent,
    );
    let mut last_event_id = cfg.last_event_id.clone();
    if let Some(disk) = &disk {
        let (channel, target) = (cfg.channel_url.clone(), cfg.target.to_string());
        let (interrupted, pending, cursor) = disk
            .call(move |s| -> Result<_, StoreError> {
                let interrupted = s.recover_interrupted(&channel, &target)?;
                let pending = s.count_state(Some(&channel), DeliveryState::Pending)?;
                Ok((interrupted, pending, s.cursor(&channel)?))
            })
            .await
            .map_err(|e| StoreError::Io {
                path: disk.path().to_path_buf(),
                source: std::io::Error::other(e),
            })??;
        if last_event_id.is_none() {
            last_event_id = cursor;
        }
        if pending > 0 || last_event_id.is_some() {
            let _ = out.emit_now(AppEvent::Resumed {
                pending,
                interrupted,
                last_event_id: last_event_id.clone(),
            });
        }
    }
    let forwarder = Forwarder::new(
        cfg.forward_timeout,
        cfg.max_response_body,
        &cfg.target_options,
    );
    let concurrency = cfg.concurrency.max(1);
    let replier = cfg
        .reply
        .then(|| reply::Replier::new(&cfg.channel_url))
        .flatten();
    // 3. the workers' queue: small with a store (the backlog stays on disk), the inbox itself
    // without one
    let queue_len = if disk.is_some() {
        concurrency
    } else {
        cfg.memory_queue.max(1)
    };
    let (job_tx, job_rx) = mpsc::channel(queue_len);
    let (record_tx, record_rx) = mpsc::channel(recorder::BEHIND);
    let ctx = Arc::new(Ctx {
        cfg,
        forwarder,
        handoff: disk
            .is_some()
            .then(|| handoff::Handoff::new(job_tx.clone())),
        recorder: disk.is_some().then_some(record_tx),
        disk,
        out,
        wake: Arc::new(Notify::new()),
        fresh: Default::default(),
        open: AtomicUsize::new(0),
        replier,
    });
    let queue: jobs::Queue = Arc::new(tokio::sync::Mutex::new(job_rx));
    if ctx.recorder.is_some() {
        tasks.push(tokio::spawn(recorder::run(
            ctx.clone(),
            record_rx,
            cancel.clone(),
        )));
    }
    for _ in 0..concurrency {
        tasks.push(tokio::spawn(worker::run(
            ctx.clone(),
            queue.clone(),
            cancel.clone(),
        )));
    }
    // 2. the feeder from the store
    let memory_queue = match &ctx.disk {
        Some(disk) => {
            let (ptx, prx) = mpsc::channel(64);
            tasks.push(tokio::spawn(inbox::feed(
                ctx.clone(),
                disk.clone(),
                job_tx,
                ptx,
                cancel.clone(),
            )));
            tasks.push(tokio::spawn(relay_problems(
                ctx.clone(),
                prx,
                cancel.clone(),
            )));
            None
        }
        None => Some(job_tx),
    };
    // 1. the subscription and intake
    let mut sub = SubscribeConfig::new(ctx.cfg.channel_url.clone());
    sub.keepalive = ctx.cfg.keepalive;
    sub.max_event_bytes = ctx.cfg.max_event_bytes;
    sub.last_event_id = last_event_id;
    sub.token = ctx.cfg.subscriber_token.clone();
    sub.reply = ctx.cfg.reply;
    tasks.push(tokio::spawn(crate::sse::subscribe(
        sub,
        src_tx,
        cancel.clone(),
    )));
    tasks.push(tokio::spawn(intake::run(
        ctx.clone(),
        src_rx,
        memory_queue,
        cancel.clone(),
    )));
    // 4. replays asked for by the user, and Slack's answers
    tasks.push(tokio::spawn(command_loop(
        ctx.clone(),
        cmd_rx,
        cancel.clone(),
    )));
    if let Some(rx) = slack_waits {
        tasks.push(tokio::spawn(slack_waits_loop(
            ctx.clone(),
            rx,
            cancel.clone(),
        )));
    }
    if let Some(rx) = slack_results {
        tasks.push(tokio::spawn(slack_results_loop(
            ctx.clone(),
            rx,
            cancel.clone(),
        )));
    }
    Ok(Pipeline {
        events: ev_rx,
        commands: cmd_tx,
        cancel,
        tasks,
        ctx,
        store_thread,
    })
}

async fn relay_problems(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<String>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            p = rx.recv() => match p { Some(p) => ctx.out.problem(p).await, None => return },
        }
    }
}

async fn slack_waits_loop(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<(String, Duration)>,
    cancel: CancellationToken,
) {
    loop {
        let (id, wait) = tokio::select! {
            _ = cancel.cancelled() => return,
            w = rx.recv() => match w { Some(w) => w, None => return },
        };
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        ctx.out.emit(AppEvent::SlackWaiting { id, wait_ms }).await;
    }
}

async fn slack_results_loop(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<(String, crate::slack::SlackResult)>,
    cancel: CancellationToken,
) {
    loop {
        let (id, result) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = rx.recv() => match r { Some(r) => r, None => return },
        };
        let span = trace::delivery_span(&id);
        async {
            tracing::debug!(ok = result.ok, status = result.status, "Slack answered");
            if let Some(disk) = &ctx.disk {
                let (id2, r) = (id.clone(), result.clone());
                let _ = disk.call(move |s| s.set_slack(&id2, &r)).await;
            }
            ctx.out.slack_result(id, result).await;
        }
        .instrument(span)
        .await;
    }
}

async fn command_loop(ctx: Arc<Ctx>, mut cmds: mpsc::Receiver<Command>, cancel: CancellationToken) {
    loop {
        let cmd = tokio::select! {
            _ = cancel.cancelled() => return,
            c = cmds.recv() => match c { Some(c) => c, None => return },
        };
        match cmd {
            Command::Replay { id, resign, body } => {
                let span = trace::delivery_span(&id);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = replay(&ctx, id, resign, body).instrument(span) => {}
                }
            }
        }
    }
}

async fn replay(ctx: &Ctx, id: String, resign: bool, body: Option<bytes::Bytes>) {
    let found = match (ctx.out.recent(&id), &ctx.disk) {
        (Some(d), _) => Some(d),
        (None, Some(disk)) => {
            let id2 = id.clone();
            disk.call(move |s| s.get(&id2).ok()).await.ok().flatten()
        }
        (None, None) => None,
    };
    let Some(d) = found else {
        ctx.out.problem(format!("replay: no delivery {id}")).await;
        return;
    };
    let mut req = d.request.clone();
    if let Some(b) = body {
        req.body = b;
    }
    if resign {
        let signed = match &ctx.cfg.verifier {
            None => Err("no signing secret configured (--secret SCHEME=...)".to_string()),
            Some(v) => v
                .resign(&mut req, crate::delivery::now_ms())
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = signed {
            ctx.out
                .problem(format!("replay {id}: cannot re-sign: {e}"))
                .await;
            return;
        }
    }
    let extra = if ctx.cfg.replay_header {
        vec![(REPLAY_HEADER.to_string(), d.id.clone())]
    } else {
        vec![]
    };
    let mut a = ctx
        .forwarder
        .send(&ctx.cfg.target, &req, &extra, true)
        .await;
    if let Some(sent) = a.sent.as_mut() {
        sent.resigned = resign;
        if req.body != d.request.body {
            sent.body = Some(req.body.clone());
        }
    }
    tracing::info!(resigned = resign, status = a.status(), "replayed");
    if let Some(disk) = &ctx.disk {
        let (id2, a2) = (d.id.clone(), a.clone());
        let _ = disk.call(move |s| s.add_attempt(&id2, &a2)).await;
    }
    ctx.out.attempt(&d.id, a).await;
}
