//! `hookrelay replay ID`: send a stored delivery to the target again.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::{get, open, previous_target};
use crate::cli::{HistoryStore, TargetOpts, VerifyOpts};
use crate::delivery::{AttemptOutcome, now_ms};
use crate::forward::{Forwarder, REPLAY_HEADER, Target};
use crate::human::outcome_word;
use crate::sanitize::display_safe;
use crate::verify::Outcome;

#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// The delivery id (a unique prefix of 4 or more characters is enough).
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
    pub target_opts: TargetOpts,
    #[command(flatten)]
    pub verify: VerifyOpts,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub async fn replay(a: ReplayArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let mut options = a.target_opts.options()?;
    let Some(id) = &a.id else {
        let target = Target::parse(a.target.as_deref().unwrap_or_default())?;
        let forwarder = Forwarder::new(a.timeout, 256 << 10, &options);
        // sending pending deliveries is the forward job's work: never beside one
        let _lease = crate::store::SenderLease::take(&a.store.path())?;
        return crate::cli::pending::send_pending(store, target, a.channel.clone(), forwarder)
            .await;
    };
    let d = get(&store, id)?;
    let mut req = d.request.clone();
    let target = match &a.target {
        Some(t) => Target::parse(t)?,
        None => {
            // the stored URL is where it went, routes included: no routing again
            options.routes = crate::forward::Routes::default();
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
    let mut attempt = Forwarder::new(a.timeout, 256 << 10, &options)
        .send(&target, &req, &extra, true)
        .await;
    if let Some(sent) = attempt.sent.as_mut() {
        sent.resigned = a.resign;
        if req.body != d.request.body {
            sent.body = Some(req.body.clone());
        }
    }
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

/// Open the body in $VISUAL / $EDITOR (else vi) and return what was saved.
fn edit_body(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let argv = crate::tui::editor::editor_command().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Unpredictable name, created exclusively, 0600; removed when `path` is dropped.
    let path = crate::private_files::temp_file("-edit.json", body)
        .context("writing the temporary file to edit")?;
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .arg(&path)
        .status()
        .with_context(|| format!("running {}", argv[0]));
    let edited = std::fs::read(&path);
    drop(path);
    if !status?.success() {
        bail!("the editor exited with an error; nothing replayed");
    }
    Ok(edited?)
}
