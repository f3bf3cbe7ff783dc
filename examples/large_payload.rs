//! Memory of large payloads (issue 16): the client's resident memory while one large webhook
//! goes through, and three seconds after.
//!
//! The relay is hookrelay's own server, in this process; the client is the real `hookrelay
//! forward` binary in its own process (`--no-tui`, a temporary store or `--no-store`), so its
//! memory is its own. Payloads, one at a time, each to a fresh client:
//! - `json`: 200,000 small objects in one JSON array (9.4 MiB);
//! - `port`: a Port automation event whose `diff.after` holds a 12,000-item array (0.3 MiB);
//! - `binary`: random bytes of the first's size.
//!
//! (Before Nov 30 16:30 UTC the JSON body was 7.3 MiB and the Port event 0.3 MiB, though the
//! table called them 9.4 MiB and 700 KB; the sizes are now printed from the bodies.)
//!
//! Peak = the kernel's high-water mark (VmHWM) of the client; "after 3 s" = VmRSS three seconds
//! after the target got the body.
//!
//! ```sh
//! cargo build --release && cargo run --release --example large_payload [-- PATH_TO_CLIENT]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use hookrelay::proc_mem::mem_kib;
use hookrelay::server::{RelayServer, ServerConfig};
use tokio::sync::watch;

fn json_array() -> Vec<u8> {
    let items: Vec<String> = (0..200_000)
        .map(|i| format!(r#"{{"id":{i},"ok":true,"v":"x{i:07}","w":"abcd"}}"#))
        .collect();
    format!("[{}]", items.join(",")).into_bytes()
}

fn port_event() -> Vec<u8> {
    let items: Vec<String> = (0..12_000)
        .map(|i| format!(r#"{{"name":"item-{i}","n":{i}}}"#))
        .collect();
    format!(
        r#"{{"event":{{"action":"UPDATE","resourceType":"entity","trigger":{{"by":{{"userId":"u"}},"origin":"UI","at":"2024-01-01T00:00:00Z"}},"context":{{"blueprintIdentifier":"service","entityIdentifier":"svc"}},"diff":{{"before":{{"identifier":"svc","properties":{{"items":[]}}}},"after":{{"identifier":"svc","properties":{{"items":[{}]}}}}}}}}}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

async fn target(State(tx): State<Arc<watch::Sender<usize>>>, body: Bytes) -> &'static str {
    tx.send_modify(|n| *n += body.len().max(1));
    "ok"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .context("target directory")?
            .join("hookrelay"),
    };
    let server = RelayServer::start(ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    })
    .await?;
    let (tx, mut rx) = watch::channel(0usize);
    let app = Router::new()
        .fallback(target)
        .with_state(Arc::new(tx))
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target_url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    hookrelay::tls::install_provider();
    let http = reqwest::Client::new();

    let json = json_array();
    let payloads = [
        ("json", json.clone()),
        ("port", port_event()),
        ("binary", random_bytes(json.len())),
    ];
    println!("client: {}", client.display());
    println!("| payload | store | client idle (MiB) | peak (MiB) | after 3 s (MiB) | delivered |");
    println!("|---|---|---|---|---|---|");
    for (name, body) in &payloads {
        for store in [true, false] {
            let dir = tempfile::tempdir()?;
            let channel = server.new_channel();
            let mut cmd = tokio::process::Command::new(&client);
            cmd.args(["forward", &channel, &target_url, "--no-tui"]);
            if store {
                cmd.arg("--store").arg(dir.path().join("s.sqlite"));
            } else {
                cmd.arg("--no-store");
            }
            let mut child = cmd
                .env("HOOKRELAY_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", client.display()))?;
            let pid = child.id().context("pid")?;
            // warm up: a small event delivered means the client is connected and forwarding
            let before = *rx.borrow_and_update();
            let deadline = Instant::now() + Duration::from_secs(20);
            while *rx.borrow() == before && Instant::now() < deadline {
                http.post(&channel).body("{}").send().await?;
                let _ = tokio::time::timeout(Duration::from_millis(300), rx.changed()).await;
            }
            let idle = mem_kib(pid).0;
            let start = *rx.borrow_and_update();
            http.post(&channel)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut delivered = false;
            while Instant::now() < deadline {
                if *rx.borrow() >= start + body.len() {
                    delivered = true;
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
            }
            tokio::time::sleep(Duration::from_secs(3)).await; // the figure is "3 s after"
            let (after, peak) = mem_kib(pid);
            let mib = |k: u64| k as f64 / 1024.0;
            println!(
                "| {name} {:.1} MiB | {} | {:.1} | {:.1} | {:.1} | {} |",
                mib(body.len() as u64 / 1024),
                if store { "on" } else { "off" },
                mib(idle),
                mib(peak),
                mib(after),
                if delivered { "yes" } else { "NO" }
            );
            let _ = child.kill().await;
        }
    }
    Ok(())
}
