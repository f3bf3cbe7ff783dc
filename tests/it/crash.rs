//! The client (`hookrelay forward`, a real process) killed with SIGKILL in the middle of a burst
//! of 1,000 deliveries: every delivery the target saw is in the store, the store opens cleanly
//! and passes SQLite's integrity check, and a client restarted on the same store keeps working.

use crate::cli_support;
use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cli_support::{forward, serve};
use common::Recorder;
use hookrelay::store::{ListFilter, Store};

const BURST: usize = 1_000;

async fn post(client: &reqwest::Client, channel: &str, seq: usize) -> bool {
    client
        .post(channel)
        .header("content-type", "application/json")
        .header("x-seq", seq.to_string())
        .body(format!(
            r#"{{"seq":{seq},"pad":"{}"}}"#,
            "x".repeat(seq % 300)
        ))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The `x-seq` of every stored delivery, read with the library (not the process that wrote it).
fn stored_seqs(store: &Store) -> BTreeSet<usize> {
    let rows = store.list(&ListFilter::default(), 100_000).unwrap();
    rows.iter()
        .map(|r| {
            let d = store.get(&r.id).unwrap();
            d.request.header("x-seq").unwrap().parse().unwrap()
        })
        .collect()
}

fn seqs(got: &[common::Received]) -> Vec<usize> {
    got.iter()
        .map(|r| r.header("x-seq").unwrap().parse().unwrap())
        .collect()
}

fn integrity(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_nothing_the_target_saw() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("x.sqlite");
    let (_server, base) = serve();
    let channel = format!("{base}/crash-channel");
    let target = Recorder::start().await;
    let mut client = forward(&channel, &target.url("/hook"), &store_path, &[]);

    // the burst, posted from another task while the client forwards
    let http = common::http();
    let sender = {
        let (http, channel) = (http.clone(), channel.clone());
        tokio::spawn(async move {
            for seq in 0..BURST {
                assert!(post(&http, &channel, seq).await, "relay refused {seq}");
            }
        })
    };
    // kill once the target has seen a good part of the burst, but not all of it
    target.wait_for(150, Duration::from_secs(60)).await;
    client.kill9();
    let seen_at_kill = target.received().len();
    tokio::time::timeout(Duration::from_secs(60), sender)
        .await
        .expect("the burst was posted")
        .unwrap();
    assert!(
        seen_at_kill < BURST,
        "the kill came after the whole burst was forwarded; it proves nothing"
    );

    // the store opens (WAL recovery after the kill) and is sound
    let store = Store::open(&store_path).expect("the store opens after kill -9");
    assert_eq!(integrity(&store_path), "ok");
    let stored = stored_seqs(&store);
    let delivered = seqs(&target.received());
    let missing: Vec<usize> = delivered
        .iter()
        .copied()
        .filter(|s| !stored.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "the target saw {} deliveries the store does not have: {missing:?}",
        missing.len()
    );
    // in order and once each, up to the kill
    assert_eq!(delivered, (0..delivered.len()).collect::<Vec<_>>());
    // each delivery the target answered has the attempt recorded, except perhaps the last few
    // that were in flight when the process died
    let with_attempt = store
        .list(&ListFilter::default(), 100_000)
        .unwrap()
        .iter()
        .filter(|r| r.attempts > 0)
        .count();
    assert!(
        with_attempt + 5 >= delivered.len(),
        "{with_attempt} attempts recorded for {} forwarded deliveries",
        delivered.len()
    );
    drop(store);

    // the client restarted on the same store opens it and keeps working
    let before = stored.len();
    let mut client = forward(&channel, &target.url("/hook"), &store_path, &[]);
    let already = target.received().len();
    for seq in 5_000..5_005 {
        assert!(post(&http, &channel, seq).await);
    }
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let new: Vec<usize> = seqs(&target.received()[already..])
            .into_iter()
            .filter(|s| *s >= 5_000)
            .collect();
        if new.len() == 5 {
            assert_eq!(new, (5_000..5_005).collect::<Vec<_>>());
            break;
        }
        assert!(
            Instant::now() < end,
            "after the restart the target got {new:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // saved before the target saw it, so on disk now, next to what survived the crash
    let store = Store::open(&store_path).unwrap();
    let after = stored_seqs(&store);
    assert!((5_000..5_005).all(|s| after.contains(&s)), "{after:?}");
    assert!(after.len() >= before + 5);
    assert!(delivered.iter().all(|s| after.contains(s)));
    // and the CLI reads the same store
    let out = cli_support::run(&[
        "list",
        "--json",
        "--limit",
        "5",
        "--store",
        store_path.to_str().unwrap(),
    ])
    .expect_ok();
    assert_eq!(out.json_lines().len(), 5);
    client.kill9();
    assert_eq!(integrity(&store_path), "ok");
}
