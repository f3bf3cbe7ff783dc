//! Interop with the real Smee clients: smee-client 5.0.0 (Node) and pysmee 0.1.1 (Python)
//! subscribe to our relay and deliver a webhook to a recording target.
//!
//! Install them with `scripts/install-peers.sh` (into tests/peers/, gitignored), or point
//! `HOOKRELAY_SMEE_CLIENT` (smee.js or an executable) and `HOOKRELAY_PYSMEE` at them.
//! Each missing peer is skipped with a visible `SKIP:` line.

use crate::cli_support::HeldPort;
use crate::server_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use http_body_util::BodyExt;
use server_support::*;
use tokio::process::{Child, Command};

/// One request the target received.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// A local webhook target that records every request and answers 200.
async fn recording_target() -> (String, Log) {
    async fn record(State(log): State<Log>, req: Request) -> &'static str {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        log.lock().unwrap().push(Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body,
        });
        "ok"
    }
    let log: Log = Arc::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

/// A peer process; killed when dropped (also when the test fails), printing its output then.
struct PeerGuard {
    name: &'static str,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PeerGuard {
    fn spawn(name: &'static str, program: &Path, args: &[String]) -> PeerGuard {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("output.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let (program, args) = if program.extension().is_some_and(|e| e == "js") {
            let mut all = vec![program.display().to_string()];
            all.extend_from_slice(args);
            (PathBuf::from("node"), all)
        } else {
            (program.to_path_buf(), args.to_vec())
        };
        let child = Command::new(&program)
            .args(&args)
            // Loopback must not go through a proxy (smee-client honours HTTP(S)_PROXY).
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({}): {e}", program.display()));
        PeerGuard {
            name,
            child,
            log,
            _dir: dir,
        }
    }
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let out = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- {} output ---\n{out}--- end ---", self.name);
        }
    }
}

const SMEE_CLIENT: &str = "smee-client (run scripts/install-peers.sh or set HOOKRELAY_SMEE_CLIENT)";
const PYSMEE: &str = "pysmee (run scripts/install-peers.sh or set HOOKRELAY_PYSMEE)";

fn peer_path(env: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default));
    p.exists().then_some(p)
}

fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wait until `n` subscribers are connected to `relay` (its `/metrics`), then post a probe
/// and wait until `pred` holds for the target's log.
async fn until_delivered(
    c: &reqwest::Client,
    relay: &str,
    n: usize,
    chan: &str,
    log: &Log,
    pred: impl Fn(&[Recorded]) -> bool,
) {
    crate::common::wait_metric(c, relay, "hookrelay_subscribers", WAIT, |got| {
        got >= n as u64
    })
    .await;
    post_json(c, chan, r#"{"probe":1}"#).await;
    until_delivered_quietly(log, pred).await;
}

#[tokio::test]
async fn smee_client_and_pysmee_deliver_through_our_relay() {
    let smee = smee_client_path();
    let pysmee = peer_path("HOOKRELAY_PYSMEE", "tests/peers/venv/bin/pysmee");
    crate::common::tool_present(smee.is_some(), SMEE_CLIENT);
    crate::common::tool_present(pysmee.is_some(), PYSMEE);
    let mut peers: Vec<&'static str> = Vec::new();
    if smee.is_some() {
        peers.push("/smee-client");
    }
    if pysmee.is_some() {
        peers.push("/pysmee");
    }
    if peers.is_empty() {
        return;
    }

    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let (target, log) = recording_target().await;
    let c = client();
    let mut guards = Vec::new();
    if let Some(p) = &smee {
        let args = [
            "-u".to_string(),
            chan.clone(),
            "-t".into(),
            format!("{target}/smee-client"),
        ];
        guards.push(PeerGuard::spawn("smee-client", p, &args));
    }
    if let Some(p) = &pysmee {
        let args = [
            "forward".to_string(),
            chan.clone(),
            format!("{target}/pysmee"),
        ];
        guards.push(PeerGuard::spawn("pysmee", p, &args));
    }

    until_delivered(&c, &server.base_url(), peers.len(), &chan, &log, |recs| {
        peers.iter().all(|p| recs.iter().any(|r| r.path == *p))
    })
    .await;

    let body = r#"{"action":"opened","number":42,"pull_request":{"title":"Fix it","labels":["a","b"],"draft":false,"merged_at":null}}"#;
    let resp = c
        .post(format!("{chan}?source=test"))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let is_event = |r: &Recorded| {
        r.headers
            .iter()
            .any(|(n, v)| n == "x-github-event" && v == "pull_request")
    };
    until_delivered_quietly(&log, |recs| {
        peers
            .iter()
            .all(|p| recs.iter().any(|r| r.path == *p && is_event(r)))
    })
    .await;

    let want: serde_json::Value = serde_json::from_str(body).unwrap();
    let recs = log.lock().unwrap().clone();
    for p in &peers {
        let got: Vec<&Recorded> = recs
            .iter()
            .filter(|r| r.path == *p && is_event(r))
            .collect();
        assert_eq!(got.len(), 1, "{p}: delivered exactly once");
        let r = got[0];
        assert_eq!(r.method, "POST", "{p}");
        let body: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{p}: body is not JSON ({e}): {:?}", r.body));
        assert_eq!(body, want, "{p}: JSON-equal body");
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("x-github-delivery"),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            "{p}"
        );
        assert_eq!(header("content-type"), Some("application/json"), "{p}");
        // Our extra keys stay out of plain subscribers' events, so they never become headers.
        assert_eq!(header("bodyb"), None, "{p}");
        assert_eq!(header("hookrelay"), None, "{p}");
        if *p == "/smee-client" {
            assert_eq!(r.query, "source=test", "smee-client forwards the query");
        }
    }
    drop(guards);
    server.shutdown().await;
}

/// Wait (bounded) until `pred` holds for the target's log.
async fn until_delivered_quietly(log: &Log, pred: impl Fn(&[Recorded]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !pred(&log.lock().unwrap()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "event not delivered in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// smee-client's script (or `HOOKRELAY_SMEE_CLIENT`), when installed and node runs.
pub(crate) fn smee_client_path() -> Option<PathBuf> {
    peer_path(
        "HOOKRELAY_SMEE_CLIENT",
        "tests/peers/node/node_modules/smee-client/bin/smee.js",
    )
    .filter(|p| p.extension().is_none_or(|e| e != "js") || node_available())
}

/// Restart the relay on the same port while a peer is subscribed; post one event before the
/// peer is back and one after. Returns the target's log.
async fn restart_scenario(
    name: &'static str,
    program: &Path,
    args: impl Fn(&str, &str) -> Vec<String>,
) -> Vec<Recorded> {
    let port = HeldPort::new();
    let first = start_on(&port, |_| {}).await;
    let chan = first.new_channel();
    let (target, log) = recording_target().await;
    let c = client();
    let _guard = PeerGuard::spawn(name, program, &args(&chan, &target));
    until_delivered(&c, &first.base_url(), 1, &chan, &log, |recs| {
        !recs.is_empty()
    })
    .await;

    first.shutdown().await;
    let second = start_on(&port, |_| {}).await;
    // Posted before the peer is back (smee-client retries every 3 s): kept in the new ring.
    post_json(&c, &chan, r#"{"while_away":true}"#).await;
    until_delivered_quietly(&log, |recs| recs.iter().any(|r| body_has(r, "while_away"))).await;
    post_json(&c, &chan, r#"{"after":true}"#).await;
    until_delivered_quietly(&log, |recs| recs.iter().any(|r| body_has(r, "after"))).await;
    second.shutdown().await;
    log.lock().unwrap().clone()
}

fn body_has(r: &Recorded, key: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(&r.body).is_ok_and(|v| v.get(key).is_some())
}

/// smee-client resends `Last-Event-ID` when it reconnects: after a relay restart it gets the
/// restart gap (a named event it ignores) and then the events posted while it was away.
#[tokio::test]
async fn smee_client_gets_events_posted_while_it_reconnects_after_a_restart() {
    let smee = smee_client_path();
    if !crate::common::tool_present(smee.is_some(), SMEE_CLIENT) {
        return;
    }
    let smee = smee.unwrap();
    let recs = restart_scenario("smee-client", &smee, |chan, target| {
        vec![
            "-u".into(),
            chan.into(),
            "-t".into(),
            format!("{target}/smee-client"),
        ]
    })
    .await;
    assert_eq!(recs.iter().filter(|r| body_has(r, "while_away")).count(), 1);
    assert_eq!(recs.iter().filter(|r| body_has(r, "after")).count(), 1);
    assert!(
        !recs.iter().any(|r| body_has(r, "reason")),
        "the gap event is not delivered"
    );
}

/// pysmee (sseclient) also resends `Last-Event-ID`, so it too gets what was posted meanwhile.
#[tokio::test]
async fn pysmee_gets_events_posted_while_it_reconnects_after_a_restart() {
    let pysmee = peer_path("HOOKRELAY_PYSMEE", "tests/peers/venv/bin/pysmee");
    if !crate::common::tool_present(pysmee.is_some(), PYSMEE) {
        return;
    }
    let pysmee = pysmee.unwrap();
    let recs = restart_scenario("pysmee", &pysmee, |chan, target| {
        vec!["forward".into(), chan.into(), format!("{target}/pysmee")]
    })
    .await;
    assert_eq!(recs.iter().filter(|r| body_has(r, "while_away")).count(), 1);
    assert_eq!(recs.iter().filter(|r| body_has(r, "after")).count(), 1);
    assert!(
        !recs.iter().any(|r| body_has(r, "reason")),
        "the gap event is not delivered"
    );
}
