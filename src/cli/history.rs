//! The history commands: `list`, `show`, `replay`, `export`, `prune`, `diff`.
//! Everything printed from a payload goes through the one sanitizer.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::{StoreOpts, VerifyOpts};
use crate::delivery::{AttemptOutcome, Delivery, WebhookRequest, now_ms};
use crate::forward::{Forwarder, REPLAY_HEADER, Target};
use crate::logline::{human_size, outcome_word};
use crate::sanitize::{display_safe, display_safe_bounded};
use crate::store::{ListFilter, StatusFilter, Store};
use crate::verify::Outcome;

/// The error is stdout closed by the reader (`hookrelay list | head`), not a failure.
pub(super) fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn open(store: &StoreOpts) -> anyhow::Result<Store> {
    let Some(path) = store.path() else {
        bail!("--no-store: there is no history to read");
    };
    if !path.exists() {
        bail!(
            "no store at {} yet: run `hookrelay forward` (or pass --store PATH)",
            path.display()
        );
    }
    Store::open(&path).with_context(|| format!("opening {}", path.display()))
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn parse_outcome(s: &str) -> anyhow::Result<Outcome> {
    let key = s.trim().to_ascii_lowercase().replace('-', "_");
    serde_json::from_value(serde_json::Value::String(key)).map_err(|_| {
        anyhow::anyhow!(
            "unknown outcome `{s}` (valid, invalid, stale, future, missing-header, malformed-header, no-secret, reserialized, unsigned)"
        )
    })
}

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// Only deliveries received within this long (`1h`, `7d`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    #[arg(long)]
    pub method: Option<String>,
    /// Path contains this.
    #[arg(long)]
    pub path: Option<String>,
    /// Event type contains this (`push`, `UPDATE entity`).
    #[arg(long)]
    pub event: Option<String>,
    /// Target status: a code (`404`), a class (`5xx`), or a state: `pending`, `delivering`,
    /// `delivered`, `failed` (given up), `held` (strict verification), `skipped`.
    #[arg(long)]
    pub status: Option<String>,
    /// Verification outcome (`valid`, `invalid`, `stale`, ...).
    #[arg(long)]
    pub verification: Option<String>,
    /// Free text over path, event and headers.
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// JSON lines.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreOpts,
}

pub fn list(a: ListArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let filter = ListFilter {
        since_ms: a.since.map(|d| now_ms() - d.as_millis() as i64),
        method: a.method.clone(),
        path_contains: a.path.clone(),
        event: a.event.clone(),
        status: match &a.status {
            Some(s) => Some(
                s.parse::<StatusFilter>()
                    .map_err(|e| anyhow::anyhow!("--status {s}: {e}"))?,
            ),
            None => None,
        },
        verification: a.verification.as_deref().map(parse_outcome).transpose()?,
        text: a.text.clone(),
    };
    let rows = store.list(&filter, a.limit)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &rows {
            let v = serde_json::json!({
                "id": r.id, "received_at_ms": r.received_at_ms, "method": r.method, "path": r.path,
                "query": r.query, "event": r.event, "summary": r.summary, "body_size": r.body_size,
                "verification": r.verification, "status": r.last_status, "error": r.last_error,
                "latency_ms": r.last_latency_ms, "attempts": r.attempts, "slack": r.slack,
                "state": r.state,
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no deliveries match")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10}  {:<19}  {:<6} {:<28} {:<16} {:<14} {:>6} {:>9}  summary",
        "id", "received", "method", "path", "event", "signature", "status", "latency"
    )?;
    for r in &rows {
        let mut path = if r.path.is_empty() {
            "/".to_string()
        } else {
            r.path.clone()
        };
        if !r.query.is_empty() {
            path = format!("{path}?{}", r.query);
        }
        let status = match (r.last_status, r.attempts) {
            (_, 0) => r.state.to_string(),
            (Some(s), _) => s.to_string(),
            (None, _) => "error".to_string(),
        };
        writeln!(
            out,
            "{:<10}  {:<19}  {:<6} {:<28} {:<16} {:<14} {:>6} {:>9}  {}",
            r.id,
            time(r.received_at_ms),
            display_safe_bounded(&r.method, 6),
            display_safe_bounded(&path, 28),
            display_safe_bounded(r.event.as_deref().unwrap_or("-"), 16),
            r.verification
                .as_ref()
                .map_or("-", |v| outcome_word(v.outcome)),
            status,
            r.last_latency_ms
                .map_or("-".into(), |l| format!("{l:.1} ms")),
            display_safe_bounded(r.summary.as_deref().unwrap_or(""), 100),
        )?;
    }
    Ok(())
}

#[derive(Debug, Args, Clone)]
pub struct ShowArgs {
    /// The delivery id (a unique prefix is enough).
    pub id: String,
    /// The whole delivery as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreOpts,
}

/// A body for reading: pretty JSON, text, or a note for binary.
fn body_text(body: &[u8], limit: usize) -> String {
    if body.is_empty() {
        return "(empty)".into();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
        return safe_lines(&pretty, limit);
    }
    match std::str::from_utf8(body) {
        Ok(t) => safe_lines(t, limit),
        Err(_) => format!(
            "({} of binary data; `hookrelay export ID --json` has it in base64)",
            human_size(body.len() as u64)
        ),
    }
}

/// At most `limit` characters of `text`, each line made safe on its own so the line breaks
/// stay line breaks (a CR, an ESC or any other control is still shown escaped).
fn safe_lines(text: &str, limit: usize) -> String {
    let (text, cut) = match text.char_indices().nth(limit) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    };
    let mut out = text
        .split('\n')
        .map(|l| display_safe(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if cut {
        out.push('…');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn show(a: ShowArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let d = store.get(&a.id)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", crate::export::json(&d))?;
        return Ok(());
    }
    let r = &d.request;
    writeln!(
        out,
        "delivery {}  received {}",
        d.id,
        time(d.received_at_ms)
    )?;
    writeln!(out, "channel  {}", display_safe(&d.channel))?;
    writeln!(
        out,
        "request  {} {}  ({})",
        display_safe(&r.method),
        display_safe(&r.path_and_query()),
        human_size(r.body.len() as u64)
    )?;
    if let crate::delivery::BodyOrigin::Reserialized { relay } = &d.origin {
        writeln!(
            out,
            "         body re-serialized by {relay}: not the sender's exact bytes"
        )?;
    }
    writeln!(out, "\nheaders")?;
    for (n, v) in &r.headers {
        writeln!(
            out,
            "    {}: {}",
            display_safe(n),
            display_safe_bounded(v, 2000)
        )?;
    }
    writeln!(out, "\nbody\n{}", indent(&body_text(&r.body, 64 << 10)))?;
    writeln!(out, "\nverification")?;
    match &d.verification {
        Some(v) => {
            let scheme = v.scheme.map_or("-".to_string(), |s| s.to_string());
            writeln!(
                out,
                "    {} ({scheme}): {}",
                outcome_word(v.outcome),
                display_safe(&v.reason)
            )?;
        }
        None => writeln!(out, "    not verified")?,
    }
    if let Some(ev) = crate::port::parse_bytes(&r.body) {
        writeln!(out, "\nport\n    {}", display_safe(&ev.summary()))?;
        let changes = crate::port::render::changes_plain(&ev.changes());
        writeln!(out, "{}", indent(&changes))?;
    }
    writeln!(out, "\nattempts ({})", d.attempts.len())?;
    for (i, at) in d.attempts.iter().enumerate() {
        let kind = if at.replay { "replay" } else { "forward" };
        match &at.outcome {
            AttemptOutcome::Response {
                status,
                headers,
                body,
                body_size,
            } => {
                writeln!(
                    out,
                    "  #{} {kind} {}  {} -> {status} in {:.1} ms ({})",
                    i + 1,
                    time(at.started_at_ms),
                    display_safe(&at.target),
                    at.latency_ms,
                    human_size(*body_size)
                )?;
                for (n, v) in headers {
                    writeln!(
                        out,
                        "      {}: {}",
                        display_safe(n),
                        display_safe_bounded(v, 500)
                    )?;
                }
                if !body.is_empty() {
                    writeln!(out, "{}", indent(&indent(&body_text(body, 16 << 10))))?;
                }
            }
            AttemptOutcome::Error { message, .. } => writeln!(
                out,
                "  #{} {kind} {}  {} -> error: {}",
                i + 1,
                time(at.started_at_ms),
                display_safe(&at.target),
                display_safe(message)
            )?,
        }
    }
    if let Some(s) = &d.slack {
        let verdict = if s.ok { "sent" } else { "FAILED" };
        writeln!(
            out,
            "\nslack\n    {verdict}: {}",
            display_safe(&s.explanation)
        )?;
    }
    Ok(())
}

#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// The delivery id (a unique prefix is enough).
    #[arg(required_unless_present = "pending", conflicts_with = "pending")]
    pub id: Option<String>,
    /// Send every pending delivery (those a `forward` run left behind), oldest first, as their
    /// first forward, to --target. Stops while the target is down; what is left stays pending.
    #[arg(long, requires = "target", conflicts_with_all = ["edit", "resign"])]
    pub pending: bool,
    /// With --pending: only deliveries of this channel URL.
    #[arg(long, requires = "pending")]
    pub channel: Option<String>,
    /// Where to send it (default: the URL the forward job sent it to, sub-path and query
    /// included; a replay to another --target does not change that).
    #[arg(long)]
    pub target: Option<String>,
    /// Sign it again with a current timestamp (needs the secret).
    #[arg(long)]
    pub resign: bool,
    /// Edit the body in $EDITOR first (re-signed when --resign).
    #[arg(long)]
    pub edit: bool,
    /// Do not mark the replay with `x-hookrelay-replay-of`.
    #[arg(long)]
    pub no_replay_header: bool,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: Duration,
    #[command(flatten)]
    pub verify: VerifyOpts,
    #[command(flatten)]
    pub store: StoreOpts,
}

pub async fn replay(a: ReplayArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let Some(id) = &a.id else {
        let target = Target::parse(a.target.as_deref().unwrap_or_default())?;
        return super::pending::send_pending(store, target, a.channel.clone(), a.timeout).await;
    };
    let d = store.get(id)?;
    let mut req = d.request.clone();
    let target = match &a.target {
        Some(t) => Target::parse(t)?,
        None => {
            let Some(origin) = previous_target(&d, &mut req)? else {
                bail!("{} was never forwarded: pass --target URL", d.id);
            };
            Target::parse(&origin)?
        }
    };
    if a.edit {
        req.body = edit_body(&req.body)?.into();
    }
    let verifier = a.verify.verifier()?;
    if a.resign {
        let schemes = verifier
            .resign(&mut req, now_ms())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let names: Vec<String> = schemes.iter().map(|s| s.to_string()).collect();
        eprintln!("re-signed now: {}", names.join(", "));
    } else if crate::verify::detect(&req).is_some() {
        let v = verifier.verify(&req, &d.origin, now_ms());
        eprintln!(
            "signature as it will arrive: {} ({}){}",
            outcome_word(v.outcome),
            display_safe(&v.reason),
            if matches!(v.outcome, Outcome::Stale | Outcome::Invalid) {
                "; --resign signs it again with a current timestamp"
            } else {
                ""
            }
        );
    }
    let extra = if a.no_replay_header {
        vec![]
    } else {
        vec![(REPLAY_HEADER.to_string(), d.id.clone())]
    };
    let attempt = Forwarder::new(a.timeout, 256 << 10)
        .send(&target, &req, &extra, true)
        .await;
    if let Err(e) = store.add_attempt(&d.id, &attempt) {
        eprintln!("warning: the replay was not recorded: {e}");
    }
    match &attempt.outcome {
        AttemptOutcome::Response { status, .. } => {
            writeln!(
                std::io::stdout().lock(),
                "{} replayed to {} -> {status} in {:.1} ms",
                d.id,
                display_safe(&attempt.target),
                attempt.latency_ms
            )?;
            Ok(())
        }
        AttemptOutcome::Error { message, .. } => {
            bail!(
                "{} replay to {} failed: {}",
                d.id,
                attempt.target,
                display_safe(message)
            )
        }
    }
}

/// Where the forward job sent `d`: the URL of its newest forwarding attempt (a replay to another
/// `--target` does not move it), else of its newest attempt. That URL already holds the
/// delivery's sub-path and query, so it is split: `req` takes its path and query byte for byte and
/// the origin (`http://host:port`) is returned. `None` when `d` was never sent anywhere.
fn previous_target(d: &Delivery, req: &mut WebhookRequest) -> anyhow::Result<Option<String>> {
    let Some(last) = d
        .attempts
        .iter()
        .rev()
        .find(|a| !a.replay)
        .or(d.attempts.last())
    else {
        return Ok(None);
    };
    let uri: hyper::Uri = last
        .target
        .parse()
        .with_context(|| format!("the stored target {:?} is not a URL", last.target))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        bail!("the stored target {:?} is not an absolute URL", last.target);
    };
    req.path = uri.path().to_string();
    req.query = uri.query().unwrap_or("").to_string();
    Ok(Some(format!("{scheme}://{authority}")))
}

/// Open the body in $VISUAL / $EDITOR (else vi) and return what was saved.
fn edit_body(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let argv = crate::tui::editor::editor_command().map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = std::env::temp_dir().join(format!(
        "hookrelay-edit-{}-{}.json",
        std::process::id(),
        crate::delivery::new_delivery_id()
    ));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(body)?;
    }
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .arg(&path)
        .status()
        .with_context(|| format!("running {}", argv[0]));
    let edited = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    if !status?.success() {
        bail!("the editor exited with an error; nothing replayed");
    }
    Ok(edited?)
}

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["curl", "json", "har"])))]
pub struct ExportArgs {
    pub id: String,
    /// A curl command that reproduces the request (POSIX-shell safe).
    #[arg(long)]
    pub curl: bool,
    /// The whole delivery as JSON.
    #[arg(long)]
    pub json: bool,
    /// A HAR 1.2 log (one entry per attempt).
    #[arg(long)]
    pub har: bool,
    /// For --curl: the base URL (default: where the forward job sent it, or
    /// http://localhost:3000).
    #[arg(long)]
    pub target: Option<String>,
    /// For --curl: write the body to this file and use `--data-binary @FILE`.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreOpts,
}

pub fn export(a: ExportArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let d = store.get(&a.id)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&crate::export::json(&d))?
        )?;
    } else if a.har {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&crate::export::har(&d))?
        )?;
    } else {
        let mut req = d.request.clone();
        let base = match &a.target {
            Some(t) => t.clone(),
            None => previous_target(&d, &mut req)?
                .unwrap_or_else(|| "http://localhost:3000".to_string()),
        };
        if let Some(f) = &a.body_file {
            std::fs::write(f, &req.body).with_context(|| format!("writing {}", f.display()))?;
        }
        writeln!(
            out,
            "{}",
            crate::export::curl(&req, &base, a.body_file.as_deref())
        )?;
    }
    Ok(())
}

#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep only the newest N deliveries.
    #[arg(long)]
    pub keep: Option<usize>,
    /// Delete deliveries older than this (`7d`, `12h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    #[command(flatten)]
    pub store: StoreOpts,
}

pub fn prune(a: PruneArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let n = store.prune(a.keep, a.older_than.map(|d| d.as_millis() as i64))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "deleted {n} deliveries")?;
    Ok(())
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// A delivery: its Port property diff.
    pub id: String,
    /// A second delivery: compare the two bodies and headers.
    pub other: Option<String>,
    #[command(flatten)]
    pub store: StoreOpts,
}

pub fn diff(a: DiffArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let render = |c: &[crate::port::diff::Change]| {
        if c.is_empty() {
            crate::port::render::NO_CHANGES.to_string()
        } else if color {
            crate::port::render::changes_ansi(c)
        } else {
            crate::port::render::changes_plain(c)
        }
    };
    let first = store.get(&a.id)?;
    let mut out = std::io::stdout().lock();
    let Some(other) = &a.other else {
        let Some(ev) = crate::port::parse_bytes(&first.request.body) else {
            bail!(
                "{} is not a Port event with a diff; `hookrelay diff {} OTHER` compares two deliveries",
                first.id,
                first.id
            );
        };
        writeln!(out, "{}", display_safe(&ev.summary()))?;
        writeln!(out, "{}", render(&ev.changes()))?;
        return Ok(());
    };
    let second = store.get(other)?;
    writeln!(out, "{} -> {}", first.id, second.id)?;
    writeln!(out, "body:")?;
    match (first.request.json_body(), second.request.json_body()) {
        (Some(x), Some(y)) => {
            writeln!(out, "{}", indent(&render(&crate::port::diff::diff(&x, &y))))?
        }
        _ if first.request.body == second.request.body => writeln!(out, "    identical bytes")?,
        _ => writeln!(
            out,
            "    the bodies differ ({} and {} bytes; not both JSON)",
            first.request.body.len(),
            second.request.body.len()
        )?,
    }
    writeln!(out, "headers:")?;
    let headers = |d: &Delivery| {
        let mut m = serde_json::Map::new();
        for (n, v) in &d.request.headers {
            m.insert(n.to_ascii_lowercase(), serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(m)
    };
    writeln!(
        out,
        "{}",
        indent(&render(&crate::port::diff::diff(
            &headers(&first),
            &headers(&second)
        )))
    )?;
    Ok(())
}
