//! Running the real `hookrelay` binary from tests: long-running processes (a relay, a forward
//! job) whose stdout lines can be waited for, and one-shot commands with a time limit.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hookrelay");

/// A child process killed (-9) when dropped, with its stdout lines on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far by `wait_line`.
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .env("HOOKRELAY_LOG", "warn")
            .env_remove("HOOKRELAY_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hookrelay");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for a stdout line for which `pred` holds (panics after `timeout`).
    pub fn wait_line_where(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no matching line within {timeout:?}; lines so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Wait for a stdout line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_line_where(|l| l.contains(needle), timeout)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `hookrelay serve` on `port`, once it listens.
pub fn serve(port: u16) -> Proc {
    let p = Proc::spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")]);
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// `hookrelay forward CHANNEL TARGET --json --store STORE EXTRA...`, once connected.
pub fn forward(channel: &str, target: &str, store: &Path, extra: &[&str]) -> Proc {
    let store = store.to_str().unwrap();
    let mut args = vec![
        "forward",
        channel,
        target,
        "--json",
        "--keepalive",
        "2s",
        "--store",
        store,
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::spawn(&args);
    p.wait_line("connected to the relay", Duration::from_secs(15));
    p
}

/// What a one-shot command did.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn expect_ok(self) -> Output {
        assert!(self.ok(), "command failed: {self:#?}");
        self
    }

    /// The stdout lines parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Run `hookrelay ARGS` to completion (killed after 30 s) with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("HOOKRELAY_LOG", "warn")
        .env_remove("HOOKRELAY_STORE")
        .env_remove("HOOKRELAY_PORT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hookrelay");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hookrelay {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_t.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
    }
}

/// Run `hookrelay ARGS` to completion (killed after 30 s).
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// [`run_env`] from async code, without blocking a runtime worker.
pub async fn run_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_env(&a, &e)
    })
    .await
    .unwrap()
}
