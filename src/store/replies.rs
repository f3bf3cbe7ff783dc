//! What a replied delivery's sender was answered (`forward --reply`): one row per delivery in
//! `replies`, replaced by a later reply (a replay never replies).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::reply::{Replied, ReplyRecord};

impl Store {
    /// Record (or replace) the reply of a delivery.
    pub fn set_reply(&self, delivery_id: &str, r: &ReplyRecord) -> Result<(), StoreError> {
        if !self.exists(delivery_id)? {
            return Err(StoreError::NotFound(delivery_id.to_string()));
        }
        let json = serde_json::to_string(&r.replied).expect("Replied serializes");
        self.conn.execute(
            "INSERT INTO replies (delivery_id, at_ms, sender_status, replied) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (delivery_id) DO UPDATE SET at_ms = ?2, sender_status = ?3, replied = ?4",
            params![delivery_id, r.at_ms, r.replied.sender_status(), json],
        )?;
        Ok(())
    }

    /// The reply of a delivery, if it was replied.
    pub fn reply(&self, delivery_id: &str) -> Result<Option<ReplyRecord>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT at_ms, replied FROM replies WHERE delivery_id = ?1",
                [delivery_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((at_ms, json)) = row else {
            return Ok(None);
        };
        let replied: Replied = serde_json::from_str(&json).map_err(|e| {
            StoreError::Sqlite(rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                Box::new(e),
            ))
        })?;
        Ok(Some(ReplyRecord { at_ms, replied }))
    }
}
