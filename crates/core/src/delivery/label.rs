//! A short label for the kind of event a request carries, from well-known headers and payload
//! fields: `push` (GitHub), `UPDATE entity` (Port), `invoice.paid` (Stripe).
//!
//! The body is read as a stream: only the few top-level fields a label can come from are kept
//! (as borrowed raw text), everything else is skipped without building a value. A 10 MiB
//! JSON body costs no tree here (a `serde_json::Value` of it took over 100 MiB).

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::WebhookRequest;

/// Headers that name the event, in the order they are consulted.
const LABEL_HEADERS: [&str; 4] = [
    "x-github-event",
    "x-gitlab-event",
    "x-event-key",
    "x-scalr-event",
];

/// The label of `req`'s event: a naming header, else Port's `action` + `resourceType` (at the
/// top or under an `event` object), else a Port action run's `action.identifier`, else `type`
/// (Stripe), `event_name` / `event-name`, else `action`.
pub fn event_label(req: &WebhookRequest) -> Option<String> {
    for h in LABEL_HEADERS {
        if let Some(v) = req.header(h) {
            return Some(v.to_string());
        }
    }
    let first = req.body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    let top = Fields::read(&req.body)?;
    let port = top
        .event
        .filter(|e| e.get().starts_with('{'))
        .and_then(|e| Fields::read(e.get().as_bytes()));
    let port = port.as_ref().unwrap_or(&top);
    if let (Some(a), Some(r)) = (text(port.action), text(port.resource_type)) {
        return Some(format!("{a} {r}"));
    }
    // a Port action run: `{"action": {"identifier": "create_service", …}, "run": {…}, …}`
    if let Some(id) = top
        .action
        .filter(|a| a.get().starts_with('{'))
        .and_then(|a| Fields::read(a.get().as_bytes()))
        .and_then(|a| text(a.identifier).map(Cow::into_owned))
    {
        return Some(id);
    }
    if let Some(t) = text(top.kind) {
        return Some(t.into_owned());
    }
    if let Some(n) = top.event_name {
        return text(Some(n)).map(Cow::into_owned);
    }
    text(top.action).map(Cow::into_owned)
}

/// A raw JSON value's string, when it is a string.
fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str::<Cow<str>>(raw.get()).ok()
}

/// The top-level fields a label reads, borrowed from the body; the last of a repeated key wins
/// (as a parsed object would have it).
#[derive(Default)]
struct Fields<'a> {
    event: Option<&'a RawValue>,
    action: Option<&'a RawValue>,
    resource_type: Option<&'a RawValue>,
    kind: Option<&'a RawValue>,
    /// `event_name`, else `event-name`.
    event_name: Option<&'a RawValue>,
    event_dash_name: Option<&'a RawValue>,
    /// A Port action's `identifier` (read in the `action` object of an action run).
    identifier: Option<&'a RawValue>,
}

impl<'a> Fields<'a> {
    /// `None` when `json` is not one JSON object.
    fn read(json: &'a [u8]) -> Option<Fields<'a>> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let mut f = de.deserialize_map(FieldsVisitor).ok()?;
        de.end().ok()?;
        f.event_name = f.event_name.or(f.event_dash_name);
        Some(f)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "event" => &mut f.event,
                "action" => &mut f.action,
                "resourceType" => &mut f.resource_type,
                "type" => &mut f.kind,
                "event_name" => &mut f.event_name,
                "event-name" => &mut f.event_dash_name,
                "identifier" => &mut f.identifier,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value::<&'de RawValue>()?);
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::test_request as req;

    fn label(body: &str) -> Option<String> {
        event_label(&req(&[], body))
    }

    #[test]
    fn headers_port_stripe_and_plain_actions() {
        assert_eq!(
            event_label(&req(&[("X-GitHub-Event", "push")], "{}")).as_deref(),
            Some("push")
        );
        assert_eq!(
            label(r#"{"action":"UPDATE","resourceType":"entity"}"#).as_deref(),
            Some("UPDATE entity")
        );
        let auto = r#"{"inputs":null,"event":{"action":"CREATE","resourceType":"entity"}}"#;
        assert_eq!(label(auto).as_deref(), Some("CREATE entity"));
        assert_eq!(
            label(r#"{"type":"invoice.paid","data":{"object":{}}}"#).as_deref(),
            Some("invoice.paid")
        );
        assert_eq!(label(r#"{"event_name":"push"}"#).as_deref(), Some("push"));
        assert_eq!(label(r#"{"event-name":"tag"}"#).as_deref(), Some("tag"));
        assert_eq!(label(r#"{"action":"opened"}"#).as_deref(), Some("opened"));
        let run = r#"{"inputs":{},"event":null,"action":{"identifier":"create_service","blueprint":"s"},"run":{"id":"r_1"}}"#;
        assert_eq!(label(run).as_deref(), Some("create_service"));
        assert_eq!(label(r#"{"action":{"title":"x"}}"#), None);
        assert_eq!(label("not json"), None);
        assert_eq!(label("[1,2]"), None);
        assert_eq!(label(""), None);
    }

    #[test]
    fn the_order_of_the_rules_holds() {
        // Port's fields are looked for in an `event` object when there is one; without them
        // the label falls through to `type`, `event_name`, then the top-level `action`
        let body = r#"{"event":{"x":1},"action":"UPDATE","resourceType":"entity"}"#;
        assert_eq!(label(body).as_deref(), Some("UPDATE"));
        let body = r#"{"event":"push","action":"UPDATE","resourceType":"entity"}"#;
        assert_eq!(label(body).as_deref(), Some("UPDATE entity"));
        // a non-string event_name ends the search, as a parsed object would
        assert_eq!(label(r#"{"event_name":5,"action":"opened"}"#), None);
        // escapes decode; the last of a repeated key wins
        assert_eq!(
            label(r#"{"type":"a","type":"caf\u00e9"}"#).as_deref(),
            Some("café")
        );
        // trailing garbage is not an object
        assert_eq!(label(r#"{"action":"x"} junk"#), None);
    }

    #[test]
    fn a_large_body_is_skipped_not_built() {
        let items: Vec<String> = (0..50_000).map(|i| format!("{{\"i\":{i}}}")).collect();
        let body = format!(r#"{{"items":[{}],"type":"bulk.done"}}"#, items.join(","));
        assert_eq!(label(&body).as_deref(), Some("bulk.done"));
    }
}
