//! The limits of a shared relay hold across its instances and within its memory budget: real
//! `hookrelay serve --redis` processes on a real `redis-server`. The attacker is 127.0.0.2, the
//! honest user 127.0.0.1.

use crate::common;
use crate::redis_support;
use crate::serve_support;
use crate::server_support;

use std::time::{Duration, Instant};

use redis_support::{Instance, TestRedis};
use serve_support::{
    ANSWER, ATTACKER, HONEST, Serve, client_from, honest_user_is_served, stuck_subscriber,
};

const WAIT: Duration = Duration::from_secs(60);

/// A channel URL of `base` nobody has used.
fn fresh(base: &str) -> String {
    format!("{base}/{}", hookrelay::server::new_channel_name())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_channel_quota_per_sender_across_instances() {
    const QUOTA: usize = 5;
    let Some(redis) = TestRedis::start("redis_limits::channel_quota") else {
        return;
    };
    let quota = QUOTA.to_string();
    let a = Instance::start(&redis.url(), &["--channels-per-addr", &quota]);
    let b = Instance::start(&redis.url(), &["--channels-per-addr", &quota]);
    a.wait_ready(200, WAIT).await;
    b.wait_ready(200, WAIT).await;

    // the attacker spreads channel-creating publishes over both instances
    let attacker = client_from(ATTACKER);
    let mut statuses = Vec::new();
    let mut created = Vec::new();
    for i in 0..4 * QUOTA {
        let on = if i % 2 == 0 { &a.base } else { &b.base };
        let url = fresh(on);
        let status = attacker
            .post(&url)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            created.push(url);
        }
        statuses.push(status.as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        accepted, QUOTA,
        "one quota over both instances, not one each: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // the channels it did create still take its webhooks, on either instance
    let path = created[0].rsplit('/').next().unwrap().to_string();
    for base in [&a.base, &b.base] {
        let r = attacker
            .post(format!("{base}/{path}"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // the honest user is not affected: `/new` on one instance, subscribed on the other, a
    // webhook through the first; and channels a publish of its own creates
    let honest = client_from(HONEST);
    let r = tokio::time::timeout(ANSWER, honest.get(a.url("/new")).send())
        .await
        .expect("/new within 3 s")
        .unwrap();
    assert_eq!(r.status(), 307);
    let name = r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let mut sub = server_support::subscribe_ready(&b.url(&format!("/{name}")), &[]).await;
    let r = honest
        .post(a.url(&format!("/{name}")))
        .header("content-type", "application/json")
        .body(r#"{"honest":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ev = tokio::time::timeout(ANSWER, sub.next_non_ping())
        .await
        .expect("the honest webhook within 3 s");
    assert!(ev.data.contains("honest"), "{ev:?}");
    for base in [&a.base, &b.base] {
        let r = honest.post(fresh(base)).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 200, "the honest sender's own quota");
    }
}

/// The peak resident set size of process `pid` (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> usize {
    hookrelay::proc_mem::kib(pid, "VmHWM:").expect("VmHWM") as usize * 1024
}

/// Subscribers resuming from the start of a channel of large events, which never read what
/// they are sent: what the relay reads from Redis for them is bounded and counted in the one
/// memory budget (the rings' half, unused on Redis), so the relay's peak RSS stays within the
/// budget plus the same fixed overhead as the memory backend's test (`server_attacks.rs`).
/// Checked on the peak RSS (`VmHWM`, so no sample can miss the peak) and on the accounting
/// (`hookrelay_retained_bytes`, the bytes read from Redis that subscribers hold).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resuming_subscribers_of_large_events_stay_within_the_memory_budget() {
    const BUDGET: usize = 128 << 20;
    const OVERHEAD: usize = 64 << 20;
    const EVENT: usize = 20 << 20;
    const EVENTS: usize = 4;
    const SUBSCRIBERS: usize = 6;
    let Some(redis) = TestRedis::start("redis_limits::memory_budget") else {
        return;
    };
    let relay = Serve::start(&[
        "--redis",
        &redis.url(),
        "--memory-budget",
        "128MiB",
        "--write-timeout",
        "3s",
    ]);
    let honest = client_from(HONEST);
    let chan = relay.channel();
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(EVENT));
    for _ in 0..EVENTS {
        let r = honest.post(&chan).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    drop(body);
    // each resumes from the start, reads up to the ready event, then never reads again
    let path = chan.strip_prefix(&relay.url).unwrap().to_string();
    let mut stuck = Vec::new();
    for i in 0..SUBSCRIBERS {
        // half of them in the extended shape, whose large frames are written in pieces
        let extra = if i % 2 == 0 {
            "Last-Event-ID: 0-0\r\n"
        } else {
            "Last-Event-ID: 0-0\r\nX-Hookrelay-Wire: 1\r\n"
        };
        stuck.push(stuck_subscriber(ATTACKER, relay.addr, &path, extra).await);
    }
    honest_user_is_served(&relay).await;
    // until the relay has disconnected every stuck subscriber (they cannot keep up), the
    // bytes it holds for them never pass the rings' half of the budget
    let mut held_max = 0;
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let (held, text) = common::metric(&honest, &relay.url, "hookrelay_retained_bytes").await;
        let held = held.unwrap_or_else(|| panic!("no retained bytes metric:\n{text}"));
        held_max = held_max.max(held as usize);
        let (subs, _) = common::metric(&honest, &relay.url, "hookrelay_subscribers").await;
        if subs == Some(0) {
            break;
        }
        assert!(Instant::now() < end, "stuck subscribers never disconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stuck);
    let peak = peak_rss(relay.pid());
    eprintln!(
        "{SUBSCRIBERS} subscribers resuming over {EVENTS} x {} MiB: peak RSS {} MiB, at most {} MiB held from Redis (budget {} MiB)",
        EVENT >> 20,
        peak >> 20,
        held_max >> 20,
        BUDGET >> 20
    );
    assert!(held_max > 0, "the subscribers were sent something");
    assert!(
        held_max <= BUDGET / 2,
        "{held_max} bytes read from Redis held, over the rings' share"
    );
    assert!(
        peak <= BUDGET + OVERHEAD,
        "RSS {} MiB over budget {} MiB + {} MiB",
        peak >> 20,
        BUDGET >> 20,
        OVERHEAD >> 20
    );
}
