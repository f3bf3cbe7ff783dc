//! Timestamps in signature headers: parsing, the tolerance window, and ages a person can read.

use super::mac::excerpt;

/// Epoch values above this are milliseconds, not seconds (10^12 s is the year 33658).
const MS_THRESHOLD: i64 = 1_000_000_000_000;

/// How a scheme applies its tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    /// Rejected when more than the tolerance away in either direction (Port, Standard Webhooks).
    Symmetric,
    /// Rejected when 'tolerance or more' away in either direction (Scalr: `>= 300 s`).
    SymmetricInclusive,
    /// Only too-old timestamps are rejected (Stripe).
    PastOnly,
}

/// The verdict on a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    Stale,
    Future,
}

/// Parse a Unix timestamp header made of ASCII digits: seconds, or milliseconds when
/// `allow_ms` and the value is above 10^12. Returns milliseconds since the epoch.
pub(crate) fn parse_unix(name: &str, value: &str, allow_ms: bool) -> Result<i64, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name} {} is not a whole number of seconds",
            excerpt(v)
        ));
    }
    let n: i64 = v
        .parse()
        .map_err(|_| format!("{name} {} is too large to be a Unix time", excerpt(v)))?;
    if allow_ms && n > MS_THRESHOLD {
        return Ok(n);
    }
    n.checked_mul(1000)
        .ok_or_else(|| format!("{name} {} is too large to be a Unix time", excerpt(v)))
}

/// Whether a timestamp header value is read as milliseconds (a number above 10^12).
pub(crate) fn is_millis(value: &str) -> bool {
    value.trim().parse::<i64>().is_ok_and(|n| n > MS_THRESHOLD)
}

/// Judge `signed_at_ms` against `now_ms`. Returns the verdict and the age in whole seconds
/// (negative when the timestamp is in the future).
pub(crate) fn judge(
    signed_at_ms: i64,
    now_ms: i64,
    tolerance_secs: i64,
    w: Window,
) -> (Freshness, i64) {
    let age_ms = i128::from(now_ms) - i128::from(signed_at_ms);
    let age_secs = (age_ms / 1000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let tol_ms = i128::from(tolerance_secs) * 1000;
    let (too_old, too_new) = match w {
        Window::Symmetric => (age_ms > tol_ms, -age_ms > tol_ms),
        Window::SymmetricInclusive => (age_ms >= tol_ms, -age_ms >= tol_ms),
        Window::PastOnly => (age_ms > tol_ms, false),
    };
    let f = if too_old {
        Freshness::Stale
    } else if too_new {
        Freshness::Future
    } else {
        Freshness::Fresh
    };
    (f, age_secs)
}

/// A duration a person reads at a glance: `42 s`, `5 min 3 s`, `2 h 3 min`, `3 d 4 h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if secs < 60 {
        format!("{s} s")
    } else if secs < 3600 {
        format!("{m} min {s} s")
    } else if secs < 86_400 {
        format!("{h} h {m} min")
    } else {
        format!("{d} d {h} h")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds() {
        assert_eq!(parse_unix("t", "1700000000", true), Ok(1_700_000_000_000));
        assert_eq!(
            parse_unix("t", "1795550910487", true),
            Ok(1_795_550_910_487)
        );
        // without the ms rule a large value is seconds (and may overflow)
        assert!(parse_unix("t", "9223372036854775807", false).is_err());
        assert!(parse_unix("t", "99999999999999999999", true).is_err());
        assert!(parse_unix("t", "-5", true).is_err());
        assert!(parse_unix("t", " ", true).is_err());
    }

    #[test]
    fn windows() {
        let now = 1_000_000_000;
        assert_eq!(
            judge(now - 300_000, now, 300, Window::Symmetric).0,
            Freshness::Fresh
        );
        assert_eq!(
            judge(now - 300_000, now, 300, Window::SymmetricInclusive).0,
            Freshness::Stale
        );
        assert_eq!(
            judge(now - 301_000, now, 300, Window::Symmetric),
            (Freshness::Stale, 301)
        );
        assert_eq!(
            judge(now + 301_000, now, 300, Window::Symmetric),
            (Freshness::Future, -301)
        );
        assert_eq!(
            judge(now + 3_600_000, now, 300, Window::PastOnly).0,
            Freshness::Fresh
        );
        assert_eq!(
            judge(i64::MAX, i64::MIN, 300, Window::Symmetric).0,
            Freshness::Future
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(42), "42 s");
        assert_eq!(human_duration(303), "5 min 3 s");
        assert_eq!(human_duration(2 * 3600 + 3 * 60 + 9), "2 h 3 min");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }
}
