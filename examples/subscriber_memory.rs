//! Where an idle subscriber's memory goes: the relay in this process, with a counting
//! allocator; opens `--subs` idle subscribers and prints the live heap allocations they added,
//! by size (and with `--trace SIZE`, a backtrace of one allocation of that size).
//!
//! ```text
//! cargo run --release --example subscriber_memory -- [--subs 2000] [--trace 8192]
//! ```
//!
//! A diagnostic: the RSS figures are `examples/server_bench.rs`'s (the real binary).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKETS: usize = 1 << 16;
static LIVE: [AtomicI64; BUCKETS] = [const { AtomicI64::new(0) }; BUCKETS];
static TRACE: AtomicUsize = AtomicUsize::new(0);
static TRACED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

fn bucket(size: usize) -> usize {
    size.min(BUCKETS - 1)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE[bucket(l.size())].fetch_add(1, Ordering::Relaxed);
        let t = TRACE.load(Ordering::Relaxed);
        if t != 0 && l.size() == t && TRACED.fetch_add(1, Ordering::Relaxed) == 0 {
            IN_TRACE.with(|f| {
                if !f.replace(true) {
                    eprintln!(
                        "allocation of {t} bytes:\n{}",
                        std::backtrace::Backtrace::force_capture()
                    );
                    f.set(false);
                }
            });
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE[bucket(l.size())].fetch_sub(1, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE[bucket(l.size())].fetch_sub(1, Ordering::Relaxed);
        LIVE[bucket(new)].fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn snapshot() -> Vec<i64> {
    LIVE.iter().map(|a| a.load(Ordering::Relaxed)).collect()
}

#[tokio::main]
async fn main() {
    let mut subs = 2000usize;
    let mut trace = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--subs" => subs = args.next().unwrap().parse().unwrap(),
            "--trace" => trace = args.next().unwrap().parse().unwrap(),
            _ => panic!("unknown argument {a}"),
        }
    }
    let cfg = hookrelay::server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 100_000,
        max_subscribers_per_channel: 100_000,
        ..Default::default()
    };
    let server = hookrelay::server::RelayServer::start(cfg).await.unwrap();
    let addr = server.local_addr();
    let path = format!("/{}", hookrelay::server::new_channel_name());
    let open = |n: usize| {
        let path = path.clone();
        async move {
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
                );
                s.write_all(req.as_bytes()).await.unwrap();
                let mut buf = [0u8; 1024];
                let mut got = Vec::new();
                while !got.windows(12).any(|w| w == b"event: ready") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&buf[..n]);
                }
                held.push(s);
            }
            held
        }
    };
    // warm up (first-connection allocations), then measure
    let warm = open(50).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = snapshot();
    TRACE.store(trace, Ordering::Relaxed);
    // the client's own allocations are counted too: the client side holds only TcpStreams
    let held = open(subs).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = snapshot();
    let mut total = 0i64;
    println!("size bytes | live per subscriber");
    for (size, (a, b)) in after.iter().zip(&before).enumerate() {
        let d = a - b;
        total += d * size as i64;
        if d.unsigned_abs() as usize * 10 >= subs {
            println!("{size:>10} | {:.2}", d as f64 / subs as f64);
        }
    }
    println!(
        "heap bytes per subscriber (both ends): {:.0}",
        total as f64 / subs as f64
    );
    drop(held);
    drop(warm);
}
