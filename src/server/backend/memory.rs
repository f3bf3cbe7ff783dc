//! The memory backend: this process's rings ([`Hub`]). Fast, and gone with the process.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Backend, BackendError, BoxFut, Cursor};
use crate::delivery::WebhookRequest;
use crate::server::hub::{Batch, Gap, Hub, Subscription};

/// The [`Hub`] as a [`Backend`].
pub(crate) struct MemoryBackend {
    hub: Arc<Hub>,
}

impl MemoryBackend {
    pub fn new(hub: Hub) -> MemoryBackend {
        MemoryBackend { hub: Arc::new(hub) }
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
