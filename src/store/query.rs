//! Listing deliveries: filters, newest first, paged, without loading bodies.

use std::str::FromStr;

use rusqlite::types::Value;

use super::rows::from_json_opt;
use super::{Store, StoreError};
use crate::delivery::DeliveryState;
use crate::slack::SlackResult;
use crate::verify::{Outcome, Verification};

/// Which deliveries to list. Every field set narrows the list; `Default` lists everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListFilter {
    /// Received at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// The HTTP method, compared without regard to case.
    pub method: Option<String>,
    /// A substring of the path (case-insensitive for ASCII).
    pub path_contains: Option<String>,
    /// A substring of the event label (`push`, `UPDATE entity`), case-insensitive for ASCII.
    pub event: Option<String>,
    pub status: Option<StatusFilter>,
    pub verification: Option<Outcome>,
    /// Free text, case-insensitive for ASCII, over the path, the event label and the headers
    /// (names and values).
    pub text: Option<String>,
}

/// A filter on what the target answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// The latest attempt got exactly this status.
    Code(u16),
    /// The latest attempt got a status in this class (`2` for 2xx).
    Class(u8),
    /// In this inbox state: `pending`, `delivering`, `delivered`, `failed` (given up: no
    /// attempt got a 2xx), `held`, `skipped`. A delivery never forwarded is not "failed".
    State(DeliveryState),
}

impl StatusFilter {
    /// The old name for `State(Failed)`.
    #[allow(non_upper_case_globals)]
    pub const Failed: StatusFilter = StatusFilter::State(DeliveryState::Failed);
}

impl FromStr for StatusFilter {
    type Err = String;

    /// `404`, `4xx` (or `4XX`), or a state: `pending`, `failed`, `delivered`, ...
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            format!(
                "{s:?} is not a status filter (use e.g. 404, 4xx, pending, delivering, \
                 delivered, failed, held or skipped)"
            )
        };
        if let Some(state) = DeliveryState::parse(s) {
            return Ok(StatusFilter::State(state));
        }
        let b = s.as_bytes();
        if b.len() == 3 && b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'5').contains(&b[0]) {
            return Ok(StatusFilter::Class(b[0] - b'0'));
        }
        match s.parse::<u16>() {
            Ok(code) if (100..=999).contains(&code) => Ok(StatusFilter::Code(code)),
            _ => Err(bad()),
        }
    }
}

/// One line of `hookrelay list`: a delivery without its body or attempt details.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliverySummary {
    pub id: String,
    pub received_at_ms: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub event: Option<String>,
    pub body_size: u64,
    pub verification: Option<Verification>,
    /// The latest attempt's status, when it got a response.
    pub last_status: Option<u16>,
    /// The latest attempt's error, when it got none.
    pub last_error: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub attempts: u32,
    pub slack: Option<SlackResult>,
    /// The one-liner set with [`Store::set_summary`].
    pub summary: Option<String>,
    /// Where it is in the forward job's inbox.
    pub state: DeliveryState,
}

const COLUMNS: &str = "d.id, d.received_at_ms, d.method, d.path, d.query, d.event, d.body_size,
    d.verification, la.status, la.error, la.latency_ms,
    (SELECT count(*) FROM attempts c WHERE c.delivery_id = d.id), d.slack, d.summary, d.state";

/// The latest attempt of each delivery, joined as `la`.
const FROM: &str = "FROM deliveries d LEFT JOIN attempts la
    ON la.id = (SELECT max(a.id) FROM attempts a WHERE a.delivery_id = d.id)";

/// The FROM clause a filter needs: the latest-attempt join only for status code filters.
fn from_for(filter: &ListFilter) -> &'static str {
    if matches!(
        filter.status,
        Some(StatusFilter::Code(_) | StatusFilter::Class(_))
    ) {
        FROM
    } else {
        "FROM deliveries d"
    }
}

/// `%` and `_` in user text match themselves.
fn like_contains(s: &str) -> Value {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Value::Text(format!("%{escaped}%"))
}

/// The WHERE clause (possibly empty) and its parameters.
fn where_clause(f: &ListFilter) -> (String, Vec<Value>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut push = |cond: &str, values: Vec<Value>| {
        let mut cond = cond.to_string();
        for v in values {
            params.push(v);
            // `?` placeholders are numbered in order of appearance.
            cond = cond.replacen("?#", &format!("?{}", params.len()), 1);
        }
        conds.push(cond);
    };
    if let Some(since) = f.since_ms {
        push("d.received_at_ms >= ?#", vec![Value::Integer(since)]);
    }
    if let Some(m) = &f.method {
        push(
            "upper(d.method) = upper(?#)",
            vec![Value::Text(m.trim().to_string())],
        );
    }
    if let Some(p) = &f.path_contains {
        push("d.path LIKE ?# ESCAPE '\\'", vec![like_contains(p)]);
    }
    if let Some(e) = &f.event {
        push("d.event LIKE ?# ESCAPE '\\'", vec![like_contains(e)]);
    }
    match f.status {
        None => {}
        Some(StatusFilter::Code(c)) => push("la.status = ?#", vec![Value::Integer(c.into())]),
        Some(StatusFilter::Class(k)) => {
            let low = i64::from(k) * 100;
            push(
                "la.status BETWEEN ?# AND ?#",
                vec![Value::Integer(low), Value::Integer(low + 99)],
            )
        }
        Some(StatusFilter::State(state)) => push(
            "d.state = ?#",
            vec![Value::Text(state.as_str().to_string())],
        ),
    }
    if let Some(o) = f.verification {
        let name = serde_json::to_value(o)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        push(
            "json_extract(d.verification, '$.outcome') = ?#",
            vec![Value::Text(name)],
        );
    }
    if let Some(t) = &f.text {
        let pat = like_contains(t);
        push(
            "(d.path LIKE ?# ESCAPE '\\' OR d.event LIKE ?# ESCAPE '\\' OR d.headers LIKE ?# ESCAPE '\\')",
            vec![pat.clone(), pat.clone(), pat],
        );
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, params)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// The newest `limit` deliveries that match, newest first. Bodies are not loaded.
    pub fn list(
        &self,
        filter: &ListFilter,
        limit: usize,
    ) -> Result<Vec<DeliverySummary>, StoreError> {
        self.list_page(filter, 0, limit)
    }

    /// Like [`Store::list`], skipping the newest `offset` matches (for a scrolling view).
    pub fn list_page(
        &self,
        filter: &ListFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<DeliverySummary>, StoreError> {
        let (clause, mut params) = where_clause(filter);
        let n = params.len();
        // Pick the page's rows first, joining the latest attempt only when a filter needs it, so
        // skipped rows (a deep offset) cost an index step, not a join.
        let sql = format!(
            "SELECT {COLUMNS} FROM (
                 SELECT d.rowid AS rid {from} {clause}
                 ORDER BY d.received_at_ms DESC, d.rowid DESC LIMIT ?{} OFFSET ?{}
             ) page
             JOIN deliveries d ON d.rowid = page.rid
             LEFT JOIN attempts la
                 ON la.id = (SELECT max(a.id) FROM attempts a WHERE a.delivery_id = d.id)
             ORDER BY d.received_at_ms DESC, d.rowid DESC",
            n + 1,
            n + 2,
            from = from_for(filter),
        );
        params.push(Value::Integer(to_i64(limit)));
        params.push(Value::Integer(to_i64(offset)));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(DeliverySummary {
                id: row.get(0)?,
                received_at_ms: row.get(1)?,
                method: row.get(2)?,
                path: row.get(3)?,
                query: row.get(4)?,
                event: row.get(5)?,
                body_size: row.get::<_, i64>(6)?.max(0) as u64,
                verification: from_json_opt("verification", row.get(7)?)?,
                last_status: row.get(8)?,
                last_error: row.get(9)?,
                last_latency_ms: row.get(10)?,
                attempts: row.get::<_, i64>(11)?.clamp(0, u32::MAX.into()) as u32,
                slack: from_json_opt("Slack result", row.get(12)?)?,
                summary: row.get(13)?,
                state: DeliveryState::parse(&row.get::<_, String>(14)?).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// How many deliveries match.
    pub fn count(&self, filter: &ListFilter) -> Result<usize, StoreError> {
        let (clause, params) = where_clause(filter);
        let sql = format!("SELECT count(*) {} {clause}", from_for(filter));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let n: i64 = stmt.query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        Ok(n.max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_parse() {
        assert_eq!("404".parse(), Ok(StatusFilter::Code(404)));
        assert_eq!("5XX".parse(), Ok(StatusFilter::Class(5)));
        assert_eq!("failed".parse(), Ok(StatusFilter::Failed));
        assert_eq!(
            "pending".parse(),
            Ok(StatusFilter::State(DeliveryState::Pending))
        );
        assert!("6xx".parse::<StatusFilter>().is_err());
        assert!("abc".parse::<StatusFilter>().is_err());
        assert!("42".parse::<StatusFilter>().is_err());
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let f = ListFilter {
            since_ms: Some(5),
            status: Some(StatusFilter::Class(2)),
            text: Some("a%b".into()),
            ..ListFilter::default()
        };
        let (clause, params) = where_clause(&f);
        for i in 1..=6 {
            assert!(clause.contains(&format!("?{i}")), "{clause}");
        }
        assert!(!clause.contains("?#"));
        assert_eq!(params.len(), 6);
        assert_eq!(params[3], Value::Text("%a\\%b%".into()));
    }
}
