//! Values as a person reads them: times, sizes and verdict words, written one way for the log,
//! the history commands, the exports and the UI.

use chrono::{DateTime, Local, SecondsFormat};

use crate::verify::Outcome;

/// One word for a verification outcome, as the log, `list`, `show` and the UI badge show it.
pub fn outcome_word(o: Outcome) -> &'static str {
    use Outcome::*;
    match o {
        Valid => "valid",
        Invalid => "INVALID",
        Stale => "stale",
        Future => "future",
        MissingHeader => "missing-header",
        MalformedHeader => "malformed",
        NoSecret => "no-secret",
        Reserialized => "re-serialized",
        Unsigned => "unsigned",
        ValidAfterReserialization => "rebuilt-only",
    }
}

/// A byte count: `512 B`, `1.5 KiB`, `9.4 MiB`.
pub fn size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// `2 s`, `0.5 s`: a wait as a person reads it.
pub fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) || ms >= 10_000 {
        format!("{} s", (ms + 500) / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A time of day in the local zone with milliseconds, `15:04:05.123` (log lines).
pub fn local_clock(ms: i64) -> String {
    local(ms, "%H:%M:%S%.3f")
}

/// A local date and time to the second, `2024-01-02 15:04:05` (history commands).
pub fn local_date_time(ms: i64) -> String {
    local(ms, "%Y-%m-%d %H:%M:%S")
}

/// An RFC 3339 UTC timestamp with milliseconds, `2024-01-02T15:04:05.123Z` (JSON and HAR).
pub fn iso_utc(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `ms` shifted by a fixed UTC offset and formatted with `fmt` (the UI takes its offset once
/// at start, so a render is a pure function of its state); `?` when out of range.
pub fn with_offset(ms: i64, offset_s: i32, fmt: &str) -> String {
    DateTime::from_timestamp_millis(ms + offset_s as i64 * 1000)
        .map(|t| t.format(fmt).to_string())
        .unwrap_or_else(|| "?".into())
}

fn local(ms: i64, fmt: &str) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&Local).format(fmt).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(9_856_000), "9.4 MiB");
    }

    #[test]
    fn utc_and_offset_times_are_fixed_points() {
        assert_eq!(iso_utc(1_704_207_845_123), "2024-01-02T15:04:05.123Z");
        assert_eq!(with_offset(1_704_207_845_123, 3600, "%H:%M:%S"), "16:04:05");
        assert_eq!(with_offset(i64::MAX, 0, "%H"), "?");
    }
}
