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
use cli_support::{Proc, forward, serve};
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
            *lock.lock().unwrap() = Some(write_lock(&store));
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

/// The store's write lock, held until the connection commits (or is dropped).
fn write_lock(store: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// A relay, the looking target and `hookrelay forward` on a store of its own, on channel `name`.
/// Fields drop in order: the client and the relay end before the store's directory goes.
struct Run {
    client: Proc,
    _relay: Proc,
    target: Looking,
    channel: String,
    http: reqwest::Client,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    async fn start(name: &str, lock_at: Option<usize>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join(format!("{name}.sqlite"));
        let (relay, base) = serve();
        let channel = format!("{base}/{name}");
        let target = Looking::new(store.clone(), lock_at);
        let url = target.start().await;
        let client = forward(&channel, &url, &store, &["--no-tui"]);
        Run {
            _dir: dir,
            store,
            _relay: relay,
            channel,
            target,
            client,
            http: common::http(),
        }
    }

    /// Post event `seq` with a body of about `pad` bytes; the relay takes it.
    async fn post(&self, seq: usize, pad: usize) {
        let r = self
            .http
            .post(&self.channel)
            .header("content-type", "application/json")
            .header("x-seq", seq.to_string())
            .body(format!(r#"{{"seq":{seq},"pad":"{}"}}"#, "p".repeat(pad)))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "the relay took {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_never_sees_a_delivery_the_store_does_not_have() {
    let mut run = Run::start("write-ahead", None).await;
    let target = run.target.clone();

    // one at a time: the worker is idle each time, so intake hands each one over
    for seq in 0..20 {
        let pad = if seq % 5 == 4 { 1_000_000 } else { 100 };
        run.post(seq, pad).await;
        let seen = target.wait_for(seq + 1, Duration::from_secs(30)).await;
        assert_eq!(seen.len(), seq + 1, "the target got {seen:?}");
        // its attempt is recorded: the worker is idle again before the next one comes
        run.client
            .wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
    }

    // the store's write lock held elsewhere: the next commit waits for it, and so must the
    // target (the idle worker gets the first delivery handed over, the second comes the usual
    // way)
    let lock = write_lock(&run.store);
    run.post(20, 1_000_000).await;
    run.post(21, 100).await;
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
    run.client.kill9();

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
    // the target answers the fourth only once it holds the store's write lock
    let mut run = Run::start("told-when-written", Some(3)).await;
    for seq in 0..3 {
        run.post(seq, 100).await;
        run.client
            .wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
        assert!(attempted(&run.store, seq), "attempt {seq} told, not stored");
    }
    run.post(3, 100).await;
    let seen = run.target.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(seen.len(), 4, "the target got {seen:?}");
    // its outcome cannot be written while the lock is held: nothing may be told of it (a
    // bounded wait for a non-event, far below the client's 2 s busy timeout)
    let early = run.client.lines_within(Duration::from_millis(700));
    assert!(
        !early.iter().any(|l| l.contains("\"type\":\"attempt\"")),
        "told before it was written: {early:?}"
    );
    let lock = run
        .target
        .lock
        .lock()
        .unwrap()
        .take()
        .expect("the target took the lock");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    run.client
        .wait_line("\"type\":\"attempt\"", Duration::from_secs(30));
    assert!(attempted(&run.store, 3), "attempt 3 told, not stored");
    run.client.kill9();
}
