//! The store as the UI's source of rows and deliveries: rows come from the store's summary
//! columns (no bodies read), a full delivery only when it is selected.

use std::sync::{Arc, Mutex};

use super::model::{Row, RowStatus};
use super::source::DeliverySource;
use crate::delivery::Delivery;
use crate::store::{DeliverySummary, ListFilter, Store};

/// Reads from a store file (the forward job writes it through its own writer).
pub struct StoreSource {
    store: Arc<Mutex<Store>>,
}

impl StoreSource {
    pub fn new(store: Arc<Mutex<Store>>) -> Self {
        StoreSource { store }
    }
}

/// The list row for a stored summary.
pub fn row_from_summary(s: &DeliverySummary) -> Row {
    let mut path = if s.path.is_empty() {
        "/".to_string()
    } else {
        s.path.clone()
    };
    if !s.query.is_empty() {
        path.push('?');
        path.push_str(&s.query);
    }
    Row {
        id: s.id.clone(),
        received_at_ms: s.received_at_ms,
        method: s.method.clone(),
        path,
        event: s.event.clone(),
        subject: super::port_view::subject_from_summary(s.event.as_deref(), s.summary.as_deref()),
        verify: s.verification.as_ref().map(|v| v.outcome),
        status: match (s.attempts, s.last_status) {
            (0, _) => RowStatus::unattempted(s.state),
            (_, Some(code)) => RowStatus::Code(code),
            (_, None) => RowStatus::Error,
        },
        latency_ms: s.last_latency_ms,
        attempts: s.attempts,
        slack: s.slack.as_ref().map(|r| r.ok),
        body_len: s.body_size as usize,
    }
}

/// Run a store read off the async runtime: on a multi-threaded runtime the worker thread hands
/// its other tasks (the forward job, the subscription) to another worker first, so a slow disk
/// never stalls them. (The [`DeliverySource`] trait is synchronous: the UI's loop needs the
/// delivery before it draws.)
fn off_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl DeliverySource for StoreSource {
    fn load(&mut self, id: &str) -> Option<Delivery> {
        off_runtime(|| self.store.lock().ok()?.get(id).ok())
    }

    fn page(&mut self, offset: usize, limit: usize) -> Vec<Row> {
        off_runtime(|| self.page_now(offset, limit))
    }

    fn count(&mut self) -> usize {
        off_runtime(|| {
            self.store
                .lock()
                .ok()
                .and_then(|s| s.count(&ListFilter::default()).ok())
                .unwrap_or(0)
        })
    }
}

impl StoreSource {
    fn page_now(&mut self, offset: usize, limit: usize) -> Vec<Row> {
        let Ok(store) = self.store.lock() else {
            return Vec::new();
        };
        let filter = ListFilter::default();
        let total = store.count(&filter).unwrap_or(0);
        // the store pages newest first; the UI asks oldest first
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(limit);
        let mut rows: Vec<Row> = store
            .list_page(&filter, total - end, end - start)
            .unwrap_or_default()
            .iter()
            .map(row_from_summary)
            .collect();
        rows.reverse();
        rows
    }
}
