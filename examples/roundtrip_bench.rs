//! What the round trip (`forward --reply`) adds to a sender's wait, on loopback.
//!
//! ```text
//! cargo build --release && cargo run --release --example roundtrip_bench -- [--requests 500]
//! ```
//!
//! One in-process relay (the embedded default: memory backend), a dev server answering `201`
//! with a small JSON body, and the real `hookrelay forward` binary (store on, as by default) on
//! two channels: one plain, one with `--reply`. A sender (keep-alive, one request at a time)
//! measures, per request, the time to its answer:
//! - direct: straight to the dev server (the floor);
//! - plain relay: the relay's `200` at once (what every Smee relay does);
//! - round trip: the dev server's `201`, through relay, subscriber and dev server and back.
//!
//! The figure asked for is the round trip minus the plain relay (p50 and p99).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Requests per mode (after 50 of warm-up).
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// The hookrelay binary (default: next to this example, `target/<profile>/hookrelay`).
    #[arg(long)]
    hookrelay: Option<std::path::PathBuf>,
}

/// A `hookrelay forward` process, killed when dropped.
struct Forward(Child);

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `hookrelay forward CHANNEL TARGET --json --store STORE EXTRA` and wait (bounded) for
/// its connection.
fn forward(
    bin: &std::path::Path,
    channel: &str,
    target: &str,
    store: &std::path::Path,
    extra: &[&str],
) -> Forward {
    let mut child = Command::new(bin)
        .args(["forward", channel, target, "--json", "--store"])
        .arg(store)
        .args(extra)
        .env("HOOKRELAY_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hookrelay forward");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("connected to the relay")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("forward connected");
    Forward(child)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Time `n` sequential POSTs to `url` (after a warm-up), checking each answer's status.
async fn measure(http: &reqwest::Client, url: &str, n: usize, want: u16) -> Vec<f64> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n + 50 {
        let t = Instant::now();
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"action":{"identifier":"bench"},"run":{"id":"r_1"}}"#)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        assert_eq!(status, want, "{url}");
        if i >= 50 {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    ms
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    hookrelay::tls::install_provider();
    let bin = args.hookrelay.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("hookrelay")
    });
    let relay = hookrelay::server::RelayServer::start(hookrelay::server::ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..Default::default()
    })
    .await
    .expect("relay");
    let dev = Router::new().fallback(|| async {
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            r#"{"status":"SUCCESS"}"#,
        )
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dev_url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, dev).await;
    });
    let tmp = tempfile::tempdir().unwrap();
    let plain = relay.new_channel();
    let replying = relay.new_channel();
    let _f1 = forward(&bin, &plain, &dev_url, &tmp.path().join("a.sqlite"), &[]);
    let _f2 = forward(
        &bin,
        &replying,
        &dev_url,
        &tmp.path().join("b.sqlite"),
        &["--reply"],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let n = args.requests;
    let direct = measure(&http, &dev_url, n, 201).await;
    let plain_ms = measure(&http, &plain, n, 200).await;
    let round = measure(&http, &replying, n, 201).await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "DEBUG build (figures are not release figures)"
    } else {
        "release build"
    };
    println!(
        "{n} sequential requests each, loopback, {profile}, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| path | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|");
    for (name, v) in [
        ("direct to the dev server", &direct),
        ("plain relay (200 at once)", &plain_ms),
        ("round trip (--reply, dev server's 201)", &round),
    ] {
        println!("| {name} | {:.2} | {:.2} |", pct(v, 0.5), pct(v, 0.99));
    }
    println!(
        "| added by the round trip over the plain relay | {:.2} | {:.2} |",
        pct(&round, 0.5) - pct(&plain_ms, 0.5),
        pct(&round, 0.99) - pct(&plain_ms, 0.99)
    );
}
