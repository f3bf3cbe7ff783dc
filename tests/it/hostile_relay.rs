//! A hostile or broken relay, written here, against the real `hookrelay forward` binary
//! (`--no-tui --no-store`), all on loopback: a 10 MiB `id:`, events with two million headers,
//! a redirect to another port, `retry: 0` on a stream that closes at once, channels that
//! answer 404 / 401, and multi-MiB binary bodies in extended events cut into odd pieces, some in
//! forms the client's streaming `bodyB` decode does not expect. The client's peak memory (VmHWM) stays under [`MAX_RSS_KIB`], nothing is
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
        "/large-bodies" => {
            // every event cut into pieces of an odd size, so pieces end inside keys, inside
            // base64 quanta, inside escapes
            let stream: Vec<u8> = large_body_events().concat();
            let chunks = stream.chunks(4093).map(Bytes::copy_from_slice).collect();
            sse(chunks, true)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A binary body that is not UTF-8, of `len` bytes (`len % 3` decides the base64 padding).
fn binary_body(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + salt) % 251) as u8).collect()
}

/// hookrelay's extended event JSON for `body`, with header `x-seq`.
fn extended_json(seq: usize, body: &[u8]) -> String {
    let req = hookrelay::delivery::WebhookRequest {
        method: "PUT".into(),
        path: "/up".into(),
        query: "a=1".into(),
        headers: vec![
            ("content-type".into(), "application/octet-stream".into()),
            ("x-seq".into(), seq.to_string()),
        ],
        body: Bytes::from(body.to_vec()),
    };
    hookrelay::wire::encode_event(&req, 1, true)
}

/// The range of `json`'s `bodyB` text (inside the quotes).
fn body_text(json: &str) -> std::ops::Range<usize> {
    let from = json.find("\"bodyB\":\"").unwrap() + 9;
    from..from + json[from..].find('"').unwrap()
}

/// The bodies [`large_body_events`] sends, by `x-seq` (the event with invalid base64, 3, none).
fn large_bodies() -> Vec<(usize, Vec<u8>)> {
    vec![
        (0, binary_body(6 << 20, 0)),
        (1, binary_body((3 << 20) + 1, 1)),
        (2, binary_body((2 << 20) + 2, 2)),
        (4, b"the last bodyB".to_vec()),
    ]
}

/// Extended events with large binary bodies: as hookrelay's relay writes them, with `bodyB`
/// last, with an escape inside the base64 (valid JSON: the body is the same), with a character
/// that is not base64 half way (refused), with a second `bodyB` after a large one (the last
/// counts), then two good events.
fn large_body_events() -> Vec<Vec<u8>> {
    let bodies = large_bodies();
    let event = |id: &str, json: &str| format!("id: {id}\ndata: {json}\n\n").into_bytes();
    let plain = extended_json(0, &bodies[0].1);
    let mut last = extended_json(1, &bodies[1].1);
    let r = body_text(&last);
    let field = last[r.start - 9..r.end + 1].to_string();
    last.replace_range(r.start - 10..r.end + 1, "");
    last.insert_str(last.len() - 1, &format!(",{field}"));
    let mut escaped = extended_json(2, &bodies[2].1);
    let r = body_text(&escaped);
    let slash = r.start + escaped[r.start + r.len() / 2..].find('/').unwrap() + r.len() / 2;
    escaped.insert(slash, '\\');
    let mut invalid = extended_json(3, &binary_body(2 << 20, 3));
    let mid = body_text(&invalid).start + (1 << 20);
    invalid.replace_range(mid..mid + 1, "!");
    let mut twice = extended_json(4, &binary_body(2 << 20, 4));
    let small = extended_json(4, &bodies[3].1);
    let r = body_text(&small);
    twice.insert_str(twice.len() - 1, &format!(",\"bodyB\":\"{}\"", &small[r]));
    vec![
        event("e-0", &plain),
        event("e-1", &last),
        event("e-2", &escaped),
        event("e-3", &invalid),
        event("e-4", &twice),
        good_event(5).into_bytes(),
        good_event(6).into_bytes(),
    ]
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
    hookrelay::proc_mem::kib(pid, "VmHWM:").expect("VmHWM in /proc/PID/status")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_binary_bodies_arrive_exact_whatever_the_form_of_their_event() {
    let (base, relay) = start_hostile().await;
    let target = Recorder::start().await;
    let mut client = forward(&format!("{base}/large-bodies"), &target.url("/hook"));
    let got = target.wait_for(6, Duration::from_secs(120)).await;
    assert_eq!(seqs(&got), [0, 1, 2, 4, 5, 6]);
    for ((seq, body), r) in large_bodies().iter().zip(&got) {
        assert_eq!(r.body.len(), body.len(), "x-seq {seq}");
        assert!(r.body.as_ref() == &body[..], "x-seq {seq}: body differs");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/hook/up"));
    }
    client.wait_line(
        "skipped event e-3: event field `bodyB` is malformed: bad base64",
        Duration::from_secs(5),
    );
    eprintln!(
        "large bodies: peak RSS {} MiB",
        peak_rss_kib(client.child.id()) / 1024
    );
    assert_eq!(
        relay.count("/large-bodies"),
        1,
        "one connection, no reconnect"
    );
    assert_eq!(target.received().len(), 6);
}
