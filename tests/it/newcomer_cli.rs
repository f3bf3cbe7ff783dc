//! A newcomer's first hour (issue 15), through the real binary: typos, targets without a
//! scheme, checks before the channel URL is printed, the store found from anywhere in a git
//! repository, `diff` of two deliveries, the demo's history and the `--json` session line.

use crate::cli_support;
use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{BIN, Output, forward, run, run_env, serve};
use common::{Recorder, delivery, request};
use hookrelay::delivery::now_ms;
use hookrelay::store::Store;

/// `hookrelay ARGS` run in `cwd` with `XDG_DATA_HOME=data` and `HOME=data` (so the default
/// store lives under `data`, nothing in the real home).
fn run_in(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("XDG_DATA_HOME", data)
        .env("HOME", data)
        .env("NO_COLOR", "1")
        .env("HOOKRELAY_LOG", "warn")
        .env_remove("HOOKRELAY_STORE")
        .stdin(Stdio::null())
        .output()
        .expect("run hookrelay");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---- item 1: a typo is not a channel ----

#[test]
fn a_mistyped_command_fails_at_once_with_a_suggestion() {
    let started = Instant::now();
    let out = run(&["lst"]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr.contains("unrecognized subcommand 'lst'"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("'list'"), "{out:#?}");
    assert!(!out.stderr.contains("send webhooks to"), "{out:#?}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // after `forward`, a word that is not a URL is a clear error too
    let out = run(&["forward", "lst", "--no-store"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains("is not an http:// or https:// URL"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("send webhooks to"), "{out:#?}");
}

// ---- items 3 and 17: a target without a scheme; the session line ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_a_scheme_is_http_and_json_output_starts_with_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("x.sqlite");
    let (_server, base) = serve();
    let channel = format!("{base}/newcomer");
    let target = Recorder::start().await;
    let bare = format!("{}/api/slack", target.addr); // 127.0.0.1:PORT/api/slack
    let mut client = forward(&channel, &bare, &store, &[]);

    let session: serde_json::Value = serde_json::from_str(&client.seen[0]).unwrap();
    assert_eq!(session["type"], "session", "{:?}", client.seen);
    assert_eq!(session["channel"], channel.as_str());
    assert_eq!(
        session["target"],
        format!("http://{}/api/slack", target.addr).as_str()
    );
    assert_eq!(session["store"], store.to_str().unwrap());

    common::http()
        .post(&channel)
        .body("{}")
        .send()
        .await
        .unwrap();
    let got = target.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got[0].path, "/api/slack");
    client.wait_line(r#""type":"attempt""#, Duration::from_secs(15));

    for bad in ["ftp://x/y", "localhost:port/x"] {
        let out = run(&["forward", "--target", bad, "--no-store"]);
        assert_eq!(out.code, Some(1), "{out:#?}");
        assert!(out.stderr.contains("expected"), "{bad}: {out:#?}");
        assert!(!out.stderr.contains("send webhooks to"), "{out:#?}");
    }
}

// ---- item 4: everything is checked before the channel URL is printed ----

#[test]
fn a_bad_secret_fails_before_the_channel_url_and_is_not_printed() {
    let out = run(&["forward", "--secret", "prot=hunter2-secret", "--no-store"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("--secret"), "{out:#?}");
    assert!(out.stderr.contains("unknown signature scheme"), "{out:#?}");
    assert!(!out.stderr.contains("hunter2"), "{out:#?}");
    assert!(!out.stderr.contains("send webhooks to"), "{out:#?}");
}

#[test]
fn a_store_that_cannot_be_opened_is_a_warning_before_the_url_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    // a regular file where a directory should be: unusable whoever runs the test (even root)
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let store = file.join("x.sqlite");
    let mut child = Command::new(BIN)
        .args(["forward", "--no-tui", "--target", "127.0.0.1:9"])
        .arg("--store")
        .arg(&store)
        .env("HOOKRELAY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let end = Instant::now() + Duration::from_secs(15);
    while !lines
        .iter()
        .any(|l: &String| l.contains("send webhooks to"))
    {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("no channel URL within 15 s: {lines:#?}");
            }
        }
    }
    // still running: forwarding goes on without the store
    assert!(child.try_wait().unwrap().is_none(), "{lines:#?}");
    let _ = child.kill();
    let _ = child.wait();
    let url_at = lines
        .iter()
        .position(|l| l.contains("send webhooks to"))
        .unwrap();
    let warning = lines
        .iter()
        .position(|l| l.contains("cannot open the store"))
        .unwrap_or_else(|| panic!("no warning: {lines:#?}"));
    assert!(warning < url_at, "{lines:#?}");
    let text = lines.join("\n");
    assert!(text.contains("--no-store"), "{text}");
    assert!(text.contains("memory only"), "{text}");
    // the cause is named once, not once per layer of the error
    let cause = lines[warning].rsplit(": ").next().unwrap().to_string();
    assert_eq!(lines[warning].matches(&cause).count(), 1, "{text}");
    assert!(!text.contains("deliveries are kept in /"), "{text}");
}

// ---- item 5: options that mean nothing, help text ----

#[test]
fn history_commands_refuse_no_store_and_export_explains_its_id() {
    for cmd in [
        vec!["show", "abcd", "--no-store"],
        vec!["prune", "--keep", "1", "--no-store"],
    ] {
        let out = run(&cmd);
        assert_eq!(out.code, Some(2), "{cmd:?}: {out:#?}");
        assert!(out.stderr.contains("--no-store"), "{out:#?}");
    }
    let out = run(&["export", "--help"]).expect_ok();
    let id_line = out
        .stdout
        .lines()
        .skip_while(|l| !l.contains("Arguments:"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        id_line.contains("<ID>") && id_line.contains("delivery id"),
        "{}",
        out.stdout
    );
}

// ---- item 6: the store of the repository, from any folder in it ----

#[test]
fn list_finds_the_repository_store_from_a_subfolder_and_names_known_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let data = root.join("data");
    let proj = root.join("proj");
    let app = proj.join("app").join("src");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir(proj.join(".git")).unwrap();
    let store_path = hookrelay::store::default_path_in(&data, &proj);
    let store = Store::open(&store_path).unwrap();
    store
        .insert_delivery(&delivery(
            "repo000001",
            now_ms(),
            request("POST", "/hook", &[], b"{}"),
        ))
        .unwrap();
    drop(store);

    for cwd in [&proj, &app] {
        let out = run_in(cwd, &data, &["list"]).expect_ok();
        assert!(out.stdout.contains("repo000001"), "{cwd:?}: {out:#?}");
    }

    // elsewhere: no store, and the error names the ones there are
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = run_in(&elsewhere, &data, &["list"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("no store at"), "{out:#?}");
    assert!(out.stderr.contains("known stores"), "{out:#?}");
    assert!(
        out.stderr.contains(store_path.to_str().unwrap()),
        "{out:#?}"
    );
    assert!(
        !out.stderr.contains("the demo's"),
        "no demo run yet: {out:#?}"
    );
}

// ---- item 7: diff compares the request line and keeps repeated headers ----

#[test]
fn diff_of_two_deliveries_compares_method_path_query_and_repeated_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sqlite");
    let mut a = request(
        "POST",
        "/hooks/a",
        &[("x-multi", "one"), ("x-multi", "two"), ("x-same", "1")],
        b"{}",
    );
    a.query = "env=dev".into();
    let mut b = request(
        "PUT",
        "/hooks/b",
        &[("x-multi", "one"), ("x-multi", "three"), ("x-same", "1")],
        b"{}",
    );
    b.query = "env=prod".into();
    let same = request("POST", "/hooks/a", &[("x-same", "1")], b"{}");
    let store = Store::open(&path).unwrap();
    for d in [
        delivery("diffm00001", now_ms(), a),
        delivery("diffm00002", now_ms(), b),
        delivery("diffm00003", now_ms(), same.clone()),
        delivery("diffm00004", now_ms(), same),
    ] {
        store.insert_delivery(&d).unwrap();
    }
    drop(store);
    let s = path.to_str().unwrap();
    let out = run(&["diff", "diffm00001", "diffm00002", "--store", s]).expect_ok();
    let t = &out.stdout;
    assert!(t.contains(r#"method: "POST" -> "PUT""#), "{t}");
    assert!(t.contains(r#"path: "/hooks/a" -> "/hooks/b""#), "{t}");
    assert!(t.contains(r#"query: "env=dev" -> "env=prod""#), "{t}");
    assert!(t.contains("x-multi[1]") && t.contains("three"), "{t}");
    assert!(!t.contains("x-same"), "{t}");

    let out = run(&["diff", "diffm00003", "diffm00004", "--store", s]).expect_ok();
    assert!(!out.stdout.contains("method"), "{}", out.stdout);
}

// ---- item 9: the demo's history is where its hint says ----

#[test]
fn the_demo_history_is_kept_where_the_hint_points() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_env(
        &["demo", "--no-tui", "--interval", "10ms"],
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("HOME", data.to_str().unwrap()),
        ],
    )
    .expect_ok();
    let hint = out
        .stderr
        .lines()
        .find_map(|l| l.split("try: ").nth(1))
        .unwrap_or_else(|| panic!("no hint: {out:#?}"))
        .to_string();
    let args: Vec<String> = shlex::split(&hint).unwrap();
    assert_eq!(args[..2], ["hookrelay", "list"], "{hint}");
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let list = run(&rest).expect_ok();
    let rows = list.stdout.lines().filter(|l| l.contains("POST")).count();
    // six events and the synchronized action run
    assert_eq!(rows, 7, "{list:#?}");
    // `hookrelay list` without --store, where no project store exists, points at it
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = run_in(&elsewhere, &data, &["list"]);
    assert!(out.stderr.contains("demo.sqlite (the demo's)"), "{out:#?}");

    // a second run starts afresh: seven again, not fourteen
    run_env(
        &["demo", "--no-tui", "--interval", "10ms"],
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("HOME", data.to_str().unwrap()),
        ],
    )
    .expect_ok();
    let list = run(&rest).expect_ok();
    assert_eq!(
        list.stdout.lines().filter(|l| l.contains("POST")).count(),
        7
    );
}

// ---- item 17: `list --json` says `/` like the table ----

#[test]
fn list_json_shows_the_path_as_the_table_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sqlite");
    let store = Store::open(&path).unwrap();
    store
        .insert_delivery(&delivery(
            "root000001",
            now_ms(),
            request("POST", "", &[], b"{}"),
        ))
        .unwrap();
    drop(store);
    let s = path.to_str().unwrap();
    let out = run(&["list", "--json", "--store", s]).expect_ok();
    assert_eq!(out.json_lines()[0]["path"], "/", "{out:#?}");
    let out = run(&["list", "--store", s]).expect_ok();
    assert!(out.stdout.contains(" /  "), "{out:#?}");
}
