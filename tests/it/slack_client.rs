//! The paced Slack notifier against a fake Slack: a real HTTP server on 127.0.0.1 that answers
//! the way Slack does (`ok`, error codes with their statuses, 429 with Retry-After, slow answers).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use hookrelay::slack::{SlackConfig, SlackNotifier, SlackResult};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// The secret part of the fake webhook URL: must never show up in a result.
const SECRET: &str = "s3cretT0ken";

/// One scripted answer; when the script runs out the fake answers `200 ok`.
#[derive(Clone)]
enum Reply {
    Error(u16, &'static str),
    RetryAfter(&'static str),
    Slow(Duration),
}

#[derive(Default)]
struct Fake {
    script: Mutex<VecDeque<Reply>>,
    /// Arrival time, content type and body of every request.
    log: Mutex<Vec<(Instant, String, Bytes)>>,
}

impl Fake {
    fn arrivals(&self) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _, _)| *t)
            .collect()
    }
    fn bodies(&self) -> Vec<Value> {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|(_, _, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

async fn answer(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    fake.log
        .lock()
        .unwrap()
        .push((Instant::now(), content_type, body));
    let reply = fake.script.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Reply::Error(status, code)) => {
            (StatusCode::from_u16(status).unwrap(), code).into_response()
        }
        Some(Reply::RetryAfter(secs)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs)],
            "rate_limited",
        )
            .into_response(),
        Some(Reply::Slow(d)) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "ok").into_response()
        }
    }
}

async fn serve_on(listener: tokio::net::TcpListener, script: Vec<Reply>) -> Arc<Fake> {
    let fake = Arc::new(Fake {
        script: Mutex::new(script.into()),
        ..Fake::default()
    });
    let app = Router::new()
        .route("/services/T0001/B0001/{secret}", post(answer))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

async fn fake_slack(script: Vec<Reply>) -> (Arc<Fake>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (serve_on(listener, script).await, url(addr))
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/services/T0001/B0001/{SECRET}")
}

fn config(url: String) -> SlackConfig {
    SlackConfig {
        webhook_url: url,
        min_interval: Duration::from_millis(50),
        max_retries: 2,
        timeout: Duration::from_secs(5),
        queue: 16,
    }
}

fn message(n: u32) -> Value {
    json!({"text": format!("message {n}"), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!("*{n}*")}}]})
}

/// The next result, or a failed test after 20 s (a hung notifier).
async fn next(results: &mut mpsc::Receiver<(String, SlackResult)>) -> (String, SlackResult) {
    let got = timeout(Duration::from_secs(20), results.recv()).await;
    let (id, result) = got
        .expect("a result within 20 s")
        .expect("results channel open");
    assert!(
        !result.explanation.contains(SECRET),
        "secret leaked: {}",
        result.explanation
    );
    (id, result)
}

fn start(cfg: SlackConfig) -> (SlackNotifier, mpsc::Receiver<(String, SlackResult)>) {
    let (tx, rx) = mpsc::channel(64);
    (SlackNotifier::spawn(cfg, tx), rx)
}

#[tokio::test]
async fn ok_is_recorded_as_sent_with_the_message_as_json() {
    let (fake, url) = fake_slack(vec![]).await;
    let (notifier, mut results) = start(config(url));
    notifier.notify("d1".into(), message(1));
    let (id, result) = next(&mut results).await;
    assert_eq!(id, "d1");
    assert_eq!(
        result,
        SlackResult {
            ok: true,
            status: Some(200),
            error: None,
            explanation: "sent".into()
        }
    );
    let log = fake.log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1, "application/json");
    assert_eq!(
        serde_json::from_slice::<Value>(&log[0].2).unwrap(),
        message(1)
    );
}

#[tokio::test]
async fn each_slack_error_is_recorded_and_never_retried() {
    let cases = [
        (400, "invalid_blocks", "layout"),
        (404, "no_service", "disabled, removed or invalid"),
        (404, "channel_not_found", "channel no longer exists"),
        (403, "action_prohibited", "admin has restricted"),
        (410, "channel_is_archived", "archived"),
    ];
    let script = cases.iter().map(|(s, c, _)| Reply::Error(*s, c)).collect();
    let (fake, url) = fake_slack(script).await;
    let (notifier, mut results) = start(config(url));
    for (i, _) in cases.iter().enumerate() {
        notifier.notify(format!("d{i}"), message(i as u32));
    }
    for (i, (status, code, words)) in cases.iter().enumerate() {
        let (id, result) = next(&mut results).await;
        assert_eq!(id, format!("d{i}"));
        assert!(!result.ok);
        assert_eq!(result.status, Some(*status));
        assert_eq!(result.error.as_deref(), Some(*code));
        assert!(result.explanation.contains(words), "{}", result.explanation);
    }
    assert_eq!(
        fake.arrivals().len(),
        cases.len(),
        "one request per message: 4xx are not retried"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_given_up() {
    let (fake, url) = fake_slack(vec![Reply::Error(500, "rollup_error")]).await;
    let (notifier, mut results) = start(config(url));
    notifier.notify("d1".into(), message(1));
    let (_, result) = next(&mut results).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(fake.arrivals().len(), 2);

    let (fake, url) = fake_slack(vec![Reply::Error(500, "rollup_error"); 5]).await;
    let (notifier, mut results) = start(config(url));
    notifier.notify("d2".into(), message(2));
    let (_, result) = next(&mut results).await;
    assert_eq!((result.ok, result.status), (false, Some(500)));
    assert_eq!(result.error.as_deref(), Some("rollup_error"));
    assert!(
        result.explanation.contains("gave up after 3 tries"),
        "{}",
        result.explanation
    );
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 3, "max_retries = 2");
    // Exponential backoff: 0.5 s, then 1 s.
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(500));
    assert!(arrivals[2] - arrivals[1] >= Duration::from_millis(1000));
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let (fake, url) = fake_slack(vec![Reply::RetryAfter("2")]).await;
    let (notifier, mut results) = start(config(url));
    notifier.notify("d1".into(), message(1));
    let (_, result) = next(&mut results).await;
    assert!(result.ok, "{result:?}");
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 2);
    // 2 s, not the 1 s assumed when the header is missing.
    assert!(
        arrivals[1] - arrivals[0] >= Duration::from_secs(2),
        "Retry-After: 2 honoured"
    );

    // Still limited after every retry: recorded in words.
    let (_, url) = fake_slack(vec![Reply::RetryAfter("0"); 5]).await;
    let (notifier, mut results) = start(config(url));
    notifier.notify("d2".into(), message(2));
    let (_, result) = next(&mut results).await;
    assert_eq!((result.ok, result.status), (false, Some(429)));
    assert!(
        result.explanation.contains("rate limiting"),
        "{}",
        result.explanation
    );
}

/// A 429 wait is told while it lasts (the log shows it), before the result.
#[tokio::test]
async fn a_rate_limit_wait_is_told_when_it_starts() {
    let (_fake, url) = fake_slack(vec![Reply::RetryAfter("1")]).await;
    let (tx, mut results) = mpsc::channel(64);
    let (wtx, mut waits) = mpsc::channel(8);
    let notifier = SlackNotifier::spawn_with_waits(config(url), tx, Some(wtx));
    notifier.notify("d1".into(), message(1));
    let (id, wait) = timeout(Duration::from_secs(10), waits.recv())
        .await
        .expect("a wait notice")
        .unwrap();
    assert_eq!((id.as_str(), wait), ("d1", Duration::from_secs(1)));
    assert!(results.try_recv().is_err(), "told before the result");
    let (_, result) = next(&mut results).await;
    assert!(result.ok, "{result:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out_once_and_the_next_message_still_goes() {
    let (fake, url) = fake_slack(vec![Reply::Slow(Duration::from_secs(3))]).await;
    let mut cfg = config(url);
    cfg.timeout = Duration::from_millis(300);
    let (notifier, mut results) = start(cfg);
    notifier.notify("slow".into(), message(1));
    notifier.notify("next".into(), message(2));
    let (id, result) = next(&mut results).await;
    assert_eq!(id, "slow");
    assert!(!result.ok);
    assert!(
        result.explanation.contains("did not answer within 0.3 s"),
        "{}",
        result.explanation
    );
    let (id, result) = next(&mut results).await;
    assert_eq!((id.as_str(), result.ok), ("next", true));
    assert_eq!(
        fake.arrivals().len(),
        2,
        "a timeout is not retried (no duplicate post)"
    );
}

#[tokio::test]
async fn pacing_keeps_posts_apart() {
    let (fake, url) = fake_slack(vec![]).await;
    let mut cfg = config(url);
    cfg.min_interval = Duration::from_millis(200);
    let (notifier, mut results) = start(cfg);
    for n in 0..5 {
        notifier.notify(format!("d{n}"), message(n));
    }
    for n in 0..5 {
        let (id, result) = next(&mut results).await;
        assert_eq!((id, result.ok), (format!("d{n}"), true));
    }
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 5);
    for pair in arrivals.windows(2) {
        // The sender waits 200 ms between posts; allow for loopback jitter in arrival times.
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(180), "posts {gap:?} apart");
    }
    let texts: Vec<Value> = fake.bodies().iter().map(|b| b["text"].clone()).collect();
    assert_eq!(
        texts,
        (0..5)
            .map(|n| json!(format!("message {n}")))
            .collect::<Vec<_>>(),
        "in order"
    );
}

#[tokio::test]
async fn slack_down_is_recorded_and_later_messages_go_once_it_is_up() {
    // A port held by the test with nothing listening: connections to it are refused.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let (notifier, mut results) = start(config(url(addr)));

    notifier.notify("while-down".into(), message(1));
    let (id, result) = next(&mut results).await;
    assert_eq!(id, "while-down");
    assert_eq!((result.ok, result.status), (false, None));
    assert!(
        result.explanation.contains("could not be reached"),
        "{}",
        result.explanation
    );
    assert!(result.explanation.contains("gave up after 3 tries"));

    // Slack comes back while the next message is being retried: it is delivered, not lost.
    // Until then the port accepts connections and closes them at once (a connection error the
    // notifier retries), counting them, so the test knows a try has failed.
    socket.listen(16).unwrap();
    socket.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (tried, mut tries) = mpsc::channel::<()>(16);
    let dropper = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return listener,
                a = listener.accept() => {
                    drop(a.unwrap());
                    let _ = tried.try_send(());
                }
            }
        }
    });
    notifier.notify("comes-back".into(), message(2));
    notifier.notify("after".into(), message(3));
    timeout(Duration::from_secs(20), tries.recv())
        .await
        .expect("a first try of the next message");
    stop.send(()).unwrap();
    let fake = serve_on(dropper.await.unwrap(), vec![]).await;
    for expected in ["comes-back", "after"] {
        let (id, result) = next(&mut results).await;
        assert_eq!(id, expected);
        assert!(result.ok, "{result:?}");
    }
    let texts: Vec<Value> = fake.bodies().iter().map(|b| b["text"].clone()).collect();
    assert_eq!(texts, vec![json!("message 2"), json!("message 3")]);
}

#[tokio::test]
async fn a_full_queue_is_reported_not_dropped_and_notify_never_waits() {
    let (fake, url) = fake_slack(vec![Reply::Slow(Duration::from_millis(800))]).await;
    let mut cfg = config(url);
    cfg.queue = 1;
    let (notifier, mut results) = start(cfg);
    notifier.notify("in-flight".into(), message(1));
    // Wait until the first message is on the wire, so the queue is empty again.
    timeout(Duration::from_secs(10), async {
        while fake.arrivals().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    notifier.notify("queued".into(), message(2));
    notifier.notify("overflow".into(), message(3));
    let (id, result) = next(&mut results).await;
    assert_eq!(
        id, "overflow",
        "reported at once, before the slow one finishes"
    );
    assert!(!result.ok);
    assert!(
        result.explanation.contains("queue is full"),
        "{}",
        result.explanation
    );
    let (a, ra) = next(&mut results).await;
    let (b, rb) = next(&mut results).await;
    assert_eq!((a.as_str(), b.as_str()), ("in-flight", "queued"));
    assert!(ra.ok && rb.ok);
    assert_eq!(fake.arrivals().len(), 2);
}

#[tokio::test]
async fn a_message_slack_would_reject_for_size_is_not_sent() {
    let (fake, url) = fake_slack(vec![]).await;
    let (notifier, mut results) = start(config(url));
    let huge = json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]});
    notifier.notify("huge".into(), huge);
    notifier.notify("fine".into(), message(1));
    let (_, result) = next(&mut results).await;
    assert!(!result.ok);
    assert_eq!(result.error.as_deref(), Some("message_too_large"));
    assert!(
        result.explanation.contains("3001"),
        "{}",
        result.explanation
    );
    let (_, result) = next(&mut results).await;
    assert!(result.ok);
    assert_eq!(fake.arrivals().len(), 1);
}
