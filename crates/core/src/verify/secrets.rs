//! Signing secrets, per scheme, from flags, environment variables or a file.
//!
//! The values never leave this type except as key bytes for an HMAC: `Debug` redacts them,
//! there is no `Display`, no `Serialize`, and error messages never quote a value.

use super::Scheme;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a secret could not be read. Messages name the scheme or the line, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("expected SCHEME=SECRET (schemes: {})", Scheme::NAMES)]
    NoEquals,
    #[error("unknown signature scheme {0:?} (schemes: {names})", names = Scheme::NAMES)]
    UnknownScheme(String),
    #[error("the secret for {0} is empty")]
    Empty(Scheme),
    #[error("the secret for {0} is only whitespace: give the real secret")]
    Blank(Scheme),
    #[error("{0} holds only whitespace: set it to the real secret, or unset it")]
    BlankEnv(String),
    #[error("cannot read the secrets file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {why}")]
    Line {
        path: PathBuf,
        line: usize,
        why: Box<SecretError>,
    },
}

/// Signing secrets by scheme. Later inserts replace earlier ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    by_scheme: BTreeMap<Scheme, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for s in self.by_scheme.keys() {
            m.entry(&s.name(), &format_args!("<redacted>"));
        }
        m.finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set (or replace) the secret for a scheme.
    pub fn insert(&mut self, scheme: Scheme, secret: String) {
        self.by_scheme.insert(scheme, secret);
    }

    /// Parse a `--secret` flag value: `port=abc`, `standard-webhooks=whsec_...` (alias `svix`).
    /// Everything after the first `=` is the secret, kept verbatim.
    pub fn parse_flag(s: &str) -> Result<(Scheme, String), SecretError> {
        let (name, secret) = s.split_once('=').ok_or(SecretError::NoEquals)?;
        let scheme: Scheme = name
            .trim()
            .parse()
            .map_err(|_| SecretError::UnknownScheme(name.trim().to_string()))?;
        if secret.is_empty() {
            return Err(SecretError::Empty(scheme));
        }
        if secret.trim().is_empty() {
            return Err(SecretError::Blank(scheme));
        }
        Ok((scheme, secret.to_string()))
    }

    /// Secrets from `HOOKRELAY_<SCHEME>_SECRET` variables (`HOOKRELAY_SVIX_SECRET` is an
    /// alias of `HOOKRELAY_STANDARD_WEBHOOKS_SECRET`). Empty variables are ignored; one holding
    /// only whitespace is an error.
    pub fn from_env() -> Result<Self, SecretError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Secrets::from_env`] over any variable lookup (testable without touching the process).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        let mut out = Secrets::new();
        for scheme in Scheme::ALL {
            let mut names = vec![scheme.env_var()];
            if scheme == Scheme::StandardWebhooks {
                names.insert(0, "HOOKRELAY_SVIX_SECRET".to_string());
            }
            for n in names {
                if let Some(v) = get(&n).filter(|v| !v.is_empty()) {
                    if v.trim().is_empty() {
                        return Err(SecretError::BlankEnv(n));
                    }
                    out.insert(scheme, v);
                }
            }
        }
        Ok(out)
    }

    /// Read a secrets file: `scheme = secret` lines; blank lines and lines starting with `#`
    /// are skipped; a value in double quotes has the quotes removed.
    pub fn load_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut out = Secrets::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let wrap = |why| SecretError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                why: Box::new(why),
            };
            let (scheme, value) = Self::parse_flag(t).map_err(wrap)?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if value.is_empty() {
                return Err(wrap(SecretError::Empty(scheme)));
            }
            if value.trim().is_empty() {
                return Err(wrap(SecretError::Blank(scheme)));
            }
            out.insert(scheme, value.to_string());
        }
        Ok(out)
    }

    /// Take every secret of `other`, replacing ours for the same scheme.
    pub fn merge(&mut self, other: Secrets) {
        self.by_scheme.extend(other.by_scheme);
    }

    /// Whether a secret is set for `s`.
    pub fn has(&self, s: Scheme) -> bool {
        self.by_scheme.contains_key(&s)
    }

    /// The schemes that have a secret, in a stable order.
    pub fn schemes(&self) -> Vec<Scheme> {
        self.by_scheme.keys().copied().collect()
    }

    /// The secret for `s` (crate-internal: only HMAC keys are built from it).
    pub(crate) fn get(&self, s: Scheme) -> Option<&str> {
        self.by_scheme.get(&s).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_errors_never_echo_the_secret() {
        let (s, v) = Secrets::parse_flag("port=ab=c").unwrap();
        assert_eq!((s, v.as_str()), (Scheme::Port, "ab=c"));
        assert_eq!(
            Secrets::parse_flag("svix=whsec_x").unwrap().0,
            Scheme::StandardWebhooks
        );
        assert_eq!(
            Secrets::parse_flag("port-ocean=x").unwrap().0,
            Scheme::PortOcean
        );
        let e = Secrets::parse_flag("hunter2").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = Secrets::parse_flag("nope=hunter2").unwrap_err().to_string();
        assert!(e.contains("nope") && !e.contains("hunter2"), "{e}");
        assert!(matches!(
            Secrets::parse_flag("port="),
            Err(SecretError::Empty(Scheme::Port))
        ));
    }

    #[test]
    fn whitespace_only_secrets_are_refused_everywhere() {
        for flag in ["port= ", "github=\t", "stripe= \n "] {
            let e = Secrets::parse_flag(flag).unwrap_err();
            assert!(matches!(e, SecretError::Blank(_)), "{flag:?}: {e}");
            assert!(e.to_string().contains("only whitespace"), "{e}");
        }
        // Leading or trailing spaces around a real secret are kept verbatim.
        assert_eq!(Secrets::parse_flag("port= s ").unwrap().1, " s ");
        let e = Secrets::from_lookup(|k| (k == "HOOKRELAY_PORT_SECRET").then(|| "  ".into()))
            .unwrap_err();
        assert!(e.to_string().contains("HOOKRELAY_PORT_SECRET"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secrets");
        std::fs::write(&p, "port = \"  \"\n").unwrap();
        assert!(Secrets::load_file(&p).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let mut s = Secrets::new();
        s.insert(Scheme::Github, "hunter2".into());
        let d = format!("{s:?}");
        assert!(
            d.contains("<redacted>") && d.contains("github") && !d.contains("hunter2"),
            "{d}"
        );
    }

    #[test]
    fn env_lookup_and_alias() {
        let s = Secrets::from_lookup(|k| match k {
            "HOOKRELAY_PORT_SECRET" => Some("p".into()),
            "HOOKRELAY_SVIX_SECRET" => Some("x".into()),
            "HOOKRELAY_STRIPE_SECRET" => Some(String::new()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.schemes(), [Scheme::Port, Scheme::StandardWebhooks]);
        assert_eq!(s.get(Scheme::StandardWebhooks), Some("x"));
    }

    #[test]
    fn file_lines_comments_quotes_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secrets");
        std::fs::write(&p, "# mine\n\nport = abc#def\ngithub=\"q w\"\n").unwrap();
        let s = Secrets::load_file(&p).unwrap();
        assert_eq!(s.get(Scheme::Port), Some("abc#def"));
        assert_eq!(s.get(Scheme::Github), Some("q w"));
        std::fs::write(&p, "port=ok\nwhat = hunter2\n").unwrap();
        let e = Secrets::load_file(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
        let missing = Secrets::load_file(&dir.path().join("none")).unwrap_err();
        assert!(matches!(missing, SecretError::Io { .. }));
    }

    #[test]
    fn merge_prefers_the_argument() {
        let mut a = Secrets::new();
        a.insert(Scheme::Port, "file".into());
        let mut b = Secrets::new();
        b.insert(Scheme::Port, "flag".into());
        a.merge(b);
        assert_eq!(a.get(Scheme::Port), Some("flag"));
    }
}
