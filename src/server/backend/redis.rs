//! The Redis backend: each channel is a Redis stream shared by every `serve` instance on the
//! same Redis (layout in `redis_store.rs`).
//!
//! - Publish runs one script (id, append, trim by length and age, metadata, announce) and
//!   returns the id only once Redis stored the entry; any failure is [`BackendError::Unavailable`]
//!   and the sender gets `503`, never a `2xx` for an event that is not stored.
//! - Each instance subscribes once to the announce channel (RESP3 push on a connection manager
//!   of its own, resubscribed after reconnects) and wakes its own subscribers of that channel; a
//!   subscriber reads the stream from its own place (`XRANGE`), so any instance serves any
//!   client, and `Last-Event-ID` is the stream id. Subscribers also look every
//!   [`POLL`] on their own, so a lost announcement only delays, never loses.
//! - A health task pings Redis every second: `/readyz` follows it, and the log says when Redis
//!   becomes unreachable and when it is back (once each, not per request). While it is down,
//!   subscribers stay connected and catch up when it is back.

use std::net::IpAddr;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, Script};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::redis_cursor::{Place, RedisCursor, reset_gap};
use super::redis_room::ReadRoom;
use super::redis_shared::{Health, Local, LocalChannel, Shared};
use super::redis_store::{Keys, PUBLISH_LUA, Pos, SUBSCRIBED_LUA, entry_fields};
use super::{
    Backend, BackendError, BoxFut, Cursor, Posted, Published, Waiter, redis_health, redis_reply,
};
use crate::delivery::WebhookRequest;
use crate::reply::ReplyOutcome;
use crate::server::hub::{Gap, HubError, parse_event_id};

/// Settings of the Redis backend.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`, `unix://`).
    pub url: String,
    /// Most webhooks each channel's stream keeps (trimmed approximately, as Redis does
    /// cheaply: a little more may stay). Default 10,000.
    pub max_len: usize,
    /// Webhooks older than this are trimmed, and a channel without webhooks for this long is
    /// deleted. Default 24 h.
    pub max_age: Duration,
    /// Prefix of every key (several relays may share one Redis). Default `hookrelay`.
    pub key_prefix: String,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            max_len: 10_000,
            max_age: Duration::from_secs(24 * 3600),
            key_prefix: "hookrelay".into(),
        }
    }

    /// The URL without credentials, for the log.
    pub fn redacted_url(&self) -> String {
        match (self.url.split_once("://"), self.url.rsplit_once('@')) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
            _ => self.url.clone(),
        }
    }
}

/// The limits this instance enforces on its own subscribers.
#[derive(Clone, Debug)]
pub(crate) struct LocalLimits {
    pub max_channels: usize,
    pub max_subscribers_per_channel: usize,
    pub batch: usize,
    /// How long a channel nobody subscribed to lives after its last webhook.
    pub publish_channel_ttl: Duration,
    /// Channels one sender address may have created by publishing, nobody subscribed to yet,
    /// across every instance (counted in Redis; `usize::MAX`: no limit).
    pub channels_per_sender: usize,
    /// Bytes of events read from Redis this instance's subscribers may hold (their share of
    /// the memory budget; see `redis_room.rs`).
    pub read_bytes: usize,
}

/// Webhooks in Redis streams.
pub(crate) struct RedisBackend {
    conn: ConnectionManager,
    /// Subscribers' reads, on a connection of their own (see [`RedisBackend::new`]).
    reads: ConnectionManager,
    keys: Keys,
    cfg: RedisConfig,
    limits: LocalLimits,
    script: Script,
    subscribed: Script,
    shared: Arc<Shared>,
    health_task: JoinHandle<()>,
    /// Memory for the events this instance's subscribers read.
    room: Arc<ReadRoom>,
}

impl RedisBackend {
    /// Set up the connection (lazily: a Redis that is down now is retried, and `/readyz`
    /// says not ready meanwhile) and start the health task.
    pub fn new(cfg: RedisConfig, limits: LocalLimits) -> std::io::Result<RedisBackend> {
        let bad = |e: redis::RedisError| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid Redis URL {}: {e}", cfg.redacted_url()),
            )
        };
        if cfg.max_len == 0 || cfg.max_age < Duration::from_secs(1) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "invalid relay configuration: Redis max_len must be at least 1 and max_age at least 1 s",
            ));
        }
        let info = cfg.url.as_str().into_connection_info().map_err(bad)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(bad)?;
        let shared = Arc::new(Shared {
            local: Mutex::new(Local::default()),
            wake_all: watch::Sender::new(0),
            health: Health {
                state: AtomicU8::new(0),
                url: cfg.redacted_url(),
            },
            replied: Keys::new(&cfg.key_prefix).replied(),
            waiting: Mutex::default(),
            repliers: Mutex::default(),
        });
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(2);
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config.clone()).map_err(bad)?;
        // Subscribers' reads (up to one large event each) come on a connection of their own, so
        // a publish never waits behind them; a large event may take longer than a publish.
        let reads = ConnectionManager::new_lazy_with_config(
            client.clone(),
            config
                .clone()
                .set_response_timeout(Some(Duration::from_secs(15))),
        )
        .map_err(bad)?;
        // Announcements come on a connection of their own: Redis limits the output buffer of
        // a subscribed connection (32 MiB by default), and large events read on it would make
        // Redis drop it.
        let push = Arc::clone(&shared);
        let announcements = config
            .set_push_sender(move |info: PushInfo| {
                push.on_push(info);
                Ok::<(), redis::aio::SendError>(())
            })
            .set_automatic_resubscription();
        let pubsub = ConnectionManager::new_lazy_with_config(client, announcements).map_err(bad)?;
        let keys = Keys::new(&cfg.key_prefix);
        let health_task = tokio::spawn(redis_health::health(
            conn.clone(),
            pubsub,
            keys.clone(),
            cfg.max_age,
            Arc::clone(&shared),
        ));
        Ok(RedisBackend {
            room: Arc::new(ReadRoom::new(limits.read_bytes)),
            conn,
            reads,
            keys,
            cfg,
            limits,
            script: Script::new(PUBLISH_LUA),
            subscribed: Script::new(SUBSCRIBED_LUA),
            shared,
            health_task,
        })
    }

    /// Store a webhook; with `hold` (a duration), hold its sender if a replier is alive.
    /// Returns the id and whether the sender is held; `None` when the channel would be new
    /// and its sender is at its channel quota (nothing stored).
    async fn store(
        &self,
        channel: &str,
        request: &WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
        hold: Option<Duration>,
    ) -> redis::RedisResult<Option<(String, bool)>> {
        let quota = i64::try_from(self.limits.channels_per_sender).unwrap_or(-1);
        let mut inv = self.script.prepare_invoke();
        inv.key(self.keys.stream(channel))
            .key(self.keys.meta(channel))
            .key(self.keys.repliers(channel))
            .key(self.keys.sender(sender))
            .arg(self.cfg.max_len)
            .arg(self.cfg.max_age.as_millis() as u64)
            .arg(self.keys.notify())
            .arg(channel)
            .arg(self.limits.publish_channel_ttl.as_millis().max(1000) as u64)
            .arg(hold.map_or(0, |h| (h + redis_reply::KEY_MARGIN).as_millis() as u64))
            .arg(self.keys.reply_prefix(channel))
            .arg(quota);
        for (field, value) in entry_fields(request, received_at_ms) {
            inv.arg(field).arg(&value[..]);
        }
        let mut conn = self.conn.clone();
        let (id, held): (String, i64) = inv.invoke_async(&mut conn).await?;
        Ok((held >= 0).then_some((id, held == 1)))
    }

    /// What a refused store means for the sender (Redis answered: it is up).
    fn over_quota(&self) -> BackendError {
        self.shared.health.ok();
        HubError::SenderQuota(self.limits.channels_per_sender).into()
    }

    /// Mark the channel subscribed (it keeps `max_age`), and return its newest id.
    async fn mark_subscribed(&self, channel: &str) -> redis::RedisResult<Option<Pos>> {
        let mut conn = self.conn.clone();
        let last: Option<String> = self
            .subscribed
            .key(self.keys.stream(channel))
            .key(self.keys.meta(channel))
            .arg(self.cfg.max_age.as_millis() as u64)
            .arg(channel)
            .invoke_async(&mut conn)
            .await?;
        Ok(last.as_deref().and_then(Pos::parse))
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        self.health_task.abort();
    }
}

impl Backend for RedisBackend {
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
    ) -> BoxFut<'a, Result<String, BackendError>> {
        Box::pin(async move {
            match self
                .store(channel, &request, received_at_ms, sender, None)
                .await
            {
                Ok(Some((id, _))) => {
                    self.shared.health.ok();
                    Ok(id)
                }
                Ok(None) => Err(self.over_quota()),
                Err(e) => {
                    self.shared.health.failed(&e);
                    Err(BackendError::Unavailable)
                }
            }
        })
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
        last_event_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Box<dyn Cursor>, BackendError>> {
        Box::pin(async move {
            let wake = {
                let mut local = self.shared.lock();
                let count = local.channels.len();
                let ch = match local.channels.get_mut(channel) {
                    Some(ch) => ch,
                    None if count >= self.limits.max_channels => {
                        return Err(HubError::TooManyChannels(self.limits.max_channels).into());
                    }
                    None => local
                        .channels
                        .entry(channel.to_string())
                        .or_insert_with(|| LocalChannel {
                            subscribers: 0,
                            wake: watch::Sender::new(0),
                        }),
                };
                if ch.subscribers >= self.limits.max_subscribers_per_channel {
                    return Err(HubError::TooManySubscribers(
                        self.limits.max_subscribers_per_channel,
                    )
                    .into());
                }
                ch.subscribers += 1;
                ch.wake.subscribe()
            };
            let mut cursor = RedisCursor {
                conn: self.reads.clone(),
                stream: self.keys.stream(channel),
                channel: channel.to_string(),
                shared: Arc::clone(&self.shared),
                wake,
                wake_all: self.shared.wake_all.subscribe(),
                place: Place::Fresh,
                restart_gap: None,
                skip_first_gap: false,
                batch: self.limits.batch.max(1),
                held: Vec::new(),
                held_after: Pos::START,
                held_room: None,
                room: Arc::clone(&self.room),
            };
            match last_event_id.map(|raw| (raw, Pos::parse(raw))) {
                None => {}
                Some((_, Some(pos))) => cursor.place = Place::After(pos),
                Some((raw, None)) if parse_event_id(raw).is_some() => {
                    // an id of a memory relay (before this one used Redis)
                    cursor.restart_gap = Some(Gap {
                        id: Pos::START.id(),
                        data: json!({
                            "reason": "relay_restarted",
                            "message": "this subscriber's last event came from a relay without shared storage; what it held is gone",
                            "last_event_id": raw,
                            "missed": null,
                        }),
                    });
                    cursor.place = Place::After(Pos::START);
                    cursor.skip_first_gap = true;
                }
                Some((raw, None)) => {
                    tracing::debug!(
                        channel,
                        last_event_id = raw,
                        "unparseable Last-Event-ID; treating as a fresh subscriber"
                    );
                }
            }
            // A fresh subscriber starts after the newest webhook now; one resuming from an id
            // ahead of the channel (not ours) is fresh too.
            match self.mark_subscribed(channel).await {
                Ok(last) => {
                    self.shared.health.ok();
                    let last = last.unwrap_or(Pos::START);
                    match cursor.place {
                        Place::After(pos) if pos <= last => {}
                        Place::After(pos) => {
                            // an id past the channel's newest: the stream started again since
                            // (it expired, or Redis lost it), so what followed it may be gone
                            cursor.restart_gap = Some(reset_gap(pos, last));
                            cursor.place = Place::After(last);
                        }
                        Place::Fresh => cursor.place = Place::After(last),
                    }
                }
                // Redis is down: resolved on the first read that works
                Err(e) => self.shared.health.failed(&e),
            }
            Ok(Box::new(cursor) as Box<dyn Cursor>)
        })
    }

    fn ready(&self) -> bool {
        self.shared.health.up()
    }

    fn start_event_id(&self) -> String {
        Pos::START.id()
    }

    fn describe(&self) -> String {
        format!("Redis at {}", self.cfg.redacted_url())
    }

    fn subscriber_count(&self) -> usize {
        self.shared
            .lock()
            .channels
            .values()
            .map(|c| c.subscribers)
            .sum()
    }

    fn channel_count(&self) -> usize {
        self.shared.lock().channels.len()
    }

    /// Bytes of events read from Redis that this instance's subscribers hold now.
    fn retained_bytes(&self) -> usize {
        self.room.in_use()
    }

    fn drop_cached_frames(&self) {}

    fn evict_idle(&self) {}

    fn add_replier<'a>(
        &'a self,
        channel: &'a str,
        token_hash: String,
    ) -> BoxFut<'a, Result<Box<dyn Send + Sync>, BackendError>> {
        Box::pin(async move {
            redis_reply::add_replier(&self.conn, &self.keys, &self.shared, channel, token_hash)
                .await
                .map_err(|e| {
                    self.shared.health.failed(&e);
                    BackendError::Unavailable
                })
        })
    }

    fn has_replier<'a>(&'a self, channel: &'a str) -> BoxFut<'a, bool> {
        Box::pin(redis_reply::has_replier(&self.conn, &self.keys, channel))
    }

    fn publish_held<'a>(
        &'a self,
        channel: &'a str,
        request: WebhookRequest,
        received_at_ms: i64,
        sender: IpAddr,
        hold_for: Duration,
    ) -> BoxFut<'a, Result<Published, BackendError>> {
        Box::pin(async move {
            match self
                .store(channel, &request, received_at_ms, sender, Some(hold_for))
                .await
            {
                Ok(None) => Err(self.over_quota()),
                Ok(Some((id, held))) => {
                    self.shared.health.ok();
                    let waiter = held.then(|| {
                        Box::new(redis_reply::RedisWaiter {
                            conn: self.conn.clone(),
                            key: format!("{}{id}", self.keys.reply_prefix(channel)),
                            shared: Arc::clone(&self.shared),
                            done: false,
                        }) as Box<dyn Waiter>
                    });
                    Ok((id, waiter))
                }
                Err(e) => {
                    self.shared.health.failed(&e);
                    Err(BackendError::Unavailable)
                }
            }
        })
    }

    fn answer<'a>(
        &'a self,
        channel: &'a str,
        id: &'a str,
        token_hash: &'a str,
        outcome: ReplyOutcome,
    ) -> BoxFut<'a, Result<Posted, BackendError>> {
        Box::pin(async move {
            redis_reply::answer(&self.conn, &self.keys, channel, id, token_hash, &outcome)
                .await
                .map_err(|e| {
                    self.shared.health.failed(&e);
                    BackendError::Unavailable
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_credentials() {
        assert_eq!(
            RedisConfig::new("redis://u:secret@h:1/0").redacted_url(),
            "redis://***@h:1/0"
        );
        assert_eq!(RedisConfig::new("unix:///s").redacted_url(), "unix:///s");
    }
}
