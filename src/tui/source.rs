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

/// Deliveries kept in memory, the oldest dropped past a bound.
#[derive(Debug)]
pub struct MemorySource {
    order: VecDeque<String>,
    by_id: HashMap<String, Delivery>,
    max: usize,
}

impl MemorySource {
    /// An empty source that keeps at most `max` deliveries.
    pub fn new(max: usize) -> Self {
        MemorySource {
            order: VecDeque::new(),
            by_id: HashMap::new(),
            max: max.max(1),
        }
    }

    /// Add (or replace) a delivery.
    pub fn insert(&mut self, d: Delivery) {
        if !self.by_id.contains_key(&d.id) {
            if self.order.len() >= self.max
                && let Some(old) = self.order.pop_front()
            {
                self.by_id.remove(&old);
            }
            self.order.push_back(d.id.clone());
        }
        self.by_id.insert(d.id.clone(), d);
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
