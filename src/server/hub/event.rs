//! One published webhook as the hub keeps it, what a subscriber takes in one step, and the
//! gaps it is told about.

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedSemaphorePermit;

use crate::delivery::WebhookRequest;

/// One published webhook.
#[derive(Debug)]
pub(crate) struct Event {
    pub seq: u64,
    /// `<epoch>-<seq>`.
    pub id: String,
    pub received_at_ms: i64,
    pub request: WebhookRequest,
    /// Bytes this event accounts for in the ring and global budgets.
    pub size: usize,
    /// Global publish order, to evict the oldest event across channels first.
    pub(super) gseq: u64,
    /// The encoded SSE frame per shape (`[smee, extended]`), made by the first subscriber that
    /// needs it and shared by the others. Only the newest [`FRAMES_KEPT`] events of a channel
    /// keep theirs (a subscriber far behind encodes again), so cached frames stay bounded.
    /// Large events in the extended shape are written in pieces and never cached here.
    pub frames: Mutex<[Option<bytes::Bytes>; 2]>,
    /// While this event is written in pieces (a large event in the extended shape, never held
    /// whole: `server/frame.rs`), the share of the memory budget its body holds, so that a
    /// subscriber still writing it after the ring dropped it keeps it accounted. Shared by
    /// every subscriber writing it; released when the last one is done.
    pub pin: Mutex<Weak<OwnedSemaphorePermit>>,
}

impl Drop for Event {
    /// A large body is freed with its event (the ring dropped it and no subscriber still
    /// writes it): the relay's heaps give its pages back once large events stop coming.
    fn drop(&mut self) {
        crate::heap::trim_after(self.request.body.len());
    }
}

/// How many of a channel's newest events keep their encoded frames.
pub(crate) const FRAMES_KEPT: usize = 4;

impl Event {
    /// An event read back from a shared store (not in any ring of this process).
    pub(crate) fn stored(
        seq: u64,
        id: String,
        received_at_ms: i64,
        request: WebhookRequest,
    ) -> Event {
        Event {
            seq,
            id,
            received_at_ms,
            size: Event::size_of(&request),
            request,
            gseq: 0,
            frames: Mutex::new([None, None]),
            pin: Mutex::new(Weak::new()),
        }
    }

    pub(crate) fn size_of(req: &WebhookRequest) -> usize {
        let headers: usize = req
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 16)
            .sum();
        req.body.len() + headers + req.method.len() + req.path.len() + req.query.len() + 128
    }
}

/// A gap a subscriber is told about (`event: gap`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gap {
    /// Id given to the gap event, so a client that reconnects right after it resumes past it.
    pub id: String,
    /// The JSON `data` of the gap event.
    pub data: serde_json::Value,
}

/// What a subscriber takes from its channel in one step.
pub(crate) struct Batch {
    pub gap: Option<Gap>,
    pub events: Vec<Arc<Event>>,
}

/// Split `<epoch>-<seq>`; the epoch is alphanumeric, seq a decimal number.
pub(crate) fn parse_event_id(raw: &str) -> Option<(&str, u64)> {
    let (epoch, seq) = raw.trim().rsplit_once('-')?;
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((epoch, seq.parse().ok()?))
}
