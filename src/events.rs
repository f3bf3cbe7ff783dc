//! Messages between the IO tasks (subscription, forwarder, store, Slack) and the one loop that
//! shows them (the TUI, or the plain / JSON log). IO tasks never touch the terminal.

use bytes::Bytes;

use crate::delivery::{Attempt, Delivery, DeliveryState};
use crate::slack::SlackResult;

/// The subscription's connection state, as the header of the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    /// Lost; the next try is in `retry_in_ms`. `reason` says why (refused, 503, watchdog, ...).
    Reconnecting {
        retry_in_ms: u64,
        reason: String,
    },
    /// The relay refused the channel on the first connection: retrying cannot help, the
    /// subscription has stopped and `forward` exits with this error.
    Refused(Refusal),
}

/// A first-connection answer that means the channel URL or its credentials are wrong. After a
/// successful connection the same answers are retried (a relay restarting, a proxy in between).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the relay has no channel {url} (HTTP 404): check the URL")]
    NoChannel { url: String },
    #[error(
        "the relay refused the subscription to {url} (HTTP {status}): it needs a token or other credentials"
    )]
    Unauthorized { url: String, status: u16 },
    /// `location` is the relay's text, already made safe to show.
    #[error(
        "the relay redirects {url} to another origin ({location}); not followed: use that URL if you trust it"
    )]
    CrossOriginRedirect { url: String, location: String },
}

/// Something happened that the user should see.
#[derive(Clone, Debug)]
pub enum AppEvent {
    Conn(ConnState),
    /// A new delivery (verification already attached).
    Delivery(Box<Delivery>),
    /// An attempt finished for a delivery (forward, retry or replay).
    Attempt {
        id: String,
        attempt: Attempt,
    },
    /// A try failed and the delivery will be tried again: not failed (yet). `tries` counts the
    /// tries of this run so far; the next is in `next_in_ms`.
    Retrying {
        id: String,
        tries: u32,
        next_in_ms: u64,
    },
    /// Slack answered for a delivery.
    Slack {
        id: String,
        result: SlackResult,
    },
    /// Slack's rate limit (429) makes the delivery's message wait this long before its next try.
    SlackWaiting {
        id: String,
        wait_ms: u64,
    },
    /// The Slack message a delivery would have produced (`--slack-preview`, no webhook).
    SlackPreview {
        id: String,
        message: serde_json::Value,
    },
    /// A delivery moved in the inbox (delivered, failed with the reason, held, ...).
    State {
        id: String,
        state: DeliveryState,
        reason: Option<String>,
    },
    /// The forward job started on a store that had work left from an earlier run.
    Resumed {
        /// Deliveries waiting from earlier runs (they go out first, in order).
        pending: usize,
        /// Of those, the ones an earlier run was sending when it stopped (sent again).
        interrupted: usize,
        /// The relay event id the subscription resumes after.
        last_event_id: Option<String>,
    },
    /// A gap the relay announced: events that could not be recovered.
    Gap(String),
    /// A problem that did not stop anything: a malformed event, a store error, ...
    Problem(String),
    /// The dev server's answer went back to the relay for the sender (`forward --reply`).
    Replied {
        id: String,
        record: crate::reply::ReplyRecord,
    },
}

/// What the user asks the IO side to do.
#[derive(Clone, Debug)]
pub enum Command {
    /// Send a captured delivery to the target again, re-signed when `resign`, with an edited
    /// body when `body` is given.
    Replay {
        id: String,
        resign: bool,
        body: Option<Bytes>,
    },
}
