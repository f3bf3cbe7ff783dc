//! Where a relay keeps accepted webhooks until its subscribers take them: one trait, two
//! implementations.
//! - [`memory`]: this process's rings ([`super::hub::Hub`]); the default, and the embedded relay.
//! - [`redis`]: one Redis stream per channel, shared by every `serve` instance on that Redis,
//!   so a webhook sent to one instance reaches subscribers of another and survives restarts.
//!
//! The contract both keep (tested against both in `tests.rs`): a publish returns an event id
//! only once the event is stored (the sender's `2xx` depends on it); a subscriber resuming from
//! an id gets every later event exactly once, in order, or a gap (announced, never hidden) for
//! what is no longer retained; a caught-up subscriber waits until something is published.

pub(crate) mod memory;
mod memory_reply;
pub(crate) mod redis;
mod redis_cursor;
mod redis_health;
mod redis_reply;
mod redis_room;
mod redis_shared;
mod redis_store;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use super::hub::{Batch, Gap, HubError};
use crate::delivery::WebhookRequest;
use crate::reply::{NotSent, ReplyOutcome};

/// A boxed future (the trait is used as `dyn Backend`).
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a publish or a subscription was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BackendError {
    /// A limit of the relay (channels, subscribers, quotas).
    #[error(transparent)]
    Refused(#[from] HubError),
    /// The shared store did not take the event: the sender must not get a `2xx`.
    #[error("the relay's event store is unreachable, so the webhook was not stored; retry shortly")]
    Unavailable,
}

/// Accepted webhooks per channel, and subscribers' places in them.
pub(crate) trait Backend: Send + Sync {
    /// Store a webhook in its channel; returns its event id once stored.
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
    ) -> BoxFut<'a, Result<String, BackendError>>;

    /// Register a subscriber resuming after `last_event_id` (the client's `Last-Event-ID`), or
    /// from now on without one.
    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
        last_event_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Box<dyn Cursor>, BackendError>>;

    /// Whether publishes can be stored now (`/readyz`).
    fn ready(&self) -> bool;

    /// An event id before every event this backend holds (a subscriber resuming from it gets
    /// everything retained).
    fn start_event_id(&self) -> String;

    /// What names this backend in the log (the memory epoch, or the Redis address).
    fn describe(&self) -> String;

    /// Subscribers connected to this process.
    fn subscriber_count(&self) -> usize;

    /// Channels this process holds (memory) or serves subscribers of (Redis).
    fn channel_count(&self) -> usize;

    /// Event bytes this process retains.
    fn retained_bytes(&self) -> usize;

    /// Forget cached encoded frames (memory is short).
    fn drop_cached_frames(&self);

    /// Drop idle channels (run periodically).
    fn evict_idle(&self);

    /// Register a replying subscriber of `channel` (`forward --reply`), known by the hash of
    /// its connection's secret, until the returned lease is dropped.
    fn add_replier<'a>(
        &'a self,
        channel: &'a str,
        token_hash: String,
    ) -> BoxFut<'a, Result<Box<dyn Send + Sync>, BackendError>>;

    /// Whether a replying subscriber of `channel` is connected (to any instance).
    fn has_replier<'a>(&'a self, channel: &'a str) -> BoxFut<'a, bool>;

    /// [`publish`](Self::publish), and when a replying subscriber is connected, hold the
    /// sender: atomically with storing the event, mark it awaited (for `hold_for` at most) and
    /// return the [`Waiter`] for its answer.
    fn publish_held<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
        hold_for: Duration,
    ) -> BoxFut<'a, Result<Published, BackendError>>;

    /// A replying subscriber's answer for event `id` of `channel` (first answer wins).
    fn answer<'a>(
        &'a self,
        channel: &'a str,
        id: &'a str,
        token_hash: &'a str,
        outcome: ReplyOutcome,
    ) -> BoxFut<'a, Result<Posted, BackendError>>;
}

/// A stored event's id, and the held sender's wait for its answer (`None`: not held).
pub(crate) type Published = (String, Option<Box<dyn Waiter>>);

/// What became of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Handed to the held sender.
    Sent,
    NotSent(NotSent),
    /// The secret is not one of this channel's replying subscribers'.
    Forbidden,
}

/// A held sender's wait for its answer.
pub(crate) trait Waiter: Send {
    /// The answer, or `None` when `timeout` passed first (a later answer is then refused as
    /// too late). Dropping the waiter before it finishes gives the event up the same way.
    fn wait(self: Box<Self>, timeout: Duration) -> BoxFut<'static, Option<ReplyOutcome>>;
}

/// One subscriber's place in its channel. Dropping it unregisters the subscriber.
pub(crate) trait Cursor: Send {
    /// A gap to announce before anything else (the client's id is from another relay run).
    fn restart_gap(&mut self) -> Option<Gap>;

    /// The next events from this subscriber's place (bounded in count and, roughly, bytes),
    /// with a gap first when some are no longer retained. Empty when caught up, or while the
    /// store is unreachable (the subscriber stays connected and catches up later).
    fn take(&mut self) -> BoxFut<'_, Batch>;

    /// Go back to the event with sequence number `seq` of the last batch (its frame could not
    /// be made): the next [`take`](Self::take) starts there.
    fn rewind(&mut self, seq: u64);

    /// Wait until something may have been published after the last [`take`](Self::take).
    fn wait(&mut self) -> BoxFut<'_, ()>;
}
