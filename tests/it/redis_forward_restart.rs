//! Both instances of a shared relay and the client restarted: nothing accepted is lost. The
//! client is the real `hookrelay forward` with its store (the relay cursor it keeps, issue 7),
//! forwarding to a real target on loopback; the relay is two real `hookrelay serve --redis`
//! processes on a real `redis-server`.

use crate::cli_support;
use crate::common;
use crate::redis_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Recorder;
use redis_support::{Instance, TestRedis};

const WAIT: Duration = Duration::from_secs(60);

/// Event `seq`'s body: bytes that are not text, different for every event.
fn body(seq: usize) -> Vec<u8> {
    let mut b = format!("event {seq} ").into_bytes();
    b.extend_from_slice(&[0x00, 0xff, 0xfe, (seq % 256) as u8, b'\r', b'\n']);
    b
}

/// Post events `seqs` alternately to the instances (a load balancer); each must get a 2xx.
async fn post_all(http: &reqwest::Client, urls: [&str; 2], seqs: std::ops::Range<usize>) {
    for seq in seqs {
        let r = http
            .post(urls[seq % 2])
            .header("content-type", "application/octet-stream")
            .body(body(seq))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "event {seq}: {}", r.status());
    }
}

/// Wait until the store has no delivery pending or being delivered (the forward job is idle:
/// what reached the target is recorded as delivered).
async fn wait_settled(store: &Path) {
    let end = Instant::now() + WAIT;
    let store = store.to_str().unwrap().to_string();
    loop {
        let mut busy = false;
        for state in ["pending", "delivering"] {
            let args = ["list", "--json", "--status", state, "--store", &store];
            let out = cli_support::run_async(args.map(String::from).to_vec(), Vec::new()).await;
            busy |= !out.ok() || !out.stdout.trim().is_empty();
        }
        if !busy {
            return;
        }
        assert!(Instant::now() < end, "the forward job never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_and_forward_restarted_every_event_once_in_order() {
    const EACH: usize = 20;
    let Some(redis) = TestRedis::start("redis_forward_restart") else {
        return;
    };
    let mut a = Instance::start(&redis.url(), &[]);
    let mut b = Instance::start(&redis.url(), &[]);
    let (url_a, url_b) = (a.url("/restart-all"), b.url("/restart-all"));
    let target = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("forward.sqlite");
    let http = common::http();

    // forward on B, events through both
    let mut client = cli_support::forward(&url_b, &target.url("/hook"), &store, &[]);
    post_all(&http, [&url_a, &url_b], 0..EACH).await;
    target.wait_for(EACH, WAIT).await;
    wait_settled(&store).await;
    client.kill9();

    // posted while the client is down
    post_all(&http, [&url_a, &url_b], EACH..2 * EACH).await;

    // both instances die and come back on the same Redis
    a.kill9();
    b.kill9();
    a.restart();
    b.restart();
    a.wait_ready(200, WAIT).await;
    b.wait_ready(200, WAIT).await;
    post_all(&http, [&url_a, &url_b], 2 * EACH..3 * EACH).await;

    // the client comes back on its store, on the same relay URL
    let mut client = cli_support::forward(&url_b, &target.url("/hook"), &store, &[]);
    target.wait_for(3 * EACH, WAIT).await;
    wait_settled(&store).await;
    client.kill9();

    let got: Vec<Vec<u8>> = target.received().iter().map(|r| r.body.to_vec()).collect();
    let want: Vec<Vec<u8>> = (0..3 * EACH).map(body).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "every event exactly once: {:?}",
        got.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(got, want, "byte for byte, in the order sent");
    assert!(target.received().iter().all(|r| r.path == "/hook"));
}
