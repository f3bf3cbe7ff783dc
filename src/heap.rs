//! When freed memory goes back to the operating system (issue 16): soon after a large payload,
//! but not between the events of a busy stream.
//!
//! Rust's allocator here is the C library's malloc. glibc's defaults pull two ways:
//! - its mmap threshold is dynamic: after a large block (say a 9 MiB body) is freed, blocks up
//!   to that size no longer get their own mapping but come from a heap, which keeps them when
//!   they are freed (the trim threshold rises with it, to twice the block). The forward job
//!   stayed at 44.7 MiB after a 9.4 MiB body had been delivered and dropped;
//! - the heaps of the threads other than the main one are never trimmed from the middle: a
//!   parsed Port payload (many small blocks) leaves pages that free() does not return.
//!
//! Giving memory back at once has its own cost: every page of the next large block is a fresh
//! page the kernel must fault in and clear. A 1 MB event is copied a few times on its way
//! (the relay's frame, the client's line, the decoded body, the target's read), and on a
//! virtual machine those faults made a 1 MB event take 40–75 ms end to end, where warm memory
//! takes a few (perf: half the relay's time in `clear_page_erms`).
//!
//! And glibc gives each thread that allocates its own arena: a block freed on one thread is
//! reused only by allocations in that arena, so each of the forward job's threads (two async
//! workers, the store's thread, blocking helpers) kept its own few MiB of a 1 MB event's
//! copies. One arena for the client's handful of threads took `hookrelay bench`'s store-on
//! peak from 23.4 to 17.3–18.4 MiB (anonymous memory 12 → 6–7 MiB); its 1 MB latency moved
//! within this machine's noise (14–31 ms against 19–20). The relay (`serve`) keeps glibc's
//! arenas: many connections on both workers allocate at once.
//!
//! So [`init`] fixes both thresholds at [`WARM_LIMIT`] (blocks below it come from a heap and
//! are reused while events keep coming; larger ones get their own mapping, unmapped when
//! freed), and [`trim_after`] returns the free pages of every heap once large payloads have
//! stopped for [`QUIET`]: one `malloc_trim` on a small background thread, not one per event.
//! Both are glibc calls: the `libc` crate declares them, no crate wraps them, and swapping the
//! allocator (jemalloc, mimalloc) for two calls would add a C build to every install. On other
//! targets both do nothing.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bodies at least this large are followed by a trim (after [`QUIET`]) when they are dropped.
pub const LARGE_BODY: usize = 256 * 1024;

/// Blocks below this come from malloc's heaps and are reused; larger ones are mapped on their
/// own and unmapped when freed. Also the most free memory a heap keeps at its top before
/// free() shrinks it (glibc's default is 128 KiB, which handed a 1 MB event's pages back after
/// every event).
pub const WARM_LIMIT: usize = 4 << 20;

/// How long after the last large payload the heaps are trimmed. Well within issue 16's "back
/// near idle within 3 s", and long enough that a stream of large events keeps its pages warm.
pub const QUIET: Duration = Duration::from_millis(750);

/// Which kind of process this is, for [`init`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The relay server: many connections at once, glibc's arenas.
    Relay,
    /// Everything else (forward, the UI, history commands): a few threads, one arena.
    Client,
}

/// Fix malloc's thresholds (and for a client, its arenas). Call once, early, before any thread
/// is started (the command line does, for every command).
pub fn init(role: Role) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; glibc documents it as safe to call at any
    // time, from any thread.
    unsafe {
        let limit = WARM_LIMIT as libc::c_int;
        libc::mallopt(libc::M_MMAP_THRESHOLD, limit);
        libc::mallopt(libc::M_TRIM_THRESHOLD, limit);
        if role == Role::Client {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = role;
}

/// After a payload of `bytes` has been dropped: when it was large ([`LARGE_BODY`]), make sure
/// the heaps are trimmed once no large payload has been dropped for [`QUIET`].
pub fn trim_after(bytes: usize) {
    if bytes >= LARGE_BODY {
        static TRIMMER: OnceLock<&'static Trimmer> = OnceLock::new();
        TRIMMER.get_or_init(|| Trimmer::start(trim_now)).schedule();
    }
}

/// A background thread that runs `trim` once things have been quiet for [`QUIET`] since the
/// last [`Trimmer::schedule`].
struct Trimmer {
    due: Mutex<Option<Instant>>,
    wake: Condvar,
}

impl Trimmer {
    fn start(trim: fn()) -> &'static Trimmer {
        let t: &'static Trimmer = Box::leak(Box::new(Trimmer {
            due: Mutex::new(None),
            wake: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("heap-trim".into())
            .stack_size(64 * 1024)
            .spawn(move || t.run(trim));
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no heap trimming thread; freed memory is kept");
        }
        t
    }

    fn schedule(&self) {
        *self.due.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + QUIET);
        self.wake.notify_one();
    }

    fn run(&self, trim: fn()) {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            due = match *due {
                None => self.wake.wait(due).unwrap_or_else(|e| e.into_inner()),
                Some(at) if at > now => {
                    let waited = self.wake.wait_timeout(due, at - now);
                    waited.unwrap_or_else(|e| e.into_inner()).0
                }
                Some(_) => {
                    *due = None;
                    drop(due);
                    trim();
                    self.due.lock().unwrap_or_else(|e| e.into_inner())
                }
            };
        }
    }
}

/// Return the free pages of every malloc heap to the OS now.
pub fn trim_now() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes each arena's lock, as malloc does.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    static TRIMS: Mutex<Option<mpsc::Sender<Instant>>> = Mutex::new(None);

    fn record_trim() {
        if let Some(tx) = TRIMS.lock().unwrap().as_ref() {
            let _ = tx.send(Instant::now());
        }
    }

    #[test]
    fn a_run_of_large_drops_is_followed_by_one_trim_once_quiet() {
        let (tx, rx) = mpsc::channel();
        *TRIMS.lock().unwrap() = Some(tx);
        let t = Trimmer::start(record_trim);
        for _ in 0..3 {
            t.schedule();
        }
        let last = Instant::now();
        let at = rx
            .recv_timeout(QUIET + Duration::from_secs(20))
            .expect("the trim never ran");
        assert!(
            at >= last + QUIET - Duration::from_millis(1),
            "trimmed before quiet"
        );
        // three schedules in a row: one trim, and none after it
        assert!(rx.recv_timeout(QUIET * 2).is_err(), "trimmed twice");
        // a later large drop is trimmed again
        t.schedule();
        rx.recv_timeout(QUIET + Duration::from_secs(20))
            .expect("the second trim never ran");
    }
}
