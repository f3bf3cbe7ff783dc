//! A process's resident memory, read from `/proc/PID/status` (Linux): for `hookrelay bench`,
//! the examples and the tests that bound memory. One reader of that file, so every figure
//! means the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// One field of a `/proc/PID/status` text, in KiB (`"VmHWM:"`, `"VmRSS:"`, `"RssAnon:"`, ...).
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.split_whitespace().next()?.parse().ok()
}

/// One field of process `pid`'s status, in KiB; `None` when /proc cannot tell (no such
/// process, another system).
pub fn kib(pid: u32, field: &str) -> Option<u64> {
    status_kib(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

/// A process's resident memory now and its high-water mark, in KiB (VmRSS, VmHWM); zeros when
/// /proc cannot tell.
pub fn mem_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name| status_kib(&status, name).unwrap_or(0);
    (field("VmRSS:"), field("VmHWM:"))
}

/// The largest anonymous (heap, stacks) and file-backed (the binary's and libraries' pages)
/// resident memory seen, in KiB: VmHWM says only their largest sum.
#[derive(Default)]
pub struct RssParts {
    anon: AtomicU64,
    file: AtomicU64,
}

impl RssParts {
    /// Sample process `pid`'s RssAnon and RssFile every few milliseconds (on the current tokio
    /// runtime) until the process is gone or the caller drops its handle.
    pub fn sample(pid: u32) -> Arc<RssParts> {
        let parts = Arc::new(RssParts::default());
        let sampled = parts.clone();
        tokio::spawn(async move {
            let path = format!("/proc/{pid}/status");
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            while Arc::strong_count(&sampled) > 1 {
                tick.tick().await;
                let Ok(status) = tokio::fs::read_to_string(&path).await else {
                    return;
                };
                let field = |name| status_kib(&status, name).unwrap_or(0);
                sampled.anon.fetch_max(field("RssAnon:"), Relaxed);
                sampled.file.fetch_max(field("RssFile:"), Relaxed);
            }
        });
        parts
    }

    /// The peaks seen so far, in KiB: (anonymous, file-backed).
    pub fn peaks(&self) -> (u64, u64) {
        (self.anon.load(Relaxed), self.file.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_name_in_kib() {
        let status =
            "Name:\thookrelay\nVmHWM:\t   13276 kB\nVmRSS:\t   12000 kB\nRssAnon:\t    1748 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(13276));
        assert_eq!(status_kib(status, "RssAnon:"), Some(1748));
        assert_eq!(status_kib(status, "RssFile:"), None);
        let me = std::process::id();
        assert!(kib(me, "VmRSS:").is_some_and(|k| k > 0));
        let (rss, hwm) = mem_kib(me);
        assert!(rss > 0 && hwm >= rss, "{rss} {hwm}");
    }
}
