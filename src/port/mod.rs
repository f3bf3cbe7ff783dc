//! Port payloads (getport.io) and their property diffs (issue 5).
//!
//! Three shapes are understood (Port's docs: <https://docs.port.io/actions-and-automations/setup-backend/webhook/> and
//! the samples in tests/fixtures/port/):
//! - changelog events: `{action, resourceType, status, trigger, context{blueprint, entity}, diff}`;
//! - automation trigger data: `{event{action, resourceType, trigger,
//!   context{blueprintIdentifier, entityIdentifier}, diff}, action{identifier:"automation"}, ...}`;
//! - self-service action runs: the current trigger data `{inputs, trigger, action{identifier},
//!   run{id}}` and the legacy run message `{resourceType:"run", payload{action, properties}}`.
//!
//! Anything else is not a Port payload: [`parse`] answers `None` and callers show plain JSON.
//! Partial shapes (missing `diff`, `context`, `trigger`, ...) parse with the parts left empty.

pub mod render;
pub mod summary;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which of Port's payload families an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    /// A changelog event (blueprint `changelogDestination`).
    Changelog,
    /// Automation trigger data: the change sits under `event`.
    Automation,
    /// A self-service action run (current trigger data or the legacy run message).
    ActionRun,
}

/// One Port event, normalised over the three payload families.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortEvent {
    pub kind: PortKind,
    /// `CREATE` / `UPDATE` / `DELETE` / `TIMER_EXPIRED`, or the action identifier for runs.
    pub action: String,
    /// `entity`, `blueprint`, `run`, ...
    pub resource_type: String,
    pub status: Option<String>,
    pub blueprint: Option<String>,
    pub entity: Option<String>,
    /// The entity's (or run's) title, from `after` or else `before`.
    pub title: Option<String>,
    /// The user's email when known, else the user id; `"Port"` for Port-initiated changes
    /// (`trigger.by.byPort`); `"unknown"` when the payload does not say.
    pub triggered_by: String,
    /// `UI`, `API`, `AUTOMATION`, an integration name, ...
    pub origin: Option<String>,
    /// ISO-8601 time of the trigger, verbatim.
    pub at: Option<String>,
    /// The object before the change (`None` on create). For action runs: nothing.
    pub before: Option<Value>,
    /// The object after the change (`None` on delete). For action runs: the user inputs.
    pub after: Option<Value>,
}

/// Parse a JSON body as a Port event. `None` means "not a Port payload" (show plain JSON).
pub fn parse(body: &Value) -> Option<PortEvent> {
    let obj = body.as_object()?;
    if let Some(event) = obj.get("event").and_then(Value::as_object)
        && is_change(event)
    {
        return Some(parse_automation(body, event));
    }
    if let Some(ev) = parse_action_run(body) {
        return Some(ev);
    }
    if is_change(obj) {
        return Some(parse_change(PortKind::Changelog, obj, None));
    }
    None
}

/// Parse raw body bytes as a Port event (`None` when not JSON or not a Port payload).
pub fn parse_bytes(body: &[u8]) -> Option<PortEvent> {
    if !may_be_port(body) {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    parse(&value)
}

/// A cheap first look (no allocation for values): every Port shape has a top-level `event`,
/// `resourceType` or `inputs` key. Other bodies, however large, are not parsed into a tree.
fn may_be_port(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        event: Option<serde::de::IgnoredAny>,
        #[serde(rename = "resourceType")]
        resource_type: Option<serde::de::IgnoredAny>,
        inputs: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(p) => p.event.is_some() || p.resource_type.is_some() || p.inputs.is_some(),
        // not JSON, or not an object: `parse` says no to those too; an object the probe cannot
        // read (a duplicate key) gets the full parse
        Err(e) => e.is_data() && body.trim_ascii_start().first() == Some(&b'{'),
    }
}

impl PortEvent {
    /// The structural diff of `before` against `after`. A create lists everything added, a
    /// delete everything removed. Entity bookkeeping (`createdAt`, `updatedAt`, `updatedBy`, ...)
    /// comes last.
    pub fn changes(&self) -> Vec<crate::json_diff::Change> {
        let null = Value::Null;
        let before = self.before.as_ref().unwrap_or(&null);
        let after = self.after.as_ref().unwrap_or(&null);
        let mut changes = crate::json_diff::diff(before, after);
        changes.sort_by_key(|c| summary::is_metadata(c.path()));
        changes
    }

    /// One line for the log and the TUI list, e.g.
    /// `UPDATE entity svc (service) by a@b.c: healthStatus Healthy -> Degraded`.
    pub fn summary(&self) -> String {
        summary::summary(self)
    }

    /// The run id for run events (`diff.after.id` / `diff.before.id`), when present.
    pub fn run_id(&self) -> Option<&str> {
        [&self.after, &self.before]
            .into_iter()
            .flatten()
            .find_map(|v| v.get("id").and_then(Value::as_str))
    }
}

/// `action` and `resourceType` are both strings: the mark of a changelog-style change.
fn is_change(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("action").is_some_and(Value::is_string)
        && obj.get("resourceType").is_some_and(Value::is_string)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn non_null(v: Option<&Value>) -> Option<Value> {
    v.filter(|v| !v.is_null()).cloned()
}

/// Run inputs: `None` when absent, null or empty (an action without inputs changes nothing).
fn inputs(v: Option<&Value>) -> Option<Value> {
    non_null(v).filter(|v| v.as_object().is_none_or(|m| !m.is_empty()))
}

/// The changelog shape, also used for automation `event`s (`outer_trigger` then helps find the
/// user's email, which only the automation's own trigger carries).
fn parse_change(
    kind: PortKind,
    obj: &serde_json::Map<String, Value>,
    outer_trigger: Option<&Value>,
) -> PortEvent {
    let get = |k: &str| obj.get(k).unwrap_or(&Value::Null);
    let context = get("context");
    let diff = get("diff");
    let before = non_null(diff.get("before"));
    let after = non_null(diff.get("after"));
    let trigger = get("trigger");
    let title = [&after, &before]
        .into_iter()
        .flatten()
        .find_map(|v| v.get("title").and_then(Value::as_str))
        .map(str::to_string);
    let blueprint = str_at(context, &["blueprint"])
        .or_else(|| str_at(context, &["blueprintIdentifier"]))
        .or_else(|| object_blueprint(after.as_ref().or(before.as_ref())))
        .map(str::to_string);
    let entity = str_at(context, &["entity"])
        .or_else(|| str_at(context, &["entityIdentifier"]))
        .map(str::to_string)
        .or_else(|| {
            // Entity events without a context: the entity's own identifier.
            (get("resourceType").as_str() == Some("entity"))
                .then(|| {
                    [&after, &before]
                        .into_iter()
                        .flatten()
                        .find_map(|v| v.get("identifier").and_then(Value::as_str))
                        .map(str::to_string)
                })
                .flatten()
        });
    PortEvent {
        kind,
        action: get("action").as_str().unwrap_or_default().to_string(),
        resource_type: get("resourceType").as_str().unwrap_or_default().to_string(),
        status: get("status").as_str().map(str::to_string),
        blueprint,
        entity,
        title,
        triggered_by: who(trigger, outer_trigger),
        origin: str_at(trigger, &["origin"]).map(str::to_string),
        at: str_at(trigger, &["at"]).map(str::to_string),
        before,
        after,
    }
}

/// An entity's `blueprint` is a string; a run's is `{identifier, title}`.
fn object_blueprint(v: Option<&Value>) -> Option<&str> {
    let bp = v?.get("blueprint")?;
    bp.as_str()
        .or_else(|| bp.get("identifier").and_then(Value::as_str))
}

fn parse_automation(body: &Value, event: &serde_json::Map<String, Value>) -> PortEvent {
    let mut ev = parse_change(PortKind::Automation, event, body.get("trigger"));
    if ev.at.is_none() {
        ev.at = str_at(body, &["trigger", "at"]).map(str::to_string);
    }
    ev
}

/// Self-service action runs: current trigger data (`inputs` + `action.identifier` + `run.id`,
/// no `event`) or the legacy run message (`resourceType: "run"` + `payload.action`).
fn parse_action_run(body: &Value) -> Option<PortEvent> {
    let legacy = body.get("resourceType").and_then(Value::as_str) == Some("run")
        && body.get("payload").and_then(|p| p.get("action")).is_some()
        && body.get("diff").is_none();
    if legacy {
        let payload = &body["payload"];
        let action = body.get("action").and_then(Value::as_str);
        return Some(PortEvent {
            kind: PortKind::ActionRun,
            action: action
                .or_else(|| str_at(payload, &["action", "identifier"]))
                .unwrap_or_default()
                .to_string(),
            resource_type: "run".into(),
            status: body
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string),
            blueprint: str_at(body, &["context", "blueprint"])
                .or_else(|| str_at(payload, &["action", "blueprint"]))
                .map(str::to_string),
            entity: str_at(body, &["context", "entity"])
                .or_else(|| str_at(payload, &["entity", "identifier"]))
                .map(str::to_string),
            title: str_at(payload, &["entity", "title"]).map(str::to_string),
            triggered_by: who(body.get("trigger").unwrap_or(&Value::Null), None),
            origin: str_at(body, &["trigger", "origin"]).map(str::to_string),
            at: str_at(body, &["trigger", "at"]).map(str::to_string),
            before: None,
            after: inputs(payload.get("properties")),
        });
    }
    let current = body.get("event").is_none_or(Value::is_null)
        && body.get("inputs").is_some()
        && body.get("trigger").is_some_and(Value::is_object)
        && str_at(body, &["action", "identifier"]).is_some();
    if !current {
        return None;
    }
    let trigger = &body["trigger"];
    let entity = body.get("entity").unwrap_or(&Value::Null);
    Some(PortEvent {
        kind: PortKind::ActionRun,
        action: str_at(body, &["action", "identifier"])
            .unwrap_or_default()
            .to_string(),
        resource_type: "run".into(),
        status: None,
        blueprint: str_at(body, &["action", "blueprint"]).map(str::to_string),
        entity: str_at(entity, &["identifier"]).map(str::to_string),
        title: str_at(entity, &["title"]).map(str::to_string),
        triggered_by: who(trigger, None),
        origin: str_at(trigger, &["origin"]).map(str::to_string),
        at: str_at(trigger, &["at"]).map(str::to_string),
        before: None,
        after: inputs(body.get("inputs")),
    })
}

/// Who triggered: `"Port"` for `byPort`, else the user's email when known (from this trigger or
/// the outer automation trigger, matched by user id), else the user id.
fn who(trigger: &Value, outer: Option<&Value>) -> String {
    let by = trigger.get("by").unwrap_or(&Value::Null);
    if by.get("byPort").and_then(Value::as_bool) == Some(true) {
        return "Port".into();
    }
    if let Some(email) = str_at(by, &["user", "email"]) {
        return email.to_string();
    }
    let user_id = str_at(by, &["userId"]);
    if let (Some(outer), Some(uid)) = (outer, user_id) {
        let obs = outer.get("by").unwrap_or(&Value::Null);
        let same =
            str_at(obs, &["userId"]) == Some(uid) || str_at(obs, &["user", "id"]) == Some(uid);
        if same && let Some(email) = str_at(obs, &["user", "email"]) {
            return email.to_string();
        }
    }
    match (user_id, outer) {
        (Some(uid), _) => uid.to_string(),
        (None, Some(outer)) => who(outer, None),
        (None, None) => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_only_turns_away_what_parse_refuses() {
        let change = br#"{"action":"UPDATE","resourceType":"entity","diff":{}}"#;
        assert!(may_be_port(change) && parse_bytes(change).is_some());
        let auto = br#" {"event":{"action":"CREATE","resourceType":"entity"}}"#;
        assert!(may_be_port(auto));
        // duplicate keys: the probe cannot tell, the full parse decides
        assert!(may_be_port(br#"{"inputs":1,"inputs":2}"#));
        for not_port in [
            &br#"{"action":"x","pad":"yyyy"}"#[..],
            b"[1,2]",
            b"not json",
            b"",
        ] {
            assert!(
                !may_be_port(not_port),
                "{:?}",
                String::from_utf8_lossy(not_port)
            );
            assert!(parse_bytes(not_port).is_none());
        }
    }
}
