//! When the store's write-ahead log is copied into the database file (a checkpoint).
//!
//! SQLite checkpoints in the commit that takes the log past 1,000 pages (4 MiB), so every
//! fourth 1 MB webhook waited for four of them to be copied and the file synced before it was
//! forwarded: 75–95 ms on the test machine, where a commit takes a few. The forward job's
//! writer instead checkpoints when it has had nothing to do for a moment and the log holds
//! [`IDLE_PAGES`] or more; a commit checkpoints only past [`HARD_PAGES`], so the log stays
//! bounded under a load that never pauses. Commits are as durable as before: a committed
//! delivery is in the log, and the log is part of the database.

use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use super::{Store, StoreError};

/// Pages in the log worth a checkpoint when the writer is idle (1 MiB of 4 KiB pages).
pub const IDLE_PAGES: i32 = 256;
/// Pages in the log past which the commit itself checkpoints (16 MiB of 4 KiB pages).
pub const HARD_PAGES: i32 = 4_000;

/// How many pages the log held after the last commit, as SQLite reported it.
#[derive(Clone, Debug, Default)]
pub struct LogPages(Arc<AtomicI32>);

impl LogPages {
    pub fn get(&self) -> i32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether the log holds [`IDLE_PAGES`] or more (a checkpoint is worth it).
    pub fn is_behind(&self) -> bool {
        self.get() >= IDLE_PAGES
    }
}

impl Store {
    /// Take checkpoints off the commit path (see the module): from now on this connection
    /// checkpoints in a commit only past [`HARD_PAGES`], and [`Store::checkpoint_if_behind`]
    /// does the rest.
    pub fn defer_checkpoints(&mut self) -> Result<LogPages, StoreError> {
        let pages = LogPages::default();
        let seen = pages.clone();
        // replaces SQLite's own automatic checkpoint, which is a hook of this kind
        self.conn
            .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, n: c_int| {
                seen.0.store(n, Ordering::Relaxed);
                if n >= HARD_PAGES {
                    wal.checkpoint()?;
                }
                Ok(())
            }))?;
        Ok(pages)
    }

    /// Checkpoint when the log holds [`IDLE_PAGES`] or more; returns whether it did. Passive:
    /// it never waits for readers (a reader's snapshot keeps its pages in the log until the
    /// next one).
    pub fn checkpoint_if_behind(&self, pages: &LogPages) -> Result<bool, StoreError> {
        if !pages.is_behind() {
            return Ok(false);
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        pages.0.store(0, Ordering::Relaxed);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{BodyOrigin, Delivery, WebhookRequest};

    fn delivery(id: &str, body: Vec<u8>) -> Delivery {
        let req = WebhookRequest {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: Default::default(),
            body: body.into(),
        };
        let mut d = Delivery::new("http://relay/c", req, BodyOrigin::Exact);
        d.id = id.into();
        d
    }

    #[test]
    fn deferred_checkpoints_wait_for_idle_and_then_fill_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut store = Store::open(&path).unwrap();
        let pages = store.defer_checkpoints().unwrap();
        store
            .insert_delivery(&delivery("small0001", b"x".to_vec()))
            .unwrap();
        assert!(
            pages.get() > 0 && pages.get() < IDLE_PAGES,
            "{}",
            pages.get()
        );
        assert!(!store.checkpoint_if_behind(&pages).unwrap());
        // two 1 MB bodies: past SQLite's own 1,000-page point, and no checkpoint in the commit
        for (i, fill) in [7u8, 9].into_iter().enumerate() {
            store
                .insert_delivery(&delivery(&format!("large000{i}"), vec![fill; 1 << 20]))
                .unwrap();
        }
        assert!(pages.get() >= 500, "{}", pages.get());
        let copy = dir.path().join("file-only.sqlite");
        std::fs::copy(&path, &copy).unwrap();
        assert!(
            Store::open(&copy).unwrap().get("large0001").is_err(),
            "already in the file"
        );

        assert!(store.checkpoint_if_behind(&pages).unwrap());
        std::fs::copy(&path, &copy).unwrap();
        for stale in ["file-only.sqlite-wal", "file-only.sqlite-shm"] {
            let _ = std::fs::remove_file(dir.path().join(stale));
        }
        let d = Store::open(&copy).unwrap().get("large0001").unwrap();
        assert_eq!(&d.request.body[..], &vec![9u8; 1 << 20][..]);
    }
}
