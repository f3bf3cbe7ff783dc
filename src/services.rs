//! The optional services around forwarding: verification, the store and Slack.
//! The pipeline calls these hooks; each does nothing when its service is not configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::delivery::{Attempt, Delivery, WebhookRequest};
use crate::events::AppEvent;
use crate::slack::{SlackConfig, SlackNotifier, SlackResult};
use crate::store::{Store, StoreOp, StoreWriter};
use crate::verify::{Verifier, VerifyMode};

/// How long forwarding waits for a delivery to be on disk before going ahead anyway.
const STORE_WAIT: Duration = Duration::from_secs(1);

/// What the forward job has besides the target.
#[derive(Default)]
pub struct Services {
    slack: Option<SlackNotifier>,
    slack_results: Mutex<Option<mpsc::Receiver<(String, SlackResult)>>>,
    /// Without a webhook: show the message that would have been sent.
    slack_preview: bool,
    store: Option<StoreWriter>,
    /// A second connection for reads (replay of deliveries no longer in memory, the UI).
    reader: Option<Arc<Mutex<Store>>>,
    problems_tx: Option<mpsc::UnboundedSender<String>>,
    problems_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    verifier: Option<Verifier>,
    verify_mode: VerifyMode,
    /// Store inserts queued so far; the n-th delivery queued holds ticket n.
    store_queued: AtomicU64,
    /// Every insert with a ticket up to this one is known to be on disk.
    store_written: AtomicU64,
    /// Tickets of queued deliveries whose forwarding has not yet waited for them, by id.
    store_tickets: Mutex<HashMap<String, u64>>,
    /// Store operations dropped because its queue was full, and when that was last reported:
    /// at most one report a second, so the problem channel stays small under overload.
    store_dropped: AtomicU64,
    store_dropped_reported_ms: std::sync::atomic::AtomicI64,
}

/// Tickets kept for deliveries that are never forwarded (strict verification, full queue) are
/// pruned past this many.
const MAX_TICKETS: usize = 10_000;

impl Services {
    /// Post a Slack message for every Port event (paced, retried, never blocking).
    pub fn with_slack(mut self, cfg: SlackConfig) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        self.slack = Some(SlackNotifier::spawn(cfg, tx));
        self.slack_results = Mutex::new(Some(rx));
        self
    }

    /// Show the Slack message each Port event would produce, without sending it.
    pub fn with_slack_preview(mut self) -> Self {
        self.slack_preview = true;
        self
    }

    /// Keep every delivery and attempt in the store at `path` (one writer thread, a bounded
    /// queue; problems are reported, forwarding goes on).
    pub fn with_store(mut self, path: &std::path::Path) -> Result<Self, crate::store::StoreError> {
        let writer_store = Store::open(path)?;
        let reader = Store::open(path)?;
        // the writer appends and the reader fetches single rows: small caches suffice
        writer_store.set_cache_kib(256)?;
        reader.set_cache_kib(256)?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.store = Some(StoreWriter::spawn(writer_store, 4096, tx.clone()));
        self.reader = Some(Arc::new(Mutex::new(reader)));
        self.problems_tx = Some(tx);
        self.problems_rx = Mutex::new(Some(rx));
        Ok(self)
    }

    /// The read connection to the store, when there is one.
    pub fn store_reader(&self) -> Option<Arc<Mutex<Store>>> {
        self.reader.clone()
    }

    /// Queue an operation; false when it could not be queued (reported).
    fn store_op(&self, op: StoreOp) -> bool {
        let Some(w) = &self.store else { return false };
        let Err(op) = w.try_send(op) else {
            return true;
        };
        let dropped = self.store_dropped.fetch_add(1, Ordering::AcqRel) + 1;
        let now = crate::delivery::now_ms();
        let last = self.store_dropped_reported_ms.load(Ordering::Acquire);
        if now - last < 1000
            || self
                .store_dropped_reported_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        if let Some(p) = &self.problems_tx {
            let what = match &op {
                StoreOp::Insert(d) => format!("delivery {}", d.id),
                StoreOp::Attempt(id, _) => format!("an attempt of {id}"),
                StoreOp::Verification(id, _) | StoreOp::Slack(id, _) | StoreOp::Summary(id, _) => {
                    format!("a detail of {id}")
                }
            };
            let _ = p.send(format!(
                "store: {what} not saved ({dropped} so far): the store's queue is full (the disk is slower than the deliveries)"
            ));
        }
        false
    }

    /// Wait (a bounded time) until the delivery `id` is on disk, so it is saved before the
    /// target sees it. One flush covers every insert queued before it: under a burst, the
    /// deliveries it already covered go ahead without another round trip to the writer.
    pub async fn store_settled(&self, id: &str) {
        let Some(w) = &self.store else { return };
        let ticket = self
            .store_tickets
            .lock()
            .ok()
            .and_then(|mut t| t.remove(id));
        let Some(ticket) = ticket else { return }; // never queued: nothing to wait for
        if self.store_written.load(Ordering::Acquire) >= ticket {
            return;
        }
        // everything queued up to here was sent to the writer before the flush
        let mark = self.store_queued.load(Ordering::Acquire);
        if tokio::time::timeout(STORE_WAIT, w.flush()).await.is_ok() {
            self.store_written.fetch_max(mark, Ordering::AcqRel);
        }
    }

    /// Wait at most `limit` for the store writer to catch up (at shutdown, a longer wait).
    pub async fn flush_store(&self, limit: Duration) {
        if let Some(w) = &self.store {
            let _ = tokio::time::timeout(limit, w.flush()).await;
        }
    }

    /// Verify every delivery (`report`: show the outcome; `strict`: forward only valid ones).
    pub fn with_verifier(mut self, verifier: Verifier, mode: VerifyMode) -> Self {
        self.verifier = Some(verifier);
        self.verify_mode = mode;
        self
    }

    /// Attach what can be known at receipt (the verification outcome).
    pub fn annotate(&self, d: &mut Delivery) {
        if self.verify_mode == VerifyMode::Off {
            return;
        }
        if let Some(v) = &self.verifier {
            d.verification = Some(v.verify(&d.request, &d.origin, crate::delivery::now_ms()));
        }
    }

    /// Whether the delivery may be forwarded (strict verification says no to failures).
    pub fn may_forward(&self, d: &Delivery) -> Result<(), String> {
        if self.verify_mode.forwards(d.verification.as_ref()) {
            return Ok(());
        }
        Err(match &d.verification {
            Some(v) => format!("--verify strict: {}", v.reason),
            None => "--verify strict: not verified".into(),
        })
    }

    pub fn store_delivery(&self, d: &Delivery) {
        if self.store.is_none() {
            return;
        }
        if self.store_op(StoreOp::Insert(Box::new(d.clone()))) {
            let ticket = self.store_queued.fetch_add(1, Ordering::AcqRel) + 1;
            if let Ok(mut t) = self.store_tickets.lock() {
                if t.len() >= MAX_TICKETS {
                    let written = self.store_written.load(Ordering::Acquire);
                    t.retain(|_, n| *n > written);
                    if t.len() >= MAX_TICKETS {
                        t.clear(); // their forwarding will not wait: bounded over exact
                    }
                }
                t.insert(d.id.clone(), ticket);
            }
        }
        if let Some(ev) = crate::port::parse_bytes(&d.request.body) {
            let _ = self.store_op(StoreOp::Summary(d.id.clone(), ev.summary()));
        }
    }

    pub fn store_attempt(&self, id: &str, a: &Attempt) {
        let _ = self.store_op(StoreOp::Attempt(id.to_string(), a.clone()));
    }

    /// Queue the Slack message for a Port event. Returns the message when previewing.
    pub fn notify_slack(&self, d: &Delivery) -> Option<serde_json::Value> {
        if self.slack.is_none() && !self.slack_preview {
            return None;
        }
        let event = crate::port::parse_bytes(&d.request.body)?;
        let message = crate::slack::build_message(&event);
        match &self.slack {
            Some(n) => {
                n.notify(d.id.clone(), message);
                None
            }
            None => Some(message),
        }
    }

    /// Forward results of background services (Slack answers) as app events, until `cancel`.
    /// (It must watch `cancel`: the store writer, which it keeps alive, holds its problem feed.)
    pub fn spawn_result_relay(
        &self,
        events: mpsc::Sender<AppEvent>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let slack = self.slack_results.lock().ok()?.take();
        let problems = self.problems_rx.lock().ok()?.take();
        if slack.is_none() && problems.is_none() {
            return None;
        }
        let store = self.store.clone();
        Some(tokio::spawn(async move {
            let (mut slack, mut problems) = (slack, problems);
            loop {
                let ev = tokio::select! {
                    _ = cancel.cancelled() => return,
                    Some((id, result)) = recv_opt(&mut slack) => {
                        if let Some(w) = &store {
                            let _ = w.try_send(StoreOp::Slack(id.clone(), result.clone()));
                        }
                        AppEvent::Slack { id, result }
                    }
                    Some(p) = recv_opt_unbounded(&mut problems) => {
                        tracing::warn!("{p}");
                        AppEvent::Problem(p)
                    }
                    else => return,
                };
                if events.send(ev).await.is_err() {
                    return;
                }
            }
        }))
    }

    /// A delivery that is no longer in memory.
    pub async fn load(&self, id: &str) -> Option<Delivery> {
        let reader = self.reader.clone()?;
        let id = id.to_string();
        tokio::task::spawn_blocking(move || reader.lock().ok()?.get(&id).ok())
            .await
            .ok()
            .flatten()
    }

    /// Fresh signature headers for a replay.
    pub fn resign(&self, req: &mut WebhookRequest) -> Result<(), String> {
        let Some(v) = &self.verifier else {
            return Err("no signing secret configured (--secret SCHEME=...)".into());
        };
        v.resign(req, crate::delivery::now_ms())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_opt_unbounded<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::BodyOrigin;

    fn delivery(body: &'static [u8]) -> Delivery {
        let req = WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: bytes::Bytes::from_static(body),
        };
        Delivery::new("http://relay/c", req, BodyOrigin::Exact)
    }

    #[tokio::test]
    async fn settled_deliveries_are_on_disk_and_one_flush_covers_those_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let services = Services::default()
            .with_store(&dir.path().join("s.sqlite"))
            .unwrap();
        let (a, b) = (delivery(b"{\"a\":1}"), delivery(b"{\"b\":2}"));
        services.store_delivery(&a);
        services.store_delivery(&b);
        services.store_settled(&a.id).await;
        // the flush for `a` was sent after `b` was queued: both are written
        assert_eq!(services.store_written.load(Ordering::Acquire), 2);
        let reader = services.store_reader().unwrap();
        for d in [&a, &b] {
            let got = reader.lock().unwrap().get(&d.id).unwrap();
            assert_eq!(got.request.body, d.request.body);
        }
        // `b` needs no second round trip, and its ticket is used up
        services.store_settled(&b.id).await;
        assert!(services.store_tickets.lock().unwrap().is_empty());
        // a delivery that was never queued does not wait
        services.store_settled("unknown").await;
    }
}
