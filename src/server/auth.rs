//! Optional subscriber authentication: with a token set, subscribing needs
//! `Authorization: Bearer <token>`. Senders keep the secret-URL model (providers cannot add
//! auth). Tokens are kept only as SHA-256 digests and never logged.

use std::collections::HashSet;
use std::path::Path;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// The accepted subscriber tokens.
#[derive(Clone, Debug, Default)]
pub struct SubscriberTokens {
    digests: HashSet<[u8; 32]>,
}

impl SubscriberTokens {
    /// Tokens from text: one per line; blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> SubscriberTokens {
        let digests = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(digest)
            .collect();
        SubscriberTokens { digests }
    }

    /// Read a token file (see [`parse`](Self::parse)); an empty file is an error.
    pub fn load(path: &Path) -> std::io::Result<SubscriberTokens> {
        let t = Self::parse(&std::fs::read_to_string(path)?);
        if t.digests.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: no tokens in the file", path.display()),
            ));
        }
        Ok(t)
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether the request carries an accepted `Authorization: Bearer` token. Comparing
    /// digests in a hash set leaks nothing useful about a token through timing.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .any(|t| self.digests.contains(&digest(t)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let t = SubscriberTokens::parse("# team\nalpha\n\n  beta  \n");
        assert_eq!(t.len(), 2);
        let mut h = HeaderMap::new();
        assert!(!t.allows(&h));
        h.insert("authorization", "Bearer beta".parse().unwrap());
        assert!(t.allows(&h));
        h.insert("authorization", "bearer alpha".parse().unwrap());
        assert!(t.allows(&h));
        h.insert("authorization", "Bearer gamma".parse().unwrap());
        assert!(!t.allows(&h));
        h.insert("authorization", "Basic alpha".parse().unwrap());
        assert!(!t.allows(&h));
    }
}
