//! A subscriber's place in a channel's Redis stream: it reads from there, counts what the
//! stream no longer holds as a gap, and waits for the instance's announcements.
//!
//! Reads are bounded and counted in the memory budget: before reading, a subscriber reserves
//! [`READ_BYTES`](super::redis_room::READ_BYTES) from the instance's [`ReadRoom`], and the
//! read script ([`READ_LUA`]) returns at most that many bytes of entries. An entry larger than
//! that alone is reserved at its size first. What the batch does not use is given back at once; the rest is held with the batch's
//! events until the next read (or until the subscriber leaves). A subscriber that cannot get
//! room in time reads nothing this time and tries again on the next announcement or poll.

use std::sync::{Arc, LazyLock};

use redis::aio::ConnectionManager;
use redis::{Script, Value};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::redis_room::ReadRoom;
use super::redis_shared::{POLL, Shared};
use super::redis_store::{Pos, READ_LUA, Read, parse_read};
use super::{BoxFut, Cursor};
use crate::server::hub::{Batch, Event, Gap};

/// Where a subscriber is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place {
    /// After the newest webhook at the first read that works.
    Fresh,
    /// After this entry.
    After(Pos),
}

pub(super) struct RedisCursor {
    pub(super) conn: ConnectionManager,
    pub(super) stream: String,
    pub(super) channel: String,
    pub(super) shared: Arc<Shared>,
    pub(super) wake: watch::Receiver<u64>,
    pub(super) wake_all: watch::Receiver<u64>,
    pub(super) place: Place,
    pub(super) restart_gap: Option<Gap>,
    /// The restart gap already covers what the first read may find missing.
    pub(super) skip_first_gap: bool,
    pub(super) batch: usize,
    /// The last batch's events, held until the next read (the stream holds them only weakly
    /// while waiting for room for their frames), the place it started after, and their share
    /// of the read room.
    pub(super) held: Vec<Arc<Event>>,
    pub(super) held_after: Pos,
    pub(super) held_room: Option<OwnedSemaphorePermit>,
    /// The instance's read room.
    pub(super) room: Arc<ReadRoom>,
}

/// Caught up (or no room, or Redis unreachable): nothing to hand out now.
fn nothing() -> Batch {
    Batch {
        gap: None,
        events: Vec::new(),
    }
}

impl RedisCursor {
    /// One run of [`READ_LUA`].
    async fn read_script(
        &mut self,
        after: Pos,
        count: usize,
        max_bytes: usize,
        at_least_one: bool,
    ) -> redis::RedisResult<Read> {
        static READ: LazyLock<Script> = LazyLock::new(|| Script::new(READ_LUA));
        let reply: Value = READ
            .key(&self.stream)
            .arg(format!("({}", after.id()))
            .arg(count)
            .arg(max_bytes)
            .arg(if at_least_one { "1" } else { "0" })
            .invoke_async(&mut self.conn)
            .await?;
        parse_read(reply).ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected read reply",
            ))
        })
    }

    async fn read(&mut self) -> redis::RedisResult<Batch> {
        // the last batch's events and their room go first: this read may need that room
        self.held.clear();
        self.held_room = None;
        let after = match self.place {
            Place::After(p) => p,
            Place::Fresh => {
                let last: Option<String> = redis::cmd("HGET")
                    .arg(self.stream.replacen(":stream:", ":meta:", 1))
                    .arg("last_id")
                    .query_async(&mut self.conn)
                    .await?;
                let p = last.as_deref().and_then(Pos::parse).unwrap_or(Pos::START);
                self.place = Place::After(p);
                p
            }
        };
        let Some(mut room) = self.room.reserve(self.room.read_bytes()).await else {
            tracing::debug!(
                channel = self.channel,
                "no memory for a read from Redis in time"
            );
            return Ok(nothing());
        };
        let limit = room.num_permits();
        let mut read = self.read_script(after, self.batch, limit, false).await?;
        if let Read::Big(size) = read {
            drop(room);
            let Some(big) = self.room.reserve(size).await else {
                tracing::debug!(
                    channel = self.channel,
                    size,
                    "no memory for a large event in time"
                );
                return Ok(nothing());
            };
            room = big;
            read = self.read_script(after, 1, room.num_permits(), true).await?;
        }
        let Read::Entries(entries, bytes) = read else {
            return Ok(nothing()); // trimmed and replaced meanwhile: the next read sorts it out
        };
        if let Some(spare) = room.num_permits().checked_sub(bytes.max(1))
            && spare > 0
        {
            drop(room.split(spare));
        }
        let mut gap = None;
        let mut events = Vec::with_capacity(entries.len());
        let mut prev = after;
        for entry in entries {
            let stored = match entry {
                Ok(stored) => stored,
                Err(id) => {
                    tracing::warn!(id, "skipping a stream entry that is not a webhook");
                    prev = Pos::parse(&id).unwrap_or(prev);
                    continue;
                }
            };
            if events.is_empty() && !std::mem::take(&mut self.skip_first_gap) {
                gap = gap_before(after, stored.pos);
            }
            prev = stored.pos;
            events.push(Arc::new(Event::stored(
                stored.pos.n,
                stored.pos.id(),
                stored.received_at_ms,
                stored.request,
            )));
        }
        if prev != after {
            self.place = Place::After(prev);
        }
        if !events.is_empty() {
            self.held = events.clone();
            self.held_room = Some(room);
        }
        self.held_after = after;
        Ok(Batch { gap, events })
    }
}

/// The gap of a subscriber whose place is in a stream that started again: how many events
/// it missed is unknown. Its id is `next` (resuming from it does not announce it again).
pub(super) fn reset_gap(after: Pos, next: Pos) -> Gap {
    Gap {
        id: next.id(),
        data: json!({
            "reason": "stream_reset",
            "message": "the channel's stream started again (it expired, or Redis lost its data); events this subscriber had not received may be gone",
            "missed_after": after.id(),
            "missed_before": next.id(),
            "missed": null,
        }),
    }
}

/// The gap between a subscriber's place and the first entry the stream still has after it.
fn gap_before(after: Pos, first: Pos) -> Option<Gap> {
    if first.n == after.n + 1 {
        return None;
    }
    let id = Pos {
        ms: first.ms,
        n: first.n.saturating_sub(1),
    }
    .id();
    if first.n <= after.n {
        return Some(Gap {
            id,
            ..reset_gap(after, first)
        });
    }
    Some(Gap {
        id,
        data: json!({
            "reason": "not_retained",
            "message": "the relay's stream no longer holds these events (trimmed by length or age) and this subscriber never received them",
            "missed_after": after.id(),
            "missed_before": first.id(),
            "missed": first.n - after.n - 1,
        }),
    })
}

impl Cursor for RedisCursor {
    fn restart_gap(&mut self) -> Option<Gap> {
        self.restart_gap.take()
    }

    fn take(&mut self) -> BoxFut<'_, Batch> {
        Box::pin(async move {
            // Mark wake-ups seen *before* reading: an announcement after the read wakes us.
            self.wake.borrow_and_update();
            self.wake_all.borrow_and_update();
            match self.read().await {
                Ok(batch) => batch,
                // A read may fail without Redis being down (a large event on a slow link): the
                // health task, not the reads, says whether Redis is reachable.
                Err(e) => {
                    tracing::debug!(channel = self.channel, error = %e, "a read from Redis failed; trying again on the next wake-up");
                    nothing()
                }
            }
        })
    }

    fn rewind(&mut self, seq: u64) {
        let mut before = self.held_after;
        for e in &self.held {
            if e.seq == seq {
                self.place = Place::After(before);
                return;
            }
            before = Pos::parse(&e.id).unwrap_or(before);
        }
    }

    fn wait(&mut self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            tokio::select! {
                _ = self.wake.changed() => {}
                _ = self.wake_all.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        })
    }
}

impl Drop for RedisCursor {
    fn drop(&mut self) {
        let mut local = self.shared.lock();
        if let Some(ch) = local.channels.get_mut(&self.channel) {
            ch.subscribers = ch.subscribers.saturating_sub(1);
            if ch.subscribers == 0 {
                local.channels.remove(&self.channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_what_is_gone() {
        let p = |ms, n| Pos { ms, n };
        assert_eq!(gap_before(p(5, 3), p(6, 4)), None);
        let g = gap_before(p(5, 3), p(9, 10)).unwrap();
        assert_eq!(g.data["missed"], 6);
        assert_eq!(g.id, "9-9");
        let reset = gap_before(p(5, 30), p(9, 1)).unwrap();
        assert!(reset.data["missed"].is_null());
        assert_eq!(reset.data["reason"], "stream_reset");
    }
}
