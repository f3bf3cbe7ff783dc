//! The UI state: lightweight rows for every delivery, the full record of the selected one,
//! selection and follow, the detail tab, the filter, marks, overlays, counts and the header.
//!
//! Rows are only ever appended (the oldest are dropped past [`MAX_ROWS`]), so a row index is a
//! stable handle between two drops. Display positions map onto `visible` (the filtered row
//! indices, ascending) in the order the user chose (newest first or last).

use std::collections::HashMap;
use std::sync::Arc;

use crate::delivery::{Attempt, Delivery};
use crate::events::ConnState;
use crate::slack::SlackResult;

use super::detail_view::DetailView;
use super::filter::Filter;
pub use super::row::{Counts, Row, RowStatus, is_bad_signature};
use super::theme::Theme;

/// Rows kept in memory; past this the oldest [`DROP_CHUNK`] are dropped at once.
pub const MAX_ROWS: usize = 250_000;
/// How many rows go when [`MAX_ROWS`] is reached.
pub const DROP_CHUNK: usize = 25_000;
/// The detail pane's tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Request,
    Response,
    Diff,
    Verification,
    Slack,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Request,
        Tab::Response,
        Tab::Diff,
        Tab::Verification,
        Tab::Slack,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Request => "Request",
            Tab::Response => "Response",
            Tab::Diff => "Diff",
            Tab::Verification => "Verification",
            Tab::Slack => "Slack",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// What `m` marked for a later `d`.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    Delivery(Box<Delivery>),
    Attempt {
        delivery_id: String,
        index: usize,
        attempt: Box<Attempt>,
    },
}

/// A side-by-side comparison (two deliveries, or two attempts' responses).
#[derive(Clone, Debug, PartialEq)]
pub struct CompareView {
    pub title: String,
    /// Named sections (`Body`, `Headers`, `Status`), each with its changes.
    pub sections: Vec<CompareSection>,
}

/// One part of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareSection {
    pub name: String,
    pub changes: Vec<crate::json_diff::Change>,
    /// Said instead of (or after) the changes: "identical", "not JSON: 12 vs 14 bytes".
    pub note: Option<String>,
}

/// A window on top of everything else.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    Help,
    Compare { view: CompareView, scroll: usize },
}

/// How long a message (not a problem) stays at the bottom.
pub const STATUS_TTL_MS: i64 = 8_000;

/// A one-line message for the user at the bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusMsg {
    pub text: String,
    pub error: bool,
    /// When it goes (ms since the epoch); problems stay until Esc or the next message.
    pub until_ms: Option<i64>,
}

/// The fixed facts the header shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderInfo {
    pub channel_url: String,
    pub target: String,
    pub verify_mode: String,
    pub store_path: Option<String>,
}

/// The whole UI state. `render` reads it; `update` and `on_app_event` change it.
#[derive(Clone, Debug)]
pub struct App {
    pub header: HeaderInfo,
    /// Where the forward job sends deliveries (copy-as-curl follows its routes and `-H`).
    pub sending: Option<std::sync::Arc<super::curl::Sending>>,
    pub theme: Theme,
    pub newest_first: bool,
    /// "Now" for countdowns, set by the loop (fixed in tests).
    pub now_ms: i64,
    /// Offset of local time from UTC, for showing times (0 in tests).
    pub tz_offset_s: i32,
    pub conn: ConnState,
    /// When a reconnect is due (ms since the epoch), while reconnecting.
    pub reconnect_at_ms: Option<i64>,
    pub rows: Vec<Row>,
    pub(crate) index: HashMap<String, usize>,
    /// Row indices that pass the filter, ascending.
    pub visible: Vec<usize>,
    pub counts: Counts,
    /// Rows dropped from memory (the oldest), for the header.
    pub dropped: usize,
    pub filter: Filter,
    pub filter_editing: bool,
    /// The selected row (index into `rows`).
    pub selected: Option<usize>,
    /// Follow new arrivals (selection stays on the newest).
    pub follow: bool,
    /// Display position of the first list line.
    pub list_offset: usize,
    /// How many list lines fit (the loop sets it from the layout).
    pub list_height: usize,
    /// The full record of the selected delivery, when loaded.
    pub detail: Option<Box<Delivery>>,
    /// What the detail pane shows of it, built once ([`App::sync_view`]).
    pub view: Option<Arc<DetailView>>,
    /// How many views were built so far (each costs a body's parse: once per selection).
    pub views_built: u64,
    pub tab: Tab,
    pub raw: bool,
    /// The detail pane has the whole body of the screen; arrows scroll it.
    pub detail_focus: bool,
    pub detail_scroll: usize,
    /// The attempt the Response tab points at (for `m`/`d`).
    pub attempt_cursor: usize,
    pub mark: Option<Mark>,
    pub overlay: Option<Overlay>,
    pub status: Option<StatusMsg>,
}

impl App {
    /// An empty UI.
    pub fn new(header: HeaderInfo, newest_first: bool, theme: Theme) -> App {
        App {
            header,
            sending: None,
            theme,
            newest_first,
            now_ms: 0,
            tz_offset_s: 0,
            conn: ConnState::Connecting,
            reconnect_at_ms: None,
            rows: Vec::new(),
            index: HashMap::new(),
            visible: Vec::new(),
            counts: Counts::default(),
            dropped: 0,
            filter: Filter::default(),
            filter_editing: false,
            selected: None,
            follow: true,
            list_offset: 0,
            list_height: 10,
            detail: None,
            view: None,
            views_built: 0,
            tab: Tab::Request,
            raw: false,
            detail_focus: false,
            detail_scroll: 0,
            attempt_cursor: 0,
            mark: None,
            overlay: None,
            status: None,
        }
    }

    /// How many rows pass the filter.
    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The row index at a display position.
    pub fn row_at(&self, pos: usize) -> Option<usize> {
        let n = self.visible.len();
        if pos >= n {
            return None;
        }
        Some(if self.newest_first {
            self.visible[n - 1 - pos]
        } else {
            self.visible[pos]
        })
    }

    /// The display position of a row, when it passes the filter.
    pub fn pos_of(&self, row: usize) -> Option<usize> {
        let i = self.visible.binary_search(&row).ok()?;
        Some(if self.newest_first {
            self.visible.len() - 1 - i
        } else {
            i
        })
    }

    /// The display position of the newest visible row.
    pub fn newest_pos(&self) -> Option<usize> {
        match self.visible.len() {
            0 => None,
            n => Some(if self.newest_first { 0 } else { n - 1 }),
        }
    }

    pub fn selected_pos(&self) -> Option<usize> {
        self.selected.and_then(|r| self.pos_of(r))
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.selected.and_then(|r| self.rows.get(r))
    }

    /// The loaded delivery, when it is the selected one.
    pub fn selected_delivery(&self) -> Option<&Delivery> {
        let row = self.selected_row()?;
        self.detail.as_deref().filter(|d| d.id == row.id)
    }

    /// Add rows (from the store at startup, oldest first). Does not move the selection.
    pub fn extend_rows(&mut self, rows: impl IntoIterator<Item = Row>) {
        for row in rows {
            self.push_row(row);
        }
    }

    /// Append one row; returns its index.
    pub(crate) fn push_row(&mut self, row: Row) -> usize {
        if let Some(&i) = self.index.get(&row.id) {
            self.counts.tally(&self.rows[i], -1);
            self.counts.tally(&row, 1);
            self.rows[i] = row;
            return i;
        }
        if self.rows.len() >= MAX_ROWS {
            self.drop_oldest(DROP_CHUNK);
        }
        let i = self.rows.len();
        self.counts.tally(&row, 1);
        self.index.insert(row.id.clone(), i);
        if self.filter.matches(&row) {
            self.visible.push(i);
        }
        self.rows.push(row);
        i
    }

    /// Change a row in place, keeping the counts right.
    pub(crate) fn modify_row(&mut self, id: &str, f: impl FnOnce(&mut Row)) -> Option<usize> {
        let i = *self.index.get(id)?;
        self.counts.tally(&self.rows[i], -1);
        f(&mut self.rows[i]);
        self.counts.tally(&self.rows[i], 1);
        Some(i)
    }

    fn drop_oldest(&mut self, n: usize) {
        let n = n.min(self.rows.len());
        self.rows.drain(..n);
        self.dropped += n;
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        self.selected = self.selected.and_then(|s| s.checked_sub(n));
        self.recompute_visible();
    }

    /// Re-run the filter over every row.
    pub fn recompute_visible(&mut self) {
        self.visible = (0..self.rows.len())
            .filter(|&i| self.filter.matches(&self.rows[i]))
            .collect();
    }

    /// Record an attempt on a delivery (row and loaded record).
    pub fn add_attempt(&mut self, id: &str, attempt: Attempt) {
        self.modify_row(id, |r| r.apply_attempt(&attempt));
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
            d.attempts.push(attempt);
        }
    }

    /// Record Slack's answer for a delivery.
    pub fn set_slack(&mut self, id: &str, result: SlackResult) {
        let ok = result.ok;
        self.modify_row(id, |r| r.slack = Some(ok));
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
            d.slack = Some(result);
        }
    }

    /// Bring [`App::view`] in line with the selection, for a detail pane `width` columns wide:
    /// build it when the selected delivery is loaded and its view is missing or was built for
    /// another `v` or width; drop it when no loaded delivery is selected. The loop calls this
    /// before it draws. Returns whether it built.
    pub fn sync_view(&mut self, width: usize) -> bool {
        let raw = self.raw;
        let Some(d) = self.selected_delivery() else {
            if let Some(old) = self.view.take() {
                crate::heap::trim_after(old.body_len);
            }
            return false;
        };
        if self
            .view
            .as_ref()
            .is_some_and(|v| v.is_for(&d.id, raw, width))
        {
            return false;
        }
        let view = DetailView::build(d, raw, width, &self.theme);
        let old = self.view.replace(Arc::new(view));
        self.views_built += 1;
        if let Some(old) = old {
            crate::heap::trim_after(old.body_len);
        }
        true
    }

    /// Seconds until the next reconnect try, rounded up.
    pub fn reconnect_in_s(&self) -> Option<i64> {
        self.reconnect_at_ms
            .map(|at| ((at - self.now_ms).max(0) + 999) / 1000)
    }

    /// Whether something on screen changes by itself (a countdown, a message that goes), so
    /// the loop must tick.
    pub fn animating(&self) -> bool {
        self.reconnect_at_ms.is_some_and(|at| at > self.now_ms)
            || self
                .status
                .as_ref()
                .and_then(|m| m.until_ms)
                .is_some_and(|at| at > self.now_ms)
    }

    /// The message to show now, if any (messages go after [`STATUS_TTL_MS`]).
    pub fn current_status(&self) -> Option<&StatusMsg> {
        self.status
            .as_ref()
            .filter(|m| m.until_ms.is_none_or(|at| self.now_ms < at))
    }

    /// Show a message at the bottom for a while.
    pub fn say(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMsg {
            text: text.into(),
            error: false,
            until_ms: Some(self.now_ms.saturating_add(STATUS_TTL_MS)),
        });
    }

    /// Show a problem at the bottom (until Esc or the next message).
    pub fn complain(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMsg {
            text: text.into(),
            error: true,
            until_ms: None,
        });
    }
}
