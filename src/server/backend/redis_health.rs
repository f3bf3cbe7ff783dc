//! The Redis backend's health task: readiness, the announce subscription, and keeping alive
//! what this instance's subscribers and repliers use.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::redis_reply;
use super::redis_shared::Shared;
use super::redis_store::{Keys, SUBSCRIBED_LUA};

/// How often the health task pings Redis.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// How often channels with subscribers here get their expiry renewed.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Ping Redis every second on both connections (readiness, and reconnecting the managers), and
/// subscribe to the announce channel once it answers (the manager resubscribes after reconnects itself).
/// Every [`REFRESH_EVERY`] it keeps the channels this instance has subscribers on alive (a
/// quiet channel with a subscriber must not expire under it).
pub(super) async fn health(
    mut conn: ConnectionManager,
    mut pubsub: ConnectionManager,
    keys: Keys,
    max_age: Duration,
    shared: Arc<Shared>,
) {
    let notify = keys.notify();
    let refresh = Script::new(SUBSCRIBED_LUA);
    let mut last_refresh = tokio::time::Instant::now();
    let mut last_renew = tokio::time::Instant::now();
    let mut subscribed = false;
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
        let pong2: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut pubsub).await;
        if let Err(e) = pong.and(pong2) {
            shared.health.failed(&e);
            continue;
        }
        if !subscribed {
            if let Err(e) = pubsub.subscribe(&[&notify, &keys.replied()]).await {
                shared.health.failed(&e);
                continue;
            }
            subscribed = true;
            shared.wake_all.send_modify(|n| *n = n.wrapping_add(1));
        }
        shared.health.ok();
        if last_renew.elapsed() >= redis_reply::RENEW_EVERY {
            last_renew = tokio::time::Instant::now();
            redis_reply::renew(&mut conn, &keys, &shared).await;
        }
        if last_refresh.elapsed() >= REFRESH_EVERY {
            last_refresh = tokio::time::Instant::now();
            let names: Vec<String> = shared.lock().channels.keys().cloned().collect();
            for name in names {
                let r: redis::RedisResult<Option<String>> = refresh
                    .key(keys.stream(&name))
                    .key(keys.meta(&name))
                    .arg(max_age.as_millis() as u64)
                    .arg(&name)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = r {
                    shared.health.failed(&e);
                    break;
                }
            }
        }
    }
}
