//! Unit tests of the hub: rings, gaps, budgets, channel quotas and eviction.

use super::*;
use bytes::Bytes;

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn limits() -> HubLimits {
    HubLimits {
        max_channels: 2,
        max_subscribers_per_channel: 2,
        ring_len: 3,
        ring_bytes: 1 << 20,
        retained_bytes_total: 1 << 20,
        batch: 100,
        channel_idle_ttl: Duration::from_secs(3600),
        publish_channel_ttl: Duration::from_secs(60),
        channels_per_sender: 10,
    }
}

fn req(body: &'static [u8]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![],
        body: Bytes::from_static(body),
    }
}

fn seqs(b: &Batch) -> Vec<u64> {
    b.events.iter().map(|e| e.seq).collect()
}

#[test]
fn only_the_newest_events_keep_their_frames() {
    let mut l = limits();
    l.ring_len = FRAMES_KEPT + 3;
    let hub = Arc::new(Hub::new(l, "ep".into()));
    let mut sub = hub.subscribe("c", None).unwrap();
    let mut events = Vec::new();
    for i in 0..FRAMES_KEPT + 3 {
        hub.publish("c", req(b"x"), 0, IP).unwrap();
        let e = sub.take().events.pop().unwrap();
        *e.frames.lock().unwrap() = [Some(Bytes::from(format!("smee {i}"))), None];
        events.push(e);
    }
    let kept: Vec<bool> = events
        .iter()
        .map(|e| e.frames.lock().unwrap()[0].is_some())
        .collect();
    // each publish drops the frames of the event FRAMES_KEPT places back
    let mut want = vec![false; 3];
    want.extend(vec![true; FRAMES_KEPT]);
    assert_eq!(kept, want);
}

#[test]
fn ids_parse() {
    assert_eq!(parse_event_id("abc12-7"), Some(("abc12", 7)));
    assert_eq!(parse_event_id("7"), None);
    assert_eq!(parse_event_id("a-b"), None);
    assert_eq!(parse_event_id("-3"), None);
    assert_eq!(parse_event_id("a_b-3"), None);
}

#[test]
fn resume_gap_and_restart() {
    let hub = Arc::new(Hub::new(limits(), "ep".into()));
    for _ in 0..5 {
        hub.publish("c", req(b"x"), 0, IP).unwrap();
    }
    // ring holds 3..=5
    let mut s = hub.subscribe("c", Some("ep-1")).unwrap();
    let b = s.take();
    let gap = b.gap.as_ref().unwrap();
    assert_eq!(gap.data["missed"], 1);
    assert_eq!(gap.data["missed_from"], "ep-2");
    assert_eq!(seqs(&b), vec![3, 4, 5]);
    assert!(s.take().events.is_empty());

    let mut s2 = hub.subscribe("c", Some("other-9")).unwrap();
    assert_eq!(
        s2.restart_gap.as_ref().unwrap().data["reason"],
        "relay_restarted"
    );
    let b = s2.take();
    assert_eq!(b.gap.as_ref().unwrap().data["missed"], 2);
    assert_eq!(seqs(&b), vec![3, 4, 5]);

    assert_eq!(
        hub.subscribe("c", None).err(),
        Some(HubError::TooManySubscribers(2))
    );
    drop(s);
    let mut fresh = hub.subscribe("c", Some("garbage")).unwrap();
    assert!(fresh.take().events.is_empty());
    hub.publish("c", req(b"y"), 0, IP).unwrap();
    assert_eq!(seqs(&fresh.take()), vec![6]);
}

#[test]
fn budgets_bound_memory() {
    let mut l = limits();
    l.ring_len = 100;
    l.retained_bytes_total = 3 * Event::size_of(&req(b"0123456789"));
    let hub = Arc::new(Hub::new(l, "ep".into()));
    for _ in 0..4 {
        hub.publish("a", req(b"0123456789"), 0, IP).unwrap();
    }
    hub.publish("b", req(b"0123456789"), 0, IP).unwrap();
    assert!(hub.retained_bytes() <= hub.limits.retained_bytes_total);
    assert_eq!(
        hub.publish("c", req(b""), 0, IP).err(),
        Some(HubError::TooManyChannels(2))
    );
    let mut s = hub.subscribe("a", Some("ep-0")).unwrap();
    let b = s.take();
    assert_eq!(b.gap.as_ref().unwrap().data["missed"], 2);
    assert_eq!(seqs(&b), vec![3, 4]);
}

#[test]
fn sender_quota_and_subscribers_make_room() {
    let mut l = limits();
    l.channels_per_sender = 1;
    let hub = Arc::new(Hub::new(l, "ep".into()));
    let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    hub.publish("a", req(b"x"), 0, other).unwrap();
    assert_eq!(
        hub.publish("b", req(b"x"), 0, other).err(),
        Some(HubError::SenderQuota(1)),
        "one publish-created channel per sender"
    );
    hub.publish("b", req(b"x"), 0, IP).unwrap();
    // full (2 channels): a subscriber's new channel replaces the oldest publish-only one
    let _s = hub.subscribe("c", None).unwrap();
    assert_eq!(hub.channel_count(), 2);
    // ... which gave its sender's quota back
    hub.publish("d", req(b"x"), 0, other)
        .map(|_| ())
        .or_else(|e| match e {
            HubError::TooManyChannels(_) => Ok(()),
            e => Err(e),
        })
        .unwrap();
    // subscribing to a publish-created channel takes it out of the sender's quota
    let _t = hub.subscribe("b", None).unwrap();
    assert_eq!(hub.channel_count(), 2);
}
