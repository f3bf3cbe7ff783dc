//! The store as the forward job's inbox: deliveries committed with the channel's cursor in one
//! transaction, read back in arrival order in bounded windows, moved through their states.
//!
//! Order is insertion order (`rowid`): rows are only ever appended, and pruning removes the
//! oldest, so a later delivery always has a larger rowid.

use bytes::Bytes;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, rows};
use crate::delivery::{Attempt, Delivery, DeliveryState, now_ms};

/// One delivery read from the inbox, with its place in the order.
#[derive(Clone, Debug)]
pub struct InboxItem {
    pub seq: i64,
    pub delivery: Delivery,
}

impl Store {
    /// Commit a burst of new deliveries and the channel's cursor (the relay's id of the last
    /// event they cover) in one transaction: both are on disk, or neither.
    pub fn commit_intake(
        &self,
        deliveries: &[Delivery],
        cursor: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        for d in deliveries {
            rows::insert_delivery(&tx, d)?;
            for a in &d.attempts {
                rows::insert_attempt(&tx, &d.id, a)?;
            }
        }
        if let Some((channel, id)) = cursor {
            tx.prepare_cached(
                "INSERT INTO cursors (channel, last_event_id, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (channel) DO UPDATE SET last_event_id = excluded.last_event_id,
                     updated_at_ms = excluded.updated_at_ms",
            )?
            .execute(params![channel, id, now_ms()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The relay's last event id this store has for `channel` (the `Last-Event-ID` to resume).
    pub fn cursor(&self, channel: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT last_event_id FROM cursors WHERE channel = ?1")?
            .query_row([channel], |r| r.get(0))
            .optional()?)
    }

    /// Deliveries of `channel` left `delivering` by a run that ended mid-attempt: each gets an
    /// interrupted attempt and goes back to pending (it is sent again first: it is the oldest).
    /// Returns how many.
    pub fn recover_interrupted(&self, channel: &str, target: &str) -> Result<usize, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let ids: Vec<String> = tx
            .prepare_cached(
                "SELECT id FROM deliveries WHERE channel = ?1 AND state = 'delivering' ORDER BY rowid",
            )?
            .query_map([channel], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in &ids {
            rows::insert_attempt(&tx, id, &Attempt::interrupted(target.to_string()))?;
            tx.execute(
                "UPDATE deliveries SET state = 'pending', state_reason = NULL WHERE id = ?1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// The channels that have deliveries left `delivering`.
    pub fn open_channels(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT DISTINCT channel FROM deliveries WHERE state = 'delivering'")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    /// The next pending deliveries after `after_seq`, oldest first: at most `limit` of them and,
    /// past the first, at most `max_bytes` of bodies. `channel` `None`: every channel.
    /// Attempts are not loaded.
    pub fn pending_window(
        &self,
        channel: Option<&str>,
        after_seq: i64,
        limit: usize,
        max_bytes: u64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        self.pending_window_lent(channel, after_seq, limit, max_bytes, |_| None)
    }

    /// [`Store::pending_window`], taking each body from `lent` when it has it (bodies the
    /// caller still holds need not be read back).
    pub fn pending_window_lent(
        &self,
        channel: Option<&str>,
        after_seq: i64,
        limit: usize,
        max_bytes: u64,
        mut lent: impl FnMut(&str) -> Option<Bytes>,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let picked: Vec<(i64, String, i64)> = match channel {
            Some(c) => self
                .conn
                .prepare_cached(
                    "SELECT rowid, id, body_size FROM deliveries
                     WHERE channel = ?1 AND state = 'pending' AND rowid > ?2
                     ORDER BY rowid LIMIT ?3",
                )?
                .query_map(params![c, after_seq, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?,
            None => self
                .conn
                .prepare_cached(
                    "SELECT rowid, id, body_size FROM deliveries
                     WHERE state = 'pending' AND rowid > ?1 ORDER BY rowid LIMIT ?2",
                )?
                .query_map(params![after_seq, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?,
        };
        let mut out = Vec::with_capacity(picked.len());
        let mut bytes = 0u64;
        for (seq, id, size) in picked {
            bytes += size.max(0) as u64;
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(InboxItem {
                seq,
                delivery: rows::load_delivery_with(&self.conn, &id, &mut lent)?,
            });
        }
        Ok(out)
    }

    /// Move a delivery to `state` (with a reason for failed, held and skipped).
    pub fn set_state(
        &self,
        id: &str,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE deliveries SET state = ?1, state_reason = ?2 WHERE id = ?3")?
            .execute(params![state.as_str(), reason, id])?;
        if n == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// Record an attempt and the state it leads to, in one transaction.
    pub fn record_attempt(
        &self,
        id: &str,
        attempt: &Attempt,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        rows::insert_attempt(&tx, id, attempt)?;
        tx.prepare_cached("UPDATE deliveries SET state = ?1, state_reason = ?2 WHERE id = ?3")?
            .execute(params![state.as_str(), reason, id])?;
        tx.commit()?;
        Ok(())
    }

    /// How many deliveries are in `state` (of `channel`, or of every channel).
    pub fn count_state(
        &self,
        channel: Option<&str>,
        state: DeliveryState,
    ) -> Result<usize, StoreError> {
        let n: i64 = match channel {
            Some(c) => self
                .conn
                .prepare_cached(
                    "SELECT count(*) FROM deliveries WHERE channel = ?1 AND state = ?2",
                )?
                .query_row(params![c, state.as_str()], |r| r.get(0))?,
            None => self
                .conn
                .prepare_cached("SELECT count(*) FROM deliveries WHERE state = ?1")?
                .query_row([state.as_str()], |r| r.get(0))?,
        };
        Ok(n.max(0) as usize)
    }
}
