//! The plain and JSON log of a forward job: one line per delivery attempt, plus connection
//! changes, gaps, problems and Slack answers. Used when the terminal UI is not.
//!
//! Everything that comes from a payload goes through [`crate::sanitize::display_safe`] before it
//! is printed; the JSON lines are written by [`crate::sanitize::json_text`], which escapes
//! control and format characters as `\uXXXX`.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::delivery::{Attempt, AttemptOutcome, Delivery, DeliveryState};
use crate::events::{AppEvent, ConnState};
use crate::human::{iso_utc, local_clock, outcome_word, seconds, size};
use crate::sanitize::{display_safe, json_text};

/// What the log remembers of a delivery until its attempts are printed.
#[derive(Clone, Debug)]
struct Seen {
    received_at_ms: i64,
    method: String,
    path: String,
    event: Option<String>,
    summary: Option<String>,
    verification: Option<crate::verify::Verification>,
    size: usize,
    reserialized: Option<String>,
    /// Whether its first attempt line is out: Slack's lines wait for it (plain log).
    attempted: bool,
    /// Slack lines waiting for the first attempt line.
    waiting: Vec<String>,
}

/// Turns app events into log lines.
pub struct LogSink<W: Write> {
    out: W,
    json: bool,
    /// Boxed: a table of [`REMEMBERED`] inline facts (with their verification) took 1.8 MiB at
    /// its peak while it grew, the largest part of the client's heap in a burst (heaptrack).
    seen: HashMap<String, Box<Seen>>,
    order: std::collections::VecDeque<String>,
    /// Deliveries being retried, with the tries so far: their next attempt lines are short.
    retrying: HashMap<String, u32>,
    /// Counters for the closing summary.
    pub received: u64,
    pub forwarded_ok: u64,
    pub failed: u64,
    /// Deliveries given up on (failed state) and held back (strict verification).
    pub gave_up: u64,
    pub held: u64,
}

/// Deliveries whose facts the log keeps for their attempt lines (retries and replays come later).
const REMEMBERED: usize = 2_000;

impl<W: Write> LogSink<W> {
    pub fn new(out: W, json: bool) -> Self {
        LogSink {
            out,
            json,
            seen: HashMap::new(),
            order: Default::default(),
            retrying: HashMap::new(),
            received: 0,
            forwarded_ok: 0,
            failed: 0,
            gave_up: 0,
            held: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Write what an event means. Errors writing the log are ignored (a closed pipe).
    pub fn handle(&mut self, ev: &AppEvent) {
        let _ = self.write(ev);
    }

    fn write(&mut self, ev: &AppEvent) -> std::io::Result<()> {
        match ev {
            AppEvent::Conn(state) => {
                let text = match state {
                    ConnState::Connecting => return Ok(()),
                    ConnState::Connected => "connected to the relay".to_string(),
                    ConnState::Reconnecting {
                        retry_in_ms,
                        reason,
                    } => format!("connection lost ({reason}); retrying in {retry_in_ms} ms"),
                    ConnState::Refused(r) => format!("not connected: {r}"),
                };
                self.note("connection", &text)
            }
            AppEvent::Gap(g) => self.note("gap", &crate::gap_notice::describe(g)),
            AppEvent::Resumed {
                pending,
                interrupted,
                last_event_id,
            } => {
                let mut text = match last_event_id {
                    Some(id) => format!("resuming after relay event {}; ", display_safe(id)),
                    None => String::new(),
                };
                text.push_str(&format!(
                    "{pending} deliveries left pending by an earlier run go out first"
                ));
                if *interrupted > 0 {
                    text.push_str(&format!(
                        " ({interrupted} were being sent when it stopped: sent again, the target \
                         may see them twice)"
                    ));
                }
                self.note("resumed", &text)
            }
            AppEvent::State { id, state, reason } => {
                match state {
                    DeliveryState::Failed => self.gave_up += 1,
                    DeliveryState::Held => self.held += 1,
                    _ => {}
                }
                let retried = self.retrying.remove(id).is_some();
                let Some(reason) = reason else {
                    return self.release(id);
                };
                if self.json {
                    let v = json!({"type": "state", "id": id, "state": state, "reason": reason});
                    writeln!(self.out, "{v}")
                } else {
                    let what = match state {
                        DeliveryState::Failed if retried => "gave up, kept as failed".to_string(),
                        DeliveryState::Failed => "failed, kept as failed (not retried)".to_string(),
                        other => other.to_string(),
                    };
                    writeln!(
                        self.out,
                        "{}  {id}  {what}: {}",
                        local_clock(crate::delivery::now_ms()),
                        display_safe(reason)
                    )?;
                    self.release(id)
                }
            }
            AppEvent::Retrying {
                id,
                tries,
                next_in_ms,
            } => {
                if self.retrying.len() < REMEMBERED || self.retrying.contains_key(id) {
                    self.retrying.insert(id.clone(), *tries);
                }
                if self.json {
                    let v = json!({"type": "retrying", "id": id, "tries": tries, "next_in_ms": next_in_ms});
                    writeln!(self.out, "{v}")
                } else {
                    writeln!(
                        self.out,
                        "{}  {id}  retrying ({tries}/…, next in {})",
                        local_clock(crate::delivery::now_ms()),
                        seconds(*next_in_ms)
                    )
                }
            }
            AppEvent::Problem(p) => self.note("problem", p),
            AppEvent::Delivery(d) => {
                self.received += 1;
                self.remember(d);
                Ok(())
            }
            AppEvent::Attempt { id, attempt } => {
                if attempt.is_success() {
                    self.forwarded_ok += 1;
                } else {
                    self.failed += 1;
                }
                self.attempt_line(id, attempt)?;
                self.release(id)
            }
            AppEvent::SlackPreview { id, message } => {
                if self.json {
                    let v = json!({"type": "slack_preview", "id": id, "message": message});
                    writeln!(self.out, "{}", json_text(&v))
                } else {
                    let text = crate::slack::preview_text(message);
                    let mut lines = vec![format!(
                        "{}  {id}  slack preview (no webhook configured; this is what would be sent):",
                        local_clock(crate::delivery::now_ms())
                    )];
                    for line in text.lines() {
                        lines.push(format!("    {}", display_safe(line)));
                    }
                    lines.push(format!("    block kit: {}", json_text(message)));
                    self.after_attempt(id, lines)
                }
            }
            AppEvent::Replied { id, record } => {
                if self.json {
                    let v = json!({"type": "reply", "id": id, "time": iso_utc(record.at_ms),
                                   "sender_status": record.replied.sender_status(),
                                   "reply": record.replied});
                    writeln!(self.out, "{}", json_text(&v))
                } else {
                    writeln!(
                        self.out,
                        "{}  {id}  reply: {}",
                        local_clock(record.at_ms),
                        display_safe(&record.replied.to_string())
                    )
                }
            }
            AppEvent::Slack { id, result } => {
                if self.json {
                    let v = json!({"type": "slack", "id": id, "result": result});
                    writeln!(self.out, "{}", json_text(&v))
                } else {
                    let said = match (result.ok, result.explanation.as_str()) {
                        (true, "sent") => "slack: posted".to_string(),
                        (true, more) => format!("slack: posted ({})", display_safe(more)),
                        (false, why) => format!("slack: NOT posted: {}", display_safe(why)),
                    };
                    let line = format!("{}  {id}  {said}", local_clock(crate::delivery::now_ms()));
                    self.after_attempt(id, vec![line])
                }
            }
            AppEvent::SlackWaiting { id, wait_ms } => {
                if self.json {
                    let v = json!({"type": "slack_waiting", "id": id, "wait_ms": wait_ms});
                    writeln!(self.out, "{v}")
                } else {
                    let line = format!(
                        "{}  {id}  slack: rate limited by Slack (429), waiting {} before the next try",
                        local_clock(crate::delivery::now_ms()),
                        seconds(*wait_ms)
                    );
                    self.after_attempt(id, vec![line])
                }
            }
        }
    }

    /// Print `lines` about delivery `id` (Slack's) after its first attempt line: now if that is
    /// out (or the delivery is not remembered), else when it comes.
    fn after_attempt(&mut self, id: &str, lines: Vec<String>) -> std::io::Result<()> {
        if let Some(s) = self.seen.get_mut(id)
            && !s.attempted
            && s.waiting.len() < 64
        {
            s.waiting.extend(lines);
            return Ok(());
        }
        for l in lines {
            writeln!(self.out, "{l}")?;
        }
        Ok(())
    }

    /// The delivery's attempt line (or final state) is out: print what waited for it.
    fn release(&mut self, id: &str) -> std::io::Result<()> {
        let Some(s) = self.seen.get_mut(id) else {
            return Ok(());
        };
        s.attempted = true;
        for l in std::mem::take(&mut s.waiting) {
            writeln!(self.out, "{l}")?;
        }
        Ok(())
    }

    fn note(&mut self, kind: &str, text: &str) -> std::io::Result<()> {
        if self.json {
            let v =
                json!({"type": kind, "time": iso_utc(crate::delivery::now_ms()), "message": text});
            writeln!(self.out, "{}", json_text(&v))
        } else {
            writeln!(
                self.out,
                "{}  {kind}: {}",
                local_clock(crate::delivery::now_ms()),
                display_safe(text)
            )
        }
    }

    fn remember(&mut self, d: &Delivery) {
        let seen = Seen {
            received_at_ms: d.received_at_ms,
            method: d.request.method.clone(),
            path: d.request.path_and_query(),
            // derived once at intake
            event: d.event.clone(),
            summary: d.summary.clone(),
            verification: d.verification.clone(),
            size: d.request.body.len(),
            reserialized: match &d.origin {
                crate::delivery::BodyOrigin::Exact => None,
                crate::delivery::BodyOrigin::Reserialized { relay } => Some(relay.clone()),
            },
            attempted: !d.attempts.is_empty(),
            waiting: Vec::new(),
        };
        self.order.push_back(d.id.clone());
        self.seen.insert(d.id.clone(), Box::new(seen));
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    fn attempt_line(&mut self, id: &str, a: &Attempt) -> std::io::Result<()> {
        let seen = self.seen.get(id).map(|s| Seen::clone(s));
        let (status, error, resp_size) = match &a.outcome {
            AttemptOutcome::Response {
                status, body_size, ..
            } => (Some(*status), None, Some(*body_size)),
            AttemptOutcome::Error { message, .. } => (None, Some(message.clone()), None),
        };
        // a retry: the facts were on the first try's line; say which try and what came of it
        if let (false, false, Some(tries)) = (self.json, a.replay, self.retrying.get(id)) {
            let result = match (status, &error) {
                (Some(st), _) => format!("-> {st}"),
                (None, Some(e)) => format!("-> error: {}", display_safe(e)),
                _ => String::new(),
            };
            return writeln!(
                self.out,
                "{}  {id}  try {}  {result}  {:.1} ms",
                local_clock(a.started_at_ms),
                tries + 1,
                a.latency_ms
            );
        }
        if self.json {
            let mut v = json!({
                "type": "attempt",
                "id": id,
                "time": iso_utc(a.started_at_ms),
                "target": a.target,
                "replay": a.replay,
                "status": status,
                "error": error,
                "latency_ms": (a.latency_ms * 1000.0).round() / 1000.0,
                "response_size": resp_size,
            });
            if let Some(s) = &seen {
                v["received_at"] = json!(iso_utc(s.received_at_ms));
                v["method"] = json!(s.method);
                v["path"] = json!(s.path);
                v["event"] = json!(s.event);
                v["summary"] = json!(s.summary);
                v["size"] = json!(s.size);
                v["verification"] = json!(s.verification);
                v["body_reserialized_by"] = json!(s.reserialized);
            }
            return writeln!(self.out, "{}", json_text(&v));
        }
        let mut line = format!("{}  {id}", local_clock(a.started_at_ms));
        if let Some(s) = &seen {
            line.push_str(&format!(
                "  {} {}",
                display_safe(&s.method),
                display_safe(&s.path)
            ));
            if let Some(e) = &s.event {
                line.push_str(&format!("  [{}]", display_safe(e)));
            }
            if let Some(v) = &s.verification {
                line.push_str(&format!("  sig:{}", outcome_word(v.outcome)));
            }
        }
        if a.replay {
            line.push_str("  (replay)");
        }
        match (status, &error) {
            (Some(st), _) => line.push_str(&format!("  -> {st}")),
            (None, Some(e)) => line.push_str(&format!("  -> error: {}", display_safe(e))),
            _ => {}
        }
        line.push_str(&format!("  {:.1} ms", a.latency_ms));
        if let Some(s) = &seen {
            line.push_str(&format!("  {}", size(s.size as u64)));
            if let Some(sum) = &s.summary {
                line.push_str(&format!("  {}", display_safe(sum)));
            }
            if let Some(relay) = &s.reserialized {
                line.push_str(&format!(
                    "  (body re-serialized by {})",
                    display_safe(relay)
                ));
            }
        }
        writeln!(self.out, "{line}")
    }
}

#[cfg(test)]
mod tests;
