//! Frame render time with 100,000 deliveries (`cargo run --release --example tui_bench`).
//!
//! Two sources: a MemorySource (`--no-store`) and a real SQLite store holding 100,000
//! deliveries (the rows come from the store's summary columns; a body is read only for the
//! selected delivery, as in the UI). For each: the time to build the App, then `render` on a
//! 120x40 TestBackend over 200 frames, moving the selection (and loading that delivery) each
//! frame.

use std::time::Instant;

use bytes::Bytes;
use hookrelay::delivery::{Attempt, AttemptOutcome, BodyOrigin, Delivery, WebhookRequest};
use hookrelay::tui::update::{Action, Effect, update};
use hookrelay::tui::{DeliverySource, MemorySource, Theme, TuiSetup, build_app, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const N: usize = 100_000;
const FRAMES: usize = 200;

fn delivery(i: usize) -> Delivery {
    let body = format!(
        r#"{{"action":"UPDATE","resourceType":"entity","context":{{"entity":"svc-{i}"}},"diff":{{"before":{{"properties":{{"n":{i}}}}},"after":{{"properties":{{"n":{}}}}}}}}}"#,
        i + 1
    );
    Delivery {
        id: format!("d{i:09}"),
        channel: "https://smee.io/bench".into(),
        relay_event_id: None,
        received_at_ms: 1_700_000_000_000 + i as i64 * 1000,
        request: WebhookRequest {
            method: "POST".into(),
            path: format!("/hooks/{}", i % 7),
            query: String::new(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Bytes::from(body),
        },
        origin: BodyOrigin::Exact,
        verification: None,
        attempts: vec![Attempt {
            target: "http://localhost:3000".into(),
            started_at_ms: 1_700_000_000_000,
            replay: false,
            latency_ms: (i % 300) as f64,
            outcome: AttemptOutcome::Response {
                status: [200, 404, 503][i % 3],
                headers: vec![],
                body: Bytes::new(),
                body_size: 0,
            },
            sent: None,
        }],
        slack: None,
        state: Default::default(),
        state_reason: None,
        event: None,
        summary: None,
    }
}

fn main() {
    let mut memory = MemorySource::new(N);
    for i in 0..N {
        memory.insert(delivery(i));
    }
    bench("memory", &mut memory);

    let dir = std::env::temp_dir().join(format!("hookrelay-tui-bench-{}", std::process::id()));
    let path = dir.join("store.sqlite");
    let t = Instant::now();
    {
        let store = hookrelay::store::Store::open(&path).unwrap();
        for i in 0..N {
            store.insert_delivery(&delivery(i)).unwrap();
        }
    }
    println!("stored {N} deliveries in {:?}", t.elapsed());
    let store = std::sync::Arc::new(std::sync::Mutex::new(
        hookrelay::store::Store::open(&path).unwrap(),
    ));
    let mut source = hookrelay::tui::store_source::StoreSource::new(store);
    bench("sqlite store", &mut source);
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(name: &str, source: &mut dyn DeliverySource) {
    let setup = TuiSetup {
        channel_url: "https://smee.io/bench".into(),
        target: "http://localhost:3000".into(),
        verify_mode: "none".into(),
        store_path: None,
        newest_first: false,
        sending: None,
    };
    let t = Instant::now();
    let mut app = build_app(&setup, Theme::default(), source);
    println!(
        "[{name}] built the app with {} rows in {:?}",
        app.rows.len(),
        t.elapsed()
    );
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    app.list_height = view::list_rows(&app, ratatui::layout::Rect::new(0, 0, 120, 40));
    let mut times = Vec::with_capacity(FRAMES);
    let mut load = Vec::with_capacity(FRAMES);
    for f in 0..FRAMES {
        let action = if f % 50 < 25 {
            Action::Up
        } else {
            Action::PageUp
        };
        for e in update(&mut app, action) {
            if let Effect::LoadDelivery(id) = e {
                let t = Instant::now();
                app.detail = source.load(&id).map(Box::new);
                load.push(t.elapsed());
            }
        }
        let t = Instant::now();
        term.draw(|fr| view::render(&app, fr)).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[FRAMES / 2];
    let p99 = times[FRAMES * 99 / 100];
    println!(
        "[{name}] render 120x40 with {N} deliveries over {FRAMES} frames (selection moves, the selected delivery is loaded): median {median:?}, p99 {p99:?}, max {:?}",
        times[FRAMES - 1]
    );
    load.sort();
    if !load.is_empty() {
        println!(
            "[{name}] loading the selected delivery: median {:?}, max {:?}",
            load[load.len() / 2],
            load[load.len() - 1]
        );
    }
}
