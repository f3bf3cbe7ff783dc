//! Deploying the relay: the README's nginx recipe in front of a real `hookrelay serve`, with
//! `hookrelay forward` (and the real smee-client when installed) delivering through it; and
//! `forward --token` against a relay that requires subscriber tokens.
//!
//! nginx is Debian's (`.ci/run` installs `nginx-light`); it runs as the current user with
//! every path in a tempdir, on a listening socket this test binds (port 0) and hands over
//! through nginx's own `NGINX` inherited-socket variable. Missing nginx or smee-client skips
//! with `SKIP:` locally and fails under `CI=true`.

use crate::serve_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::nginx_support::{Proc, RECIPE, missing, nginx_path, start_nginx};
use crate::server_peers::smee_client_path;

use serve_support::*;

use crate::common;

async fn wait_subscribers(relay: &Serve, n: usize) {
    let c = client_from(HONEST);
    let within = Duration::from_secs(30);
    common::wait_metric(&c, &relay.url, "hookrelay_subscribers", within, |got| {
        got >= n as u64
    })
    .await;
}

#[test]
fn the_readme_shows_the_tested_recipe() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(RECIPE),
        "README's nginx location block differs from the test's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_and_smee_client_deliver_through_nginx() {
    let Some(nginx) = nginx_path() else {
        return missing("nginx not installed (apt-get install nginx-light)").unwrap_or(());
    };
    let smee = smee_client_path();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let relay = Serve::start(&["--trust-proxy", "127.0.0.1/32"]);
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, front) = start_nginx(&nginx, dir.path(), &[relay.addr.to_string()]);
    let c = client_from(HONEST);
    // through nginx: /new redirects to the proxy's own host
    let r = c.get(format!("{front}/new")).send().await;
    let errlog = std::fs::read_to_string(dir.path().join("logs/error.log")).unwrap_or_default();
    let r = r.unwrap_or_else(|e| panic!("{e:?}: nginx log:\n{errlog}"));
    assert_eq!(r.status(), 307, "{errlog}");
    let chan = r.headers()["location"].to_str().unwrap().to_string();
    assert!(chan.starts_with(&front), "{chan}");

    let target = common::Recorder::start().await;
    let _forward = Proc::spawn(
        "hookrelay forward",
        Command::new(BIN).args([
            "forward",
            &chan,
            &target.url("/hook"),
            "--json",
            "--no-store",
        ]),
        dir.path().join("forward.out"),
    );
    let mut expected = 1;
    let smee_target = common::Recorder::start().await;
    let _smee = match (&smee, node_ok) {
        (Some(js), true) => {
            expected = 2;
            Some(Proc::spawn(
                "smee-client",
                Command::new("node")
                    .arg(js)
                    .args(["-u", &chan, "-t", &smee_target.url("/smee")]),
                dir.path().join("smee.out"),
            ))
        }
        _ => {
            missing("smee-client not installed (scripts/install-peers.sh)");
            None
        }
    };
    wait_subscribers(&relay, expected).await;

    let body = r#"{"through":"nginx","n":1.50}"#;
    let r = c
        .post(format!("{chan}/hooks?x=1"))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        &got[0].body[..],
        body.as_bytes(),
        "byte-exact through nginx"
    );
    assert_eq!(got[0].path, "/hook/hooks");
    assert_eq!(got[0].header("x-github-event"), Some("push"));
    if expected == 2 {
        let got = smee_target.wait_for(1, Duration::from_secs(20)).await;
        let v: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(v["through"], "nginx");
    }
    // the relay logged the client address nginx forwarded
    let log = relay.log();
    assert!(log.contains("client=127.0.0.1"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_token_subscribes_to_a_relay_that_requires_one() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# developers\ns3cret-one\ns3cret-two\n").unwrap();
    let relay = Serve::start(&["--subscriber-tokens", tokens.to_str().unwrap()]);
    let chan = relay.channel();
    let target = common::Recorder::start().await;
    // without a token: refused (forward keeps retrying; no subscriber appears)
    let r = client_from(HONEST)
        .get(&chan)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // with HOOKRELAY_TOKEN
    let _forward = Proc::spawn(
        "hookrelay forward",
        Command::new(BIN)
            .args([
                "forward",
                &chan,
                &target.url("/hook"),
                "--json",
                "--no-store",
            ])
            .env("HOOKRELAY_TOKEN", "s3cret-two"),
        dir.path().join("forward.out"),
    );
    wait_subscribers(&relay, 1).await;
    let c = client_from(HONEST);
    let r = c.post(&chan).body(r#"{"auth":"ok"}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got = target.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(&got[0].body[..], br#"{"auth":"ok"}"#);
    let out = std::fs::read_to_string(dir.path().join("forward.out")).unwrap();
    assert!(!out.contains("s3cret"), "the token is never printed: {out}");
    assert!(!relay.log().contains("s3cret"), "nor logged by the relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_tls_with_a_certificate_and_key() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return missing("openssl (to make a test certificate)").unwrap_or(());
    }
    let relay = Serve::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(relay.url.starts_with("https://"), "{}", relay.url);
    hookrelay::tls::install_provider();
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let c = reqwest::Client::builder()
        .add_root_certificate(root)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let chan = relay.channel();
    let sub = c
        .get(&chan)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 200);
    let mut stream = sub.bytes_stream();
    let r = c
        .post(&chan)
        .body(r#"{"over":"tls"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut seen = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(b)) = stream.next().await {
            seen.extend_from_slice(&b);
            if seen.windows(3).any(|w| w == b"tls") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "event over TLS");
    // plain HTTP on the TLS port is not served
    let plain = reqwest::Client::new()
        .get(chan.replace("https://", "http://"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

/// `serve --listen-fd` refuses a descriptor that is not open, or not a TCP socket, and says so.
#[test]
fn listen_fd_refuses_what_is_not_an_inherited_socket() {
    let out = crate::cli_support::run(&["serve", "--listen-fd", "77"]);
    assert!(!out.ok(), "{out:#?}");
    assert!(out.stderr.contains("77 is not open"), "{out:#?}");
    let out = crate::cli_support::run(&["serve", "--listen-fd", "1"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("above 2"), "{out:#?}");
}
