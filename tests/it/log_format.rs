//! One human log format: with `--no-tui`, `forward` speaks in its own lines (stdout) and
//! tracing's lines go to `hookrelay.log`, so nothing is said twice in two formats. Asked for
//! (`--log debug`), tracing's lines come to stderr.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli_support::{self, Proc};
use crate::common::{self, Recorder};

/// A tracing line: `2026-11-30T12:00:00.000000Z  INFO ...`.
fn is_tracing_line(l: &str) -> bool {
    let mut words = l.split_whitespace();
    let (Some(time), Some(level)) = (words.next(), words.next()) else {
        return false;
    };
    time.len() > 20
        && time.ends_with('Z')
        && time.as_bytes()[4] == b'-'
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

fn forward_plain(channel: &str, target: &str, data: &std::path::Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(cli_support::BIN);
    cmd.args(["forward", channel, target, "--no-tui", "--no-store"])
        .args(extra)
        // (removed here, so the test environment's HOOKRELAY_LOG is not set either)
        .env_remove("HOOKRELAY_LOG")
        .env_remove("RUST_LOG")
        .env("XDG_DATA_HOME", data)
        .env("HOME", data)
        .stdin(Stdio::null());
    Proc::spawn_cmd(cmd)
}

/// Run forward until one webhook is delivered; its stdout and stderr lines.
async fn one_delivery(extra: &[&str], data: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let (_relay, base) = cli_support::serve();
    let channel = format!("{base}/one-format");
    let target = Recorder::start().await;
    let mut client = forward_plain(&channel, &target.url("/hook"), data, extra);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    let r = common::http()
        .post(&channel)
        .header("content-type", "application/json")
        .body(r#"{"one":1}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    client.wait_line("-> 200", Duration::from_secs(15));
    client.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tui_speaks_one_format_and_says_each_thing_once() {
    let data = tempfile::tempdir().unwrap();
    let (out, err) = one_delivery(&[], data.path()).await;
    let all: Vec<&String> = out.iter().chain(&err).collect();
    let tracing: Vec<_> = all.iter().filter(|l| is_tracing_line(l)).collect();
    assert!(
        tracing.is_empty(),
        "tracing's lines on the terminal: {all:#?}"
    );
    let connected = all.iter().filter(|l| l.contains("connected")).count();
    assert_eq!(connected, 1, "the connection said once: {all:#?}");
    // tracing's lines are in the log file
    let log = std::fs::read_to_string(data.path().join("hookrelay/hookrelay.log"))
        .expect("hookrelay.log");
    assert!(log.lines().any(|l| l.contains("connected to")), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_debug_brings_tracing_to_stderr() {
    let data = tempfile::tempdir().unwrap();
    let (_, err) = one_delivery(&["--log", "debug"], data.path()).await;
    assert!(err.iter().any(|l| is_tracing_line(l)), "{err:#?}");
}
