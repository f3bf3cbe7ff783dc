//! The SSE frame of one event for one subscriber (`id:` + one `data:` line), holding its
//! share of the memory budget until the connection has written it:
//! - whole: encoded once per shape by the first subscriber that needs it, cached in the event
//!   and shared by the others (small events, and large ones in smee's shape);
//! - in pieces: a large event in the extended shape is written as it is encoded (the head up
//!   to `"bodyB":"`, base64 of the body [`PIECE_BODY_BYTES`] at a time, the end) and never
//!   held whole. Its subscribers share one pin of the body's size in the budget (the body
//!   stays alive while they write it, even after the ring dropped it), and each piece holds
//!   its own bytes while it is queued. The bytes sent are the same as the whole frame's.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

use super::AppState;
use super::hub::Event;
use super::memory::Memory;
use crate::wire;

/// Bodies at least this large are encoded on a blocking thread (JSON parsing of big bodies
/// must not stall the async workers), at most [`LARGE_ENCODES`] at once per server.
const BLOCKING_ENCODE_BYTES: usize = 256 * 1024;
/// How many large events may be encoded at once (bounds the transient memory of encoding).
pub(crate) const LARGE_ENCODES: usize = 2;
/// Bodies at least this large are written in pieces in the extended shape. Smaller frames
/// are cached and shared: many subscribers of small events cost one encode.
const PIECEWISE_BYTES: usize = 256 * 1024;
/// Body bytes per piece: a multiple of 3 (so the pieces' base64 concatenates to the body's),
/// 32 KiB of base64, a small frame in the budget. Encoding one takes microseconds: on the
/// async workers.
pub(crate) const PIECE_BODY_BYTES: usize = 24 * 1024;
const _: () = assert!(PIECE_BODY_BYTES.is_multiple_of(3));

/// What [`event_frame`] made.
pub(crate) enum Framed {
    Frame(Bytes),
    /// A frame to write piece by piece.
    Pieces(Pieces),
    /// The ring dropped the event before it was encoded.
    Dropped,
    /// No room in the memory budget within the write timeout.
    NoRoom,
}

/// The SSE frame of one event, holding its share of the memory budget. The event is held
/// only weakly while waiting for room: one the ring drops meanwhile frees its memory.
pub(crate) async fn event_frame(ev: &Weak<Event>, extended: bool, st: &AppState) -> Framed {
    let size = match ev.upgrade() {
        None => return Framed::Dropped,
        Some(ev) if extended && ev.request.body.len() >= PIECEWISE_BYTES => {
            return Pieces::start(ev, &Room::of(st)).await;
        }
        Some(ev) => {
            if let Some(frame) = cached(&ev, extended) {
                return Framed::Frame(frame);
            }
            frame_capacity(&ev, extended)
        }
    };
    let room = Room::of(st);
    let Some(permit) = room.memory.frame_room(size, room.wait, &room.shed).await else {
        return Framed::NoRoom;
    };
    let Some(ev) = ev.upgrade() else {
        return Framed::Dropped;
    };
    // another subscriber may have encoded it while this one waited for room
    if let Some(frame) = cached(&ev, extended) {
        return Framed::Frame(frame);
    }
    let text = if ev.request.body.len() < BLOCKING_ENCODE_BYTES {
        encode_frame(&ev, extended)
    } else {
        // Encoding a large JSON body takes several times its size in memory: few at once.
        let _slot = Arc::clone(&st.encode_slots).acquire_owned().await;
        if let Some(frame) = cached(&ev, extended) {
            return Framed::Frame(frame);
        }
        let ev2 = Arc::clone(&ev);
        match tokio::task::spawn_blocking(move || encode_frame(&ev2, extended)).await {
            Ok(b) => b,
            Err(_) => encode_frame(&ev, extended),
        }
    };
    let frame = super::memory::accounted(text, permit);
    if let Ok(mut frames) = ev.frames.lock() {
        frames[usize::from(extended)] = Some(frame.clone());
    }
    Framed::Frame(frame)
}

fn frame_capacity(ev: &Event, extended: bool) -> usize {
    wire::encoded_len_hint(&ev.request, extended) + ev.id.len() + 16
}

/// The frame another subscriber already encoded for this event and shape.
fn cached(ev: &Event, extended: bool) -> Option<Bytes> {
    ev.frames.lock().ok()?[usize::from(extended)].clone()
}

/// Encode one event as an SSE frame (`id:` + one `data:` line), in one allocation.
fn encode_frame(ev: &Event, extended: bool) -> String {
    let mut out = String::with_capacity(frame_capacity(ev, extended));
    let start = push_frame_start(&mut out, ev);
    wire::encode_event_into(&mut out, &ev.request, ev.received_at_ms, extended);
    debug_assert!(!out[start..].contains('\n') && !out[start..].contains('\r'));
    out.push_str("\n\n");
    out
}

/// Start an event's frame: its `id:` line and the `data: ` prefix. Returns where the data
/// starts.
fn push_frame_start(out: &mut String, ev: &Event) -> usize {
    out.push_str("id: ");
    out.push_str(&ev.id);
    out.push_str("\ndata: ");
    out.len()
}

/// Where frames and pieces get their room: the budget, how long they may wait for it, and
/// what to shed first when it is short.
pub(crate) struct Room<'a, S> {
    pub memory: &'a Memory,
    pub wait: Duration,
    pub shed: S,
}

impl Room<'_, ()> {
    pub(crate) fn of(st: &AppState) -> Room<'_, impl Fn() + Sync + '_> {
        Room {
            memory: &st.memory,
            wait: st.cfg.timeouts.write,
            shed: || st.hub.drop_cached_frames(),
        }
    }
}

/// A large event's extended frame, written as it is encoded.
pub(crate) struct Pieces {
    ev: Arc<Event>,
    _pin: Arc<OwnedSemaphorePermit>,
    /// Where the next piece starts: `None` before the head, then a body offset.
    at: Option<usize>,
    done: bool,
}

/// There was no room in the memory budget for a piece within the write timeout.
pub(crate) struct NoRoom;

impl Pieces {
    /// Start writing `ev` in pieces: its body pinned in the budget (shared with the other
    /// subscribers writing it; held only weakly while waiting for room).
    pub(crate) async fn start(ev: Arc<Event>, room: &Room<'_, impl Fn() + Sync>) -> Framed {
        if let Some(pin) = ev.pin.lock().ok().and_then(|p| p.upgrade()) {
            return Framed::Pieces(Pieces::new(ev, pin));
        }
        let size = ev.request.body.len();
        let weak = Arc::downgrade(&ev);
        drop(ev);
        let Some(permit) = room.memory.frame_room(size, room.wait, &room.shed).await else {
            return Framed::NoRoom;
        };
        let Some(ev) = weak.upgrade() else {
            return Framed::Dropped;
        };
        let pin = match ev.pin.lock() {
            Ok(mut slot) => match slot.upgrade() {
                // another subscriber pinned it meanwhile: share theirs, give this room back
                Some(theirs) => theirs,
                None => {
                    let pin = Arc::new(permit);
                    *slot = Arc::downgrade(&pin);
                    pin
                }
            },
            Err(_) => Arc::new(permit),
        };
        Framed::Pieces(Pieces::new(ev, pin))
    }

    fn new(ev: Arc<Event>, pin: Arc<OwnedSemaphorePermit>) -> Pieces {
        Pieces {
            ev,
            _pin: pin,
            at: None,
            done: false,
        }
    }

    /// The next piece, holding its share of the budget, or `None` once the frame is written.
    pub(crate) async fn next(
        &mut self,
        room: &Room<'_, impl Fn() + Sync>,
    ) -> Option<Result<Bytes, NoRoom>> {
        if self.done {
            return None;
        }
        let body = &self.ev.request.body;
        let capacity = match self.at {
            None => wire::extended_head_len_hint(&self.ev.request) + self.ev.id.len() + 16,
            Some(at) => piece_capacity(body.len() - at),
        };
        let Some(permit) = room
            .memory
            .piece_room(capacity, room.wait, &room.shed)
            .await
        else {
            return Some(Err(NoRoom));
        };
        let mut out = String::with_capacity(capacity);
        match self.at {
            None => {
                let start = push_frame_start(&mut out, &self.ev);
                wire::extended_head_into(&mut out, &self.ev.request, self.ev.received_at_ms);
                debug_assert!(!out[start..].contains(['\n', '\r']));
                self.at = Some(0);
            }
            Some(at) => {
                let end = body.len().min(at + PIECE_BODY_BYTES);
                wire::push_body_b64(&mut out, &body[at..end]);
                if end == body.len() {
                    out.push_str(wire::EXTENDED_END);
                    out.push_str("\n\n");
                    self.done = true;
                }
                self.at = Some(end);
            }
        }
        Some(Ok(super::memory::accounted(out, permit)))
    }
}

/// Bytes of the piece of the body starting `left` bytes before its end (with the frame's
/// end when it is the last).
fn piece_capacity(left: usize) -> usize {
    left.min(PIECE_BODY_BYTES).div_ceil(3) * 4 + wire::EXTENDED_END.len() + 2
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
