//! A relay's `gap` / `reset` announcement in words. The relay sends JSON (`reason`, `missed`,
//! ...); the log and the UI say what it means, and claim a loss only when the relay counted
//! one (`missed` > 0). A restart with nothing counted is not called a loss.

use serde_json::Value;

/// The announcement `raw` (the event's data) as one sentence for the log and the UI.
pub fn describe(raw: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(raw) else {
        // another relay's free text: say it is theirs, without claiming anything
        return format!("the relay reports a gap in the stream: {raw}");
    };
    let missed = v.get("missed").and_then(Value::as_u64);
    let reason = v.get("reason").and_then(Value::as_str).unwrap_or("");
    match (reason, missed) {
        (_, Some(0)) => "the relay reports a gap, but nothing was lost".into(),
        ("not_retained", Some(n)) => format!(
            "{n} {} lost: the relay dropped {} from its buffer before {} reached this client",
            plural(n, "webhook was", "webhooks were"),
            plural(n, "it", "them"),
            plural(n, "it", "they"),
        ),
        (_, Some(n)) => format!(
            "{n} {} lost ({})",
            plural(n, "webhook was", "webhooks were"),
            words(reason)
        ),
        ("relay_restarted", None) => "the relay restarted; resuming from its new start (it \
             cannot tell whether anything was sent to it that this client had not received)"
            .into(),
        ("stream_reset", None) => "the relay's stream for this channel started again (it \
             expired, or Redis lost its data); resuming from its new start (it cannot tell \
             whether anything this client had not received was lost)"
            .into(),
        (_, None) => format!("the relay reports a gap in the stream ({})", words(reason)),
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `relay_restarted` as `relay restarted`; nothing when there is no reason.
fn words(reason: &str) -> String {
    if reason.is_empty() {
        "no reason given".into()
    } else {
        crate::sanitize::display_safe(&reason.replace('_', " ")).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_with_nothing_counted_is_not_called_a_loss() {
        let raw = r#"{"reason":"relay_restarted","message":"the relay restarted since this subscriber's last event; events it held before the restart are gone","last_event_id":"x-3","epoch":"y","missed":null}"#;
        let s = describe(raw);
        assert!(s.starts_with("the relay restarted"), "{s}");
        assert!(!s.contains("were lost") && !s.contains('{'), "{s}");
    }

    #[test]
    fn a_counted_loss_is_said_with_its_count() {
        let raw = r#"{"reason":"not_retained","missed":3,"missed_from":"a","missed_to":"b"}"#;
        assert_eq!(
            describe(raw),
            "3 webhooks were lost: the relay dropped them from its buffer before they reached \
             this client"
        );
        let one = describe(r#"{"reason":"not_retained","missed":1}"#);
        assert!(one.starts_with("1 webhook was lost"), "{one}");
        assert!(describe(r#"{"reason":"x","missed":0}"#).contains("nothing was lost"));
    }

    #[test]
    fn a_redis_reset_and_foreign_text() {
        let s = describe(r#"{"reason":"stream_reset","missed":null}"#);
        assert!(s.contains("started again") && !s.contains("were lost"));
        assert!(describe("oops").contains("oops"));
    }
}
