//! Typed forward errors decide retries: an event that cannot be built into a request fails at
//! once (with its reason) and the next one goes out; a 503 is retried, then delivered.

use crate::cli_support;
use crate::common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use common::Recorder;
use hookrelay::delivery::WebhookRequest;

fn event(id: &str, seq: u32, extra: Option<(&str, &str)>) -> String {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-seq".to_string(), seq.to_string()),
    ];
    if let Some((n, v)) = extra {
        headers.push((n.into(), v.into()));
    }
    let req = WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers,
        body: Bytes::from(format!(r#"{{"seq":{seq}}}"#)),
    };
    format!(
        "id: {id}\ndata: {}\n\n",
        hookrelay::wire::encode_event(&req, 1, true)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbuildable_event_fails_at_once_and_a_503_is_retried_then_delivered() {
    // a relay whose stream holds: an event no HTTP request can carry (a space in a header
    // name), then a good one; then it stays open
    let stream = format!(
        "event: ready\ndata: {{}}\n\n{}{}",
        event("e-1", 1, Some(("bad header", "x"))),
        event("e-2", 2, None)
    );
    let app = Router::new().route(
        "/chan",
        get(move || {
            let first =
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(stream.clone()))]);
            let rest = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
            let body = Body::from_stream(futures_util::StreamExt::chain(first, rest));
            async move { ([("content-type", "text/event-stream")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = format!("http://{}/chan", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let target = Recorder::start().await;
    target.script(&[503, 503]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    // a long --retry-for: had the bad event been retried, the good one would wait 10 minutes
    let mut client =
        cli_support::forward(&relay, &target.url("/t"), &store, &["--retry-for", "10m"]);
    let started = Instant::now();
    let got = target.wait_for(3, Duration::from_secs(30)).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        got.iter().all(|r| r.header("x-seq") == Some("2")),
        "only the good event reaches the target: {got:?}"
    );
    // the bad one: failed, with its reason, one attempt
    let failed_line = client.wait_line("\"failed\"", Duration::from_secs(10));
    assert!(
        failed_line.contains("cannot build the request"),
        "{failed_line}"
    );
    let s = store.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (failed, delivered) = loop {
        let failed = cli_support::run(&["list", "--json", "--status", "failed", "--store", s])
            .expect_ok()
            .json_lines();
        let delivered =
            cli_support::run(&["list", "--json", "--status", "delivered", "--store", s])
                .expect_ok()
                .json_lines();
        if delivered.len() == 1 || Instant::now() > deadline {
            break (failed, delivered);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["attempts"], 1, "not retried: {failed:?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot build the request"),
        "{failed:?}"
    );
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["attempts"], 3,
        "503, 503, then 200: {delivered:?}"
    );
    assert_eq!(delivered[0]["status"], 200);
    // the attempt's kind is kept
    let show = cli_support::run(&[
        "export",
        failed[0]["id"].as_str().unwrap(),
        "--json",
        "--store",
        s,
    ])
    .expect_ok();
    assert!(show.stdout.contains("cannot build"), "{}", show.stdout);
    client.kill9();
}
