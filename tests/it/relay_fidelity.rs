//! Every scenario smee.io was measured with (tests/fixtures/smee/sent) and every Port example,
//! relayed through our server and client to a real target: same method, path, query, headers
//! and a byte-identical body; Port signatures still verify at the target.

use crate::{cli_support, common};

use std::time::Duration;

use bytes::Bytes;
use common::{Recorder, fixture};
use hookrelay::forward::Target;
use hookrelay::pipeline::{self, ForwardConfig, Pipeline};
use hookrelay::server::RelayServer;

const SECRET: &str = "test-secret";

struct Scenario {
    name: String,
    method: String,
    query: String,
    headers: Vec<(String, String)>,
    chunked: bool,
    body: Vec<u8>,
}

fn scenarios() -> Vec<Scenario> {
    let dir = fixture("smee/sent");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("meta.json")).unwrap()).unwrap();
        let headers = meta["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().unwrap().to_string(),
                )
            })
            .filter(|(n, _)| !n.eq_ignore_ascii_case("transfer-encoding"))
            .collect();
        out.push(Scenario {
            name: meta["name"].as_str().unwrap().to_string(),
            method: meta["method"].as_str().unwrap().to_string(),
            query: meta["query"].as_str().unwrap().to_string(),
            headers,
            chunked: meta["chunked"].as_bool().unwrap_or(false),
            body: std::fs::read(path.join("body")).unwrap(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 13, "fixtures missing: {}", out.len());
    out
}

async fn setup(target_path: &str) -> (RelayServer, Recorder, String, Pipeline) {
    let server = common::relay().await;
    let target = Recorder::start().await;
    let channel = server.new_channel();
    let cfg = ForwardConfig::new(
        channel.clone(),
        Target::parse(&target.url(target_path)).unwrap(),
    );
    let mut p = pipeline::start(cfg).await.unwrap();
    common::connected(&mut p).await;
    (server, target, channel, p)
}

fn port_signature_ok(r: &common::Received) -> bool {
    let ts = r.header("x-port-timestamp").unwrap_or("");
    hookrelay::verify::sign_port(SECRET, ts, &r.body) == r.header("x-port-signature").unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_captured_scenario_arrives_exactly_as_sent() {
    let (server, target, channel, p) = setup("/hook").await;
    let client = common::http();
    let all = scenarios();
    for s in &all {
        let mut url = format!("{channel}/sub/{}", s.name);
        if !s.query.is_empty() {
            url.push('?');
            url.push_str(&s.query);
        }
        let method = reqwest::Method::from_bytes(s.method.as_bytes()).unwrap();
        let mut req = client.request(method, &url);
        for (n, v) in &s.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        req = if s.chunked {
            let chunks: Vec<Result<Bytes, std::io::Error>> = s
                .body
                .chunks(50)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            req.body(s.body.clone())
        };
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "{}: relay answered {}",
            s.name,
            resp.status()
        );
    }
    let got = target.wait_for(all.len(), Duration::from_secs(20)).await;
    assert_eq!(got.len(), all.len(), "nothing duplicated");
    for (s, r) in all.iter().zip(&got) {
        // in order: the n-th request the target saw is the n-th scenario sent
        assert_eq!(r.path, format!("/hook/sub/{}", s.name), "order or path");
        assert_eq!(r.method, s.method, "{}", s.name);
        assert_eq!(
            r.query.as_deref().unwrap_or(""),
            s.query,
            "{}: query bytes",
            s.name
        );
        assert_eq!(r.body.as_ref(), &s.body[..], "{}: body bytes", s.name);
        // every header the sender set arrives, with its value, in the sender's order
        let arrived: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| s.headers.iter().any(|(sn, _)| sn.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        let sent: Vec<(String, String)> = s
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(arrived, sent, "{}: headers", s.name);
        // nothing invented: only what the sender's HTTP client sent, plus host and length
        for (n, _) in &r.headers {
            let known = s.headers.iter().any(|(sn, _)| sn.eq_ignore_ascii_case(n))
                || ["host", "content-length", "accept"].contains(&n.as_str());
            assert!(known, "{}: invented header {n}", s.name);
        }
        if s.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-port-signature"))
        {
            assert!(port_signature_ok(r), "{}: Port signature broke", s.name);
        }
    }
    p.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_examples_arrive_signed_and_byte_identical() {
    let (server, target, channel, p) = setup("/api/port").await;
    let client = common::http();
    let mut sent = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(fixture("port"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    for path in &names {
        // Port sends the JSON.stringify form; keep the pretty file's order and numbers
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let body = serde_json::to_vec(&v).unwrap();
        let ts = (chrono::Utc::now().timestamp()).to_string();
        let sig = hookrelay::verify::sign_port(SECRET, &ts, &body);
        client
            .post(&channel)
            .header("content-type", "application/json")
            .header("x-port-timestamp", &ts)
            .header("x-port-signature", &sig)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        sent.push(body);
    }
    // the signed body of Port's own test vector, byte for byte
    let vector = std::fs::read(fixture("port/vector-port-agent-signed-body.txt")).unwrap();
    client
        .post(&channel)
        .header("x-port-timestamp", "1713277889")
        .header(
            "x-port-signature",
            "v1,uuBMfcio3oscejO5bOtL97K1AmiZjxDvou7sChjMNeE=",
        )
        .body(vector.clone())
        .send()
        .await
        .unwrap();
    let got = target
        .wait_for(sent.len() + 1, Duration::from_secs(20))
        .await;
    for (b, r) in sent.iter().zip(&got) {
        assert_eq!(r.body.as_ref(), &b[..]);
        assert!(
            port_signature_ok(r),
            "signature broke for {}",
            String::from_utf8_lossy(b)
        );
    }
    let last = got.last().unwrap();
    assert_eq!(last.body.as_ref(), &vector[..]);
    assert_eq!(
        hookrelay::verify::sign_port("test", "1713277889", &last.body),
        "v1,uuBMfcio3oscejO5bOtL97K1AmiZjxDvou7sChjMNeE="
    );
    p.shutdown().await;
    server.shutdown().await;
}

/// The real `hookrelay serve` and `hookrelay forward`: a 25 MiB body that is not UTF-8 goes
/// through the extended shape, which the relay writes in pieces as it encodes it (the head,
/// base64 of the body piece by piece, the end), then a small event behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_25_mib_binary_body_arrives_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, base) = cli_support::serve();
    let channel = format!("{base}/big-binary");
    let target = Recorder::start().await;
    let _client = cli_support::forward(
        &channel,
        &target.url("/big"),
        &dir.path().join("inbox.sqlite"),
        &["--no-tui"],
    );
    // not UTF-8 anywhere, a length that is no multiple of 3
    let body: Vec<u8> = (0..(25usize << 20) - 1)
        .map(|i| (i * 31 % 251) as u8 | 0x80)
        .collect();
    let resp = common::http()
        .put(format!("{channel}/upload?x=1"))
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let small = common::http()
        .post(&channel)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(small.status().is_success());
    let got = target.wait_for(2, Duration::from_secs(120)).await;
    assert_eq!(got[0].method, "PUT");
    assert_eq!(got[0].path, "/big/upload");
    assert_eq!(got[0].query.as_deref(), Some("x=1"));
    assert_eq!(got[0].body.len(), body.len());
    assert!(got[0].body.as_ref() == &body[..], "25 MiB body differs");
    assert_eq!(&got[1].body[..], b"{}");
}
