//! Slack mirrors Port's guide: it is told about a Port event only when its signature checks out.
//! `--slack-all` tells it about every Port event, each marked with its verdict. Real binaries, a
//! fake Slack on loopback.

use crate::cli_support;
use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use cli_support::{forward, serve};

const SECRET: &str = "port-s3cret";

#[derive(Clone, Default)]
struct FakeSlack {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn fake_slack() -> (FakeSlack, String) {
    let fake = FakeSlack::default();
    let app = Router::new()
        .route(
            "/services/T0/B0/hook",
            post(|State(f): State<FakeSlack>, body: Bytes| async move {
                f.bodies
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "ok"
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T0/B0/hook",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, url)
}

/// The `n`-th validly signed Port sample, signed with `secret`.
fn port_event(n: usize, secret: &str) -> (Vec<(String, String)>, Vec<u8>) {
    hookrelay::demo::sample_events()
        .into_iter()
        .filter(|e| matches!(e.signing, hookrelay::demo::Signing::Valid))
        .nth(n)
        .expect("validly signed samples")
        .signed(secret)
}

/// The Slack message a Port body makes (without a verdict).
fn message_for(body: &[u8]) -> serde_json::Value {
    hookrelay::slack::build_message(&hookrelay::port::parse_bytes(body).unwrap())
}

async fn post_event(channel: &str, (headers, body): (Vec<(String, String)>, Vec<u8>), tag: &str) {
    let mut req = common::http()
        .post(channel)
        .header("x-test", tag)
        .body(body);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    assert!(req.send().await.unwrap().status().is_success());
}

/// Post a forged then a valid Port event; return what Slack got once both were forwarded and
/// every Slack answer is in.
async fn run(
    extra: &[&str],
    expected_posts: usize,
) -> (Vec<serde_json::Value>, serde_json::Value, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, base) = serve();
    let channel = format!("{base}/slack-gate");
    let target = common::Recorder::start().await;
    let (slack, slack_url) = fake_slack().await;
    let secret = format!("port={SECRET}");
    let mut args = vec![
        "--slack-webhook",
        slack_url.as_str(),
        "--secret",
        secret.as_str(),
    ];
    args.extend_from_slice(extra);
    let mut client = forward(
        &channel,
        &target.url("/"),
        &dir.path().join("s.sqlite"),
        &args,
    );
    // the forged one first: had it been posted, it would be Slack's first message
    let forged = port_event(0, "not-the-secret");
    let valid = port_event(1, SECRET);
    let (forged_msg, valid_msg) = (message_for(&forged.1), message_for(&valid.1));
    assert_ne!(forged_msg, valid_msg);
    post_event(&channel, forged, "forged").await;
    post_event(&channel, valid, "valid").await;
    target.wait_for(2, Duration::from_secs(20)).await;
    // every Slack answer the client reports
    for _ in 0..expected_posts {
        client.wait_line("\"type\":\"slack\"", Duration::from_secs(20));
    }
    client.kill9();
    let got = slack.bodies.lock().unwrap().clone();
    (got, forged_msg, valid_msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_port_event_posts_nothing_and_a_valid_one_posts_once() {
    let (got, _, valid) = run(&[], 1).await;
    assert_eq!(got.len(), 1, "exactly one post: {got:#?}");
    assert_eq!(got[0], valid, "the valid one, unmarked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_all_posts_every_port_event_with_its_verdict() {
    let (got, forged_msg, valid_msg) = run(&["--slack-all"], 2).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let forged = got[0].to_string();
    let valid = got[1].to_string();
    assert!(
        forged.contains("signature: NOT VALID (invalid)"),
        "{forged}"
    );
    assert!(valid.contains("signature: valid"), "{valid}");
    // the message is the event's, with the verdict added
    assert_eq!(got[0]["blocks"][0], forged_msg["blocks"][0]);
    assert_eq!(got[1]["blocks"][0], valid_msg["blocks"][0]);
    assert_eq!(
        got[1]["blocks"].as_array().unwrap().len(),
        valid_msg["blocks"].as_array().unwrap().len() + 1
    );
}
