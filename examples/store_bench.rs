//! Store benchmark: 100,000 deliveries in a temporary file, then how long `list` of the newest
//! 50 and `get` by id prefix take. Run with `cargo run --release --example store_bench [N]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookrelay::delivery::{
    Attempt, AttemptOutcome, BodyOrigin, Delivery, WebhookRequest, new_delivery_id,
};
use hookrelay::store::{ListFilter, StatusFilter, Store};

fn delivery(i: usize) -> Delivery {
    let body = format!(
        r#"{{"action":"UPDATE","resourceType":"entity","status":"SUCCESS","trigger":{{"by":{{"orgId":"org_{i}","userId":"u{}"}},"origin":"UI","at":"2024-01-01T00:00:00.000Z"}},"context":{{"blueprint":"service","entity":"svc-{i}"}},"diff":{{"before":{{"identifier":"svc-{i}","title":"Service {i}","properties":{{"tier":"gold","owner":"team-a","lang":"rust"}}}},"after":{{"identifier":"svc-{i}","title":"Service {i}","properties":{{"tier":"silver","owner":"team-a","lang":"rust"}}}}}}}}"#,
        i % 97
    );
    let request = WebhookRequest {
        method: if i.is_multiple_of(10) { "PUT" } else { "POST" }.into(),
        path: format!("/hooks/{}", i % 7),
        query: String::new(),
        headers: [
            ("Host", "localhost:3000"),
            ("User-Agent", "port-webhooks/1.0"),
            ("Content-Type", "application/json"),
            (
                "X-Port-Signature",
                "v1,abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            ),
            ("X-Port-Timestamp", "1700000000"),
            ("Accept-Encoding", "gzip"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect(),
        body: Bytes::from(body),
    };
    let mut d = Delivery::new("https://smee.io/bench", request, BodyOrigin::Exact);
    d.id = new_delivery_id();
    d.received_at_ms = 1_700_000_000_000 + i as i64 * 1_000;
    d.attempts.push(Attempt {
        target: "http://localhost:3000/hooks".into(),
        started_at_ms: d.received_at_ms + 1,
        replay: false,
        latency_ms: 3.5,
        outcome: AttemptOutcome::Response {
            status: if i.is_multiple_of(13) { 500 } else { 200 },
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from_static(b"ok"),
            body_size: 2,
        },
        sent: None,
    });
    d
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.sqlite");
    let store = Store::open(&path)?;

    let mut ids = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let d = delivery(i);
        store.insert_delivery(&d)?;
        ids.push(d.id);
    }
    let insert = t.elapsed();
    let size = std::fs::metadata(&path)?.len()
        + std::fs::metadata(path.with_extension("sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "inserted {n} deliveries (one transaction each) in {:.2?}: {:.1} µs per delivery; file {:.1} MB",
        insert,
        insert.as_secs_f64() * 1e6 / n as f64,
        size as f64 / 1e6
    );

    let all = ListFilter::default();
    let mut len = 0;
    let list = median(21, |_| len = store.list(&all, 50).unwrap().len());
    assert_eq!(len, 50.min(n));
    println!("list newest 50:                 median {list:.2?} (21 runs)");

    let filtered = ListFilter {
        method: Some("POST".into()),
        status: Some(StatusFilter::Class(5)),
        ..ListFilter::default()
    };
    let list_f = median(21, |_| len = store.list(&filtered, 50).unwrap().len());
    println!("list newest 50, POST + 5xx:     median {list_f:.2?} (21 runs, {len} rows)");

    let rare = ListFilter {
        text: Some("no-such-text".into()),
        ..ListFilter::default()
    };
    let list_r = median(5, |_| len = store.list(&rare, 50).unwrap().len());
    println!("list, text matching nothing:    median {list_r:.2?} (5 runs; scans every row)");

    let page = median(11, |_| {
        len = store.list_page(&all, n / 2, 50).unwrap().len()
    });
    println!(
        "list_page 50 at offset {}:   median {page:.2?} (11 runs)",
        n / 2
    );

    let count = median(11, |_| len = store.count(&all).unwrap());
    assert_eq!(len, n);
    println!("count all:                      median {count:.2?} (11 runs)");

    let get = median(1001, |i| {
        let id = &ids[(i * 7919) % n];
        let d = store.get(&id[..6]).or_else(|_| store.get(id)).unwrap();
        assert_eq!(&d.id, id);
    });
    println!("get by 6-character prefix:      median {get:.2?} (1001 runs)");
    Ok(())
}
