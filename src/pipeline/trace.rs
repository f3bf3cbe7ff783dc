//! One tracing span per delivery, `delivery{id=…}`, around everything the forward job does
//! for it (intake's record, the worker's attempts and outcome, a replay, Slack's answer), so a
//! log can be filtered by delivery: `grep 'delivery{id=abc123'`.

use tracing::Span;

/// The span of delivery `id`. At error level on purpose: a span is recorded only when its own
/// level is enabled, and this one must be whenever any line inside it is shown (a `warn` line
/// under `HOOKRELAY_LOG=warn` still names its delivery).
pub(crate) fn delivery_span(id: &str) -> Span {
    tracing::error_span!("delivery", id = %id)
}
