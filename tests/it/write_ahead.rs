//! What is on disk, and when. Saved before the target sees it: whichever way a delivery
//! reaches the worker (handed over by intake with its commit when the worker is idle, or read
//! back from the inbox), the target receives nothing the store does not already hold. Written
//! before it is told: an attempt's line in the log comes once the attempt is in the store
//! (the worker goes on meanwhile). The target itself looks in the store (its own connection)
//! as requests arrive, and holds the store's write lock where a wrong order would show. Real
//! binaries (`hookrelay serve`, `hookrelay forward`), a real store file.

use crate::cli_support;
use crate::common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use cli_support::{forward, serve};
use tokio::sync::Notify;

/// What the target saw: each request's `x-seq`, and whether the store had it at that moment.
#[derive(Clone)]
struct Looking {
    store: PathBuf,
    seen: Arc<Mutex<Vec<(usize, bool)>>>,
    arrived: Arc<Notify>,
    /// The target takes the store's write lock before it answers this one, and keeps it here.
    lock_at: Option<usize>,
    lock: Arc<Mutex<Option<rusqlite::Connection>>>,
}

impl Looking {
    fn new(store: PathBuf, lock_at: Option<usize>) -> Looking {
        Looking {
            store,
            seen: Default::default(),
            arrived: Default::default(),
            lock_at,
            lock: Default::default(),
        }
    }

    /// Serve it on loopback; its URL.
    async fn start(&self) -> String {
        let app = Router::new()
            .fallback(looking_handler)
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        url
    }
}

/// How many rows `sql` counts for the delivery with this `x-seq` (`?1`: its header as stored),
/// read with a connection of its own (what is committed).
fn count_for(store: &std::path::Path, seq: usize, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let needle = format!(r#"["x-seq","{seq}"]"#);
    conn.query_row(sql, [needle], |r| r.get(0)).unwrap()
}

/// Does the store hold the delivery with this `x-seq`?
fn stored(store: &std::path::Path, seq: usize) -> bool {
    let sql = "SELECT count(*) FROM deliveries WHERE instr(headers, ?1) > 0";
    count_for(store, seq, sql) == 1
}

/// Does the store hold an attempt of the delivery with this `x-seq`?
fn attempted(store: &std::path::Path, seq: usize) -> bool {
    let sql = "SELECT count(*) FROM attempts a JOIN deliveries d ON a.delivery_id = d.id
               WHERE instr(d.headers, ?1) > 0";
    count_for(store, seq, sql) > 0
}

async fn looking_handler(State(s): State<Looking>, headers: HeaderMap, _body: bytes::Bytes) {
    let seq: usize = headers
        .get("x-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let store = s.store.clone();
    let lock = (s.lock_at == Some(seq)).then(|| s.lock.clone());
    let present = tokio::task::spawn_blocking(move || {
        let present = stored(&store, seq);
        if let Some(lock) = lock {
            let conn = rusqlite::Connection::open(&store).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            *lock.lock().unwrap() = Some(conn);
        }
        present
    })
    .await
    .unwrap();
    s.seen.lock().unwrap().push((seq, present));
    s.arrived.notify_waiters();
}

impl Looking {
    /// Wait until the target has seen `n` requests (at most `timeout`); what it saw.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<(usize, bool)> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n || tokio::time::timeout_at(end, arrived).await.is_err() {
                return self.seen.lock().unwrap().clone();
            }
        }
    }
}

async fn post(http: &reqwest::Client, channel: &str, seq: usize, pad: usize) {
    let r = http
        .post(channel)
        .header("content-type", "application/json")
        .header("x-seq", seq.to_string())
        .body(format!(r#"{{"seq":{seq},"pad":"{}"}}"#, "p".repeat(pad)))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "the relay took {seq}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_never_sees_a_delivery_the_store_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("ahead.sqlite");
    let (_relay, base) = serve();
    let channel = format!("{base}/write-ahead");
    let target = Looking::new(store_path.clone(), None);
    let url = target.start().await;
    let mut client = forward(&channel, &url, &store_path, &["--no-tui"]);
    let http = common::http();

    // one at a time: the worker is idle each time, so intake hands each one over
    for seq in 0..20 {
        let pad = if seq % 5 == 4 { 1_000_000 } else { 100 };
        post(&http, &channel, seq, pad).await;
        let seen = target.wait_for(seq + 1, Duration::from_secs(30)).await;
        assert_eq!(seen.len(), seq + 1, "the target got {seen:?}");
        // its attempt is recorded: the worker is idle again before the next one comes
        client.wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
    }

    // the store's write lock held elsewhere: the next commit waits for it, and so must the
    // target (the idle worker gets the first delivery handed over, the second comes the usual
    // way)
    let lock = rusqlite::Connection::open(&store_path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    post(&http, &channel, 20, 1_000_000).await;
    post(&http, &channel, 21, 100).await;
    // a non-event: a bounded wait (far below the client's 2 s busy timeout)
    let early = target.wait_for(21, Duration::from_millis(700)).await;
    assert_eq!(
        early.len(),
        20,
        "the target got a delivery while the store could not have it: {early:?}"
    );
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    let seen = target.wait_for(22, Duration::from_secs(30)).await;
    client.kill9();

    let seqs: Vec<usize> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..22).collect::<Vec<_>>(), "in order, once each");
    let unsaved: Vec<usize> = seen.iter().filter(|(_, p)| !p).map(|(s, _)| *s).collect();
    assert!(
        unsaved.is_empty(),
        "the target saw {unsaved:?} before the store had them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_is_told_once_it_is_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("told.sqlite");
    let (_relay, base) = serve();
    let channel = format!("{base}/told-when-written");
    // the target answers the fourth only once it holds the store's write lock
    let target = Looking::new(store_path.clone(), Some(3));
    let url = target.start().await;
    let mut client = forward(&channel, &url, &store_path, &["--no-tui"]);
    let http = common::http();
    for seq in 0..3 {
        post(&http, &channel, seq, 100).await;
        client.wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
        assert!(
            attempted(&store_path, seq),
            "attempt {seq} told, not stored"
        );
    }
    post(&http, &channel, 3, 100).await;
    let seen = target.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(seen.len(), 4, "the target got {seen:?}");
    // its outcome cannot be written while the lock is held: nothing may be told of it (a
    // bounded wait for a non-event, far below the client's 2 s busy timeout)
    let early = client.lines_within(Duration::from_millis(700));
    assert!(
        !early.iter().any(|l| l.contains("\"type\":\"attempt\"")),
        "told before it was written: {early:?}"
    );
    let lock = target
        .lock
        .lock()
        .unwrap()
        .take()
        .expect("the target took the lock");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    client.wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
    assert!(attempted(&store_path, 3), "attempt 3 told, not stored");
    client.kill9();
}
