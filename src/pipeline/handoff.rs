//! Stage 1 → 3, the shortcut: when nothing waits ahead of it, intake hands a fresh delivery
//! straight to an idle worker, saved as `delivering` in the same commit.
//!
//! The usual way from intake to a worker is four steps in a row on two threads: intake's
//! commit (on the store's thread), a wake-up of the feeder, its read of the inbox (the store's
//! thread again), the workers' queue, and then the worker's own move to `delivering` (queued).
//! When the feeder has found the inbox empty since intake last woke it, and no worker holds or
//! waits for a delivery, the next pending delivery has nothing ahead of it: intake commits it
//! as `delivering` (not `pending`, so the feeder never reads it) and puts it on the workers'
//! queue with a receiver that says when that commit is done. No read, no wake-up, one store job
//! fewer.
//!
//! What stays true:
//! - **Order**: the delivery goes on the same queue, behind whatever the feeder already put there
//!   (nothing, by the conditions above), and before anything intake commits after it.
//! - **Saved before the target sees it**: the worker sends nothing before the commit is done
//!   (and intake has reported the delivery received). A crash before it leaves neither the
//!   delivery nor the channel's cursor on disk, and nothing was sent: a relay that resumes
//!   sends the event again. A crash after it finds the delivery `delivering`, and the next start
//!   sends it again first, as for any attempt cut off.
//! - **What the user sees**: received, then the attempt, as by the usual way.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::jobs::{Job, Marking};

/// Whether the next pending delivery may skip the inbox's read.
pub(crate) struct Handoff {
    /// The workers' queue (the feeder holds the other sender).
    jobs: mpsc::Sender<Job>,
    /// How many times intake has woken the feeder for new pending deliveries.
    woken: AtomicU64,
    /// The value of `woken` seen before the feeder's last read that found nothing pending
    /// (`u64::MAX` until one has: an earlier run may have left deliveries).
    drained: AtomicU64,
    /// Workers inside a delivery.
    busy: AtomicUsize,
}

impl Handoff {
    pub(crate) fn new(jobs: mpsc::Sender<Job>) -> Self {
        Handoff {
            jobs,
            woken: AtomicU64::new(0),
            drained: AtomicU64::new(u64::MAX),
            busy: AtomicUsize::new(0),
        }
    }

    /// Intake: new pending deliveries are committed, the feeder is about to be woken.
    pub(crate) fn woke_feeder(&self) {
        self.woken.fetch_add(1, Ordering::AcqRel);
    }

    /// Feeder: read before each read of the inbox, and passed to [`Handoff::drained`] when that
    /// read found nothing.
    pub(crate) fn wake_count(&self) -> u64 {
        self.woken.load(Ordering::Acquire)
    }

    /// Feeder: its read, begun when the wake count was `seen`, found nothing pending, so every
    /// delivery committed pending before that wake-up is on the workers' queue or settled.
    pub(crate) fn drained(&self, seen: u64) {
        self.drained.store(seen, Ordering::Release);
    }

    /// Worker: a delivery taken from the queue; the guard says when it is done with it.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self)
    }

    /// Intake (its only caller, so the wake count cannot move meanwhile): is nothing ahead of a
    /// new delivery? A worker that has just taken a delivery and not yet said so makes this
    /// true a moment early; the handed delivery then waits its turn on the queue, in order.
    pub(crate) fn is_clear(&self) -> bool {
        self.drained.load(Ordering::Acquire) == self.woken.load(Ordering::Acquire)
            && self.busy.load(Ordering::Acquire) == 0
            && self.jobs.capacity() == self.jobs.max_capacity()
    }

    /// Intake: put `delivery` on the workers' queue; `saved` is answered once its commit is
    /// done. False when the queue is full or closed (the delivery goes the usual way).
    pub(crate) fn hand(&self, delivery: crate::delivery::Delivery, saved: Marking) -> bool {
        self.jobs
            .try_send(Job {
                delivery,
                saved: Some(saved),
            })
            .is_ok()
    }
}

/// A worker inside a delivery (see [`Handoff::busy`]).
pub(crate) struct Busy<'a>(&'a Handoff);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{BodyOrigin, Delivery, WebhookRequest};

    fn delivery() -> Delivery {
        let req = WebhookRequest {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![],
            body: bytes::Bytes::new(),
        };
        Delivery::new("http://relay/ch", req, BodyOrigin::Exact)
    }

    #[test]
    fn clear_only_when_the_feeder_has_drained_since_the_last_wake_and_no_worker_is_busy() {
        let (tx, mut rx) = mpsc::channel(1);
        let h = Handoff::new(tx);
        assert!(!h.is_clear(), "not before the feeder's first empty read");
        h.drained(h.wake_count());
        assert!(h.is_clear());
        h.woke_feeder();
        assert!(
            !h.is_clear(),
            "the feeder has not read what intake committed"
        );
        let seen = h.wake_count();
        h.drained(seen);
        assert!(h.is_clear());
        {
            let _busy = h.busy();
            assert!(!h.is_clear(), "a worker is sending");
        }
        assert!(h.is_clear());
        let (_tx, saved) = tokio::sync::oneshot::channel();
        assert!(h.hand(delivery(), saved));
        assert!(!h.is_clear(), "the queue holds a delivery");
        let (_tx, saved) = tokio::sync::oneshot::channel();
        assert!(!h.hand(delivery(), saved), "full");
        assert!(rx.try_recv().unwrap().saved.is_some());
    }
}
