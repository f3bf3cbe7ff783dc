//! The relay servers side by side on loopback, in one run: `hookrelay serve` and the real
//! smee.io server (`../shared/anchors/servers/run-smee-server.sh`, needs node and npm).
//!
//! ```text
//! cargo run --example server_bench -- [--events 5000] [--idle 10000] [--hookrelay target/debug/hookrelay]
//! ```
//!
//! For each server: webhooks/s accepted (POSTs answered, 64 concurrent senders with keep-alive)
//! and streamed to 1 and to 100 subscribers (until every subscriber has every event), then the
//! server's RSS with `--idle` idle subscribers (100 channels). All load comes from one address,
//! so hookrelay runs with its per-address limits raised (`--rate 0` and so on).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser, Debug)]
struct Args {
    /// Webhooks per throughput phase.
    #[arg(long, default_value_t = 5000)]
    events: usize,
    /// Idle subscribers for the memory phase.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// The hookrelay binary (default: next to this example, `target/<profile>/hookrelay`).
    #[arg(long)]
    hookrelay: Option<std::path::PathBuf>,
    /// The smee.io server script.
    #[arg(long, default_value = "../shared/anchors/servers/run-smee-server.sh")]
    smee_script: std::path::PathBuf,
    /// Port for the smee.io server (it cannot pick its own).
    #[arg(long, default_value_t = 3999)]
    smee_port: u16,
    /// Skip the smee.io server.
    #[arg(long)]
    no_smee: bool,
    /// Senders: `raw` (keep-alive HTTP/1.1 on plain sockets, a lean load generator like
    /// wrk) or `reqwest` (the HTTP client hookrelay itself uses; it takes more of the CPU the
    /// servers share with it).
    #[arg(long, default_value = "raw")]
    senders: String,
}

struct Server {
    name: &'static str,
    child: Child,
    base: String,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_mib(pid: u32) -> f64 {
    hookrelay::proc_mem::kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
}

fn start_hookrelay(bin: &std::path::Path) -> Server {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--rate", "0"])
        .args([
            "--max-connections",
            "30000",
            "--max-connections-per-addr",
            "30000",
        ])
        .args([
            "--max-subscribers",
            "30000",
            "--channels-per-addr",
            "1000000",
        ])
        .env("HOOKRELAY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hookrelay serve");
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("relay listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let addr = base.trim_start_matches("http://").parse().unwrap();
    Server {
        name: "hookrelay serve",
        child,
        base,
        addr,
    }
}

async fn start_smee(script: &std::path::Path, port: u16) -> Option<Server> {
    let child = Command::new("bash")
        .arg(script)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let base = format!("http://127.0.0.1:{port}");
    let server = Server {
        name: "smee.io server",
        child,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        base,
    };
    // first start installs its dependencies (npm ci): allow two minutes
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        if let Ok(r) = c.get(format!("{}/new", server.base)).send().await
            && r.status().as_u16() == 307
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

fn channel(base: &str) -> String {
    format!("{base}/{}", hookrelay::server::new_channel_name())
}

/// Subscribe with a raw connection; returns once `ready` arrived, counting data events (frames
/// without an `event:` line) into `count` in the background (then the reader task owns the
/// connection), else returns the idle connection.
async fn subscriber(addr: SocketAddr, path: String, count: Option<Arc<AtomicUsize>>) -> Sub {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while !buf.windows(12).any(|w| w == b"event: ready") {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "stream closed before ready");
        buf.extend_from_slice(&chunk[..n]);
    }
    let Some(count) = count else {
        return Sub::Idle(s);
    };
    let ready_end = buf.windows(12).position(|w| w == b"event: ready").unwrap();
    let rest = buf.split_off(ready_end);
    let (mut r, w) = s.into_split();
    Sub::Counting(tokio::spawn(async move {
        let _keep = w;
        // data events = frame ends ("\n\n") minus named events ("event: " lines), counted
        // with memchr's fast search across chunk boundaries (a 7-byte carry)
        let ends = memchr::memmem::Finder::new(b"\n\n");
        let named = memchr::memmem::Finder::new(b"event: ");
        // the end of "event: gap" (short enough for the carry below)
        let gap = memchr::memmem::Finder::new(b"t: gap");
        let (mut frames, mut events) = (0usize, 0usize);
        let mut window = rest;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            frames += ends.find_iter(&window).count();
            events += named.find_iter(&window).count();
            let gaps = gap.find_iter(&window).count();
            count.store(frames.saturating_sub(events), Ordering::Relaxed);
            let carry = window.len().saturating_sub(6);
            window.drain(..carry);
            // what the carry already counted must not count twice
            frames -= ends.find_iter(&window).count();
            events -= named.find_iter(&window).count();
            GAPS.fetch_add(gaps - gap.find_iter(&window).count(), Ordering::Relaxed);
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => window.extend_from_slice(&chunk[..n]),
            }
        }
    }))
}

/// `event: gap` frames the counting subscribers received (events a subscriber fell too far
/// behind for: the ring no longer held them, and said so).
static GAPS: AtomicUsize = AtomicUsize::new(0);

enum Sub {
    Idle(#[allow(dead_code)] tokio::net::TcpStream),
    Counting(tokio::task::JoinHandle<()>),
}

impl Drop for Sub {
    fn drop(&mut self) {
        if let Sub::Counting(task) = self {
            task.abort();
        }
    }
}

/// One throughput phase: `subs` subscribers on a fresh channel, `n` webhooks from 64 senders.
/// Returns (accepted/s, streamed events/s per subscriber).
async fn throughput(server: &Server, subs: usize, n: usize, raw: bool) -> (f64, f64) {
    let chan = channel(&server.base);
    let path = chan.strip_prefix(&server.base).unwrap().to_string();
    let counts: Vec<Arc<AtomicUsize>> = (0..subs).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let total = |c: &[Arc<AtomicUsize>]| c.iter().map(|a| a.load(Ordering::Relaxed)).sum::<usize>();
    let mut readers = Vec::new();
    for count in &counts {
        readers.push(subscriber(server.addr, path.clone(), Some(Arc::clone(count))).await);
    }
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let body = format!("{{\"action\":\"opened\",\"pad\":\"{}\"}}", "x".repeat(900));
    let start = Instant::now();
    let ok: usize = if raw {
        raw_posts(server.addr, &path, &body, n).await
    } else {
        reqwest_posts(&c, &chan, &body, n).await
    };
    let accepted = start.elapsed();
    let want = ok * subs;
    // until every subscriber has every event, or nothing more arrived for a second (a
    // subscriber that fell more than a ring behind got a gap notice instead of what it missed)
    let end = Instant::now() + Duration::from_secs(120);
    let (mut got, mut streamed) = (total(&counts), start.elapsed());
    while got < want && Instant::now() < end && start.elapsed() < streamed + Duration::from_secs(1)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = total(&counts);
        if now > got {
            (got, streamed) = (now, start.elapsed());
        }
    }
    drop(readers);
    let gaps = GAPS.swap(0, Ordering::Relaxed);
    if ok < n || got < want {
        eprintln!(
            "  {}: {ok}/{n} accepted, {got}/{want} deliveries ({gaps} gap notices)",
            server.name
        );
    }
    (
        ok as f64 / accepted.as_secs_f64(),
        got as f64 / subs as f64 / streamed.as_secs_f64(),
    )
}

/// `n` POSTs from 64 reqwest senders (keep-alive); how many were answered 2xx.
async fn reqwest_posts(c: &reqwest::Client, chan: &str, body: &str, n: usize) -> usize {
    futures_util::stream::iter(0..n)
        .map(|_| {
            let c = c.clone();
            let chan = chan.to_string();
            let body = body.to_string();
            async move {
                c.post(&chan)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()) as usize
            }
        })
        .buffer_unordered(64)
        .fold(0, |a, b| async move { a + b })
        .await
}

/// `n` POSTs from 64 senders on plain keep-alive sockets (one request at a time each);
/// how many were answered 2xx.
async fn raw_posts(addr: SocketAddr, path: &str, body: &str, n: usize) -> usize {
    let req = Arc::new(format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..64)
        .map(|_| {
            let (req, next) = (Arc::clone(&req), Arc::clone(&next));
            tokio::spawn(async move {
                let mut ok = 0;
                let mut conn: Option<tokio::net::TcpStream> = None;
                let mut buf = Vec::with_capacity(4096);
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let s = match conn.as_mut() {
                        Some(s) => s,
                        None => {
                            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                            s.set_nodelay(true).unwrap();
                            conn.insert(s)
                        }
                    };
                    buf.clear();
                    let answer = match s.write_all(req.as_bytes()).await {
                        Ok(()) => read_response(s, &mut buf).await,
                        Err(_) => None,
                    };
                    match answer {
                        Some((status, keep)) => {
                            ok += usize::from((200..300).contains(&status));
                            if !keep {
                                conn = None;
                            }
                        }
                        None => conn = None,
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for s in senders {
        ok += s.await.unwrap();
    }
    ok
}

/// Read one response (Content-Length or chunked); its status and whether the connection
/// stays open.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<(u16, bool)> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let k = s.read(&mut chunk).await.ok().filter(|&k| k > 0)?;
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_string())
    };
    let keep = field("connection").is_none_or(|v| v != "close");
    if let Some(len) = field("content-length") {
        let want = head_end + len.parse::<usize>().ok()?;
        while buf.len() < want {
            let k = s.read(&mut chunk).await.ok().filter(|&k| k > 0)?;
            buf.extend_from_slice(&chunk[..k]);
        }
    } else if field("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while memchr::memmem::find(&buf[head_end..], b"0\r\n\r\n").is_none() {
            let k = s.read(&mut chunk).await.ok().filter(|&k| k > 0)?;
            buf.extend_from_slice(&chunk[..k]);
        }
    }
    Some((status, keep))
}

/// RSS of the server with `idle` idle subscribers (100 per channel).
async fn idle_rss(server: &Server, idle: usize) -> (f64, f64) {
    let pid = server.child.id();
    let before = rss_mib(pid);
    let mut held = Vec::with_capacity(idle);
    let mut path = String::new();
    for i in 0..idle {
        if i % 100 == 0 {
            path = channel(&server.base)
                .strip_prefix(&server.base)
                .unwrap()
                .to_string();
        }
        held.push(subscriber(server.addr, path.clone(), None).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // let the server settle before reading
    let with = rss_mib(pid);
    drop(held);
    (before, with)
}

/// Raise the soft limit of open files to the hard one: the idle phase holds `--idle`
/// connections here (and the servers, started from here, inherit the limit).
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let fds = raise_fd_limit();
    if (fds as usize) < args.idle + 1000 {
        eprintln!("open files limit {fds} is too low for --idle {}", args.idle);
    }
    hookrelay::tls::install_provider();
    let bin = args.hookrelay.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("hookrelay")
    });
    let mut servers = vec![start_hookrelay(&bin)];
    if !args.no_smee {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&args.smee_script);
        match start_smee(&script, args.smee_port).await {
            Some(s) => servers.push(s),
            None => eprintln!(
                "smee.io server did not start ({}); measuring hookrelay only",
                script.display()
            ),
        }
    }
    println!(
        "| server | accepted/s (1 sub) | streamed/s (1 sub) | accepted/s (100 subs) | streamed/s per sub (100 subs) | RSS idle | RSS with {} idle subs |",
        args.idle
    );
    println!("|---|---|---|---|---|---|---|");
    for s in &servers {
        let raw = args.senders == "raw";
        let (a1, s1) = throughput(s, 1, args.events, raw).await;
        let (a100, s100) = throughput(s, 100, args.events, raw).await;
        let (before, with) = idle_rss(s, args.idle).await;
        let each = (with - before) * 1024.0 / args.idle as f64;
        println!(
            "| {} | {a1:.0} | {s1:.0} | {a100:.0} | {s100:.0} | {before:.1} MiB | {with:.1} MiB ({each:.1} KiB each) |",
            s.name
        );
    }
}
