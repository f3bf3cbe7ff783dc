//! The real nginx in front of relays, for the deployment tests: the README's recipe, nginx
//! found on the machine (or `HOOKRELAY_NGINX`), run as the current user with every path in a
//! tempdir, and child processes whose output is shown when a test fails.
#![allow(dead_code)]

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The README's location block (kept identical: the README shows this text).
pub const RECIPE: &str = r#"    location / {
        proxy_pass http://hookrelay;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host:$server_port;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_buffering off;            # SSE: pass each event on at once
        proxy_request_buffering off;    # bodies stream to the relay's own limits
        proxy_read_timeout 1h;          # streams are long-lived (pings every 30 s)
        client_max_body_size 25m;
    }"#;

/// A missing tool: `SKIP` locally, a failure under `CI=true` (the one rule, in `common`).
pub fn missing(what: &str) -> Option<()> {
    crate::common::tool_present(false, what);
    None
}

pub fn nginx_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HOOKRELAY_NGINX") {
        return Some(PathBuf::from(p));
    }
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A child process killed when dropped, printing its log when the test failed.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc { name, child, log }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its worker too
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let out = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- {} output ---\n{out}--- end ---", self.name);
        }
    }
}

/// nginx in front of `upstreams` (`host:port`), listening on a socket bound here (port 0) and
/// handed over through nginx's own `NGINX` inherited-socket variable; returns it and its URL.
pub fn start_nginx(nginx: &Path, dir: &Path, upstreams: &[String]) -> (Proc, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    let servers: String = upstreams.iter().map(|u| format!("server {u}; ")).collect();
    // (nginx 1.22 crashes with `master_process off` on an inherited socket: keep the master;
    // as root its worker would switch to `nobody`, so name the current user)
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;\n"
    } else {
        ""
    };
    let conf = format!(
        "daemon off;\n{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n    access_log {d}/logs/access.log;\n\
             client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             upstream hookrelay {{ {servers}keepalive 16; }}\n\
             server {{\n    listen {addr};\n{RECIPE}\n    }}\n}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::File::create(&conf_path)
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    // hand the bound socket to nginx: keep it open across exec (in the child only), and
    // name it in NGINX
    let mut cmd = Command::new(nginx);
    // SAFETY: between fork and exec only fcntl runs (async-signal-safe); it clears
    // FD_CLOEXEC on the listening socket in the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let proc = Proc::spawn(
        "nginx",
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .arg("-c")
            .arg(&conf_path)
            .env("NGINX", format!("{fd};")),
        dir.join("nginx.out"),
    );
    // our copy is not needed once nginx has it (nginx got its own at spawn)
    drop(listener);
    (proc, format!("http://{addr}"))
}
