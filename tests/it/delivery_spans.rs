//! Each delivery's log lines carry its id in a tracing span, `delivery{id=…}`, from intake to
//! the outcome, so `grep 'delivery{id=ID'` shows one delivery's story and no other's.

use std::process::Command;
use std::time::Duration;

use crate::cli_support::{self, Proc};
use crate::common::{self, Recorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_delivery_names_it() {
    let (_relay, base) = cli_support::serve();
    let channel = format!("{base}/spans");
    let target = Recorder::start().await;
    target.script(&[500]); // the first delivery fails (500 is not retried), the second goes
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut cmd = Command::new(cli_support::BIN);
    cmd.args([
        "forward",
        &channel,
        &target.url("/hook"),
        "--json",
        "--store",
    ])
    .arg(&store)
    .env("HOOKRELAY_LOG", "hookrelay=debug");
    let mut client = Proc::spawn_cmd(cmd);
    client.wait_line("connected to the relay", Duration::from_secs(15));
    let http = common::http();
    for n in 0..2 {
        let r = http
            .post(&channel)
            .header("content-type", "application/json")
            .body(format!(r#"{{"n":{n}}}"#))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let failed_line = client.wait_line("\"type\":\"state\"", Duration::from_secs(15));
    let failed: serde_json::Value = serde_json::from_str(&failed_line).unwrap();
    let failed_id = failed["id"].as_str().unwrap().to_string();
    target.wait_for(2, Duration::from_secs(15)).await;
    let second = client.wait_line_where(
        |l| l.contains("\"type\":\"attempt\"") && !l.contains(&failed_id),
        Duration::from_secs(15),
    );
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    let ok_id = second["id"].as_str().unwrap().to_string();
    // the delivered one's last line ("delivery settled", at debug) is the awaited event
    client.wait_stderr_line_where(
        |l| l.contains(&format!("delivery{{id={ok_id}}}")) && l.contains("settled"),
        Duration::from_secs(15),
    );

    let log = client.seen_stderr.clone();
    let of = |id: &str| -> Vec<&String> {
        log.iter()
            .filter(|l| l.contains(&format!("delivery{{id={id}}}")))
            .collect()
    };
    let failed_lines = of(&failed_id);
    // its whole story: received, the attempt, the outcome with its reason as a field
    for what in ["received", "attempt", "delivery settled"] {
        assert!(
            failed_lines.iter().any(|l| l.contains(what)),
            "no {what:?} line in delivery{{id={failed_id}}}: {log:#?}"
        );
    }
    assert!(
        failed_lines
            .iter()
            .any(|l| l.contains("state=failed") && l.contains("reason=")),
        "the outcome as fields: {failed_lines:#?}"
    );
    // and none of another delivery's
    assert!(
        failed_lines.iter().all(|l| !l.contains(&ok_id)),
        "{failed_lines:#?}"
    );
    assert!(
        of(&ok_id).iter().any(|l| l.contains("state=delivered")),
        "{log:#?}"
    );
}
