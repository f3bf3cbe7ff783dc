//! The UI's view of Port payloads and JSON diffs: thin calls into [`crate::port`], kept in one
//! place so the views name what they need, not how it is computed.

use serde_json::Value;

use crate::port::diff::Change;

/// The property diff of a Port payload, when the body is one.
pub fn port_changes(body: &[u8]) -> Option<Vec<Change>> {
    crate::port::parse_bytes(body).map(|e| e.changes())
}

/// The one-line summary of a Port payload.
pub fn port_summary(body: &[u8]) -> Option<String> {
    crate::port::parse_bytes(body).map(|e| e.summary())
}

/// A structural diff of two JSON values.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    crate::port::diff::diff(before, after)
}

/// The Slack message hookrelay builds for a Port payload (shown in the Slack tab).
pub fn slack_message(body: &[u8]) -> Option<Value> {
    crate::port::parse_bytes(body).map(|e| crate::slack::build_message(&e))
}
