//! The list filter (`/`): space-separated terms that must all match.
//!
//! - `method:post`: the method (case-insensitive, exact);
//! - `status:2xx`, `status:404`, `status:err`, `status:pending`: the last attempt's status;
//! - `event:push`: the event label contains the text;
//! - `sig:invalid` (or `outcome:`): the verification outcome (`valid`, `invalid`, `stale`,
//!   `future`, `missing`, `malformed`, `nosecret`, `reserialized`, `rebuilt`, `unsigned`, `bad`,
//!   `none`);
//! - anything else: text found in the id, method, path, event or status.

use super::row::{Row, RowStatus, is_bad_signature};
use crate::verify::Outcome;

/// Longest filter text accepted.
pub const MAX_FILTER_LEN: usize = 200;

/// A parsed filter. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The text as typed.
    pub text: String,
    terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Method(String),
    Status(StatusTerm),
    Event(String),
    Outcome(String),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum StatusTerm {
    Class(u16),
    Exact(u16),
    Error,
    Pending,
    /// An unparseable status term matches nothing.
    Never,
}

impl Filter {
    /// Parse filter text (cut at [`MAX_FILTER_LEN`]).
    pub fn parse(text: &str) -> Filter {
        let text: String = text.chars().take(MAX_FILTER_LEN).collect();
        let terms = text.split_whitespace().map(parse_term).collect();
        Filter { text, terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether a row passes every term.
    pub fn matches(&self, row: &Row) -> bool {
        self.terms.iter().all(|t| term_matches(t, row))
    }
}

fn parse_term(word: &str) -> Term {
    let lower = word.to_lowercase();
    let Some((key, value)) = lower.split_once(':') else {
        return Term::Text(lower);
    };
    let value = value.to_string();
    match key {
        "method" | "m" => Term::Method(value),
        "event" | "e" => Term::Event(value),
        "sig" | "outcome" | "verify" => Term::Outcome(value),
        "status" | "s" => Term::Status(match value.as_str() {
            "err" | "error" => StatusTerm::Error,
            "pending" | "none" => StatusTerm::Pending,
            v if v.len() == 3 && v.ends_with("xx") => {
                v[..1].parse().map_or(StatusTerm::Never, StatusTerm::Class)
            }
            v => v.parse().map_or(StatusTerm::Never, StatusTerm::Exact),
        }),
        _ => Term::Text(lower),
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Valid => "valid",
        Outcome::Invalid => "invalid",
        Outcome::Stale => "stale",
        Outcome::Future => "future",
        Outcome::MissingHeader => "missing",
        Outcome::MalformedHeader => "malformed",
        Outcome::NoSecret => "nosecret",
        Outcome::Reserialized => "reserialized",
        Outcome::Unsigned => "unsigned",
        Outcome::ValidAfterReserialization => "rebuilt",
    }
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if hay.is_ascii() && needle_lower.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle_lower)
    }
}

fn term_matches(t: &Term, row: &Row) -> bool {
    match t {
        Term::Method(m) => row.method.eq_ignore_ascii_case(m),
        Term::Event(e) => row.event.as_deref().is_some_and(|ev| contains_ci(ev, e)),
        Term::Outcome(o) => match (row.verify, o.as_str()) {
            (None, "none") => true,
            (None, _) => false,
            (Some(v), "bad") => is_bad_signature(v),
            (Some(v), o) => outcome_name(v).starts_with(o),
        },
        Term::Status(s) => match (s, row.status) {
            (StatusTerm::Class(c), RowStatus::Code(code)) => code / 100 == *c,
            (StatusTerm::Exact(c), RowStatus::Code(code)) => code == *c,
            (StatusTerm::Error, RowStatus::Error) => true,
            (StatusTerm::Pending, RowStatus::Pending | RowStatus::Retrying(_)) => true,
            _ => false,
        },
        Term::Text(x) => {
            contains_ci(&row.id, x)
                || contains_ci(&row.method, x)
                || contains_ci(&row.path, x)
                || row.event.as_deref().is_some_and(|e| contains_ci(e, x))
                || row.subject.as_deref().is_some_and(|e| contains_ci(e, x))
                || matches!(row.status, RowStatus::Code(c) if c.to_string() == *x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, path: &str, status: RowStatus, verify: Option<Outcome>) -> Row {
        Row {
            id: "abc".into(),
            received_at_ms: 0,
            method: method.into(),
            path: path.into(),
            event: Some("UPDATE entity".into()),
            subject: None,
            verify,
            status,
            latency_ms: None,
            attempts: 0,
            slack: None,
            body_len: 0,
        }
    }

    #[test]
    fn terms() {
        let r = row(
            "POST",
            "/hooks/GitHub",
            RowStatus::Code(503),
            Some(Outcome::Invalid),
        );
        let yes = [
            "",
            "github",
            "method:post",
            "status:5xx",
            "status:503",
            "sig:invalid",
            "sig:bad",
            "event:update",
            "post 503 hooks",
        ];
        for f in yes {
            assert!(Filter::parse(f).matches(&r), "{f:?} should match");
        }
        let no = [
            "gitlab",
            "method:get",
            "status:2xx",
            "status:err",
            "status:abc",
            "sig:valid",
            "sig:none",
            "event:push",
            "post gitlab",
        ];
        for f in no {
            assert!(!Filter::parse(f).matches(&r), "{f:?} should not match");
        }
        let e = row("GET", "/", RowStatus::Error, None);
        assert!(Filter::parse("status:err sig:none").matches(&e));
    }
}
