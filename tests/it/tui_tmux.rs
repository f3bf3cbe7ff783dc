//! End to end: the real `hookrelay` binary, its terminal UI driven in tmux (a real terminal
//! emulator), a real target and the real `curl`.
//!
//! `forward` with no channel URL starts the embedded relay; a Port-signed event POSTed with curl
//! must show in the list with a valid badge and the target's status, reach the target with the
//! same bytes, replay on `r` (marked `x-hookrelay-replay-of`), copy on `c` (fallback file), and
//! `q` must exit and give the terminal back (primary screen, cursor shown, no mouse capture).
//! Without a terminal the UI must never be attempted.
//!
//! Needs `tmux` and `curl`; prints `SKIP` and passes without them (CI installs both).

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Recorder;

/// Longest wait for anything on screen.
const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "tmux-test-secret";
const BIN: &str = env!("CARGO_BIN_EXE_hookrelay");

/// Whether every tool is here (or the test skips, or fails under `CI=true`).
fn tools(names: &[&str]) -> bool {
    names.iter().all(|t| have(t))
}

/// tmux answers `-V`, curl `--version`.
fn have(tool: &str) -> bool {
    let flag = if tool == "tmux" { "-V" } else { "--version" };
    crate::common::tool_present(crate::common::runs(tool, flag), tool)
}

/// A tmux server of our own (its own socket, no user config) running one session; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    const TARGET: &'static str = "hr:0.0";

    /// Start a detached `w`×`h` session running `shell_cmd`, with a config written to `dir`.
    fn start(dir: &Path, w: u16, h: u16, shell_cmd: &str) -> Tmux {
        let conf = dir.join("tmux.conf");
        std::fs::write(
            &conf,
            // remain-on-exit: a pane that dies early can still be read.
            // set-clipboard on: tmux takes OSC 52 from the program (into a paste buffer).
            "set -g status off\nset -g remain-on-exit on\nset -g set-clipboard on\n\
             set -g default-terminal tmux-256color\nset -g history-limit 1000\n",
        )
        .unwrap();
        let t = Tmux {
            // unique per session: tests run in parallel in one process
            socket: {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("hookrelay-test-{}-{n}-{w}x{h}", std::process::id())
            },
        };
        let out = Command::new("tmux")
            .args(["-L", &t.socket, "-f"])
            .arg(&conf)
            .args(["new-session", "-d", "-s", "hr", "-x"])
            .arg(w.to_string())
            .arg("-y")
            .arg(h.to_string())
            .arg(shell_cmd)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// The visible screen as text.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", Self::TARGET]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format (`#{pane_dead}`, ...) for the pane.
    fn display(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", Self::TARGET, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", Self::TARGET];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Send bytes as typed (for mouse reports).
    fn type_raw(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", Self::TARGET, "-l", text]);
        assert!(out.status.success(), "send-keys -l: {out:?}");
    }

    /// Poll the screen until `ok` holds; panic with the last screen after [`WAIT`].
    async fn wait_screen(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + WAIT;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The shell command that runs hookrelay in a clean environment rooted in `home`.
fn hookrelay_cmd(home: &Path, target: &str, extra_env: &[&str]) -> String {
    hookrelay_cmd_args(home, target, extra_env, &[])
}

/// [`hookrelay_cmd`] with more `forward` arguments (e.g. a channel URL).
fn hookrelay_cmd_args(home: &Path, target: &str, extra_env: &[&str], args: &[&str]) -> String {
    let q = |p: &Path| shlex::try_quote(p.to_str().unwrap()).unwrap().into_owned();
    let mut env = vec![
        "env".to_string(),
        "-u HOOKRELAY_STORE -u HOOKRELAY_LOG -u RUST_LOG -u NO_COLOR".into(),
        format!("HOME={}", q(home)),
        format!("XDG_DATA_HOME={}", q(&home.join("data"))),
        format!("XDG_CACHE_HOME={}", q(&home.join("cache"))),
        "TERM=xterm-256color".into(),
    ];
    env.extend(extra_env.iter().map(|s| s.to_string()));
    // After hookrelay, the shell says how it ended and what state the terminal is in, then
    // stays (a dead pane tells nothing about the cursor).
    format!(
        "{} {} forward --target {} --secret port={SECRET} --store {} {}; \
         echo \"hookrelay exited with $?\"; \
         for f in icanon echo isig; do \
           if stty -a | grep -qw -- \"-$f\"; then echo \"tty: $f off\"; else echo \"tty: $f on\"; fi; \
         done; exec sleep 600",
        env.join(" "),
        q(Path::new(BIN)),
        shlex::try_quote(target).unwrap(),
        q(&home.join("s.sqlite")),
        args.iter()
            .map(|a| shlex::try_quote(a).unwrap().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// After `q`: hookrelay exited with 0 and the terminal is as a shell expects it.
async fn assert_quit_and_restored(tmux: &Tmux) -> String {
    tmux.keys(&["q"]);
    assert_exited_and_restored(tmux).await
}

/// hookrelay exited with 0 and the terminal is as a shell expects it.
async fn assert_exited_and_restored(tmux: &Tmux) -> String {
    let screen = tmux
        .wait_screen("hookrelay to exit", |s| s.contains("tty: isig"))
        .await;
    assert!(screen.contains("hookrelay exited with 0"), "{screen}");
    // Raw mode is off: line editing, echo and signals are back.
    for f in ["icanon", "echo", "isig"] {
        assert!(screen.contains(&format!("tty: {f} on")), "{f}:\n{screen}");
    }
    assert_eq!(tmux.display("#{alternate_on}"), "0", "primary screen");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor visible");
    assert_eq!(tmux.display("#{mouse_any_flag}"), "0", "mouse capture off");
    assert_eq!(tmux.display("#{mouse_sgr_flag}"), "0", "SGR mouse off");
    assert!(
        screen.contains("hookrelay: send webhooks to: "),
        "the shell's screen (what was printed before the UI) is back:\n{screen}"
    );
    assert!(!screen.contains("1 Request"), "no UI left over:\n{screen}");
    screen
}

/// The channel URL from the header (`● connected  http://127.0.0.1:PORT/CHANNEL`).
fn channel_url(screen: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains("● connected"))?;
    let at = line.find("http://")?;
    Some(line[at..].split_whitespace().next()?.to_string())
}

/// The selected delivery's id, from the detail pane's title (`... 5 Slack  <id> ───`).
fn selected_id(screen: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains("1 Request"))?;
    let rest = &line[line.find("5 Slack")? + "5 Slack".len()..];
    let id = rest.split_whitespace().next()?;
    (!id.starts_with('─')).then(|| id.to_string())
}

/// The compact Port changelog body and its signature headers, signed now.
fn signed_port_event() -> (Vec<u8>, String, String) {
    let pretty = std::fs::read(common::fixture("port/01-changelog-entity-update.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&pretty).unwrap();
    let body = serde_json::to_vec(&v).unwrap();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sig = hookrelay::verify::sign_port(SECRET, &ts, &body);
    (body, ts, sig)
}

/// POST `body_file` with the real curl; returns the HTTP status the relay answered.
fn curl_post(url: &str, body_file: &Path, headers: &[String]) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    cmd.arg("--data-binary")
        .arg(format!("@{}", body_file.display()))
        .arg(url);
    let out = cmd.output().expect("run curl");
    assert!(out.status.success(), "curl: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_ui_in_tmux_receive_replay_copy_quit() {
    if !have("tmux") || !have("curl") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let target = Recorder::start().await;
    target.script(&[202, 202]);
    let tmux = Tmux::start(
        home.path(),
        120,
        32,
        &hookrelay_cmd(home.path(), &target.url("/hook"), &[]),
    );

    // The UI comes up on the alternate screen, connected to the embedded relay.
    let screen = tmux
        .wait_screen("the header to say connected", |s| channel_url(s).is_some())
        .await;
    assert_eq!(tmux.display("#{alternate_on}"), "1", "{screen}");
    let url = channel_url(&screen).unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(screen.contains("No deliveries yet"), "{screen}");

    // A Port-signed changelog event, POSTed with curl.
    let (body, ts, sig) = signed_port_event();
    let body_file = home.path().join("body.json");
    std::fs::write(&body_file, &body).unwrap();
    let status = curl_post(
        &url,
        &body_file,
        &[
            "content-type: application/json".into(),
            format!("x-port-timestamp: {ts}"),
            format!("x-port-signature: {sig}"),
        ],
    );
    assert_eq!(status, "200", "the relay accepts the webhook");

    let screen = tmux
        .wait_screen("the row with a valid badge and status 202", |s| {
            s.lines()
                .any(|l| l.contains("✓ valid") && l.contains(" 202 "))
        })
        .await;
    let row = screen.lines().find(|l| l.contains("✓ valid")).unwrap();
    assert!(
        row.contains("POST") && row.contains("UPDATE entity"),
        "{row}"
    );
    assert!(
        screen.contains("received 1 · ok 1 · failed 0 · bad sig 0"),
        "{screen}"
    );
    let got = target.wait_for(1, WAIT).await;
    assert_eq!(got[0].body, body, "the target got the exact bytes");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].header("x-port-signature"), Some(sig.as_str()));
    assert_eq!(got[0].header("x-hookrelay-replay-of"), None);
    let id = selected_id(&screen).unwrap_or_else(|| panic!("no delivery id:\n{screen}"));

    // r replays; the Response tab shows the replay attempt and the target sees it marked.
    tmux.keys(&["r"]);
    let got = target.wait_for(2, WAIT).await;
    assert_eq!(got[1].body, body);
    assert_eq!(got[1].header("x-hookrelay-replay-of"), Some(id.as_str()));
    tmux.keys(&["2"]);
    let screen = tmux
        .wait_screen("the replay attempt in the Response tab", |s| {
            s.lines()
                .any(|l| l.contains("#2 replay 202") && l.contains(&target.url("/hook")))
        })
        .await;
    assert!(screen.contains("#1 forward 202"), "{screen}");
    // Newest first, without zooming: the replay is the first line of the tab, the list still
    // shows, and the target URL is whole on its line.
    let lines: Vec<&str> = screen.lines().collect();
    let tab = lines.iter().position(|l| l.contains("1 Request")).unwrap();
    assert!(
        lines[tab + 1].contains("#2 replay 202") && lines[tab + 1].contains(&target.url("/hook")),
        "{screen}"
    );
    let forward_at = lines.iter().position(|l| l.contains("#1 forward 202"));
    assert!(forward_at.is_some_and(|at| at > tab + 1), "{screen}");
    let row = screen.lines().find(|l| l.contains("✓ valid")).unwrap();
    assert!(
        row.contains("202 ×2"),
        "the row counts both attempts: {row}"
    );
    // The status line reports the replay's result, not "replaying" forever.
    let footer = screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        footer.contains(&format!("replayed {id}")) && footer.contains("202"),
        "{screen}"
    );

    // c copies the curl command: tmux takes the OSC 52, and the fallback file is written.
    tmux.keys(&["c"]);
    let clip = home.path().join("cache/hookrelay/clipboard");
    let screen = tmux
        .wait_screen("the copy message", |s| s.contains("curl command"))
        .await;
    assert!(
        screen.contains(&clip.display().to_string()),
        "the status says where the file is:\n{screen}"
    );
    let copied = std::fs::read_to_string(&clip).unwrap();
    assert!(
        copied.starts_with("curl \\\n  -sS \\\n")
            && copied.contains(&format!("-X 'POST' \\\n  '{}'", target.url("/hook"))),
        "{copied}"
    );
    assert!(
        copied.contains(&format!("x-port-signature: {sig}")),
        "{copied}"
    );
    let buffer = tmux.run(&["show-buffer"]);
    assert_eq!(
        String::from_utf8_lossy(&buffer.stdout),
        copied,
        "tmux got the same text through OSC 52"
    );

    // q quits and gives the terminal back.
    assert_quit_and_restored(&tmux).await;
    let log = home.path().join("data/hookrelay/hookrelay.log");
    assert!(log.exists(), "the log went to the file while the UI was up");
    {
        // It names the channel URL: owner-only, in an owner-only directory.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(log.parent().unwrap()), 0o700);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_mono_ui_filter_help_and_wheel() {
    if !have("tmux") || !have("curl") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let target = Recorder::start().await;
    let tmux = Tmux::start(
        home.path(),
        80,
        24,
        &hookrelay_cmd(home.path(), &target.url("/hook"), &["NO_COLOR=1"]),
    );
    let screen = tmux
        .wait_screen("connected", |s| channel_url(s).is_some())
        .await;
    let url = channel_url(&screen).unwrap();
    let body_file = home.path().join("b.json");
    for i in 0..12 {
        std::fs::write(&body_file, format!("{{\"n\":{i}}}")).unwrap();
        let status = curl_post(
            &format!("{url}/p{i}"),
            &body_file,
            &["x-github-event: push".into()],
        );
        assert_eq!(status, "200");
    }
    let screen = tmux
        .wait_screen("12 deliveries", |s| s.contains("received 12 · ok 12"))
        .await;
    for line in screen.lines() {
        assert!(line.chars().count() <= 80, "fits 80 columns: {line}");
    }
    assert!(screen.contains("/p11"), "follows the newest:\n{screen}");
    // NO_COLOR: no colour at all on screen (capture-pane -e keeps the attributes).
    let styled = tmux.run(&["capture-pane", "-p", "-e", "-t", Tmux::TARGET]);
    let styled = String::from_utf8_lossy(&styled.stdout);
    assert!(
        styled.contains('\x1b'),
        "attributes are captured: {styled:?}"
    );
    let colours = sgr_colours(&styled);
    assert!(colours.is_empty(), "colours with NO_COLOR: {colours:?}");

    // The wheel over the list moves the selection; over the detail pane it scrolls the detail.
    let sel = selected_id(&screen).unwrap();
    tmux.type_raw("\x1b[<64;10;8M"); // wheel up, list area (1-based column 10, row 8)
    let screen = tmux
        .wait_screen("the selection to move up", |s| {
            selected_id(s).is_some_and(|id| id != sel)
        })
        .await;
    assert!(!screen.contains("following"), "paused:\n{screen}");
    let sel = selected_id(&screen).unwrap();
    let before: Vec<String> = screen.lines().skip(12).map(str::to_string).collect();
    tmux.type_raw("\x1b[<65;10;20M"); // wheel down, detail area
    let screen = tmux
        .wait_screen("the detail to scroll", |s| {
            s.lines().skip(12).map(str::to_string).collect::<Vec<_>>() != before
        })
        .await;
    assert_eq!(selected_id(&screen).unwrap(), sel, "the selection stays");

    // / filters as you type.
    tmux.keys(&["/"]);
    tmux.type_raw("/p3");
    let screen = tmux.wait_screen("the filter", |s| s.contains("1/12")).await;
    assert!(screen.contains("POST   /p3"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the filter cleared", |s| s.contains("Deliveries 12"))
        .await;

    // ? shows the keys; Esc closes it.
    tmux.keys(&["?"]);
    tmux.wait_screen("help", |s| {
        s.contains("Keys (Esc closes)") && s.contains("quit")
    })
    .await;
    tmux.keys(&["Escape"]);
    tmux.wait_screen("help closed", |s| !s.contains("Keys (Esc closes)"))
        .await;

    assert_quit_and_restored(&tmux).await;
}

/// Read lines from a child's pipe on a thread.
fn line_reader(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait for a line satisfying `ok`; returns it and every line seen.
fn wait_line(
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    ok: impl Fn(&str) -> bool,
) -> String {
    crate::cli_support::wait_on(rx, seen, ok, WAIT, "output")
}

/// Without a terminal (stdout piped) `forward` logs plain lines and never draws the UI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tty_no_ui_plain_and_json_lines() {
    if !have("curl") {
        return;
    }
    for json in [false, true] {
        let home = tempfile::tempdir().unwrap();
        let target = Recorder::start().await;
        target.script(&[202]);
        let mut cmd = Command::new(BIN);
        cmd.args(["forward", "--target", &target.url("/hook")])
            .arg("--secret")
            .arg(format!("port={SECRET}"))
            .arg("--store")
            .arg(home.path().join("s.sqlite"))
            .env_remove("HOOKRELAY_STORE")
            .env_remove("NO_COLOR")
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if json {
            cmd.arg("--json");
        }
        let mut child = ChildGuard(cmd.spawn().unwrap());
        let out = line_reader(child.0.stdout.take().unwrap());
        let err = line_reader(child.0.stderr.take().unwrap());
        let (mut out_seen, mut err_seen) = (vec![], vec![]);
        let line = wait_line(&err, &mut err_seen, |l| l.contains("send webhooks to: "));
        let url = line.rsplit(' ').next().unwrap().to_string();
        // A new subscriber gets what is posted after it connects.
        wait_line(&out, &mut out_seen, |l| l.contains("connected"));
        let (body, ts, sig) = signed_port_event();
        let body_file = home.path().join("body.json");
        std::fs::write(&body_file, &body).unwrap();
        let status = curl_post(
            &url,
            &body_file,
            &[
                format!("x-port-timestamp: {ts}"),
                format!("x-port-signature: {sig}"),
            ],
        );
        assert_eq!(status, "200");
        let line = wait_line(&out, &mut out_seen, |l| l.contains("202"));
        if json {
            // the first line says what the session is, channel URL included
            let session: serde_json::Value = serde_json::from_str(&out_seen[0]).unwrap();
            assert_eq!(session["type"], "session", "{out_seen:?}");
            assert_eq!(session["channel"], url.as_str(), "{out_seen:?}");
            assert_eq!(session["target"], target.url("/hook").as_str());
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(v.is_object(), "{line}");
        }
        assert_eq!(target.wait_for(1, WAIT).await[0].body, body);
        child.stop();
        let status = child.0.wait().unwrap();
        assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
        // Drain what is left, then look for any escape sequence.
        out_seen.extend(out.iter());
        err_seen.extend(err.iter());
        for l in out_seen.iter().chain(&err_seen) {
            assert!(
                !l.contains('\x1b'),
                "an escape sequence without a TTY: {l:?}"
            );
        }
        // one human format on the terminal: tracing's own lines go to the log file
        assert!(
            home.path().join("data/hookrelay/hookrelay.log").exists(),
            "without the UI, tracing's lines go to hookrelay.log"
        );
        for l in &err_seen {
            let level = l.split_whitespace().nth(1).unwrap_or("");
            assert!(
                !["DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
                "a tracing line on stderr: {l:?}"
            );
        }
    }
}

/// Kills the child (by its pid) if the test fails before it is stopped.
struct ChildGuard(std::process::Child);

impl ChildGuard {
    /// SIGTERM, the way a service manager stops it.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Colour parameters (foreground or background) among the SGR sequences of `text`.
fn sgr_colours(text: &str) -> Vec<String> {
    let mut found = vec![];
    for part in text.split("\x1b[").skip(1) {
        let Some(end) = part.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':')) else {
            continue;
        };
        if !part[end..].starts_with('m') {
            continue;
        }
        let params: Vec<&str> = part[..end].split([';', ':']).collect();
        let mut i = 0;
        while i < params.len() {
            let n: u32 = params[i].parse().unwrap_or(0);
            match n {
                30..=37 | 40..=47 | 90..=97 | 100..=107 => found.push(params[i].to_string()),
                38 | 48 => {
                    found.push(part[..end].to_string());
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    found
}

/// The pid of the hookrelay process running in the pane (a child of the pane's shell).
async fn hookrelay_pid(tmux: &Tmux) -> String {
    let shell = tmux.display("#{pane_pid}");
    let end = Instant::now() + WAIT;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        for pid in children.split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "hookrelay" {
                return pid.to_string();
            }
        }
        assert!(
            Instant::now() < end,
            "no hookrelay under the pane's shell {shell}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `e` runs $EDITOR (a script that rewrites the body) with the UI's input reader suspended,
/// then the UI comes back (no "cursor position could not be read", no exit), keys work again,
/// and the edited body reaches the target as a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_and_replay_comes_back_to_the_ui() {
    if !tools(&["tmux", "curl"]) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let editor = home.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf '%s' '{\"edited\":true}' > \"$1\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let target = Recorder::start().await;
    let editor_env = format!(
        "EDITOR={}",
        shlex::try_quote(editor.to_str().unwrap()).unwrap()
    );
    let tmux = Tmux::start(
        home.path(),
        120,
        32,
        &hookrelay_cmd(
            home.path(),
            &target.url("/hook"),
            &["VISUAL=", editor_env.as_str()],
        ),
    );
    let screen = tmux
        .wait_screen("connected", |s| channel_url(s).is_some())
        .await;
    let url = channel_url(&screen).unwrap();
    let body_file = home.path().join("b.json");
    std::fs::write(&body_file, r#"{"original":1}"#).unwrap();
    let status = curl_post(&url, &body_file, &["content-type: application/json".into()]);
    assert_eq!(status, "200");
    let got = target.wait_for(1, WAIT).await;
    assert_eq!(&got[0].body[..], br#"{"original":1}"#);
    let screen = tmux
        .wait_screen("the delivery", |s| selected_id(s).is_some())
        .await;
    let id = selected_id(&screen).unwrap();

    tmux.keys(&["e"]);
    let got = target.wait_for(2, WAIT).await;
    assert_eq!(
        &got[1].body[..],
        br#"{"edited":true}"#,
        "the edited body is sent"
    );
    assert_eq!(got[1].header("x-hookrelay-replay-of"), Some(id.as_str()));
    let screen = tmux
        .wait_screen("the UI back, with the replay's result", |s| {
            s.contains("1 Request") && s.contains(&format!("replayed {id}"))
        })
        .await;
    assert!(!screen.contains("hookrelay exited"), "{screen}");
    assert!(!screen.contains("cursor position"), "{screen}");
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "still on the UI's screen"
    );
    // keys reach the UI again
    tmux.keys(&["?"]);
    tmux.wait_screen("help", |s| s.contains("Keys (Esc closes)"))
        .await;
    tmux.keys(&["Escape"]);
    tmux.wait_screen("help closed", |s| !s.contains("Keys (Esc closes)"))
        .await;
    assert_quit_and_restored(&tmux).await;
}

/// SIGTERM and SIGHUP end the UI the way `q` does: exit 0, terminal restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_restore_the_terminal() {
    if !tools(&["tmux"]) {
        return;
    }
    for signal in ["TERM", "HUP"] {
        let home = tempfile::tempdir().unwrap();
        let target = Recorder::start().await;
        let tmux = Tmux::start(
            home.path(),
            100,
            30,
            &hookrelay_cmd(home.path(), &target.url("/hook"), &[]),
        );
        tmux.wait_screen("connected", |s| channel_url(s).is_some())
            .await;
        assert_eq!(tmux.display("#{alternate_on}"), "1");
        let pid = hookrelay_pid(&tmux).await;
        let out = Command::new("kill")
            .args([&format!("-{signal}"), pid.as_str()])
            .output()
            .unwrap();
        assert!(out.status.success(), "kill -{signal}: {out:?}");
        let screen = assert_exited_and_restored(&tmux).await;
        assert!(!screen.contains("Error"), "SIG{signal}:\n{screen}");
    }
}

/// A channel the relay does not have (404 on the first connection): the UI ends with the
/// reason, exit status 1, and the terminal restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_channel_ends_the_ui_with_its_reason() {
    if !tools(&["tmux"]) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let target = Recorder::start().await;
    // a "relay" that answers 404 to everything
    let relay = Recorder::start().await;
    relay.script(&[404; 100]);
    let channel = relay.url("/no-such-channel");
    let tmux = Tmux::start(
        home.path(),
        150,
        30,
        &hookrelay_cmd_args(home.path(), &target.url("/hook"), &[], &["--url", &channel]),
    );
    let screen = tmux
        .wait_screen("hookrelay to exit", |s| s.contains("tty: isig"))
        .await;
    assert!(screen.contains("hookrelay exited with 1"), "{screen}");
    let flat = screen.replace('\n', "");
    assert!(
        flat.contains(&format!(
            "the relay has no channel {channel} (HTTP 404): check the URL"
        )),
        "{screen}"
    );
    for f in ["icanon", "echo", "isig"] {
        assert!(screen.contains(&format!("tty: {f} on")), "{f}:\n{screen}");
    }
    assert_eq!(tmux.display("#{alternate_on}"), "0", "primary screen");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor visible");
    assert_eq!(relay.received().len(), 1, "no retry");
}
