//! A real `hookrelay serve` process for the attack tests: started on 127.0.0.1:0, its URL read
//! from its log, its RSS read from /proc, killed when dropped. Clients for the honest user
//! (127.0.0.1) and the attacker (127.0.0.2).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hookrelay");
pub const HONEST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
pub const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
/// What an honest user must get while an attack holds.
pub const ANSWER: Duration = Duration::from_secs(3);

pub struct Serve {
    child: Child,
    pub url: String,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Serve {
    /// Start `hookrelay serve --listen 127.0.0.1:0 ARGS`.
    pub fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("HOOKRELAY_LOG", "hookrelay=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookrelay serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("relay listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                let mut l = log2.lock().unwrap();
                if l.len() < 4 << 20 {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("serve did not start: {}", log.lock().unwrap()));
        let addr = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .parse()
            .unwrap();
        Serve {
            child,
            url,
            addr,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident set size in bytes.
    pub fn rss(&self) -> usize {
        hookrelay::proc_mem::kib(self.pid(), "VmRSS:").expect("VmRSS") as usize * 1024
    }

    /// Everything the relay logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    /// Wait for the process to exit (at most `wait`).
    pub fn wait_exit(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + wait;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A fresh channel URL of this relay (the name is made locally, like `/new`).
    pub fn channel(&self) -> String {
        format!("{}/{}", self.url, hookrelay::server::new_channel_name())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("--- relay log (last lines) ---\n{tail}\n--- end ---");
        }
    }
}

/// An HTTP client whose connections come from `from`.
pub fn client_from(from: IpAddr) -> reqwest::Client {
    hookrelay::tls::install_provider();
    reqwest::Client::builder()
        .local_address(from)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A TCP connection to `to` from `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(to).await
}

/// A subscriber from `from` to `path` on `to` that reads up to its `ready` event and then never
/// reads again (`extra` header lines, each ending in CRLF, go into its request).
pub async fn stuck_subscriber(
    from: IpAddr,
    to: SocketAddr,
    path: &str,
    extra: &str,
) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tcp_from(from, to).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(12).any(|w| w == b"event: ready") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("ready in time")
            .unwrap();
        assert!(n > 0, "subscription ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// The honest user's check while an attack holds: a POST is answered 200 and a subscription
/// gets its `ready` event and then the posted webhook, each within [`ANSWER`].
pub async fn honest_user_is_served(relay: &Serve) {
    let c = client_from(HONEST);
    let chan = relay.channel();
    let started = Instant::now();
    let sub = tokio::time::timeout(
        ANSWER,
        c.get(&chan).header("accept", "text/event-stream").send(),
    )
    .await
    .expect("honest subscribe answered within 3 s")
    .expect("honest subscribe");
    assert_eq!(sub.status(), 200, "honest subscribe");
    let mut stream = sub.bytes_stream();
    let mut seen = Vec::new();
    let post = tokio::time::timeout(
        ANSWER,
        c.post(&chan)
            .header("content-type", "application/json")
            .body(r#"{"honest":true}"#)
            .send(),
    )
    .await
    .expect("honest POST answered within 3 s")
    .expect("honest POST");
    assert_eq!(post.status(), 200, "honest POST");
    use futures_util::StreamExt;
    let got = tokio::time::timeout(ANSWER, async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen.extend_from_slice(&chunk);
            if seen.windows(6).any(|w| w == b"honest") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        got,
        Ok(true),
        "honest subscriber got the webhook within 3 s"
    );
    assert!(started.elapsed() < ANSWER * 3);
}
