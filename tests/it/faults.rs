//! Faults, with the real binary as client and server: the client started before the server,
//! the server killed (-9) and restarted mid-stream, the relay answering 503 for a while, the
//! target down for a while. In each, every event reaches the target exactly once, in order.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use cli_support::{Proc, free_port, serve};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_started_before_the_server() {
    let port = free_port();
    let channel = format!("http://127.0.0.1:{port}/early-bird-channel");
    let target = Recorder::start().await;
    let mut client = forward(&channel, &target.url("/hook"));
    let first = client.wait_line("connection lost", Duration::from_secs(10));
    assert!(
        first.contains("cannot connect") || first.contains("refused"),
        "{first}"
    );
    std::thread::sleep(Duration::from_millis(800));
    let _server = serve(port);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..20 {
        post(&channel, i).await;
    }
    let got = target.wait_for(20, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&target.received(), 20);
    assert_eq!(got.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_mid_stream() {
    let port = free_port();
    let channel = format!("http://127.0.0.1:{port}/restart-channel");
    let target = Recorder::start().await;
    let mut server = serve(port);
    let mut client = forward(&channel, &target.url("/hook"));
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..10 {
        post(&channel, i).await;
    }
    target.wait_for(10, Duration::from_secs(20)).await;
    server.kill9();
    client.wait_line("connection lost", Duration::from_secs(10));
    let _server = serve(port);
    // posted at once, before the client is back: the new relay must hand them over on resume
    for i in 10..20 {
        post(&channel, i).await;
    }
    target.wait_for(20, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&target.received(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_answering_503_for_a_while() {
    let port = free_port();
    let channel = format!("http://127.0.0.1:{port}/busy-channel");
    let target = Recorder::start().await;
    // a stub that answers every request with 503, like a relay behind a restarting proxy
    let stub = Recorder::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await;
    stub.script(&[503; 1000]);
    let mut client = forward(&channel, &target.url("/hook"));
    let lost = client.wait_line("connection lost", Duration::from_secs(10));
    assert!(lost.contains("503"), "{lost}");
    client.wait_line("connection lost", Duration::from_secs(10)); // still trying
    stub.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _server = serve(port);
    client.wait_line("connected to the relay", Duration::from_secs(20));
    for i in 0..10 {
        post(&channel, i).await;
    }
    target.wait_for(10, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&target.received(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_for_a_while() {
    let port = free_port();
    let channel = format!("http://127.0.0.1:{port}/patient-channel");
    let _server = serve(port);
    let target_port = free_port();
    let target_url = format!("http://127.0.0.1:{target_port}/hook");
    let mut client = forward(&channel, &target_url);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    for i in 0..5 {
        post(&channel, i).await;
    }
    // the first delivery fails (refused) and is retried; the rest wait their turn
    let refused = client.wait_line("\"error\"", Duration::from_secs(10));
    assert!(refused.contains("refused"), "{refused}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let target = Recorder::start_on(SocketAddr::from(([127, 0, 0, 1], target_port))).await;
    target.wait_for(5, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once_in_order(&target.received(), 5);
}

/// With the embedded relay the client resumes from the relay's start, so a webhook sent before
/// the subscription is up (a script POSTing the moment the URL is printed) is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_sent_before_the_embedded_subscription_are_delivered() {
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
        channel,
        hookrelay::forward::Target::parse(&other.url("/")).unwrap(),
    );
    let p = pipeline::start(cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(other.received().is_empty());
    p.shutdown().await;
    server.shutdown().await;
}
