//! Faults, with the real binary as client and server: the client started before the server,
//! the server killed (-9) and restarted mid-stream, the relay answering 503 for a while, the
//! target down for a while. In each, every event reaches the target exactly once, in order.

use crate::common;

use std::time::Duration;

use cli_support::{HeldPort, Proc, serve, serve_on};
use common::Recorder;

use crate::cli_support;

fn forward(channel: &str, target: &str) -> Proc {
    Proc::spawn(&[
        "forward",
        channel,
        target,
        "--json",
        "--keepalive",
        "2s",
        "--no-store",
    ])
}

async fn post(channel: &str, seq: usize) {
    let body = format!(r#"{{"seq":{seq}}}"#);
    let r = common::http()
        .post(channel)
        .header("content-type", "application/json")
        .header("x-seq", seq.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "relay answered {}", r.status());
}

/// Every seq in `0..n` exactly once, in order.
fn assert_exactly_once_in_order(got: &[common::Received], n: usize) {
    let seqs: Vec<usize> = got
        .iter()
        .map(|r| r.header("x-seq").unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
}

/// Once `0..n` arrived: post seq `n` as a sentinel and wait for it. Deliveries go out in order,
/// so a late duplicate of an earlier event would arrive before the sentinel; then every seq in
/// `0..=n` arrived exactly once, in order.
async fn settle_and_check(channel: &str, target: &Recorder, n: usize) {
    target.wait_for(n, Duration::from_secs(30)).await;
    post(channel, n).await;
    target.wait_for(n + 1, Duration::from_secs(20)).await;
    assert_exactly_once_in_order(&target.received(), n + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_started_before_the_server() {
    // held, not listening: the client's first connections are refused
    let port = HeldPort::new();
    let channel = format!("{}/early-bird-channel", port.base_url());
    let target = Recorder::start().await;
    let mut client = forward(&channel, &target.url("/hook"));
    let first = client.wait_line("connection lost", Duration::from_secs(10));
    assert!(
        first.contains("cannot connect") || first.contains("refused"),
        "{first}"
    );
    let _server = serve_on(&port);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..20 {
        post(&channel, i).await;
    }
    settle_and_check(&channel, &target, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_mid_stream() {
    let port = HeldPort::new();
    let channel = format!("{}/restart-channel", port.base_url());
    let target = Recorder::start().await;
    let mut server = serve_on(&port);
    let mut client = forward(&channel, &target.url("/hook"));
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..10 {
        post(&channel, i).await;
    }
    target.wait_for(10, Duration::from_secs(20)).await;
    server.kill9();
    client.wait_line("connection lost", Duration::from_secs(10));
    let _server = serve_on(&port);
    // posted at once, before the client is back: the new relay must hand them over on resume
    for i in 10..20 {
        post(&channel, i).await;
    }
    settle_and_check(&channel, &target, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_answering_503_for_a_while() {
    let port = HeldPort::new();
    let channel = format!("{}/busy-channel", port.base_url());
    let target = Recorder::start().await;
    // a stub that answers every request with 503, like a relay behind a restarting proxy
    let stub = Recorder::start_on(port.listen()).await;
    stub.script(&[503; 1000]);
    let mut client = forward(&channel, &target.url("/hook"));
    let lost = client.wait_line("connection lost", Duration::from_secs(10));
    assert!(lost.contains("503"), "{lost}");
    client.wait_line("connection lost", Duration::from_secs(10)); // still trying
    stub.stop();
    // the same socket: connections made meanwhile wait in its backlog for the relay
    let _server = serve_on(&port);
    client.wait_line("connected to the relay", Duration::from_secs(20));
    for i in 0..10 {
        post(&channel, i).await;
    }
    settle_and_check(&channel, &target, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_for_a_while() {
    let (_server, base) = serve();
    let channel = format!("{base}/patient-channel");
    // held, not listening: deliveries are refused until the target starts on it
    let target_port = HeldPort::new();
    let target_url = format!("{}/hook", target_port.base_url());
    let mut client = forward(&channel, &target_url);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..5 {
        post(&channel, i).await;
    }
    // the first delivery fails (refused) and is retried; the rest wait their turn
    let refused = client.wait_line("\"error\"", Duration::from_secs(10));
    assert!(refused.contains("refused"), "{refused}");
    // and is retried: a second refusal (the target is still down)
    client.wait_line("\"error\"", Duration::from_secs(10));
    let target = Recorder::start_on(target_port.listen()).await;
    settle_and_check(&channel, &target, 5).await;
}

/// With the embedded relay the client resumes from the relay's start, so a webhook sent before
/// the subscription is up (a script POSTing the moment the URL is printed) is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_sent_before_the_embedded_subscription_are_delivered() {
    use hookrelay::events::{AppEvent, ConnState};
    use hookrelay::pipeline::{self, ForwardConfig};
    let server = common::relay().await;
    let channel = server.new_channel();
    for i in 0..3 {
        post(&channel, i).await; // nobody subscribed yet
    }
    let target = Recorder::start().await;
    let target_url = hookrelay::forward::Target::parse(&target.url("/early")).unwrap();
    // as `forward` does on the embedded default
    let mut cfg = ForwardConfig::new(channel.clone(), target_url.clone());
    cfg.last_event_id = Some(server.start_event_id());
    let p = pipeline::start(cfg).await.unwrap();
    let got = target.wait_for(3, Duration::from_secs(10)).await;
    assert_exactly_once_in_order(&got, 3);
    p.shutdown().await;
    // a plain fresh subscriber (smee.io's semantics) would not have had them
    let other = Recorder::start().await;
    let cfg = ForwardConfig::new(
        channel.clone(),
        hookrelay::forward::Target::parse(&other.url("/")).unwrap(),
    );
    let mut p = pipeline::start(cfg).await.unwrap();
    // once it is subscribed, a sentinel posted now must arrive; the early ones must not have
    // come before it
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(end, p.events.recv())
            .await
            .expect("the second subscriber never connected")
            .expect("the pipeline stopped");
        if matches!(ev, AppEvent::Conn(ConnState::Connected)) {
            break;
        }
    }
    post(&channel, 99).await;
    let got = other.wait_for(1, Duration::from_secs(10)).await;
    let seqs: Vec<&str> = got.iter().map(|r| r.header("x-seq").unwrap()).collect();
    assert_eq!(seqs, ["99"], "a fresh subscriber got events from before it");
    p.shutdown().await;
    server.shutdown().await;
}
