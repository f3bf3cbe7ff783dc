//! A shared relay: two real `hookrelay serve --redis` processes on one real `redis-server`.
//! Senders post to one instance while clients listen on the other; instances are killed with
//! -9 and restarted, Redis is stopped and started again. Every webhook that got a 2xx arrives,
//! once, in order; none gets a 2xx while Redis cannot store it.

use crate::cli_support;
use crate::common;
use crate::redis_support;
use crate::server_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Recorder, fixture};
use redis_support::{Instance, TestRedis};
use server_support::{SseEvent, subscribe_ready};

const WAIT: Duration = Duration::from_secs(60);

struct Scenario {
    name: String,
    method: String,
    query: String,
    headers: Vec<(String, String)>,
    chunked: bool,
    body: Vec<u8>,
}

/// The scenarios smee.io was measured with (tests/fixtures/smee/sent).
fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixture("smee/sent")).unwrap() {
        let path = entry.unwrap().path();
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("meta.json")).unwrap()).unwrap();
        let headers = meta["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
            .filter(|(n, _): &(String, String)| !n.eq_ignore_ascii_case("transfer-encoding"))
            .collect();
        out.push(Scenario {
            name: meta["name"].as_str().unwrap().to_string(),
            method: meta["method"].as_str().unwrap().to_string(),
            query: meta["query"].as_str().unwrap().to_string(),
            headers,
            chunked: meta["chunked"].as_bool().unwrap_or(false),
            body: std::fs::read(path.join("body")).unwrap(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 13, "fixtures missing: {}", out.len());
    out
}

async fn send(http: &reqwest::Client, channel: &str, s: &Scenario) -> reqwest::StatusCode {
    let mut url = format!("{channel}/sub/{}", s.name);
    if !s.query.is_empty() {
        url.push('?');
        url.push_str(&s.query);
    }
    let mut req = http.request(
        reqwest::Method::from_bytes(s.method.as_bytes()).unwrap(),
        &url,
    );
    for (n, v) in &s.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    req = if s.chunked {
        let chunks: Vec<Result<Bytes, std::io::Error>> = s
            .body
            .chunks(50)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
    } else {
        req.body(s.body.clone())
    };
    req.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_on_one_instance_client_on_the_other_every_scenario_byte_exact() {
    let Some(redis) = TestRedis::start("redis_relay::every_scenario") else {
        return;
    };
    let a = Instance::start(&redis.url(), &[]);
    let b = Instance::start(&redis.url(), &[]);
    let target = Recorder::start().await;
    let store = tempfile::tempdir().unwrap();
    let _client = cli_support::forward(
        &b.url("/fidelity-channel"),
        &target.url("/hook"),
        &store.path().join("s.sqlite"),
        &[],
    );
    let http = common::http();
    let all = scenarios();
    for s in &all {
        let status = send(&http, &a.url("/fidelity-channel"), s).await;
        assert!(
            status.is_success(),
            "{}: instance A answered {status}",
            s.name
        );
    }
    let got = target.wait_for(all.len(), WAIT).await;
    assert_eq!(got.len(), all.len(), "nothing lost or duplicated");
    for (s, r) in all.iter().zip(&got) {
        assert_eq!(r.path, format!("/hook/sub/{}", s.name), "order or path");
        assert_eq!(r.method, s.method, "{}", s.name);
        assert_eq!(
            r.query.as_deref().unwrap_or(""),
            s.query,
            "{}: query",
            s.name
        );
        assert_eq!(r.body.as_ref(), &s.body[..], "{}: body bytes", s.name);
        let arrived: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| s.headers.iter().any(|(sn, _)| sn.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        let sent: Vec<(String, String)> = s
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(arrived, sent, "{}: headers", s.name);
    }
}

fn seq_of(r: &common::Received) -> usize {
    r.header("x-seq").unwrap().parse().unwrap()
}

/// Post `x-seq: seq` to `url`; whether it got a 2xx.
async fn post_seq(http: &reqwest::Client, url: &str, seq: usize) -> bool {
    post_seq_to(http, &[url], seq).await
}

/// Post `x-seq: seq` to the first of `urls` that takes the connection (a request that never
/// reached a relay is safe to send to the next, as a load balancer does); whether it got a 2xx.
async fn post_seq_to(http: &reqwest::Client, urls: &[&str], seq: usize) -> bool {
    for url in urls {
        let r = http
            .post(*url)
            .header("content-type", "application/json")
            .header("x-seq", seq.to_string())
            .body(format!(
                r#"{{"seq":{seq},"pad":"{}"}}"#,
                "x".repeat(seq % 200)
            ))
            .send()
            .await;
        match r {
            Err(e) if e.is_connect() => continue,
            r => return r.is_ok_and(|r| r.status().is_success()),
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_killed_mid_burst_every_accepted_event_once_in_order() {
    const BURST: usize = 600;
    let Some(redis) = TestRedis::start("redis_relay::kill_9") else {
        return;
    };
    let mut a = Instance::start(&redis.url(), &[]);
    let mut b = Instance::start(&redis.url(), &[]);
    let (url_a, url_b) = (a.url("/burst"), b.url("/burst"));
    let target = Recorder::start().await;
    let store = tempfile::tempdir().unwrap();
    let _client = cli_support::forward(
        &url_b,
        &target.url("/hook"),
        &store.path().join("s.sqlite"),
        &[],
    );
    // the sender alternates between the instances (a load balancer: an instance that does not
    // take the connection is skipped); a request cut off by a kill is not retried (it was not
    // accepted: it may or may not arrive)
    let http = common::http();
    let sender = tokio::spawn(async move {
        let mut accepted = Vec::new();
        let mut failed = Vec::new();
        let urls = [url_a, url_b];
        for seq in 0..BURST {
            let (first, other) = (&urls[seq % 2], &urls[(seq + 1) % 2]);
            if post_seq_to(&http, &[first, other], seq).await {
                accepted.push(seq);
            } else {
                failed.push(seq);
            }
        }
        (accepted, failed)
    });
    // the client's instance dies mid-burst and comes back on its port
    target.wait_for(100, WAIT).await;
    b.kill9();
    b.restart();
    // then the other one
    target.wait_for(300, WAIT).await;
    a.kill9();
    a.restart();
    let (accepted, failed) = tokio::time::timeout(WAIT, sender).await.unwrap().unwrap();
    assert!(
        accepted.len() + failed.len() == BURST && failed.len() <= 10,
        "{} accepted, failed: {failed:?}",
        accepted.len()
    );
    let end = Instant::now() + WAIT;
    let got = loop {
        let got: Vec<usize> = target.received().iter().map(seq_of).collect();
        let seen: HashSet<usize> = got.iter().copied().collect();
        if accepted.iter().all(|s| seen.contains(s)) {
            break got;
        }
        assert!(Instant::now() < end, "accepted events never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let unique: HashSet<usize> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "an event arrived twice: {got:?}");
    // in order; beyond the accepted ones, at most those whose answer was lost in a kill
    let accepted_only: Vec<usize> = got
        .iter()
        .copied()
        .filter(|s| accepted.contains(s))
        .collect();
    assert_eq!(accepted_only, accepted, "every accepted event, in order");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    assert!(
        got.iter()
            .all(|s| accepted.contains(s) || failed.contains(s))
    );
    eprintln!(
        "kill -9 of both instances mid-burst: {} accepted, {} refused or cut off, all {} accepted delivered once in order",
        accepted.len(),
        failed.len(),
        accepted.len()
    );
}

/// The `seq` of a webhook event in smee's shape.
fn event_seq(ev: &SseEvent) -> usize {
    let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
    v["body"]["seq"].as_u64().unwrap() as usize
}

/// The next webhook event (skipping pings); panics on anything else.
async fn next_webhook(s: &mut server_support::Sse) -> SseEvent {
    let ev = s.next_non_ping().await;
    assert_eq!(ev.event, None, "{ev:?}");
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_restarted_a_client_resuming_anywhere_loses_nothing() {
    let Some(redis) = TestRedis::start("redis_relay::everything_restarted") else {
        return;
    };
    let mut a = Instance::start(&redis.url(), &[]);
    let mut b = Instance::start(&redis.url(), &[]);
    let http = common::http();
    let mut client = subscribe_ready(&b.url("/resume"), &[]).await;
    for seq in 0..40 {
        assert!(post_seq(&http, &a.url("/resume"), seq).await);
    }
    let mut last = None;
    for seq in 0..15 {
        let ev = next_webhook(&mut client).await;
        assert_eq!(event_seq(&ev), seq);
        last = ev.id;
    }
    let last = last.unwrap();
    // the client, and both instances, die; more webhooks once the instances are back
    drop(client);
    a.kill9();
    b.kill9();
    a.restart();
    b.restart();
    for seq in 40..60 {
        assert!(post_seq(&http, &b.url("/resume"), seq).await);
    }
    // the client comes back on the other instance with its Last-Event-ID
    let mut client = subscribe_ready(&a.url("/resume"), &[("last-event-id", &last)]).await;
    for seq in 15..60 {
        assert_eq!(event_seq(&next_webhook(&mut client).await), seq);
    }
    assert!(
        client
            .next_within(Duration::from_millis(300))
            .await
            .is_none_or(|e| e.event.as_deref() == Some("ping")),
        "nothing more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_no_2xx_then_recovery() {
    let Some(mut redis) = TestRedis::start("redis_relay::redis_stopped") else {
        return;
    };
    let a = Instance::start(&redis.url(), &[]);
    let b = Instance::start(&redis.url(), &[]);
    a.wait_ready(200, WAIT).await;
    let http = common::http();
    let mut client = subscribe_ready(&b.url("/outage"), &[]).await;
    assert!(post_seq(&http, &a.url("/outage"), 0).await);
    assert_eq!(event_seq(&next_webhook(&mut client).await), 0);

    redis.stop();
    a.wait_ready(503, WAIT).await;
    b.wait_ready(503, WAIT).await;
    for seq in 1..=20 {
        let r = http
            .post(a.url("/outage"))
            .header("x-seq", seq.to_string())
            .body(format!(r#"{{"seq":{seq}}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "no 2xx for a webhook Redis did not store");
        assert!(r.headers().contains_key("retry-after"));
    }
    assert_eq!(
        a.log_count("Redis is unreachable"),
        1,
        "said once, not per request"
    );

    redis.restart();
    a.wait_ready(200, WAIT).await;
    b.wait_ready(200, WAIT).await;
    assert_eq!(a.log_count("Redis is reachable again"), 1);
    for seq in 21..=25 {
        assert!(post_seq(&http, &a.url("/outage"), seq).await);
    }
    // the same connection, still open, catches up; Redis lost its data (no persistence here),
    // which is announced as a gap before the new events
    let mut got = Vec::new();
    let mut gaps = 0;
    while got.len() < 5 {
        let ev = client.next_non_ping().await;
        match ev.event.as_deref() {
            None => got.push(event_seq(&ev)),
            Some("gap") => gaps += 1,
            other => panic!("unexpected {other:?}: {ev:?}"),
        }
    }
    assert_eq!(got, (21..=25).collect::<Vec<_>>());
    assert!(gaps <= 1);
}
