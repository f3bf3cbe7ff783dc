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
    err_lines: mpsc::Receiver<String>,
    /// Every stdout line read so far by `wait_line`.
    pub seen: Vec<String>,
    /// Every stderr line read so far by `wait_stderr_line`.
    pub seen_stderr: Vec<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        Proc::spawn_cmd(cmd)
    }

    /// Spawn `cmd` (the hookrelay binary with its arguments) with the test environment. Its
    /// stderr is passed on to the test's, line by line, and kept for [`Proc::wait_stderr_line`].
    pub fn spawn_cmd(mut cmd: Command) -> Proc {
        if !cmd.get_envs().any(|(k, _)| k == "HOOKRELAY_LOG") {
            cmd.env("HOOKRELAY_LOG", "warn");
        }
        let mut child = cmd
            .env("NO_COLOR", "1")
            .env_remove("HOOKRELAY_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookrelay");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (tx, err_lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let _ = tx.send(line);
            }
        });
        Proc {
            child,
            lines,
            err_lines,
            seen: Vec::new(),
            seen_stderr: Vec::new(),
        }
    }

    /// Wait for a stderr line containing `needle` (panics after `timeout`).
    pub fn wait_stderr_line(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_stderr_line_where(|l| l.contains(needle), timeout)
    }

    /// Wait for a stderr line for which `pred` holds (panics after `timeout`).
    pub fn wait_stderr_line_where(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        wait_on(
            &self.err_lines,
            &mut self.seen_stderr,
            pred,
            timeout,
            "stderr",
        )
    }

    /// Wait for a stdout line for which `pred` holds (panics after `timeout`).
    pub fn wait_line_where(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        wait_on(&self.lines, &mut self.seen, pred, timeout, "stdout")
    }

    /// Every stdout line that arrives within `d`: a bounded wait, for what must not come.
    pub fn lines_within(&mut self, d: Duration) -> Vec<String> {
        let end = Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l.clone());
            got.push(l);
        }
        got
    }

    /// Wait for a stdout line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_line_where(|l| l.contains(needle), timeout)
    }

    /// Kill it (-9) and return every stdout and stderr line it printed (read until its pipes
    /// close, at most 10 s).
    pub fn finish(&mut self) -> (Vec<String>, Vec<String>) {
        self.kill9();
        let end = Instant::now() + Duration::from_secs(10);
        let drain = |rx: &mpsc::Receiver<String>, into: &mut Vec<String>| loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => into.push(l),
                Err(_) => break,
            }
        };
        drain(&self.lines, &mut self.seen);
        drain(&self.err_lines, &mut self.seen_stderr);
        (self.seen.clone(), self.seen_stderr.clone())
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

/// The next line from `rx` for which `pred` holds, keeping every line read in `seen`; panics
/// with what was seen after `timeout`.
pub fn wait_on(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    pred: impl Fn(&str) -> bool,
    timeout: Duration,
    what: &str,
) -> String {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if pred(&l) {
                    return l;
                }
            }
            Err(_) => panic!("no matching {what} line within {timeout:?}; lines so far: {seen:#?}"),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A TCP port held by the test: a socket bound to 127.0.0.1:0 and not listening, so
/// connections to it are refused until a relay started with [`serve_on`] listens on it. The
/// test keeps it for its whole life, so a relay can be killed and another started on the same
/// port without the port ever being free for someone else to take.
pub struct HeldPort {
    socket: socket2::Socket,
    pub port: u16,
}

impl HeldPort {
    pub fn new() -> HeldPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        HeldPort { socket, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The socket as a tokio listener (listening from now on) for a test server of its own.
    pub fn listen(&self) -> tokio::net::TcpListener {
        let s = self.socket.try_clone().unwrap();
        s.listen(1024).unwrap();
        s.set_nonblocking(true).unwrap();
        tokio::net::TcpListener::from_std(s.into()).unwrap()
    }
}

/// Give the process `cmd` starts `port`'s socket as its file descriptor 3.
pub fn pass_as_fd3(cmd: &mut Command, port: &HeldPort) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = port.socket.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl). dup2 onto 3
    // clears close-on-exec there; when the socket already is 3, the flag is cleared directly.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags == -1 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `hookrelay serve --listen-fd 3`, with `port`'s socket as its descriptor 3, once it listens.
pub fn serve_on(port: &HeldPort) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen-fd", "3"]);
    pass_as_fd3(&mut cmd, port);
    let mut p = Proc::spawn_cmd(cmd);
    p.wait_stderr_line("relay listening on", Duration::from_secs(15));
    p
}

/// `hookrelay serve --listen 127.0.0.1:0`, once it listens, and its base URL (read from the
/// line it prints).
pub fn serve() -> (Proc, String) {
    let mut p = Proc::spawn(&["serve", "--listen", "127.0.0.1:0"]);
    let line = p.wait_stderr_line("relay listening on", Duration::from_secs(15));
    let url = line
        .split("relay listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the relay's URL")
        .to_string();
    (p, url)
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
