//! The UI's view of Port payloads and JSON diffs: thin calls into [`crate::port`], kept in one
//! place so the views name what they need, not how it is computed.

use serde_json::Value;

use crate::json_diff::Change;

/// A body read as a Port event (`None` when it is none; only a Port payload is parsed whole).
pub fn port_event(body: &[u8]) -> Option<crate::port::PortEvent> {
    crate::port::parse_bytes(body)
}

/// Bodies larger than this are not parsed for a list row's subject.
const MAX_SUBJECT_BODY: usize = 1 << 20;

/// What a Port event is about, for the list: `entity (blueprint)`, or the entity alone.
pub fn port_subject(body: &[u8]) -> Option<String> {
    if body.len() > MAX_SUBJECT_BODY {
        return None;
    }
    let ev = crate::port::parse_bytes(body)?;
    let name = ev.entity.as_deref()?;
    Some(match &ev.blueprint {
        Some(bp) => format!("{name} ({bp})"),
        None => name.to_string(),
    })
}

/// [`port_subject`] read back from a stored Port summary line (`UPDATE entity NAME (BLUEPRINT)
/// by ...: ...`), whose start is the event label; rows loaded from the store have no body.
pub fn subject_from_summary(event: Option<&str>, summary: Option<&str>) -> Option<String> {
    let rest = summary?.strip_prefix(event?)?.strip_prefix(' ')?;
    let name_end = rest.find([' ', ':']).unwrap_or(rest.len());
    let (name, rest) = rest.split_at(name_end);
    if name.is_empty() || name == "by" {
        return None;
    }
    let blueprint = rest
        .strip_prefix(" (")
        .and_then(|r| r.split_once(')'))
        .map(|(bp, _)| bp);
    Some(match blueprint {
        Some(bp) => format!("{name} ({bp})"),
        None => name.to_string(),
    })
}

/// A structural diff of two JSON values.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    crate::json_diff::diff(before, after)
}

/// The Slack message hookrelay builds for a Port event (shown in the Slack tab).
pub fn slack_message(ev: &crate::port::PortEvent) -> Value {
    crate::slack::build_message(ev)
}

#[cfg(test)]
mod tests {
    use super::subject_from_summary;

    #[test]
    fn the_subject_is_read_back_from_a_summary() {
        let ev = Some("UPDATE entity");
        let s = Some("UPDATE entity payment-api (service) by a@b.c: healthStatus A -> B");
        assert_eq!(
            subject_from_summary(ev, s).as_deref(),
            Some("payment-api (service)")
        );
        let s = Some("UPDATE entity payment-api: x 1 -> 2");
        assert_eq!(subject_from_summary(ev, s).as_deref(), Some("payment-api"));
        assert_eq!(subject_from_summary(ev, Some("UPDATE entity by x")), None);
        assert_eq!(subject_from_summary(Some("push"), s), None);
        assert_eq!(subject_from_summary(None, s), None);
    }
}
