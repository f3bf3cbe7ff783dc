//! Forwarding into real dev setups (issue 13), with the real binary and real servers on
//! loopback: https targets (a certificate made here by rcgen) with `--insecure`, with
//! `--ca-cert`, and without either (the clear error).

use crate::cli_support::{self, Proc};

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// One request as an https target saw it.
#[derive(Clone, Debug)]
struct Seen {
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, as PEM files in `dir`.
struct Certs {
    ca_pem: std::path::PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn make_certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookrelay test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    hookrelay::tls::install_provider();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    Certs {
        ca_pem,
        server: Arc::new(server),
    }
}

/// An https server on 127.0.0.1:0 that records every request and answers 200 `ok`.
struct HttpsTarget {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpsTarget {
    async fn start(tls: Arc<rustls::ServerConfig>) -> HttpsTarget {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, log) = (acceptor.clone(), log.clone());
                tokio::spawn(async move {
                    // a client that refuses the certificate ends the handshake: nothing to serve
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let path_and_query = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(n, v)| {
                                    (
                                        n.as_str().to_string(),
                                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                    )
                                })
                                .collect();
                            let body = req.into_body().collect().await?.to_bytes();
                            log.lock().unwrap().push(Seen {
                                path_and_query,
                                headers,
                                body,
                            });
                            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(
                                "ok",
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        HttpsTarget { addr, seen, task }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Seen> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.seen();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < end,
                "the https target got {} of {n} requests in {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for HttpsTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `hookrelay forward -t TARGET --json --store STORE EXTRA...` with the embedded relay; returns
/// the process and the channel URL from its session line.
pub(crate) fn forward_embedded(target: &str, store: &Path, extra: &[&str]) -> (Proc, String) {
    let store = store.to_str().unwrap();
    let mut args = vec!["forward", "-t", target, "--json", "--store", store];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(&args);
    let line = p.wait_line(r#""type":"session""#, Duration::from_secs(15));
    let session: serde_json::Value = serde_json::from_str(&line).unwrap();
    let channel = session["channel"].as_str().unwrap().to_string();
    (p, channel)
}

/// POST `body` to the channel (as a sender would) and return nothing; the relay answers 2xx.
async fn send(channel: &str, headers: &[(&str, &str)], body: &'static [u8]) {
    let mut req = crate::common::http().post(channel).body(body);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
}

const BODY: &[u8] = b"{\"action\" :  \"opened\",\n \"n\":1.50, \"s\":\"\xc3\xbc\\u00fc\"}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_with_insecure_with_ca_cert_and_without_either() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let target = HttpsTarget::start(certs.server.clone()).await;
    let url = target.url("/hook");
    let ca = certs.ca_pem.to_str().unwrap().to_string();
    let json = [("content-type", "application/json")];

    // --insecure: the self-signed development case
    let store = dir.path().join("insecure.sqlite");
    let (mut p, channel) = forward_embedded(&url, &store, &["--insecure"]);
    send(&format!("{channel}/sub?a=1&a=2"), &json, BODY).await;
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].body.as_ref(), BODY, "byte-identical body");
    assert_eq!(got[0].path_and_query, "/hook/sub?a=1&a=2");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    p.wait_line(r#""status":200"#, Duration::from_secs(15));
    drop(p);

    // --ca-cert: the private-CA case (mkcert and the like)
    let store = dir.path().join("ca.sqlite");
    let (mut p, channel) = forward_embedded(&url, &store, &["--ca-cert", &ca]);
    send(&channel, &json, BODY).await;
    let got = target.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got[1].body.as_ref(), BODY, "byte-identical body");
    p.wait_line(r#""status":200"#, Duration::from_secs(15));
    drop(p);

    // neither: failed at once (not retried), with the problem and the flags that fix it
    let store = dir.path().join("plain.sqlite");
    let (mut p, channel) = forward_embedded(&url, &store, &["--retry-for", "10m"]);
    send(&channel, &json, BODY).await;
    let line = p.wait_line(r#""state":"failed""#, Duration::from_secs(15));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    for needle in [
        "certificate",
        "not signed by a trusted CA",
        "--ca-cert",
        "--insecure",
    ] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
    drop(p);
    assert_eq!(target.seen().len(), 2, "nothing reached the target");

    // replay uses the same flags: refused without, delivered with --ca-cert
    let s = store.to_str().unwrap();
    let out = cli_support::run(&["replay", &id, "--store", s]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("--ca-cert"), "{out:#?}");
    let out = cli_support::run(&["replay", &id, "--store", s, "--ca-cert", &ca]).expect_ok();
    assert!(out.stdout.contains("-> 200"), "{out:#?}");
    let got = target.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(got[2].body.as_ref(), BODY, "byte-identical body");
    assert!(got[2].header("x-hookrelay-replay-of").is_some());

    // an https:// URL on a plain HTTP server: the error says what to check
    let plain = crate::common::Recorder::start().await;
    let wrong = format!("https://{}/hook", plain.addr);
    let out = cli_support::run(&["replay", &id, "--store", s, "--target", &wrong]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("does it speak https"), "{out:#?}");

    // a --ca-cert file that holds no certificate is an error at start
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let out = cli_support::run(&[
        "forward",
        "-t",
        &url,
        "--no-store",
        "--ca-cert",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("no PEM certificate"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_flags_add_replace_host_and_drop_and_show_and_har_record_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let target = crate::common::Recorder::start().await;
    let store = dir.path().join("h.sqlite");
    let (mut p, channel) = forward_embedded(
        &target.url("/hook"),
        &store,
        &[
            "-H",
            "Host: api.local",
            "--header",
            "X-Env: dev",
            "--drop-header",
            "x-drop",
        ],
    );
    send(
        &channel,
        &[("X-Drop", "secret-ish"), ("X-Env", "prod"), ("X-Keep", "1")],
        BODY,
    )
    .await;
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].header("host"), Some("api.local"));
    assert_eq!(got[0].header("x-env"), Some("dev"), "replaced");
    assert_eq!(got[0].header("x-keep"), Some("1"));
    assert_eq!(got[0].header("x-drop"), None, "dropped");
    assert_eq!(got[0].body.as_ref(), BODY);
    let line = p.wait_line(r#""type":"attempt""#, Duration::from_secs(15));
    let id = serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(p);

    // show and HAR: the request as sent, not as received
    let s = store.to_str().unwrap();
    let shown = cli_support::run(&["show", &id, "--store", s]).expect_ok();
    assert!(
        shown.stdout.contains("sent with these headers"),
        "{shown:#?}"
    );
    assert!(shown.stdout.contains("Host: api.local"), "{shown:#?}");
    let har = cli_support::run(&["export", &id, "--har", "--store", s]).expect_ok();
    let har: serde_json::Value = serde_json::from_str(&har.stdout).unwrap();
    let headers = &har["log"]["entries"][0]["request"]["headers"];
    let has = |n: &str, v: &str| {
        headers
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(n) && h["value"] == v)
    };
    assert!(has("host", "api.local") && has("x-env", "dev"), "{headers}");
    assert!(!has("x-drop", "secret-ish"), "{headers}");

    // replay takes the same flags
    cli_support::run(&["replay", &id, "--store", s, "-H", "X-Env: replayed"]).expect_ok();
    let got = target.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].header("x-env"), Some("replayed"));
    assert_eq!(
        got[1].header("x-drop"),
        Some("secret-ish"),
        "no --drop-header this time"
    );

    // an unusable -H is an error before anything starts
    let out = cli_support::run(&["forward", "--no-store", "-H", "NoColonHere"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("expected 'Name: value'"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_send_sub_paths_to_their_targets_longest_prefix_first() {
    use crate::common::Recorder;
    let dir = tempfile::tempdir().unwrap();
    let (default, github, app) = (
        Recorder::start().await,
        Recorder::start().await,
        Recorder::start().await,
    );
    let store = dir.path().join("r.sqlite");
    let gh = format!("/github={}", github.url("/gh"));
    // lenient like a target: HOST:PORT/PATH means http://
    let gh_app = format!("/github/app={}/app", app.addr);
    let (_p, channel) = forward_embedded(
        &default.url("/t"),
        &store,
        &["--route", &gh, "--route", &gh_app],
    );
    let plain = [("content-type", "application/json")];
    send(&format!("{channel}/github/x?a=1&a=2"), &plain, BODY).await;
    send(&format!("{channel}/github/app/y?b=1"), &plain, BODY).await;
    send(&format!("{channel}/stripe?c=1"), &plain, BODY).await;
    send(&format!("{channel}/githubx"), &plain, BODY).await;

    let got = github.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].path, "/gh/x");
    assert_eq!(got[0].query.as_deref(), Some("a=1&a=2"));
    assert_eq!(got[0].body.as_ref(), BODY);
    let got = app.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].path, "/app/y");
    assert_eq!(got[0].query.as_deref(), Some("b=1"));
    let got = default.wait_for(2, Duration::from_secs(20)).await;
    let paths: Vec<_> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/t/stripe", "/t/githubx"]);
    assert_eq!(got[0].query.as_deref(), Some("c=1"));
    assert_eq!(github.received().len(), 1);

    let out = cli_support::run(&["forward", "--no-store", "--route", "github=localhost:1"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("must start with `/`"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_and_skip_store_filtered_deliveries_as_skipped_and_list_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = crate::common::Recorder::start().await;
    let store = dir.path().join("f.sqlite");
    let (mut p, channel) = forward_embedded(
        &target.url("/hook"),
        &store,
        &[
            "--only",
            "push,ping",
            "--only",
            "invoice.*",
            "--skip",
            "ping",
        ],
    );
    let event = |e: &'static str| [("X-GitHub-Event", e), ("content-type", "application/json")];
    send(&channel, &event("issues"), BODY).await; // not in --only
    send(&channel, &event("ping"), BODY).await; // --skip
    send(&channel, &event("push"), BODY).await;
    send(
        &channel,
        &[("content-type", "application/json")],
        br#"{"type":"invoice.paid"}"#,
    )
    .await;
    let got = target.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got[0].header("x-github-event"), Some("push"));
    assert_eq!(got[1].body.as_ref(), br#"{"type":"invoice.paid"}"#);
    // each skipped one is said in the log, with its reason
    let first = p.wait_line(r#""state":"skipped""#, Duration::from_secs(10));
    assert!(
        first.contains("--only push,ping,invoice.*") && first.contains("`issues`"),
        "{first}"
    );
    let second = p.wait_line(r#""state":"skipped""#, Duration::from_secs(10));
    assert!(second.contains("--skip ping"), "{second}");
    p.wait_line(r#""status":200"#, Duration::from_secs(10));
    drop(p);
    assert_eq!(
        target.received().len(),
        2,
        "nothing else reached the target"
    );

    // and in the history, never silently gone
    let s = store.to_str().unwrap();
    let out =
        cli_support::run(&["list", "--status", "skipped", "--json", "--store", s]).expect_ok();
    let rows = out.json_lines();
    let mut events: Vec<_> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["issues", "ping"], "{out:#?}");
    assert!(
        rows.iter()
            .all(|r| r["state"] == "skipped" && r["attempts"] == 0)
    );
    let out = cli_support::run(&["list", "--store", s]).expect_ok();
    assert_eq!(out.stdout.matches("skipped").count(), 2, "{out:#?}");
}

#[test]
fn the_ui_lists_a_skipped_delivery_as_skip() {
    use crate::tui_common::{Harness, delivery, req};
    let mut skipped = delivery("skip000001", 1, req("POST", "/gh", &[], b"{}"));
    skipped.state = hookrelay::delivery::DeliveryState::Skipped;
    skipped.state_reason = Some("--only push: its event is `ping`".into());
    let waiting = delivery("wait000001", 2, req("POST", "/gh", &[], b"{}"));
    let h = Harness::with(vec![skipped, waiting]);
    let screen = hookrelay::tui::render_to_string(&h.app, 100, 30);
    // oldest first: the skipped one, then the one still waiting
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("POST   /gh"))
        .collect();
    assert_eq!(rows.len(), 2, "{screen}");
    assert!(rows[0].trim_end().ends_with("skip"), "{screen}");
    assert!(rows[1].trim_end().ends_with('…'), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_channel_is_the_same_every_run_until_new_channel() {
    let dir = tempfile::tempdir().unwrap();
    let target = crate::common::Recorder::start().await;
    let store = dir.path().join("c.sqlite");
    let url = target.url("/hook");
    let (p, first) = forward_embedded(&url, &store, &[]);
    drop(p);
    let (p, second) = forward_embedded(&url, &store, &[]);
    assert_eq!(first, second, "the same project gets the same channel URL");
    // and it works: a sender configured once keeps reaching the target
    send(&second, &[("content-type", "application/json")], BODY).await;
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].body.as_ref(), BODY);
    drop(p);
    let (p, fresh) = forward_embedded(&url, &store, &["--new-channel"]);
    assert_ne!(fresh, first, "--new-channel gives a fresh one");
    drop(p);
    let (_p, after) = forward_embedded(&url, &store, &[]);
    assert_eq!(after, fresh, "and keeps it from then on");
    // without a store there is nothing to keep it in: a new one each run
    let (p, a) = {
        let mut p = Proc::spawn(&["forward", "-t", &url, "--json", "--no-store"]);
        let line = p.wait_line(r#""type":"session""#, Duration::from_secs(15));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let c = v["channel"].as_str().unwrap().to_string();
        (p, c)
    };
    drop(p);
    assert_ne!(a, after);
}
