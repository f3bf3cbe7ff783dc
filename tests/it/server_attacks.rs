//! Attacks on a real `hookrelay serve` process (attacker on 127.0.0.2, honest user on
//! 127.0.0.1): slow request heads, slow uploads, stuck subscribers of large events, a channel
//! flood. While each attack holds, the honest user's POST and subscription are answered within
//! 3 s, and the relay's RSS stays within its memory budget plus a fixed overhead.

use crate::serve_support;

use std::time::{Duration, Instant};

use serve_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// RSS a relay may use beyond its memory budget (code, runtime, allocator slack).
const OVERHEAD: usize = 64 << 20;

/// The soft limit on open files of this process.
fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1024)
}

/// Whether the peer closes `s` within `wait` (EOF or reset), reading and discarding.
async fn closed_within(s: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_request_heads_do_not_starve_honest_users() {
    let relay = Serve::start(&["--header-timeout", "2s"]);
    // 1,100 connections as in the report, fewer if this process may not open that many files
    let want = 1100.min(fd_limit().saturating_sub(300));
    if want < 1100 {
        eprintln!(
            "NOTE: open-file limit {}: using {want} attack connections",
            fd_limit()
        );
    }
    let mut held = Vec::with_capacity(want);
    for _ in 0..want {
        let mut s = tcp_from(ATTACKER, relay.addr).await.expect("connect");
        // a head that never ends (the relay may already have closed this one: ignore errors)
        let _ = s
            .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            .await;
        held.push(s);
    }
    honest_user_is_served(&relay).await;

    // The honest address's own half-sent and silent connections are closed by the head
    // timeout; every attack connection is closed too (over the per-address limit at once,
    // the rest by the timeout).
    let mut half = tcp_from(HONEST, relay.addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let mut silent = tcp_from(HONEST, relay.addr).await.unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(10)).await,
        "half-sent head closed"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(10)).await,
        "silent connection closed"
    );
    let checks = held
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(10)));
    let closed = futures_util::future::join_all(checks).await;
    assert!(closed.iter().all(|c| *c), "every slow head is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_uploads_do_not_block_honest_bodies() {
    let relay = Serve::start(&["--body-timeout", "2s"]);
    let chan = relay.channel();
    let path = chan.strip_prefix(&relay.url).unwrap().to_string();
    let mut uploads = Vec::new();
    for _ in 0..6 {
        let mut s = tcp_from(ATTACKER, relay.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            25 << 20
        );
        s.write_all(head.as_bytes()).await.unwrap();
        uploads.push(s);
    }
    // a byte a second on each (bounded: at most 30 s), until the relay answers
    let dribble = tokio::spawn(async move {
        let mut answers = vec![String::new(); uploads.len()];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && answers.iter().any(String::is_empty) {
            tick.tick().await;
            for (s, answer) in uploads.iter_mut().zip(answers.iter_mut()) {
                if !answer.is_empty() {
                    continue;
                }
                let _ = s.write_all(b" ").await;
                let mut buf = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
                    && n > 0
                {
                    *answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                }
            }
        }
        answers
    });
    honest_user_is_served(&relay).await;
    // an honest body of 1 MiB is taken at once too
    let c = client_from(HONEST);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    let r = tokio::time::timeout(ANSWER, c.post(relay.channel()).body(big).send())
        .await
        .expect("1 MiB honest POST answered within 3 s")
        .unwrap();
    assert_eq!(r.status(), 200);
    let answers = dribble.await.unwrap();
    for a in &answers {
        assert!(
            a.starts_with("HTTP/1.1 408"),
            "slow upload answered 408: {a:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_subscribers_of_large_events_stay_within_the_memory_budget() {
    const BUDGET: usize = 128 << 20;
    const EVENT: usize = 20 << 20;
    let relay = Serve::start(&["--memory-budget", "128MiB", "--write-timeout", "5s"]);
    let chan = relay.channel();
    let path = chan.strip_prefix(&relay.url).unwrap().to_string();
    let attacker = client_from(ATTACKER);
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(EVENT));
    let mut stuck = Vec::new();
    let mut peak = relay.rss();
    let mut accepted = 0;
    for i in 0..16 {
        // reads up to the ready event, then never again; half of them in the extended shape,
        // whose large frames are written in pieces
        let extra = if i % 2 == 0 {
            ""
        } else {
            "X-Hookrelay-Wire: 1\r\n"
        };
        stuck.push(stuck_subscriber(ATTACKER, relay.addr, &path, extra).await);
        for _ in 0..3 {
            let r = attacker
                .post(&chan)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            accepted += usize::from(r.status() == 200);
            peak = peak.max(relay.rss());
        }
    }
    assert!(
        accepted >= 24,
        "most large events were accepted: {accepted}"
    );
    honest_user_is_served(&relay).await;
    peak = peak.max(relay.rss());
    eprintln!("peak RSS {} MiB (budget {} MiB)", peak >> 20, BUDGET >> 20);
    assert!(
        peak <= BUDGET + OVERHEAD,
        "RSS {} MiB over budget {} MiB + {} MiB",
        peak >> 20,
        BUDGET >> 20,
        OVERHEAD >> 20
    );
    // Subscribers that cannot keep up are disconnected by the write timeout.
    let c = client_from(HONEST);
    let within = Duration::from_secs(60);
    crate::common::wait_metric(&c, &relay.url, "hookrelay_subscribers", within, |n| n == 0).await;
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channel_flood_leaves_new_and_subscribe_working() {
    let relay = Serve::start(&[]);
    flood(&relay, 10_000).await;
    honest_new_channel_works(&relay).await;
    honest_user_is_served(&relay).await;
    let (_, metrics) = crate::common::metric(&client_from(HONEST), &relay.url, "").await;
    assert!(metrics.contains("reason=\"rate_limited\""), "{metrics}");

    // Without rate limits or sender quotas, a full relay still gives honest subscribers a
    // channel: publish-only channels make room.
    let relay = Serve::start(&[
        "--rate",
        "0",
        "--channels-per-addr",
        "100000",
        "--max-channels",
        "200",
    ]);
    let refused = flood(&relay, 2_000).await;
    assert!(refused > 0, "the flood filled the relay");
    honest_new_channel_works(&relay).await;
    honest_user_is_served(&relay).await;
}

/// POST `n` webhooks to random channels from the attacker (64 at once, at most 60 s);
/// returns how many were refused.
async fn flood(relay: &Serve, n: usize) -> usize {
    use futures_util::StreamExt;
    let c = client_from(ATTACKER);
    let end = Instant::now() + Duration::from_secs(60);
    let results: Vec<u16> = futures_util::stream::iter(0..n)
        .map(|_| {
            let c = c.clone();
            let url = relay.channel();
            async move {
                if Instant::now() > end {
                    return 0;
                }
                match c.post(url).body("{}").send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 1,
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let ok = results.iter().filter(|s| **s == 200).count();
    eprintln!("flood: {ok} of {n} accepted");
    n - ok
}

/// `GET /new` and subscribe to where it points, within 3 s.
async fn honest_new_channel_works(relay: &Serve) {
    let c = client_from(HONEST);
    let r = tokio::time::timeout(ANSWER, c.get(format!("{}/new", relay.url)).send())
        .await
        .expect("/new within 3 s")
        .unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = tokio::time::timeout(
        ANSWER,
        c.get(&loc).header("accept", "text/event-stream").send(),
    )
    .await
    .expect("subscribe within 3 s")
    .unwrap();
    assert_eq!(r.status(), 200, "honest subscribe after the flood");
}
