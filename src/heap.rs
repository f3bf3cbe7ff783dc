//! Giving freed memory back to the operating system after large payloads (issue 16).
//!
//! Rust's allocator here is the C library's malloc. With glibc, two of its defaults keep the
//! memory of a large webhook long after the webhook is gone:
//! - the mmap threshold is dynamic: after a large block (say a 9 MiB body) is freed, blocks up
//!   to that size no longer get their own mapping but come from a heap, which keeps them when
//!   they are freed (the trim threshold rises with it, to twice the block). The forward job
//!   stayed at 44.7 MiB after a 9.4 MiB body had been delivered and dropped; with a fixed
//!   threshold and the trim below it goes back to 14 MiB (idle: 13);
//! - the heaps of the threads other than the main one are never trimmed from the middle: a
//!   parsed Port payload (many small blocks) leaves pages that free() does not return.
//!
//! [`return_large_frees_to_the_os`] fixes the first for the whole process (called once at
//! start); [`trim_after`] hands back the second after a large payload has been dropped. Both
//! are glibc calls: the `libc` crate declares them, no crate wraps them, and swapping the
//! allocator (jemalloc, mimalloc) for two calls would add a C build to every install. On other
//! targets both do nothing.

/// Bodies at least this large are followed by a [`trim_after`] when they are dropped.
pub const LARGE_BODY: usize = 256 * 1024;

/// Allocations of 1 MiB and more get their own mapping, unmapped when freed: fixed, not raised
/// by glibc after a large free. Call once, early (the command line does, for every command).
pub fn return_large_frees_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; glibc documents it as safe to call at any
    // time, from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// After a payload of `bytes` has been dropped: when it was large ([`LARGE_BODY`]), return the
/// free pages of every malloc heap to the OS. Costs a walk of the free lists (well under a
/// millisecond at hookrelay's sizes), so it is done only after large payloads.
pub fn trim_after(bytes: usize) {
    if bytes < LARGE_BODY {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes each arena's lock, as malloc does.
    unsafe {
        libc::malloc_trim(0);
    }
}
