//! The generic JSON diff: edge cases and properties.

use hookrelay::json_diff::{Change, diff, json_eq, key_path};
use proptest::prelude::*;
use serde_json::{Value, json};

fn changed(path: &str, before: Value, after: Value) -> Change {
    Change::Changed {
        path: path.into(),
        before,
        after,
    }
}
fn added(path: &str, value: Value) -> Change {
    Change::Added {
        path: path.into(),
        value,
    }
}
fn removed(path: &str, value: Value) -> Change {
    Change::Removed {
        path: path.into(),
        value,
    }
}
fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn null_before_or_after() {
    assert_eq!(diff(&Value::Null, &Value::Null), vec![]);
    assert_eq!(
        diff(&Value::Null, &json!({"a": {"b": 1, "c": [1]}, "d": {}})),
        vec![
            added("a.b", json!(1)),
            added("a.c", json!([1])),
            added("d", json!({}))
        ]
    );
    assert_eq!(
        diff(&json!({"a": {"b": 1}}), &Value::Null),
        vec![removed("a.b", json!(1))]
    );
    assert_eq!(diff(&Value::Null, &json!(5)), vec![added("", json!(5))]);
    // A null value inside an object is a value like any other.
    assert_eq!(
        diff(&json!({"icon": null}), &json!({"icon": "x"})),
        vec![changed("icon", Value::Null, json!("x"))]
    );
}

#[test]
fn nested_objects_added_removed_changed() {
    let before = json!({"properties": {"a": 1, "nested": {"x": "1", "y": true}, "gone": [1]},
                        "relations": {"team": "a"}});
    let after = json!({"properties": {"a": 1, "nested": {"x": "2", "y": true}, "new": {"k": 1}},
                       "relations": {"team": "b"}});
    assert_eq!(
        diff(&before, &after),
        vec![
            changed("properties.nested.x", json!("1"), json!("2")),
            removed("properties.gone", json!([1])),
            added("properties.new", json!({"k": 1})),
            changed("relations.team", json!("a"), json!("b")),
        ]
    );
}

#[test]
fn numbers_compare_as_numbers() {
    assert!(diff(&json!({"n": num("1")}), &json!({"n": num("1.0")})).is_empty());
    assert!(diff(&json!({"n": num("100")}), &json!({"n": num("1e2")})).is_empty());
    assert!(diff(&json!({"n": num("-0")}), &json!({"n": num("0")})).is_empty());
    // Integers beyond f64 precision stay exact.
    let big1 = num("123456789012345678901234567890");
    let big2 = num("123456789012345678901234567891");
    assert_eq!(
        diff(&big1, &big2),
        vec![changed("", big1.clone(), big2.clone())]
    );
    assert_eq!(
        diff(&json!({"n": 25}), &json!({"n": 85})),
        vec![changed("n", json!(25), json!(85))]
    );
    // "1" the string is not 1 the number.
    assert_eq!(
        diff(&json!({"n": "1"}), &json!({"n": 1})),
        vec![changed("n", json!("1"), json!(1))]
    );
    // The multiset of an array ignores number spelling too.
    assert!(
        diff(&json!([num("1.0"), 2]), &json!([2, 1])).len() == 2,
        "same length: element-wise"
    );
    assert_eq!(
        diff(&json!([num("1.0"), 2]), &json!([2, 1, 3])),
        vec![added("[2]", json!(3))]
    );
}

#[test]
fn type_changes_are_one_change() {
    for (b, a) in [
        (json!("x"), json!(1)),
        (json!({"k": 1}), json!([1])),
        (json!([1]), json!("1")),
        (json!(true), json!(null)),
        (json!({}), json!(null)),
    ] {
        let d = diff(&json!({"v": b.clone()}), &json!({"v": a.clone()}));
        assert_eq!(d, vec![changed("v", b, a)]);
    }
}

#[test]
fn arrays_of_scalars() {
    // Same length: element-wise.
    assert_eq!(
        diff(
            &json!({"tags": ["a", "b", "c"]}),
            &json!({"tags": ["a", "x", "c"]})
        ),
        vec![changed("tags[1]", json!("b"), json!("x"))]
    );
    // Different length: by value, duplicates counted, order ignored.
    assert_eq!(
        diff(
            &json!({"tags": ["a", "b", "a"]}),
            &json!({"tags": ["b", "a", "c", "d"]})
        ),
        vec![
            removed("tags[2]", json!("a")),
            added("tags[2]", json!("c")),
            added("tags[3]", json!("d"))
        ]
    );
    assert_eq!(
        diff(&json!({"tags": ["a"]}), &json!({"tags": []})),
        vec![removed("tags[0]", json!("a"))]
    );
    assert!(diff(&json!({"tags": []}), &json!({"tags": []})).is_empty());
}

#[test]
fn arrays_of_objects_keyed_by_identifier() {
    let before = json!({"items": [
        {"identifier": "a", "title": "A"},
        {"identifier": "b", "title": "B"},
        {"identifier": "c", "title": "C"}]});
    let after = json!({"items": [
        {"identifier": "c", "title": "C"},
        {"identifier": "a", "title": "A2"},
        {"identifier": "d", "title": "D"}]});
    assert_eq!(
        diff(&before, &after),
        vec![
            changed("items[identifier=\"a\"].title", json!("A"), json!("A2")),
            removed(
                "items[identifier=\"b\"]",
                json!({"identifier": "b", "title": "B"})
            ),
            added(
                "items[identifier=\"d\"]",
                json!({"identifier": "d", "title": "D"})
            ),
        ]
    );
    // `id` works too, numbers included; duplicate ids fall back to positions.
    assert_eq!(
        diff(
            &json!([{"id": 1, "v": 1}]),
            &json!([{"id": 2, "v": 1}, {"id": 1, "v": 2}])
        ),
        vec![
            changed("[id=1].v", json!(1), json!(2)),
            added("[id=2]", json!({"id": 2, "v": 1}))
        ]
    );
    assert_eq!(
        diff(
            &json!([{"id": 1, "v": 1}, {"id": 1, "v": 2}]),
            &json!([{"id": 1, "v": 1}, {"id": 1, "v": 3}])
        ),
        vec![changed("[1].v", json!(2), json!(3))]
    );
}

#[test]
fn unusual_keys_are_quoted() {
    assert_eq!(key_path("properties", "a.b"), r#"properties["a.b"]"#);
    assert_eq!(key_path("properties", "größe"), r#"properties["größe"]"#);
    assert_eq!(key_path("", "with space"), r#"["with space"]"#);
    assert_eq!(key_path("p", ""), r#"p[""]"#);
    assert_eq!(key_path("p", "quote\"d"), r#"p["quote\"d"]"#);
    assert_eq!(key_path("p", "cpu-util_2"), "p.cpu-util_2");
    assert_eq!(
        diff(
            &json!({"properties": {"名前": "a", "x.y": 1}}),
            &json!({"properties": {"名前": "b", "x.y": 2}})
        ),
        vec![
            changed(r#"properties["名前"]"#, json!("a"), json!("b")),
            changed(r#"properties["x.y"]"#, json!(1), json!(2)),
        ]
    );
}

#[test]
fn key_order_does_not_matter() {
    let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"p": 1, "q": 2}}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"y": {"q": 2, "p": 1.0}, "x": 1}"#).unwrap();
    assert!(diff(&a, &b).is_empty());
    assert!(json_eq(&a, &b));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z.é ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zé.]{1,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn a_value_has_no_diff_with_itself(v in arb_json()) {
        prop_assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn a_create_is_only_additions_and_a_delete_only_removals(v in arb_json()) {
        let only_added = diff(&Value::Null, &v).iter().all(|c| matches!(c, Change::Added { .. }));
        let only_removed = diff(&v, &Value::Null).iter().all(|c| matches!(c, Change::Removed { .. }));
        prop_assert!(only_added, "create of {}", v);
        prop_assert!(only_removed, "delete of {}", v);
        prop_assert_eq!(diff(&Value::Null, &v).len(), diff(&v, &Value::Null).len());
    }

    #[test]
    fn different_values_have_a_diff(a in arb_json(), b in arb_json()) {
        prop_assert_eq!(diff(&a, &b).is_empty(), json_eq(&a, &b));
    }
}
