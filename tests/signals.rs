//! SIGTERM and SIGHUP end the plain-log modes the way Ctrl-C does: `forward --no-tui` prints
//! its exit line and exits 0; `demo` removes its temporary store. The real binary, loopback only.

mod cli_support;
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{BIN, Proc};
use common::Recorder;

fn kill(pid: u32, signal: &str) {
    let out = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "kill -{signal}: {out:?}");
}

/// Wait (at most 20 s) for the child to exit; its exit code.
fn wait_exit(child: &mut Child) -> Option<i32> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(Instant::now() < end, "still running 20 s after the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_without_the_ui_ends_cleanly_on_sigterm_and_sighup() {
    let target = Recorder::start().await;
    for signal in ["TERM", "HUP"] {
        let mut p = Proc::spawn(&[
            "forward",
            "--target",
            &target.url("/hook"),
            "--no-tui",
            "--no-store",
        ]);
        p.wait_line("connected to the relay", Duration::from_secs(15));
        kill(p.child.id(), signal);
        assert_eq!(wait_exit(&mut p.child), Some(0), "SIG{signal}");
    }
}

fn demo_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hookrelay-demo-"))
        .collect()
}

#[test]
fn the_demo_removes_its_temporary_store_on_sigterm_and_sighup() {
    for signal in ["TERM", "HUP"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            // slow enough that the demo is still sending when the signal comes
            .args(["demo", "--no-tui", "--interval", "30s"])
            .env("TMPDIR", tmp.path())
            .env("NO_COLOR", "1")
            .env("HOOKRELAY_LOG", "warn")
            .env_remove("HOOKRELAY_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(15);
        while !demo_files(tmp.path())
            .iter()
            .any(|n| n.ends_with(".sqlite"))
        {
            assert!(Instant::now() < end, "the demo never created its store");
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(child.id(), signal);
        assert_eq!(wait_exit(&mut child), Some(0), "SIG{signal}");
        assert_eq!(demo_files(tmp.path()), Vec::<String>::new(), "SIG{signal}");
    }
}
