//! [`EventFilter`]: `--only EVENT[,EVENT…]` and `--skip EVENT[,EVENT…]` on a delivery's event
//! label (GitHub's `x-github-event`, Port's `ACTION resourceType`, Stripe's event type, …; see
//! [`crate::delivery::event_label`]). A delivery filtered out is stored as skipped, with the
//! reason, never silently dropped.

/// Which event labels are forwarded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    only: Vec<String>,
    skip: Vec<String>,
}

impl EventFilter {
    /// From the flags' values, each a comma-separated list (repeatable). A value matches a
    /// label whole, without regard to case (`push`, `UPDATE entity`), or as a prefix when it
    /// ends with `*` (`invoice.*`).
    pub fn new(only: &[String], skip: &[String]) -> EventFilter {
        let split = |v: &[String]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        EventFilter {
            only: split(only),
            skip: split(skip),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty()
    }

    /// Why a delivery with this label is not forwarded, or `None` to forward it.
    pub fn rejects(&self, label: Option<&str>) -> Option<String> {
        let shown = label.map_or("(none)".to_string(), |l| format!("`{l}`"));
        if !self.only.is_empty() && !label.is_some_and(|l| self.only.iter().any(|p| matches(p, l)))
        {
            return Some(format!(
                "--only {}: its event is {shown}",
                self.only.join(",")
            ));
        }
        if let Some(l) = label
            && let Some(p) = self.skip.iter().find(|p| matches(p, l))
        {
            return Some(format!("--skip {p}: its event is {shown}"));
        }
        None
    }
}

fn matches(pattern: &str, label: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => label
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
        None => pattern.eq_ignore_ascii_case(label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_and_skip_match_whole_labels_or_star_prefixes() {
        let f = EventFilter::new(&["push, pull_request".into(), "invoice.*".into()], &[]);
        assert_eq!(f.rejects(Some("push")), None);
        assert_eq!(f.rejects(Some("Pull_Request")), None);
        assert_eq!(f.rejects(Some("invoice.paid")), None);
        let why = f.rejects(Some("issues")).unwrap();
        assert!(why.contains("--only push,pull_request,invoice.*") && why.contains("`issues`"));
        assert!(f.rejects(None).unwrap().contains("(none)"));

        let f = EventFilter::new(&[], &["ping".into(), "UPDATE*".into()]);
        assert_eq!(f.rejects(Some("push")), None);
        assert_eq!(f.rejects(None), None);
        assert!(f.rejects(Some("ping")).unwrap().starts_with("--skip ping"));
        assert!(f.rejects(Some("UPDATE entity")).is_some());
        assert!(EventFilter::new(&[" , ".into()], &[]).is_empty());
    }
}
