//! The memory an instance of the Redis backend may hold in events read from Redis for its
//! subscribers: the memory budget's ring share (the rings are not used on Redis), one permit
//! per byte. As with frames (`server/memory.rs`), reads of at most [`READ_BYTES`] and larger
//! single entries draw on separate pools (a quarter and three quarters), so subscribers stuck
//! on large events cannot starve the others' ordinary reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most entry bytes one ordinary read takes (at least one entry), like the memory hub's
/// batches.
pub(super) const READ_BYTES: usize = 1024 * 1024;
/// How long a read waits for room before it gives up until the next wake-up.
const ROOM_WAIT: Duration = Duration::from_secs(5);

pub(super) struct ReadRoom {
    small: Arc<Semaphore>,
    small_total: usize,
    large: Arc<Semaphore>,
    large_total: usize,
}

impl ReadRoom {
    pub(super) fn new(total: usize) -> ReadRoom {
        let total = total.min(Semaphore::MAX_PERMITS);
        let large_total = total / 4 * 3;
        let small_total = total - large_total;
        ReadRoom {
            small: Arc::new(Semaphore::new(small_total)),
            small_total,
            large: Arc::new(Semaphore::new(large_total)),
            large_total,
        }
    }

    /// The most an ordinary read may take.
    pub(super) fn read_bytes(&self) -> usize {
        READ_BYTES.min(self.small_total).max(1)
    }

    /// Room for `bytes` (an ordinary read, or a larger entry; one larger than its whole pool
    /// takes the whole pool), or `None` after [`ROOM_WAIT`].
    pub(super) async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let (pool, cap) = if bytes <= self.read_bytes() {
            (&self.small, self.small_total)
        } else {
            (&self.large, self.large_total)
        };
        let n = u32::try_from(bytes.clamp(1, cap.max(1))).unwrap_or(u32::MAX);
        let room = Arc::clone(pool).acquire_many_owned(n);
        tokio::time::timeout(ROOM_WAIT, room).await.ok()?.ok()
    }

    /// Bytes held now (`/metrics`' retained bytes on Redis).
    pub(super) fn in_use(&self) -> usize {
        (self.small_total - self.small.available_permits())
            + (self.large_total - self.large.available_permits())
    }
}
