//! Turning deliveries and attempts into rows and back. JSON columns hold the small structured
//! parts (headers, origin, verification, Slack); bodies are BLOBs, never transformed.

use bytes::Bytes;
use rusqlite::{Connection, Row, params};
use serde::de::DeserializeOwned;

use super::StoreError;
use super::schema::BODY_PART;
use crate::delivery::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, ErrorKind, Headers, SentRequest,
    WebhookRequest, event_label,
};

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("model types serialize to JSON")
}

/// Parse a JSON column, naming it in the error.
pub(super) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt { what, source })
}

/// Parse an optional JSON column.
pub(super) fn from_json_opt<T: DeserializeOwned>(
    what: &'static str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| from_json(what, &t)).transpose()
}

pub(super) fn insert_delivery(conn: &Connection, d: &Delivery) -> Result<(), StoreError> {
    let r = &d.request;
    conn.prepare_cached(
        "INSERT INTO deliveries (id, channel, relay_event_id, received_at_ms, method, path, query,
             headers, body_size, origin, verification, event, slack, summary, state,
             state_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        d.id,
        d.channel,
        d.relay_event_id,
        d.received_at_ms,
        r.method,
        r.path,
        r.query,
        to_json(&r.headers),
        r.body.len() as i64,
        to_json(&d.origin),
        d.verification.as_ref().map(to_json),
        // derived once at intake; a delivery built elsewhere gets its label here
        d.event.clone().or_else(|| event_label(r)),
        d.slack.as_ref().map(to_json),
        d.summary,
        stored_state(d).as_str(),
        d.state_reason.clone().or_else(|| match stored_state(d) {
            DeliveryState::Failed => d.attempts.last().map(attempt_failure),
            _ => None,
        }),
    ])?;
    insert_body(conn, &d.id, &r.body)
}

/// A delivery's body, in parts of at most [`BODY_PART`] bytes in their own table (written once:
/// state changes do not rewrite it; in parts, so SQLite's two copies of each bound value stay
/// small; see migration 7). An empty body has no parts. Incremental blob writes were tried
/// instead and are worse: the row is first written with zeros, and with the forward job's small
/// page cache every page then went to the log twice.
fn insert_body(conn: &Connection, id: &str, body: &[u8]) -> Result<(), StoreError> {
    let mut insert = conn
        .prepare_cached("INSERT INTO body_parts (delivery_id, part, bytes) VALUES (?1, ?2, ?3)")?;
    for (part, bytes) in body.chunks(BODY_PART).enumerate() {
        insert.execute(params![id, part as i64, bytes])?;
    }
    Ok(())
}

/// A delivery's body: its parts joined in order. `size` (the row's `body_size`) sizes the buffer
/// once; a store edited by hand that disagrees only costs a reallocation.
pub(super) fn load_body(conn: &Connection, id: &str, size: i64) -> Result<Bytes, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM body_parts WHERE delivery_id = ?1 ORDER BY part")?;
    let mut rows = stmt.query([id])?;
    let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(row) = rows.next()? {
        // borrowed from SQLite's row, copied once into the body
        let part = row.get_ref(0)?;
        body.extend_from_slice(part.as_blob().map_err(rusqlite::Error::from)?);
    }
    Ok(Bytes::from(body))
}

/// The state a delivery is stored with: a delivery that already carries attempts (an import, a
/// test) is settled by its last one.
pub(super) fn stored_state(d: &Delivery) -> DeliveryState {
    match d.state {
        DeliveryState::Pending if d.attempts.iter().any(Attempt::is_success) => {
            DeliveryState::Delivered
        }
        DeliveryState::Pending if !d.attempts.is_empty() => DeliveryState::Failed,
        s => s,
    }
}

/// What went wrong with a failed attempt, in words (a failed delivery's reason).
pub(super) fn attempt_failure(a: &Attempt) -> String {
    match &a.outcome {
        AttemptOutcome::Response { status, .. } => format!("the target answered {status}"),
        AttemptOutcome::Error { message, .. } => message.clone(),
    }
}

pub(super) fn insert_attempt(
    conn: &Connection,
    delivery_id: &str,
    a: &Attempt,
) -> Result<(), StoreError> {
    let (status, headers, body, size, error, kind) = match &a.outcome {
        AttemptOutcome::Response {
            status,
            headers,
            body,
            body_size,
        } => (
            Some(*status),
            Some(to_json(headers)),
            Some(&body[..]),
            Some(i64::try_from(*body_size).unwrap_or(i64::MAX)),
            None,
            None,
        ),
        AttemptOutcome::Error { message, error } => (
            None,
            None,
            None,
            None,
            Some(message.as_str()),
            Some(error.as_str()),
        ),
    };
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, started_at_ms, target, replay, latency_ms, status,
             response_headers, response_body, response_size, error, error_kind,
             sent_headers, sent_body, resigned)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        delivery_id,
        a.started_at_ms,
        a.target,
        a.replay,
        a.latency_ms,
        status,
        headers,
        body,
        size,
        error,
        kind,
        a.sent.as_ref().map(|s| to_json(&s.headers)),
        a.sent.as_ref().and_then(|s| s.body.as_deref()),
        a.sent.as_ref().is_some_and(|s| s.resigned),
    ])?;
    Ok(())
}

/// One delivery row with its body (attempts not loaded).
pub(super) fn load_delivery(conn: &Connection, id: &str) -> Result<Delivery, StoreError> {
    load_delivery_with(conn, id, |_| None)
}

/// One delivery row (attempts not loaded); its body is `lent(id)` when that has it, else read
/// from the store.
pub(super) fn load_delivery_with(
    conn: &Connection,
    id: &str,
    lent: impl FnOnce(&str) -> Option<Bytes>,
) -> Result<Delivery, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, channel, relay_event_id, received_at_ms, method, path, query, headers,
                body_size, origin, verification, slack, state, state_reason, event, summary
         FROM deliveries WHERE id = ?1",
    )?;
    let (mut d, size, (headers, origin, verification, slack)) = stmt
        .query_row([id], |row| {
            let d = Delivery {
                id: row.get(0)?,
                channel: row.get(1)?,
                relay_event_id: row.get(2)?,
                received_at_ms: row.get(3)?,
                request: WebhookRequest {
                    method: row.get(4)?,
                    path: row.get(5)?,
                    query: row.get(6)?,
                    headers: Headers::new(),
                    body: Bytes::new(),
                },
                origin: Default::default(),
                verification: None,
                attempts: Vec::new(),
                slack: None,
                state: DeliveryState::parse(&row.get::<_, String>(12)?).unwrap_or_default(),
                state_reason: row.get(13)?,
                event: row.get(14)?,
                summary: row.get(15)?,
            };
            let json: (String, String, Option<String>, Option<String>) =
                (row.get(7)?, row.get(9)?, row.get(10)?, row.get(11)?);
            Ok((d, row.get::<_, i64>(8)?, json))
        })
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(id.to_string()),
            e => e.into(),
        })?;
    d.request.headers = from_json("header list", &headers)?;
    d.origin = from_json("body origin", &origin)?;
    d.verification = from_json_opt("verification", verification)?;
    d.slack = from_json_opt("Slack result", slack)?;
    d.request.body = match lent(id) {
        Some(body) => body,
        None => load_body(conn, id, size)?,
    };
    Ok(d)
}

/// Every attempt of a delivery, oldest first.
pub(super) fn load_attempts(conn: &Connection, id: &str) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT started_at_ms, target, replay, latency_ms, status, response_headers,
                response_body, response_size, error, error_kind, sent_headers, sent_body,
                resigned
         FROM attempts WHERE delivery_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], raw_attempt)?;
    let mut out = Vec::new();
    for raw in rows {
        out.push(raw?.into_attempt()?);
    }
    Ok(out)
}

struct RawAttempt {
    started_at_ms: i64,
    target: String,
    replay: bool,
    latency_ms: f64,
    status: Option<u16>,
    headers: Option<String>,
    body: Option<Vec<u8>>,
    size: Option<i64>,
    error: Option<String>,
    error_kind: Option<String>,
    sent_headers: Option<String>,
    sent_body: Option<Vec<u8>>,
    resigned: bool,
}

fn raw_attempt(row: &Row<'_>) -> rusqlite::Result<RawAttempt> {
    Ok(RawAttempt {
        started_at_ms: row.get(0)?,
        target: row.get(1)?,
        replay: row.get(2)?,
        latency_ms: row.get(3)?,
        status: row.get(4)?,
        headers: row.get(5)?,
        body: row.get(6)?,
        size: row.get(7)?,
        error: row.get(8)?,
        error_kind: row.get(9)?,
        sent_headers: row.get(10)?,
        sent_body: row.get(11)?,
        resigned: row.get(12)?,
    })
}

impl RawAttempt {
    fn into_attempt(self) -> Result<Attempt, StoreError> {
        let outcome = match self.status {
            Some(status) => {
                let body = self.body.unwrap_or_default();
                AttemptOutcome::Response {
                    status,
                    headers: from_json_opt("response header list", self.headers)?
                        .unwrap_or_default(),
                    body_size: self
                        .size
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(body.len() as u64),
                    body: Bytes::from(body),
                }
            }
            None => {
                let message = self.error.unwrap_or_default();
                AttemptOutcome::Error {
                    error: self
                        .error_kind
                        .as_deref()
                        .and_then(ErrorKind::parse)
                        .unwrap_or_else(|| ErrorKind::from_message(&message)),
                    message,
                }
            }
        };
        let sent = match from_json_opt("sent header list", self.sent_headers)? {
            Some(headers) => Some(Box::new(SentRequest {
                headers,
                body: self.sent_body.map(Bytes::from),
                resigned: self.resigned,
            })),
            None => None,
        };
        Ok(Attempt {
            target: self.target,
            started_at_ms: self.started_at_ms,
            replay: self.replay,
            latency_ms: self.latency_ms,
            outcome,
            sent,
        })
    }
}
