//! Bodies intake has just committed, lent to the feed so the live path never reads a body back
//! from the store. Reading a 1 MB body back took about half a millisecond and a second copy of it
//! in memory, between its commit and its forward (issue 16).
//!
//! Bounded: past [`FreshBodies::LIMIT`] bytes intake keeps no more, and the feed reads those
//! bodies from the store as it always can; a backlog waits on disk, not here. A body the feed
//! never asks for (its delivery left pending, then skipped before its turn) goes when the feed
//! next finds nothing pending.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

/// Bodies by delivery id (see the module).
#[derive(Debug, Default)]
pub(crate) struct FreshBodies {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    bodies: HashMap<String, Bytes>,
    bytes: usize,
}

impl FreshBodies {
    /// Body bytes kept at most.
    pub const LIMIT: usize = 4 << 20;
    /// Bodies kept at most (many empty ones cost their ids).
    pub const MAX_COUNT: usize = 1024;

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a map of shared buffers stays consistent whatever panicked while holding it
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep `body` for delivery `id` (a reference, not a copy), unless that passes a bound.
    /// Returns whether it was kept.
    pub fn keep(&self, id: &str, body: &Bytes) -> bool {
        let mut inner = self.lock();
        if inner.bytes + body.len() > Self::LIMIT || inner.bodies.len() >= Self::MAX_COUNT {
            return false;
        }
        inner.bytes += body.len();
        if let Some(old) = inner.bodies.insert(id.to_string(), body.clone()) {
            inner.bytes -= old.len();
        }
        true
    }

    /// The body kept for `id`, given up.
    pub fn take(&self, id: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        let body = inner.bodies.remove(id)?;
        inner.bytes -= body.len();
        Some(body)
    }

    /// Give up every body (nothing is pending: nobody will ask for them).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.bodies.clear();
        inner.bytes = 0;
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_lent_once_and_bounded_by_bytes_and_count() {
        let fresh = FreshBodies::default();
        let big = Bytes::from(vec![1u8; FreshBodies::LIMIT - 10]);
        assert!(fresh.keep("a", &big));
        assert!(
            !fresh.keep("b", &Bytes::from(vec![2u8; 11])),
            "past the byte bound"
        );
        assert!(fresh.keep("c", &Bytes::from(vec![3u8; 10])));
        assert_eq!(fresh.bytes(), FreshBodies::LIMIT);
        let lent = fresh.take("a").unwrap();
        assert_eq!(lent.as_ptr(), big.as_ptr(), "the same buffer, not a copy");
        assert_eq!(fresh.take("a"), None);
        assert_eq!(fresh.take("b"), None);
        assert_eq!(fresh.bytes(), 10);
        fresh.clear();
        assert_eq!((fresh.take("c"), fresh.bytes()), (None, 0));
        for i in 0..FreshBodies::MAX_COUNT {
            assert!(fresh.keep(&i.to_string(), &Bytes::new()));
        }
        assert!(
            !fresh.keep("one more", &Bytes::new()),
            "past the count bound"
        );
    }
}
