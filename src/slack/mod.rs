//! Slack incoming-webhook notifications for Port events (issue 5).
//!
//! - [`message`]: the Block Kit message for a Port event, kept within Slack's limits, and a
//!   readable preview (`--slack-preview`).
//! - [`client`]: the paced, retrying notifier that never blocks the relay.
//! - [`errors`]: Slack's answers in words a person understands.
//! - [`redact`]: the webhook URL is a secret; this is how it is shown.

pub mod client;
pub mod errors;
pub mod message;
pub mod redact;

pub use crate::delivery::SlackResult;
pub use client::{SlackConfig, SlackNotifier, Waits};
pub use errors::explain;
pub use message::{build_message, check_limits, preview_text};
pub use redact::redact_webhook_url;
