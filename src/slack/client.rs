//! The paced Slack notifier: a bounded queue in front of one sender task per webhook.
//!
//! - [`SlackNotifier::notify`] never blocks: a full queue is reported as a failed
//!   [`SlackResult`], not dropped silently.
//! - At most one post per `min_interval` (Slack allows about one message a second).
//! - `429` waits `Retry-After` (capped at [`MAX_RETRY_AFTER`]); `5xx` and connection errors are
//!   retried with exponential backoff up to `max_retries`; other `4xx` are never retried; a
//!   timeout is not retried either (Slack may have posted the message: no duplicates).
//! - A message Slack would reject for its size is not sent (see [`check_limits`]).
//! - Every delivery's outcome comes back on the results channel. The webhook URL is only ever
//!   logged redacted.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use super::SlackResult;
use super::errors::{explain, quote};
use super::message::check_limits;
use super::redact::redact_webhook_url;

/// Longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// `Retry-After` assumed when a 429 comes without a readable one.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// First backoff after a 5xx or connection error; doubled each try (with jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest backoff between two tries.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How much of Slack's answer is read (it is a short error code).
const MAX_ANSWER: usize = 4096;

/// Where and how to post. `Debug` shows the URL redacted.
#[derive(Clone)]
pub struct SlackConfig {
    /// The incoming-webhook URL: a secret.
    pub webhook_url: String,
    /// Least time between two posts (Slack: about one message a second).
    pub min_interval: Duration,
    /// Retries after the first try, for 429, 5xx and connection errors.
    pub max_retries: u32,
    /// Per request (Slack's own SDK uses 30 s).
    pub timeout: Duration,
    /// Notifications waiting to be sent, at most.
    pub queue: usize,
}

impl SlackConfig {
    /// Defaults: 1 s between posts, 3 retries, 30 s timeout, 256 queued.
    pub fn new(webhook_url: impl Into<String>) -> Self {
        SlackConfig {
            webhook_url: webhook_url.into(),
            min_interval: Duration::from_secs(1),
            max_retries: 3,
            timeout: Duration::from_secs(30),
            queue: 256,
        }
    }
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("webhook_url", &redact_webhook_url(&self.webhook_url))
            .field("min_interval", &self.min_interval)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .finish()
    }
}

struct Job {
    id: String,
    message: Value,
}

type Results = mpsc::Sender<(String, SlackResult)>;
/// (delivery id, wait): Slack answered 429 and the next try waits this long.
pub type Waits = mpsc::Sender<(String, Duration)>;

/// The handle the relay holds: queues notifications for the sender task.
#[derive(Clone)]
pub struct SlackNotifier {
    jobs: mpsc::Sender<Job>,
    results: Results,
}

impl fmt::Debug for SlackNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackNotifier")
            .field("queued", &(self.jobs.max_capacity() - self.jobs.capacity()))
            .finish()
    }
}

impl SlackNotifier {
    /// Spawns the sender task (needs a tokio runtime). Results come back on `results` as
    /// (delivery id, SlackResult).
    pub fn spawn(cfg: SlackConfig, results: Results) -> SlackNotifier {
        Self::spawn_with_waits(cfg, results, None)
    }

    /// [`SlackNotifier::spawn`], also telling `waits` each time Slack's rate limit (429) makes
    /// a message wait, so the wait can be shown while it lasts.
    pub fn spawn_with_waits(
        cfg: SlackConfig,
        results: Results,
        waits: Option<Waits>,
    ) -> SlackNotifier {
        let (jobs, rx) = mpsc::channel(cfg.queue.max(1));
        tokio::spawn(run(cfg, rx, results.clone(), waits));
        SlackNotifier { jobs, results }
    }

    /// Queue a message for a delivery. Never blocks: when the queue is full the notification
    /// is reported as a failed SlackResult on `results`, not dropped silently.
    pub fn notify(&self, delivery_id: String, message: Value) {
        let job = Job {
            id: delivery_id,
            message,
        };
        let (job, why) = match self.jobs.try_send(job) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(job)) => (
                job,
                format!(
                    "not sent: the Slack queue is full ({} messages waiting); Slack is slow or \
                     unreachable",
                    self.jobs.max_capacity()
                ),
            ),
            Err(mpsc::error::TrySendError::Closed(job)) => {
                (job, "not sent: the Slack sender has stopped".to_string())
            }
        };
        tracing::warn!(delivery = %job.id, "{why}");
        report(&self.results, job.id, failure(why));
    }
}

/// Hand a result back without blocking: when the results channel is full, a task waits for room.
fn report(results: &Results, id: String, result: SlackResult) {
    match results.try_send((id, result)) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(item)) => {
            let results = results.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move {
                        let _ = results.send(item).await;
                    });
                }
                Err(_) => tracing::warn!(delivery = %item.0, "Slack result lost: no runtime"),
            }
        }
    }
}

fn failure(explanation: String) -> SlackResult {
    SlackResult {
        ok: false,
        status: None,
        error: None,
        explanation,
    }
}

async fn run(
    cfg: SlackConfig,
    mut jobs: mpsc::Receiver<Job>,
    results: Results,
    waits: Option<Waits>,
) {
    crate::tls::install_provider();
    let client = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| describe_error(&e, &cfg.webhook_url));
    let mut sender = Sender {
        cfg: &cfg,
        last_post: None,
        waits,
    };
    while let Some(job) = jobs.recv().await {
        let result = match &client {
            Ok(client) => sender.deliver(client, &job.id, &job.message).await,
            Err(why) => failure(format!("not sent: no HTTP client ({why})")),
        };
        if result.ok {
            tracing::debug!(delivery = %job.id, webhook = %redact_webhook_url(&cfg.webhook_url), "Slack: sent");
        } else {
            tracing::warn!(delivery = %job.id, "Slack: {}", result.explanation);
        }
        // Keep sending even when nobody listens for results any more.
        let _ = results.send((job.id, result)).await;
    }
}

struct Sender<'a> {
    cfg: &'a SlackConfig,
    last_post: Option<Instant>,
    waits: Option<Waits>,
}

/// One try's outcome.
enum Answer {
    Http {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    Timeout,
    Failed(String),
}

impl Sender<'_> {
    async fn deliver(
        &mut self,
        client: &reqwest::Client,
        id: &str,
        message: &Value,
    ) -> SlackResult {
        if let Err(e) = check_limits(message) {
            return SlackResult {
                ok: false,
                status: None,
                error: Some("message_too_large".into()),
                explanation: format!("not sent: Slack would reject this message ({e})"),
            };
        }
        let body = match serde_json::to_vec(message) {
            Ok(body) => bytes::Bytes::from(body),
            Err(e) => return failure(format!("not sent: the message is not JSON ({e})")),
        };
        let mut tries = 0u32;
        loop {
            self.pace().await;
            tries += 1;
            let retries_left = tries <= self.cfg.max_retries;
            let wait = match self.post(client, body.clone()).await {
                Answer::Http {
                    status,
                    retry_after,
                    body,
                } => {
                    let retryable = status == 429 || status >= 500;
                    if status == 200 || !retryable || !retries_left {
                        return with_tries(explain(Some(status), &body), tries, retryable);
                    }
                    if status == 429 {
                        let wait = retry_after
                            .unwrap_or(DEFAULT_RETRY_AFTER)
                            .min(MAX_RETRY_AFTER);
                        if let Some(w) = &self.waits {
                            // shown while it lasts; a full channel only loses the notice
                            let _ = w.try_send((id.to_string(), wait));
                        }
                        wait
                    } else {
                        backoff(tries)
                    }
                }
                Answer::Timeout => {
                    return failure(format!(
                        "Slack did not answer within {} s; not retried, as the message may \
                         already have been posted",
                        self.cfg.timeout.as_secs_f64()
                    ));
                }
                Answer::Failed(why) => {
                    if !retries_left {
                        return with_tries(explain(None, &why), tries, true);
                    }
                    backoff(tries)
                }
            };
            sleep(wait).await;
        }
    }

    /// Wait until `min_interval` has passed since the last post, then mark a post now.
    async fn pace(&mut self) {
        if let Some(last) = self.last_post {
            sleep_until(last + self.cfg.min_interval).await;
        }
        self.last_post = Some(Instant::now());
    }

    async fn post(&self, client: &reqwest::Client, body: bytes::Bytes) -> Answer {
        let sent = client
            .post(&self.cfg.webhook_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) if e.is_timeout() => return Answer::Timeout,
            Err(e) => return Answer::Failed(describe_error(&e, &self.cfg.webhook_url)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut answer = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_ANSWER.saturating_sub(answer.len());
                    answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if answer.len() >= MAX_ANSWER {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is what counts; a timeout here still answered.
                Err(_) => break,
            }
        }
        Answer::Http {
            status,
            retry_after,
            body: String::from_utf8_lossy(&answer).into_owned(),
        }
    }
}

/// The shared backoff policy (jittered, capped) after `tries` tries.
fn backoff(tries: u32) -> Duration {
    crate::backoff::Backoff::new(BACKOFF_BASE, BACKOFF_MAX).delay(tries.saturating_sub(1))
}

fn with_tries(mut result: SlackResult, tries: u32, retryable: bool) -> SlackResult {
    if !result.ok && retryable && tries > 1 {
        result
            .explanation
            .push_str(&format!(" (gave up after {tries} tries)"));
    }
    result
}

/// An HTTP error in words, its sources included, the URL never (reqwest puts it in `Display`).
fn describe_error(e: &reqwest::Error, url: &str) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    text.push_str(if e.is_connect() {
        "could not connect"
    } else if e.is_request() {
        "the request failed"
    } else if e.is_builder() {
        "bad webhook URL"
    } else {
        "error"
    });
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let text = if url.is_empty() {
        text
    } else {
        text.replace(url, &redact_webhook_url(url))
    };
    quote(&text)
}
