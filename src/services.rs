//! The optional services around forwarding: verification, the store and Slack.
//! The pipeline calls these hooks; each does nothing when its service is not configured.

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::delivery::{Attempt, Delivery, WebhookRequest};
use crate::events::AppEvent;
use crate::slack::{SlackConfig, SlackNotifier, SlackResult};

/// What the forward job has besides the target.
#[derive(Default)]
pub struct Services {
    slack: Option<SlackNotifier>,
    slack_results: Mutex<Option<mpsc::Receiver<(String, SlackResult)>>>,
    /// Without a webhook: show the message that would have been sent.
    slack_preview: bool,
}

impl Services {
    /// Post a Slack message for every Port event (paced, retried, never blocking).
    pub fn with_slack(mut self, cfg: SlackConfig) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        self.slack = Some(SlackNotifier::spawn(cfg, tx));
        self.slack_results = Mutex::new(Some(rx));
        self
    }

    /// Show the Slack message each Port event would produce, without sending it.
    pub fn with_slack_preview(mut self) -> Self {
        self.slack_preview = true;
        self
    }

    /// Attach what can be known at receipt (the verification outcome).
    pub fn annotate(&self, _d: &mut Delivery) {}

    /// Whether the delivery may be forwarded (strict verification says no to failures).
    pub fn may_forward(&self, _d: &Delivery) -> Result<(), String> {
        Ok(())
    }

    pub fn store_delivery(&self, _d: &Delivery) {}

    pub fn store_attempt(&self, _id: &str, _a: &Attempt) {}

    /// Queue the Slack message for a Port event. Returns the message when previewing.
    pub fn notify_slack(&self, d: &Delivery) -> Option<serde_json::Value> {
        if self.slack.is_none() && !self.slack_preview {
            return None;
        }
        let event = crate::port::parse_bytes(&d.request.body)?;
        let message = crate::slack::build_message(&event);
        match &self.slack {
            Some(n) => {
                n.notify(d.id.clone(), message);
                None
            }
            None => Some(message),
        }
    }

    /// Forward results of background services (Slack answers) as app events.
    pub fn spawn_result_relay(
        &self,
        events: mpsc::Sender<AppEvent>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let mut rx = self.slack_results.lock().ok()?.take()?;
        Some(tokio::spawn(async move {
            while let Some((id, result)) = rx.recv().await {
                if events.send(AppEvent::Slack { id, result }).await.is_err() {
                    return;
                }
            }
        }))
    }

    /// A delivery that is no longer in memory.
    pub async fn load(&self, _id: &str) -> Option<Delivery> {
        None
    }

    /// Fresh signature headers for a replay.
    pub fn resign(&self, _req: &mut WebhookRequest) -> Result<(), String> {
        Err("no signing secret configured".into())
    }
}
