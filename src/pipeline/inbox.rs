//! Stage 2, the inbox: where a delivery waits for the worker.
//!
//! With a store, the inbox IS the store: [`DiskInbox`] owns the SQLite connection on a dedicated
//! thread (never SQLite on the async runtime); intake commits each burst there with the
//! channel's cursor, and `feed` reads pending deliveries back in arrival order, one bounded
//! window at a time, so a backlog of any length waits on disk, not in memory.
//!
//! Without a store (`--no-store`) the inbox is the bounded queue between intake and the workers:
//! when it is full, intake waits, the subscription stops reading the relay's stream
//! (backpressure), and nothing is dropped; what is still queued at exit is lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::jobs::Job;
use crate::store::{SenderLease, Store, StoreError};

type StoreJob = Box<dyn FnOnce(&Store) + Send>;

/// The store's one connection for the forward job, on its own thread. Cheap to clone; the
/// thread ends (after running what is queued) when every clone is dropped.
#[derive(Clone)]
pub struct DiskInbox {
    jobs: mpsc::Sender<StoreJob>,
    path: PathBuf,
    /// This job is the store's one sender while any clone lives.
    _lease: Arc<SenderLease>,
}

/// The inbox thread has stopped (it panicked, or could not start).
#[derive(Debug, thiserror::Error)]
#[error("the store thread has stopped")]
pub struct InboxGone;

impl DiskInbox {
    /// Open (or create, or migrate) the store at `path` on a new thread. The returned handle
    /// joins that thread.
    /// Refused while another process sends from the same store ([`SenderLease`]).
    pub async fn open(path: &Path) -> Result<(DiskInbox, std::thread::JoinHandle<()>), StoreError> {
        let lease = Arc::new(SenderLease::take(path)?);
        let (jobs, mut rx) = mpsc::channel::<StoreJob>(64);
        let (opened_tx, opened) = oneshot::channel();
        let file = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("hookrelay-inbox".into())
            .spawn(move || {
                let opened = Store::open(&file).and_then(|mut s| {
                    // the forward job appends and reads small windows: a small cache suffices
                    s.set_cache_kib(1024)?;
                    // the log is copied into the file on another thread, never in a commit
                    let checkpointer = s.checkpoint_in_background()?;
                    Ok((s, checkpointer))
                });
                let (store, checkpointer) = match opened {
                    Ok(s) => {
                        let _ = opened_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = rx.blocking_recv() {
                    job(&store);
                }
                // stop copying first: the writer, closing, copies what is left
                drop(checkpointer);
            })
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        match opened.await {
            Ok(Ok(())) => Ok((
                DiskInbox {
                    jobs,
                    path: path.to_path_buf(),
                    _lease: lease,
                },
                thread,
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("the store thread stopped while opening"),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the store's thread and wait for its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> R + Send + 'static,
    ) -> Result<R, InboxGone> {
        self.queue(f).await?.await.map_err(|_| InboxGone)
    }

    /// Queue `f` on the store's thread; its result comes on the receiver. The thread runs jobs
    /// in the order they were queued, so whatever is queued after this one sees what it did.
    pub async fn queue<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, InboxGone> {
        let (tx, rx) = oneshot::channel();
        let job: StoreJob = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        self.jobs.send(job).await.map_err(|_| InboxGone)?;
        Ok(rx)
    }
}

/// Stage 2 → 3 (with a store): read pending deliveries of the job's channel in order, one
/// window at a time, into the workers' queue; wait for intake's wake-up when there are none.
/// Bodies intake still holds are taken from it ([`FreshBodies`](super::fresh_bodies)), not
/// read back.
pub(crate) async fn feed(
    ctx: Arc<Ctx>,
    disk: DiskInbox,
    jobs: mpsc::Sender<Job>,
    problems: mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    let mut after = 0i64;
    loop {
        let seen = ctx.handoff.as_ref().map(|h| h.wake_count());
        let (c, ch) = (ctx.clone(), ctx.cfg.channel_url.clone());
        let read = disk
            .call(move |s| {
                let (n, bytes) = (c.cfg.window, c.cfg.window_bytes);
                let items =
                    s.pending_window_lent(Some(&ch), after, n, bytes, |id| c.fresh.take(id));
                if items.as_ref().is_ok_and(Vec::is_empty) {
                    // nothing pending: a body still lent belongs to a delivery that left the
                    // inbox another way (on this thread, so no commit comes in between)
                    c.fresh.clear();
                }
                items
            })
            .await;
        let items = match read {
            Err(InboxGone) => return,
            Ok(Err(e)) => {
                let _ = problems
                    .send(format!("store: cannot read pending deliveries: {e}"))
                    .await;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            Ok(Ok(items)) => items,
        };
        if items.is_empty() {
            if let (Some(h), Some(seen)) = (&ctx.handoff, seen) {
                h.drained(seen);
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ctx.wake.notified() => continue,
            }
        }
        for item in items {
            after = item.seq;
            tokio::select! {
                _ = cancel.cancelled() => return,
                sent = jobs.send(item.delivery.into()) => if sent.is_err() { return },
            }
        }
    }
}
