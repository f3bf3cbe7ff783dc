//! A real `redis-server` per test ([`TestRedis`], shared with the backend's unit tests) and real
//! `hookrelay serve --redis` processes that can be killed with -9 and restarted on their port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::cli_support::{HeldPort, pass_as_fd3};

pub const BIN: &str = env!("CARGO_BIN_EXE_hookrelay");

#[path = "../support/redis_server.rs"]
mod redis_server;
pub use redis_server::TestRedis;

/// One `hookrelay serve --redis` process. Killed (-9) on drop.
pub struct Instance {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Held by the test for the instance's whole life, so a restart comes back on it.
    port: HeldPort,
    redis_url: String,
    extra: Vec<String>,
    /// Every stderr line of every run.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Start on a port of its own (held by the test, passed as `--listen-fd 3`), once it
    /// listens.
    pub fn start(redis_url: &str, extra: &[&str]) -> Instance {
        let port = HeldPort::new();
        let mut i = Instance {
            child: None,
            base: port.base_url(),
            port,
            redis_url: redis_url.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log: Arc::default(),
        };
        i.run();
        i
    }

    fn run(&mut self) {
        let mut cmd = Command::new(BIN);
        pass_as_fd3(&mut cmd, &self.port);
        let mut child = cmd
            .args(["serve", "--listen-fd", "3"])
            .args(["--redis", &self.redis_url, "--rate", "0"])
            .args(["--shutdown-timeout", "1s"])
            .args(&self.extra)
            .env("NO_COLOR", "1")
            .env("HOOKRELAY_LOG", "info,hookrelay::access=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookrelay serve");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("relay listening on http://") {
                    let _ = tx.send(());
                }
                log.lock().unwrap().push(line);
            }
        });
        rx.recv_timeout(Duration::from_secs(15))
            .expect("serve printed where it listens");
        self.child = Some(child);
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port.
    pub fn restart(&mut self) {
        self.kill9();
        self.run();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many stderr lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait until `/readyz` answers `status`.
    pub async fn wait_ready(&self, status: u16, within: Duration) {
        let http = crate::common::http();
        let end = Instant::now() + within;
        loop {
            let got = http
                .get(self.url("/readyz"))
                .send()
                .await
                .map(|r| r.status().as_u16());
            if got.as_ref().ok() == Some(&status) {
                return;
            }
            assert!(
                Instant::now() < end,
                "/readyz never answered {status}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}
