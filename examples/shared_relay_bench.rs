//! Shared-relay benchmark: accepted webhooks/s and sender-to-target latency through two relay
//! instances on one Redis (sender posts to A, the forwarding client listens on B) against one
//! instance with the memory backend, in one run. Both relays, the target and the client
//! (hookrelay's own pipeline) run in this process; `redis-server` is started here on a unix
//! socket in a temp dir (no persistence).
//!
//! `cargo run --release --example shared_relay_bench [EVENTS]`

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use hookrelay::forward::Target;
use hookrelay::pipeline::{self, ForwardConfig};
use hookrelay::server::{ClientLimits, RedisConfig, RelayServer, ServerConfig};

type Arrivals = Arc<Mutex<HashMap<usize, Instant>>>;

async fn target(arrivals: Arrivals) -> String {
    async fn hook(State(a): State<Arrivals>, headers: HeaderMap) -> &'static str {
        if let Some(seq) = headers
            .get("x-seq")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            a.lock().unwrap().insert(seq, Instant::now());
        }
        "ok"
    }
    let app = Router::new().fallback(hook).with_state(arrivals);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

async fn relay(redis: Option<&str>) -> RelayServer {
    RelayServer::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        per_client: ClientLimits::none(),
        ring_len: 100_000,
        redis: redis.map(RedisConfig::new),
        ..ServerConfig::default()
    })
    .await
    .expect("relay starts")
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    delivered: usize,
}

/// Flood `n` webhooks from 16 senders (accepted/s), then send `n / 4` one at a time with a
/// short pause (latency: target arrival minus just before the POST).
async fn measure(send_to: &RelayServer, listen_on: &RelayServer, n: usize) -> Figures {
    let arrivals: Arrivals = Arc::default();
    let url = target(Arc::clone(&arrivals)).await;
    let channel = "bench-channel-0123456789";
    let cfg = ForwardConfig::new(
        format!("{}/{channel}", listen_on.base_url()),
        Target::parse(&url).unwrap(),
    );
    let mut p = pipeline::start(cfg).await.expect("the forward job starts");
    tokio::time::timeout(Duration::from_secs(10), async {
        use hookrelay::events::{AppEvent, ConnState};
        while let Some(ev) = p.events.recv().await {
            if let AppEvent::Conn(ConnState::Connected) = ev {
                return;
            }
        }
    })
    .await
    .expect("client connected");
    tokio::spawn(async move { while p.events.recv().await.is_some() {} });
    let post = format!("{}/{channel}", send_to.base_url());
    let http = reqwest::Client::new();
    let body = r#"{"action":"UPDATE","resourceType":"entity","status":"SUCCESS"}"#;
    // throughput
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..16 {
        let (http, post) = (http.clone(), post.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for seq in (s..n).step_by(16) {
                let r = http
                    .post(&post)
                    .header("content-type", "application/json")
                    .header("x-seq", (1_000_000 + seq).to_string())
                    .body(body)
                    .send()
                    .await;
                ok += usize::from(r.is_ok_and(|r| r.status().is_success()));
            }
            ok
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    let per_sec = accepted as f64 / started.elapsed().as_secs_f64();
    // latency, once the flood is delivered (else it would measure the backlog)
    let end = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < accepted && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent = HashMap::new();
    for seq in 0..n / 4 {
        sent.insert(seq, Instant::now());
        http.post(&post)
            .header("content-type", "application/json")
            .header("x-seq", seq.to_string())
            .body(body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let end = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < accepted + n / 4 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = arrivals.lock().unwrap().clone();
    let mut lat: Vec<Duration> = sent
        .iter()
        .filter_map(|(seq, at)| got.get(seq).map(|a| a.duration_since(*at)))
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Figures {
        per_sec,
        p50: pct(0.50),
        p99: pct(0.99),
        delivered: got.len(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4000);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("redis.sock");
    let mut redis = Command::new("redis-server")
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .arg("--unixsocket")
        .arg(&sock)
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server)");
    let end = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < end, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url = format!("unix://{}", sock.display());

    let mem = relay(None).await;
    let m = measure(&mem, &mem, n).await;
    mem.shutdown().await;
    let a = relay(Some(&url)).await;
    let b = relay(Some(&url)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // both connected and subscribed
    let r = measure(&a, &b, n).await;
    for (name, f) in [
        ("memory, one instance", m),
        ("Redis, two instances (A -> B)", r),
    ] {
        println!(
            "{name:32} {:>7.0} accepted webhooks/s (16 senders); latency p50 {:>6.2} ms, p99 {:>6.2} ms; {} of {} delivered",
            f.per_sec,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.delivered,
            n + n / 4
        );
    }
    let _ = redis.kill();
    let _ = redis.wait();
}
