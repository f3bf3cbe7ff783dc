//! Channels, their rings of recent events, and the subscribers' cursors.
//!
//! One short lock guards every channel. Publishing pushes the event into its channel's ring
//! (evicting the oldest events over the ring's count and byte limits and over the global
//! retained-bytes budget) and then wakes the channel's subscribers. A subscriber is only a
//! cursor (the next sequence number it wants) into the ring: it takes what the ring holds from
//! its cursor on, so a slow subscriber never blocks the sender or the others, holds no queue of
//! its own, and learns of a gap (with counts) when the ring dropped events before it read them.
//!
//! Event ids are `<epoch>-<seq>`: the epoch names this server run, seq counts per channel from 1.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::delivery::WebhookRequest;

mod event;
mod subscription;

pub(crate) use event::{Batch, Event, FRAMES_KEPT, Gap, parse_event_id};
pub(crate) use subscription::Subscription;

/// Most event bytes one [`Subscription::take`] hands out (at least one event), so a subscriber
/// stuck writing holds at most about one large event outside the ring.
const BATCH_BYTES: usize = 1024 * 1024;

/// The limits the hub enforces (a subset of [`super::ServerConfig`]).
#[derive(Clone, Debug)]
pub(crate) struct HubLimits {
    pub max_channels: usize,
    pub max_subscribers_per_channel: usize,
    pub ring_len: usize,
    pub ring_bytes: usize,
    pub retained_bytes_total: usize,
    pub batch: usize,
    pub channel_idle_ttl: Duration,
    /// TTL of a channel created by a publish that nobody subscribed to yet.
    pub publish_channel_ttl: Duration,
    /// Most such channels one sender address may have alive at once.
    pub channels_per_sender: usize,
}

/// Why the hub refused a publish or a subscription.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    #[error(
        "this relay already has {0} channels (its limit); try again later or use an existing channel"
    )]
    TooManyChannels(usize),
    #[error("this channel already has {0} subscribers (its limit)")]
    TooManySubscribers(usize),
    #[error(
        "this address already created {0} channels nobody subscribed to (its limit); subscribe first or use an existing channel"
    )]
    SenderQuota(usize),
}

struct Channel {
    ring: VecDeque<Arc<Event>>,
    ring_bytes: usize,
    last_seq: u64,
    subscribers: usize,
    last_active: Instant,
    wake: watch::Sender<u64>,
    /// The sender whose publish created this channel, while nobody has subscribed to it: the
    /// channel counts against that sender's quota and lives only the short TTL.
    created_by: Option<IpAddr>,
}

impl Channel {
    fn new(created_by: Option<IpAddr>) -> Self {
        Channel {
            ring: VecDeque::new(),
            ring_bytes: 0,
            last_seq: 0,
            subscribers: 0,
            last_active: Instant::now(),
            wake: watch::Sender::new(0),
            created_by,
        }
    }

    /// Whether an idle channel may be dropped now.
    fn expired(&self, now: Instant, limits: &HubLimits) -> bool {
        let ttl = if self.created_by.is_some() {
            limits.publish_channel_ttl
        } else {
            limits.channel_idle_ttl
        };
        self.subscribers == 0 && now.duration_since(self.last_active) >= ttl
    }

    /// The lowest sequence number the ring can still give (`last_seq + 1` when empty).
    fn first_available(&self) -> u64 {
        self.ring.front().map_or(self.last_seq + 1, |e| e.seq)
    }
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Channel>,
    retained: usize,
    gseq: u64,
    /// Publish-created channels nobody subscribed to, per sender address.
    created: HashMap<IpAddr, usize>,
}

impl State {
    fn release_quota(&mut self, by: IpAddr) {
        if let Some(n) = self.created.get_mut(&by) {
            *n -= 1;
            if *n == 0 {
                self.created.remove(&by);
            }
        }
    }

    /// Drop one channel, returning its ring bytes to the budget and its sender's quota.
    fn remove_channel(&mut self, name: &str) {
        if let Some(ch) = self.channels.remove(name) {
            self.retained -= ch.ring_bytes;
            if let Some(by) = ch.created_by {
                self.release_quota(by);
            }
        }
    }
}

/// Who asks for a channel: a sender's publish (counted against its quota) or a subscriber.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Creator {
    Sender(IpAddr),
    Subscriber,
}

/// All channels of one server run.
pub(crate) struct Hub {
    state: Mutex<State>,
    limits: HubLimits,
    epoch: String,
}

impl Hub {
    pub fn new(limits: HubLimits, epoch: String) -> Self {
        Hub {
            state: Mutex::new(State::default()),
            limits,
            epoch,
        }
    }

    /// This server run's epoch (the part of event ids before the last `-`).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a few
        // infallible steps), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Get or create a channel. At the limit, expired idle channels are evicted first; a
    /// subscriber may also evict the oldest channel that only a publish created (so an honest
    /// `/new` always works, whatever senders flood). A sender's new channel counts against its
    /// quota until someone subscribes.
    fn channel_mut<'a>(
        &self,
        st: &'a mut State,
        name: &str,
        who: Creator,
    ) -> Result<&'a mut Channel, HubError> {
        if !st.channels.contains_key(name) {
            if let Creator::Sender(ip) = who
                && st.created.get(&ip).copied().unwrap_or(0) >= self.limits.channels_per_sender
            {
                return Err(HubError::SenderQuota(self.limits.channels_per_sender));
            }
            if st.channels.len() >= self.limits.max_channels {
                evict_idle(st, &self.limits);
            }
            if st.channels.len() >= self.limits.max_channels && matches!(who, Creator::Subscriber) {
                let oldest = st
                    .channels
                    .iter()
                    .filter(|(_, ch)| ch.created_by.is_some() && ch.subscribers == 0)
                    .min_by_key(|(_, ch)| ch.last_active)
                    .map(|(n, _)| n.clone());
                if let Some(victim) = oldest {
                    st.remove_channel(&victim);
                }
            }
            if st.channels.len() >= self.limits.max_channels {
                return Err(HubError::TooManyChannels(self.limits.max_channels));
            }
            let created_by = match who {
                Creator::Sender(ip) => {
                    *st.created.entry(ip).or_default() += 1;
                    Some(ip)
                }
                Creator::Subscriber => None,
            };
            st.channels
                .insert(name.to_string(), Channel::new(created_by));
        }
        if matches!(who, Creator::Subscriber)
            && let Some(by) = st.channels.get_mut(name).and_then(|c| c.created_by.take())
        {
            // subscribed: the channel keeps the long TTL and leaves the sender's quota
            st.release_quota(by);
        }
        Ok(st.channels.get_mut(name).expect("inserted above"))
    }

    /// Publish a webhook to a channel; returns its event id.
    pub fn publish(
        &self,
        channel: &str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
    ) -> Result<String, HubError> {
        self.publish_then(channel, request, received_at_ms, sender, |_| {})
    }

    /// [`publish`](Self::publish), calling `stored` with the event id while the event is in
    /// the ring and before any subscriber can see it (a held sender's wait starts there).
    pub fn publish_then(
        &self,
        channel: &str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
        stored: impl FnOnce(&str),
    ) -> Result<String, HubError> {
        let size = Event::size_of(&request);
        let mut guard = self.lock();
        let st = &mut *guard;
        st.gseq += 1;
        let gseq = st.gseq;
        let ch = self.channel_mut(st, channel, Creator::Sender(sender))?;
        ch.last_seq += 1;
        let seq = ch.last_seq;
        let event = Arc::new(Event {
            seq,
            id: format!("{}-{seq}", self.epoch),
            received_at_ms,
            request,
            size,
            gseq,
            frames: Mutex::new([None, None]),
            pin: Mutex::default(),
        });
        let id = event.id.clone();
        stored(&id);
        ch.ring.push_back(event);
        if let Some(old) = ch.ring.len().checked_sub(FRAMES_KEPT + 1)
            && let Ok(mut frames) = ch.ring[old].frames.try_lock()
        {
            *frames = [None, None];
        }
        ch.ring_bytes += size;
        ch.last_active = Instant::now();
        let mut freed = 0;
        // Keep the newest event even when it alone is over the byte limit.
        while ch.ring.len() > 1
            && (ch.ring.len() > self.limits.ring_len || ch.ring_bytes > self.limits.ring_bytes)
        {
            let old = ch.ring.pop_front().expect("len > 1");
            ch.ring_bytes -= old.size;
            freed += old.size;
        }
        ch.wake.send_replace(seq);
        st.retained = st.retained + size - freed;
        self.enforce_budget(st, gseq);
        Ok(id)
    }

    /// Evict the globally oldest events while over the retained-bytes budget, sparing `keep`.
    fn enforce_budget(&self, st: &mut State, keep: u64) {
        while st.retained > self.limits.retained_bytes_total {
            let oldest = st
                .channels
                .iter()
                .filter_map(|(name, ch)| ch.ring.front().map(|e| (e.gseq, name.clone())))
                .min();
            let Some((gseq, name)) = oldest else { break };
            if gseq == keep {
                break;
            }
            let ch = st.channels.get_mut(&name).expect("found above");
            let old = ch.ring.pop_front().expect("has a front");
            ch.ring_bytes -= old.size;
            st.retained -= old.size;
        }
    }

    /// Register a subscriber. `last_event_id` is the client's `Last-Event-ID`, if any.
    pub fn subscribe(
        self: &Arc<Self>,
        channel: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, HubError> {
        let mut guard = self.lock();
        let max_subs = self.limits.max_subscribers_per_channel;
        let ch = self.channel_mut(&mut guard, channel, Creator::Subscriber)?;
        if ch.subscribers >= max_subs {
            return Err(HubError::TooManySubscribers(max_subs));
        }
        let fresh = ch.last_seq + 1;
        let mut restart_gap = None;
        let next = match last_event_id.map(|raw| (raw, parse_event_id(raw))) {
            None => fresh,
            Some((raw, None)) => {
                tracing::debug!(
                    channel,
                    last_event_id = raw,
                    "unparseable Last-Event-ID; treating as a fresh subscriber"
                );
                fresh
            }
            Some((_, Some((epoch, seq)))) if epoch == self.epoch => {
                if seq >= fresh {
                    tracing::debug!(
                        channel,
                        seq,
                        "Last-Event-ID ahead of this channel; treating as a fresh subscriber"
                    );
                    fresh
                } else {
                    seq + 1
                }
            }
            Some((raw, Some(_))) => {
                restart_gap = Some(Gap {
                    id: self.event_id(0),
                    data: json!({
                        "reason": "relay_restarted",
                        "message": "the relay restarted since this subscriber's last event; events it held before the restart are gone",
                        "last_event_id": raw,
                        "epoch": self.epoch,
                        "missed": null,
                    }),
                });
                1
            }
        };
        ch.subscribers += 1;
        ch.last_active = Instant::now();
        let wake = ch.wake.subscribe();
        Ok(Subscription {
            hub: Arc::clone(self),
            channel: channel.to_string(),
            next,
            wake,
            restart_gap,
        })
    }

    /// Drop channels with no subscribers that have been idle longer than their TTL.
    pub fn evict_idle(&self) -> usize {
        let mut st = self.lock();
        evict_idle(&mut st, &self.limits)
    }

    /// Forget every cached encoded frame (memory is short: frames no subscriber holds are
    /// freed, and are encoded again when needed).
    pub fn drop_cached_frames(&self) {
        let st = self.lock();
        for ch in st.channels.values() {
            // all of them: a lagging subscriber may have cached frames of older events too
            for ev in &ch.ring {
                if let Ok(mut frames) = ev.frames.try_lock() {
                    *frames = [None, None];
                }
            }
        }
    }

    /// Subscribers across all channels.
    pub fn subscriber_count(&self) -> usize {
        self.lock().channels.values().map(|c| c.subscribers).sum()
    }

    /// Bytes retained across all rings.
    pub fn retained_bytes(&self) -> usize {
        self.lock().retained
    }

    /// Number of live channels.
    pub fn channel_count(&self) -> usize {
        self.lock().channels.len()
    }
}

fn evict_idle(st: &mut State, limits: &HubLimits) -> usize {
    let now = Instant::now();
    let expired: Vec<String> = st
        .channels
        .iter()
        .filter(|(_, ch)| ch.expired(now, limits))
        .map(|(n, _)| n.clone())
        .collect();
    for name in &expired {
        st.remove_channel(name);
    }
    if !expired.is_empty() {
        tracing::debug!(evicted = expired.len(), "evicted idle channels");
    }
    expired.len()
}

#[cfg(test)]
mod tests;
