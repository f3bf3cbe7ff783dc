//! The store is the forward job's inbox: nothing is lost across restarts, whatever ended the
//! previous run (kill -9, Ctrl-C, SIGTERM). Real binaries (`hookrelay serve`, `hookrelay
//! forward`), a real store file, a slow target on loopback.

use crate::cli_support;
use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cli_support::{Proc, forward, serve};

/// A target that takes 30–50 ms a request (or answers 503 while `down`), recording `x-seq`.
#[derive(Clone, Default)]
struct Slow {
    seqs: Arc<Mutex<Vec<usize>>>,
    down: Arc<AtomicBool>,
    delay: bool,
}

struct SlowTarget {
    url: String,
    state: Slow,
    task: tokio::task::JoinHandle<()>,
}

async fn slow_handler(State(s): State<Slow>, headers: HeaderMap) -> StatusCode {
    let seq: usize = headers
        .get("x-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    if s.down.load(Ordering::Acquire) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if s.delay {
        tokio::time::sleep(Duration::from_millis(30 + (seq % 21) as u64)).await;
    }
    s.seqs.lock().unwrap().push(seq);
    StatusCode::OK
}

impl SlowTarget {
    async fn start(delay: bool) -> SlowTarget {
        let state = Slow {
            delay,
            ..Slow::default()
        };
        let app = Router::new()
            .fallback(slow_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlowTarget { url, state, task }
    }

    fn seqs(&self) -> Vec<usize> {
        self.state.seqs.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<usize> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.seqs();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "the target got {} of {n} in {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait until every seq in `0..n` arrived at least once.
    async fn wait_all(&self, n: usize, timeout: Duration) -> Vec<usize> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.seqs();
            let distinct: HashSet<usize> = got.iter().copied().filter(|s| *s < n).collect();
            if distinct.len() == n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "the target got {} distinct of {n} in {timeout:?}; missing e.g. {:?}",
                distinct.len(),
                (0..n)
                    .filter(|s| !distinct.contains(s))
                    .take(10)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SlowTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn post(client: &reqwest::Client, channel: &str, seq: usize) {
    let r = client
        .post(channel)
        .header("content-type", "application/json")
        .header("x-seq", seq.to_string())
        .body(format!(r#"{{"seq":{seq}}}"#))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "relay answered {}", r.status());
}

/// How the first run of `forward` ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Kill9,
    Interrupt,
    Terminate,
}

fn end(p: &mut Proc, how: Ending) {
    let signal = match how {
        Ending::Kill9 => return p.kill9(),
        Ending::Interrupt => "-INT",
        Ending::Terminate => "-TERM",
    };
    let pid = p.child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    // it quits promptly, without waiting out the slow target
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            assert!(status.success(), "forward exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "forward did not quit on {signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

const BURST: usize = 300;
const WHILE_DOWN: usize = 50;

/// Burst, end the client mid-burst, post more while it is down, restart on the same store:
/// every event arrives, first arrivals in the order sent, at most one twice.
async fn restart_loses_nothing(how: Ending) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inbox.sqlite");
    let (_relay, base) = serve();
    let channel = format!("{base}/durable-{how:?}");
    let target = SlowTarget::start(true).await;
    let mut client = forward(&channel, &target.url, &store, &["--no-tui"]);

    let http = common::http();
    let sender = {
        let (http, channel) = (http.clone(), channel.clone());
        tokio::spawn(async move {
            for seq in 0..BURST {
                post(&http, &channel, seq).await;
            }
        })
    };
    // mid-burst: some arrived, most did not (30–50 ms each)
    target.wait_for(40, Duration::from_secs(60)).await;
    end(&mut client, how);
    let at_end = target.seqs().len();
    assert!(
        at_end < BURST,
        "the whole burst was through: proves nothing"
    );
    tokio::time::timeout(Duration::from_secs(60), sender)
        .await
        .expect("the burst was posted")
        .unwrap();
    // posted while the client is down: the relay holds them
    for seq in BURST..BURST + WHILE_DOWN {
        post(&http, &channel, seq).await;
    }
    let total = BURST + WHILE_DOWN;

    let mut client = forward(&channel, &target.url, &store, &["--no-tui"]);
    let got = target.wait_all(total, Duration::from_secs(120)).await;
    // nothing more comes (a bounded wait for stragglers: the inbox is empty)
    let settled_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli_support::run(&[
            "list",
            "--json",
            "--status",
            "pending",
            "--store",
            store.to_str().unwrap(),
        ]);
        if out.ok() && out.stdout.trim().is_empty() {
            break;
        }
        assert!(Instant::now() < settled_deadline, "still pending: {out:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.kill9();
    let got_final = target.seqs();
    assert_eq!(
        got.len(),
        got_final.len(),
        "more arrived after the inbox was empty"
    );

    let mut seen = HashSet::new();
    let firsts: Vec<usize> = got.iter().copied().filter(|s| seen.insert(*s)).collect();
    assert_eq!(
        firsts,
        (0..total).collect::<Vec<_>>(),
        "first arrivals are in the order sent"
    );
    let twice = got.len() - firsts.len();
    assert!(
        twice <= 1,
        "{twice} deliveries reached the target twice: {:?}",
        got.iter()
            .enumerate()
            .filter(|(i, s)| got[..*i].contains(s))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "{how:?}: {at_end} of {BURST} had arrived when the client stopped; after the restart all \
         {total} arrived, {twice} twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_then_restart_delivers_everything_in_order() {
    restart_loses_nothing(Ending::Kill9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_burst_then_restart_delivers_everything_in_order() {
    restart_loses_nothing(Ending::Interrupt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_then_restart_delivers_everything_in_order() {
    restart_loses_nothing(Ending::Terminate).await;
}

/// VmHWM (peak resident set) and VmRSS of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let field = |name| hookrelay::proc_mem::kib(pid, name).expect(name);
    (field("VmHWM:"), field("VmRSS:"))
}

/// A long backlog waits in the store, not in memory: N deliveries pending while the target is
/// down (503), then all of them, in order, once it is back. N is `HOOKRELAY_TEST_PENDING`
/// (default 20,000; the 100,000 figure is run by hand), bodies of `HOOKRELAY_TEST_BODY` bytes
/// (default 2,048).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backlog_waits_on_disk_and_memory_stays_bounded() {
    let n: usize = std::env::var("HOOKRELAY_TEST_PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let body_len: usize = std::env::var("HOOKRELAY_TEST_BODY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("backlog.sqlite");
    let (_relay, base) = serve();
    let channel = format!("{base}/backlog");
    // the backlog an earlier run left (as its intake committed it)
    {
        let store = hookrelay::store::Store::open(&store_path).unwrap();
        let pad = "x".repeat(body_len);
        let mut batch = Vec::new();
        for seq in 0..n {
            let req = common::request(
                "POST",
                "",
                &[
                    ("content-type", "application/json"),
                    ("x-seq", &seq.to_string()),
                ],
                format!(r#"{{"seq":{seq},"pad":"{pad}"}}"#).as_bytes(),
            );
            let mut d = hookrelay::delivery::Delivery::new(
                &channel,
                req,
                hookrelay::delivery::BodyOrigin::Exact,
            );
            d.received_at_ms = 1_700_000_000_000 + seq as i64;
            batch.push(d);
            if batch.len() == 5_000 {
                store.commit_intake(&batch, None).unwrap();
                batch.clear();
            }
        }
        store.commit_intake(&batch, None).unwrap();
    }
    let target = SlowTarget::start(false).await;
    target.state.down.store(true, Ordering::Release);
    let mut client = forward(&channel, &target.url, &store_path, &["--no-tui"]);
    let pid = client.child.id();
    // it says what it resumes, and tries the oldest against the 503s
    let resumed = match client.seen.iter().find(|l| l.contains("\"resumed\"")) {
        Some(l) => l.clone(),
        None => client.wait_line("\"resumed\"", Duration::from_secs(30)),
    };
    assert!(resumed.contains(&format!("{n} deliveries")), "{resumed}");
    client.wait_line("\"status\":503", Duration::from_secs(30));
    client.wait_line("\"status\":503", Duration::from_secs(30));
    let (down_hwm, down_rss) = memory_kib(pid);
    // back up: everything arrives, in order
    target.state.down.store(false, Ordering::Release);
    let got = target
        .wait_all(n, Duration::from_secs(60 + n as u64 / 100))
        .await;
    let (hwm, rss) = memory_kib(pid);
    client.kill9();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "in order, once each");
    let backlog_mib = (n * body_len) >> 20;
    eprintln!(
        "{n} pending ({backlog_mib} MiB of bodies): while down VmHWM {down_hwm} KiB VmRSS \
         {down_rss} KiB; after draining VmHWM {hwm} KiB VmRSS {rss} KiB"
    );
    // bounded: far below the backlog's size, whatever the backlog
    assert!(
        hwm < 40 * 1024,
        "peak RSS {hwm} KiB with {backlog_mib} MiB pending"
    );
}

/// What a killed run left pending goes out with `hookrelay replay --pending`, in order, and the
/// list says what is pending before and nothing after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_pending_sends_what_a_killed_run_left_in_order() {
    const N: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("left.sqlite");
    let s = store.to_str().unwrap().to_string();
    let (_relay, base) = serve();
    let channel = format!("{base}/left-behind");
    let target = SlowTarget::start(true).await;
    let mut client = forward(&channel, &target.url, &store, &["--no-tui"]);
    let http = common::http();
    for seq in 0..N {
        post(&http, &channel, seq).await;
    }
    // all in the inbox (received), a few forwarded
    let end = Instant::now() + Duration::from_secs(30);
    let mut received = 0;
    while received < N {
        assert!(Instant::now() < end, "{received} of {N} received");
        tokio::time::sleep(Duration::from_millis(20)).await;
        received = cli_support::run(&["list", "--json", "--limit", "1000", "--store", &s])
            .expect_ok()
            .json_lines()
            .len();
    }
    client.kill9();
    let before = target.seqs().len();
    assert!(before < N, "everything went out before the kill");
    let pending = cli_support::run(&[
        "list", "--json", "--limit", "1000", "--status", "pending", "--store", &s,
    ])
    .expect_ok()
    .json_lines();
    assert!(!pending.is_empty());
    let out = cli_support::run(&[
        "replay",
        "--pending",
        "--store",
        &s,
        "--target",
        &target.url,
    ]);
    assert!(out.ok(), "{out:#?}");
    assert!(
        out.stdout.contains("nothing left pending"),
        "{}",
        out.stdout
    );
    let got = target.seqs();
    let mut seen = HashSet::new();
    let firsts: Vec<usize> = got.iter().copied().filter(|s| seen.insert(*s)).collect();
    assert_eq!(firsts, (0..N).collect::<Vec<_>>());
    assert!(got.len() - firsts.len() <= 1, "{got:?}");
    let left =
        cli_support::run(&["list", "--json", "--status", "pending", "--store", &s]).expect_ok();
    assert!(left.stdout.trim().is_empty(), "{}", left.stdout);
}

/// The exit line says how many are still pending, and how they will go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_line_counts_what_is_still_pending() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    const N: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("exit.sqlite");
    let s = store.to_str().unwrap().to_string();
    let (_relay, base) = serve();
    let channel = format!("{base}/exit-line");
    let target = SlowTarget::start(true).await;
    let mut child = Command::new(cli_support::BIN)
        .args([
            "forward",
            &channel,
            &target.url,
            "--json",
            "--keepalive",
            "2s",
            "--store",
            &s,
        ])
        .env("HOOKRELAY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut err = child.stderr.take().unwrap();
    let err_text = std::thread::spawn(move || {
        let mut t = String::new();
        let _ = err.read_to_string(&mut t);
        t
    });
    loop {
        let l = lines
            .recv_timeout(Duration::from_secs(15))
            .expect("connected");
        if l.contains("connected to the relay") {
            break;
        }
    }
    let http = common::http();
    for seq in 0..N {
        post(&http, &channel, seq).await;
    }
    target.wait_for(5, Duration::from_secs(30)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success());
    let err_text = err_text.join().unwrap();
    let exit_line = err_text
        .lines()
        .find(|l| l.contains("still pending"))
        .unwrap_or_else(|| panic!("no exit line with what is pending: {err_text}"));
    let open = |state: &str| {
        cli_support::run(&[
            "list", "--json", "--limit", "1000", "--status", state, "--store", &s,
        ])
        .expect_ok()
        .json_lines()
        .len()
    };
    let left = open("pending") + open("delivering");
    assert!(left > 0 && left < N, "{left}");
    assert!(
        exit_line.contains(&format!("{left} still pending")),
        "{exit_line} ({left} pending in the store)"
    );
    assert!(
        exit_line.contains("hookrelay replay --pending"),
        "{exit_line}"
    );
    assert!(
        exit_line.contains("next `hookrelay forward`"),
        "{exit_line}"
    );
}

/// One sender per store: a second `forward` or a `replay --pending` on a store a running
/// `forward` sends from is refused with who holds it (both would send each pending delivery);
/// once the first is killed (-9), the next one starts and every event reaches the target once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_per_store_a_second_one_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("one.sqlite");
    let s = store.to_str().unwrap().to_string();
    let (_relay, base) = serve();
    let channel = format!("{base}/one-sender");
    let target = SlowTarget::start(false).await;
    let mut first = forward(&channel, &target.url, &store, &["--no-tui"]);
    let pid = first.child.id().to_string();

    let second = cli_support::run(&["forward", &channel, &target.url, "--no-tui", "--store", &s]);
    assert_eq!(second.code, Some(1), "{second:#?}");
    assert!(
        second.stderr.contains("already sending from the store")
            && second.stderr.contains(&format!("process {pid}")),
        "{second:#?}"
    );
    let pending = cli_support::run(&[
        "replay",
        "--pending",
        "--store",
        &s,
        "--target",
        &target.url,
    ]);
    assert_ne!(pending.code, Some(0), "{pending:#?}");
    assert!(
        pending.stderr.contains("already sending from the store"),
        "{pending:#?}"
    );

    let http = common::http();
    post(&http, &channel, 0).await;
    first.wait_line("\"attempt\"", Duration::from_secs(20));
    first.kill9();
    let _next = forward(&channel, &target.url, &store, &["--no-tui"]);
    post(&http, &channel, 1).await;
    let end = Instant::now() + Duration::from_secs(20);
    while target.seqs().len() < 2 {
        assert!(Instant::now() < end, "got {:?}", target.seqs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(target.seqs(), vec![0, 1], "each once, in order");
}
