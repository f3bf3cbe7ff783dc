//! The history commands as a user runs them: the real `hookrelay` binary (`serve`, `forward`,
//! `list`, `show`, `replay`, `export`, `prune`, `diff`) against a store in a temp dir and real
//! recording targets on 127.0.0.1.

use crate::cli_support;
use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cli_support::{Output, forward, run, run_async, serve};
use common::{Recorder, delivery, request};
use hookrelay::delivery::{Attempt, AttemptOutcome, Delivery, now_ms};
use hookrelay::store::Store;
use hookrelay::verify::{Outcome, Scheme, Verification, sign_port};

const SECRET: &str = "port-client-secret";

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(common::fixture(&format!("port/{name}"))).unwrap()
}

/// Port's signature headers for `body`, signed `age_secs` ago.
fn port_headers(body: &[u8], age_secs: i64) -> (String, String) {
    let ts = (now_ms() / 1000 - age_secs).to_string();
    let sig = sign_port(SECRET, &ts, body);
    (ts, sig)
}

/// Whether a request carries a valid, fresh Port signature over its body.
fn assert_fresh_valid_port(r: &common::Received) {
    let ts = r.header("x-port-timestamp").expect("x-port-timestamp");
    let sig = r.header("x-port-signature").expect("x-port-signature");
    assert_eq!(
        sig,
        sign_port(SECRET, ts, &r.body),
        "signature does not verify"
    );
    let age = now_ms() / 1000 - ts.parse::<i64>().unwrap();
    assert!((-5..120).contains(&age), "re-signed {age} s ago");
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("x.sqlite");
        Fixture { _dir: dir, store }
    }

    fn s(&self) -> &str {
        self.store.to_str().unwrap()
    }

    /// Put deliveries in the store with the library, as a forward job would have.
    fn seed(&self, ds: &[Delivery]) {
        let store = Store::open(&self.store).unwrap();
        for d in ds {
            store.insert_delivery(d).unwrap();
        }
    }

    fn get(&self, id: &str) -> Delivery {
        Store::open(&self.store).unwrap().get(id).unwrap()
    }

    /// `hookrelay ARGS --store STORE`.
    fn run(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--store", self.s()]);
        run(&a)
    }

    async fn run_async(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--store".to_string(), self.s().to_string()]);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        run_async(a, env).await
    }

    /// The ids `list --json ARGS` prints, in order.
    fn list_ids(&self, args: &[&str]) -> Vec<String> {
        let mut a = vec!["list", "--json"];
        a.extend_from_slice(args);
        self.run(&a)
            .expect_ok()
            .json_lines()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    }
}

fn response_attempt(target: &str, status: u16, at_ms: i64) -> Attempt {
    Attempt {
        target: target.into(),
        started_at_ms: at_ms,
        replay: false,
        latency_ms: 3.0,
        outcome: AttemptOutcome::Response {
            status,
            headers: vec![],
            body: bytes::Bytes::from_static(b"ok"),
            body_size: 2,
        },
        sent: None,
    }
}

/// The stored delivery, once the forward job has recorded `attempts` attempts for it.
fn wait_stored(store: &Path, id: &str, attempts: usize) -> Delivery {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(d) = Store::open(store).unwrap().get(id)
            && d.attempts.len() >= attempts
        {
            return d;
        }
        assert!(
            Instant::now() < end,
            "{id} not stored with {attempts} attempts"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the forward job, its log line, and replay of what it stored ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_port_event_is_logged_stored_and_replayed() {
    let f = Fixture::new();
    let (_server, base) = serve();
    let channel = format!("{base}/history-channel");
    let target = Recorder::start().await;
    let other = Recorder::start().await;
    let secret_flag = format!("port={SECRET}");
    let mut client = forward(
        &channel,
        &target.url("/hook"),
        &f.store,
        &["--secret", &secret_flag],
    );

    // a Port changelog event signed an hour ago, and one signed now
    let body = fixture_bytes("01-changelog-entity-update.json");
    let (old_ts, old_sig) = port_headers(&body, 3600);
    let http = common::http();
    let r = http
        .post(format!("{channel}/sub?a=1&a=2"))
        .header("content-type", "application/json")
        .header("x-port-timestamp", &old_ts)
        .header("x-port-signature", &old_sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let body3 = fixture_bytes("03-changelog-entity-update-healthstatus.json");
    let (ts3, sig3) = port_headers(&body3, 0);
    http.post(&channel)
        .header("content-type", "application/json")
        .header("x-port-timestamp", &ts3)
        .header("x-port-signature", &sig3)
        .body(body3.clone())
        .send()
        .await
        .unwrap();

    // the JSON log line has the verification outcome and the Port summary
    let is_attempt = |l: &str| l.contains(r#""type":"attempt""#);
    let line = client.wait_line_where(is_attempt, Duration::from_secs(15));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["replay"], false);
    assert_eq!(v["status"], 200);
    assert_eq!(v["verification"]["outcome"], "stale", "{line}");
    assert_eq!(v["verification"]["scheme"], "port");
    assert_eq!(v["event"], "UPDATE entity");
    let summary = v["summary"].as_str().expect("a Port summary");
    assert!(summary.contains("free_storage 6 -> 0.5"), "{summary}");
    let id = v["id"].as_str().unwrap().to_string();
    let line2 = client.wait_line_where(is_attempt, Duration::from_secs(15));
    let v2: serde_json::Value = serde_json::from_str(&line2).unwrap();
    assert_eq!(v2["verification"]["outcome"], "valid", "{line2}");
    assert!(
        v2["summary"].as_str().unwrap().contains("healthStatus"),
        "{line2}"
    );
    let id2 = v2["id"].as_str().unwrap().to_string();

    let stored = wait_stored(&f.store, &id, 1);
    assert_eq!(&stored.request.body[..], &body[..]);
    assert_eq!(
        stored.verification.as_ref().unwrap().outcome,
        Outcome::Stale
    );
    let first = &target.wait_for(2, Duration::from_secs(10)).await[0];
    assert_eq!(&first.body[..], &body[..]);

    // 1. no --target, no --resign: where the forward job sent it, bytes and signature as stored;
    //    reported stale
    let prefix = &id[..7];
    let secret_args = ["--secret", secret_flag.as_str()];
    let mut args = vec!["replay", prefix];
    args.extend(secret_args);
    let out = f.run_async(&args, &[]).await.expect_ok();
    assert!(out.stderr.contains("stale"), "{out:#?}");
    assert!(out.stdout.contains(&id), "{out:#?}");
    let got = target.wait_for(3, Duration::from_secs(10)).await;
    let replayed = &got[2];
    assert_eq!(&replayed.body[..], &body[..], "replayed body differs");
    assert_eq!(replayed.method, "POST");
    assert_eq!(replayed.path, "/hook/sub");
    assert_eq!(replayed.query.as_deref(), Some("a=1&a=2"));
    assert_eq!(replayed.header("x-port-signature"), Some(old_sig.as_str()));
    assert_eq!(replayed.header("x-port-timestamp"), Some(old_ts.as_str()));
    assert_eq!(replayed.header("x-hookrelay-replay-of"), Some(id.as_str()));
    assert_eq!(
        replayed.header("content-type"),
        Some("application/json"),
        "{replayed:?}"
    );

    // 2. --resign to another target: valid and fresh at the target
    let mut args = vec!["replay", &id, "--resign", "--target"];
    let other_url = other.url("/other");
    args.push(&other_url);
    args.extend(secret_args);
    let out = f.run_async(&args, &[]).await.expect_ok();
    assert!(out.stderr.contains("re-signed"), "{out:#?}");
    let got = other.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].path, "/other/sub");
    assert_eq!(&got[0].body[..], &body[..]);
    assert_ne!(got[0].header("x-port-timestamp"), Some(old_ts.as_str()));
    assert_fresh_valid_port(&got[0]);
    assert_eq!(got[0].header("x-hookrelay-replay-of"), Some(id.as_str()));

    // 3. --no-replay-header; the default target is still where the forward job sent it, not
    //    where the last replay went
    let out = f
        .run_async(&["replay", &id, "--no-replay-header"], &[])
        .await
        .expect_ok();
    assert!(out.ok());
    let got = target.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(got[3].path, "/hook/sub");
    assert_eq!(got[3].header("x-hookrelay-replay-of"), None);
    assert_eq!(&got[3].body[..], &body[..]);

    // --resign without a secret: a clear error, nothing sent
    let out = f.run_async(&["replay", &id, "--resign"], &[]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("no secret"), "{out:#?}");
    assert!(
        !out.stderr.contains("cannot re-sign: cannot re-sign"),
        "{out:#?}"
    );

    // every replay is an attempt of the same delivery, marked as a replay
    let d = wait_stored(&f.store, &id, 4);
    let kinds: Vec<bool> = d.attempts.iter().map(|a| a.replay).collect();
    assert_eq!(kinds, [false, true, true, true]);
    assert_eq!(d.attempts[1].target, d.attempts[0].target);
    assert_eq!(d.attempts[2].target, format!("{other_url}/sub?a=1&a=2"));
    assert!(d.attempts.iter().all(|a| a.status() == Some(200)));
    assert_eq!(target.received().len(), 4);

    // the property diff of the Port event, and two deliveries compared
    let out = f.run(&["diff", &id]).expect_ok();
    assert!(out.stdout.contains("free_storage"), "{out:#?}");
    assert!(out.stdout.contains("6 -> 0.5"), "{out:#?}");
    let out = f.run(&["diff", &id, &id2]).expect_ok();
    assert!(
        out.stdout.starts_with(&format!("{id} -> {id2}")),
        "{out:#?}"
    );
    assert!(out.stdout.contains("x-port-timestamp"), "{out:#?}");
    assert!(out.stdout.contains("healthStatus"), "{out:#?}");
    assert!(!out.stdout.contains("(no changes)"), "{out:#?}");

    // show lists the attempts, replays marked
    let out = f.run(&["show", &id]).expect_ok();
    assert!(out.stdout.contains("attempts (4)"), "{}", out.stdout);
    assert_eq!(out.stdout.matches(" replay ").count(), 3, "{}", out.stdout);
    client.kill9();
}

// ---- replay of a stored delivery: --edit, errors ----

fn stored_port_delivery(id: &str, age_secs: i64) -> (Delivery, Vec<u8>) {
    let body = fixture_bytes("07-automation-entity-updated-trigger-data.json");
    let (ts, sig) = port_headers(&body, age_secs);
    let req = request(
        "POST",
        "/",
        &[
            ("content-type", "application/json"),
            ("x-port-timestamp", &ts),
            ("x-port-signature", &sig),
        ],
        &body,
    );
    (delivery(id, now_ms() - age_secs * 1000, req), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_edit_sends_the_edited_body_signed_when_asked() {
    let f = Fixture::new();
    let (d, _) = stored_port_delivery("edit000001", 3600);
    f.seed(&[d]);
    let target = Recorder::start().await;
    let url = target.url("/dev");
    let secret_flag = format!("port={SECRET}");
    let editor = r#"sh -c 'printf %s "{\"edited\":true}" > "$1"' sh"#;

    // never forwarded, no --target: nowhere to send it
    let out = f.run_async(&["replay", "edit000001"], &[]).await;
    assert!(!out.ok());
    assert!(out.stderr.contains("never forwarded"), "{out:#?}");
    assert!(out.stderr.contains("--target"), "{out:#?}");

    let out = f
        .run_async(
            &[
                "replay",
                "edit0",
                "--edit",
                "--resign",
                "--secret",
                &secret_flag,
                "--target",
                &url,
            ],
            &[("EDITOR", editor), ("VISUAL", editor)],
        )
        .await
        .expect_ok();
    let got = target.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(&got[0].body[..], br#"{"edited":true}"#, "{out:#?}");
    assert_eq!(got[0].header("content-length"), Some("15"));
    assert_fresh_valid_port(&got[0]);

    // edited without --resign: the old signature goes with it, and the user is told it is invalid
    let out = f
        .run_async(
            &[
                "replay",
                "edit000001",
                "--edit",
                "--secret",
                &secret_flag,
                "--target",
                &url,
            ],
            &[("EDITOR", editor), ("VISUAL", editor)],
        )
        .await
        .expect_ok();
    assert!(out.stderr.contains("INVALID"), "{out:#?}");
    let got = target.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(&got[1].body[..], br#"{"edited":true}"#);
    let sig = got[1].header("x-port-signature").unwrap();
    let ts = got[1].header("x-port-timestamp").unwrap();
    assert_ne!(sig, sign_port(SECRET, ts, &got[1].body));

    // an editor that fails: nothing is sent
    let out = f
        .run_async(
            &["replay", "edit000001", "--edit", "--target", &url],
            &[("EDITOR", "false"), ("VISUAL", "false")],
        )
        .await;
    assert!(!out.ok());
    assert!(out.stderr.contains("editor"), "{out:#?}");
    // the command has exited, and a replay waits for the target's answer, which comes after
    // the target recorded the request: anything it sent is already here
    assert_eq!(target.received().len(), 2);

    // the stored delivery is unchanged; the two replays are its attempts
    let d = f.get("edit000001");
    assert_ne!(&d.request.body[..], br#"{"edited":true}"#);
    assert_eq!(d.attempts.len(), 2);
    assert!(d.attempts.iter().all(|a| a.replay));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_a_short_tolerance_reports_stale_and_resign_fixes_it() {
    let f = Fixture::new();
    // signed 10 s ago: fresh under the default tolerance, stale under --tolerance 1
    let (d, body) = stored_port_delivery("tol0000001", 10);
    let sig = d.request.header("x-port-signature").unwrap().to_string();
    f.seed(&[d]);
    let target = Recorder::start().await;
    let url = target.url("/t");
    let secret_flag = format!("port={SECRET}");
    let out = f
        .run_async(
            &[
                "replay",
                "tol0",
                "--tolerance",
                "1",
                "--secret",
                &secret_flag,
                "--target",
                &url,
            ],
            &[],
        )
        .await
        .expect_ok();
    assert!(out.stderr.contains("stale"), "{out:#?}");
    let got = target.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("x-port-signature"), Some(sig.as_str()));
    assert_eq!(&got[0].body[..], &body[..]);
    let out = f
        .run_async(
            &[
                "replay",
                "tol0",
                "--tolerance",
                "1",
                "--resign",
                "--secret",
                &secret_flag,
                "--target",
                &url,
            ],
            &[],
        )
        .await
        .expect_ok();
    assert!(!out.stderr.contains("stale"), "{out:#?}");
    let got = target.wait_for(2, Duration::from_secs(10)).await;
    assert_fresh_valid_port(&got[1]);
    assert_eq!(&got[1].body[..], &body[..]);

    // the history records what was sent: the re-signed headers, the replay mark, the target's
    // host (issue 15 item 8)
    let d = f.get("tol0000001");
    let sent = d.attempts[1]
        .sent
        .as_ref()
        .expect("the replay's request as sent");
    assert!(sent.resigned);
    assert!(!d.attempts[0].sent.as_ref().unwrap().resigned);
    let har = f.run(&["export", "tol0000001", "--har"]).expect_ok();
    let har: serde_json::Value = serde_json::from_str(&har.stdout).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{har:#}");
    let header = |e: &serde_json::Value, name: &str| -> Option<String> {
        e["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h["value"].as_str().unwrap().to_string())
    };
    let resigned = &entries[1];
    assert_eq!(resigned["_resigned"], true, "{resigned:#}");
    for name in [
        "x-port-timestamp",
        "x-port-signature",
        "x-hookrelay-replay-of",
    ] {
        assert_eq!(
            header(resigned, name).as_deref(),
            got[1].header(name),
            "{name} as the target got it: {resigned:#}"
        );
    }
    assert_eq!(
        header(resigned, "x-hookrelay-replay-of").as_deref(),
        Some("tol0000001")
    );
    assert_eq!(
        header(resigned, "host"),
        Some(target.addr.to_string()),
        "the target's host, not the relay's"
    );
    // the first replay went out as stored: the old signature
    assert_eq!(header(&entries[0], "x-port-signature"), Some(sig.clone()));
}

// ---- list ----

#[test]
fn list_filters_by_method_status_verification_and_event() {
    let f = Fixture::new();
    let now = now_ms();
    let mut push = delivery(
        "push000001",
        now - 3000,
        request(
            "POST",
            "/gh",
            &[
                ("x-github-event", "push"),
                ("content-type", "application/json"),
            ],
            b"{}",
        ),
    );
    push.verification = Some(Verification::new(
        Some(Scheme::Github),
        Outcome::Valid,
        "ok",
    ));
    push.attempts = vec![response_attempt("http://127.0.0.1:9/gh", 200, now - 2900)];
    let mut port = delivery(
        "port000001",
        now - 2000,
        request(
            "PUT",
            "/port",
            &[("content-type", "application/json")],
            &fixture_bytes("01-changelog-entity-update.json"),
        ),
    );
    port.verification = Some(Verification::new(
        Some(Scheme::Port),
        Outcome::Invalid,
        "bad",
    ));
    port.attempts = vec![
        response_attempt("http://127.0.0.1:9/port", 200, now - 1900),
        response_attempt("http://127.0.0.1:9/port", 503, now - 1800),
    ];
    let plain = delivery("get0000001", now - 1000, request("GET", "/ping", &[], b""));
    f.seed(&[push, port, plain]);

    assert_eq!(
        f.list_ids(&[]),
        ["get0000001", "port000001", "push000001"],
        "newest first"
    );
    assert_eq!(f.list_ids(&["--method", "put"]), ["port000001"]);
    assert_eq!(f.list_ids(&["--method", "DELETE"]), Vec::<String>::new());
    assert_eq!(f.list_ids(&["--status", "5xx"]), ["port000001"]);
    assert_eq!(f.list_ids(&["--status", "200"]), ["push000001"]);
    assert_eq!(f.list_ids(&["--status", "2xx"]), ["push000001"]);
    assert_eq!(f.list_ids(&["--verification", "valid"]), ["push000001"]);
    assert_eq!(f.list_ids(&["--verification", "INVALID"]), ["port000001"]);
    assert_eq!(f.list_ids(&["--event", "push"]), ["push000001"]);
    assert_eq!(f.list_ids(&["--event", "update entity"]), ["port000001"]);
    assert_eq!(
        f.list_ids(&["--method", "post", "--verification", "invalid"]),
        Vec::<String>::new()
    );
    assert_eq!(f.list_ids(&["--limit", "1"]), ["get0000001"]);

    let rows = f.run(&["list", "--json"]).expect_ok().json_lines();
    let port_row = &rows[1];
    assert_eq!(port_row["status"], 503);
    assert_eq!(port_row["attempts"], 2);
    assert_eq!(port_row["method"], "PUT");
    assert!(
        port_row["summary"].is_null()
            || port_row["summary"]
                .as_str()
                .unwrap()
                .contains("free_storage")
    );
    assert_eq!(rows[2]["event"], "push");
    assert_eq!(rows[0]["attempts"], 0);

    // the table: a header, one line per delivery
    let out = f.run(&["list"]).expect_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(lines[0].starts_with("id"));
    assert!(lines[2].starts_with("port000001") && lines[2].contains("INVALID"));
    assert!(lines[2].contains("503"), "{}", lines[2]);
    let out = f.run(&["list", "--status", "404"]).expect_ok();
    assert_eq!(out.stdout.trim(), "no deliveries match");

    // bad filters are clear errors
    let out = f.run(&["list", "--status", "6xx"]);
    assert!(!out.ok() && out.stderr.contains("--status 6xx"), "{out:#?}");
    let out = f.run(&["list", "--verification", "sorta"]);
    assert!(
        !out.ok() && out.stderr.contains("unknown outcome"),
        "{out:#?}"
    );
}

#[test]
fn a_missing_store_is_a_clear_error_and_is_not_created() {
    let f = Fixture::new();
    let out = f.run(&["list"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("no store at"), "{out:#?}");
    assert!(!f.store.exists());
}

#[test]
fn a_file_that_is_not_a_store_is_a_clear_error() {
    let f = Fixture::new();
    std::fs::write(
        &f.store,
        "not a database, just some text that is long enough to be a header\n".repeat(4),
    )
    .unwrap();
    let out = f.run(&["list"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("is not a hookrelay store"), "{out:#?}");
    assert_eq!(out.stderr.matches("not a database").count(), 0, "{out:#?}");
}

// ---- show ----

#[test]
fn show_prints_headers_and_body_and_escapes_terminal_sequences() {
    let f = Fixture::new();
    let evil = b"line one\n\x1b[2J\x1b]0;owned\x07 line two\r\nend";
    let mut d = delivery(
        "evil000001",
        now_ms(),
        request(
            "POST",
            "/p\x1b[31m",
            &[("content-type", "text/plain"), ("x-trick", "a\x1b[1mb")],
            evil,
        ),
    );
    d.attempts = vec![response_attempt("http://127.0.0.1:9/p", 200, now_ms())];
    let json = delivery(
        "json000001",
        now_ms(),
        request(
            "POST",
            "/j",
            &[("content-type", "application/json")],
            br#"{"a":1,"b":{"c":"\u001b[31mred"}}"#,
        ),
    );
    f.seed(&[d, json]);

    let out = f.run(&["show", "evil000001"]).expect_ok();
    let s = &out.stdout;
    assert!(!s.contains('\x1b') && !s.contains('\x07'), "{s:?}");
    assert!(s.contains("x-trick: a^[[1mb"), "{s}");
    assert!(s.contains("content-type: text/plain"), "{s}");
    assert!(s.contains("POST /p^[[31m"), "{s}");
    // the body keeps its lines; the CR before the LF is shown
    assert!(s.contains("\n    line one\n"), "{s}");
    assert!(s.contains("^[[2J^[]0;owned^G line two^M\n    end"), "{s}");
    assert!(s.contains("attempts (1)"), "{s}");

    let out = f.run(&["show", "json0"]).expect_ok();
    let s = &out.stdout;
    assert!(!s.contains('\x1b'), "{s:?}");
    // pretty-printed, one member per line
    assert!(s.contains("\n      \"a\": 1,\n"), "{s}");
    assert!(s.contains("\\u001b[31mred"), "{s}");

    let out = f.run(&["show", "json000001", "--json"]).expect_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["id"], "json000001");
}

// ---- ids ----

#[test]
fn ids_by_unique_prefix_and_clear_errors_for_unknown_or_ambiguous_ones() {
    let f = Fixture::new();
    let mk = |id: &str| delivery(id, now_ms(), request("POST", "/", &[], b"x"));
    f.seed(&[mk("abcde23456"), mk("abcdz99999"), mk("qrs2222222")]);

    let out = f.run(&["show", "abcde"]).expect_ok();
    assert!(out.stdout.starts_with("delivery abcde23456"), "{out:#?}");
    let out = f.run(&["show", "qrs2"]).expect_ok();
    assert!(out.stdout.starts_with("delivery qrs2222222"), "{out:#?}");
    // a prefix of one to three characters matches by accident: refused, whatever it matches
    for cmd in [
        vec!["show", "q"],
        vec!["show", "qrs"],
        vec!["replay", "q", "--target", "http://127.0.0.1:9/"],
        vec!["export", "qr", "--json"],
        vec!["diff", "qrs2", "q"],
    ] {
        let out = f.run(&cmd);
        assert!(!out.ok(), "{cmd:?}: {out:#?}");
        assert!(
            out.stderr.contains("too short") && out.stderr.contains("at least 4"),
            "{cmd:?}: {out:#?}"
        );
    }

    for cmd in [
        vec!["show", "abcd"],
        vec!["export", "abcd", "--json"],
        vec!["diff", "abcd"],
        vec!["replay", "abcd", "--target", "http://127.0.0.1:9/"],
    ] {
        let out = f.run(&cmd);
        assert!(!out.ok(), "{cmd:?}: {out:#?}");
        assert!(out.stderr.contains("matches several"), "{cmd:?}: {out:#?}");
        assert!(
            out.stderr.contains("abcde23456") && out.stderr.contains("abcdz99999"),
            "{cmd:?}: {out:#?}"
        );
        assert!(!out.stderr.contains("panicked"), "{out:#?}");
    }
    for id in ["nope", "abcdf", "ABCDE"] {
        let out = f.run(&["show", id]);
        assert!(!out.ok());
        assert!(
            out.stderr
                .contains(&format!("no delivery with id \"{id}\"")),
            "{out:#?}"
        );
    }
}

// ---- export ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_curl_command_reproduces_the_request_with_real_curl() {
    let f = Fixture::new();
    let target = Recorder::start().await;
    let tricky: &[u8] = b"{\"q\":\"it's $(touch /tmp/pwned) `id` \\\"quoted\\\" %s\",\n \"n\":1}\n";
    let mut text = request(
        "PATCH",
        "/sub/path",
        &[
            ("content-type", "application/json"),
            ("x-quote", "it's \"$HOME\""),
            ("x-repeat", "one"),
            ("x-repeat", "two"),
        ],
        tricky,
    );
    text.query = "a=1&a=2&b=%20x".into();
    let mut d = delivery("curl000001", now_ms(), text);
    // forwarded before to the recorder: the default target of the export
    d.attempts = vec![response_attempt(
        &target.url("/hook/sub/path?a=1&a=2&b=%20x"),
        200,
        now_ms(),
    )];
    let binary: Vec<u8> = (0u8..=255).chain([0, 0, b'\n', b'\'']).collect();
    let bin = delivery(
        "bin0000001",
        now_ms(),
        request(
            "POST",
            "/bin",
            &[("content-type", "application/octet-stream")],
            &binary,
        ),
    );
    f.seed(&[d, bin]);

    // bash: the command quotes control and bidi characters ANSI-C style (`$'…'`).
    let sh = |cmd: String| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(&cmd)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };

    // no --target: where it was forwarded
    let out = f
        .run_async(&["export", "curl0", "--curl"], &[])
        .await
        .expect_ok();
    let res = sh(out.stdout.clone()).await;
    assert!(res.status.success(), "{out:#?} {res:?}");
    let got = target.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(&got[0].body[..], tricky);
    assert_eq!(got[0].method, "PATCH");
    assert_eq!(got[0].path, "/hook/sub/path");
    assert_eq!(got[0].query.as_deref(), Some("a=1&a=2&b=%20x"));
    assert_eq!(got[0].header("x-quote"), Some("it's \"$HOME\""));
    let repeats: Vec<&str> = got[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "x-repeat")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(repeats, ["one", "two"]);
    assert_eq!(got[0].header("user-agent"), None, "curl added its own");
    assert!(!Path::new("/tmp/pwned").exists());

    // --target, and a binary body through printf
    let base = target.url("/elsewhere");
    let out = f
        .run_async(&["export", "bin0000001", "--curl", "--target", &base], &[])
        .await
        .expect_ok();
    let res = sh(out.stdout.clone()).await;
    assert!(res.status.success(), "{out:#?} {res:?}");
    let got = target.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(&got[1].body[..], &binary[..]);
    assert_eq!(got[1].path, "/elsewhere/bin");

    // --json and --har are JSON, with the body and the attempts
    let out = f.run(&["export", "curl000001", "--json"]).expect_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json is JSON");
    assert_eq!(v["id"], "curl000001");
    assert!(out.stdout.contains("PATCH"));
    let out = f.run(&["export", "curl000001", "--har"]).expect_ok();
    let har: serde_json::Value = serde_json::from_str(&out.stdout).expect("--har is JSON");
    assert_eq!(har["log"]["version"], "1.2");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["request"]["method"], "PATCH");
    assert_eq!(entries[0]["response"]["status"], 200);
    let out = f.run(&["export", "curl000001"]);
    assert!(!out.ok(), "a format is required: {out:#?}");
}

// ---- prune ----

#[test]
fn prune_keeps_the_newest_and_drops_the_old() {
    let f = Fixture::new();
    let now = now_ms();
    let hour = 3_600_000;
    let ds: Vec<Delivery> = (0..6)
        .map(|i| {
            let mut d = delivery(
                &format!("prune0000{i}"),
                now - i * hour - 1000,
                request("POST", "/", &[], b"x"),
            );
            d.attempts = vec![response_attempt("http://127.0.0.1:9/", 200, now)];
            d
        })
        .collect();
    f.seed(&ds);

    let out = f.run(&["prune", "--older-than", "150m"]).expect_ok();
    assert_eq!(out.stdout.trim(), "deleted 3 deliveries");
    assert_eq!(f.list_ids(&[]), ["prune00000", "prune00001", "prune00002"]);
    let out = f.run(&["prune", "--keep", "1"]).expect_ok();
    assert_eq!(out.stdout.trim(), "deleted 2 deliveries");
    assert_eq!(f.list_ids(&[]), ["prune00000"]);
    let out = f.run(&["prune", "--keep", "1"]).expect_ok();
    assert_eq!(out.stdout.trim(), "deleted 0 deliveries");
    // attempts went with their deliveries
    let conn = rusqlite::Connection::open(&f.store).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let out = f.run(&["prune"]);
    assert!(!out.ok(), "prune needs --keep or --older-than");
}

// ---- diff ----

#[test]
fn diff_of_a_port_event_and_of_two_deliveries() {
    let f = Fixture::new();
    let port = delivery(
        "diffport01",
        now_ms(),
        request(
            "POST",
            "/",
            &[("content-type", "application/json")],
            &fixture_bytes("03-changelog-entity-update-healthstatus.json"),
        ),
    );
    let a = delivery(
        "diffa00001",
        now_ms(),
        request(
            "POST",
            "/",
            &[("x-env", "dev"), ("x-same", "1")],
            br#"{"n":1,"keep":true}"#,
        ),
    );
    let b = delivery(
        "diffb00001",
        now_ms(),
        request(
            "POST",
            "/",
            &[("x-env", "prod"), ("x-same", "1")],
            br#"{"n":2,"keep":true}"#,
        ),
    );
    let text = delivery("difft00001", now_ms(), request("POST", "/", &[], b"plain"));
    f.seed(&[port, a, b, text]);

    let out = f.run(&["diff", "diffport01"]).expect_ok();
    assert!(out.stdout.contains("healthStatus"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Healthy") && out.stdout.contains("Degraded"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains('\x1b'), "colour only on a terminal");

    let out = f.run(&["diff", "diffa", "diffb"]).expect_ok();
    let s = &out.stdout;
    assert!(s.starts_with("diffa00001 -> diffb00001"), "{s}");
    assert!(s.contains("n: 1 -> 2"), "{s}");
    assert!(s.contains("x-env: \"dev\" -> \"prod\""), "{s}");
    assert!(!s.contains("keep") && !s.contains("x-same"), "{s}");

    let out = f.run(&["diff", "difft00001", "difft00001"]).expect_ok();
    assert!(out.stdout.contains("identical bytes"), "{}", out.stdout);

    let out = f.run(&["diff", "difft00001"]);
    assert!(!out.ok());
    assert!(out.stderr.contains("not a Port event"), "{out:#?}");
}
