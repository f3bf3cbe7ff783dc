//! A relay that streams malformed events between good ones: each bad event gets a one-line
//! reason, the stream goes on, and the good events reach the target intact and in order.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use common::Recorder;
use hookrelay::delivery::WebhookRequest;
use hookrelay::events::AppEvent;
use hookrelay::forward::Target;
use hookrelay::pipeline::{self, ForwardConfig};
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier, VerifyMode};

fn good(seq: u32) -> String {
    let body = format!(r#"{{"seq":{seq},"text":"café"}}"#);
    let ts = "1795550910";
    let req = WebhookRequest {
        method: "PATCH".into(),
        path: "/sub".into(),
        query: format!("n={seq}"),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-port-timestamp".into(), ts.into()),
            (
                "x-port-signature".into(),
                hookrelay::verify::sign_port("s3cret", ts, body.as_bytes()),
            ),
        ],
        body: Bytes::from(body),
    };
    format!(
        "id: e-{seq}\ndata: {}\n\n",
        hookrelay::wire::encode_event(&req, 1, true)
    )
}

/// A stream: ready, good 1, five kinds of bad event, good 2; then it stays open.
fn stream_bytes() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"event: ready\ndata: {}\n\n");
    s.extend_from_slice(good(1).as_bytes());
    s.extend_from_slice(b"id: bad-1\ndata: this is not json\n\n");
    s.extend_from_slice(b"id: bad-2\ndata: {\"hookrelay\":{\"v\":1,\"method\":\"POST\",\"headers\":[]},\"bodyB\":\"%%%\"}\n\n");
    s.extend_from_slice(
        b"id: bad-3\ndata: {\"hookrelay\":{\"v\":1,\"headers\":[]},\"bodyB\":\"\"}\n\n",
    );
    s.extend_from_slice(b"id: bad-4\ndata: {\"x\": \"\xff\xfe\"}\n\n");
    s.extend_from_slice(
        format!(
            "id: bad-5\ndata: {{\"pad\":\"{}\"}}\n\n",
            "z".repeat(50_000)
        )
        .as_bytes(),
    );
    s.extend_from_slice(b"event: ping\ndata: {}\n\n");
    s.extend_from_slice(good(2).as_bytes());
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_reported_and_the_stream_goes_on() {
    let app = Router::new().route(
        "/chan",
        get(|| async {
            let first =
                futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(stream_bytes()))]);
            // then never end, like a live relay
            let rest = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
            let body = Body::from_stream(futures_util::StreamExt::chain(first, rest));
            ([("content-type", "text/event-stream")], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = format!("http://{}/chan", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let target = Recorder::start().await;

    let mut cfg = ForwardConfig::new(relay, Target::parse(&target.url("/t")).unwrap());
    cfg.max_event_bytes = 20_000;
    let mut secrets = Secrets::new();
    secrets.insert(Scheme::Port, "s3cret".into());
    let cfg = cfg.with_verifier(Verifier::new(secrets), VerifyMode::Report);
    let mut p = pipeline::start(cfg).await.unwrap();

    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while outcomes.len() < 2 || problems.len() < 5 {
        let ev = tokio::time::timeout_at(deadline, p.events.recv())
            .await
            .expect("events in time")
            .expect("pipeline alive");
        match ev {
            AppEvent::Problem(msg) => problems.push(msg),
            AppEvent::Delivery(d) => outcomes.push(d.verification.unwrap().outcome),
            _ => {}
        }
    }
    let got = target.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].body.as_ref(),
        r#"{"seq":1,"text":"café"}"#.as_bytes()
    );
    assert_eq!(
        got[1].body.as_ref(),
        r#"{"seq":2,"text":"café"}"#.as_bytes()
    );
    assert_eq!(got[0].method, "PATCH");
    assert_eq!(got[1].query.as_deref(), Some("n=2"));
    assert_eq!(outcomes.len(), 2);
    // signed with a timestamp far from now: verified, and stale
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Stale),
        "{outcomes:?}"
    );

    assert_eq!(problems.len(), 5, "{problems:#?}");
    for p in &problems {
        assert!(!p.contains('\n'), "one line: {p:?}");
    }
    assert!(
        problems[0].contains("bad-1") && problems[0].contains("not JSON"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("bad-2") && problems[1].contains("base64"),
        "{}",
        problems[1]
    );
    assert!(
        problems[2].contains("bad-3") && problems[2].contains("hookrelay"),
        "{}",
        problems[2]
    );
    assert!(
        problems[3].contains("bad-4") && problems[3].contains("UTF-8"),
        "{}",
        problems[3]
    );
    assert!(problems[4].contains("limit"), "{}", problems[4]);
    p.shutdown().await;
}
