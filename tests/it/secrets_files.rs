//! Secrets and files (issue 14): whitespace-only secrets are refused, `forward` notes once on
//! stderr that a `--secret` on the command line is visible to other users, the store is 0600
//! in 0700 directories, and the editors' temporary files are private, unpredictable and never
//! follow a planted symlink.

use crate::cli_support;
use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{BIN, run_env};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn whitespace_only_secrets_are_refused_with_a_clear_error() {
    let args = [
        "forward",
        "http://127.0.0.1:9/ch",
        "http://127.0.0.1:9/",
        "--no-store",
    ];
    for flag in ["port=   ", "github=\t"] {
        let mut a = args.to_vec();
        a.extend(["--json", "--secret", flag]);
        let out = run_env(&a, &[]);
        assert!(!out.ok(), "{out:#?}");
        assert!(out.stderr.contains("only whitespace"), "{out:#?}");
    }
    let mut a = args.to_vec();
    a.push("--json");
    let out = run_env(&a, &[("HOOKRELAY_PORT_SECRET", " \t ")]);
    assert!(!out.ok(), "{out:#?}");
    assert!(
        out.stderr.contains("HOOKRELAY_PORT_SECRET") && out.stderr.contains("only whitespace"),
        "{out:#?}"
    );
    let out = run_env(
        &[
            "send",
            "-",
            "--to",
            "http://127.0.0.1:9/ch",
            "--sign",
            "port",
            "--secret",
            "port= ",
        ],
        &[],
    );
    assert!(
        !out.ok() && out.stderr.contains("only whitespace"),
        "{out:#?}"
    );
}

/// Run `forward` until it is connected, then stop it; returns its stderr.
fn forward_stderr(extra: &[&str], env: &[(&str, &str)], store: &Path) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(common::relay());
    let target = rt.block_on(common::Recorder::start());
    let channel = server.new_channel();
    let mut cmd = Command::new(BIN);
    cmd.args(["forward", &channel, &target.url("/"), "--json"])
        .args(["--store", store.to_str().unwrap()])
        .args(extra)
        .env("HOOKRELAY_LOG", "warn")
        .env_remove("HOOKRELAY_PORT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("connected to the relay") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("forward never connected: {:?}", child.wait_with_output());
            }
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    rt.block_on(server.shutdown());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_command_line_secret_is_noted_once_and_the_store_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("new/sub/store.sqlite");
    let err = forward_stderr(&["--secret", "port=hunter2"], &[], &store);
    assert_eq!(
        err.matches("--secret on the command line").count(),
        1,
        "{err}"
    );
    assert!(err.contains("HOOKRELAY_<SCHEME>_SECRET") && err.contains("--secrets-file"));
    assert!(
        !err.contains("hunter2"),
        "the secret itself is never printed: {err}"
    );
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("new")), 0o700);

    // From the environment: nothing to say.
    let store2 = dir.path().join("env/store.sqlite");
    let err = forward_stderr(&[], &[("HOOKRELAY_PORT_SECRET", "hunter2")], &store2);
    assert!(!err.contains("--secret on the command line"), "{err}");
    assert_eq!(mode(&store2), 0o600);
}

#[test]
fn editor_temp_files_are_unpredictable_private_and_do_not_follow_symlinks() {
    // Plant, in the temporary directory, a symlink under every name the old scheme used.
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let planted: Vec<_> = [
        format!("hookrelay-abc-{pid}.json"),
        format!("hookrelay-edit-{pid}.json"),
    ]
    .into_iter()
    .map(|n| tmp.join(n))
    .collect();
    for p in &planted {
        let _ = std::fs::remove_file(p);
        std::os::unix::fs::symlink(&victim, p).unwrap();
    }
    let mut names = std::collections::HashSet::new();
    for _ in 0..20 {
        let t = hookrelay::private_files::temp_file("-abc.json", b"body").unwrap();
        assert_eq!(mode(&t), 0o600);
        assert!(!std::fs::symlink_metadata(&t).unwrap().is_symlink());
        assert!(names.insert(t.to_path_buf()), "a name came twice");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    for p in &planted {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_edit_hands_the_editor_a_private_unpredictable_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let req = common::request(
        "POST",
        "/hook",
        &[("Content-Type", "text/plain")],
        b"original",
    );
    hookrelay::store::Store::open(&store)
        .unwrap()
        .insert_delivery(&common::delivery("editme0001", 1_700_000_000_000, req))
        .unwrap();
    let target = common::Recorder::start().await;
    // The "editor" records the file's mode and name, and rewrites it.
    let seen = dir.path().join("seen");
    let editor = format!(
        "sh -c 'stat -c %a \"$0\" > {0}.mode; basename \"$0\" > {0}.name; printf edited > \"$0\"'",
        seen.display()
    );
    let out = cli_support::run_async(
        [
            "replay",
            "editme0001",
            "--edit",
            "--target",
            &target.url(""),
            "--store",
            store.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec(),
        vec![("VISUAL".into(), editor)],
    )
    .await;
    assert!(out.ok(), "{out:#?}");
    let got = target.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(&got[0].body[..], b"edited");
    let mode = std::fs::read_to_string(seen.with_extension("mode")).unwrap();
    assert_eq!(mode.trim(), "600");
    let name = std::fs::read_to_string(seen.with_extension("name")).unwrap();
    let name = name.trim();
    assert!(
        name.starts_with("hookrelay-") && name.ends_with("-edit.json"),
        "{name}"
    );
    assert!(
        !std::env::temp_dir().join(name).exists(),
        "removed after the edit"
    );
}
