//! `hookrelay show ID`: one stored delivery, everything about it, readable.

use std::io::Write;

use clap::Args;

use super::{body_text, get, indent, open};
use crate::cli::HistoryStore;
use crate::delivery::AttemptOutcome;
use crate::human::{local_date_time as time, outcome_word, size as human_size};
use crate::sanitize::{display_safe, display_safe_bounded};

#[derive(Debug, Args, Clone)]
pub struct ShowArgs {
    /// The delivery id (a unique prefix of 4 or more characters is enough).
    pub id: String,
    /// The whole delivery as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: HistoryStore,
}

pub fn show(a: ShowArgs) -> anyhow::Result<()> {
    let store = open(&a.store)?;
    let d = get(&store, &a.id)?;
    let mut out = std::io::stdout().lock();
    let reply = store.reply(&d.id)?;
    if a.json {
        let mut v = crate::export::json(&d);
        if let (Some(r), Some(obj)) = (&reply, v.as_object_mut()) {
            obj.insert(
                "reply".into(),
                serde_json::json!({"at_ms": r.at_ms, "sender_status": r.replied.sender_status(),
                                   "result": r.replied}),
            );
        }
        writeln!(out, "{}", crate::sanitize::json_text(&v))?;
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
            "         body re-serialized by {}: not the sender's exact bytes",
            display_safe(relay)
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
        let sent = at.sent.as_deref().map(|s| &s.headers);
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
        if let Some(sent) = sent {
            writeln!(out, "      sent with these headers (-H / --drop-header):")?;
            for (n, v) in sent {
                writeln!(
                    out,
                    "        {}: {}",
                    display_safe(n),
                    display_safe_bounded(v, 500)
                )?;
            }
        }
    }
    if let Some(r) = &reply {
        // the round trip (`forward --reply`): what the sender was answered
        writeln!(
            out,
            "\nreplied {}\n    {}",
            time(r.at_ms),
            display_safe(&r.replied.to_string())
        )?;
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
