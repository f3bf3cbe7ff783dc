//! SIGTERM on a real `hookrelay serve`: it stops accepting, subscribers are told and their
//! streams end, a sender whose request is in flight still gets its answer, and the process
//! exits within its shutdown bound.

use crate::serve_support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serve_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_subscribers_answers_senders_and_exits() {
    let mut relay = Serve::start(&["--shutdown-timeout", "5s"]);
    let c = client_from(HONEST);
    let chan = relay.channel();
    let sub = c
        .get(&chan)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 200);
    let mut stream = sub.bytes_stream();

    // a sender half-way through its body
    let path = chan.strip_prefix(&relay.url).unwrap().to_string();
    let mut sender = tcp_from(HONEST, relay.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n"
    );
    sender.write_all(head.as_bytes()).await.unwrap();
    sender.write_all(b"{\"in\":\"fl").await.unwrap();
    // wait until the relay holds those bytes (its body gauge), not for a time
    let within = Duration::from_secs(20);
    crate::common::wait_metric(&c, &relay.url, "hookrelay_body_bytes", within, |n| n == 9).await;

    let terminated = Instant::now();
    relay.terminate();

    // the subscriber is told, then its stream ends
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => seen.extend_from_slice(&b),
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("event: shutdown"), "{text}");

    // the in-flight sender finishes and gets its answer
    sender.write_all(b"ight\"}\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sender.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"ok\":true"), "{answer}");

    let status = relay
        .wait_exit(Duration::from_secs(10))
        .expect("exited within the shutdown bound");
    assert!(status.success(), "{status:?}");
    assert!(terminated.elapsed() < Duration::from_secs(10));
    // no longer accepting
    assert!(tcp_from(HONEST, relay.addr).await.is_err());
    let log = relay.log();
    assert!(
        log.contains("route=\"publish\"") || log.contains("route=publish"),
        "access log: {log}"
    );
    assert!(
        log.contains("client=127.0.0.1"),
        "access log has the client address: {log}"
    );
}

/// With `--drain`, SIGTERM first makes `/readyz` answer 503 while the relay keeps serving
/// (`/healthz` answers, webhooks are still taken), so a load balancer takes it out of rotation
/// before it stops accepting; then it exits within the drain and shutdown bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drain_says_not_ready_while_healthz_still_answers() {
    let mut relay = Serve::start(&["--drain", "5s", "--shutdown-timeout", "2s"]);
    let c = client_from(HONEST);
    let get = |path: &str| {
        let c = c.clone();
        let url = format!("{}{path}", relay.url);
        async move { c.get(url).send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(get("/readyz").await.unwrap(), 200, "ready before SIGTERM");

    relay.terminate();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = get("/readyz")
            .await
            .expect("still accepting while draining");
        if ready == 503 {
            break;
        }
        assert!(Instant::now() < end, "/readyz never answered 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get("/healthz").await.unwrap(), 200, "alive while draining");
    let posted = c
        .post(relay.channel())
        .header("content-type", "application/json")
        .body(r#"{"while":"draining"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        posted.status(),
        200,
        "webhooks are still taken while draining"
    );

    let status = relay
        .wait_exit(Duration::from_secs(15))
        .expect("exited after the drain");
    assert!(status.success(), "{status:?}");
}
