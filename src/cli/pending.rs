//! `hookrelay replay --pending`: send what a `forward` run left pending, oldest first, as each
//! delivery's first forward. The store is read in bounded windows, like the forward job does.

use std::io::Write;

use crate::delivery::{Attempt, DeliveryState};
use crate::forward::{Forwarder, Target};
use crate::sanitize::display_safe;
use crate::store::Store;

/// Deliveries read from the store at a time.
const WINDOW: usize = 256;
const WINDOW_BYTES: u64 = 16 << 20;

pub(crate) async fn send_pending(
    store: Store,
    target: Target,
    channel: Option<String>,
    forwarder: Forwarder,
) -> anyhow::Result<()> {
    // Deliveries a run left `delivering` were interrupted: record it, and send them first.
    let channels: Vec<String> = match &channel {
        Some(c) => vec![c.clone()],
        None => store.open_channels()?,
    };
    for c in &channels {
        store.recover_interrupted(c, &target.to_string())?;
    }
    let mut out = std::io::stdout().lock();
    let (mut delivered, mut failed) = (0usize, 0usize);
    let mut after = 0i64;
    loop {
        let window = store.pending_window(channel.as_deref(), after, WINDOW, WINDOW_BYTES)?;
        if window.is_empty() {
            break;
        }
        for item in window {
            after = item.seq;
            let d = item.delivery;
            store.set_state(&d.id, DeliveryState::Delivering, None)?;
            let a: Attempt = forwarder.send(&target, &d.request, &[], false).await;
            if a.is_success() {
                store.record_attempt(&d.id, &a, DeliveryState::Delivered, None)?;
                delivered += 1;
                writeln!(out, "{} delivered ({})", d.id, a.status().unwrap_or(0))?;
            } else if a.retryable() {
                // the target is not there: keep the order, leave the rest pending
                store.record_attempt(&d.id, &a, DeliveryState::Pending, None)?;
                let left = store.count_state(channel.as_deref(), DeliveryState::Pending)?;
                anyhow::bail!(
                    "the target is not answering ({}); {delivered} delivered, {failed} failed, \
                     {left} still pending (run this again when it is up)",
                    display_safe(&describe(&a))
                );
            } else {
                let why = describe(&a);
                store.record_attempt(&d.id, &a, DeliveryState::Failed, Some(&why))?;
                failed += 1;
                writeln!(out, "{} failed: {}", d.id, display_safe(&why))?;
            }
        }
    }
    writeln!(
        out,
        "{delivered} delivered, {failed} failed, nothing left pending"
    )?;
    Ok(())
}

fn describe(a: &Attempt) -> String {
    match &a.outcome {
        crate::delivery::AttemptOutcome::Response { status, .. } => {
            format!("the target answered {status}")
        }
        crate::delivery::AttemptOutcome::Error { message, .. } => message.clone(),
    }
}
