//! The shared relay behind the real nginx: two `hookrelay serve --redis` instances as one
//! upstream, a sender and `hookrelay forward` both going through nginx, and each instance
//! killed with -9 (and restarted) while the client is connected through the proxy. Every
//! webhook that got a 2xx arrives once, in order.
//!
//! nginx and its helpers are `nginx_support`'s; missing nginx or redis-server skips with
//! `SKIP:` locally and fails under `CI=true`.

use crate::cli_support;
use crate::common;
use crate::redis_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::nginx_support::{missing, nginx_path, start_nginx};

use common::Recorder;
use redis_support::{Instance, TestRedis};

fn seq_of(r: &common::Received) -> usize {
    r.header("x-seq").unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_behind_nginx_killed_while_the_client_is_connected_through_it() {
    const BURST: usize = 400;
    let Some(nginx) = nginx_path() else {
        return missing("nginx not installed (apt-get install nginx-light)").unwrap_or(());
    };
    let Some(redis) = TestRedis::start("redis_nginx") else {
        return;
    };
    let proxy = ["--trust-proxy", "127.0.0.1/32"];
    let mut a = Instance::start(&redis.url(), &proxy);
    let mut b = Instance::start(&redis.url(), &proxy);
    let dir = tempfile::tempdir().unwrap();
    let hostport = |i: &Instance| i.base.trim_start_matches("http://").to_string();
    let (_nginx, front) = start_nginx(&nginx, dir.path(), &[hostport(&a), hostport(&b)]);
    let channel = format!("{front}/behind-nginx-channel");
    let target = Recorder::start().await;
    let store = tempfile::tempdir().unwrap();
    let _client = cli_support::forward(
        &channel,
        &target.url("/hook"),
        &store.path().join("s.sqlite"),
        &[],
    );
    let http = common::http();
    let sender = tokio::spawn(async move {
        let mut accepted = Vec::new();
        for seq in 0..BURST {
            let ok = http
                .post(&channel)
                .header("content-type", "application/json")
                .header("x-seq", seq.to_string())
                .body(format!(r#"{{"seq":{seq}}}"#))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                accepted.push(seq);
            }
        }
        accepted
    });
    // each instance behind nginx dies in turn (one of them carries the client's stream)
    target.wait_for(80, Duration::from_secs(60)).await;
    a.kill9();
    a.restart();
    target.wait_for(200, Duration::from_secs(60)).await;
    b.kill9();
    b.restart();
    let accepted = tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .unwrap()
        .unwrap();
    assert!(
        accepted.len() > BURST / 2,
        "only {} accepted",
        accepted.len()
    );
    let end = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got: Vec<usize> = target.received().iter().map(seq_of).collect();
        let seen: HashSet<usize> = got.iter().copied().collect();
        if accepted.iter().all(|s| seen.contains(s)) {
            break got;
        }
        assert!(
            Instant::now() < end,
            "accepted webhooks never arrived through nginx"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let unique: HashSet<usize> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a webhook arrived twice");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
    eprintln!(
        "behind nginx, both instances killed mid-burst: {} of {BURST} accepted, all delivered once in order",
        accepted.len()
    );
}
