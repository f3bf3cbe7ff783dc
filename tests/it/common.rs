//! Test support shared by the integration tests: a real recording target on 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hookrelay::delivery::{Attempt, AttemptOutcome, BodyOrigin, Delivery, WebhookRequest};

/// One request as the target saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    /// Status codes to answer with, in order; 200 once exhausted.
    script: Arc<Mutex<std::collections::VecDeque<u16>>>,
}

/// A target that records every request and answers 200 `ok` (or what it is scripted to).
pub struct Recorder {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener).await
    }

    /// A recorder serving on `listener` (e.g. a port the test held before the target was up).
    pub async fn start_on(listener: tokio::net::TcpListener) -> Recorder {
        let shared = Shared::default();
        let app = Router::new()
            .fallback(record)
            .with_state(shared.clone())
            .layer(axum::extract::DefaultBodyLimit::disable());
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer the next requests with these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.shared.script.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Wait until `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if Instant::now() > end {
                panic!(
                    "target got {} of {n} requests in {timeout:?}: {got:#?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let headers = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    s.got.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let status = s.script.lock().unwrap().pop_front().unwrap_or(200);
    (StatusCode::from_u16(status).unwrap(), "ok")
}

/// The path of a fixture file.
pub fn fixture(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// An HTTP client for tests (TLS provider installed, as the binary does at start).
pub fn http() -> reqwest::Client {
    hookrelay::tls::install_provider();
    reqwest::Client::new()
}

// ---- builders for the store and export tests ----

pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> WebhookRequest {
    WebhookRequest {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: self::headers(headers),
        body: Bytes::copy_from_slice(body),
    }
}

/// A delivery with a fixed id and time.
pub fn delivery(id: &str, at_ms: i64, req: WebhookRequest) -> Delivery {
    let mut d = Delivery::new("https://smee.io/chan", req, BodyOrigin::Exact);
    d.id = id.into();
    d.received_at_ms = at_ms;
    d
}

pub fn response(status: u16, body: &[u8]) -> Attempt {
    Attempt {
        target: "http://127.0.0.1:3000/hook".into(),
        started_at_ms: 1_700_000_000_500,
        replay: false,
        latency_ms: 12.5,
        outcome: AttemptOutcome::Response {
            status,
            headers: headers(&[("Content-Type", "text/plain"), ("X-Req", "1")]),
            body: Bytes::copy_from_slice(body),
            body_size: body.len() as u64,
        },
        sent: None,
    }
}

pub fn error(message: &str) -> Attempt {
    Attempt {
        target: "http://127.0.0.1:9/hook".into(),
        started_at_ms: 1_700_000_000_600,
        replay: true,
        latency_ms: 0.25,
        outcome: AttemptOutcome::Error {
            message: message.into(),
            error: hookrelay::delivery::ErrorKind::from_message(message),
        },
        sent: None,
    }
}

/// hookrelay's relay on 127.0.0.1, a free port.
pub async fn relay() -> hookrelay::server::RelayServer {
    hookrelay::server::RelayServer::start(hookrelay::server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Wait (at most 10 s) until the forward job's subscription is connected.
pub async fn connected(p: &mut hookrelay::pipeline::Pipeline) {
    use hookrelay::events::{AppEvent, ConnState};
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = p.events.recv().await {
            if let AppEvent::Conn(ConnState::Connected) = ev {
                return;
            }
        }
    })
    .await
    .expect("the client connected");
}

/// Whether a tool a test needs is here. Locally a missing tool skips the test with a visible
/// `SKIP:` line; under `CI=true`, where `.ci/run` installs every tool, it fails the test, so a
/// broken install can never pass as a skip.
pub fn tool_present(found: bool, what: &str) -> bool {
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing under CI=true (.ci/run installs it)");
    }
    eprintln!("SKIP: {what} is missing");
    false
}

/// Whether `program --version` (or `-V`) runs.
pub fn runs(program: &str, flag: &str) -> bool {
    std::process::Command::new(program)
        .arg(flag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The value of the metric line `NAME VALUE` in a relay's `/metrics` (at `base`), and the
/// whole text (for a failure message).
pub async fn metric(c: &reqwest::Client, base: &str, name: &str) -> (Option<u64>, String) {
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{name} ");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok());
    (value, text)
}

/// Wait (at most `within`) until the relay's metric `name` satisfies `ok`: an event the relay
/// counts, not a time.
pub async fn wait_metric(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    within: Duration,
    ok: impl Fn(u64) -> bool,
) {
    let end = Instant::now() + within;
    loop {
        let (value, text) = metric(c, base, name).await;
        if value.is_some_and(&ok) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{name} never reached the awaited value in {within:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
