//! The round trip (issue 12): a sender (a plain HTTP client, as Port is) gets the dev server's
//! real answer through the real `hookrelay serve` and `hookrelay forward --reply` processes.
//! The dev server is an HTTP server on 127.0.0.1:0 whose answers the tests choose; the
//! attacker forging replies posts from 127.0.0.2.

use crate::cli_support;
use crate::redis_support;
use crate::serve_support;
use crate::server_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use cli_support::{Proc, forward};
use serve_support::{ATTACKER, Serve, client_from};

const WAIT: Duration = Duration::from_secs(30);
/// The dev server's 201 body: bytes the sender must get exactly (spacing, key order).
const CREATED: &[u8] = b"{ \"status\" : \"SUCCESS\", \"run\": {\"id\": \"r_1\"}, \"n\": 1.50 }";

/// A dev server: `/created` 201 with a JSON body and its own headers, `/boom` 500, `/hang`
/// waits until the test releases it (then 200 `released`). It counts what it received.
#[derive(Clone, Default)]
struct Dev {
    release: Arc<Notify>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn dev(State(d): State<Dev>, uri: Uri) -> Response {
    d.seen.lock().unwrap().push(uri.path().to_string());
    match uri.path() {
        "/created" => (
            StatusCode::CREATED,
            [
                ("content-type", "application/json"),
                ("x-dev-run", "r_1"),
                ("connection", "keep-alive"),
            ],
            CREATED,
        )
            .into_response(),
        "/boom" => (StatusCode::INTERNAL_SERVER_ERROR, "boom: the db is down").into_response(),
        "/hang" => {
            d.release.notified().await;
            (StatusCode::OK, "released").into_response()
        }
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

async fn start_dev() -> (SocketAddr, Dev) {
    let d = Dev::default();
    let app = Router::new().fallback(dev).with_state(d.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, d)
}

impl Dev {
    async fn wait_seen(&self, path: &str) {
        let end = Instant::now() + WAIT;
        while !self.seen.lock().unwrap().iter().any(|p| p == path) {
            assert!(Instant::now() < end, "the dev server never got {path}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A relay and a replying forwarder on a fresh channel.
struct Setup {
    relay: Serve,
    channel: String,
    fwd: Proc,
    _store: tempfile::TempDir,
}

fn setup(dev: SocketAddr, serve_args: &[&str], fwd_args: &[&str]) -> Setup {
    let mut args = vec!["--rate", "0"];
    args.extend_from_slice(serve_args);
    let relay = Serve::start(&args);
    let channel = format!("{}/{}", relay.url, hookrelay::server::new_channel_name());
    let store = tempfile::tempdir().unwrap();
    let fwd = forward(
        &channel,
        &format!("http://{dev}/"),
        &store.path().join("s.sqlite"),
        fwd_args,
    );
    Setup {
        relay,
        channel,
        fwd,
        _store: store,
    }
}

fn sender() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_gets_the_dev_servers_answer() {
    let (dev, _d) = start_dev().await;
    let mut s = setup(dev, &[], &["--reply", "--retry-for", "1s"]);
    let http = sender();

    let r = http
        .post(format!("{}/created", s.channel))
        .header("content-type", "application/json")
        .body(r#"{"action":"create_run"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-dev-run"], "r_1");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "nothing of the relay's own is added"
    );
    assert_eq!(&r.bytes().await.unwrap()[..], CREATED, "byte for byte");

    let r = http
        .post(format!("{}/boom", s.channel))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(&r.bytes().await.unwrap()[..], b"boom: the db is down");

    // the forwarder logged what each sender got, and `show` says it
    let line = s.fwd.wait_line_where(
        |l| l.contains("\"type\":\"reply\"") && l.contains("\"sender_status\":201"),
        WAIT,
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let store = s._store.path().join("s.sqlite");
    let shown = cli_support::run(&[
        "show",
        v["id"].as_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ])
    .expect_ok();
    assert!(
        shown.stdout.contains("the sender got 201"),
        "{}",
        shown.stdout
    );
    s.fwd.wait_line_where(
        |l| l.contains("\"type\":\"reply\"") && l.contains("\"sender_status\":500"),
        WAIT,
    );
    drop(s.relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_server_too_slow_gets_the_sender_a_504_and_the_late_answer_is_kept() {
    let (dev, d) = start_dev().await;
    let mut s = setup(dev, &["--reply-timeout", "1s"], &["--reply"]);
    let r = sender()
        .post(format!("{}/hang", s.channel))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"], "reply_timeout", "{v}");
    assert!(v["message"].as_str().unwrap().contains("did not answer"));
    // the dev server answers after all: the answer is recorded as too late
    d.release.notify_one();
    let line = s.fwd.wait_line("\"type\":\"reply\"", WAIT);
    assert!(line.contains("too_late"), "{line}");
    assert!(line.contains("\"sender_status\":504"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replying_subscriber_the_sender_gets_2xx_at_once() {
    let (dev, d) = start_dev().await;
    // a subscriber that does not reply: the dev server hangs, the sender is not held
    let s = setup(dev, &[], &[]);
    let r = sender()
        .post(format!("{}/hang", s.channel))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["ok"], true);
    d.wait_seen("/hang").await;
    d.release.notify_one();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_answers_a_forged_signature_with_401_and_the_reason() {
    let (dev, d) = start_dev().await;
    let s = setup(
        dev,
        &[],
        &["--reply", "--verify", "strict", "--secret", "port=S"],
    );
    let r = sender()
        .post(format!("{}/created", s.channel))
        .header("content-type", "application/json")
        .header("x-port-timestamp", "1700000000")
        .header("x-port-signature", "v1,Zm9yZ2Vk")
        .body(r#"{"action":"create_run"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"], "signature_rejected", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("--verify strict"),
        "{v}"
    );
    assert!(
        d.seen.lock().unwrap().is_empty(),
        "held back: never forwarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_reply_is_refused_and_the_real_answer_still_wins() {
    let (dev, d) = start_dev().await;
    let s = setup(dev, &["--reply-timeout", "20s"], &["--reply"]);
    // an observer (not replying) learns the event id, as an attacker might
    let mut watch = server_support::subscribe_ready(&s.channel, &[]).await;
    let url = format!("{}/hang", s.channel);
    let held = tokio::spawn(async move { sender().post(url).body("{}").send().await });
    let ev = watch.next_non_ping().await;
    let id = ev.id.expect("event id");
    d.wait_seen("/hang").await;

    // the attacker's own replying subscription, on another channel, gets a real secret
    let other = format!("{}/{}", s.relay.url, hookrelay::server::new_channel_name());
    let mut own = server_support::Sse::connect(&other, &[("x-hookrelay-reply", "1")]).await;
    let ready = own.next().await;
    assert_eq!(ready.event.as_deref(), Some("ready"));
    let token = hookrelay::reply::token_from_ready(&ready.data).expect("a secret");

    let chan = s.channel.rsplit('/').next().unwrap();
    let forged = hookrelay::reply::ReplyOutcome::Response {
        status: 200,
        headers: vec![],
        body: bytes::Bytes::from_static(b"forged"),
    };
    let attacker = client_from(ATTACKER);
    let reply_url = format!("{}/.hookrelay/reply/{chan}/{id}", s.relay.url);
    for tok in [None, Some("x".repeat(43)), Some(token)] {
        let mut rb = attacker.post(&reply_url).body(forged.to_json());
        if let Some(t) = tok {
            rb = rb.header("x-hookrelay-reply-token", t);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 403, "a forged reply must be refused");
    }
    d.release.notify_one();
    let r = held.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], b"released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_crosses_two_redis_backed_instances() {
    let Some(redis) = redis_support::TestRedis::start("roundtrip::redis") else {
        return;
    };
    let a = redis_support::Instance::start(&redis.url(), &[]);
    let b = redis_support::Instance::start(&redis.url(), &[]);
    let (dev, _d) = start_dev().await;
    let name = hookrelay::server::new_channel_name();
    let store = tempfile::tempdir().unwrap();
    // the replying subscriber is on B, the sender posts to A
    let _fwd = forward(
        &b.url(&format!("/{name}")),
        &format!("http://{dev}/"),
        &store.path().join("s.sqlite"),
        &["--reply"],
    );
    let r = sender()
        .post(a.url(&format!("/{name}/created")))
        .body(r#"{"action":"create_run"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-dev-run"], "r_1");
    assert_eq!(&r.bytes().await.unwrap()[..], CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_senders_are_bounded_with_a_clear_503() {
    let (dev, d) = start_dev().await;
    let s = setup(
        dev,
        &["--max-held-per-channel", "1", "--reply-timeout", "20s"],
        &["--reply"],
    );
    let url = format!("{}/hang", s.channel);
    let first = tokio::spawn(async move { sender().post(url).body("{}").send().await });
    d.wait_seen("/hang").await;
    let r = sender()
        .post(format!("{}/created", s.channel))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"], "too_many_waiting", "{v}");
    d.release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_relay_holds_senders_too() {
    let (dev, _d) = start_dev().await;
    let store = tempfile::tempdir().unwrap();
    let path = store.path().join("s.sqlite");
    let mut fwd = Proc::spawn(&[
        "forward",
        "-t",
        &format!("http://{dev}/"),
        "--reply",
        "--json",
        "--store",
        path.to_str().unwrap(),
    ]);
    let session = fwd.wait_line("\"type\":\"session\"", WAIT);
    let v: serde_json::Value = serde_json::from_str(&session).unwrap();
    let channel = v["channel"].as_str().unwrap().to_string();
    fwd.wait_line("connected to the relay", WAIT);
    let r = sender()
        .post(format!("{channel}/created"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(&r.bytes().await.unwrap()[..], CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_redis_instances_a_late_answer_is_504_and_a_forged_reply_is_refused() {
    let Some(redis) = redis_support::TestRedis::start("roundtrip::redis_504_forged") else {
        return;
    };
    let a = redis_support::Instance::start(&redis.url(), &["--reply-timeout", "1s"]);
    let b = redis_support::Instance::start(&redis.url(), &["--reply-timeout", "1s"]);
    let (dev, d) = start_dev().await;
    let name = hookrelay::server::new_channel_name();
    let store = tempfile::tempdir().unwrap();
    let mut fwd = forward(
        &b.url(&format!("/{name}")),
        &format!("http://{dev}/"),
        &store.path().join("s.sqlite"),
        &["--reply"],
    );
    // an observer on A learns the event id
    let mut watch = server_support::subscribe_ready(&a.url(&format!("/{name}")), &[]).await;
    let url = a.url(&format!("/{name}/hang"));
    let held = tokio::spawn(async move { sender().post(url).body("{}").send().await });
    let id = watch.next_non_ping().await.id.expect("event id");
    d.wait_seen("/hang").await;

    // a real secret of a replier of another channel (on B) does not answer this one (on A)
    let other = b.url(&format!("/{}", hookrelay::server::new_channel_name()));
    let mut own = server_support::Sse::connect(&other, &[("x-hookrelay-reply", "1")]).await;
    let token = hookrelay::reply::token_from_ready(&own.next().await.data).expect("a secret");
    let forged = hookrelay::reply::ReplyOutcome::Failed {
        reason: "forged".into(),
    };
    let r = client_from(ATTACKER)
        .post(a.url(&format!("/.hookrelay/reply/{name}/{id}")))
        .header("x-hookrelay-reply-token", token)
        .body(forged.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = held.await.unwrap().unwrap();
    assert_eq!(r.status(), 504);
    d.release.notify_one();
    let line = fwd.wait_line("\"type\":\"reply\"", WAIT);
    assert!(line.contains("too_late"), "{line}");
}
