//! One delivery as the list shows it: a small [`Row`] (no body), its [`RowStatus`], and the
//! header's [`Counts`] tallied from rows.

use crate::delivery::{Attempt, Delivery, event_label};
use crate::verify::Outcome;

/// Longest path kept in a row (the full one is in the delivery).
const MAX_ROW_PATH: usize = 512;

/// The last known target status of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Not forwarded yet.
    Pending,
    /// The target answered with this status.
    Code(u16),
    /// No answer (refused, timeout, ...).
    Error,
    /// Not forwarded: `--only` / `--skip` filtered it out.
    Skipped,
    /// Not forwarded: `--verify strict` held it (its signature did not check out).
    Held,
    /// A try failed (with this answer, if any) and the delivery will be tried again: not
    /// failed yet, so not counted as failed.
    Retrying(Option<u16>),
}

impl RowStatus {
    /// The status of a delivery in `state` that has no attempt yet.
    pub fn unattempted(state: crate::delivery::DeliveryState) -> RowStatus {
        use crate::delivery::DeliveryState as S;
        match state {
            S::Skipped => RowStatus::Skipped,
            S::Held => RowStatus::Held,
            S::Pending | S::Delivering | S::Delivered | S::Failed => RowStatus::Pending,
        }
    }
}

/// What the list shows for one delivery: small, no body.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    pub received_at_ms: i64,
    pub method: String,
    /// Path and query, cut at a bound.
    pub path: String,
    pub event: Option<String>,
    /// What a Port event is about (`entity (blueprint)`), shown when the path is just `/`.
    pub subject: Option<String>,
    pub verify: Option<Outcome>,
    pub status: RowStatus,
    pub latency_ms: Option<f64>,
    pub attempts: u32,
    /// Whether Slack accepted the notification, when one was sent.
    pub slack: Option<bool>,
    pub body_len: usize,
}

impl Row {
    /// The row for a delivery.
    pub fn from_delivery(d: &Delivery) -> Row {
        let mut path = d.request.path_and_query();
        if let Some((cut, _)) = path.char_indices().nth(MAX_ROW_PATH) {
            path.truncate(cut);
        }
        let mut row = Row {
            id: d.id.clone(),
            received_at_ms: d.received_at_ms,
            method: d.request.method.clone(),
            path,
            event: event_label(&d.request),
            subject: super::port_view::port_subject(&d.request.body),
            verify: d.verification.as_ref().map(|v| v.outcome),
            status: RowStatus::unattempted(d.state),
            latency_ms: None,
            attempts: 0,
            slack: d.slack.as_ref().map(|s| s.ok),
            body_len: d.request.body.len(),
        };
        for a in &d.attempts {
            row.apply_attempt(a);
        }
        row
    }

    /// The worker will try again: the last failed try does not count as failed.
    pub fn retrying(&mut self) {
        if let RowStatus::Code(c) = self.status {
            self.status = RowStatus::Retrying(Some(c));
        } else if self.status == RowStatus::Error {
            self.status = RowStatus::Retrying(None);
        }
    }

    /// The delivery reached its final state: a retried one shows its last answer.
    pub fn settled(&mut self) {
        if let RowStatus::Retrying(last) = self.status {
            self.status = last.map_or(RowStatus::Error, RowStatus::Code);
        }
    }

    /// Record a finished attempt (the row shows the latest).
    pub fn apply_attempt(&mut self, a: &Attempt) {
        self.attempts += 1;
        self.status = match self.status {
            // another failed try of a delivery being retried: still retrying
            RowStatus::Retrying(_) if !a.is_success() && !a.replay => {
                RowStatus::Retrying(a.status())
            }
            _ => a.status().map_or(RowStatus::Error, RowStatus::Code),
        };
        self.latency_ms = Some(a.latency_ms);
    }
}

/// The header's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: usize,
    pub forwarded_ok: usize,
    pub failed: usize,
    pub bad_signatures: usize,
}

impl Counts {
    pub(super) fn tally(&mut self, row: &Row, sign: isize) {
        let add = |n: &mut usize, yes: bool| {
            if yes {
                *n = n.saturating_add_signed(sign);
            }
        };
        add(&mut self.received, true);
        add(
            &mut self.forwarded_ok,
            matches!(row.status, RowStatus::Code(200..=299)),
        );
        add(
            &mut self.failed,
            matches!(row.status, RowStatus::Error)
                || matches!(row.status, RowStatus::Code(c) if !(200..300).contains(&c)),
        );
        add(
            &mut self.bad_signatures,
            row.verify.is_some_and(is_bad_signature),
        );
    }
}

/// Whether a verification outcome means "the signature did not check out".
pub fn is_bad_signature(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Invalid
            | Outcome::Stale
            | Outcome::Future
            | Outcome::MissingHeader
            | Outcome::MalformedHeader
    )
}
