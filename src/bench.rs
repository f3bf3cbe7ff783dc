//! `hookrelay bench`: the figures the peer clients were measured by (docs/benchmarks.md), measured for hookrelay on
//! loopback. One process holds the relay (hookrelay's own server), a target that timestamps
//! arrivals, a raw SSE observer (the relay's floor, during the small events) and the sender; the client under test is the
//! real `hookrelay forward` binary in its own process, so its memory is its own.
//!
//! Phases, as the peers were measured: sequential small events (each waits for delivery),
//! ~1 MB events, and a burst sent back to back (delivered, in order, duplicates); RSS idle and
//! peak from /proc. Latency = target arrival − just before the sender's POST (one clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use futures_util::StreamExt;

use crate::proc_mem::{RssParts, mem_kib};
use crate::server::{RelayServer, ServerConfig};

/// Benchmark sizes (the peers were measured with 200 / 5 / 1000).
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 200)]
    pub seq: usize,
    /// How many 1 MB events (their median is reported). The first one or two after the small
    /// events are cold (fresh heap pages on both sides, SQLite's cache): a median of five
    /// moved with them, one of twenty is the steady cost.
    #[arg(long, default_value_t = 20)]
    pub big: usize,
    #[arg(long, default_value_t = 1000)]
    pub burst: usize,
    /// The client binary to measure (default: this one).
    #[arg(long)]
    pub client: Option<std::path::PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The client's store: `on` (a temporary file, removed afterwards, or `--store`), `off`
    /// (`--no-store`), or `both` (one run each, and the throughput ratio).
    #[arg(long, value_enum, default_value_t = StoreMode::Both)]
    pub store_mode: StoreMode,
    /// The store file for `on` runs (default: a new file in the temp directory, removed after).
    /// Never the user's project store.
    #[arg(long)]
    pub store: Option<std::path::PathBuf>,
    /// Concurrent senders in the throughput phase (events posted as fast as the relay takes them).
    #[arg(long, default_value_t = 16)]
    pub flood_senders: usize,
}

/// Whether the client under test keeps a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreMode {
    On,
    Off,
    Both,
}

#[derive(Default)]
struct Arrivals {
    /// seq -> arrival times (more than one = duplicate)
    at: HashMap<i64, Vec<Instant>>,
    order: Vec<i64>,
}

type Shared = Arc<(Mutex<Arrivals>, tokio::sync::Notify)>;

async fn target(State(s): State<Shared>, headers: HeaderMap, _body: Bytes) -> &'static str {
    let now = Instant::now();
    if let Some(seq) = headers
        .get("x-bench-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        let mut a = s.0.lock().expect("arrivals");
        a.at.entry(seq).or_default().push(now);
        a.order.push(seq);
        s.1.notify_waiters();
    }
    "ok"
}

async fn wait_for(s: &Shared, seq: i64, timeout: Duration) -> Option<Instant> {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let notified = s.1.notified();
        if let Some(t) = s.0.lock().expect("arrivals").at.get(&seq).map(|v| v[0]) {
            return Some(t);
        }
        if tokio::time::timeout_at(end, notified).await.is_err() {
            return None;
        }
    }
}

fn pctl(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = (sorted.len() - 1) as f64 * p / 100.0;
    let (f, c) = (
        k.floor() as usize,
        (k.ceil() as usize).min(sorted.len() - 1),
    );
    sorted[f] + (sorted[c] - sorted[f]) * (k - f as f64)
}

fn small_body(seq: i64) -> Vec<u8> {
    format!(
        r#"{{"action":"bench","seq":{seq},"pad":"{}"}}"#,
        "x".repeat(200)
    )
    .into_bytes()
}

/// A store file for one run: in the temp directory, removed (with its WAL files) when dropped.
struct TempStore(std::path::PathBuf);

impl TempStore {
    fn new() -> Self {
        let name = format!(
            "hookrelay-bench-{}-{}.sqlite",
            std::process::id(),
            rand::random::<u32>()
        );
        TempStore(std::env::temp_dir().join(name))
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Run the benchmark and print the figures.
pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    let modes: &[bool] = match a.store_mode {
        StoreMode::On => &[true],
        StoreMode::Off => &[false],
        StoreMode::Both => &[true, false],
    };
    let mut results = Vec::new();
    for &store in modes {
        let temp = (store && a.store.is_none()).then(TempStore::new);
        let path = a
            .store
            .clone()
            .or_else(|| temp.as_ref().map(|t| t.0.clone()));
        let r = run_once(&a, if store { path.as_deref() } else { None }).await?;
        drop(temp);
        results.push(r);
    }
    let ratio = match results.as_slice() {
        [on, off] => Some(
            on["flood"]["events_per_s"].as_f64().unwrap_or(f64::NAN)
                / off["flood"]["events_per_s"].as_f64().unwrap_or(f64::NAN),
        ),
        _ => None,
    };
    if a.json {
        let out = serde_json::json!({ "runs": results, "flood_store_on_over_off": ratio });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "hookrelay bench (loopback; relay = hookrelay serve in-process; client = {})",
        results[0]["client"].as_str().unwrap_or("?")
    );
    println!(
        "| store | seq p50 / p90 / p99 / max (ms) | raw SSE p50 (ms) | 1 MB p50 / max (ms) | burst delivered | in order | dup | burst send / last delivery (ms) | flood events/s | RSS idle -> peak (MiB) | peak anon / file (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.2} / {:.2} / {:.2} / {:.2} | {:.2} | {:.1} / {:.1} | {}/{} | {} | {} | {:.0} / {:.0} | {:.0} | {:.1} -> {:.1} | {:.1} / {:.1} |",
            if r["store"].is_null() { "off" } else { "on" },
            f(&r["seq"]["p50_ms"]),
            f(&r["seq"]["p90_ms"]),
            f(&r["seq"]["p99_ms"]),
            f(&r["seq"]["max_ms"]),
            f(&r["seq"]["raw_sse_p50_ms"]),
            f(&r["big_1mb"]["p50_ms"]),
            f(&r["big_1mb"]["max_ms"]),
            r["burst"]["delivered"],
            r["burst"]["sent"],
            if r["burst"]["in_order"] == true {
                "yes"
            } else {
                "no"
            },
            r["burst"]["duplicates"],
            f(&r["burst"]["send_ms"]),
            f(&r["burst"]["first_send_to_last_delivery_ms"]),
            f(&r["flood"]["events_per_s"]),
            f(&r["rss_mib"]["idle"]),
            f(&r["rss_mib"]["peak"]),
            f(&r["rss_mib"]["anon_peak"]),
            f(&r["rss_mib"]["file_peak"]),
        );
    }
    if let Some(ratio) = ratio {
        println!("flood throughput, store on / store off: {ratio:.2}");
    }
    Ok(())
}

/// Count the target's arrivals with a sequence number at or above `base`.
fn arrived_from(shared: &Shared, base: i64) -> usize {
    shared
        .0
        .lock()
        .expect("arrivals")
        .at
        .keys()
        .filter(|k| **k >= base)
        .count()
}

/// Wait until `n` events at or above `base` arrived (or 60 s passed).
async fn drain(shared: &Shared, base: i64, n: usize) {
    let drain_end = Instant::now() + Duration::from_secs(60);
    while arrived_from(shared, base) < n && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One full run against a fresh relay; `store` is the client's store file (None: `--no-store`).
async fn run_once(
    a: &BenchArgs,
    store: Option<&std::path::Path>,
) -> anyhow::Result<serde_json::Value> {
    let server = RelayServer::start(ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    })
    .await?;
    let shared: Shared = Arc::new((Mutex::new(Arrivals::default()), tokio::sync::Notify::new()));
    let app = Router::new()
        .fallback(target)
        .with_state(shared.clone())
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target_url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let channel = server.new_channel();

    // the relay's floor: a plain subscriber on the same channel
    crate::tls::install_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.flood_senders.max(1))
        .tcp_nodelay(true)
        .build()?;
    let raw_seen: Arc<Mutex<HashMap<i64, Instant>>> = Default::default();
    // The observer measures the relay's floor for the small events only, and is gone before
    // the 1 MB events: reading one into a JSON tree took a millisecond or two of the two cores
    // the client measured shares with the relay and this process.
    let observer = {
        let resp = http
            .get(&channel)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        let raw_seen = raw_seen.clone();
        tokio::spawn(async move {
            let mut parser = crate::sse::Parser::new(64 << 20);
            let mut stream = resp.bytes_stream();
            let mut out = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                let now = Instant::now();
                parser.feed(&chunk, &mut out);
                for p in out.drain(..) {
                    if let crate::sse::Parsed::Event(e) = p
                        && let Some(seq) = serde_json::from_str::<serde_json::Value>(&e.data)
                            .ok()
                            .and_then(|v| v["x-bench-seq"].as_str()?.parse().ok())
                    {
                        raw_seen.lock().expect("raw").entry(seq).or_insert(now);
                    }
                }
            }
        })
    };

    let exe = match &a.client {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.args(["forward", &channel, &target_url, "--json", "--no-tui"]);
    match store {
        Some(p) => cmd.arg("--store").arg(p),
        None => cmd.arg("--no-store"),
    };
    let mut child = cmd
        .env("HOOKRELAY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id().context("client pid")?;

    let post = |seq: i64, body: Vec<u8>| {
        let http = http.clone();
        let channel = channel.clone();
        async move {
            let ts = (crate::delivery::now_ms() / 1000).to_string();
            let sig = crate::verify::sign_port("bench-secret", &ts, &body);
            let t0 = Instant::now();
            let r = http
                .post(&channel)
                .header("content-type", "application/json")
                .header("x-bench-seq", seq.to_string())
                .header("x-port-timestamp", ts)
                .header("x-port-signature", sig)
                .body(body)
                .send()
                .await?;
            r.bytes().await?;
            anyhow::Ok(t0)
        }
    };

    // warm-up: until the client is connected and delivering
    let started = Instant::now();
    let mut warm = -1i64;
    loop {
        post(warm, small_body(warm)).await?;
        if wait_for(&shared, warm, Duration::from_millis(500))
            .await
            .is_some()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the client never delivered during warm-up");
        }
        warm -= 1;
    }
    let first_delivery = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = mem_kib(pid);
    let parts = RssParts::sample(pid);

    let mut lat = Vec::new();
    let mut floor = Vec::new();
    for i in 1..=a.seq as i64 {
        let t0 = post(i, small_body(i)).await?;
        let Some(t) = wait_for(&shared, i, Duration::from_secs(10)).await else {
            bail!("event {i} was not delivered");
        };
        lat.push((t - t0).as_secs_f64() * 1000.0);
        if let Some(r) = raw_seen.lock().expect("raw").get(&i) {
            floor.push((*r - t0).as_secs_f64() * 1000.0);
        }
    }
    // its connection closes: the relay stops writing to it
    observer.abort();
    let mut big_lat = Vec::new();
    let pad = "y".repeat(1_000_000 - 60);
    for j in 0..a.big as i64 {
        let seq = 100_000 + j;
        let body = format!(r#"{{"action":"bench","seq":{seq},"pad":"{pad}"}}"#).into_bytes();
        let t0 = post(seq, body).await?;
        let Some(t) = wait_for(&shared, seq, Duration::from_secs(20)).await else {
            bail!("big event {seq} was not delivered");
        };
        big_lat.push((t - t0).as_secs_f64() * 1000.0);
    }
    let base = 200_000i64;
    let t_burst = Instant::now();
    for k in 0..a.burst as i64 {
        post(base + k, small_body(base + k)).await?;
    }
    let send_ms = t_burst.elapsed().as_secs_f64() * 1000.0;
    drain(&shared, base, a.burst).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // throughput: the same number of events from concurrent senders, as fast as the relay
    // takes them; the client (forwarding one at a time, in order) is the bottleneck
    let flood_base = 1_000_000i64;
    let t_flood = Instant::now();
    futures_util::stream::iter(0..a.burst as i64)
        .map(|k| post(flood_base + k, small_body(flood_base + k)))
        .buffer_unordered(a.flood_senders.max(1))
        .for_each(|r| {
            if let Err(e) = r {
                tracing::warn!("flood post failed: {e}");
            }
            std::future::ready(())
        })
        .await;
    drain(&shared, flood_base, a.burst).await;
    let flood_delivered = arrived_from(&shared, flood_base);
    let flood_last = shared
        .0
        .lock()
        .expect("arrivals")
        .at
        .iter()
        .filter(|(k, _)| **k >= flood_base)
        .flat_map(|(_, v)| v.iter())
        .max()
        .copied();
    let flood_ms = flood_last
        .map(|t| (t - t_flood).as_secs_f64() * 1000.0)
        .unwrap_or(f64::NAN);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (end_rss, peak_rss) = mem_kib(pid);
    let (delivered, dups, inversions, last) = {
        let arr = shared.0.lock().expect("arrivals");
        let in_burst = |s: i64| (base..flood_base).contains(&s);
        let order: Vec<i64> = arr.order.iter().copied().filter(|s| in_burst(*s)).collect();
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<i64> = order.iter().copied().filter(|s| seen.insert(*s)).collect();
        let inv = firsts.windows(2).filter(|w| w[1] < w[0]).count();
        let last = arr
            .at
            .iter()
            .filter(|(k, _)| in_burst(**k))
            .flat_map(|(_, v)| v.iter())
            .max()
            .map(|t| (*t - t_burst).as_secs_f64() * 1000.0);
        (firsts.len(), order.len() - firsts.len(), inv, last)
    };
    let (anon_peak, file_peak) = parts.peaks();
    drop(parts);
    let _ = child.kill().await;
    server.shutdown().await;

    for v in [&mut lat, &mut floor, &mut big_lat] {
        v.sort_by(|x, y| x.total_cmp(y));
    }
    Ok(serde_json::json!({
        "client": exe.display().to_string(),
        "store": store.map(|p| p.display().to_string()),
        "connect_to_first_delivery_s": first_delivery.as_secs_f64(),
        "seq": {"n": lat.len(), "p50_ms": pctl(&lat, 50.0), "p90_ms": pctl(&lat, 90.0), "p99_ms": pctl(&lat, 99.0), "max_ms": lat.last(),
                "raw_sse_p50_ms": pctl(&floor, 50.0)},
        "big_1mb": {"n": big_lat.len(), "p50_ms": pctl(&big_lat, 50.0), "max_ms": big_lat.last()},
        "burst": {"sent": a.burst, "delivered": delivered, "in_order": inversions == 0, "adjacent_inversions": inversions,
                  "duplicates": dups, "send_ms": send_ms, "first_send_to_last_delivery_ms": last},
        "flood": {"sent": a.burst, "senders": a.flood_senders, "delivered": flood_delivered, "ms": flood_ms,
                  "events_per_s": flood_delivered as f64 / (flood_ms / 1000.0)},
        "rss_mib": {"idle": idle_rss as f64 / 1024.0, "end": end_rss as f64 / 1024.0, "peak": peak_rss as f64 / 1024.0,
                    "anon_peak": anon_peak as f64 / 1024.0, "file_peak": file_peak as f64 / 1024.0},
    }))
}
