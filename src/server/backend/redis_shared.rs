//! What one instance of the Redis backend shares between its subscribers' cursors and its
//! own tasks: the channels it has subscribers on (and their wake-ups), and Redis's health.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::{Notify, watch};

/// How often a subscriber reads its stream without an announcement.
pub(super) const POLL: Duration = Duration::from_secs(2);

/// Channels this instance has subscribers on, and their wake-ups.
#[derive(Default)]
pub(super) struct Local {
    pub(super) channels: HashMap<String, LocalChannel>,
}

pub(super) struct LocalChannel {
    pub(super) subscribers: usize,
    pub(super) wake: watch::Sender<u64>,
}

/// Whether Redis answers, logged once per change.
pub(super) struct Health {
    /// 0 unknown, 1 up, 2 down.
    pub(super) state: AtomicU8,
    pub(super) url: String,
}

impl Health {
    pub(super) fn ok(&self) {
        match self.state.swap(1, Ordering::SeqCst) {
            0 => tracing::info!(redis = %self.url, "connected to Redis"),
            2 => tracing::warn!(redis = %self.url, "Redis is reachable again: accepting webhooks"),
            _ => {}
        }
    }

    pub(super) fn failed(&self, e: &redis::RedisError) {
        if self.state.swap(2, Ordering::SeqCst) != 2 {
            tracing::error!(
                redis = %self.url,
                error = %e,
                "Redis is unreachable: webhooks get 503 until it is back; subscribers stay connected"
            );
        }
    }

    pub(super) fn up(&self) -> bool {
        self.state.load(Ordering::SeqCst) == 1
    }
}

pub(super) struct Shared {
    pub(super) local: Mutex<Local>,
    /// Bumped when every local subscriber should look (Redis reconnected).
    pub(super) wake_all: watch::Sender<u64>,
    pub(super) health: Health,
    /// The pub/sub channel announcing answers, and the held senders here by reply key.
    pub(super) replied: String,
    pub(super) waiting: Mutex<HashMap<String, Arc<Notify>>>,
    /// Replying subscribers connected here (channel, secret hash): their registrations are
    /// renewed while they stay.
    pub(super) repliers: Mutex<HashMap<(String, String), usize>>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pushed message from Redis: wake the subscribers it concerns.
    pub(super) fn on_push(&self, info: PushInfo) {
        match info.kind {
            PushKind::Message if matches!(info.data.first(), Some(Value::BulkString(c)) if *c == self.replied.as_bytes()) => {
                if let Some(Value::BulkString(key)) = info.data.get(1)
                    && let Ok(key) = std::str::from_utf8(key)
                    && let Some(n) = self
                        .waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(key)
                {
                    n.notify_one();
                }
            }
            PushKind::Message => {
                if let Some(Value::BulkString(name)) = info.data.get(1)
                    && let Ok(name) = std::str::from_utf8(name)
                    && let Some(ch) = self.lock().channels.get(name)
                {
                    ch.wake.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            // (re)subscribed after a reconnect: announcements may have been missed meanwhile
            PushKind::Subscribe | PushKind::Disconnection => {
                self.wake_all.send_modify(|n| *n = n.wrapping_add(1));
                for n in self
                    .waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                {
                    n.notify_one();
                }
            }
            _ => {}
        }
    }
}
