//! The store's schema and its migrations.
//!
//! The version lives in `PRAGMA user_version`. [`MIGRATIONS`] is an ordered list: migration `i`
//! takes a database from version `i` to `i + 1`. Never edit a migration that has shipped; add a new
//! one at the end.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration 1: deliveries and their forwarding attempts.
const V1: &str = "
CREATE TABLE deliveries (
    id             TEXT PRIMARY KEY NOT NULL,
    channel        TEXT NOT NULL,
    relay_event_id TEXT,
    received_at_ms INTEGER NOT NULL,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    query          TEXT NOT NULL,
    headers        TEXT NOT NULL,   -- JSON array of [name, value], arrival order
    body           BLOB NOT NULL,
    body_size      INTEGER NOT NULL,
    origin         TEXT NOT NULL,   -- JSON BodyOrigin
    verification   TEXT,            -- JSON Verification
    event          TEXT             -- delivery::event_label at insert
);
CREATE INDEX deliveries_received ON deliveries (received_at_ms);
CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    started_at_ms    INTEGER NOT NULL,
    target           TEXT NOT NULL,
    replay           INTEGER NOT NULL,
    latency_ms       REAL NOT NULL,
    status           INTEGER,       -- NULL when there was no response
    response_headers TEXT,          -- JSON array of [name, value]
    response_body    BLOB,          -- cut at the forwarder's bound
    response_size    INTEGER,       -- the full size of the response body
    error            TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);
";

/// Migration 2: the Port one-liner and the Slack result, and an index for the event filter.
const V2: &str = "
ALTER TABLE deliveries ADD COLUMN summary TEXT;
ALTER TABLE deliveries ADD COLUMN slack TEXT;   -- JSON SlackResult
CREATE INDEX deliveries_event ON deliveries (event);
";

/// Migration 3: the store becomes the forward job's inbox. Each delivery gets a state (what the
/// forward job still has to do with it), each channel a cursor (the relay's last event id,
/// committed with the deliveries it covers), each attempt the kind of its error. Deliveries that
/// never got an attempt are pending: the next `forward` on their channel (or
/// `hookrelay replay --pending`) sends them.
const V3: &str = "
ALTER TABLE deliveries ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE deliveries ADD COLUMN state_reason TEXT;
UPDATE deliveries SET
    state = CASE
        WHEN NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = deliveries.id)
            THEN 'pending'
        WHEN EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = deliveries.id
                     AND a.status BETWEEN 200 AND 299)
            THEN 'delivered'
        ELSE 'failed' END;
UPDATE deliveries SET state_reason = 'no attempt got a 2xx (stored before delivery states)'
    WHERE state = 'failed';
CREATE INDEX deliveries_inbox ON deliveries (channel, state);
CREATE INDEX deliveries_state ON deliveries (state);
ALTER TABLE attempts ADD COLUMN error_kind TEXT;   -- delivery::ErrorKind, NULL before v3
CREATE TABLE cursors (
    channel        TEXT PRIMARY KEY NOT NULL,
    last_event_id  TEXT NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
";

/// Migration 4: the round trip (`forward --reply`). A replied delivery has one row: when its
/// answer went back to the relay, what the sender got (`NULL` when unknown) and the relay's word
/// (JSON `reply::Replied`).
const V4: &str = "
CREATE TABLE replies (
    delivery_id    TEXT PRIMARY KEY NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at_ms          INTEGER NOT NULL,
    sender_status  INTEGER,
    replied        TEXT NOT NULL
);
";

/// Migration 5: an attempt's request as it was sent, when that differs from the stored one (a
/// replay: the target's host, re-signed headers, an edited body; `-H` / `--drop-header`), so
/// `show` and HAR show what went out; and small settings a project keeps between runs (the
/// embedded relay's channel, so its URL stays the same).
const V5: &str = "
ALTER TABLE attempts ADD COLUMN sent_headers TEXT;   -- JSON header list; NULL: as stored
ALTER TABLE attempts ADD COLUMN sent_body BLOB;      -- NULL: the stored request's body
ALTER TABLE attempts ADD COLUMN resigned INTEGER NOT NULL DEFAULT 0;
CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
";

/// Migration 6: bodies in a table of their own. SQLite writes a whole row again when any of its
/// columns changes, so with the body in `deliveries` every state change (pending, delivered,
/// failed, its summary) wrote a 1 MB body once more to the log and again at the checkpoint:
/// about 20 ms of the client's CPU per 1 MB event (issue 16). A body is written once, with
/// its delivery, and goes with it.
const V6: &str = "
CREATE TABLE bodies (
    delivery_id    TEXT PRIMARY KEY NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    body           BLOB NOT NULL
);
INSERT INTO bodies (delivery_id, body) SELECT id, body FROM deliveries;
ALTER TABLE deliveries DROP COLUMN body;
";

/// Migration 7: a body in parts of at most [`BODY_PART`] bytes. SQLite copies a bound value,
/// then copies it again into the record it builds: a 1 MB body in one row cost 2 MiB of
/// transient memory in every commit that wrote it, the largest part of the client's peak
/// (issue 16). In parts, it costs two parts. Bodies already stored become part 0 whatever
/// their size; readers join the parts in order.
const V7: &str = "
CREATE TABLE body_parts (
    delivery_id    TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    part           INTEGER NOT NULL,
    bytes          BLOB NOT NULL,
    PRIMARY KEY (delivery_id, part)
);
INSERT INTO body_parts (delivery_id, part, bytes)
    SELECT delivery_id, 0, body FROM bodies WHERE length(body) > 0;
DROP TABLE bodies;
";

/// The most bytes of a body in one `body_parts` row (new bodies; see migration 7).
pub const BODY_PART: usize = 64 << 10;

/// Every migration, in order. `MIGRATIONS.len()` is the current schema version.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// The schema version of an open database (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Bring the database up to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, CURRENT_VERSION)
}

/// Run the migrations up to `target` (tests use it to build an older database). Each migration runs
/// in its own immediate transaction, so two processes opening the same file do not both migrate.
/// A database newer than this build is refused rather than touched.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), StoreError> {
    let target = target.min(CURRENT_VERSION);
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        if found > CURRENT_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: CURRENT_VERSION,
            });
        }
        if found >= target {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[found as usize])?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
        tracing::debug!(version = found + 1, "store schema migrated");
    }
}
