//! The store as the forward job's inbox: the v2 → v3 migration makes never-attempted deliveries
//! pending, a burst and the channel's cursor commit together, pending windows come in arrival
//! order and are bounded and need not read back a body the caller still holds, interrupted
//! deliveries are recorded as such and go back to pending.

use crate::common;

use common::*;
use hookrelay::delivery::{AttemptOutcome, DeliveryState, ErrorKind};
use hookrelay::store::{ListFilter, StatusFilter, Store, schema};

const CH: &str = "https://smee.io/chan";

fn pending(store: &Store) -> Vec<String> {
    store
        .pending_window(Some(CH), 0, 1000, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|i| i.delivery.id)
        .collect()
}

#[test]
fn a_v2_store_is_migrated_and_what_never_got_an_attempt_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 2).unwrap();
        conn.execute_batch(
            r#"INSERT INTO deliveries (id, channel, received_at_ms, method, path, query, headers,
                   body, body_size, origin)
               VALUES ('never0001', 'https://smee.io/chan', 1, 'POST', '', '', '[]', X'', 0,
                       '{"kind":"exact"}'),
                      ('ok0000001', 'https://smee.io/chan', 2, 'POST', '', '', '[]', X'', 0,
                       '{"kind":"exact"}'),
                      ('bad000001', 'https://smee.io/chan', 3, 'POST', '', '', '[]', X'', 0,
                       '{"kind":"exact"}');
               INSERT INTO attempts (delivery_id, started_at_ms, target, replay, latency_ms,
                   status, error)
               VALUES ('ok0000001', 5, 't', 0, 1.0, 200, NULL),
                      ('bad000001', 6, 't', 0, 1.0, NULL, 'the target did not answer within 30 s');"#,
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        hookrelay::store::schema::CURRENT_VERSION
    );
    let state = |id: &str| store.get(id).unwrap().state;
    assert_eq!(state("never0001"), DeliveryState::Pending);
    assert_eq!(state("ok0000001"), DeliveryState::Delivered);
    assert_eq!(state("bad000001"), DeliveryState::Failed);
    assert_eq!(pending(&store), ["never0001"]);
    // an old attempt's kind is read from its message
    let bad = store.get("bad000001").unwrap();
    assert!(matches!(
        bad.attempts[0].outcome,
        AttemptOutcome::Error {
            error: ErrorKind::Timeout,
            ..
        }
    ));
    let f = ListFilter {
        status: Some(StatusFilter::State(DeliveryState::Pending)),
        ..ListFilter::default()
    };
    assert_eq!(store.count(&f).unwrap(), 1);
}

#[test]
fn a_burst_and_its_cursor_commit_together_and_come_back_in_order() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.cursor(CH).unwrap(), None);
    // later deliveries may carry earlier clocks: arrival order is what counts
    let burst: Vec<_> = (0..5)
        .map(|i| {
            let mut d = delivery(&format!("d{i}"), 1000 - i, request("POST", "", &[], b"{}"));
            d.relay_event_id = Some(format!("e{i}"));
            d
        })
        .collect();
    store.commit_intake(&burst, Some((CH, "e4"))).unwrap();
    assert_eq!(store.cursor(CH).unwrap().as_deref(), Some("e4"));
    assert_eq!(pending(&store), ["d0", "d1", "d2", "d3", "d4"]);
    // a failing burst leaves neither its deliveries nor its cursor
    let dup = vec![
        delivery("d5", 1, request("POST", "", &[], b"{}")),
        delivery("d0", 1, request("POST", "", &[], b"{}")),
    ];
    assert!(store.commit_intake(&dup, Some((CH, "e6"))).is_err());
    assert_eq!(store.cursor(CH).unwrap().as_deref(), Some("e4"));
    assert!(store.get("d5").is_err());
    // windows: bounded by count, and by body bytes past the first
    let w = store.pending_window(Some(CH), 0, 2, u64::MAX).unwrap();
    assert_eq!(w.len(), 2);
    let next = store.pending_window(Some(CH), w[1].seq, 10, 0).unwrap();
    assert_eq!(next.len(), 1, "one delivery at least, then the byte bound");
    assert_eq!(next[0].delivery.id, "d2");
    assert!(
        store
            .pending_window(Some("other"), 0, 10, u64::MAX)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn interrupted_deliveries_are_recorded_and_go_back_to_pending_first() {
    let store = Store::open_in_memory().unwrap();
    let burst: Vec<_> = (0..3)
        .map(|i| delivery(&format!("d{i}"), i, request("POST", "", &[], b"{}")))
        .collect();
    store.commit_intake(&burst, None).unwrap();
    store
        .record_attempt("d0", &response(200, b""), DeliveryState::Delivered, None)
        .unwrap();
    store
        .set_state("d1", DeliveryState::Delivering, None)
        .unwrap();
    assert_eq!(store.recover_interrupted(CH, "http://t/").unwrap(), 1);
    assert_eq!(pending(&store), ["d1", "d2"]);
    let d1 = store.get("d1").unwrap();
    assert_eq!(d1.attempts.len(), 1);
    assert!(!d1.attempts[0].is_success());
    assert!(matches!(
        d1.attempts[0].outcome,
        AttemptOutcome::Error {
            error: ErrorKind::Interrupted,
            ..
        }
    ));
    assert_eq!(
        store.count_state(Some(CH), DeliveryState::Pending).unwrap(),
        2
    );
    assert_eq!(
        store.count_state(None, DeliveryState::Delivered).unwrap(),
        1
    );
}

#[test]
fn a_window_takes_lent_bodies_and_reads_the_others_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    let burst: Vec<_> = ["d0", "d1"]
        .iter()
        .map(|id| delivery(id, 1, request("POST", "", &[], id.as_bytes())))
        .collect();
    store.commit_intake(&burst, None).unwrap();
    let lent = bytes::Bytes::from_static(b"the caller's own buffer");
    let mut asked = Vec::new();
    let w = store
        .pending_window_lent(Some(CH), 0, 10, u64::MAX, |id| {
            asked.push(id.to_string());
            (id == "d1").then(|| lent.clone())
        })
        .unwrap();
    assert_eq!(asked, ["d0", "d1"]);
    assert_eq!(
        &w[0].delivery.request.body[..],
        b"d0",
        "read back from the store"
    );
    assert_eq!(
        w[1].delivery.request.body.as_ptr(),
        lent.as_ptr(),
        "not read back"
    );
    assert_eq!(w[1].delivery.request.body.len(), lent.len());
}
