//! The one backoff policy: exponential from `initial`, doubled each failure, capped at `max`,
//! with jitter, built on the `backon` crate. Forward retries and Slack use it; the SSE reconnect
//! can use it too ([`Backoff::delay`] for "the n-th failure in a row").

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How a sequence of retries waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait (jitter never goes past it).
    pub max: Duration,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// Forward retries while the target is down: 200 ms, doubling, at most 5 s.
    pub const FORWARD: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

    /// The waits, one per failure, forever (the caller decides when to stop).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let max = self.max.max(self.initial);
        ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            // backon's jitter adds up to one more `initial`: keep the cap a cap
            .map(move |d| d.min(max))
    }

    /// The wait after `failures` failures in a row (0: the first wait).
    pub fn delay(&self, failures: u32) -> Duration {
        self.delays()
            .nth(failures.min(64) as usize)
            .unwrap_or(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_jittered() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first: Vec<Duration> = b.delays().take(12).collect();
        assert!(first[0] >= Duration::from_millis(100), "{first:?}");
        assert!(first[0] <= Duration::from_millis(200), "{first:?}");
        assert!(
            first.iter().all(|d| *d <= Duration::from_secs(2)),
            "{first:?}"
        );
        assert!(first[11] >= Duration::from_secs(1), "{first:?}");
        let samples: std::collections::HashSet<_> = (0..20).map(|_| b.delay(3)).collect();
        assert!(samples.len() > 1, "no jitter");
    }
}
