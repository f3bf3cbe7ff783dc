//! The round trip in one process: replying subscribers per channel (by the hash of their
//! connection's secret), held senders waiting for their answer, and what became of the last
//! answered or timed-out events (so a late or second reply is told why it was not sent).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{BoxFut, Posted, Waiter};
use crate::reply::{NotSent, ReplyOutcome};

/// Events whose fate is remembered (answered, timed out); older ones are forgotten first, and
/// a reply for a forgotten one is told no sender was waiting.
const REMEMBERED: usize = 4096;

type Key = (String, String);

#[derive(Default)]
struct Table {
    /// channel -> secret hash -> connections with it.
    repliers: HashMap<String, HashMap<String, usize>>,
    /// Held senders' ends of their answers.
    waiting: HashMap<Key, oneshot::Sender<ReplyOutcome>>,
    /// The fate of recently settled events, oldest first.
    settled: HashMap<Key, NotSent>,
    order: VecDeque<Key>,
}

impl Table {
    fn settle(&mut self, key: Key, fate: NotSent) {
        if self.settled.insert(key.clone(), fate).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.settled.remove(&old);
            }
        }
    }
}

/// The reply state of a memory backend.
#[derive(Clone, Default)]
pub(crate) struct Replies {
    table: Arc<Mutex<Table>>,
}

impl Replies {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_replier(&self, channel: &str, hash: String) -> Box<dyn Send + Sync> {
        *self
            .lock()
            .repliers
            .entry(channel.to_string())
            .or_default()
            .entry(hash.clone())
            .or_default() += 1;
        Box::new(Lease {
            replies: self.clone(),
            channel: channel.to_string(),
            hash,
        })
    }

    pub fn has_replier(&self, channel: &str) -> bool {
        self.lock().repliers.contains_key(channel)
    }

    /// Hold the sender of event `id` if a replier is connected (called while the event is
    /// being stored, before any subscriber sees it).
    pub fn hold(&self, channel: &str, id: &str) -> Option<Box<dyn Waiter>> {
        let mut t = self.lock();
        if !t.repliers.contains_key(channel) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let key = (channel.to_string(), id.to_string());
        t.waiting.insert(key.clone(), tx);
        Some(Box::new(MemoryWaiter {
            replies: self.clone(),
            key: Some(key),
            rx: Some(rx),
        }))
    }

    pub fn answer(&self, channel: &str, id: &str, hash: &str, outcome: ReplyOutcome) -> Posted {
        let mut t = self.lock();
        if !t
            .repliers
            .get(channel)
            .is_some_and(|r| r.contains_key(hash))
        {
            return Posted::Forbidden;
        }
        let key = (channel.to_string(), id.to_string());
        match t.waiting.remove(&key) {
            Some(tx) => {
                let sent = tx.send(outcome).is_ok();
                t.settle(key, NotSent::AlreadyAnswered);
                if sent {
                    Posted::Sent
                } else {
                    Posted::NotSent(NotSent::TooLate)
                }
            }
            None => Posted::NotSent(t.settled.get(&key).copied().unwrap_or(NotSent::NotHeld)),
        }
    }
}

/// A replying subscriber's registration; dropping it unregisters.
struct Lease {
    replies: Replies,
    channel: String,
    hash: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut t = self.replies.lock();
        if let Some(hashes) = t.repliers.get_mut(&self.channel) {
            if let Some(n) = hashes.get_mut(&self.hash) {
                *n -= 1;
                if *n == 0 {
                    hashes.remove(&self.hash);
                }
            }
            if hashes.is_empty() {
                t.repliers.remove(&self.channel);
            }
        }
    }
}

struct MemoryWaiter {
    replies: Replies,
    key: Option<Key>,
    rx: Option<oneshot::Receiver<ReplyOutcome>>,
}

impl MemoryWaiter {
    /// Stop waiting: an answer that came meanwhile is still taken, else the event is too late.
    fn give_up(&mut self) -> Option<ReplyOutcome> {
        let key = self.key.take()?;
        let mut t = self.replies.lock();
        if t.waiting.remove(&key).is_some() {
            t.settle(key, NotSent::TooLate);
            return None;
        }
        drop(t);
        self.rx.take()?.try_recv().ok()
    }
}

impl Waiter for MemoryWaiter {
    fn wait(mut self: Box<Self>, timeout: Duration) -> BoxFut<'static, Option<ReplyOutcome>> {
        Box::pin(async move {
            let rx = self.rx.as_mut()?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(outcome)) => {
                    self.key = None;
                    Some(outcome)
                }
                _ => self.give_up(),
            }
        })
    }
}

impl Drop for MemoryWaiter {
    fn drop(&mut self) {
        let _ = self.give_up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> ReplyOutcome {
        ReplyOutcome::Failed { reason: "x".into() }
    }

    #[tokio::test]
    async fn first_answer_wins_and_late_ones_are_told() {
        let r = Replies::default();
        assert!(r.hold("c", "1").is_none(), "no replier: not held");
        let lease = r.add_replier("c", "h".into());
        let w = r.hold("c", "1").unwrap();
        assert_eq!(r.answer("c", "1", "forged", ok()), Posted::Forbidden);
        assert_eq!(r.answer("c", "1", "h", ok()), Posted::Sent);
        assert_eq!(
            r.answer("c", "1", "h", ok()),
            Posted::NotSent(NotSent::AlreadyAnswered)
        );
        assert_eq!(w.wait(Duration::from_secs(5)).await, Some(ok()));
        let w2 = r.hold("c", "2").unwrap();
        assert_eq!(w2.wait(Duration::from_millis(10)).await, None);
        assert_eq!(
            r.answer("c", "2", "h", ok()),
            Posted::NotSent(NotSent::TooLate)
        );
        assert_eq!(
            r.answer("c", "3", "h", ok()),
            Posted::NotSent(NotSent::NotHeld)
        );
        drop(lease);
        assert!(!r.has_replier("c"));
        assert_eq!(r.answer("c", "3", "h", ok()), Posted::Forbidden);
        assert!(r.lock().waiting.is_empty());
    }
}
