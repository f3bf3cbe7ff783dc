//! Every Port example in tests/fixtures/port: parsed, diffed, summarised.

use std::path::PathBuf;

use hookrelay::json_diff::Change;
use hookrelay::port::{self, PortEvent, PortKind, render};
use serde_json::{Value, json};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/port")
}

fn load(name: &str) -> PortEvent {
    let bytes = std::fs::read(fixture_dir().join(name)).unwrap();
    port::parse_bytes(&bytes).unwrap_or_else(|| panic!("{name} is a Port payload"))
}

fn paths(ev: &PortEvent) -> Vec<String> {
    ev.changes().iter().map(|c| c.path().to_string()).collect()
}

#[test]
fn every_example_parses_and_renders() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 12, "all port examples are covered");
    for name in names {
        let ev = load(&name);
        let changes = ev.changes();
        let text = format!(
            "kind: {:?}\nsummary: {}\n\n{}",
            ev.kind,
            ev.summary(),
            render::changes_plain(&changes)
        );
        insta::assert_snapshot!(name.trim_end_matches(".json").to_string(), text);
    }
}

#[test]
fn entity_update_reports_the_one_changed_property_numerically() {
    let ev = load("01-changelog-entity-update.json");
    assert_eq!(ev.kind, PortKind::Changelog);
    assert_eq!(ev.action, "UPDATE");
    assert_eq!(ev.resource_type, "entity");
    assert_eq!(ev.status.as_deref(), Some("SUCCESS"));
    assert_eq!(ev.blueprint.as_deref(), Some("vm"));
    assert_eq!(ev.entity.as_deref(), Some("storage-example"));
    assert_eq!(ev.title.as_deref(), Some("Storage Example VM"));
    assert_eq!(ev.origin.as_deref(), Some("API"));
    assert_eq!(ev.at.as_deref(), Some("2022-07-15T16:44:56.288Z"));
    assert_eq!(ev.triggered_by, "h2Mf13aRSCYQCUPIcqufoP4XRLwAt8Od@clients");
    assert_eq!(
        ev.changes(),
        vec![Change::Changed {
            path: "properties.free_storage".into(),
            before: json!(6),
            after: json!(0.5),
        }]
    );
    assert_eq!(
        ev.summary(),
        "UPDATE entity storage-example (vm) by h2Mf13aRSCYQCUPIcqufoP4XRLwAt8Od@clients: free_storage 6 -> 0.5"
    );
}

#[test]
fn create_lists_everything_added_and_delete_everything_removed() {
    let created = load("02-changelog-entity-create.json");
    let changes = created.changes();
    assert!(changes.iter().all(|c| matches!(c, Change::Added { .. })));
    assert!(changes.contains(&Change::Added {
        path: "properties.healthStatus".into(),
        value: json!("Healthy")
    }));
    assert!(changes.contains(&Change::Added {
        path: "relations".into(),
        value: json!({})
    }));
    // 3 top-level fields + 7 properties + relations + 4 bookkeeping fields.
    assert_eq!(changes.len(), 15);
    assert_eq!(
        paths(&created).last().map(String::as_str),
        Some("updatedBy")
    );

    let deleted = load("04-changelog-entity-delete.json");
    let changes = deleted.changes();
    assert_eq!(changes.len(), 15);
    assert!(changes.iter().all(|c| matches!(c, Change::Removed { .. })));
    assert!(deleted.summary().starts_with(
        "DELETE entity notification-service-prod (deploymentConfig) by auth0|62ab380295b34240aa511cdb: -healthStatus"
    ));
}

#[test]
fn health_status_update_summary_leaves_bookkeeping_out() {
    let ev = load("03-changelog-entity-update-healthstatus.json");
    assert_eq!(
        paths(&ev),
        vec![
            "properties.healthStatus".to_string(),
            "updatedAt".to_string()
        ]
    );
    assert_eq!(
        ev.summary(),
        "UPDATE entity notification-service-prod (deploymentConfig) by auth0|62ab380295b34240aa511cdb: healthStatus Healthy -> Degraded"
    );
}

#[test]
fn run_changelog_and_port_initiated_timer() {
    let run = load("05-changelog-run-create-agent-topic.json");
    assert_eq!(
        (run.kind, run.resource_type.as_str()),
        (PortKind::Changelog, "run")
    );
    assert_eq!(run.entity, None);
    assert_eq!(run.blueprint.as_deref(), Some("Service"));
    assert!(
        run.summary()
            .starts_with("Create run r_jE5FhDURh4Uen2Qr (Service) by test_user [TRIGGERED]: ")
    );

    let timer = load("06-changelog-timer-expired.json");
    assert_eq!(timer.triggered_by, "Port");
    assert_eq!((timer.before.clone(), timer.after.clone()), (None, None));
    assert!(timer.changes().is_empty());
    assert_eq!(
        timer.summary(),
        "TIMER_EXPIRED entity entityIdentifier (timerExample) by Port"
    );
}

#[test]
fn automation_renamed_context_keys_and_user_email() {
    let ev = load("07-automation-entity-updated-trigger-data.json");
    assert_eq!(ev.kind, PortKind::Automation);
    assert_eq!(ev.blueprint.as_deref(), Some("service"));
    assert_eq!(ev.entity.as_deref(), Some("example-service-identifier"));
    assert_eq!(ev.triggered_by, "example-user@test.com");
    assert_eq!(
        ev.origin.as_deref(),
        Some("UI"),
        "the change's origin, not the automation's"
    );
    assert_eq!(ev.title.as_deref(), Some("Example service renamed"));
    assert_eq!(
        paths(&ev),
        vec![
            "title",
            "icon",
            "properties.latestVersion",
            "properties.language",
            "updatedAt",
            "updatedBy"
        ]
    );
    assert_eq!(
        ev.summary(),
        "UPDATE entity example-service-identifier (service) by example-user@test.com: \
         latestVersion 12.8.2 -> 12.8.22, language TypeScript -> Python, title Example service -> Example service renamed, +1 more"
    );
    let created = load("08-automation-entity-created-trigger-data.json");
    assert!(created.before.is_none() && created.after.is_some());
    assert!(
        created
            .changes()
            .iter()
            .all(|c| matches!(c, Change::Added { .. }))
    );
    let deleted = load("09-automation-entity-deleted-trigger-data.json");
    assert!(deleted.after.is_none());
    assert!(
        deleted
            .changes()
            .iter()
            .all(|c| matches!(c, Change::Removed { .. }))
    );
}

#[test]
fn action_runs_old_and_new() {
    let legacy = load("10-action-run-kafka-message-signed.json");
    assert_eq!(legacy.kind, PortKind::ActionRun);
    assert_eq!(legacy.action, "Create");
    assert_eq!(legacy.status.as_deref(), Some("TRIGGERED"));
    assert_eq!(legacy.blueprint.as_deref(), Some("Service"));
    assert_eq!(legacy.after, None, "empty inputs are no inputs");
    assert_eq!(
        legacy.summary(),
        "action run Create (Service) by test_user [TRIGGERED]"
    );

    let run = load("11-action-run-trigger-data.json");
    assert_eq!(run.kind, PortKind::ActionRun);
    assert_eq!(run.action, "Microservice_scaffold_a_microservice");
    assert_eq!(run.blueprint.as_deref(), Some("Microservice"));
    assert_eq!(run.entity, None);
    assert_eq!(run.triggered_by, "dev@example.com");
    assert_eq!(
        run.summary(),
        "action run Microservice_scaffold_a_microservice (Microservice) by dev@example.com: \
         microservice_name=payments, microservice_description=Payments API, language=Python, +3 more"
    );

    let updated = load("12-automation-run-updated-trigger-data.json");
    assert_eq!(
        (updated.kind, updated.resource_type.as_str()),
        (PortKind::Automation, "run")
    );
    assert_eq!(updated.triggered_by, "test-admin-user@test.com");
    assert_eq!(paths(&updated), vec!["updatedAt"]);
}

#[test]
fn non_port_and_partial_shapes_never_fail() {
    for body in [
        json!([1, 2]),
        json!("UPDATE"),
        json!(null),
        json!({"zen": "Keep it logically awesome.", "hook_id": 1}),
        json!({"action": "opened", "number": 1}),
        json!({"action": 1, "resourceType": "entity"}),
    ] {
        assert_eq!(port::parse(&body), None, "{body}");
    }
    assert_eq!(port::parse_bytes(b"not json"), None);
    assert_eq!(port::parse_bytes(b""), None);

    let partial = port::parse(&json!({"action": "UPDATE", "resourceType": "entity"})).unwrap();
    assert_eq!(partial.triggered_by, "unknown");
    assert!(partial.changes().is_empty());
    assert_eq!(partial.summary(), "UPDATE entity by unknown");

    let odd = json!({"action": "UPDATE", "resourceType": "entity", "diff": "x",
                     "context": [1], "trigger": {"by": "me", "at": 5}});
    let ev = port::parse(&odd).unwrap();
    assert_eq!((ev.before, ev.after, ev.at), (None, None, None));

    let hostile = json!({"action": "UPDATE\n\u{1b}[2J", "resourceType": "entity",
        "diff": {"before": {"properties": {"a": "x"}}, "after": {"properties": {"a": "y\nz"}}}});
    let line = port::parse(&hostile).unwrap().summary();
    assert!(!line.chars().any(char::is_control), "{line:?}");
}

#[test]
fn plain_renderings_escape_values_and_name_no_changes() {
    assert_eq!(render::changes_plain(&[]), "(no changes)\n");
    let v: Value = json!({"a": "\u{1b}[31m"});
    let line = render::changes_plain(&hookrelay::json_diff::diff(&json!({}), &v));
    assert!(!line.contains('\u{1b}'), "values are escaped JSON: {line}");
}

#[test]
fn blueprint_changes_and_port_initiated_automations() {
    let body = json!({
        "action": "UPDATE", "resourceType": "blueprint", "status": "SUCCESS",
        "trigger": {"by": {"orgId": "o", "userId": "u1"}, "origin": "API", "at": "2024-01-01T00:00:00Z"},
        "context": {"blueprint": "service", "entity": null},
        "diff": {
            "before": {"identifier": "service", "schema": {"properties": {"tier": {"type": "string"}}}},
            "after": {"identifier": "service", "schema": {"properties": {"tier": {"type": "number"}, "owner": {"type": "string"}}}}
        }
    });
    let ev = port::parse(&body).unwrap();
    assert_eq!(
        (ev.resource_type.as_str(), ev.entity.as_deref()),
        ("blueprint", None)
    );
    assert_eq!(
        ev.changes(),
        vec![
            Change::Changed {
                path: "schema.properties.tier.type".into(),
                before: json!("string"),
                after: json!("number")
            },
            Change::Added {
                path: "schema.properties.owner".into(),
                value: json!({"type": "string"})
            },
        ]
    );
    assert_eq!(
        ev.summary(),
        "UPDATE blueprint (service) by u1: schema.properties.tier.type string -> number, +schema.properties.owner={\"type\":\"string\"}"
    );

    let by_port = json!({
        "inputs": null, "trigger": {"by": {"orgId": "o", "byPort": true}, "origin": "AUTOMATION"},
        "event": {"action": "UPDATE", "resourceType": "entity",
                  "trigger": {"by": {"orgId": "o", "byPort": true}, "origin": "API", "at": "2024-01-01T00:00:00Z"},
                  "context": {"blueprintIdentifier": "svc", "entityIdentifier": "e1"},
                  "diff": {"before": {"properties": {"n": 1}}, "after": {"properties": {"n": 2}}}},
        "action": {"identifier": "automation"}, "run": {"id": "r_1"}
    });
    let ev = port::parse(&by_port).unwrap();
    assert_eq!(ev.kind, PortKind::Automation);
    assert_eq!(ev.triggered_by, "Port");
    assert_eq!(ev.summary(), "UPDATE entity e1 (svc) by Port: n 1 -> 2");
}
