//! Where the UI gets rows and full deliveries: the store, or memory (`--no-store`, tests).

use super::model::Row;
use crate::delivery::Delivery;
use crate::delivery_cache::DeliveryCache;
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

/// Deliveries kept in memory (`--no-store`, tests), bounded by count and by body bytes.
#[derive(Debug)]
pub struct MemorySource {
    cache: DeliveryCache,
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
            cache: DeliveryCache::new(max, max_bytes),
        }
    }

    /// Add (or replace) a delivery.
    pub fn insert(&mut self, d: Delivery) {
        self.cache.insert(d);
    }
}

impl DeliverySource for MemorySource {
    fn load(&mut self, id: &str) -> Option<Delivery> {
        self.cache.get(id).cloned()
    }

    fn page(&mut self, offset: usize, limit: usize) -> Vec<Row> {
        self.cache
            .iter()
            .skip(offset)
            .take(limit)
            .map(Row::from_delivery)
            .collect()
    }

    fn count(&mut self) -> usize {
        self.cache.len()
    }

    fn observe(&mut self, event: &AppEvent) {
        match event {
            AppEvent::Delivery(d) => self.insert((**d).clone()),
            AppEvent::Attempt { id, attempt } => {
                if let Some(d) = self.cache.get_mut(id) {
                    d.attempts.push(attempt.clone());
                }
            }
            AppEvent::Slack { id, result } => {
                if let Some(d) = self.cache.get_mut(id) {
                    d.slack = Some(result.clone());
                }
            }
            _ => {}
        }
    }
}
