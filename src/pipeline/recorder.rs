//! Stage 3 → 4, the recorder: what a worker learned of a delivery (an attempt, the state it
//! leads to) is written on the store's thread while the worker goes on to the next delivery,
//! and told to the consumers (log, UI) once it is on disk, in the order it happened.
//!
//! The worker used to wait for each outcome's transaction, and for the move to `delivering`,
//! before it took the next delivery: two round trips to the store's thread per delivery, and
//! with the store a flood of small events went out at 0.56 of `--no-store`'s rate. Now the
//! worker queues both jobs and hands their answers here. The store's thread runs jobs in the
//! order they were queued, so an outcome is still written after its delivery's commit and its
//! move to `delivering`; and what the consumers are told still comes after it is on disk.
//!
//! At most [`BEHIND`] outcomes wait here; past that the worker waits. So a crash (`kill -9`)
//! finds at most a few outcomes not yet written: their deliveries are `delivering`, and the next
//! start sends them again first, as for any attempt cut off.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::jobs::Marking;
use crate::delivery::{Attempt, DeliveryState};
use crate::events::AppEvent;
use crate::store::StoreError;

/// Outcomes queued at most, not yet on disk and told.
pub(crate) const BEHIND: usize = 2;

/// What a worker learned of a delivery.
pub(crate) struct Settled {
    pub id: String,
    pub attempt: Option<Attempt>,
    pub state: DeliveryState,
    pub reason: Option<String>,
    /// The queued move to `delivering` that came before, when not yet answered.
    pub marking: Option<Marking>,
    /// Told after it (a retry's announcement).
    pub then: Option<AppEvent>,
}

/// A settled delivery and its queued write.
pub(crate) struct Record {
    settled: Settled,
    saving: Option<oneshot::Receiver<Result<(), StoreError>>>,
}

impl Ctx {
    /// Record an attempt (if any) and the state it leads to, and tell the consumers once that
    /// is on disk. With a store the write is queued and the recorder tells (see the module's
    /// documentation); without one the consumers are told at once.
    pub(super) async fn settle(&self, s: Settled) {
        if s.state != DeliveryState::Delivering {
            // the log's line, inside the delivery's span
            match &s.reason {
                Some(why) => tracing::warn!(state = %s.state, reason = %why, "delivery settled"),
                None => tracing::debug!(state = %s.state, "delivery settled"),
            }
        }
        let (Some(disk), Some(recorder)) = (&self.disk, &self.recorder) else {
            return self.tell(s).await;
        };
        let (id, a, state, r) = (s.id.clone(), s.attempt.clone(), s.state, s.reason.clone());
        let saving = disk
            .queue(move |st| match &a {
                Some(a) => st.record_attempt(&id, a, state, r.as_deref()),
                None => st.set_state(&id, state, r.as_deref()),
            })
            .await
            .ok();
        if let Err(mpsc::error::SendError(rec)) = recorder.send(Record { settled: s, saving }).await
        {
            // the recorder has stopped (the job is ending): tell directly
            self.finish(rec).await;
        }
    }

    /// Wait for a record's writes, report what failed, then tell the consumers.
    async fn finish(&self, rec: Record) {
        let Record {
            mut settled,
            saving,
        } = rec;
        if let Some(m) = settled.marking.take() {
            self.marked(&settled.id, m).await;
        }
        if let Some(Ok(Err(e))) = match saving {
            Some(rx) => Some(rx.await),
            None => None,
        } {
            self.out
                .problem(format!(
                    "store: the outcome of {} was not saved: {e}",
                    settled.id
                ))
                .await;
        }
        self.tell(settled).await;
    }

    /// Tell the consumers what was settled.
    async fn tell(&self, s: Settled) {
        if let Some(a) = s.attempt {
            self.out.attempt(&s.id, a).await;
        }
        if s.state != DeliveryState::Delivering {
            if self.disk.is_none() {
                self.open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
            self.out.state(&s.id, s.state, s.reason).await;
        }
        if let Some(ev) = s.then {
            self.out.emit(ev).await;
        }
    }
}

/// The recorder's task: records in order, each told once written. At the end of the job, what
/// is already queued is finished first.
pub(crate) async fn run(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Record>, cancel: CancellationToken) {
    loop {
        let rec = tokio::select! {
            biased;
            rec = rx.recv() => match rec {
                Some(rec) => rec,
                None => return,
            },
            _ = cancel.cancelled() => {
                while let Ok(rec) = rx.try_recv() {
                    ctx.finish(rec).await;
                }
                return;
            }
        };
        ctx.finish(rec).await;
    }
}
