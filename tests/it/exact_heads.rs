//! Exact request heads (issue 13): a sender's header names keep their case and repeats keep
//! their interleaved order from the sender, through the relay and `forward`, to a target that
//! reads the raw bytes; `show` and the curl export print them as sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli_support;

/// One request as the raw target read it: the head's text and the body's bytes.
type RawRequest = (String, Vec<u8>);

/// Read one HTTP/1.1 request (head, then a `content-length` body) from `conn`; `None` at EOF.
async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<RawRequest> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < end + length {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[end..end + length].to_vec();
    buf.drain(..end + length);
    Some((head, body))
}

/// A target on 127.0.0.1:0 that records each request's raw head and answers 200.
async fn raw_target() -> (
    String,
    Arc<Mutex<Vec<RawRequest>>>,
    Arc<tokio::sync::Notify>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
    let arrived = Arc::new(tokio::sync::Notify::new());
    let (log, bell) = (seen.clone(), arrived.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (log, bell) = (log.clone(), bell.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(req) = read_request(&mut conn, &mut buf).await {
                    log.lock().unwrap().push(req);
                    bell.notify_one();
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if conn.write_all(ok).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, seen, arrived)
}

/// POST to `channel` over a raw connection with exactly this head (after the request line).
async fn send_raw(channel: &str, header_lines: &str, body: &[u8]) -> String {
    let rest = channel.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "POST {path}/gh?x=1 HTTP/1.1\r\nHost: {authority}\r\n{header_lines}Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    let (answer, _) = read_request(&mut conn, &mut buf).await.expect("an answer");
    answer
}

const SENT: &str = "X-GitHub-Event: push\r\nX-Multi: one\r\nx-port-signature: v1,c2lnbmF0dXJl\r\n\
                    Content-Type: application/json\r\nX-Other: mid\r\nX-Multi: two\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_case_and_interleaved_repeats_reach_the_target_as_the_sender_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("heads.sqlite");
    let (target, seen, arrived) = raw_target().await;
    let (mut p, channel) = crate::targets::forward_embedded(&target, &store, &[]);
    let body = br#"{"ref":"refs/heads/main", "n": 1.50}"#;
    let answer = send_raw(&channel, SENT, body).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let (head, got_body) = loop {
        if let Some(first) = seen.lock().unwrap().first().cloned() {
            break first;
        }
        tokio::time::timeout(Duration::from_secs(20), arrived.notified())
            .await
            .expect("the target got the webhook");
    };
    assert_eq!(got_body, body, "body bytes unchanged");
    assert!(head.starts_with("POST /hook/gh?x=1 HTTP/1.1\r\n"), "{head}");
    for line in [
        "\r\nX-GitHub-Event: push\r\n",
        "\r\nx-port-signature: v1,c2lnbmF0dXJl\r\n",
        "\r\nContent-Type: application/json\r\n",
    ] {
        assert!(head.contains(line), "{line:?} as sent, in:\n{head}");
    }
    let at = |line: &str| {
        head.find(line)
            .unwrap_or_else(|| panic!("{line:?} in {head}"))
    };
    assert!(
        at("\r\nX-Multi: one\r\n") < at("\r\nX-Other: mid\r\n")
            && at("\r\nX-Other: mid\r\n") < at("\r\nX-Multi: two\r\n"),
        "interleaved order kept:\n{head}"
    );
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("x-hookrelay-header-order"),
        "{head}"
    );
    assert_eq!(head.matches("X-Multi").count(), 2, "{head}");

    // the store has the head as sent: `show` and the curl export print it so
    let line = p.wait_line(r#""type":"attempt""#, Duration::from_secs(15));
    let id = serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(p);
    let s = store.to_str().unwrap();
    let shown = cli_support::run(&["show", &id, "--store", s]).expect_ok();
    assert!(shown.stdout.contains("X-GitHub-Event: push"), "{shown:#?}");
    let curl = cli_support::run(&["export", &id, "--curl", "--store", s]).expect_ok();
    let multi: Vec<usize> = ["X-Multi: one", "X-Other: mid", "X-Multi: two"]
        .iter()
        .map(|l| {
            curl.stdout
                .find(l)
                .unwrap_or_else(|| panic!("{l} in {}", curl.stdout))
        })
        .collect();
    assert!(
        multi[0] < multi[1] && multi[1] < multi[2],
        "{}",
        curl.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_cannot_smuggle_the_forwarders_private_order_header() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("smuggle.sqlite");
    let (target, seen, arrived) = raw_target().await;
    let (_p, channel) = crate::targets::forward_embedded(&target, &store, &[]);
    let lines = "X-Hookrelay-Header-Order: Evil,Other\r\nX-Keep: 1\r\n";
    let answer = send_raw(&channel, lines, b"{}").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (head, _) = loop {
        if let Some(first) = seen.lock().unwrap().first().cloned() {
            break first;
        }
        tokio::time::timeout(Duration::from_secs(20), arrived.notified())
            .await
            .expect("the target got the webhook");
    };
    assert!(head.contains("\r\nX-Keep: 1\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("header-order"),
        "{head}"
    );
}
