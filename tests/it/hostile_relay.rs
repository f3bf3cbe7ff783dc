//! A hostile or broken relay, written here, against the real `hookrelay forward` binary
//! (`--no-tui --no-store`), all on loopback: a 10 MiB `id:`, events with two million headers,
//! a redirect to another port, `retry: 0` on a stream that closes at once, and channels that
//! answer 404 / 401. The client's peak memory (VmHWM) stays under [`MAX_RSS_KIB`], nothing is
//! sent anywhere but the target, reconnects follow the backoff, and a wrong channel is an error.

use crate::cli_support;
use crate::common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cli_support::Proc;
use common::Recorder;

/// The bound on the client's peak resident memory: 100 MiB. Measured with the bounds: 24 MiB
/// (huge id) and 41 MiB (two million headers); with the bounds lifted, this very test measured
/// 504 MiB and 890 MiB (issue 9 reported 1.16 GB and 1.8 GB with a store).
const MAX_RSS_KIB: u64 = 100 * 1024;
/// Good events sent after each hostile one.
const GOOD: usize = 40;

/// One smee.io-shaped event carrying `{"seq":N}` with an `x-seq` header.
fn good_event(seq: usize) -> String {
    format!(
        "data: {{\"content-type\":\"application/json\",\"x-seq\":\"{seq}\",\"body\":{{\"seq\":{seq}}},\"query\":{{}},\"timestamp\":1}}\n\n"
    )
}

fn good_events(from: usize) -> String {
    (from..from + GOOD).map(good_event).collect()
}

/// An SSE response: `chunks`, then (when `stay_open`) never a byte more, like a live relay.
fn sse(chunks: Vec<Bytes>, stay_open: bool) -> Response {
    let head = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let body = if stay_open {
        let rest = futures_util::stream::pending::<Result<Bytes, Infallible>>();
        Body::from_stream(futures_util::StreamExt::chain(head, rest))
    } else {
        Body::from_stream(head)
    };
    ([("content-type", "text/event-stream")], body).into_response()
}

#[derive(Clone, Default)]
struct Hostile {
    /// Requests per path, in arrival order, with their headers.
    seen: Arc<Mutex<Vec<(String, HeaderMap, Instant)>>>,
    redirect_to: Arc<Mutex<String>>,
    flaky: Arc<AtomicUsize>,
}

impl Hostile {
    fn count(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .count()
    }

    fn times(&self, path: &str) -> Vec<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, t)| *t)
            .collect()
    }

    fn headers(&self, path: &str) -> Vec<HeaderMap> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, h, _)| h.clone())
            .collect()
    }
}

async fn hostile(State(h): State<Hostile>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    h.seen
        .lock()
        .unwrap()
        .push((path.clone(), headers, Instant::now()));
    match path.as_str() {
        "/huge-id" => {
            // one 10 MiB id line, then forty small events that would each have carried it
            let id = format!("id: {}\n", "i".repeat(10 << 20));
            sse(vec![Bytes::from(id), Bytes::from(good_events(0))], true)
        }
        "/many-headers" => {
            // two million headers in smee.io's flat shape (one repeated key: 16 MB), then two
            // million in hookrelay's exact shape (20 MB), then the good events
            let mut flat = String::with_capacity(17 << 20);
            flat.push_str("data: {");
            for _ in 0..2_000_000 {
                flat.push_str("\"a\":\"b\",");
            }
            flat.push_str("\"body\":{},\"timestamp\":1}\n\n");
            let mut exact = String::with_capacity(21 << 20);
            exact.push_str(
                "data: {\"bodyB\":\"\",\"hookrelay\":{\"v\":1,\"method\":\"POST\",\"headers\":[",
            );
            for _ in 0..2_000_000 {
                exact.push_str("[\"a\",\"b\"],");
            }
            exact.push_str("[\"a\",\"b\"]]}}\n\n");
            sse(
                vec![
                    Bytes::from(flat),
                    Bytes::from(exact),
                    Bytes::from(good_events(0)),
                ],
                true,
            )
        }
        "/redirect" => {
            let to = h.redirect_to.lock().unwrap().clone();
            (StatusCode::FOUND, [("location", to)]).into_response()
        }
        "/same-origin" => {
            (StatusCode::FOUND, [("location", "/same-origin-target")]).into_response()
        }
        "/same-origin-target" => sse(vec![Bytes::from(good_event(0))], true),
        "/retry0" => sse(vec![Bytes::from_static(b"retry: 0\n\n")], false),
        "/flaky404" => {
            if h.flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                sse(vec![Bytes::from(good_event(0))], false)
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }
        "/needs-token" => StatusCode::UNAUTHORIZED.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The hostile relay on 127.0.0.1:0; returns its base URL.
async fn start_hostile() -> (String, Hostile) {
    let h = Hostile::default();
    let app = Router::new().fallback(get(hostile)).with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, h)
}

fn forward(channel: &str, target: &str) -> Proc {
    Proc::spawn(&["forward", channel, target, "--no-tui", "--no-store"])
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The `x-seq` of each request, in arrival order.
fn seqs(got: &[common::Received]) -> Vec<usize> {
    got.iter()
        .map(|r| r.header("x-seq").unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_mib_event_id_is_never_kept() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let mut client = forward(&format!("{base}/huge-id"), &target.url("/hook"));
    let got = target.wait_for(GOOD, Duration::from_secs(60)).await;
    let peak = peak_rss_kib(client.child.id());
    eprintln!("huge id: peak RSS {} MiB", peak / 1024);
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
    assert_eq!(seqs(&got), (0..GOOD).collect::<Vec<_>>());
    client.wait_line(
        "ignored an event id of 10485760 bytes",
        Duration::from_secs(5),
    );
    assert_eq!(relay.count("/huge-id"), 1, "one connection, no reconnect");
    // nothing resent on the way in: the target saw each event once
    assert_eq!(target.received().len(), GOOD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_million_headers_are_refused_before_they_are_held() {
    let (base, _relay) = start_hostile().await;
    let target = Recorder::start().await;
    let mut client = forward(&format!("{base}/many-headers"), &target.url("/hook"));
    let got = target.wait_for(GOOD, Duration::from_secs(60)).await;
    let peak = peak_rss_kib(client.child.id());
    eprintln!("two million headers: peak RSS {} MiB", peak / 1024);
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
    assert_eq!(
        seqs(&got),
        (0..GOOD).collect::<Vec<_>>(),
        "nothing but the good events"
    );
    // both hostile events were reported, with their reason
    let limit = hookrelay::wire::MAX_HEADERS;
    let reason = format!("more than {limit} headers");
    client.wait_line(&reason, Duration::from_secs(5));
    client.wait_line(&reason, Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_port_is_not_followed() {
    let (base, relay) = start_hostile().await;
    // the other origin records any request: it must receive none
    let elsewhere = Recorder::start().await;
    *relay.redirect_to.lock().unwrap() = elsewhere.url("/stolen-channel");
    let target = Recorder::start().await;
    let channel = format!("{base}/redirect");
    let out = cli_support::run_async(
        vec![
            "forward".into(),
            channel.clone(),
            target.url("/hook"),
            "--no-tui".into(),
            "--no-store".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains("redirects") && out.stderr.contains("another origin"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains(&elsewhere.url("/stolen-channel")),
        "{out:#?}"
    );
    assert_eq!(relay.count("/redirect"), 1);
    assert!(
        elsewhere.received().is_empty(),
        "{:#?}",
        elsewhere.received()
    );
    assert!(target.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_redirect_is_followed_without_a_referer() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let _client = forward(&format!("{base}/same-origin"), &target.url("/hook"));
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(seqs(&got), [0]);
    let followed = relay.headers("/same-origin-target");
    assert_eq!(followed.len(), 1);
    assert!(followed[0].get("referer").is_none(), "{:?}", followed[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_zero_is_clamped_and_backed_off() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let _client = forward(&format!("{base}/retry0"), &target.url("/hook"));
    // The backoff's steps start at 250 ms and double up to 1.5 s (jitter only adds, up to the
    // 3 s cap): after the first connection, the next ones come at least 0.25, 0.75, 1.75, 3.25
    // and 4.75 s later, so a 5 s window holds at most 6 connections. Before: 3,274.
    let window = Duration::from_secs(5);
    let end = Instant::now() + Duration::from_secs(10);
    while relay.count("/retry0") == 0 {
        assert!(Instant::now() < end, "the client never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = relay.times("/retry0")[0];
    // the window itself is what is measured: wait it out, then count
    tokio::time::sleep_until((first + window + Duration::from_millis(100)).into()).await;
    let n = relay
        .times("/retry0")
        .iter()
        .filter(|t| **t <= first + window)
        .count();
    eprintln!("retry: 0 — {n} connections in {window:?}");
    assert!((2..=6).contains(&n), "{n} connections in {window:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_channel_on_the_first_connection_is_an_error() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let channel = format!("{base}/no-such-channel");
    let out = cli_support::run_async(
        vec![
            "forward".into(),
            channel.clone(),
            target.url("/hook"),
            "--no-tui".into(),
            "--no-store".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains(&format!(
            "the relay has no channel {channel} (HTTP 404): check the URL"
        )),
        "{out:#?}"
    );
    assert_eq!(relay.count("/no-such-channel"), 1, "no retry");

    let channel = format!("{base}/needs-token");
    let out = cli_support::run_async(
        vec![
            "forward".into(),
            channel.clone(),
            target.url("/hook"),
            "--no-tui".into(),
            "--no-store".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains("(HTTP 401): it needs a token"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_after_a_successful_connection_is_retried() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let mut client = forward(&format!("{base}/flaky404"), &target.url("/hook"));
    target.wait_for(1, Duration::from_secs(20)).await;
    let lost = client.wait_line_where(
        |l| l.contains("connection lost") && l.contains("HTTP 404"),
        Duration::from_secs(20),
    );
    assert!(lost.contains("check the URL"), "{lost}");
    // still trying: a third request comes, and the process is alive
    let end = Instant::now() + Duration::from_secs(20);
    while relay.count("/flaky404") < 3 {
        assert!(Instant::now() < end, "no retry after the 404");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(client.child.try_wait().unwrap().is_none(), "forward exited");
}
