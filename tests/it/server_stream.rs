//! The relay's SSE streams: smee.io framing, lenient Accept, resumable ids with gaps,
//! slow subscribers, keep-alive pings and shutdown.

use crate::server_support;

use std::time::Duration;

use server_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn seq_of(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

fn epoch_of(id: &str) -> &str {
    id.rsplit_once('-').unwrap().0
}

#[tokio::test]
async fn lenient_accept_and_smee_headers() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    for accept in [
        "text/event-stream",
        "text/event-stream, */*",
        "Text/Event-Stream;q=1",
        "application/json;q=0.5, text/event-stream",
    ] {
        let mut s = Sse::connect_accept(&chan, accept, &[]).await;
        let h = &s.response_headers;
        assert_eq!(
            h["content-type"], "text/event-stream; charset=utf-8",
            "{accept}"
        );
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["x-accel-buffering"], "no");
        assert_eq!(h["connection"], "keep-alive");
        let ready = s.next().await;
        assert_eq!(
            (ready.event.as_deref(), ready.data.as_str()),
            (Some("ready"), "{}")
        );
        let id = post_json(&c, &chan, r#"{"accept":"ok"}"#).await;
        let ev = s.next_non_ping().await;
        assert_eq!(ev.id.as_deref(), Some(id.as_str()));
        assert_eq!(ev.event, None);
    }
    // Without the SSE type, a GET is a webhook, not a subscription.
    let r = c.get(&chan).header("accept", "*/*").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    server.shutdown().await;
}

#[tokio::test]
async fn fresh_subscribers_get_only_new_events_and_resume_gets_exactly_the_missed() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    post_json(&c, &chan, r#"{"before":true}"#).await;

    let mut s = subscribe_ready(&chan, &[]).await;
    let mut seen = Vec::new();
    for i in 0..3 {
        let id = post_json(&c, &chan, &format!(r#"{{"i":{i}}}"#)).await;
        let ev = s.next_non_ping().await;
        assert_eq!(
            ev.id.as_deref(),
            Some(id.as_str()),
            "fresh: only new events"
        );
        seen.push(id);
    }
    let last = seen.last().unwrap().clone();
    drop(s);

    let mut missed = Vec::new();
    for i in 3..7 {
        missed.push(post_json(&c, &chan, &format!(r#"{{"i":{i}}}"#)).await);
    }
    let mut s = subscribe_ready(&chan, &[("last-event-id", &last)]).await;
    for want in &missed {
        let ev = s.next_non_ping().await;
        assert_eq!(ev.event, None, "no gap: {ev:?}");
        assert_eq!(ev.id.as_ref(), Some(want), "in order, no duplicates");
        let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(v["body"]["i"], seq_of(want) - 2);
    }
    // Then live events, without repeating anything.
    let live = post_json(&c, &chan, r#"{"live":1}"#).await;
    assert_eq!(s.next_non_ping().await.id, Some(live.clone()));
    assert_eq!(seq_of(&live), seq_of(&last) + 5);
    server.shutdown().await;
}

#[tokio::test]
async fn ring_overflow_announces_a_gap_then_what_is_left() {
    let server = start(|cfg| cfg.ring_len = 4).await;
    let chan = server.new_channel();
    let c = client();
    let first = post_json(&c, &chan, "{}").await;
    let mut posted = Vec::new();
    for i in 0..10 {
        posted.push(post_json(&c, &chan, &format!(r#"{{"i":{i}}}"#)).await);
    }
    let mut s = subscribe_ready(&chan, &[("last-event-id", &first)]).await;
    let gap = s.next_non_ping().await;
    assert_eq!(gap.event.as_deref(), Some("gap"));
    let g: serde_json::Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(g["reason"], "not_retained");
    assert_eq!(g["missed"], 6);
    assert_eq!(g["missed_from"], posted[0].as_str());
    assert_eq!(g["missed_to"], posted[5].as_str());
    assert_eq!(gap.id.as_deref(), Some(posted[5].as_str()));
    for want in &posted[6..] {
        assert_eq!(s.next_non_ping().await.id.as_ref(), Some(want));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn foreign_epoch_gets_restart_gap_and_the_whole_ring() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    // Posted after the "restart", before the client came back: must not be lost.
    let a = post_json(&c, &chan, r#"{"a":1}"#).await;
    let b = post_json(&c, &chan, r#"{"b":2}"#).await;
    assert_ne!(epoch_of(&a), "zz0old");

    let mut s = subscribe_ready(&chan, &[("last-event-id", "zz0old-41")]).await;
    let gap = s.next_non_ping().await;
    assert_eq!(gap.event.as_deref(), Some("gap"));
    let g: serde_json::Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(g["reason"], "relay_restarted");
    assert_eq!(g["last_event_id"], "zz0old-41");
    assert_eq!(s.next_non_ping().await.id, Some(a));
    assert_eq!(s.next_non_ping().await.id, Some(b));

    // An unparseable id is a fresh subscriber: nothing old, then new events.
    let mut fresh = subscribe_ready(&chan, &[("last-event-id", "not an id")]).await;
    let n = post_json(&c, &chan, "{}").await;
    assert_eq!(fresh.next_non_ping().await.id, Some(n));
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_subscriber_blocks_neither_the_sender_nor_others() {
    const EVENTS: usize = 40;
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();

    // A subscriber that never reads: its socket buffers fill up.
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    let mut slow = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n",
        server.local_addr()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut fast = subscribe_ready(&chan, &[]).await;
    // Make sure the slow subscriber is registered before publishing.
    let mut first = [0u8; 16];
    tokio::time::timeout(WAIT, slow.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();

    let body = "x".repeat(512 * 1024); // 40 × 512 KiB = 20 MiB, far above socket buffers
    let sender = {
        let (c, chan) = (c.clone(), chan.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..EVENTS {
                let r = c.post(&chan).body(body.clone()).send().await.unwrap();
                assert_eq!(r.status(), 200);
                ids.push(r.text().await.unwrap());
            }
            ids
        })
    };
    let mut got = 0;
    while got < EVENTS {
        let ev = fast.next_non_ping().await;
        assert_eq!(ev.event, None);
        got += 1;
    }
    let ids = tokio::time::timeout(WAIT, sender)
        .await
        .expect("sender never blocked")
        .unwrap();
    assert_eq!(ids.len(), EVENTS);

    // The slow subscriber lost nothing either: the ring still holds everything it missed.
    // Count event starts as they stream by (keeping a small tail for markers split by reads).
    let mut buf = vec![0u8; 1 << 16];
    let (mut tail, mut ids_seen, mut gaps) = (Vec::new(), 0, 0);
    while ids_seen < EVENTS {
        let n = tokio::time::timeout(WAIT, slow.read(&mut buf))
            .await
            .expect("slow subscriber catches up")
            .unwrap();
        assert!(n > 0, "stream ended early");
        let keep = tail.len();
        tail.extend_from_slice(&buf[..n]);
        // Only windows ending in the new bytes: nothing is counted twice.
        let count = |m: &[u8]| {
            tail[keep.saturating_sub(m.len() - 1)..]
                .windows(m.len())
                .filter(|w| *w == m)
                .count()
        };
        ids_seen += count(b"\nid: ");
        gaps += count(b"event: gap");
        tail.drain(..tail.len().saturating_sub(16));
    }
    assert_eq!(gaps, 0, "no gap: the ring held everything");
    server.shutdown().await;
}

#[tokio::test]
async fn pings_keep_idle_streams_alive() {
    let server = start(|cfg| cfg.ping_interval = Duration::from_millis(150)).await;
    let mut s = subscribe_ready(&server.new_channel(), &[]).await;
    for _ in 0..2 {
        let ping = s.next().await;
        assert_eq!(ping.event.as_deref(), Some("ping"));
        assert_eq!(ping.data, "{}");
        assert_eq!(ping.id, None, "pings do not move Last-Event-ID");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_streams() {
    let server = start(|_| {}).await;
    let mut s = subscribe_ready(&server.new_channel(), &[]).await;
    let addr = server.local_addr();
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown completes");
    assert!(s.ends_within(WAIT).await, "stream ended");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// Read from a raw connection until `want` appears (bounded by a deadline).
async fn read_until(s: &mut tokio::net::TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !got.windows(want.len()).any(|w| w == want) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(want));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no {:?} in {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got)
        )
    });
    got
}

/// Plain subscribe requests are served without hyper (src/server/sse_conn.rs); the rest,
/// a subscribe request with a long head or after another request on a keep-alive
/// connection, still subscribes through hyper, and a refused one is answered and closed.
#[tokio::test]
async fn every_kind_of_subscribe_request_streams() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    let addr = server.local_addr();
    let c = client();

    // plain: chunked stream with the relay's headers
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    plain.write_all(req.as_bytes()).await.unwrap();
    let head = String::from_utf8(read_until(&mut plain, b"event: ready").await).unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(lower.contains("transfer-encoding: chunked\r\n"), "{head}");
    assert!(
        lower.contains("content-type: text/event-stream; charset=utf-8\r\n"),
        "{head}"
    );

    // a head over 4 KiB: hyper's
    let mut long = tokio::net::TcpStream::connect(addr).await.unwrap();
    let pad = "x".repeat(5000);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {pad}\r\nAccept: text/event-stream\r\n\r\n"
    );
    long.write_all(req.as_bytes()).await.unwrap();
    read_until(&mut long, b"event: ready").await;

    // a first request on a keep-alive connection (hyper, with the read bytes put back), then
    // a subscription on the same connection
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\nGET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    kept.write_all(req.as_bytes()).await.unwrap();
    read_until(&mut kept, b"event: ready").await;

    let id = post_json(&c, &chan, r#"{"kinds":3}"#).await;
    for s in [&mut plain, &mut long, &mut kept] {
        read_until(s, id.as_bytes()).await;
    }

    // a refused subscription on the plain path: answered, then closed
    let other = crate::server_support::start(|cfg| cfg.max_subscribers_per_channel = 1).await;
    let chan = other.new_channel();
    let path = chan.strip_prefix(&other.base_url()).unwrap().to_string();
    let _first = subscribe_ready(&chan, &[]).await;
    let mut refused = tokio::net::TcpStream::connect(other.local_addr())
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
    refused.write_all(req.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut all))
        .await
        .expect("closed after the refusal")
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(text.contains("1 subscribers"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert_eq!(lower.matches("content-length: ").count(), 1, "{text}");
    assert!(lower.contains("connection: close\r\n"), "{text}");
    server.shutdown().await;
}
