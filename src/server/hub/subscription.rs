//! A subscriber's place (cursor) in its channel's ring: what it takes, and its wake-ups.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio::sync::watch;

use super::{BATCH_BYTES, Batch, Event, Gap, Hub};

/// A subscriber's place in its channel. Dropping it unregisters the subscriber.
pub(crate) struct Subscription {
    pub(super) hub: Arc<Hub>,
    pub(super) channel: String,
    pub(super) next: u64,
    pub(super) wake: watch::Receiver<u64>,
    /// A gap to announce first (the relay restarted since the client's Last-Event-ID).
    pub restart_gap: Option<Gap>,
}

impl Subscription {
    /// Take what the ring holds from this subscriber's cursor on (at most the batch limit),
    /// with a gap first when the ring no longer holds some of it. Empty when caught up.
    pub fn take(&mut self) -> Batch {
        // Mark the wake-up seen *before* reading the ring: a publish after the read wakes us.
        self.wake.borrow_and_update();
        let hub = Arc::clone(&self.hub);
        let st = hub.lock();
        let Some(ch) = st.channels.get(&self.channel) else {
            return Batch {
                gap: None,
                events: Vec::new(),
            };
        };
        let mut gap = None;
        let first = ch.first_available();
        if self.next < first {
            let (from, to) = (self.next, first - 1);
            gap = Some(Gap {
                id: hub.event_id(to),
                data: json!({
                    "reason": "not_retained",
                    "message": "the relay dropped these events from its buffer before this subscriber received them",
                    "missed_from": hub.event_id(from),
                    "missed_to": hub.event_id(to),
                    "missed": to - from + 1,
                }),
            });
            self.next = first;
        }
        let skip = (self.next - first) as usize;
        let mut bytes = 0;
        let events: Vec<Arc<Event>> = ch
            .ring
            .iter()
            .skip(skip)
            .take(self.hub.limits.batch.max(1))
            .take_while(|e| {
                let first = bytes == 0;
                bytes += e.size;
                first || bytes <= BATCH_BYTES
            })
            .cloned()
            .collect();
        if let Some(last) = events.last() {
            self.next = last.seq + 1;
        }
        Batch { gap, events }
    }

    /// Go back to `seq`: the next [`take`](Self::take) starts there (with a gap if the ring
    /// no longer holds it).
    pub fn rewind(&mut self, seq: u64) {
        self.next = self.next.min(seq);
    }

    /// Wait until something is published after the last [`take`](Self::take).
    pub async fn wait(&mut self) {
        if self.wake.changed().await.is_err() {
            // The sender lives as long as the channel, which lives while we are subscribed.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut st = self.hub.lock();
        if let Some(ch) = st.channels.get_mut(&self.channel) {
            ch.subscribers = ch.subscribers.saturating_sub(1);
            ch.last_active = Instant::now();
        }
    }
}
