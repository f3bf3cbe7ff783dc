//! Without a store the inbox is a bounded queue: a burst far larger than the queue is
//! backpressured (the subscription stops reading), never dropped: every event arrives, in order.

use crate::common;

use std::time::Duration;

use common::Recorder;
use hookrelay::events::AppEvent;
use hookrelay::forward::Target;
use hookrelay::pipeline::{self, ForwardConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_memory_queue_is_backpressured_not_dropped() {
    const N: usize = 400;
    let server = common::relay().await;
    let channel = server.new_channel();
    let target = Recorder::start().await;
    let mut cfg = ForwardConfig::new(channel.clone(), Target::parse(&target.url("/")).unwrap());
    cfg.memory_queue = 2;
    let mut p = pipeline::start(cfg).await.unwrap();
    common::connected(&mut p).await;
    let http = common::http();
    for seq in 0..N {
        let r = http
            .post(&channel)
            .header("content-type", "application/json")
            .header("x-seq", seq.to_string())
            .body(format!(r#"{{"seq":{seq}}}"#))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let got = target.wait_for(N, Duration::from_secs(60)).await;
    let seqs: Vec<usize> = got
        .iter()
        .map(|r| r.header("x-seq").unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (0..N).collect::<Vec<_>>());
    // nothing was refused or skipped on the way
    let mut problems = Vec::new();
    while let Ok(ev) = p.events.try_recv() {
        if let AppEvent::Problem(msg) = ev {
            problems.push(msg);
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        p.shutdown().await,
        hookrelay::pipeline::Leftover::Lost { count: 0 }
    );
    server.shutdown().await;
}
