//! `/metrics`: the relay's counters in the Prometheus/OpenMetrics text format
//! (`prometheus-client`). Gauges of live state are read from the hub at scrape time.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why a webhook was refused.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values as Prometheus users write them
pub(crate) enum Refusal {
    too_large,
    too_slow,
    bad_body,
    memory_busy,
    client_body_bytes,
    rate_limited,
    channel_quota,
    too_many_channels,
    bad_path,
    method,
    shutting_down,
    store_unavailable,
    too_many_held,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: Refusal,
}

/// The relay's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    accepted: Counter,
    refused: Family<ReasonLabel, Counter>,
    streamed: Counter,
    gaps: Counter,
    subscribers_refused: Counter,
    subscribers: Gauge,
    channels: Gauge,
    retained: Gauge,
    frames: Gauge,
    bodies: Gauge,
}

/// Live state sampled at scrape time.
pub(crate) struct Sample {
    pub subscribers: usize,
    pub channels: usize,
    pub retained_bytes: usize,
    pub frame_bytes: usize,
    pub body_bytes: usize,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookrelay");
        let m = Metrics {
            registry: Registry::default(),
            accepted: Counter::default(),
            refused: Family::default(),
            streamed: Counter::default(),
            gaps: Counter::default(),
            subscribers_refused: Counter::default(),
            subscribers: Gauge::default(),
            channels: Gauge::default(),
            retained: Gauge::default(),
            frames: Gauge::default(),
            bodies: Gauge::default(),
        };
        registry.register(
            "webhooks_accepted",
            "Webhooks published to a channel",
            m.accepted.clone(),
        );
        registry.register(
            "webhooks_refused",
            "Webhooks refused, by reason",
            m.refused.clone(),
        );
        registry.register(
            "events_streamed",
            "Webhook events written to subscribers",
            m.streamed.clone(),
        );
        registry.register(
            "gaps",
            "Gap events sent to subscribers (events they missed)",
            m.gaps.clone(),
        );
        registry.register(
            "subscriptions_refused",
            "Subscriptions refused (limits, authentication)",
            m.subscribers_refused.clone(),
        );
        registry.register(
            "subscribers",
            "Open subscriber streams",
            m.subscribers.clone(),
        );
        registry.register("channels", "Channels alive", m.channels.clone());
        registry.register(
            "retained_bytes",
            "Event bytes retained in the channels' rings",
            m.retained.clone(),
        );
        registry.register(
            "frame_bytes",
            "Encoded frame bytes held for subscribers, and the bodies of large events being written to them in pieces",
            m.frames.clone(),
        );
        registry.register(
            "body_bytes",
            "Request body bytes being received",
            m.bodies.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn accepted(&self) {
        self.accepted.inc();
    }

    pub fn refused(&self, reason: Refusal) {
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn streamed(&self) {
        self.streamed.inc();
    }

    pub fn gap(&self) {
        self.gaps.inc();
    }

    pub fn subscription_refused(&self) {
        self.subscribers_refused.inc();
    }

    /// The text exposition, with the live gauges set from `sample`.
    pub fn render(&self, sample: Sample) -> String {
        let set = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.subscribers, sample.subscribers);
        set(&self.channels, sample.channels);
        set(&self.retained, sample.retained_bytes);
        set(&self.frames, sample.frame_bytes);
        set(&self.bodies, sample.body_bytes);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_reason() {
        let m = Metrics::new();
        m.accepted();
        m.accepted();
        m.refused(Refusal::rate_limited);
        let text = m.render(Sample {
            subscribers: 3,
            channels: 2,
            retained_bytes: 10,
            frame_bytes: 0,
            body_bytes: 0,
        });
        assert!(
            text.contains("hookrelay_webhooks_accepted_total 2"),
            "{text}"
        );
        assert!(
            text.contains("hookrelay_webhooks_refused_total{reason=\"rate_limited\"} 1"),
            "{text}"
        );
        assert!(text.contains("hookrelay_subscribers 3"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
