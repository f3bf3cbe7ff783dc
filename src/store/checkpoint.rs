//! When the store's write-ahead log is copied into the database file (a checkpoint), and by
//! whom.
//!
//! SQLite checkpoints in the commit that takes the log past 1,000 pages (4 MiB), so every
//! fourth 1 MB webhook waited for four of them to be copied and the file synced before it was
//! forwarded: 75–95 ms on the test machine, where a commit takes one or two. Deferring the
//! checkpoint to a quiet moment on the writer's own thread was the next step, but a load that
//! never pauses still reached the writer's hard bound, and then one commit waited 18 ms for the
//! copy (issue 16).
//!
//! So the forward job's writer never copies the log itself: a [`Checkpointer`] thread, with its
//! own connection to the same file, does. SQLite lets a checkpoint run while another connection
//! commits (a passive checkpoint takes no lock a writer needs), and the writer starts the log
//! over at its next commit once everything in it has been copied. The checkpointer copies when
//! the log holds [`IDLE_PAGES`] or more and the writer has been quiet for [`QUIET`] (the next
//! step of a delivery usually follows within milliseconds, and need not share the disk with the
//! copy), or at once past [`SOON_PAGES`]. The writer checkpoints in a commit only past
//! [`HARD_PAGES`], which a working checkpointer never lets the log reach: it bounds the log if
//! the checkpointer falls behind. Commits are as durable as before: a committed delivery is in
//! the log, and the log is part of the database.

use std::ffi::c_int;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// Pages in the log worth a checkpoint once the writer is quiet (1 MiB of 4 KiB pages).
pub const IDLE_PAGES: i32 = 256;
/// Pages in the log past which the checkpointer copies without waiting for quiet (4 MiB).
pub const SOON_PAGES: i32 = 1_000;
/// Pages in the log past which the commit itself checkpoints (16 MiB). Under a load that never
/// pauses, the checkpointer's copies trail the commits and the log cannot start over (SQLite
/// restarts it only once all of it is copied); this commit then copies what the checkpointer
/// has not yet, and the log starts over.
pub const HARD_PAGES: i32 = 4_000;
/// How long the writer must have been quiet before a checkpoint under [`SOON_PAGES`].
pub const QUIET: Duration = Duration::from_millis(200);

/// What the writer's commits tell the checkpointer.
#[derive(Debug)]
struct Log {
    /// Pages in the log after the last commit, as SQLite reported it.
    pages: i32,
    /// Commits so far (to tell whether one happened during a checkpoint).
    commits: u64,
    /// The checkpointer's copies so far.
    copies: u64,
    /// How long the writer had been quiet when the last copy began.
    quiet_before_copy: Option<Duration>,
    /// The checkpointer is copying.
    copying: bool,
    /// The writer copies (past [`HARD_PAGES`]): the checkpointer starts no copy meanwhile.
    writer_copying: bool,
    last_commit: Instant,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    log: Mutex<Log>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        // a panic elsewhere while holding it leaves plain numbers behind: still usable
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a change (or `timeout`), as [`Shared::lock`] does poisoned or not.
    fn wait<'a>(&self, log: MutexGuard<'a, Log>, timeout: Option<Duration>) -> MutexGuard<'a, Log> {
        match timeout {
            None => self.changed.wait(log).unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                let waited = self.changed.wait_timeout(log, t);
                waited.unwrap_or_else(|p| p.into_inner()).0
            }
        }
    }
}

/// The thread that checkpoints a store's log (see the module). Stops and joins when dropped.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Pages in the log after the writer's last commit (0 after a complete checkpoint that no
    /// commit followed).
    pub fn log_pages(&self) -> i32 {
        self.shared.lock().pages
    }

    /// The checkpointer's copies so far.
    pub fn copies(&self) -> u64 {
        self.shared.lock().copies
    }

    /// Wait until `done` holds of the pages in the log and the copies so far, or `timeout`.
    #[cfg(test)]
    fn wait_until(&self, timeout: Duration, done: impl Fn(i32, u64) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut log = self.shared.lock();
        while !done(log.pages, log.copies) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            log = self.shared.wait(log, Some(left));
        }
        true
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Store {
    /// Take checkpoints off this connection's commits (see the module): from now on a commit
    /// checkpoints only past `HARD_PAGES`, and the returned thread, on a connection of its
    /// own, does the rest until it is dropped. A store in memory has no log; its checkpointer
    /// does nothing.
    pub fn checkpoint_in_background(&mut self) -> Result<Checkpointer, StoreError> {
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                pages: 0,
                commits: 0,
                copies: 0,
                quiet_before_copy: None,
                copying: false,
                writer_copying: false,
                last_commit: Instant::now(),
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let Some(path) = self.path.clone() else {
            return Ok(Checkpointer {
                shared,
                thread: None,
            });
        };
        let other = Store::open(&path)?;
        // it copies pages, it does not read rows: SQLite's smallest useful cache
        other.set_cache_kib(64)?;
        let seen = shared.clone();
        // replaces SQLite's own automatic checkpoint, which is a hook of this kind
        self.conn
            .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, n: c_int| {
                {
                    let mut log = seen.lock();
                    log.pages = n;
                    log.commits += 1;
                    log.last_commit = Instant::now();
                }
                if n >= HARD_PAGES {
                    copy_in_commit(&seen, wal, n);
                } else if n >= IDLE_PAGES {
                    seen.changed.notify_all();
                }
                Ok(())
            }))?;
        let mine = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hookrelay-checkpoint".into())
            .spawn(move || run(&other, &mine))
            .map_err(|source| StoreError::Io { path, source })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Copy what the log holds into the database file without waiting for anyone (passive).
    /// Returns whether all of it was copied.
    fn checkpoint_passive(&self) -> Result<bool, StoreError> {
        let (log, copied): (i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get(1)?, r.get(2)?))
                })?;
        Ok(log >= 0 && copied >= log)
    }
}

/// The writer's own copy, past [`HARD_PAGES`]: the checkpointer's copies trail a writer that
/// never pauses, and SQLite starts the log over only once all of it is copied. So the writer
/// waits for the checkpointer's copy to end, keeps it from starting another, and copies the rest
/// itself (little: the checkpointer copied the most). Nothing is appended meanwhile, so this copy
/// is complete and the next commit starts the log over.
fn copy_in_commit(shared: &Shared, wal: &mut rusqlite::hooks::Wal, pages: c_int) {
    let mut log = shared.lock();
    log.writer_copying = true;
    while log.copying {
        log = shared.wait(log, None);
    }
    drop(log);
    // Never an error from here: SQLite would return it from a COMMIT that has happened, and
    // the caller would commit the same rows again.
    if let Err(e) = wal.checkpoint() {
        tracing::debug!(error = %e, pages, "store: no checkpoint in this commit");
    }
    shared.lock().writer_copying = false;
    shared.changed.notify_all();
}

/// The checkpointer's loop: wait until the log is worth copying, copy, repeat.
fn run(store: &Store, shared: &Shared) {
    lower_priority();
    let mut log = shared.lock();
    loop {
        if log.stop {
            return;
        }
        if log.pages < IDLE_PAGES || log.writer_copying {
            log = shared.wait(log, None);
            continue;
        }
        let quiet_for = log.last_commit.elapsed();
        if log.pages < SOON_PAGES && quiet_for < QUIET {
            log = shared.wait(log, Some(QUIET - quiet_for));
            continue;
        }
        let commits = log.commits;
        log.quiet_before_copy = Some(quiet_for);
        log.copying = true;
        drop(log);
        let copied = store.checkpoint_passive();
        log = shared.lock();
        log.copying = false;
        match copied {
            // Commits during the copy: what they added is copied at the next turn. None: all
            // of it copied, the writer starts the log over at its next commit; or a reader
            // kept part of it, tried again after the next commit.
            Ok(all) => {
                log.copies += 1;
                if log.commits == commits {
                    log.pages = if all {
                        0
                    } else {
                        log.pages.min(IDLE_PAGES - 1)
                    };
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "store checkpoint failed; retried later");
                log.last_commit = Instant::now();
            }
        }
        shared.changed.notify_all();
    }
}

/// The copy can wait for the deliveries: this thread runs at a lower priority (nice 10) than
/// the forward job's, so on a small machine a copy takes the CPU they leave. Linux schedules
/// threads one by one, and `setpriority` of a thread's id sets that thread's nice value.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers.
    let failed = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0
    };
    if failed {
        tracing::debug!("store checkpointer: could not lower its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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

    /// A store on a new file, with its checkpointer.
    fn opened() -> (tempfile::TempDir, std::path::PathBuf, Store, Checkpointer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut store = Store::open(&path).unwrap();
        let cp = store.checkpoint_in_background().unwrap();
        (dir, path, store, cp)
    }

    /// Whether `id` can be read from the database file alone (the log left behind).
    fn in_file(dir: &std::path::Path, path: &std::path::Path, id: &str) -> bool {
        let copy = dir.join("file-only.sqlite");
        for stale in ["file-only.sqlite-wal", "file-only.sqlite-shm"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
        std::fs::copy(path, &copy).unwrap();
        Store::open(&copy).unwrap().get(id).is_ok()
    }

    #[test]
    fn the_checkpointer_copies_the_log_once_the_writer_is_quiet_and_commits_never_do() {
        let (dir, path, store, cp) = opened();
        store
            .insert_delivery(&delivery("small0001", b"x".to_vec()))
            .unwrap();
        assert!(cp.log_pages() > 0 && cp.log_pages() < IDLE_PAGES);
        // two 1 MB bodies: past IDLE_PAGES, under SOON_PAGES, and no checkpoint in the commits
        let started = Instant::now();
        for (i, fill) in [7u8, 9].into_iter().enumerate() {
            store
                .insert_delivery(&delivery(&format!("large000{i}"), vec![fill; 1 << 20]))
                .unwrap();
        }
        let pages = cp.log_pages();
        assert!((500..SOON_PAGES).contains(&pages), "{pages}");
        if started.elapsed() < QUIET {
            assert_eq!(cp.copies(), 0, "copied before the writer was quiet");
        }
        // the checkpointer copies it all; the writer's next commit starts the log over
        assert!(cp.wait_until(Duration::from_secs(10), |pages, _| pages == 0));
        assert!(started.elapsed() >= QUIET);
        assert!(in_file(dir.path(), &path, "large0001"));
        store
            .insert_delivery(&delivery("small0002", b"y".to_vec()))
            .unwrap();
        assert!(cp.log_pages() < IDLE_PAGES, "{}", cp.log_pages());
        let d = Store::open(&dir.path().join("file-only.sqlite"))
            .unwrap()
            .get("large0001")
            .unwrap();
        assert_eq!(&d.request.body[..], &vec![9u8; 1 << 20][..]);
    }

    #[test]
    fn past_soon_pages_the_checkpointer_copies_without_waiting_for_quiet() {
        let (dir, path, store, cp) = opened();
        let mut i = 0;
        while cp.log_pages() < SOON_PAGES {
            assert!(i < 20, "the log did not grow");
            store
                .insert_delivery(&delivery(&format!("big{i:05}"), vec![i as u8; 1 << 20]))
                .unwrap();
            i += 1;
        }
        assert!(cp.wait_until(Duration::from_secs(10), |_, copies| copies > 0));
        let quiet = cp.shared.lock().quiet_before_copy.unwrap();
        assert!(quiet < QUIET, "waited {quiet:?} for quiet");
        assert!(cp.wait_until(Duration::from_secs(10), |pages, _| pages == 0));
        assert!(in_file(dir.path(), &path, "big00000"));
    }

    #[test]
    fn commits_past_the_hard_bound_succeed_while_the_checkpointer_copies() {
        let (_dir, _path, store, cp) = opened();
        // 1 MB commits back to back: the checkpointer copies all along, and the log passes
        // HARD_PAGES, where the writer's own checkpoint finds the checkpointer busy. Each
        // commit must still say it happened (once it said "SQL logic error" and intake, told
        // so, committed the same deliveries again).
        let mut most = 0;
        for i in 0..3 * HARD_PAGES / 256 {
            let d = delivery(&format!("big{i:05}"), vec![i as u8; 1 << 20]);
            store.insert_delivery(&d).unwrap();
            most = most.max(cp.log_pages());
        }
        // one 1 MB commit past the bound at most: the writer's copy starts the log over
        assert!(
            (HARD_PAGES - 300..HARD_PAGES + 300).contains(&most),
            "the log's largest: {most} pages"
        );
        assert!(cp.copies() > 0);
        assert_eq!(
            store.get("big00007").unwrap().request.body[..],
            vec![7u8; 1 << 20][..]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_checkpointer_runs_at_a_lower_priority() {
        let (_dir, _path, _store, _cp) = opened();
        // the thread lowers its own priority first thing: wait for it to show in /proc
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let nice = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .find_map(|task| {
                    let dir = task.ok()?.path();
                    let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                    // thread names are cut to 15 bytes
                    if comm.trim_end() != "hookrelay-check" {
                        return None;
                    }
                    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                    // the fields after the parenthesised name: state is 3rd, nice the 19th
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split(' ').nth(16)?.parse::<i32>().ok()
                });
            if nice == Some(10) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the checkpointer's nice value: {nice:?}"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_store_in_memory_has_nothing_to_checkpoint() {
        let mut store = Store::open_in_memory().unwrap();
        let cp = store.checkpoint_in_background().unwrap();
        store
            .insert_delivery(&delivery("small0001", b"x".to_vec()))
            .unwrap();
        assert_eq!(cp.log_pages(), 0);
        drop(cp);
        assert!(store.get("small0001").is_ok());
    }
}
