//! The one writer task: the relay hands store operations to a bounded queue and never waits for
//! the disk. A dedicated thread owns the connection (rusqlite is blocking) and applies them in
//! order. When a write fails (disk full, file locked, ...) the user is told on the `problems`
//! channel, the operation is dropped, and the relay keeps forwarding.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};
use crate::delivery::{Attempt, Delivery};
use crate::slack::SlackResult;
use crate::verify::Verification;

/// While writes keep failing, repeat the problem at most this often.
const REPEAT_PROBLEM_EVERY: Duration = Duration::from_secs(10);

/// One thing to write.
#[derive(Clone, Debug)]
pub enum StoreOp {
    /// A new delivery (and any attempts it already has).
    Insert(Box<Delivery>),
    /// One more attempt for the delivery with this id.
    Attempt(String, Attempt),
    Verification(String, Verification),
    Slack(String, SlackResult),
    /// The list one-liner for the delivery with this id.
    Summary(String, String),
}

impl StoreOp {
    fn delivery_id(&self) -> &str {
        match self {
            StoreOp::Insert(d) => &d.id,
            StoreOp::Attempt(id, _)
            | StoreOp::Verification(id, _)
            | StoreOp::Slack(id, _)
            | StoreOp::Summary(id, _) => id,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            StoreOp::Insert(_) => "delivery",
            StoreOp::Attempt(..) => "forwarding attempt",
            StoreOp::Verification(..) => "verification result",
            StoreOp::Slack(..) => "Slack result",
            StoreOp::Summary(..) => "summary",
        }
    }

    fn apply(&self, store: &Store) -> Result<(), StoreError> {
        match self {
            StoreOp::Insert(d) => store.insert_delivery(d),
            StoreOp::Attempt(id, a) => store.add_attempt(id, a),
            StoreOp::Verification(id, v) => store.set_verification(id, v),
            StoreOp::Slack(id, r) => store.set_slack(id, r),
            StoreOp::Summary(id, s) => store.set_summary(id, s),
        }
    }
}

enum Msg {
    Op(StoreOp),
    Flush(oneshot::Sender<()>),
}

/// The sending side of the writer. Cheap to clone; the writer thread ends when every clone is
/// dropped (after writing what is queued).
#[derive(Clone, Debug)]
pub struct StoreWriter {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Op(op) => write!(f, "Op({} {})", op.what(), op.delivery_id()),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl StoreWriter {
    /// Start the writer thread, which owns `store`. At most `queue` operations wait (at least 1).
    /// Failed writes are described on `problems` in words a person understands. Needs no tokio
    /// runtime; only [`StoreWriter::flush`] is async.
    pub fn spawn(
        store: Store,
        queue: usize,
        problems: mpsc::UnboundedSender<String>,
    ) -> StoreWriter {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let thread_problems = problems.clone();
        let spawned = std::thread::Builder::new()
            .name("hookrelay-store".into())
            .spawn(move || run(store, rx, thread_problems));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: every send fails and is reported by the caller.
            let _ = problems.send(format!(
                "store: could not start the writer ({e}); deliveries are not saved, forwarding goes on"
            ));
        }
        StoreWriter { tx }
    }

    /// Queue an operation without waiting. `Err` gives it back when the queue is full (the disk
    /// is slower than the deliveries) or the writer has stopped; the caller reports it.
    // The operation comes back whole so the caller can say what was not saved; this path is rare.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, op: StoreOp) -> Result<(), StoreOp> {
        self.tx.try_send(Msg::Op(op)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Msg::Op(op))
            | mpsc::error::TrySendError::Closed(Msg::Op(op)) => op,
            _ => unreachable!("only operations are sent with try_send"),
        })
    }

    /// Wait until everything queued so far has been written (or has failed and been reported).
    /// Returns at once if the writer has stopped.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(store: Store, mut rx: mpsc::Receiver<Msg>, problems: mpsc::UnboundedSender<String>) {
    let mut reporter = Reporter::new(problems);
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Op(op) => match op.apply(&store) {
                Ok(()) => reporter.success(),
                Err(e) => reporter.failure(&store, &op, &e),
            },
            Msg::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Tells the user about failed writes without flooding them: the first failure, then at most one
/// line per [`REPEAT_PROBLEM_EVERY`] with a count, and a line when writing works again.
struct Reporter {
    problems: mpsc::UnboundedSender<String>,
    last_report: Option<Instant>,
    lost_since_report: u64,
    lost_total: u64,
}

impl Reporter {
    fn new(problems: mpsc::UnboundedSender<String>) -> Self {
        Reporter {
            problems,
            last_report: None,
            lost_since_report: 0,
            lost_total: 0,
        }
    }

    fn success(&mut self) {
        if self.lost_total > 0 {
            let _ = self.problems.send(format!(
                "store: writing works again ({} write(s) were lost)",
                self.lost_total
            ));
            self.last_report = None;
            self.lost_since_report = 0;
            self.lost_total = 0;
        }
    }

    fn failure(&mut self, store: &Store, op: &StoreOp, e: &StoreError) {
        tracing::warn!(error = %e, what = op.what(), id = op.delivery_id(), "store write failed");
        self.lost_total += 1;
        let due = self
            .last_report
            .is_none_or(|t| t.elapsed() >= REPEAT_PROBLEM_EVERY);
        if !due {
            self.lost_since_report += 1;
            return;
        }
        let mut text = describe(store, op, e);
        if self.lost_since_report > 0 {
            text.push_str(&format!(
                " ({} more write(s) failed before this one)",
                self.lost_since_report
            ));
        }
        let _ = self.problems.send(text);
        self.last_report = Some(Instant::now());
        self.lost_since_report = 0;
    }
}

/// A failed write in words: what was lost, why, and that forwarding goes on.
fn describe(store: &Store, op: &StoreOp, e: &StoreError) -> String {
    let file = store
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the in-memory store".into());
    let lost = format!(
        "the {} of delivery {} was not saved",
        op.what(),
        op.delivery_id()
    );
    let why = if e.is_disk_full() {
        format!("the disk holding {file} is full")
    } else if e.is_locked() {
        format!("{file} is locked by another program")
    } else if matches!(e.sqlite_code(), Some(rusqlite::ErrorCode::ReadOnly)) {
        format!("{file} is read-only")
    } else {
        e.to_string()
    };
    format!("store: {why}; {lost}. Forwarding goes on.")
}
