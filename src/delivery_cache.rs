//! Deliveries kept in memory, bounded by their count and by their bytes (bodies, headers, ids): the
//! oldest go first, and the newest is always kept (even alone over the byte bound). The forward
//! job's replay cache and the UI's `--no-store` source are both this.

use std::collections::{HashMap, VecDeque};

use crate::delivery::Delivery;

#[derive(Debug, Default)]
pub struct DeliveryCache {
    max: usize,
    max_bytes: usize,
    bytes: usize,
    order: VecDeque<String>,
    by_id: HashMap<String, Delivery>,
}

impl DeliveryCache {
    /// An empty cache of at most `max` deliveries (at least 1) and `max_bytes` (see
    /// [`Delivery::memory_bytes`]).
    pub fn new(max: usize, max_bytes: usize) -> Self {
        DeliveryCache {
            max: max.max(1),
            max_bytes,
            ..Default::default()
        }
    }

    /// Add a delivery, or replace the one with its id (which keeps its place).
    pub fn insert(&mut self, d: Delivery) {
        let id = d.id.clone();
        self.bytes += d.memory_bytes();
        match self.by_id.insert(id.clone(), d) {
            Some(old) => self.bytes -= old.memory_bytes(),
            None => self.order.push_back(id),
        }
        while self.order.len() > self.max || (self.bytes > self.max_bytes && self.order.len() > 1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.by_id.remove(&old) {
                self.bytes -= d.memory_bytes();
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Delivery> {
        self.by_id.get(id)
    }

    /// For adding attempts or results; the request must not change (its bytes are counted).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Delivery> {
        self.by_id.get_mut(id)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Bytes held (see [`Delivery::memory_bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Delivery> {
        self.order.iter().filter_map(|id| self.by_id.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{BodyOrigin, WebhookRequest};

    /// A delivery of `size` bytes in all (its body makes up what its id and method do not).
    fn d(id: &str, size: usize) -> Delivery {
        let req = WebhookRequest {
            method: "P".into(),
            path: String::new(),
            query: String::new(),
            headers: vec![],
            body: bytes::Bytes::new(),
        };
        let mut d = Delivery::new("", req, BodyOrigin::Exact);
        d.id = id.into();
        d.request.body = bytes::Bytes::from(vec![b'x'; size - d.memory_bytes()]);
        assert_eq!(d.memory_bytes(), size);
        d
    }

    #[test]
    fn headers_and_ids_count_not_only_bodies() {
        let mut c = DeliveryCache::new(1000, 64 << 10);
        for i in 0..100 {
            let mut x = d(&format!("h{i}"), 10);
            x.request.headers = vec![("x-pad".into(), "v".repeat(4096))];
            x.relay_event_id = Some("e".repeat(200));
            c.insert(x);
        }
        assert!(c.bytes() <= 64 << 10, "{}", c.bytes());
        assert!(c.len() < 20, "{}", c.len());
    }

    fn ids(c: &DeliveryCache) -> Vec<&str> {
        c.iter().map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn bounded_by_count_and_by_bytes() {
        let mut c = DeliveryCache::new(3, 100);
        for i in 0..4 {
            c.insert(d(&format!("a{i}"), 10));
        }
        assert_eq!(ids(&c), ["a1", "a2", "a3"]);
        c.insert(d("big", 90));
        assert_eq!(
            ids(&c),
            ["a3", "big"],
            "a3 (10) + big (90) fit in 100 bytes"
        );
        c.insert(d("bigger", 95));
        assert_eq!(
            ids(&c),
            ["bigger"],
            "bytes over the bound evict the oldest first"
        );
        assert_eq!(c.bytes(), 95);
        c.insert(d("huge", 500));
        assert_eq!(
            ids(&c),
            ["huge"],
            "the newest stays, even alone over the bound"
        );
        c.insert(d("huge", 5));
        assert_eq!(
            (c.len(), c.bytes()),
            (1, 5),
            "a re-insert replaces, not duplicates"
        );
    }
}
