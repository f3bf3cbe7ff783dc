//! The delivery store on a real SQLite file: byte-exact round trips, attempts, ids, pruning,
//! permissions, filters and migrations.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use common::*;
use hookrelay::delivery::{AttemptOutcome, BodyOrigin, DeliveryState};
use hookrelay::slack::SlackResult;
use hookrelay::store::{ListFilter, StatusFilter, Store, StoreError, schema};
use hookrelay::verify::{Outcome, Scheme, Verification};

fn verification(outcome: Outcome) -> Verification {
    Verification::new(Some(Scheme::Github), outcome, "because")
}

#[test]
fn deliveries_round_trip_byte_exact_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/store.sqlite");
    let binary: Vec<u8> = (0..=255u8).chain([0, 0xc3, b'\'', b'"', 0xff]).collect();
    let mut text = request(
        "PATCH",
        "/a/b%20c",
        &[
            ("X-GitHub-Event", "push"),
            ("content-type", "application/json; charset=utf-8"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("X-MULTI", "three"),
            ("X-Empty", ""),
            ("X-Unicode", "héllo ✓"),
        ],
        "{\"a\": \"it's \\u00e9\",\n \"b\": [1,2]}  ".as_bytes(),
    );
    text.query = "b=2&a=1&a=%20&flag".into();
    let mut d1 = delivery("aaaaaaaaa1", 1_700_000_000_000, text);
    d1.relay_event_id = Some("1700000000000".into());
    d1.verification = Some(verification(Outcome::Valid));
    d1.slack = Some(SlackResult {
        ok: false,
        status: Some(404),
        error: Some("channel_not_found".into()),
        explanation: "the channel is gone".into(),
    });
    d1.attempts = vec![response(200, &binary), error("connection refused")];
    let mut d2 = delivery(
        "aaaaaaaaa2",
        1_700_000_000_001,
        request(
            "POST",
            "",
            &[("Content-Type", "application/octet-stream")],
            &binary,
        ),
    );
    d2.origin = BodyOrigin::Reserialized {
        relay: "smee.io".into(),
    };
    let d3 = delivery(
        "aaaaaaaaa3",
        1_700_000_000_002,
        request("GET", "/", &[], b""),
    );
    {
        let store = Store::open(&path).unwrap();
        for d in [&d1, &d2, &d3] {
            store.insert_delivery(d).unwrap();
        }
        assert_eq!(store.path(), Some(path.as_path()));
    }
    let store = Store::open(&path).unwrap();
    let back = [&d1, &d2, &d3].map(|d| store.get(&d.id).unwrap());
    // the store derives the event label, and settles a delivery that comes with attempts
    let mut d1 = d1.clone();
    d1.event = Some("push".into());
    d1.state = DeliveryState::Delivered;
    assert_eq!(back[0], d1);
    assert_eq!(back[1], d2);
    assert_eq!(back[2], d3);
    assert_eq!(&back[1].request.body[..], &binary[..]);
    assert!(back[2].request.body.is_empty());
    // Header order, case and repeats, exactly.
    let names: Vec<&str> = back[0]
        .request
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names[2..5], ["X-Multi", "x-multi", "X-MULTI"]);
}

#[test]
fn attempts_link_to_their_delivery_and_go_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::open(&path).unwrap();
    for (i, id) in ["d1", "d2", "d3"].iter().enumerate() {
        let mut d = delivery(id, 1_000 + i as i64, request("POST", "/", &[], b"x"));
        d.attempts.push(response(500, b"no"));
        store.insert_delivery(&d).unwrap();
    }
    store.add_attempt("d1", &error("timeout")).unwrap();
    store.add_attempt("d1", &response(201, b"ok")).unwrap();
    let d1 = store.get("d1").unwrap();
    let statuses: Vec<Option<u16>> = d1.attempts.iter().map(|a| a.status()).collect();
    assert_eq!(statuses, [Some(500), None, Some(201)]);
    assert_eq!(store.get("d2").unwrap().attempts.len(), 1);
    assert!(matches!(
        store.add_attempt("nope", &error("x")),
        Err(StoreError::NotFound(_))
    ));

    // Keep the newest: d3. d1 and d2 and their four attempts go.
    assert_eq!(store.prune(Some(1), None).unwrap(), 2);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(String, i64)> = raw
        .prepare("SELECT delivery_id, count(*) FROM attempts GROUP BY delivery_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [("d3".to_string(), 1)]);
    // their bodies (a table of their own since v6, in parts since v7) go with them
    let bodies: Vec<String> = raw
        .prepare("SELECT DISTINCT delivery_id FROM body_parts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(bodies, ["d3"]);
    assert!(matches!(store.get("d1"), Err(StoreError::NotFound(_))));
}

#[test]
fn prune_by_age_keeps_recent_deliveries() {
    let store = Store::open_in_memory().unwrap();
    let now = hookrelay::delivery::now_ms();
    let day = 86_400_000;
    store
        .insert_delivery(&delivery(
            "old",
            now - 8 * day,
            request("POST", "/", &[], b""),
        ))
        .unwrap();
    store
        .insert_delivery(&delivery("new", now - day, request("POST", "/", &[], b"")))
        .unwrap();
    assert_eq!(store.prune(None, Some(7 * day)).unwrap(), 1);
    assert!(store.get("new").is_ok());
    assert!(store.get("old").is_err());
    assert_eq!(store.prune(Some(5), None).unwrap(), 0);
}

#[test]
fn ids_resolve_by_unique_prefix() {
    let store = Store::open_in_memory().unwrap();
    for id in ["abcde11111", "abcde22222", "xyz0000000"] {
        store
            .insert_delivery(&delivery(id, 1, request("POST", "/", &[], b"")))
            .unwrap();
    }
    assert_eq!(store.get("abcde1").unwrap().id, "abcde11111");
    assert_eq!(store.get("x").unwrap().id, "xyz0000000");
    assert_eq!(store.get("abcde22222").unwrap().id, "abcde22222");
    match store.get("abcde") {
        Err(StoreError::Ambiguous { prefix, candidates }) => {
            assert_eq!(prefix, "abcde");
            assert_eq!(candidates, ["abcde11111", "abcde22222"]);
        }
        other => panic!("expected ambiguous, got {other:?}"),
    }
    for missing in ["abcdf", "", "abcde11111x", "%", "ABCDE1"] {
        assert!(
            matches!(store.get(missing), Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
    }
}

#[test]
fn the_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("new/store.sqlite");
    let store = Store::open(&fresh).unwrap();
    store
        .insert_delivery(&delivery("a", 1, request("POST", "/", &[], b"x")))
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o600);
    assert_eq!(mode(&fresh.with_extension("sqlite-wal")), 0o600);
    assert_eq!(mode(fresh.parent().unwrap()), 0o700);

    let existing = dir.path().join("old.sqlite");
    std::fs::write(&existing, b"").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    Store::open(&existing).unwrap();
    assert_eq!(mode(&existing), 0o600);
}

/// Deliveries with different traits, oldest first, for the filter tests.
fn filter_fixture() -> Store {
    let store = Store::open_in_memory().unwrap();
    let add = |id: &str, at: i64, method: &str, path: &str, hdrs: &[(&str, &str)], body: &str| {
        let d = delivery(id, at, request(method, path, hdrs, body.as_bytes()));
        store.insert_delivery(&d).unwrap();
    };
    add(
        "push1",
        100,
        "POST",
        "/github",
        &[("X-GitHub-Event", "push")],
        "{}",
    );
    add(
        "port1",
        200,
        "POST",
        "/port/hooks",
        &[],
        r#"{"action":"UPDATE","resourceType":"entity"}"#,
    );
    add(
        "put01",
        300,
        "PUT",
        "/other",
        &[("X-Trace", "100%_done")],
        "",
    );
    add(
        "pr001",
        400,
        "post",
        "/github",
        &[("X-GitHub-Event", "pull_request")],
        "{}",
    );
    store.add_attempt("push1", &response(200, b"")).unwrap();
    store.add_attempt("port1", &response(500, b"")).unwrap();
    store.add_attempt("port1", &response(404, b"")).unwrap();
    store.add_attempt("put01", &error("refused")).unwrap();
    store.add_attempt("put01", &response(204, b"")).unwrap();
    store
        .set_verification("push1", &verification(Outcome::Valid))
        .unwrap();
    store
        .set_verification("port1", &verification(Outcome::Invalid))
        .unwrap();
    store
}

fn ids(store: &Store, f: &ListFilter) -> Vec<String> {
    let list = store.list(f, 100).unwrap();
    assert_eq!(store.count(f).unwrap(), list.len());
    list.into_iter().map(|s| s.id).collect()
}

#[test]
fn every_filter_narrows_the_list() {
    let s = filter_fixture();
    let all = ListFilter::default();
    assert_eq!(ids(&s, &all), ["pr001", "put01", "port1", "push1"]);
    let f = |g: fn(&mut ListFilter)| {
        let mut f = ListFilter::default();
        g(&mut f);
        ids(&s, &f)
    };
    assert_eq!(f(|f| f.since_ms = Some(250)), ["pr001", "put01"]);
    assert_eq!(
        f(|f| f.method = Some("POST".into())),
        ["pr001", "port1", "push1"]
    );
    assert_eq!(f(|f| f.method = Some("put".into())), ["put01"]);
    assert_eq!(
        f(|f| f.path_contains = Some("github".into())),
        ["pr001", "push1"]
    );
    assert_eq!(f(|f| f.event = Some("push".into())), ["push1"]);
    assert_eq!(f(|f| f.event = Some("update ENTITY".into())), ["port1"]);
    assert_eq!(f(|f| f.status = Some(StatusFilter::Code(404))), ["port1"]);
    // Only the latest attempt counts for codes and classes.
    assert!(f(|f| f.status = Some(StatusFilter::Code(500))).is_empty());
    assert_eq!(
        f(|f| f.status = Some(StatusFilter::Class(2))),
        ["put01", "push1"]
    );
    assert_eq!(f(|f| f.status = Some(StatusFilter::Failed)), ["port1"]);
    assert_eq!(f(|f| f.verification = Some(Outcome::Invalid)), ["port1"]);
    assert_eq!(f(|f| f.verification = Some(Outcome::Valid)), ["push1"]);
    assert_eq!(f(|f| f.text = Some("pull_req".into())), ["pr001"]);
    // `%` and `_` match themselves, and header values are searched.
    assert_eq!(f(|f| f.text = Some("100%_".into())), ["put01"]);
    assert!(f(|f| f.text = Some("1000".into())).is_empty());
    assert_eq!(
        f(|f| {
            f.method = Some("POST".into());
            f.path_contains = Some("github".into());
            f.since_ms = Some(150);
        }),
        ["pr001"]
    );
}

#[test]
fn summaries_carry_the_latest_attempt_and_pages_work() {
    let s = filter_fixture();
    s.set_summary("port1", "UPDATE svc: tier gold → silver")
        .unwrap();
    s.set_slack(
        "port1",
        &SlackResult {
            ok: true,
            status: Some(200),
            error: None,
            explanation: "sent".into(),
        },
    )
    .unwrap();
    let list = s.list(&ListFilter::default(), 2).unwrap();
    assert_eq!(list.len(), 2);
    let page = s.list_page(&ListFilter::default(), 2, 10).unwrap();
    let page_ids: Vec<&str> = page.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(page_ids, ["port1", "push1"]);
    let port = &page[0];
    assert_eq!(port.attempts, 2);
    assert_eq!(port.last_status, Some(404));
    assert_eq!(port.event.as_deref(), Some("UPDATE entity"));
    assert_eq!(
        port.summary.as_deref(),
        Some("UPDATE svc: tier gold → silver")
    );
    assert!(port.slack.as_ref().is_some_and(|r| r.ok));
    assert_eq!(
        port.verification.as_ref().map(|v| v.outcome),
        Some(Outcome::Invalid)
    );
    assert_eq!(port.body_size, 43);
    let put = &list[1];
    assert_eq!((put.last_status, put.attempts), (Some(204), 2));
    let pr = &list[0];
    assert_eq!(
        (pr.last_status, pr.last_error.as_deref(), pr.attempts),
        (None, None, 0)
    );
    assert!(matches!(
        s.set_summary("zzz", "x"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn an_empty_file_is_migrated_to_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite");
    std::fs::write(&path, b"").unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    assert_eq!(schema::CURRENT_VERSION, 7);
    assert!(store.list(&ListFilter::default(), 10).unwrap().is_empty());
    // Opening again does not migrate twice.
    drop(store);
    assert_eq!(Store::open(&path).unwrap().schema_version().unwrap(), 7);
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
        conn.execute_batch(
            r#"INSERT INTO deliveries (id, channel, relay_event_id, received_at_ms, method, path,
                   query, headers, body, body_size, origin, verification, event)
               VALUES ('v1delivery', 'https://smee.io/x', NULL, 42, 'POST', '/p', 'a=1',
                   '[["Content-Type","text/plain"],["X-A","1"]]', X'00FF6869', 4,
                   '{"kind":"exact"}', NULL, NULL);
               INSERT INTO attempts (delivery_id, started_at_ms, target, replay, latency_ms,
                   status, response_headers, response_body, response_size, error)
               VALUES ('v1delivery', 43, 'http://t/p?a=1', 0, 1.5, 202, '[]', X'6F6B', 2, NULL);"#,
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        hookrelay::store::schema::CURRENT_VERSION
    );
    let d = store.get("v1").unwrap();
    // it got a 2xx before delivery states existed: delivered
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(&d.request.body[..], b"\x00\xffhi");
    assert_eq!(d.request.headers[1], ("X-A".to_string(), "1".to_string()));
    assert!(matches!(
        &d.attempts[0].outcome,
        AttemptOutcome::Response { status: 202, body, .. } if body == &Bytes::from_static(b"ok")
    ));
    // The v2 columns work on old rows.
    store.set_summary("v1delivery", "old one").unwrap();
    let list = store.list(&ListFilter::default(), 5).unwrap();
    assert_eq!(list[0].summary.as_deref(), Some("old one"));
}

#[test]
fn a_store_from_a_newer_hookrelay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    match Store::open(&path) {
        Err(e @ StoreError::TooNew { found: 99, .. }) => {
            assert!(e.to_string().contains("upgrade hookrelay"), "{e}")
        }
        other => panic!("expected TooNew, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_body_larger_than_a_part_is_stored_in_parts_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let part = schema::BODY_PART;
    // two and a half parts of bytes that do not repeat at a part's length, and exactly one part
    let big: Vec<u8> = (0..part * 5 / 2).map(|i| (i % 251) as u8).collect();
    let one: Vec<u8> = (0..part).map(|i| (i % 241) as u8).collect();
    let store = Store::open(&path).unwrap();
    for (id, body) in [("bigbody01", &big), ("onepart01", &one)] {
        let d = delivery(id, 1, request("POST", "/", &[], body));
        store.insert_delivery(&d).unwrap();
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let parts: Vec<(String, i64, i64)> = raw
        .prepare("SELECT delivery_id, part, length(bytes) FROM body_parts ORDER BY 1, 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let p = part as i64;
    let owned = |id: &str, n: i64, len: i64| (id.to_string(), n, len);
    assert_eq!(
        parts,
        [
            owned("bigbody01", 0, p),
            owned("bigbody01", 1, p),
            owned("bigbody01", 2, p / 2),
            owned("onepart01", 0, p),
        ]
    );
    assert_eq!(&store.get("bigbody01").unwrap().request.body[..], &big[..]);
    assert_eq!(&store.get("onepart01").unwrap().request.body[..], &one[..]);
}
