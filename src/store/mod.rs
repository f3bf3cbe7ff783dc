//! The durable delivery store (issue 4): every delivery and every forwarding attempt, in SQLite.
//!
//! - [`Store`] (this file): open, insert, update, look up by id prefix, prune.
//! - [`schema`]: the tables and the versioned migrations.
//! - [`query`]: `list` / `count` with [`ListFilter`], newest first, without bodies.
//! - `checkpoint`: the forward job's log copied into the file on a thread of its own.
//! - `inbox`: the forward job's inbox (states, the channel cursor, pending windows).
//! - `replies`: what a replied delivery's sender was answered (`forward --reply`).
//! - `writer`: the one writer task the relay sends to through a bounded queue.
//! - `path`: where the store lives by default.
//!
//! Bodies are stored as BLOBs and headers as a JSON array of `[name, value]` pairs in arrival
//! order, so a delivery reads back byte for byte as it was received. Secrets are not part of the
//! model and are never stored.

mod checkpoint;
mod inbox;
mod lease;
mod path;
pub mod query;
mod replies;
mod rows;
pub mod schema;
mod settings;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::delivery::{Attempt, Delivery};
use crate::slack::SlackResult;
use crate::verify::Verification;

pub use checkpoint::Checkpointer;
pub use inbox::InboxItem;
pub use lease::{LeaseError, SenderLease, lease_path};
pub use path::{
    default_path, default_path_in, demo_path, known_stores, known_stores_in, project_dir,
};
pub use query::{DeliverySummary, ListFilter, StatusFilter};
pub use writer::{StoreOp, StoreWriter};

/// How long a statement waits for another connection's lock before it gives up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// How many candidates an [`StoreError::Ambiguous`] lists at most.
const MAX_CANDIDATES: usize = 10;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a hookrelay store (not an SQLite database); pass another --store")]
    NotADatabase(PathBuf),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("no delivery with id {0:?}")]
    NotFound(String),
    #[error("the id prefix {prefix:?} matches several deliveries: {}", candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error(
        "the store has schema version {found}, newer than this hookrelay understands ({supported}); \
         upgrade hookrelay or use another --store"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("store: a stored {what} could not be read back: {source}")]
    Corrupt {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The SQLite error code behind this error, if any.
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            StoreError::Sqlite(e) => e.sqlite_error_code(),
            _ => None,
        }
    }

    /// The disk (or the quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self.sqlite_code(), Some(rusqlite::ErrorCode::DiskFull))
    }

    /// Another connection holds a lock (after waiting out the busy timeout).
    pub fn is_locked(&self) -> bool {
        matches!(
            self.sqlite_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// The SQLite delivery history. Wraps one `rusqlite::Connection`; not `Sync`, so one owner at a
/// time (the relay gives it to a [`StoreWriter`]; the CLI commands use it directly).
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Store {
    /// Open (or create) the store at `path`: parent directories are created (owner-only on Unix),
    /// the file is created with mode 0600 (and set to 0600 if it existed), the journal is WAL, and
    /// the schema is migrated to the current version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::private_files::create_dir(parent).map_err(io)?;
        }
        crate::private_files::open_append(path)
            .map(drop)
            .map_err(io)?;
        let opened = Connection::open(path)
            .and_then(|conn| {
                // SQLite gives the -wal and -shm files the main file's permissions.
                conn.pragma_update(None, "journal_mode", "WAL")?;
                Ok(conn)
            })
            .map_err(StoreError::from)
            .and_then(|conn| Self::setup(conn, Some(path.to_path_buf())));
        match opened {
            Err(e) if matches!(e.sqlite_code(), Some(rusqlite::ErrorCode::NotADatabase)) => {
                Err(StoreError::NotADatabase(path.to_path_buf()))
            }
            other => other,
        }
    }

    /// A store that lives in memory only (`--no-store`): same API, gone at exit.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn, path })
    }

    /// How long statements wait for another connection's lock (default [`DEFAULT_BUSY_TIMEOUT`]).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(timeout)?)
    }

    /// SQLite's page cache for this connection, in KiB (SQLite's default is 2,000 KiB). The
    /// forward job's connections write and point-read, so a small cache costs nothing there.
    pub fn set_cache_kib(&self, kib: u32) -> Result<(), StoreError> {
        Ok(self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))?)
    }

    /// The file behind the store; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema::version(&self.conn)
    }

    /// Store a delivery and any attempts it already has, in one transaction.
    pub fn insert_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        rows::insert_delivery(&tx, d)?;
        for a in &d.attempts {
            rows::insert_attempt(&tx, &d.id, a)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Record one more finished attempt for a stored delivery, made outside the forward job's
    /// retry loop: a 2xx settles it as delivered; a failed first forward of a pending delivery
    /// settles it as failed; a failed replay leaves its state alone.
    pub fn add_attempt(&self, delivery_id: &str, a: &Attempt) -> Result<(), StoreError> {
        if !self.exists(delivery_id)? {
            return Err(StoreError::NotFound(delivery_id.to_string()));
        }
        let tx = self.conn.unchecked_transaction()?;
        rows::insert_attempt(&tx, delivery_id, a)?;
        if a.is_success() {
            tx.execute(
                "UPDATE deliveries SET state = 'delivered', state_reason = NULL WHERE id = ?1",
                [delivery_id],
            )?;
        } else if !a.replay {
            tx.execute(
                "UPDATE deliveries SET state = 'failed', state_reason = ?2
                 WHERE id = ?1 AND state = 'pending'",
                params![delivery_id, rows::attempt_failure(a)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Record (or replace) the verification outcome of a delivery.
    pub fn set_verification(&self, delivery_id: &str, v: &Verification) -> Result<(), StoreError> {
        let json = serde_json::to_string(v).expect("Verification serializes");
        self.update_column(delivery_id, "verification", json)
    }

    /// Record (or replace) what Slack answered for a delivery.
    pub fn set_slack(&self, delivery_id: &str, r: &SlackResult) -> Result<(), StoreError> {
        let json = serde_json::to_string(r).expect("SlackResult serializes");
        self.update_column(delivery_id, "slack", json)
    }

    /// Record (or replace) the one-line summary shown in lists (the Port change one-liner).
    pub fn set_summary(&self, delivery_id: &str, summary: &str) -> Result<(), StoreError> {
        self.update_column(delivery_id, "summary", summary.to_string())
    }

    fn update_column(&self, id: &str, column: &str, value: String) -> Result<(), StoreError> {
        // `column` is one of ours, never user input.
        let sql = format!("UPDATE deliveries SET {column} = ?1 WHERE id = ?2");
        match self.conn.execute(&sql, params![value, id])? {
            0 => Err(StoreError::NotFound(id.to_string())),
            _ => Ok(()),
        }
    }

    fn exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM deliveries WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The full id for an id or a unique prefix of one.
    pub fn resolve_id(&self, id_or_prefix: &str) -> Result<String, StoreError> {
        if id_or_prefix.is_empty() {
            return Err(StoreError::NotFound(String::new()));
        }
        if self.exists(id_or_prefix)? {
            return Ok(id_or_prefix.to_string());
        }
        // A range scan on the primary key: every id starting with the prefix sorts in
        // [prefix, prefix + U+10FFFF) under SQLite's binary collation.
        let upper = format!("{id_or_prefix}\u{10FFFF}");
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM deliveries WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut ids = stmt
            .query_map(
                params![id_or_prefix, upper, (MAX_CANDIDATES + 1) as i64],
                |r| r.get::<_, String>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        match ids.len() {
            0 => Err(StoreError::NotFound(id_or_prefix.to_string())),
            1 => Ok(ids.remove(0)),
            _ => {
                ids.truncate(MAX_CANDIDATES);
                Err(StoreError::Ambiguous {
                    prefix: id_or_prefix.to_string(),
                    candidates: ids,
                })
            }
        }
    }

    /// One delivery, with its body and every attempt, by id or unique id prefix.
    pub fn get(&self, id_or_prefix: &str) -> Result<Delivery, StoreError> {
        let id = self.resolve_id(id_or_prefix)?;
        let mut d = rows::load_delivery(&self.conn, &id)?;
        d.attempts = rows::load_attempts(&self.conn, &id)?;
        Ok(d)
    }

    /// Delete old deliveries (their attempts go with them): all but the newest `keep`, and every
    /// one received more than `older_than_ms` milliseconds ago (an age, not a timestamp: `7d` is
    /// `7 * 86_400_000`). With both, a delivery goes when either says so. Returns how many went.
    pub fn prune(
        &self,
        keep: Option<usize>,
        older_than_ms: Option<i64>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut removed = 0;
        if let Some(age) = older_than_ms {
            let cutoff = crate::delivery::now_ms().saturating_sub(age.max(0));
            removed += tx.execute("DELETE FROM deliveries WHERE received_at_ms < ?1", [cutoff])?;
        }
        if let Some(keep) = keep {
            removed += tx.execute(
                "DELETE FROM deliveries WHERE rowid NOT IN (
                     SELECT rowid FROM deliveries ORDER BY received_at_ms DESC, rowid DESC LIMIT ?1)",
                [i64::try_from(keep).unwrap_or(i64::MAX)],
            )?;
        }
        tx.commit()?;
        Ok(removed)
    }
}
