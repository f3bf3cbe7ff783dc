//! The memory backend: this process's rings ([`Hub`]). Fast, and gone with the process.

use std::net::IpAddr;
use std::sync::Arc;

use std::time::Duration;

use super::memory_reply::Replies;
use super::{Backend, BackendError, BoxFut, Cursor, Posted, Published};
use crate::delivery::WebhookRequest;
use crate::reply::ReplyOutcome;
use crate::server::hub::{Batch, Gap, Hub, Subscription};

/// The [`Hub`] as a [`Backend`].
pub(crate) struct MemoryBackend {
    hub: Arc<Hub>,
    replies: Replies,
}

impl MemoryBackend {
    pub fn new(hub: Hub) -> MemoryBackend {
        MemoryBackend {
            hub: Arc::new(hub),
            replies: Replies::default(),
        }
    }
}

impl Backend for MemoryBackend {
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
    ) -> BoxFut<'a, Result<String, BackendError>> {
        let r = self.hub.publish(channel, request, received_at_ms, sender);
        Box::pin(async move { Ok(r?) })
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
        last_event_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Box<dyn Cursor>, BackendError>> {
        let r = self.hub.subscribe(channel, last_event_id);
        Box::pin(async move { Ok(Box::new(r?) as Box<dyn Cursor>) })
    }

    fn ready(&self) -> bool {
        true
    }

    fn start_event_id(&self) -> String {
        format!("{}-0", self.hub.epoch())
    }

    fn describe(&self) -> String {
        format!("memory (epoch {})", self.hub.epoch())
    }

    fn subscriber_count(&self) -> usize {
        self.hub.subscriber_count()
    }

    fn channel_count(&self) -> usize {
        self.hub.channel_count()
    }

    fn retained_bytes(&self) -> usize {
        self.hub.retained_bytes()
    }

    fn drop_cached_frames(&self) {
        self.hub.drop_cached_frames();
    }

    fn evict_idle(&self) {
        self.hub.evict_idle();
    }

    fn add_replier<'a>(
        &'a self,
        channel: &'a str,
        token_hash: String,
    ) -> BoxFut<'a, Result<Box<dyn Send + Sync>, BackendError>> {
        let lease = self.replies.add_replier(channel, token_hash);
        Box::pin(std::future::ready(Ok(lease)))
    }

    fn has_replier<'a>(&'a self, channel: &'a str) -> BoxFut<'a, bool> {
        Box::pin(std::future::ready(self.replies.has_replier(channel)))
    }

    fn publish_held<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
        _hold_for: Duration,
    ) -> BoxFut<'a, Result<Published, BackendError>> {
        let mut waiter = None;
        let r = self
            .hub
            .publish_then(channel, request, received_at_ms, sender, |id| {
                waiter = self.replies.hold(channel, id);
            });
        Box::pin(async move { Ok((r?, waiter)) })
    }

    fn answer<'a>(
        &'a self,
        channel: &'a str,
        id: &'a str,
        token_hash: &'a str,
        outcome: ReplyOutcome,
    ) -> BoxFut<'a, Result<Posted, BackendError>> {
        let posted = self.replies.answer(channel, id, token_hash, outcome);
        Box::pin(std::future::ready(Ok(posted)))
    }
}

impl Cursor for Subscription {
    fn restart_gap(&mut self) -> Option<Gap> {
        self.restart_gap.take()
    }

    fn take(&mut self) -> BoxFut<'_, Batch> {
        let batch = Subscription::take(self);
        Box::pin(std::future::ready(batch))
    }

    fn rewind(&mut self, seq: u64) {
        Subscription::rewind(self, seq);
    }

    fn wait(&mut self) -> BoxFut<'_, ()> {
        Box::pin(Subscription::wait(self))
    }
}
