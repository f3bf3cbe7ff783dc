//! Stage 1, intake: each event from the relay is decoded once and everything known at receipt is
//! derived once (event label, Port event and its one-liner, the verification verdict, pending or
//! held), then a burst of them goes into the inbox in one transaction with the channel's cursor.
//! Intake waits for the inbox: while it waits the subscription stops reading (backpressure).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Ctx;
use super::jobs::Job;
use crate::backoff::Backoff;
use crate::delivery::{Delivery, DeliveryState, event_label, now_ms};
use crate::events::AppEvent;
use crate::port::PortEvent;
use crate::sse::SourceEvent;
use crate::verify::VerifyMode;
use crate::wire;

/// Answers a handed delivery's worker once intake has saved it.
type Saved = tokio::sync::oneshot::Sender<Result<(), crate::store::StoreError>>;

/// Events committed together at most (one transaction per burst keeps up with the relay).
const MAX_BURST: usize = 256;

/// A delivery and what intake derived for its consumers.
struct Received {
    delivery: Delivery,
    port: Option<PortEvent>,
}

/// One burst: deliveries, problems, and the last relay event id they cover.
#[derive(Default)]
struct Burst {
    received: Vec<Received>,
    problems: Vec<String>,
    /// Events that could not be read (relay id, why): their senders are answered `invalid`.
    unreadable: Vec<(Option<String>, String)>,
    cursor: Option<String>,
}

impl Burst {
    fn is_empty(&self) -> bool {
        self.received.is_empty() && self.problems.is_empty() && self.cursor.is_none()
    }
}

pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut src: mpsc::Receiver<SourceEvent>,
    memory_queue: Option<mpsc::Sender<Job>>,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = src.recv() => match ev { Some(ev) => ev, None => return },
        };
        let mut burst = Burst::default();
        let mut next = Some(first);
        while let Some(ev) = next.take() {
            match ev {
                SourceEvent::Webhook { id, data, body_b } => {
                    derive(&ctx, &mut burst, id, &data, body_b)
                }
                other => {
                    // keep the order the user sees: what came before is in first
                    if !commit(&ctx, std::mem::take(&mut burst), &memory_queue, &cancel).await {
                        return;
                    }
                    pass_on(&ctx, other).await;
                }
            }
            if burst.received.len() >= MAX_BURST {
                break;
            }
            next = src.try_recv().ok();
        }
        if !commit(&ctx, burst, &memory_queue, &cancel).await {
            return;
        }
    }
}

async fn pass_on(ctx: &Ctx, ev: SourceEvent) {
    match ev {
        SourceEvent::Conn(c) => ctx.out.emit(AppEvent::Conn(c)).await,
        SourceEvent::Gap(g) => {
            tracing::warn!(gap = %g, "relay gap");
            ctx.out.emit(AppEvent::Gap(g)).await
        }
        SourceEvent::Problem(p) => ctx.out.problem(p).await,
        SourceEvent::ReplyToken(t) => {
            if let Some(r) = &ctx.replier {
                if t.is_none() {
                    ctx.out
                        .problem("--reply: the relay announced no reply secret, so its senders are not held (is it an older hookrelay, or not hookrelay?)".into())
                        .await;
                }
                r.set_token(t);
            }
        }
        SourceEvent::Webhook { .. } => unreachable!("webhooks are derived"),
    }
}

/// Decode once, derive once.
fn derive(
    ctx: &Ctx,
    burst: &mut Burst,
    id: Option<String>,
    data: &str,
    body_b: Option<wire::StreamedBody>,
) {
    if id.is_some() {
        burst.cursor.clone_from(&id);
    }
    let decoded = match wire::decode_event_streamed(data, body_b, ctx.cfg.max_event_bytes) {
        Ok(d) => d,
        Err(e) => {
            burst.problems.push(format!(
                "skipped event {}: {e}",
                id.as_deref().unwrap_or("(no id)")
            ));
            burst.unreadable.push((id, e.to_string()));
            return;
        }
    };
    let mut d = Delivery::new(&ctx.cfg.channel_url, decoded.request, decoded.origin);
    d.relay_event_id = id;
    // No JSON tree for what only needs a label: the label reads a few top-level fields as a
    // stream, and only a Port payload (probed first, without values) is parsed whole.
    d.event = event_label(&d.request);
    let port = crate::port::parse_bytes(&d.request.body);
    d.summary = port.as_ref().map(|p| p.summary());
    if ctx.cfg.verify_mode != VerifyMode::Off
        && let Some(v) = &ctx.cfg.verifier
    {
        d.verification = Some(v.verify(&d.request, &d.origin, now_ms()));
    }
    if let Some(why) = ctx.cfg.target_options.filter.rejects(d.event.as_deref()) {
        d.state = DeliveryState::Skipped;
        d.state_reason = Some(why);
    } else if !ctx.cfg.verify_mode.forwards(d.verification.as_ref()) {
        d.state = DeliveryState::Held;
        d.state_reason = Some(held_reason(&d));
    }
    burst.received.push(Received { delivery: d, port });
}

/// Why `--verify strict` holds a delivery back.
pub fn held_reason(d: &Delivery) -> String {
    match &d.verification {
        Some(v) => format!("--verify strict: {}", v.reason),
        None => "--verify strict: not verified".into(),
    }
}

/// The burst's first pending delivery goes straight to an idle worker when nothing waits ahead
/// of it ([`handoff`](super::handoff)): it is saved `delivering`, and the returned sender says
/// when it is saved (and reported received). Its index in the burst, and that sender.
fn hand_first(ctx: &Ctx, burst: &mut Burst) -> Option<(usize, Saved)> {
    let h = ctx.handoff.as_ref().filter(|h| h.is_clear())?;
    let k = burst
        .received
        .iter()
        .position(|r| r.delivery.state == DeliveryState::Pending)?;
    let d = &mut burst.received[k].delivery;
    let (saved, on_saved) = tokio::sync::oneshot::channel();
    d.state = DeliveryState::Delivering;
    if !h.hand(d.clone(), on_saved) {
        d.state = DeliveryState::Pending;
        return None;
    }
    Some((k, saved))
}

/// Put a burst in the inbox, then tell the consumers. False when the job is stopping.
async fn commit(
    ctx: &Ctx,
    mut burst: Burst,
    memory_queue: &Option<mpsc::Sender<Job>>,
    cancel: &CancellationToken,
) -> bool {
    if burst.is_empty() {
        return true;
    }
    let mut handed = hand_first(ctx, &mut burst);
    if let Some(disk) = &ctx.disk {
        let deliveries: Vec<Delivery> = burst.received.iter().map(|r| r.delivery.clone()).collect();
        let cursor = burst.cursor.clone();
        let channel = ctx.cfg.channel_url.clone();
        let deliveries = Arc::new(deliveries);
        let mut delays = Backoff::new(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(5),
        )
        .delays();
        let mut reported = None::<std::time::Instant>;
        loop {
            let (ds, cur, ch) = (deliveries.clone(), cursor.clone(), channel.clone());
            let fresh = ctx.fresh.clone();
            let done = disk
                .call(move |s| {
                    s.commit_intake(&ds, cur.as_deref().map(|c| (ch.as_str(), c)))?;
                    // lent on the store's thread, before the feed's next read can run
                    for d in ds.iter().filter(|d| d.state == DeliveryState::Pending) {
                        fresh.keep(&d.id, &d.request.body);
                    }
                    Ok::<_, crate::store::StoreError>(())
                })
                .await;
            match done {
                Err(_) => return false,
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    // never dropped: the stream waits until the store takes the burst again
                    if reported.is_none_or(|t| t.elapsed().as_secs() >= 10) {
                        reported = Some(std::time::Instant::now());
                        ctx.out
                            .problem(format!(
                                "store: {e}; {} deliveries wait to be saved (the relay's stream \
                                 is paused until then)",
                                deliveries.len()
                            ))
                            .await;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return false,
                        _ = tokio::time::sleep(delays.next().unwrap_or_default()) => {}
                    }
                }
            }
        }
    }
    for p in burst.problems {
        ctx.out.problem(p).await;
    }
    for (event_id, why) in burst.unreadable {
        ctx.reply_invalid(event_id.as_deref(), why).await;
    }
    let any_pending = burst
        .received
        .iter()
        .any(|r| r.delivery.state == DeliveryState::Pending);
    let largest = burst
        .received
        .iter()
        .map(|r| r.delivery.request.body.len())
        .max()
        .unwrap_or(0);
    for (k, r) in burst.received.into_iter().enumerate() {
        let span = super::trace::delivery_span(&r.delivery.id);
        async {
            tracing::debug!(
                event = r.delivery.event.as_deref(),
                state = %r.delivery.state,
                relay_event_id = r.delivery.relay_event_id.as_deref(),
                "received"
            );
            ctx.out.received(&r.delivery, r.port.as_ref()).await;
            if r.delivery.state == DeliveryState::Held {
                // a held sender learns why at once (`--verify strict`)
                let reason = r.delivery.state_reason.clone().unwrap_or_default();
                let outcome = crate::reply::ReplyOutcome::Held { reason };
                ctx.reply(
                    &r.delivery.id,
                    r.delivery.relay_event_id.as_deref(),
                    outcome,
                )
                .await;
            }
        }
        .instrument(span)
        .await;
        if let Some((_, saved)) = handed.take_if(|(at, _)| *at == k) {
            // saved, and said received: the worker may record its attempt
            let _ = saved.send(Ok(()));
        }
        if let Some(q) = memory_queue
            && r.delivery.state == DeliveryState::Pending
        {
            ctx.open.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            tokio::select! {
                _ = cancel.cancelled() => return false,
                sent = q.send(r.delivery.into()) => if sent.is_err() { return false },
            }
        }
    }
    if any_pending {
        if let Some(h) = &ctx.handoff {
            h.woke_feeder();
        }
        ctx.wake.notify_one();
    }
    // the burst, its copies and its parsed Port events are dropped by now
    crate::heap::trim_after(largest);
    true
}
