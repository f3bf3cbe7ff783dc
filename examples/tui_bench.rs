//! Frame render time with 100,000 deliveries (`cargo run --release --example tui_bench`).
//!
//! Builds an App from a MemorySource holding 100,000 deliveries, then times `render` on a
//! 120x40 TestBackend over 200 frames, moving the selection each frame.

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
        }],
        slack: None,
    }
}

fn main() {
    let mut source = MemorySource::new(N);
    for i in 0..N {
        source.insert(delivery(i));
    }
    let setup = TuiSetup {
        channel_url: "https://smee.io/bench".into(),
        target: "http://localhost:3000".into(),
        verify_mode: "none".into(),
        store_path: None,
        newest_first: false,
    };
    let t = Instant::now();
    let mut app = build_app(&setup, Theme::default(), &mut source);
    println!(
        "built the app with {} rows in {:?}",
        app.rows.len(),
        t.elapsed()
    );
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    app.list_height = view::list_rows(&app, ratatui::layout::Rect::new(0, 0, 120, 40));
    let mut times = Vec::with_capacity(FRAMES);
    for f in 0..FRAMES {
        let action = if f % 50 < 25 {
            Action::Up
        } else {
            Action::PageUp
        };
        for e in update(&mut app, action) {
            if let Effect::LoadDelivery(id) = e {
                app.detail = source.load(&id).map(Box::new);
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
        "render 120x40 with {N} deliveries over {FRAMES} frames: median {median:?}, p99 {p99:?}, max {:?}",
        times[FRAMES - 1]
    );
}
