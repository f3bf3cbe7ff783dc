//! [`Routes`]: `--route PREFIX=URL` sends a delivery whose sub-path starts with PREFIX (a whole
//! path segment) to URL plus the rest of the sub-path, its query kept; the longest prefix wins;
//! anything else goes to the target.

use super::{Target, TargetError};
use crate::delivery::WebhookRequest;

/// The user's routes, longest prefix first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<(String, Target)>,
}

/// A `--route` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("--route `{0}`: expected PREFIX=URL, e.g. --route /github=http://localhost:3000/gh")]
    Shape(String),
    #[error("--route `{0}`: the prefix must start with `/` (a sub-path of the channel URL)")]
    Prefix(String),
    #[error("--route `{route}`: {source}")]
    Url {
        route: String,
        #[source]
        source: TargetError,
    },
}

impl Routes {
    /// Parse `--route PREFIX=URL` flags (URL as lenient as a target: `localhost:3000/gh`).
    pub fn parse(flags: &[String]) -> Result<Routes, RouteError> {
        let mut routes = Vec::new();
        for flag in flags {
            let shown = || crate::sanitize::display_safe(flag).into_owned();
            let Some((prefix, url)) = flag.split_once('=') else {
                return Err(RouteError::Shape(shown()));
            };
            let prefix = prefix.trim().trim_end_matches('/');
            if !flag.trim_start().starts_with('/') {
                return Err(RouteError::Prefix(shown()));
            }
            let target = Target::parse(url).map_err(|source| RouteError::Url {
                route: shown(),
                source,
            })?;
            routes.push((prefix.to_string(), target));
        }
        // longest first: the first match is the longest prefix
        routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(Routes { routes })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Each route, `(prefix, target)`, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Target)> {
        self.routes.iter().map(|(p, t)| (p.as_str(), t))
    }

    /// The URL `req` goes to: the longest matching route's URL plus the rest of the sub-path
    /// and the query, else `default`'s.
    pub fn url_for(&self, default: &Target, req: &WebhookRequest) -> String {
        for (prefix, target) in &self.routes {
            if let Some(rest) = strip_segment_prefix(&req.path, prefix) {
                let routed = WebhookRequest {
                    method: String::new(),
                    path: rest.to_string(),
                    query: req.query.clone(),
                    headers: Vec::new(),
                    body: Default::default(),
                };
                return target.url_for(&routed);
            }
        }
        default.url_for(req)
    }
}

/// `path` without `prefix`, when `prefix` is a whole number of its segments (`/github` matches
/// `/github` and `/github/x`, not `/githubx`). An empty prefix (`/`) matches everything.
fn strip_segment_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::super::tests::req;
    use super::*;

    #[test]
    fn the_longest_whole_segment_prefix_wins_and_the_rest_and_query_are_kept() {
        let routes = Routes::parse(&[
            "/github=http://localhost:3000/gh".into(),
            "/github/app=localhost:4000".into(),
            "/stripe/=https://localhost:8443/s?k=v".into(),
        ])
        .unwrap();
        let default = Target::parse("http://127.0.0.1:9/t").unwrap();
        let url = |p: &str, q: &str| routes.url_for(&default, &req(p, q));
        assert_eq!(url("/github/x", "a=1"), "http://localhost:3000/gh/x?a=1");
        assert_eq!(url("/github", ""), "http://localhost:3000/gh");
        assert_eq!(url("/github/app/y", ""), "http://localhost:4000/y");
        assert_eq!(url("/stripe", "a=2"), "https://localhost:8443/s?k=v&a=2");
        assert_eq!(url("/githubx", ""), "http://127.0.0.1:9/t/githubx");
        assert_eq!(url("", ""), "http://127.0.0.1:9/t");
    }

    #[test]
    fn unusable_routes_say_what_was_expected() {
        for (bad, want) in [
            ("/github", "expected PREFIX=URL"),
            ("github=http://x", "must start with `/`"),
            ("/g=ftp://x", "expected"),
        ] {
            let e = Routes::parse(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
