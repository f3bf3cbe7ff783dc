//! The relay's public-facing details: UTF-8 stream encoding with line separators escaped,
//! dot-segments and CONNECT refused, trailing-slash subscriptions, `/healthz`, `/readyz`,
//! `/metrics` counts after known traffic, and subscriber tokens.

use crate::server_support;

use hookrelay::server::SubscriberTokens;
use server_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Send raw bytes on a new connection and return what comes back until the peer closes.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_stream_is_utf8_with_line_separators_escaped() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    let mut plain = subscribe_ready(&chan, &[]).await;
    let mut exact = subscribe_ready(&chan, &[("x-hookrelay-wire", "1")]).await;
    assert_eq!(
        plain.response_headers["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = "Ångström ą хорошо \u{85}nel \u{2028}ls \u{2029}ps";
    let body = serde_json::json!({ "s": text }).to_string();
    let evil = reqwest::header::HeaderValue::from_bytes("a\u{85}id: x".as_bytes()).unwrap();
    let r = c
        .post(&chan)
        .header("content-type", "application/json")
        .header("x-evil", evil)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (shape, sse) in [("smee", &mut plain), ("exact", &mut exact)] {
        let ev = sse.next_non_ping().await;
        let data = ev.data.as_bytes();
        for bad in ["\u{85}", "\u{2028}", "\u{2029}"] {
            assert!(
                !data.windows(bad.len()).any(|w| w == bad.as_bytes()),
                "raw {bad:?} in {}",
                ev.data
            );
        }
        assert!(
            ev.data.contains("\\u0085"),
            "{shape}: the header's U+0085 is escaped"
        );
        let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(v["x-evil"], "a\u{85}id: x");
        if shape == "smee" {
            assert!(ev.data.contains("\\u2028"));
            assert!(ev.data.contains("Ångström ą хорошо"), "UTF-8 stays UTF-8");
            assert_eq!(v["body"]["s"], text, "the escapes decode to the same text");
        } else {
            // the exact shape carries the body once, as bodyB, byte for byte
            assert!(v.get("body").is_none(), "no second copy of the body");
            let d = hookrelay::wire::decode_event(&ev.data, usize::MAX).unwrap();
            assert_eq!(&d.request.body[..], body.as_bytes());
        }
    }
    let d = hookrelay::wire::decode_event(&exact_last(&chan, &c, &body).await, usize::MAX).unwrap();
    assert_eq!(&d.request.body[..], body.as_bytes(), "exact body unchanged");
    server.shutdown().await;
}

/// Post `body` again and return the extended event's data.
async fn exact_last(chan: &str, c: &reqwest::Client, body: &str) -> String {
    let mut s = subscribe_ready(chan, &[("x-hookrelay-wire", "1")]).await;
    post_json(c, chan, body).await;
    s.next_non_ping().await.data
}

#[tokio::test]
async fn dot_segments_and_connect_are_refused_and_a_trailing_slash_subscribes() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    // trailing slash: a subscription, not a published webhook
    let mut sse = subscribe_ready(&format!("{chan}/"), &[]).await;
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    for bad in ["/../../etc", "/./x", "/a/%2e%2E/b", "/.%2e", "/a/."] {
        let req = format!(
            "POST {path}{bad} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let answer = raw(server.local_addr(), &req).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad}: {answer}");
        assert!(answer.contains("dot-segments"), "{answer}");
    }
    let answer = raw(
        server.local_addr(),
        "CONNECT 127.0.0.1:9 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // dots inside a segment are fine
    let r = c
        .post(format!("{chan}/v1.2/a..b"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ev = sse.next_non_ping().await;
    let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(v["body"], serde_json::json!({}));
    assert!(
        sse.next_within(std::time::Duration::from_millis(300))
            .await
            .is_none_or(|e| e.event.as_deref() == Some("ping")),
        "nothing refused was published"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_after_known_traffic() {
    let server = start(|cfg| cfg.max_body_bytes = 1024).await;
    let c = client();
    let base = server.base_url();
    for (path, want) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), want);
    }
    let chan = server.new_channel();
    let mut sse = subscribe_ready(&chan, &[]).await;
    for i in 0..3 {
        post_json(&c, &chan, &format!("{{\"n\":{i}}}")).await;
        sse.next_non_ping().await;
    }
    let r = c.post(&chan).body(vec![b'x'; 2000]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // (a raw request: HTTP clients normalize dot-segments away)
    let path = chan.strip_prefix(&base).unwrap();
    let answer = raw(
        server.local_addr(),
        &format!(
            "POST {path}/../x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let r = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = r.text().await.unwrap();
    for line in [
        "hookrelay_webhooks_accepted_total 3",
        "hookrelay_webhooks_refused_total{reason=\"too_large\"} 1",
        "hookrelay_webhooks_refused_total{reason=\"bad_path\"} 1",
        "hookrelay_events_streamed_total 3",
        "hookrelay_subscribers 1",
        "hookrelay_channels 1",
    ] {
        assert!(m.lines().any(|l| l == line), "{line:?} in\n{m}");
    }
    let retained: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("hookrelay_retained_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(retained > 0);
    server.shutdown().await;
}

#[tokio::test]
async fn subscriber_tokens_guard_subscribing_not_sending() {
    let server = start(|cfg| {
        cfg.subscriber_tokens = Some(SubscriberTokens::parse("# team\nalpha-token\n"));
    })
    .await;
    let chan = server.new_channel();
    let c = client();
    for auth in [None, Some("Bearer wrong"), Some("Basic alpha-token")] {
        let mut rb = c.get(&chan).header("accept", "text/event-stream");
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.headers().contains_key("www-authenticate"));
    }
    let mut sse = subscribe_ready(&chan, &[("authorization", "Bearer alpha-token")]).await;
    post_json(&c, &chan, r#"{"no":"token needed to send"}"#).await;
    let ev = sse.next_non_ping().await;
    assert!(ev.data.contains("token needed to send"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_cannot_keep_up_is_cut_off_and_resumes_with_last_event_id() {
    cut_off_and_resume(false).await;
}

/// The same in the extended shape, with events large enough to be written in pieces: the
/// stream may be cut in the middle of one; the events received whole are exact, and the
/// subscriber resumes after the last of them.
#[tokio::test]
async fn an_extended_subscriber_cut_off_mid_event_resumes_after_its_last_whole_event() {
    cut_off_and_resume(true).await;
}

async fn cut_off_and_resume(extended: bool) {
    let server = start(|cfg| {
        cfg.max_body_bytes = 512 * 1024;
        cfg.memory_budget = 4 << 20; // rings 2 MiB
        cfg.timeouts.write = std::time::Duration::from_secs(1);
    })
    .await;
    let wire = if extended {
        "x-hookrelay-wire: 1\r\n"
    } else {
        ""
    };
    let chan = server.new_channel();
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    let c = client();
    // a subscriber that reads its `ready` and then nothing
    let mut stuck = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stuck
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n{wire}\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !got.windows(12).any(|w| w == b"event: ready") {
        let n = tokio::time::timeout(WAIT, stuck.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // 60 events of 300 KiB: far more than the socket buffers and the rings hold
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let mut last = String::new();
    for _ in 0..60 {
        last = post_json(&c, &chan, &body).await;
    }
    // the relay cuts it off (write timeout / no room for its frames): wait for that without
    // reading (reading would let it catch up), then read what the socket still holds
    let end = tokio::time::Instant::now() + WAIT;
    let base = server.base_url();
    crate::common::wait_metric(&c, &base, "hookrelay_subscribers", WAIT, |n| n == 0).await;
    loop {
        match tokio::time::timeout_at(end, stuck.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the stuck subscriber was never disconnected"),
        }
    }
    // the last complete event it received (every one of them whole and exact)
    let frames = whole_frames(&got);
    let mut complete = Vec::new();
    for f in frames.iter().filter(|f| !f.contains("event: ")) {
        let (id, data) = f
            .strip_prefix("id: ")
            .and_then(|f| f.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("not an event: {f:.200}"));
        let ev = hookrelay::wire::decode_event(data, usize::MAX).unwrap();
        assert_eq!(ev.request.body, body.as_bytes(), "event {id} is exact");
        complete.push(id);
    }
    assert!(complete.len() < 60, "it was cut off before the end");
    let seq = |id: &str| id.rsplit_once('-').unwrap().1.parse::<u64>().unwrap();
    let resume_from = complete.last().map_or(0, |id| seq(id));
    // resume: a gap for what the ring dropped, then the rest, ending with the last event
    let epoch = last.rsplit_once('-').unwrap().0.to_string();
    let last_id = format!("{epoch}-{resume_from}");
    let mut headers = vec![("last-event-id", last_id.as_str())];
    if extended {
        headers.push(("x-hookrelay-wire", "1"));
    }
    let mut sse = subscribe_ready(&chan, &headers).await;
    let first = sse.next_non_ping().await;
    let mut next = resume_from + 1;
    if first.event.as_deref() == Some("gap") {
        let gap: serde_json::Value = serde_json::from_str(&first.data).unwrap();
        assert_eq!(gap["missed_from"], format!("{epoch}-{next}"));
        next += gap["missed"].as_u64().unwrap();
    } else {
        assert_eq!(first.id.as_deref().map(seq), Some(next));
        next += 1;
    }
    while next <= seq(&last) {
        let ev = sse.next_non_ping().await;
        assert_eq!(
            ev.id.as_deref().map(seq),
            Some(next),
            "in order, nothing twice"
        );
        let d = hookrelay::wire::decode_event(&ev.data, usize::MAX).unwrap();
        assert_eq!(d.request.body, body.as_bytes());
        next += 1;
    }
    server.shutdown().await;
}

/// A large event in the extended shape (written in pieces) reaches a subscriber served
/// directly and one served by hyper (a head over 4 KiB) as the same exact event.
#[tokio::test]
async fn a_large_extended_event_is_exact_on_both_subscribe_paths() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    let pad = "x".repeat(5000);
    let mut subs = Vec::new();
    for extra in [String::new(), format!("x-pad: {pad}\r\n")] {
        let mut s = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\nx-hookrelay-wire: 1\r\n{extra}\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        read_into(&mut s, &mut got, b"event: ready").await;
        subs.push((s, got));
    }
    // not UTF-8, several MiB, a length that is no multiple of 3 nor of a piece
    let body: Vec<u8> = (0..(3usize << 20) + 7)
        .map(|i| (i * 7 % 256) as u8 | 0x80)
        .collect();
    let r = client()
        .put(format!("{chan}/a?b=1"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (s, got) in &mut subs {
        read_into(s, got, b"\"}\n\n").await;
        let frames = whole_frames(got);
        let event = frames.iter().find(|f| f.starts_with("id: ")).unwrap();
        let data = event.split_once("\ndata: ").unwrap().1;
        assert!(!data.contains(['\n', '\r']));
        let d = hookrelay::wire::decode_event(data, usize::MAX).unwrap();
        assert_eq!(d.request.method, "PUT");
        assert_eq!(d.request.path, "/a");
        assert!(d.request.body == body, "the body is exact");
    }
    server.shutdown().await;
}

/// Read `s` into `got` until `want` is in it.
async fn read_into(s: &mut tokio::net::TcpStream, got: &mut Vec<u8>, want: &[u8]) {
    let mut buf = vec![0u8; 64 << 10];
    let mut from = 0;
    loop {
        if got[from..].windows(want.len()).any(|w| w == want) {
            return;
        }
        from = got.len().saturating_sub(want.len() - 1).max(from);
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .expect("in time")
            .unwrap();
        assert!(n > 0, "the stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
}

/// The SSE frames received whole (`\n\n`-terminated, without it) in the raw bytes of a
/// chunked HTTP response, which may end in the middle of a chunk.
fn whole_frames(raw: &[u8]) -> Vec<String> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = &raw[head_end..];
    let mut body = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        let chunk = &rest[eol + 2..];
        body.extend_from_slice(&chunk[..size.min(chunk.len())]);
        if size == 0 || chunk.len() < size + 2 {
            break;
        }
        rest = &chunk[size + 2..];
    }
    let text = String::from_utf8(body).unwrap();
    let mut frames: Vec<String> = text.split("\n\n").map(str::to_string).collect();
    frames.pop(); // after the last `\n\n`: empty, or a frame cut short
    frames
}
