//! [`ForwardConfig`]: everything the forward job is told, in one place (built by
//! `hookrelay forward` and `hookrelay demo`).

use std::path::PathBuf;
use std::time::Duration;

use crate::forward::{Target, TargetOptions};
use crate::slack::SlackConfig;
use crate::verify::{Verifier, VerifyMode};

/// Where Slack messages for Port events go.
#[derive(Clone, Debug, Default)]
pub enum SlackOut {
    #[default]
    Off,
    /// Show the message each Port event would produce, without sending it.
    Preview,
    /// Post to this incoming webhook (paced, retried).
    Webhook(SlackConfig),
}

/// How the forward job runs.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    pub channel_url: String,
    pub target: Target,
    /// How requests reach the target (TLS trust, header rules, routes) and which events go
    /// (filters), for forwards and replays alike.
    pub target_options: TargetOptions,
    /// The store file that is the inbox; `None` (`--no-store`): a bounded queue in memory, gone
    /// at exit.
    pub store: Option<PathBuf>,
    /// 1 forwards in order, one at a time; more lets deliveries overtake each other.
    pub concurrency: usize,
    /// How long a delivery whose target is down (refused, reset, timeout, 502/503/504) is
    /// retried before it is failed.
    pub retry_for: Duration,
    pub forward_timeout: Duration,
    pub max_response_body: usize,
    /// Without a store: deliveries waiting in memory at most (the subscription then stops
    /// reading until there is room: backpressure, never a drop).
    pub memory_queue: usize,
    /// Deliveries read from the store per window (the backlog stays on disk).
    pub window: usize,
    /// Body bytes per window, past its first delivery.
    pub window_bytes: u64,
    /// Without a store: deliveries kept in memory for replay.
    pub recent: usize,
    /// Body bytes those deliveries may hold at most.
    pub recent_bytes: usize,
    /// Mark replays with `x-hookrelay-replay-of: <id>`.
    pub replay_header: bool,
    pub keepalive: Duration,
    pub max_event_bytes: usize,
    /// Resume after this event id on the first connection (the embedded relay's start). With a
    /// store and no id here, the channel's saved cursor is used.
    pub last_event_id: Option<String>,
    /// Subscriber token for a relay that requires one (`forward --token`).
    pub subscriber_token: Option<String>,
    pub verifier: Option<Verifier>,
    pub verify_mode: VerifyMode,
    pub slack: SlackOut,
    /// Post every Port event to Slack, marked with its verdict (default: only verified ones).
    pub slack_all: bool,
    /// Answer the channel's senders with the target's responses (`--reply`).
    pub reply: bool,
}

impl ForwardConfig {
    pub fn new(channel_url: impl Into<String>, target: Target) -> Self {
        ForwardConfig {
            channel_url: channel_url.into(),
            target,
            target_options: TargetOptions::default(),
            store: None,
            concurrency: 1,
            retry_for: Duration::from_secs(120),
            forward_timeout: Duration::from_secs(30),
            max_response_body: 256 << 10,
            memory_queue: 10_000,
            window: 256,
            window_bytes: 16 << 20,
            recent: 1_000,
            recent_bytes: 4 << 20,
            replay_header: true,
            keepalive: Duration::from_secs(30),
            max_event_bytes: 64 << 20,
            last_event_id: None,
            subscriber_token: None,
            verifier: None,
            verify_mode: VerifyMode::Report,
            slack: SlackOut::Off,
            slack_all: false,
            reply: false,
        }
    }

    /// Verify every delivery (`report`: show the outcome; `strict`: forward only valid ones).
    pub fn with_verifier(mut self, verifier: Verifier, mode: VerifyMode) -> Self {
        self.verifier = Some(verifier);
        self.verify_mode = mode;
        self
    }

    /// Keep the inbox in the store at `path`.
    pub fn with_store(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = Some(path.into());
        self
    }
}
