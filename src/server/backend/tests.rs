//! One suite, run against both backends (the Redis one against a real `redis-server` this
//! test starts on a unix socket in a tempdir; skipped with a visible message where
//! `redis-server` is missing, failed under `CI=true`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::memory::MemoryBackend;
use super::redis::{LocalLimits, RedisBackend, RedisConfig};
use super::{Backend, BackendError, Cursor};
use crate::delivery::WebhookRequest;
use crate::server::hub::{Batch, Hub, HubError, HubLimits};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Retention asked of both backends (Redis trims approximately, so it may keep more).
const KEEP: usize = 3;
/// Channels one sender may create by publishing (nobody subscribed yet).
const QUOTA: usize = 3;

#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use redis_server::TestRedis;

/// A `redis-server` with small stream nodes, so approximate trimming trims small streams too.
fn start_redis(test: &str) -> Option<TestRedis> {
    TestRedis::start_with(test, &["--stream-node-max-entries", "2"])
}

fn memory() -> Arc<dyn Backend> {
    Arc::new(MemoryBackend::new(Hub::new(
        HubLimits {
            max_channels: 10,
            max_subscribers_per_channel: 2,
            ring_len: KEEP,
            ring_bytes: 1 << 20,
            retained_bytes_total: 1 << 20,
            batch: 100,
            channel_idle_ttl: Duration::from_secs(3600),
            publish_channel_ttl: Duration::from_secs(60),
            channels_per_sender: QUOTA,
        },
        "ep".into(),
    )))
}

async fn redis(r: &TestRedis) -> Arc<dyn Backend> {
    let mut cfg = RedisConfig::new(r.url());
    cfg.max_len = KEEP;
    let b: Arc<dyn Backend> = Arc::new(
        RedisBackend::new(
            cfg,
            LocalLimits {
                max_channels: 10,
                max_subscribers_per_channel: 2,
                batch: 100,
                publish_channel_ttl: Duration::from_secs(60),
                channels_per_sender: QUOTA,
                read_bytes: 4 << 20,
            },
        )
        .unwrap(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !b.ready() {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b
}

fn req(i: usize) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: format!("/p/{i}"),
        query: "a=1&a=2".into(),
        headers: vec![
            ("x-n".into(), i.to_string()),
            ("x-n".into(), "again".into()),
        ],
        body: Bytes::from([&b"\x00\xff\r\n"[..], i.to_string().as_bytes()].concat()),
    }
}

fn paths(b: &Batch) -> Vec<String> {
    b.events.iter().map(|e| e.request.path.clone()).collect()
}

/// Take until caught up (bounded).
async fn drain(c: &mut Box<dyn Cursor>) -> (Vec<Batch>, Vec<String>) {
    let mut batches = Vec::new();
    let mut all = Vec::new();
    for _ in 0..100 {
        let b = c.take().await;
        if b.gap.is_none() && b.events.is_empty() {
            return (batches, all);
        }
        all.extend(paths(&b));
        batches.push(b);
    }
    panic!("never caught up");
}

/// Run one scenario against both backends (`second` is another instance on the same store:
/// the same backend for memory, a second Redis backend for Redis).
macro_rules! both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn memory_backend() {
                let b = memory();
                $scenario(Arc::clone(&b), b).await;
            }

            #[tokio::test]
            async fn redis_backend() {
                let Some(r) = start_redis(concat!(stringify!($name), "::redis_backend")) else {
                    return;
                };
                $scenario(redis(&r).await, redis(&r).await).await;
            }
        }
    };
}

both!(resume_exactly_once_in_order, resume_scenario);
both!(retention_gap_is_announced, gap_scenario);
both!(publish_wakes_a_waiting_subscriber, wake_scenario);
both!(subscriber_limit_holds, limit_scenario);
both!(sender_quota_spans_instances, quota_scenario);

async fn resume_scenario(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    let mut fresh = b.subscribe("c", None).await.unwrap();
    assert!(fresh.restart_gap().is_none());
    let first = a.publish("c", req(1), 11, IP).await.unwrap();
    a.publish("c", req(2), 12, IP).await.unwrap();
    let (_, got) = drain(&mut fresh).await;
    assert_eq!(got, ["/p/1", "/p/2"]);
    // resuming after the first on the other instance: exactly the rest, byte-exact
    let mut resumed = b.subscribe("c", Some(&first)).await.unwrap();
    let batch = resumed.take().await;
    assert!(batch.gap.is_none());
    assert_eq!(batch.events.len(), 1);
    let ev = &batch.events[0];
    assert_eq!(ev.request, req(2));
    assert_eq!(ev.received_at_ms, 12);
    assert_ne!(ev.id, first);
    assert!(resumed.take().await.events.is_empty());
    drop((fresh, resumed));
    // a fresh subscriber gets nothing old; one from the start id gets everything retained
    let mut late = a.subscribe("c", None).await.unwrap();
    assert!(late.take().await.events.is_empty());
    let mut all = a
        .subscribe("other", Some(&a.start_event_id()))
        .await
        .unwrap();
    assert!(all.take().await.events.is_empty());
}

async fn gap_scenario(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    const N: usize = 12;
    let mut ids = Vec::new();
    for i in 1..=N {
        ids.push(a.publish("g", req(i), 0, IP).await.unwrap());
    }
    let mut c = b.subscribe("g", Some(&ids[0])).await.unwrap();
    let (batches, got) = drain(&mut c).await;
    let gap = batches[0].gap.as_ref().expect("a gap is announced first");
    assert_eq!(gap.data["reason"], "not_retained");
    let missed = gap.data["missed"].as_u64().expect("a count") as usize;
    assert!(got.len() >= KEEP, "{got:?}");
    assert_eq!(
        missed + got.len(),
        N - 1,
        "every event is either delivered or counted missing"
    );
    let want: Vec<String> = (N - got.len() + 1..=N).map(|i| format!("/p/{i}")).collect();
    assert_eq!(got, want, "the newest, in order");
    // resuming from the gap's id does not announce it again
    let mut again = b.subscribe("g", Some(&gap.id)).await.unwrap();
    let (batches, got2) = drain(&mut again).await;
    assert!(batches.iter().all(|b| b.gap.is_none()));
    assert_eq!(got2, got);
}

async fn wake_scenario(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    let mut c = b.subscribe("w", None).await.unwrap();
    assert!(c.take().await.events.is_empty());
    let waiter = tokio::spawn(async move {
        c.wait().await;
        c.take().await.events.len()
    });
    a.publish("w", req(1), 0, IP).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(n, 1);
}

async fn limit_scenario(_a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    let s1 = b.subscribe("l", None).await.unwrap();
    let _s2 = b.subscribe("l", None).await.unwrap();
    assert_eq!(b.subscriber_count(), 2);
    assert_eq!(
        b.subscribe("l", None).await.err(),
        Some(BackendError::Refused(HubError::TooManySubscribers(2)))
    );
    drop(s1);
    assert!(b.subscribe("l", None).await.is_ok());
}

/// A sender's publish-created channels count against one quota whichever instance took them;
/// a subscription takes a channel out of it; other senders are not affected.
async fn quota_scenario(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    for (i, on) in [&a, &b, &a].into_iter().enumerate() {
        on.publish(&format!("q{i}"), req(i), 0, attacker)
            .await
            .unwrap();
    }
    let over = Err(BackendError::Refused(HubError::SenderQuota(QUOTA)));
    assert_eq!(b.publish("q3", req(3), 0, attacker).await, over);
    assert_eq!(a.publish("q3", req(3), 0, attacker).await, over);
    // existing channels still take its webhooks; another sender is not affected
    b.publish("q0", req(4), 0, attacker).await.unwrap();
    a.publish("q3", req(5), 0, IP).await.unwrap();
    // a subscriber (on either instance) takes a channel out of the creator's quota
    let _sub = b.subscribe("q1", None).await.unwrap();
    a.publish("q4", req(6), 0, attacker).await.unwrap();
    assert_eq!(b.publish("q5", req(7), 0, attacker).await, over);
}

/// Subscribers resuming far back on large events are handed at most 1 MiB of entries a read
/// (or one larger entry alone), what they hold is counted (`retained_bytes`) in the read room
/// (4 MiB here: 1 MiB for ordinary reads, 3 MiB for larger entries), and a read waits for room
/// (here: gives up, reading nothing) when it is full.
#[tokio::test]
async fn redis_reads_are_bounded_and_counted_in_the_budget() {
    let Some(r) = start_redis("redis_reads_are_bounded_and_counted_in_the_budget") else {
        return;
    };
    let (a, b) = (redis(&r).await, redis(&r).await);
    let sized = |i: usize, n: usize| WebhookRequest {
        body: Bytes::from(vec![b'x'; n]),
        ..req(i)
    };
    const BIG: usize = 1400 << 10;
    // (two channels: at most 2 subscribers a channel here)
    for channel in ["big", "big2"] {
        a.publish(channel, sized(1, 600 << 10), 0, IP)
            .await
            .unwrap();
        a.publish(channel, sized(2, 600 << 10), 0, IP)
            .await
            .unwrap();
        a.publish(channel, sized(3, BIG), 0, IP).await.unwrap();
    }
    let from_start = b.start_event_id();
    let mut c1 = b.subscribe("big", Some(&from_start)).await.unwrap();
    for (path, size) in [("/p/1", 600 << 10), ("/p/2", 600 << 10), ("/p/3", BIG)] {
        let batch = c1.take().await;
        assert_eq!(
            paths(&batch),
            [path],
            "one entry a read: 1 MiB at most, or one alone"
        );
        let held = b.retained_bytes();
        assert!(
            (size..size + 4096).contains(&held),
            "{held} bytes held for {size}"
        );
    }
    // with two subscribers holding the large event, ordinary reads still have room, a third
    // large event does not
    let mut c2 = b.subscribe("big", Some(&from_start)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(c2.take().await.events.len(), 1);
    }
    let mut c3 = b.subscribe("big2", Some(&from_start)).await.unwrap();
    assert_eq!(
        c3.take().await.events.len(),
        1,
        "a 1 MiB read fits beside two large events"
    );
    assert_eq!(c3.take().await.events.len(), 1);
    assert!(
        c3.take().await.events.is_empty(),
        "no room for a third large event"
    );
    assert!(b.retained_bytes() <= 4 << 20);
    drop(c1);
    assert_eq!(paths(&c3.take().await), ["/p/3"], "room again");
    drop((c2, c3));
    assert_eq!(b.retained_bytes(), 0, "everything given back");
}

#[tokio::test]
async fn redis_down_refuses_publishes_and_recovers() {
    let Some(mut r) = start_redis("redis_down_refuses_publishes_and_recovers") else {
        return;
    };
    let b = redis(&r).await;
    let mut c = b.subscribe("d", None).await.unwrap();
    r.stop(); // Redis gone
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.ready() {
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        b.publish("d", req(1), 0, IP).await,
        Err(BackendError::Unavailable)
    );
    assert!(c.take().await.events.is_empty(), "the subscriber stays");
    // Redis back (same socket, empty: no persistence)
    r.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !b.ready() {
        assert!(tokio::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.publish("d", req(2), 0, IP).await.unwrap();
    let (_, got) = drain(&mut c).await;
    assert_eq!(got, ["/p/2"]);
}

#[tokio::test]
async fn redis_lost_its_data_a_resuming_subscriber_is_told() {
    let Some(mut r) = start_redis("redis_lost_its_data_a_resuming_subscriber_is_told") else {
        return;
    };
    let b = redis(&r).await;
    let old = b.publish("r", req(1), 0, IP).await.unwrap();
    r.restart(); // no persistence: the stream is gone
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let new = loop {
        if let Ok(id) = b.publish("r", req(2), 0, IP).await {
            break id;
        }
        assert!(tokio::time::Instant::now() < deadline, "never stored again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // the old id is now past the channel's newest only if the counter restarted below it
    let mut c = b.subscribe("r", Some(&old)).await.unwrap();
    let (batches, got) = drain(&mut c).await;
    let restart = c.restart_gap();
    let gap = restart
        .as_ref()
        .or_else(|| batches.first().and_then(|b| b.gap.as_ref()))
        .expect("the lost stream is announced");
    assert_eq!(gap.data["reason"], "stream_reset", "{gap:?}");
    assert!(got.is_empty() || got == ["/p/2"], "{got:?} (new id {new})");
}

#[tokio::test]
async fn redis_channels_nobody_subscribed_to_expire_sooner() {
    let Some(r) = start_redis("redis_channels_nobody_subscribed_to_expire_sooner") else {
        return;
    };
    let b = redis(&r).await;
    b.publish("p", req(1), 0, IP).await.unwrap();
    let _sub = b.subscribe("s", None).await.unwrap();
    b.publish("s", req(1), 0, IP).await.unwrap();
    let mut conn = ::redis::Client::open(r.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl = |key: &'static str| {
        let mut conn = conn.clone();
        async move {
            ::redis::cmd("TTL")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    let (p, s) = (
        ttl("hookrelay:stream:p").await,
        ttl("hookrelay:stream:s").await,
    );
    assert!((1..=60).contains(&p), "publish-only: {p}");
    assert!(s > 3600, "subscribed: {s}");
    let created: Option<String> = ::redis::cmd("HGET")
        .arg("hookrelay:meta:s")
        .arg("created")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(created.is_some(), "channel metadata lives in Redis");
}

#[tokio::test]
async fn redis_stream_without_its_metadata_continues_after_its_newest_entry() {
    let Some(r) = start_redis("redis_stream_without_its_metadata") else {
        return;
    };
    let b = redis(&r).await;
    let first = b.publish("m", req(1), 0, IP).await.unwrap();
    let mut conn = ::redis::Client::open(r.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = ::redis::cmd("DEL")
        .arg("hookrelay:meta:m")
        .query_async(&mut conn)
        .await
        .unwrap();
    let second = b.publish("m", req(2), 0, IP).await.unwrap();
    let mut c = b.subscribe("m", Some(&first)).await.unwrap();
    let (batches, got) = drain(&mut c).await;
    assert!(batches.iter().all(|b| b.gap.is_none()), "{second}");
    assert_eq!(got, ["/p/2"]);
}

/// Wait until Redis's clock (which event ids carry) is `ms` past the event `id`.
async fn redis_clock_past(conn: &mut ::redis::aio::MultiplexedConnection, id: &str, ms: u64) {
    let born: u64 = id.split('-').next().unwrap().parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, us): (u64, u64) = ::redis::cmd("TIME").query_async(conn).await.unwrap();
        if s * 1000 + us / 1000 > born + ms {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis's clock stands still"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `--redis-max-age`: events older than it are trimmed (and announced as a gap with their
/// count), while the channel, still in use, stays.
#[tokio::test]
async fn redis_retention_by_age_is_announced_as_a_gap() {
    let Some(r) = start_redis("redis_retention_by_age_is_announced_as_a_gap") else {
        return;
    };
    let mut cfg = RedisConfig::new(r.url());
    cfg.max_age = Duration::from_secs(2);
    let limits = LocalLimits {
        max_channels: 10,
        max_subscribers_per_channel: 2,
        batch: 100,
        publish_channel_ttl: Duration::from_secs(60),
        channels_per_sender: QUOTA,
        read_bytes: 4 << 20,
    };
    let b: Arc<dyn Backend> = Arc::new(RedisBackend::new(cfg, limits).unwrap());
    let mut conn = ::redis::Client::open(r.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let first = b.publish("age", req(1), 0, IP).await.unwrap();
    b.publish("age", req(2), 0, IP).await.unwrap();
    redis_clock_past(&mut conn, &first, 1000).await;
    b.publish("age", req(3), 0, IP).await.unwrap();
    redis_clock_past(&mut conn, &first, 2100).await;
    b.publish("age", req(4), 0, IP).await.unwrap(); // trims what is older than 2 s
    let mut c = b.subscribe("age", Some(&b.start_event_id())).await.unwrap();
    let (batches, got) = drain(&mut c).await;
    let gap = batches[0]
        .gap
        .as_ref()
        .expect("the trimmed events are announced");
    assert_eq!(gap.data["reason"], "not_retained");
    assert_eq!(gap.data["missed"], 2);
    assert_eq!(got, ["/p/3", "/p/4"]);
}
