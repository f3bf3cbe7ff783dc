//! Side by side, in one run: the same restart scenario against two `hookrelay serve --redis`
//! instances and two smee.io instances sharing Redis (the real smee.io server from
//! `HOOKRELAY_SMEE_SERVER`, a `run-smee-server.sh` that starts it with `REDIS_URL=…`). A sender alternates between
//! the two instances (a load balancer), `hookrelay forward` listens on the second; each
//! instance is killed with -9 mid-burst and restarted. Prints how many accepted webhooks
//! (answered 2xx) each relay lost.
//!
//! A measurement, not part of the default run (it needs node and smee.io's npm packages):
//! `HOOKRELAY_SMEE_SERVER=path/to/run-smee-server.sh cargo test --test it redis_side_by_side -- --ignored --nocapture`

use crate::cli_support;
use crate::common;
use crate::redis_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Recorder;
use redis_support::{Instance, TestRedis};

const BURST: usize = 600;
/// The script that starts the real smee.io server (`HOOKRELAY_SMEE_SERVER`); the team's kit
/// keeps one beside the peer clients.
fn smee_script() -> String {
    std::env::var("HOOKRELAY_SMEE_SERVER")
        .unwrap_or_else(|_| "../shared/anchors/servers/run-smee-server.sh".into())
}

/// One smee.io server process (node), on a port the test holds so it can come back on it.
struct Smee {
    child: Option<Child>,
    port: cli_support::HeldPort,
    redis_sock: PathBuf,
}

impl Smee {
    fn start(redis_sock: &Path) -> Smee {
        let mut s = Smee {
            child: None,
            // smee.io reads PORT=0 as its default 3000: the test binds the port and a preload
            // makes node listen on that socket, passed as descriptor 3
            port: cli_support::HeldPort::new(),
            redis_sock: redis_sock.to_path_buf(),
        };
        s.run();
        s
    }

    fn run(&mut self) {
        let mut cmd = Command::new("bash");
        cli_support::pass_as_fd3(&mut cmd, &self.port);
        let mut child = cmd
            .arg(smee_script())
            .env("PORT", self.port.port.to_string())
            .env(
                "NODE_OPTIONS",
                format!("--require {}", common::fixture("listen-fd3.cjs").display()),
            )
            // ioredis takes a socket path as its URL
            .env("REDIS_URL", &self.redis_sock)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run-smee-server.sh");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Server listening at") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120))
            .expect("smee.io started");
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.port.base_url())
    }
}

impl Drop for Smee {
    fn drop(&mut self) {
        self.kill9();
    }
}

enum Relay {
    Hookrelay(Instance),
    Smee(Smee),
}

impl Relay {
    fn url(&self, path: &str) -> String {
        match self {
            Relay::Hookrelay(i) => i.url(path),
            Relay::Smee(s) => s.url(path),
        }
    }

    fn kill9_and_restart(&mut self) {
        match self {
            Relay::Hookrelay(i) => i.restart(),
            Relay::Smee(s) => {
                s.kill9();
                s.run();
            }
        }
    }
}

/// What one post came to.
#[derive(PartialEq)]
enum Post {
    Accepted,
    /// No connection: the request never reached the relay (safe to send elsewhere).
    NotConnected,
    Failed,
}

async fn post_seq(http: &reqwest::Client, url: &str, seq: usize) -> Post {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-seq", seq.to_string())
        .body(format!(r#"{{"seq":{seq}}}"#))
        .send()
        .await;
    match r {
        Ok(r) if r.status().is_success() => Post::Accepted,
        Err(e) if e.is_connect() => Post::NotConnected,
        _ => Post::Failed,
    }
}

/// Wait until the target got `n` requests, at most 20 s (a relay may lose them all).
async fn wait_soft(target: &Recorder, n: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    while target.received().len() < n && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The restart scenario; returns (accepted, lost, duplicated).
async fn scenario(mut a: Relay, mut b: Relay) -> (usize, usize, usize) {
    let channel = "/sidebyside-channel-0123456789";
    let target = Recorder::start().await;
    let store = tempfile::tempdir().unwrap();
    // the default keep-alive (30 s, smee.io's ping interval), not the tests' short one
    let mut client = cli_support::Proc::spawn(&[
        "forward",
        &b.url(channel),
        &target.url("/hook"),
        "--json",
        "--store",
        store.path().join("s.sqlite").to_str().unwrap(),
    ]);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    let http = common::http();
    let urls = [a.url(channel), b.url(channel)];
    let sender = tokio::spawn(async move {
        let mut accepted = Vec::new();
        for seq in 0..BURST {
            // like a load balancer: an instance that does not take the connection is skipped
            let mut outcome = post_seq(&http, &urls[seq % 2], seq).await;
            if outcome == Post::NotConnected {
                outcome = post_seq(&http, &urls[(seq + 1) % 2], seq).await;
            }
            if outcome == Post::Accepted {
                accepted.push(seq);
            }
        }
        accepted
    });
    wait_soft(&target, 100).await;
    b.kill9_and_restart();
    eprintln!("restarted B at {} delivered", target.received().len());
    wait_soft(&target, 300).await;
    a.kill9_and_restart();
    eprintln!("restarted A at {} delivered", target.received().len());
    let accepted = tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .unwrap()
        .unwrap();
    // wait until every accepted webhook arrived, or nothing new came for 5 s
    let end = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    loop {
        let got = target.received().len();
        let seen: HashSet<usize> = target
            .received()
            .iter()
            .map(|r| r.header("x-seq").unwrap().parse().unwrap())
            .collect();
        if accepted.iter().all(|s| seen.contains(s)) {
            break;
        }
        if got != last.0 {
            last = (got, Instant::now());
        }
        if last.1.elapsed() > Duration::from_secs(5) || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got: Vec<usize> = target
        .received()
        .iter()
        .map(|r| r.header("x-seq").unwrap().parse().unwrap())
        .collect();
    let seen: HashSet<usize> = got.iter().copied().collect();
    let lost = accepted.iter().filter(|s| !seen.contains(s)).count();
    (accepted.len(), lost, got.len() - seen.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a side-by-side measurement; needs node and smee.io's npm packages"]
async fn restart_mid_burst_hookrelay_and_smee_io_side_by_side() {
    let Some(redis) = TestRedis::start("redis_side_by_side") else {
        return;
    };
    let hook = scenario(
        Relay::Hookrelay(Instance::start(&redis.url(), &[])),
        Relay::Hookrelay(Instance::start(&redis.url(), &[])),
    )
    .await;
    let smee = scenario(
        Relay::Smee(Smee::start(&redis.sock)),
        Relay::Smee(Smee::start(&redis.sock)),
    )
    .await;
    for (name, (accepted, lost, dup)) in
        [("hookrelay serve --redis", hook), ("smee.io + Redis", smee)]
    {
        eprintln!(
            "{name}: {accepted} of {BURST} webhooks accepted (2xx), {lost} of them never delivered, {dup} delivered twice"
        );
    }
    assert_eq!(hook.1, 0, "hookrelay lost accepted webhooks");
    assert_eq!(hook.2, 0, "hookrelay delivered a webhook twice");
}
