//! The round trip across instances: the sender may be held on one instance while the replying
//! subscriber is connected to (and replies through) another.
//!
//! - `<prefix>:repliers:<channel>` is a sorted set of the hashes of replying subscribers'
//!   secrets, scored by when they expire ([`REPLIER_TTL`], renewed every [`RENEW_EVERY`] by the
//!   instance the subscriber is connected to, removed when it leaves). A crashed instance's
//!   subscribers expire on their own.
//! - The publish script holds a sender atomically with storing its event: the reply key
//!   `<prefix>:reply:<channel>:<id>` becomes `w` (awaited), expiring after the reply timeout
//!   plus a margin, so a held event never costs Redis memory for long.
//! - A reply ([`ANSWER_LUA`]) checks the secret, and only if the key is `w` stores `a<answer>`
//!   and announces the key on `<prefix>:replied`: the first answer wins, whichever instance
//!   takes it. The holding instance wakes its waiter, which takes the answer ([`TAKE_LUA`],
//!   leaving `d`); at the timeout it marks the key `t` (too late) unless an answer is there.
//!   Waiters also look every [`POLL`] on their own, so a lost announcement only delays.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::redis_shared::{POLL, Shared};
use super::redis_store::Keys;
use super::{BoxFut, Posted, Waiter};
use crate::reply::{NotSent, ReplyOutcome};

/// How long a replying subscriber's registration lives without being renewed.
pub(super) const REPLIER_TTL: Duration = Duration::from_secs(30);
/// How often an instance renews the registrations of its replying subscribers.
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long a reply key outlives the reply timeout (so a late reply is told it is late).
pub(super) const KEY_MARGIN: Duration = Duration::from_secs(60);

/// Register (or renew) a replier. KEYS: repliers. ARGV: hash, ttl_ms.
const REPLIER_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// Whether a replier is alive. KEYS: repliers.
const HAS_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], string.format('(%.0f', now), '+inf')
"#;

/// A reply. KEYS: repliers, reply key. ARGV: hash, answer, replied channel.
const ANSWER_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) < now then return 'forbidden' end
local s = redis.call('GET', KEYS[2])
if not s then return 'none' end
if s == 'w' then
  redis.call('SET', KEYS[2], 'a' .. ARGV[2], 'KEEPTTL')
  redis.call('PUBLISH', ARGV[3], KEYS[2])
  return 'sent'
end
return string.sub(s, 1, 1)
"#;

/// A held sender takes its answer. KEYS: reply key. ARGV: '1' when giving up (timed out).
const TAKE_LUA: &str = r#"
local s = redis.call('GET', KEYS[1])
if s and string.sub(s, 1, 1) == 'a' then
  redis.call('SET', KEYS[1], 'd', 'KEEPTTL')
  return string.sub(s, 2)
end
if ARGV[1] == '1' and s == 'w' then redis.call('SET', KEYS[1], 't', 'KEEPTTL') end
return false
"#;

pub(super) async fn add_replier(
    conn: &ConnectionManager,
    keys: &Keys,
    shared: &Arc<Shared>,
    channel: &str,
    hash: String,
) -> redis::RedisResult<Box<dyn Send + Sync>> {
    let mut c = conn.clone();
    let _: i64 = Script::new(REPLIER_LUA)
        .key(keys.repliers(channel))
        .arg(&hash)
        .arg(REPLIER_TTL.as_millis() as u64)
        .invoke_async(&mut c)
        .await?;
    *shared
        .repliers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((channel.to_string(), hash.clone()))
        .or_default() += 1;
    Ok(Box::new(Lease {
        conn: conn.clone(),
        set: keys.repliers(channel),
        channel: channel.to_string(),
        hash,
        shared: Arc::clone(shared),
    }))
}

/// Renew the registrations of the replying subscribers connected here.
pub(super) async fn renew(conn: &mut ConnectionManager, keys: &Keys, shared: &Shared) {
    let here: Vec<(String, String)> = shared
        .repliers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .cloned()
        .collect();
    let script = Script::new(REPLIER_LUA);
    for (channel, hash) in here {
        let r: redis::RedisResult<i64> = script
            .key(keys.repliers(&channel))
            .arg(&hash)
            .arg(REPLIER_TTL.as_millis() as u64)
            .invoke_async(conn)
            .await;
        if let Err(e) = r {
            shared.health.failed(&e);
            return;
        }
    }
}

pub(super) async fn has_replier(conn: &ConnectionManager, keys: &Keys, channel: &str) -> bool {
    let mut c = conn.clone();
    let n: redis::RedisResult<i64> = Script::new(HAS_LUA)
        .key(keys.repliers(channel))
        .invoke_async(&mut c)
        .await;
    n.is_ok_and(|n| n > 0)
}

pub(super) async fn answer(
    conn: &ConnectionManager,
    keys: &Keys,
    channel: &str,
    id: &str,
    hash: &str,
    outcome: &ReplyOutcome,
) -> redis::RedisResult<Posted> {
    let mut c = conn.clone();
    let r: String = Script::new(ANSWER_LUA)
        .key(keys.repliers(channel))
        .key(format!("{}{id}", keys.reply_prefix(channel)))
        .arg(hash)
        .arg(outcome.to_json())
        .arg(keys.replied())
        .invoke_async(&mut c)
        .await?;
    Ok(match r.as_str() {
        "sent" => Posted::Sent,
        "forbidden" => Posted::Forbidden,
        "t" => Posted::NotSent(NotSent::TooLate),
        "a" | "d" => Posted::NotSent(NotSent::AlreadyAnswered),
        _ => Posted::NotSent(NotSent::NotHeld),
    })
}

/// A held sender on this instance.
pub(super) struct RedisWaiter {
    pub(super) conn: ConnectionManager,
    pub(super) key: String,
    pub(super) shared: Arc<Shared>,
    pub(super) done: bool,
}

impl RedisWaiter {
    async fn take(&mut self, give_up: bool) -> redis::RedisResult<Option<ReplyOutcome>> {
        let raw: Option<Vec<u8>> = Script::new(TAKE_LUA)
            .key(&self.key)
            .arg(if give_up { "1" } else { "0" })
            .invoke_async(&mut self.conn)
            .await?;
        Ok(raw.and_then(|r| match ReplyOutcome::from_json(&r) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(error = %e, "an answer in Redis is not a reply; ignored");
                None
            }
        }))
    }
}

impl Waiter for RedisWaiter {
    fn wait(mut self: Box<Self>, timeout: Duration) -> BoxFut<'static, Option<ReplyOutcome>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let notify = Arc::clone(
                self.shared
                    .waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(self.key.clone())
                    .or_default(),
            );
            let result = loop {
                // armed before looking, so an announcement after the look wakes us
                let woken = notify.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if let Ok(Some(o)) = self.take(false).await {
                    break Some(o);
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    break self.take(true).await.ok().flatten();
                }
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep((deadline - now).min(POLL)) => {}
                }
            };
            self.done = true;
            result
        })
    }
}

impl Drop for RedisWaiter {
    fn drop(&mut self) {
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        if !self.done {
            // the sender went away: later replies are told it is too late
            let mut conn = self.conn.clone();
            let key = std::mem::take(&mut self.key);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _: redis::RedisResult<Option<Vec<u8>>> = Script::new(TAKE_LUA)
                        .key(&key)
                        .arg("1")
                        .invoke_async(&mut conn)
                        .await;
                });
            }
        }
    }
}

/// A replying subscriber connected here; dropping it unregisters.
struct Lease {
    conn: ConnectionManager,
    set: String,
    channel: String,
    hash: String,
    shared: Arc<Shared>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut here = self
            .shared
            .repliers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (self.channel.clone(), self.hash.clone());
        let last = match here.get_mut(&key) {
            Some(n) => {
                *n -= 1;
                *n == 0
            }
            None => true,
        };
        if !last {
            return;
        }
        here.remove(&key);
        drop(here);
        let (mut conn, set, hash) = (self.conn.clone(), self.set.clone(), self.hash.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _: redis::RedisResult<i64> = redis::cmd("ZREM")
                    .arg(&set)
                    .arg(&hash)
                    .query_async(&mut conn)
                    .await;
            });
        }
    }
}
