//! One memory budget for the relay, in three shares:
//! - half for the channels' rings (events kept for resuming subscribers; the hub evicts the
//!   oldest events beyond it), or on Redis for the events read for subscribers
//!   (`backend/redis_room.rs`),
//! - a quarter for request bodies being received (reserved as bytes arrive),
//! - a quarter for encoded frames queued for subscribers (a frame holds its share until the
//!   connection has written it or is closed; frames of 64 KiB and more may use three quarters
//!   of this share, so stuck subscribers of large events cannot starve small ones). A large
//!   event written in pieces (`frame.rs`) holds its body there instead (once, however many
//!   subscribers it is being written to), and each piece, under 64 KiB, holds its bytes in
//!   the small frames' quarter while it is queued, like a small frame.
//!
//! A subscriber that cannot get room for its next frame within the write timeout is
//! disconnected (it resumes with `Last-Event-ID`), so RSS stays within the budget plus a fixed
//! overhead whatever senders and subscribers do.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Frames at least this large are "large" (see the module docs).
const LARGE_FRAME: usize = 64 * 1024;

/// The shares of one budget.
pub(crate) struct Memory {
    /// Bytes the rings may retain.
    pub ring: usize,
    /// Bytes of request bodies being received, one permit per byte.
    pub bodies: Arc<Semaphore>,
    /// Largest number of body permits.
    pub bodies_total: usize,
    small_frames: Arc<Semaphore>,
    large_frames: Arc<Semaphore>,
    large_total: usize,
    small_total: usize,
}

impl Memory {
    pub fn new(total: usize) -> Memory {
        let total = total.min(Semaphore::MAX_PERMITS);
        let ring = total / 2;
        let bodies_total = total / 4;
        let frames = total - ring - bodies_total;
        let large_total = frames / 4 * 3;
        Memory {
            ring,
            bodies: Arc::new(Semaphore::new(bodies_total)),
            bodies_total,
            small_frames: Arc::new(Semaphore::new(frames - large_total)),
            large_frames: Arc::new(Semaphore::new(large_total)),
            large_total,
            small_total: frames - large_total,
        }
    }

    /// Room for a frame of about `bytes` (its buffer's capacity). Tries at once; when that
    /// fails, calls `shed` (which frees cached frames) and waits at most `wait`.
    pub async fn frame_room(
        &self,
        bytes: usize,
        wait: Duration,
        shed: impl FnOnce(),
    ) -> Option<OwnedSemaphorePermit> {
        let (pool, cap) = if bytes >= LARGE_FRAME {
            (&self.large_frames, self.large_total)
        } else {
            (&self.small_frames, self.small_total)
        };
        room(pool, cap, bytes, wait, shed).await
    }

    /// Room for one piece of a frame written in pieces, in the small frames' pool whatever
    /// its size (the large pool may be all held by the bodies of the frames being written).
    pub async fn piece_room(
        &self,
        bytes: usize,
        wait: Duration,
        shed: impl FnOnce(),
    ) -> Option<OwnedSemaphorePermit> {
        room(&self.small_frames, self.small_total, bytes, wait, shed).await
    }

    /// Frame bytes in use now (for `/metrics`).
    pub fn frames_in_use(&self) -> usize {
        (self.large_total - self.large_frames.available_permits())
            + (self.small_total - self.small_frames.available_permits())
    }

    /// Body bytes being received now (for `/metrics`).
    pub fn bodies_in_use(&self) -> usize {
        self.bodies_total - self.bodies.available_permits()
    }
}

/// Room for `bytes` in `pool` (of `cap` permits): at once, else after `shed`, within `wait`.
async fn room(
    pool: &Arc<Semaphore>,
    cap: usize,
    bytes: usize,
    wait: Duration,
    shed: impl FnOnce(),
) -> Option<OwnedSemaphorePermit> {
    // a frame larger than its whole pool takes the whole pool
    let n = u32::try_from(bytes.clamp(1, cap.max(1))).unwrap_or(u32::MAX);
    if let Ok(p) = Arc::clone(pool).try_acquire_many_owned(n) {
        return Some(p);
    }
    shed();
    tokio::time::timeout(wait, Arc::clone(pool).acquire_many_owned(n))
        .await
        .ok()?
        .ok()
}

/// A frame's bytes that hold their share of the budget until the last copy is dropped.
pub(crate) fn accounted(frame: String, permit: OwnedSemaphorePermit) -> Bytes {
    Bytes::from_owner(Accounted {
        frame,
        _permit: permit,
    })
}

struct Accounted {
    frame: String,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Accounted {
    fn as_ref(&self) -> &[u8] {
        self.frame.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_hold_their_share_until_dropped() {
        let m = Memory::new(4 << 20); // frames: 1 MiB, large 768 KiB
        let wait = Duration::from_millis(20);
        let p = m.frame_room(700 << 10, wait, || {}).await.unwrap();
        let f = accounted("x".repeat(10), p);
        let mut shed = false;
        assert!(
            m.frame_room(700 << 10, wait, || shed = true)
                .await
                .is_none(),
            "a second large frame waits, then gives up"
        );
        assert!(shed, "cached frames are shed first");
        assert!(
            m.frame_room(1000, wait, || {}).await.is_some(),
            "small frames still have room"
        );
        let copy = f.clone();
        drop(f);
        assert!(m.frame_room(700 << 10, wait, || {}).await.is_none());
        drop(copy);
        assert!(m.frame_room(700 << 10, wait, || {}).await.is_some());
        assert_eq!(m.ring, 2 << 20);
    }
}
