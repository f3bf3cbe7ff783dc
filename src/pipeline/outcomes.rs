//! Stage 4, outcomes: what happened, as typed [`AppEvent`]s for the one loop that shows them
//! (the log in [`crate::logline`] or the UI in [`crate::tui`]), and Slack.
//!
//! Slack mirrors Port's guide: a Port event is posted only when its signature checked out (or
//! verification is off, or there is no Port secret to check with); `--slack-all` posts every
//! Port event, each marked with its verdict.

use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::delivery::{Attempt, Delivery, DeliveryState};
use crate::delivery_cache::DeliveryCache;
use crate::events::AppEvent;
use crate::port::PortEvent;
use crate::slack::{SlackNotifier, SlackResult};
use crate::verify::{Outcome, Verification, VerifyMode};

/// Where outcomes go.
pub struct Outcomes {
    events: mpsc::Sender<AppEvent>,
    slack: Option<SlackNotifier>,
    slack_preview: bool,
    slack_all: bool,
    verify_mode: VerifyMode,
    /// Without a store: the recent deliveries, for replay.
    pub(super) recent: Option<Mutex<DeliveryCache>>,
}

impl Outcomes {
    pub fn new(
        events: mpsc::Sender<AppEvent>,
        slack: Option<SlackNotifier>,
        slack_preview: bool,
        slack_all: bool,
        verify_mode: VerifyMode,
        recent: Option<DeliveryCache>,
    ) -> Self {
        Outcomes {
            events,
            slack,
            slack_preview,
            slack_all,
            verify_mode,
            recent: recent.map(Mutex::new),
        }
    }

    /// Queue an event without waiting (at startup, before anyone reads them).
    pub fn emit_now(&self, ev: AppEvent) -> bool {
        self.events.try_send(ev).is_ok()
    }

    pub async fn emit(&self, ev: AppEvent) {
        let _ = self.events.send(ev).await;
    }

    pub async fn problem(&self, text: String) {
        tracing::warn!("{text}");
        self.emit(AppEvent::Problem(text)).await;
    }

    /// A new delivery is in the inbox (its Port event already parsed, once, by intake).
    pub async fn received(&self, d: &Delivery, port: Option<&PortEvent>) {
        if let Some(recent) = &self.recent {
            recent.lock().expect("recent lock").insert(d.clone());
        }
        self.emit(AppEvent::Delivery(Box::new(d.clone()))).await;
        if d.state == DeliveryState::Held {
            let reason = d.state_reason.clone().unwrap_or_default();
            tracing::warn!(reason = %reason, "not forwarded");
            self.emit(AppEvent::Problem(format!(
                "{} not forwarded: {reason}",
                d.id
            )))
            .await;
        }
        if d.state == DeliveryState::Skipped {
            // said once, like any settled delivery: the log, the UI's status line
            self.emit(AppEvent::State {
                id: d.id.clone(),
                state: DeliveryState::Skipped,
                reason: d.state_reason.clone(),
            })
            .await;
        }
        let Some(port) = port else { return };
        if self.slack.is_none() && !self.slack_preview {
            return;
        }
        let Some(message) = slack_message(
            port,
            d.verification.as_ref(),
            self.verify_mode,
            self.slack_all,
        ) else {
            tracing::info!("Slack not told: the signature did not check out");
            return;
        };
        match &self.slack {
            Some(n) => n.notify(d.id.clone(), message),
            None => {
                self.emit(AppEvent::SlackPreview {
                    id: d.id.clone(),
                    message,
                })
                .await
            }
        }
    }

    /// An attempt finished.
    pub async fn attempt(&self, id: &str, attempt: Attempt) {
        if let Some(recent) = &self.recent
            && let Some(d) = recent.lock().expect("recent lock").get_mut(id)
        {
            d.attempts.push(attempt.clone());
        }
        self.emit(AppEvent::Attempt {
            id: id.to_string(),
            attempt,
        })
        .await;
    }

    /// A delivery reached a final state (or was put back).
    pub async fn state(&self, id: &str, state: DeliveryState, reason: Option<String>) {
        self.emit(AppEvent::State {
            id: id.to_string(),
            state,
            reason,
        })
        .await;
    }

    pub async fn slack_result(&self, id: String, result: SlackResult) {
        self.emit(AppEvent::Slack { id, result }).await;
    }

    /// A delivery kept in memory (no store).
    pub fn recent(&self, id: &str) -> Option<Delivery> {
        self.recent
            .as_ref()
            .and_then(|r| r.lock().expect("recent lock").get(id).cloned())
    }
}

/// Whether Slack is told about this Port event, and the message: `None` when its signature did
/// not check out (unless `all`). With `all`, the message says the verdict.
pub fn slack_message(
    port: &PortEvent,
    verification: Option<&Verification>,
    mode: VerifyMode,
    all: bool,
) -> Option<Value> {
    let trusted = match (mode, verification) {
        (VerifyMode::Off, _) | (_, None) => true,
        // no Port secret to check with: as with verification off
        (_, Some(v)) => matches!(v.outcome, Outcome::Valid | Outcome::NoSecret),
    };
    if !trusted && !all {
        return None;
    }
    let mut message = crate::slack::build_message(port);
    if all {
        let verdict = match (mode, verification) {
            (VerifyMode::Off, _) | (_, None) => "signature: not checked".to_string(),
            (_, Some(v)) if v.outcome == Outcome::Valid => "signature: valid".to_string(),
            (_, Some(v)) => format!("signature: NOT VALID ({})", outcome_word(v.outcome)),
        };
        if let Some(blocks) = message.get_mut("blocks").and_then(Value::as_array_mut) {
            let at = blocks.len().min(1);
            blocks.insert(
                at,
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text": verdict}]}),
            );
        }
        if let Some(text) = message.get_mut("text")
            && let Some(t) = text.as_str()
        {
            *text = Value::String(format!("{t} ({verdict})"));
        }
    }
    Some(message)
}

fn outcome_word(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{o:?}"))
}
