//! `hookrelay send --sign` (issue 14): secrets exactly as `forward` takes them, and Port
//! deliveries signed with a millisecond timestamp, as the handler in Port's guide reads it
//! (`float(x_port_timestamp) / 1000.0`, within ±5 minutes); `--timestamp-unit s` for seconds.

use crate::cli_support;
use crate::common;

use std::time::Duration;

use cli_support::{Output, run_async};
use common::Recorder;
use hookrelay::delivery::{BodyOrigin, WebhookRequest, now_ms};
use hookrelay::verify::{Outcome, Scheme, Secrets, Verifier, sign_port};

const BODY: &str = r#"{"action":"UPDATE","resourceType":"entity","status":"SUCCESS"}"#;

async fn send(
    target: &Recorder,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, common::Received) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, BODY).unwrap();
    let before = target.received().len();
    let mut a = vec![
        "send".to_string(),
        file.to_str().unwrap().to_string(),
        "--to".into(),
        target.url("/hook"),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = run_async(a, env).await;
    assert!(out.ok(), "{out:#?}");
    let got = target.wait_for(before + 1, Duration::from_secs(10)).await;
    (out, got[before].clone())
}

/// What the handler in Port's guide does: timestamp / 1000 within 5 minutes of now, and the
/// signature over `<timestamp>.<body>` with the client secret.
fn guide_accepts(r: &common::Received, secret: &str) -> bool {
    let ts = r.header("x-port-timestamp").unwrap();
    let sig = r.header("x-port-signature").unwrap();
    let at_secs = ts.parse::<f64>().unwrap() / 1000.0;
    let now_secs = now_ms() as f64 / 1000.0;
    (now_secs - at_secs).abs() <= 300.0 && sig == sign_port(secret, ts, &r.body)
}

fn verify(r: &common::Received, secret: &str) -> hookrelay::verify::Verification {
    let mut s = Secrets::new();
    s.insert(Scheme::Port, secret.into());
    let req = WebhookRequest {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone().unwrap_or_default(),
        headers: r.headers.clone(),
        body: r.body.clone(),
    };
    Verifier::new(s).verify(&req, &BodyOrigin::Exact, now_ms())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_port_as_the_guide_expects_with_forwards_secrets() {
    let target = Recorder::start().await;

    // --secret SCHEME=SECRET: the key is `S`, not the literal `port=S`.
    let (_, r) = send(&target, &["--sign", "port", "--secret", "port=S"], &[]).await;
    assert_eq!(&r.body[..], BODY.as_bytes());
    let ts = r.header("x-port-timestamp").unwrap();
    assert_eq!(ts.len(), 13, "milliseconds: {ts}");
    assert!(guide_accepts(&r, "S"), "{r:#?}");
    assert!(!guide_accepts(&r, "port=S"));
    let v = verify(&r, "S");
    assert_eq!(v.outcome, Outcome::Valid, "{}", v.reason);
    assert!(v.reason.contains("milliseconds"), "{}", v.reason);

    // --timestamp-unit s: seconds, which hookrelay's verifier accepts too.
    let (_, r) = send(
        &target,
        &[
            "--sign",
            "port",
            "--secret",
            "port=S",
            "--timestamp-unit",
            "s",
        ],
        &[],
    )
    .await;
    let ts = r.header("x-port-timestamp").unwrap();
    assert_eq!(ts.len(), 10, "seconds: {ts}");
    assert_eq!(verify(&r, "S").outcome, Outcome::Valid);
    assert!(
        !guide_accepts(&r, "S"),
        "the guide's handler reads seconds as 1970"
    );

    // The environment and a secrets file, as `forward` takes them.
    let (_, r) = send(
        &target,
        &["--sign", "port"],
        &[("HOOKRELAY_PORT_SECRET", "E")],
    )
    .await;
    assert!(guide_accepts(&r, "E"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets");
    std::fs::write(&file, "port = F\n").unwrap();
    let (_, r) = send(
        &target,
        &["--sign", "port", "--secrets-file", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(guide_accepts(&r, "F"));

    // Another scheme through the same path.
    let (_, r) = send(&target, &["--sign", "github", "--secret", "github=G"], &[]).await;
    let mut s = Secrets::new();
    s.insert(Scheme::Github, "G".into());
    let req = WebhookRequest {
        method: r.method.clone(),
        path: r.path.clone(),
        query: String::new(),
        headers: r.headers.clone(),
        body: r.body.clone(),
    };
    let v = Verifier::new(s).verify(&req, &BodyOrigin::Exact, now_ms());
    assert_eq!(
        (v.scheme, v.outcome),
        (Some(Scheme::Github), Outcome::Valid)
    );

    // No secret for the scheme: a clear error, nothing sent.
    let out = run_async(
        vec![
            "send".into(),
            "-".into(),
            "--to".into(),
            target.url("/hook"),
            "--sign".into(),
            "port".into(),
            "--secret".into(),
            "github=G".into(),
        ],
        vec![],
    )
    .await;
    assert!(!out.ok());
    assert!(out.stderr.contains("--secret port=SECRET"), "{out:#?}");
}
