//! A real `redis-server` for a test: its own tempdir and unix socket, no persistence, killed on
//! drop. One file for both sides: the backend's unit tests (src/server/backend/tests.rs) and
//! the integration tests (tests/it/redis_support.rs) include it with `#[path]`, since unit
//! tests cannot reach tests/it and the library does not ship test code.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test. Killed on drop.
pub struct TestRedis {
    child: Option<Child>,
    pub sock: PathBuf,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl TestRedis {
    /// Start one, or `None` (with a visible SKIP) where `redis-server` is not installed;
    /// under `CI=true` a missing `redis-server` fails the test (the rule of
    /// `common::tool_present`, which this file cannot reach from the unit tests).
    pub fn start(test: &str) -> Option<TestRedis> {
        Self::start_with(test, &[])
    }

    /// [`TestRedis::start`] with extra `redis-server` arguments.
    pub fn start_with(test: &str, extra: &[&str]) -> Option<TestRedis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is missing under CI=true (.ci/run installs it)"
            );
            eprintln!("SKIP: {test}: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("redis.sock");
        let mut r = TestRedis {
            child: None,
            sock,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        r.restart();
        Some(r)
    }

    /// Start (again) on the same socket, with no data.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&self.sock)
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            assert!(Instant::now() < end, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kill it (its data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.sock.display())
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
