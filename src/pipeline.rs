//! The forward job: subscription → decode → verify → store → forward (in order, with retries)
//! → Slack, reporting everything as [`AppEvent`]s to the one loop that shows them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::delivery::{Attempt, Delivery};
use crate::delivery_cache::DeliveryCache;
use crate::events::{AppEvent, Command};
use crate::forward::{Forwarder, REPLAY_HEADER, Target};
use crate::services::Services;
use crate::sse::{SourceEvent, SubscribeConfig};
use crate::wire;

/// How the forward job runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub channel_url: String,
    pub target: Target,
    /// 1 forwards in order, one at a time; more lets deliveries overtake each other.
    pub concurrency: usize,
    /// How long a delivery whose target is down (refused, 502/503/504) is retried.
    pub retry_for: Duration,
    pub forward_timeout: Duration,
    pub max_response_body: usize,
    /// Deliveries waiting to be forwarded, at most.
    pub queue: usize,
    /// Deliveries kept in memory for replay (the store keeps everything).
    pub recent: usize,
    /// Body bytes those deliveries may hold at most.
    pub recent_bytes: usize,
    /// Mark replays with `x-hookrelay-replay-of: <id>`.
    pub replay_header: bool,
    pub keepalive: Duration,
    pub max_event_bytes: usize,
    /// Resume after this event id on the first connection (the embedded relay's start).
    pub last_event_id: Option<String>,
    /// Subscriber token for a relay that requires one (`forward --token`).
    pub subscriber_token: Option<String>,
}

impl PipelineConfig {
    pub fn new(channel_url: impl Into<String>, target: Target) -> Self {
        PipelineConfig {
            channel_url: channel_url.into(),
            target,
            concurrency: 1,
            retry_for: Duration::from_secs(120),
            forward_timeout: Duration::from_secs(30),
            max_response_body: 256 << 10,
            queue: 10_000,
            recent: 1_000,
            recent_bytes: 4 << 20,
            replay_header: true,
            keepalive: Duration::from_secs(30),
            max_event_bytes: 64 << 20,
            last_event_id: None,
            subscriber_token: None,
        }
    }
}

/// A running forward job.
pub struct Pipeline {
    pub events: mpsc::Receiver<AppEvent>,
    pub commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Pipeline {
    /// Stop subscribing and forwarding; wait for the tasks to end and for what was queued for
    /// the store to be written (a bounded wait).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.shared
            .services
            .flush_store(Duration::from_secs(5))
            .await;
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

struct Shared {
    cfg: PipelineConfig,
    forwarder: Forwarder,
    services: Services,
    events: mpsc::Sender<AppEvent>,
    /// Deliveries kept in memory for replay (older ones are replayed from the store).
    recent: Mutex<DeliveryCache>,
}

impl Shared {
    async fn emit(&self, ev: AppEvent) {
        let _ = self.events.send(ev).await;
    }

    fn remember(&self, d: &Delivery) {
        self.recent.lock().expect("recent lock").insert(d.clone());
    }

    fn record_attempt(&self, id: &str, a: &Attempt) {
        if let Some(d) = self.recent.lock().expect("recent lock").get_mut(id) {
            d.attempts.push(a.clone());
        }
        self.services.store_attempt(id, a);
    }
}

/// Start the forward job.
pub fn start(cfg: PipelineConfig, services: Services) -> Pipeline {
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (src_tx, src_rx) = mpsc::channel(1024);
    let (fwd_tx, fwd_rx) = mpsc::channel::<Delivery>(cfg.queue.max(1));
    let cancel = CancellationToken::new();
    let forwarder = Forwarder::new(cfg.forward_timeout, cfg.max_response_body);
    let shared = Arc::new(Shared {
        recent: Mutex::new(DeliveryCache::new(cfg.recent, cfg.recent_bytes)),
        cfg: cfg.clone(),
        forwarder,
        services,
        events: ev_tx,
    });

    let mut sub = SubscribeConfig::new(cfg.channel_url.clone());
    sub.keepalive = cfg.keepalive;
    sub.max_event_bytes = cfg.max_event_bytes;
    sub.last_event_id = cfg.last_event_id.clone();
    sub.token = cfg.subscriber_token.clone();
    let mut tasks = vec![tokio::spawn(crate::sse::subscribe(
        sub,
        src_tx,
        cancel.clone(),
    ))];
    tasks.push(tokio::spawn(intake(shared.clone(), src_rx, fwd_tx)));
    let fwd_rx = Arc::new(tokio::sync::Mutex::new(fwd_rx));
    for _ in 0..cfg.concurrency.max(1) {
        tasks.push(tokio::spawn(forward_worker(
            shared.clone(),
            fwd_rx.clone(),
            cancel.clone(),
        )));
    }
    tasks.push(tokio::spawn(command_loop(
        shared.clone(),
        cmd_rx,
        cancel.clone(),
    )));
    if let Some(task) = shared
        .services
        .spawn_result_relay(shared.events.clone(), cancel.clone())
    {
        tasks.push(task);
    }
    Pipeline {
        events: ev_rx,
        commands: cmd_tx,
        cancel,
        tasks,
        shared,
    }
}

/// Decode, verify, store and queue each webhook event; pass on the rest.
async fn intake(
    shared: Arc<Shared>,
    mut src: mpsc::Receiver<SourceEvent>,
    fwd: mpsc::Sender<Delivery>,
) {
    while let Some(ev) = src.recv().await {
        match ev {
            SourceEvent::Conn(c) => shared.emit(AppEvent::Conn(c)).await,
            SourceEvent::Gap(g) => {
                tracing::warn!("relay gap: {g}");
                shared.emit(AppEvent::Gap(g)).await
            }
            SourceEvent::Problem(p) => {
                tracing::warn!("{p}");
                shared.emit(AppEvent::Problem(p)).await
            }
            SourceEvent::Webhook { id, data } => {
                let decoded = match wire::decode_event(&data, shared.cfg.max_event_bytes) {
                    Ok(d) => d,
                    Err(e) => {
                        let msg =
                            format!("skipped event {}: {e}", id.as_deref().unwrap_or("(no id)"));
                        tracing::warn!("{msg}");
                        shared.emit(AppEvent::Problem(msg)).await;
                        continue;
                    }
                };
                let mut d = Delivery::new(&shared.cfg.channel_url, decoded.request, decoded.origin);
                d.relay_event_id = id;
                shared.services.annotate(&mut d);
                shared.services.store_delivery(&d);
                shared.remember(&d);
                let forward = shared.services.may_forward(&d);
                shared.emit(AppEvent::Delivery(Box::new(d.clone()))).await;
                if let Some(message) = shared.services.notify_slack(&d) {
                    shared
                        .emit(AppEvent::SlackPreview {
                            id: d.id.clone(),
                            message,
                        })
                        .await;
                }
                if let Err(reason) = forward {
                    tracing::warn!("not forwarded {}: {reason}", d.id);
                    shared
                        .emit(AppEvent::Problem(format!(
                            "{} not forwarded: {reason}",
                            d.id
                        )))
                        .await;
                    continue;
                }
                if let Err(e) = fwd.try_send(d) {
                    let d = e.into_inner();
                    let msg = format!(
                        "{} not forwarded: {} deliveries are already waiting for the target (replay it later)",
                        d.id, shared.cfg.queue
                    );
                    tracing::warn!("{msg}");
                    shared.emit(AppEvent::Problem(msg)).await;
                }
            }
        }
    }
}

/// Whether an attempt failed in a way that means "target not there yet", worth retrying.
/// Timeouts are not retried: the target may have acted on the request.
fn retryable(a: &Attempt) -> bool {
    match a.status() {
        Some(s) => matches!(s, 502..=504),
        None => {
            !matches!(&a.outcome, crate::delivery::AttemptOutcome::Error { message } if message.contains("did not answer"))
        }
    }
}

async fn forward_worker(
    shared: Arc<Shared>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>,
    cancel: CancellationToken,
) {
    loop {
        let next = {
            let mut q = queue.lock().await;
            tokio::select! {
                _ = cancel.cancelled() => return,
                d = q.recv() => d,
            }
        };
        let Some(d) = next else { return };
        // saved before the target sees it (a bounded wait: a broken disk does not stop forwarding)
        shared.services.store_settled(&d.id).await;
        let started = Instant::now();
        let mut failures = 0u32;
        loop {
            let a = shared
                .forwarder
                .send(&shared.cfg.target, &d.request, &[], false)
                .await;
            shared.record_attempt(&d.id, &a);
            let again = retryable(&a) && started.elapsed() < shared.cfg.retry_for;
            shared
                .emit(AppEvent::Attempt {
                    id: d.id.clone(),
                    attempt: a,
                })
                .await;
            if !again {
                break;
            }
            let delay = crate::sse::client::backoff(
                Duration::from_millis(200),
                Duration::from_secs(5),
                failures,
            );
            failures += 1;
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

async fn command_loop(
    shared: Arc<Shared>,
    mut cmds: mpsc::Receiver<Command>,
    cancel: CancellationToken,
) {
    loop {
        let cmd = tokio::select! {
            _ = cancel.cancelled() => return,
            c = cmds.recv() => match c { Some(c) => c, None => return },
        };
        match cmd {
            Command::Replay { id, resign, body } => {
                let found = shared.recent.lock().expect("recent lock").get(&id).cloned();
                let found = match found {
                    Some(d) => Some(d),
                    None => shared.services.load(&id).await,
                };
                let Some(d) = found else {
                    shared
                        .emit(AppEvent::Problem(format!("replay: no delivery {id}")))
                        .await;
                    continue;
                };
                let mut req = d.request.clone();
                if let Some(b) = body {
                    req.body = b;
                }
                if resign && let Err(e) = shared.services.resign(&mut req) {
                    shared
                        .emit(AppEvent::Problem(format!(
                            "replay {id}: cannot re-sign: {e}"
                        )))
                        .await;
                    continue;
                }
                let extra = if shared.cfg.replay_header {
                    vec![(REPLAY_HEADER.to_string(), d.id.clone())]
                } else {
                    vec![]
                };
                let a = shared
                    .forwarder
                    .send(&shared.cfg.target, &req, &extra, true)
                    .await;
                shared.record_attempt(&d.id, &a);
                shared
                    .emit(AppEvent::Attempt {
                        id: d.id.clone(),
                        attempt: a,
                    })
                    .await;
            }
        }
    }
}
