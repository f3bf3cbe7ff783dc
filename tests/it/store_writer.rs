//! The writer task: operations reach the file in order, a full queue is reported instead of
//! waiting, and a locked file is reported while the relay keeps sending.

use crate::common;

use std::time::Duration;

use common::*;
use hookrelay::slack::SlackResult;
use hookrelay::store::{Store, StoreOp, StoreWriter};
use hookrelay::verify::{Outcome, Verification};
use tokio::sync::mpsc;

fn insert(id: &str) -> StoreOp {
    StoreOp::Insert(Box::new(delivery(
        id,
        1,
        request("POST", "/", &[], b"body"),
    )))
}

async fn next_problem(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a problem is reported in time")
        .expect("the problem channel is open")
}

#[tokio::test]
async fn operations_are_written_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.sqlite");
    let (tx, mut problems) = mpsc::unbounded_channel();
    let writer = StoreWriter::spawn(Store::open(&path).unwrap(), 16, tx);
    let v = Verification::new(None, Outcome::Unsigned, "no signature header");
    let slack = SlackResult {
        ok: true,
        status: Some(200),
        error: None,
        explanation: "sent".into(),
    };
    let ops = [
        insert("w1"),
        StoreOp::Attempt("w1".into(), response(200, b"ok")),
        StoreOp::Verification("w1".into(), v.clone()),
        StoreOp::Slack("w1".into(), slack.clone()),
        StoreOp::Summary("w1".into(), "one line".into()),
    ];
    for op in ops {
        writer.try_send(op).unwrap();
    }
    writer.flush().await;
    let reader = Store::open(&path).unwrap();
    let d = reader.get("w1").unwrap();
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.verification, Some(v));
    assert_eq!(d.slack, Some(slack));
    let list = reader
        .list(&hookrelay::store::ListFilter::default(), 1)
        .unwrap();
    assert_eq!(list[0].summary.as_deref(), Some("one line"));

    // An attempt for a delivery that never made it is a reported problem, not a crash.
    writer
        .try_send(StoreOp::Attempt("ghost".into(), error("x")))
        .unwrap();
    writer.flush().await;
    let p = next_problem(&mut problems).await;
    assert!(
        p.contains("ghost") && p.contains("Forwarding goes on"),
        "{p}"
    );
}

/// Hold an exclusive lock on the file until the returned sender is dropped or fires.
fn lock_file(path: &std::path::Path) -> std::sync::mpsc::Sender<()> {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked.send(()).unwrap();
        let _ = wait.recv();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    is_locked.recv().unwrap();
    release
}

#[tokio::test]
async fn a_locked_file_is_reported_and_sending_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.sqlite");
    let store = Store::open(&path).unwrap();
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let (tx, mut problems) = mpsc::unbounded_channel();
    let writer = StoreWriter::spawn(store, 64, tx);

    let release = lock_file(&path);
    writer.try_send(insert("lost1")).unwrap();
    let p = next_problem(&mut problems).await;
    assert!(p.contains("locked by another program"), "{p}");
    assert!(p.contains("lost1"), "{p}");
    // The queue keeps taking work while the file is locked.
    for i in 0..5 {
        writer.try_send(insert(&format!("lost{}", i + 2))).unwrap();
    }
    writer.flush().await;

    release.send(()).unwrap();
    // Wait until the lock is gone (the lock thread rolls back right after the signal).
    let mut saved = false;
    for i in 0..200 {
        writer.try_send(insert(&format!("after{i}"))).unwrap();
        writer.flush().await;
        if Store::open(&path)
            .unwrap()
            .get(&format!("after{i}"))
            .is_ok()
        {
            saved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saved, "writes succeed once the lock is gone");
    let back = next_problem(&mut problems).await;
    assert!(back.contains("writing works again"), "{back}");
}

#[tokio::test]
async fn a_full_queue_gives_the_operation_back_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sqlite");
    let store = Store::open(&path).unwrap();
    store.set_busy_timeout(Duration::from_secs(30)).unwrap();
    let (tx, _problems) = mpsc::unbounded_channel();
    let writer = StoreWriter::spawn(store, 1, tx);

    // The writer is stuck waiting on the lock with at most one operation queued behind it.
    let release = lock_file(&path);
    let mut refused = Vec::new();
    for i in 0..4 {
        if let Err(op) = writer.try_send(insert(&format!("q{i}"))) {
            refused.push(op);
        }
    }
    assert!(!refused.is_empty(), "a queue of one cannot take four");
    assert!(matches!(&refused[refused.len() - 1], StoreOp::Insert(d) if d.id == "q3"));

    release.send(()).unwrap();
    writer.flush().await;
    let reader = Store::open(&path).unwrap();
    assert!(
        reader.get("q0").is_ok(),
        "the first one waited out the lock"
    );
}
