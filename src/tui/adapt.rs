//! TEMPORARY ADAPTER (integrator: replace with `crate::port::diff::diff` and `crate::port`).
//!
//! The Port diff module lands in parallel. Until then the UI uses this minimal structural diff
//! and this minimal Port payload reader. Nothing outside this file calls `json_changes`
//! directly: swap the two functions below for `port::diff::diff` and
//! `port::parse_bytes(..).map(|e| e.changes())` and delete the rest.

use serde_json::Value;

use crate::port::diff::Change;

/// The property diff of a Port payload (`diff.before` / `diff.after`, at the top or under
/// `event`), when the body is one.
pub fn port_changes(body: &[u8]) -> Option<Vec<Change>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let holder = match obj.get("diff") {
        Some(_) => obj,
        None => obj.get("event")?.as_object()?,
    };
    let diff = holder.get("diff")?.as_object()?;
    let before = diff.get("before").unwrap_or(&Value::Null);
    let after = diff.get("after").unwrap_or(&Value::Null);
    Some(changes(before, after))
}

/// One line about a Port payload: `UPDATE entity storage-example (blueprint vm)`.
pub fn port_summary(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let ev = obj.get("event").and_then(Value::as_object).unwrap_or(obj);
    let s = |o: &serde_json::Map<String, Value>, k: &str| {
        o.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let mut out = format!("{} {}", s(ev, "action")?, s(ev, "resourceType")?);
    if let Some(ctx) = ev.get("context").and_then(Value::as_object) {
        if let Some(e) = s(ctx, "entity") {
            out.push_str(&format!(" {e}"));
        }
        if let Some(b) = s(ctx, "blueprint") {
            out.push_str(&format!(" (blueprint {b})"));
        }
    }
    Some(out)
}

/// A structural diff of two JSON values.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    json_changes(before, after)
}

/// Minimal structural diff: objects by key, arrays by index, anything else by value.
/// `null` against an object compares as an empty object (created / deleted entities).
fn json_changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<Change>) {
    let empty = serde_json::Map::new();
    match (before, after) {
        (a, b) if a == b => {}
        (Value::Object(_) | Value::Null, Value::Object(_) | Value::Null) => {
            let a = before.as_object().unwrap_or(&empty);
            let b = after.as_object().unwrap_or(&empty);
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => walk(&join(path, k), va, vb, out),
                    None => out.push(Change::Removed {
                        path: join(path, k),
                        value: va.clone(),
                    }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(Change::Added {
                        path: join(path, k),
                        value: vb.clone(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(&p, x, y, out),
                    (Some(x), None) => out.push(Change::Removed {
                        path: p,
                        value: x.clone(),
                    }),
                    (None, Some(y)) => out.push(Change::Added {
                        path: p,
                        value: y.clone(),
                    }),
                    (None, None) => {}
                }
            }
        }
        _ => out.push(Change::Changed {
            path: path.to_string(),
            before: before.clone(),
            after: after.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_of_objects_and_arrays() {
        let a = json!({"p": {"x": 1, "gone": true}, "l": [1, 2]});
        let b = json!({"p": {"x": 2, "new": "n"}, "l": [1, 3, 4]});
        let c = changes(&a, &b);
        assert_eq!(
            c,
            vec![
                Change::Changed {
                    path: "p.x".into(),
                    before: json!(1),
                    after: json!(2)
                },
                Change::Removed {
                    path: "p.gone".into(),
                    value: json!(true)
                },
                Change::Added {
                    path: "p.new".into(),
                    value: json!("n")
                },
                Change::Changed {
                    path: "l[1]".into(),
                    before: json!(2),
                    after: json!(3)
                },
                Change::Added {
                    path: "l[2]".into(),
                    value: json!(4)
                },
            ]
        );
    }

    #[test]
    fn port_update_fixture() {
        let body = std::fs::read("tests/fixtures/port/01-changelog-entity-update.json").unwrap();
        let c = port_changes(&body).unwrap();
        assert_eq!(c.len(), 1);
        assert!(matches!(&c[0], Change::Changed { path, .. } if path == "properties.free_storage"));
        assert!(port_changes(b"{\"a\":1}").is_none());
    }
}
