//! Stage 3, the worker: takes deliveries from the workers' queue in order, marks each
//! `delivering` (queued on the store's thread as its first attempt goes out; intake's commit
//! did it for a delivery handed over), forwards it, retries what may succeed later (refused,
//! reset, timeout, 502/503/504) with the shared backoff for `--retry-for`, and settles the
//! delivery as delivered or failed (with the reason); every attempt and state is written and
//! told by the recorder. An event that cannot be built into a request fails at once and the
//! queue moves on.
//!
//! Every wait races the cancellation token: quitting never waits out a target's timeout. A
//! delivery cut off mid-attempt stays `delivering`, and the next start records that attempt as
//! interrupted and sends it again first.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Ctx;
use super::jobs::{Job, Marking, Queue};
use super::recorder::Settled;
use crate::backoff::Backoff;
use crate::delivery::{Attempt, AttemptOutcome, Delivery, DeliveryState};

pub(crate) async fn run(ctx: Arc<Ctx>, queue: Queue, cancel: CancellationToken) {
    loop {
        let next = {
            let mut q = queue.lock().await;
            tokio::select! {
                _ = cancel.cancelled() => return,
                d = q.recv() => d,
            }
        };
        let Some(Job { delivery: d, saved }) = next else {
            return;
        };
        let busy = ctx.handoff.as_ref().map(|h| h.busy());
        let span = super::trace::delivery_span(&d.id);
        let size = d.request.body.len();
        deliver(&ctx, d, saved, &cancel).instrument(span).await;
        drop(busy);
        crate::heap::trim_after(size); // the delivery and its copies are gone
    }
}

/// What one attempt means for the delivery.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Delivered,
    /// Try again after a backoff.
    Retry,
    Failed(String),
}

/// Judge an attempt: success, worth another try (while `time_left`), or given up (why).
pub fn judge(a: &Attempt, time_left: bool, retry_for: std::time::Duration) -> Verdict {
    if a.is_success() {
        return Verdict::Delivered;
    }
    let what = match &a.outcome {
        AttemptOutcome::Response { status, .. } => format!("the target answered {status}"),
        AttemptOutcome::Error { message, .. } => message.clone(),
    };
    match (a.retryable(), time_left) {
        (true, true) => Verdict::Retry,
        (true, false) => Verdict::Failed(format!(
            "{what} (retried for {})",
            humantime::format_duration(retry_for)
        )),
        (false, _) => Verdict::Failed(what),
    }
}

async fn deliver(ctx: &Ctx, d: Delivery, saved: Option<Marking>, cancel: &CancellationToken) {
    // deliveries left pending by an earlier run are held here if this run is strict (a handed
    // delivery was judged by intake, in this run)
    if saved.is_none() && !ctx.cfg.verify_mode.forwards(d.verification.as_ref()) {
        let reason = super::intake::held_reason(&d);
        ctx.settle(Settled {
            id: d.id.clone(),
            attempt: None,
            state: DeliveryState::Held,
            reason: Some(reason.clone()),
            marking: None,
            then: None,
        })
        .await;
        let outcome = crate::reply::ReplyOutcome::Held { reason };
        ctx.reply(&d.id, d.relay_event_id.as_deref(), outcome).await;
        return;
    }
    // A delivery handed over by intake is on disk once its commit is done, and nothing goes
    // out before: the target sees nothing the store does not have. One read from the inbox is
    // on disk already (`pending`): its move to `delivering` is queued, not waited for, the
    // first attempt goes out while the store's thread records it, and the attempt's outcome,
    // queued later, is recorded after it (the recorder reports a failed move).
    let mut marking = match saved {
        Some(saved) => {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    // nothing went out: still to do. The store runs jobs in order and intake
                    // queues the commit as it hands the delivery over, so this lands after it
                    // (if the commit never comes, there is nothing to move)
                    ctx.set_state(&d.id, DeliveryState::Pending, None).await;
                    return;
                }
                saved = ctx.marked(&d.id, saved) => if !saved { return },
            }
            None
        }
        None => ctx.mark_delivering(&d.id).await,
    };
    let started = Instant::now();
    let mut delays = Backoff::FORWARD.delays();
    let mut tries = 0u32;
    loop {
        tries += 1;
        let send = ctx.forwarder.send(&ctx.cfg.target, &d.request, &[], false);
        let attempt = tokio::select! {
            biased;
            // stays `delivering`: the next start records it as interrupted and sends it again
            _ = cancel.cancelled() => return,
            a = send => a,
        };
        let verdict = judge(
            &attempt,
            started.elapsed() < ctx.cfg.retry_for,
            ctx.cfg.retry_for,
        );
        let judged = match &verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry => "retry",
            Verdict::Failed(_) => "failed",
        };
        tracing::debug!(status = attempt.status(), verdict = judged, "attempt");
        let (state, reason) = match &verdict {
            Verdict::Delivered => (DeliveryState::Delivered, None),
            Verdict::Retry => (DeliveryState::Delivering, None),
            Verdict::Failed(why) => (DeliveryState::Failed, Some(why.clone())),
        };
        // a retry is announced after its attempt, once that is written
        let wait =
            (verdict == Verdict::Retry).then(|| delays.next().unwrap_or(Backoff::FORWARD.max));
        // the delivery settled: its sender (if held) gets the target's answer while the
        // outcome is being saved (the sender does not wait for the store)
        let reply = (wait.is_none() && ctx.replies())
            .then(|| super::reply::outcome_of(&attempt, ctx.cfg.max_response_body));
        let settled = Settled {
            id: d.id.clone(),
            attempt: Some(attempt),
            state,
            reason,
            marking: marking.take(),
            then: wait.map(|wait| crate::events::AppEvent::Retrying {
                id: d.id.clone(),
                tries,
                next_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            }),
        };
        match reply {
            Some(outcome) => {
                tokio::join!(
                    ctx.settle(settled),
                    ctx.reply(&d.id, d.relay_event_id.as_deref(), outcome),
                );
            }
            None => ctx.settle(settled).await,
        }
        let Some(wait) = wait else { return };
        tokio::select! {
            _ = cancel.cancelled() => {
                // the last attempt finished: nothing is in flight, it is simply still to do
                ctx.set_state(&d.id, DeliveryState::Pending, None).await;
                return;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Ctx {
    /// Queue `id`'s move to `delivering` on the store's thread (see [`Ctx::marked`]).
    async fn mark_delivering(&self, id: &str) -> Option<Marking> {
        let disk = self.disk.as_ref()?;
        let id = id.to_string();
        disk.queue(move |s| s.set_state(&id, DeliveryState::Delivering, None))
            .await
            .ok()
    }

    /// Wait for a queued move to `delivering` (or a handed delivery's commit) and report its
    /// failure. False when the store never answered (its thread is gone, or intake stopped).
    pub(super) async fn marked(&self, id: &str, marking: Marking) -> bool {
        match marking.await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.out
                    .problem(format!("store: cannot mark {id} delivering: {e}"))
                    .await;
                true
            }
            Err(_) => false,
        }
    }

    /// Move a delivery to `state` on disk (a no-op without a store).
    pub(super) async fn set_state(&self, id: &str, state: DeliveryState, reason: Option<String>) {
        let Some(disk) = &self.disk else { return };
        let id2 = id.to_string();
        let r = reason.clone();
        if let Ok(Err(e)) = disk
            .call(move |s| s.set_state(&id2, state, r.as_deref()))
            .await
        {
            self.out
                .problem(format!("store: cannot mark {id} {state}: {e}"))
                .await;
        }
    }
}
