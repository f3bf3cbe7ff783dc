//! What Slack answered for one delivery's notification, recorded with the delivery. The
//! notifier (the main crate's `slack` module) produces it; the log, the UI and the store render it.

use serde::{Deserialize, Serialize};

/// What Slack answered for one delivery's notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackResult {
    pub ok: bool,
    pub status: Option<u16>,
    /// Slack's error code (`channel_not_found`, ...), when it gave one.
    pub error: Option<String>,
    /// In words a person understands.
    pub explanation: String,
}
