//! SIGTERM and SIGHUP end the plain-log modes the way Ctrl-C does: `forward --no-tui` prints
//! its exit line and exits 0; `demo` removes its temporary store. The real binary, loopback only.

use crate::cli_support;
use crate::common;

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

/// SIGTERM and SIGHUP end the demo as `q` does: exit 0, and its history is where the closing hint
/// points (kept on purpose so `hookrelay list` works), an intact store, nothing left in TMPDIR.
#[test]
fn the_demo_ends_cleanly_on_sigterm_and_sighup_and_keeps_its_history() {
    for signal in ["TERM", "HUP"] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let scratch = tmp.path().join("tmp");
        std::fs::create_dir_all(&scratch).unwrap();
        let store = data.join("hookrelay/demo.sqlite");
        let mut child = Command::new(BIN)
            // slow enough that the demo is still sending when the signal comes
            .args(["demo", "--no-tui", "--interval", "30s"])
            .env("HOME", tmp.path())
            .env("XDG_DATA_HOME", &data)
            .env("TMPDIR", &scratch)
            .env("NO_COLOR", "1")
            .env("HOOKRELAY_LOG", "warn")
            .env_remove("HOOKRELAY_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(15);
        while !store.exists() {
            assert!(Instant::now() < end, "the demo never created its store");
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(child.id(), signal);
        assert_eq!(wait_exit(&mut child), Some(0), "SIG{signal}");
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(
            err.contains("the history stays in") && err.contains("demo.sqlite"),
            "SIG{signal}: no closing hint: {err}"
        );
        hookrelay::store::Store::open(&store).expect("the kept history opens");
        let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
        assert!(
            left.is_empty(),
            "SIG{signal}: files left in TMPDIR: {left:?}"
        );
    }
}
