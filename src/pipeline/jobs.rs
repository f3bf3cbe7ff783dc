//! The workers' queue (between stages 2 and 3): what the feeder, or intake's shortcut
//! (`handoff.rs`), puts on it, and what a worker takes.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::delivery::Delivery;

/// The receiving end, shared by the workers.
pub type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>;

/// A queued state change's answer from the store's thread.
pub(crate) type Marking = tokio::sync::oneshot::Receiver<Result<(), crate::store::StoreError>>;

/// A delivery on the workers' queue.
pub struct Job {
    pub delivery: Delivery,
    /// Handed over by intake: answered once intake's commit has saved it as `delivering`.
    /// Otherwise the worker queues that move itself.
    pub(crate) saved: Option<Marking>,
}

impl From<Delivery> for Job {
    fn from(delivery: Delivery) -> Self {
        Job {
            delivery,
            saved: None,
        }
    }
}
