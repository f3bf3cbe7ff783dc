//! The optional services around forwarding: verification, the store and Slack.
//! The pipeline calls these hooks; each does nothing when its service is not configured.

use crate::delivery::{Attempt, Delivery, WebhookRequest};
use crate::events::AppEvent;

/// What the forward job has besides the target.
#[derive(Default)]
pub struct Services {}

impl Services {
    /// Attach what can be known at receipt (the verification outcome).
    pub fn annotate(&self, _d: &mut Delivery) {}

    /// Whether the delivery may be forwarded (strict verification says no to failures).
    pub fn may_forward(&self, _d: &Delivery) -> Result<(), String> {
        Ok(())
    }

    pub fn store_delivery(&self, _d: &Delivery) {}

    pub fn store_attempt(&self, _id: &str, _a: &Attempt) {}

    pub fn notify_slack(&self, _d: &Delivery) {}

    /// Forward results of background services (Slack answers, store problems) as app events.
    pub fn spawn_result_relay(
        &self,
        _events: tokio::sync::mpsc::Sender<AppEvent>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        None
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
