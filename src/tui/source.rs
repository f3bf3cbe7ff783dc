//! Where the UI gets rows and full deliveries: the store, or memory (`--no-store`, tests).

use std::collections::{HashMap, VecDeque};

use super::model::Row;
use crate::delivery::Delivery;
use crate::events::AppEvent;

/// Rows and full deliveries on demand. The store implements it; [`MemorySource`] too.
pub trait DeliverySource: Send {
    /// The full delivery (body, attempts, ...).
    fn load(&mut self, id: &str) -> Option<Delivery>;
    /// Rows, oldest first: `offset` 0 is the oldest delivery.
    fn page(&mut self, offset: usize, limit: usize) -> Vec<Row>;
    /// How many deliveries there are.
    fn count(&mut self) -> usize;
    /// Every app event, before the UI sees it. A source that is written by someone else (the
    /// store has its own writer task) ignores it; [`MemorySource`] records deliveries with it.
    fn observe(&mut self, _event: &AppEvent) {}
}

/// Deliveries kept in memory, the oldest dropped past a bound on their count and on the bytes
/// of their bodies (the newest is always kept).
#[derive(Debug)]
pub struct MemorySource {
    order: VecDeque<String>,
    by_id: HashMap<String, Delivery>,
    max: usize,
    max_bytes: usize,
    bytes: usize,
}

/// Body bytes a [`MemorySource`] keeps at most unless told otherwise.
pub const MEMORY_SOURCE_BYTES: usize = 256 << 20;

impl MemorySource {
    /// An empty source that keeps at most `max` deliveries.
    pub fn new(max: usize) -> Self {
        Self::with_limits(max, MEMORY_SOURCE_BYTES)
    }

    /// An empty source bounded by count and by body bytes.
    pub fn with_limits(max: usize, max_bytes: usize) -> Self {
        MemorySource {
            order: VecDeque::new(),
            by_id: HashMap::new(),
            max: max.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Add (or replace) a delivery.
    pub fn insert(&mut self, d: Delivery) {
        let id = d.id.clone();
        self.bytes += d.request.body.len();
        match self.by_id.insert(id.clone(), d) {
            Some(old) => self.bytes -= old.request.body.len(),
            None => self.order.push_back(id),
        }
        while self.order.len() > self.max || (self.bytes > self.max_bytes && self.order.len() > 1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.by_id.remove(&old) {
                self.bytes -= d.request.body.len();
            }
        }
    }
}

impl DeliverySource for MemorySource {
    fn load(&mut self, id: &str) -> Option<Delivery> {
        self.by_id.get(id).cloned()
    }

    fn page(&mut self, offset: usize, limit: usize) -> Vec<Row> {
        self.order
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|id| self.by_id.get(id))
            .map(Row::from_delivery)
            .collect()
    }

    fn count(&mut self) -> usize {
        self.order.len()
    }

    fn observe(&mut self, event: &AppEvent) {
        match event {
            AppEvent::Delivery(d) => self.insert((**d).clone()),
            AppEvent::Attempt { id, attempt } => {
                if let Some(d) = self.by_id.get_mut(id) {
                    d.attempts.push(attempt.clone());
                }
            }
            AppEvent::Slack { id, result } => {
                if let Some(d) = self.by_id.get_mut(id) {
                    d.slack = Some(result.clone());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use crate::delivery::{BodyOrigin, WebhookRequest};

    fn d(id: &str, size: usize) -> Delivery {
        let req = WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: vec![],
            body: bytes::Bytes::from(vec![0u8; size]),
        };
        let mut d = Delivery::new("c", req, BodyOrigin::Exact);
        d.id = id.into();
        d
    }

    #[test]
    fn memory_source_is_bounded_by_count_and_bytes() {
        let mut m = MemorySource::with_limits(3, 100);
        for i in 0..5 {
            m.insert(d(&format!("a{i}"), 10));
        }
        assert_eq!(m.count(), 3);
        assert!(m.load("a1").is_none() && m.load("a4").is_some());
        m.insert(d("big", 90));
        assert_eq!(m.count(), 2, "a3 (10) + big (90) fit in 100 bytes");
        m.insert(d("huge", 1000));
        assert_eq!(m.count(), 1, "the newest stays, even alone over the bound");
        assert!(m.load("huge").is_some());
    }
}
