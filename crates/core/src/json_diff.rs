//! A structural diff of two JSON values: added, removed and changed values at nested paths.
//!
//! Generic (also used to compare two arbitrary JSON bodies); Port events use it on
//! `diff.before` / `diff.after`.
//!
//! - Paths read like `properties.healthStatus`, `relations.team`, `properties.tags[2]`; keys that
//!   are not plain ASCII names are quoted: `properties["a.b"]`, `properties["größe"]`.
//! - Numbers compare as numbers (`1` equals `1.0` and `1e0`), whatever their source text.
//! - Objects recurse key by key. A key present on one side only is one change carrying the
//!   whole value.
//! - Arrays of objects that all carry a unique `identifier` (or `id`) are matched by it
//!   (`items[identifier="a"].title`). Other arrays of equal length compare element by element;
//!   arrays of different lengths report the elements only one side has (as a multiset: order
//!   does not matter, duplicates count).
//! - A `null` (or absent) root on one side lists every leaf of the other side: a create is all
//!   added, a delete all removed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// One difference at a path such as `properties.healthStatus` or `relations.team[1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        value: Value,
    },
    Removed {
        path: String,
        value: Value,
    },
    Changed {
        path: String,
        before: Value,
        after: Value,
    },
}

impl Change {
    /// The path of the change (empty for the root value).
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Changed { path, .. } => path,
        }
    }
}

/// Every difference between `before` and `after`, in document order.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    match (before, after) {
        (Value::Null, Value::Null) => {}
        (Value::Null, a) => leaves(String::new(), a, &mut |path, value| {
            out.push(Change::Added { path, value })
        }),
        (b, Value::Null) => leaves(String::new(), b, &mut |path, value| {
            out.push(Change::Removed { path, value })
        }),
        (b, a) => walk(String::new(), b, a, &mut out),
    }
    out
}

/// Every leaf of `v` with its path; non-empty objects are descended, everything else
/// (scalars, arrays, `{}`) is a leaf.
fn leaves(path: String, v: &Value, emit: &mut dyn FnMut(String, Value)) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                leaves(key_path(&path, k), child, emit);
            }
        }
        other => emit(path, other.clone()),
    }
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => walk_objects(&path, b, a, out),
        (Value::Array(b), Value::Array(a)) => walk_arrays(&path, b, a, out),
        (b, a) if json_eq(b, a) => {}
        (b, a) => out.push(Change::Changed {
            path,
            before: b.clone(),
            after: a.clone(),
        }),
    }
}

fn walk_objects(path: &str, b: &Map<String, Value>, a: &Map<String, Value>, out: &mut Vec<Change>) {
    for (k, bv) in b {
        match a.get(k) {
            Some(av) => walk(key_path(path, k), bv, av, out),
            None => out.push(Change::Removed {
                path: key_path(path, k),
                value: bv.clone(),
            }),
        }
    }
    for (k, av) in a {
        if !b.contains_key(k) {
            out.push(Change::Added {
                path: key_path(path, k),
                value: av.clone(),
            });
        }
    }
}

fn walk_arrays(path: &str, b: &[Value], a: &[Value], out: &mut Vec<Change>) {
    if let Some(field) = identity_field(b, a) {
        let key_of = |v: &Value| canonical(&v[field]);
        let after_by_key: HashMap<String, &Value> = a.iter().map(|v| (key_of(v), v)).collect();
        let before_keys: HashMap<String, ()> = b.iter().map(|v| (key_of(v), ())).collect();
        for bv in b {
            let k = key_of(bv);
            let p = format!("{path}[{field}={}]", compact(&bv[field]));
            match after_by_key.get(&k) {
                Some(av) => walk(p, bv, av, out),
                None => out.push(Change::Removed {
                    path: p,
                    value: bv.clone(),
                }),
            }
        }
        for av in a {
            if !before_keys.contains_key(&key_of(av)) {
                out.push(Change::Added {
                    path: format!("{path}[{field}={}]", compact(&av[field])),
                    value: av.clone(),
                });
            }
        }
        return;
    }
    if b.len() == a.len() {
        for (i, (bv, av)) in b.iter().zip(a).enumerate() {
            walk(format!("{path}[{i}]"), bv, av, out);
        }
        return;
    }
    // Different lengths: a multiset difference by value.
    let mut pool: HashMap<String, Vec<usize>> = HashMap::new();
    for (j, av) in a.iter().enumerate().rev() {
        pool.entry(canonical(av)).or_default().push(j);
    }
    let mut matched = vec![false; a.len()];
    for (i, bv) in b.iter().enumerate() {
        match pool.get_mut(&canonical(bv)).and_then(Vec::pop) {
            Some(j) => matched[j] = true,
            None => out.push(Change::Removed {
                path: format!("{path}[{i}]"),
                value: bv.clone(),
            }),
        }
    }
    for (j, av) in a.iter().enumerate() {
        if !matched[j] {
            out.push(Change::Added {
                path: format!("{path}[{j}]"),
                value: av.clone(),
            });
        }
    }
}

/// `identifier` or `id`, when every element on both sides is an object with a unique scalar
/// value for it.
fn identity_field(b: &[Value], a: &[Value]) -> Option<&'static str> {
    if b.is_empty() && a.is_empty() {
        return None;
    }
    ["identifier", "id"].into_iter().find(|field| {
        [b, a].iter().all(|side| {
            let mut seen = HashMap::new();
            side.iter().all(|v| match v.get(field) {
                Some(k @ (Value::String(_) | Value::Number(_))) => {
                    v.is_object() && seen.insert(canonical(k), ()).is_none()
                }
                _ => false,
            })
        })
    })
}

/// Deep equality with numbers compared by value (`1` == `1.0`) and object key order ignored.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers by value: exact for integers (up to 128 bits), as `f64` otherwise.
pub fn numbers_eq(x: &Number, y: &Number) -> bool {
    let (xs, ys) = (x.to_string(), y.to_string());
    if xs == ys {
        return true;
    }
    if let (Ok(p), Ok(q)) = (xs.parse::<i128>(), ys.parse::<i128>()) {
        return p == q;
    }
    match (xs.parse::<f64>(), ys.parse::<f64>()) {
        (Ok(p), Ok(q)) => p == q,
        _ => false,
    }
}

/// A text equal for [`json_eq`]-equal values: keys sorted, numbers normalised.
fn canonical(v: &Value) -> String {
    let mut s = String::new();
    write_canonical(v, &mut s);
    s
}

fn write_canonical(v: &Value, s: &mut String) {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            match (text.parse::<i128>(), text.parse::<f64>()) {
                (Ok(i), _) => s.push_str(&i.to_string()),
                (_, Ok(f)) if f.fract() == 0.0 && f.abs() < 1e38 => {
                    s.push_str(&(f as i128).to_string())
                }
                (_, Ok(f)) => s.push_str(&format!("{f:e}")),
                _ => s.push_str(&text),
            }
        }
        Value::Array(items) => {
            s.push('[');
            for item in items {
                write_canonical(item, s);
                s.push(',');
            }
            s.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            s.push('{');
            for k in keys {
                s.push_str(&compact(&Value::String(k.clone())));
                s.push(':');
                write_canonical(&map[k], s);
                s.push(',');
            }
            s.push('}');
        }
        other => s.push_str(&compact(other)),
    }
}

/// Compact JSON text of a value, inert on a terminal (control and format characters as
/// `\uXXXX`, see [`crate::sanitize::json_text`]).
pub fn compact(v: &Value) -> String {
    crate::sanitize::json_text(v)
}

/// `parent.key`, or `parent["key"]` when the key is not a plain ASCII name.
pub fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{parent}.{key}"),
        (false, _) => format!("{parent}[{}]", compact(&Value::String(key.to_string()))),
    }
}
