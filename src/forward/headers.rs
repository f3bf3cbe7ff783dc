//! [`HeaderRules`]: `-H/--header 'Name: value'` adds or replaces a header on every forwarded
//! request (`Host` included); `--drop-header NAME` removes one. Names match without regard to
//! case; a replaced header keeps its place, an added one goes last.

use crate::delivery::Headers;

/// Headers the HTTP client writes itself from the body and the connection: `-H` cannot set
/// them (`Host` can be set). The length, and every hop-by-hop header.
fn client_owned(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || crate::headers::is_hop_by_hop(name)
}

/// What `-H` and `--drop-header` do to every forwarded request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Replace (or add) these, in the order given.
    set: Vec<(String, String)>,
    /// Remove these (lower-cased).
    drop: Vec<String>,
}

/// A `-H` or `--drop-header` that cannot be used. Values are never repeated (they may hold a
/// token).
#[derive(Debug, thiserror::Error)]
pub enum HeaderRuleError {
    #[error("-H/--header: expected 'Name: value' (e.g. -H 'Host: api.local'); no `:` was found")]
    Shape,
    #[error("-H/--header: `{0}` is not a valid header name (expected letters, digits and -)")]
    Name(String),
    #[error("-H/--header {0}: the value is not a valid header value (no control characters)")]
    Value(String),
    #[error("-H/--header {0}: hookrelay sets it itself from the body and the connection")]
    ClientOwned(String),
    #[error("--drop-header: `{0}` is not a valid header name (expected letters, digits and -)")]
    DropName(String),
}

impl HeaderRules {
    /// Parse `-H 'Name: value'` and `--drop-header NAME` flags.
    pub fn parse(set: &[String], drop: &[String]) -> Result<HeaderRules, HeaderRuleError> {
        let mut rules = HeaderRules::default();
        for s in set {
            let Some((name, value)) = s.split_once(':') else {
                return Err(HeaderRuleError::Shape);
            };
            let name = name.trim();
            let value = value.trim();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(HeaderRuleError::Name(
                    crate::sanitize::display_safe(name).into_owned(),
                ));
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(HeaderRuleError::Value(name.to_string()));
            }
            if client_owned(name) {
                return Err(HeaderRuleError::ClientOwned(name.to_string()));
            }
            rules.set.push((name.to_string(), value.to_string()));
        }
        for name in drop {
            let name = name.trim();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(HeaderRuleError::DropName(
                    crate::sanitize::display_safe(name).into_owned(),
                ));
            }
            rules.drop.push(name.to_ascii_lowercase());
        }
        Ok(rules)
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.drop.is_empty()
    }

    /// Apply the rules to the headers about to be sent: drop, then set.
    pub fn apply(&self, headers: &mut Headers) {
        headers.retain(|(n, _)| !self.drop.contains(&n.to_ascii_lowercase()));
        for (name, value) in &self.set {
            match headers
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(first) => {
                    headers[first] = (name.clone(), value.clone());
                    let mut i = first + 1;
                    while i < headers.len() {
                        if headers[i].0.eq_ignore_ascii_case(name) {
                            headers.remove(i);
                        } else {
                            i += 1;
                        }
                    }
                }
                None => headers.push((name.clone(), value.clone())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_replaces_in_place_or_appends_and_drop_removes() {
        let rules = HeaderRules::parse(
            &[
                "Host: api.local".into(),
                "x-env:  dev ".into(),
                "X-A: 9".into(),
            ],
            &["X-Drop".into()],
        )
        .unwrap();
        let mut headers = h(&[
            ("x-a", "1"),
            ("x-drop", "gone"),
            ("Content-Type", "application/json"),
            ("X-A", "2"),
        ]);
        rules.apply(&mut headers);
        assert_eq!(
            headers,
            h(&[
                ("X-A", "9"),
                ("Content-Type", "application/json"),
                ("Host", "api.local"),
                ("x-env", "dev"),
            ])
        );
    }

    #[test]
    fn unusable_rules_say_what_was_expected_and_never_repeat_a_value() {
        for (set, drop, want) in [
            ("Authorization Bearer s3cret", "", "expected 'Name: value'"),
            ("Bad Name: v", "", "not a valid header name"),
            ("Authorization: s3cret\u{7}", "", "not a valid header value"),
            ("Content-Length: 5", "", "sets it itself"),
            ("X-Ok: 1", "bad name", "--drop-header"),
        ] {
            let drop: Vec<String> = if drop.is_empty() {
                vec![]
            } else {
                vec![drop.into()]
            };
            let e = HeaderRules::parse(&[set.into()], &drop)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{set}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
