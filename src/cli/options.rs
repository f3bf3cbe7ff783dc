//! Option groups shared by several commands: signing secrets and verification, the store.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::verify::{Scheme, Secrets, Verifier, VerifyMode};

/// Signing secrets: `--secret`, the environment, `--secrets-file` (`forward`, `replay`, `send`).
#[derive(Debug, Args, Clone)]
pub struct SecretOpts {
    /// A signing secret, `SCHEME=SECRET` (repeatable). Schemes: port, port-ocean, github,
    /// scalr, stripe, standard-webhooks (svix). Prefer `HOOKRELAY_<SCHEME>_SECRET` or
    /// --secrets-file: other local users can read a command line (ps).
    #[arg(long = "secret", value_name = "SCHEME=SECRET")]
    pub secrets: Vec<String>,
    /// A file of `scheme = secret` lines.
    #[arg(long, value_name = "PATH")]
    pub secrets_file: Option<PathBuf>,
}

impl SecretOpts {
    /// The secrets: flags over environment over file. Empty or whitespace-only ones are
    /// refused.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        let mut all = match &self.secrets_file {
            Some(p) => Secrets::load_file(p).with_context(|| format!("reading {}", p.display()))?,
            None => Secrets::new(),
        };
        all.merge(Secrets::from_env()?);
        let mut flags = Secrets::new();
        for s in &self.secrets {
            // the value holds a secret: name only the flag
            let (scheme, secret) = Secrets::parse_flag(s).context("--secret")?;
            flags.insert(scheme, secret);
        }
        all.merge(flags);
        Ok(all)
    }

    /// The note printed once when a secret came from the command line, where every local
    /// user can read it (`ps`, /proc/PID/cmdline).
    pub fn command_line_note(&self) -> Option<String> {
        (!self.secrets.is_empty()).then(|| {
            "a secret was given with --secret on the command line, where other local users can \
             see it (ps); prefer HOOKRELAY_<SCHEME>_SECRET or --secrets-file"
                .to_string()
        })
    }
}

/// Signing secrets and how deliveries are verified.
#[derive(Debug, Args, Clone)]
pub struct VerifyOpts {
    #[command(flatten)]
    pub secret: SecretOpts,
    /// report: forward everything and show the outcome; strict: forward only valid
    /// deliveries; off: do not verify.
    #[arg(long = "verify", value_enum, default_value = "report")]
    pub mode: VerifyMode,
    /// Use this scheme instead of detecting it from the headers.
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub verify_scheme: Option<Scheme>,
    /// Timestamp tolerance in seconds.
    #[arg(long, default_value_t = crate::verify::DEFAULT_TOLERANCE_SECS)]
    pub tolerance: i64,
}

impl VerifyOpts {
    /// The secrets: flags over environment over file.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        self.secret.secrets()
    }

    /// See [`SecretOpts::command_line_note`].
    pub fn command_line_note(&self) -> Option<String> {
        self.secret.command_line_note()
    }

    pub fn verifier(&self) -> anyhow::Result<Verifier> {
        let mut v = Verifier::new(self.secrets()?);
        v.forced = self.verify_scheme;
        v.tolerance_secs = self.tolerance;
        Ok(v)
    }
}

/// Where deliveries are kept.
#[derive(Debug, Args, Clone)]
pub struct StoreOpts {
    /// The store file (default: one per project in your data directory; the project is the git
    /// repository around the current directory, else the current directory).
    #[arg(long, value_name = "PATH", env = "HOOKRELAY_STORE")]
    pub store: Option<PathBuf>,
    /// Keep deliveries in memory only.
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
}

impl StoreOpts {
    /// The store path, or None with `--no-store`.
    pub fn path(&self) -> Option<PathBuf> {
        if self.no_store {
            None
        } else {
            Some(
                self.store
                    .clone()
                    .unwrap_or_else(crate::store::default_path),
            )
        }
    }
}

/// The store a history command reads (`list`, `show`, ...): no `--no-store` there, since
/// there would be nothing to read.
#[derive(Debug, Args, Clone)]
pub struct HistoryStore {
    /// The store file (default: the project's, as `forward` chose it: the git repository around
    /// the current directory, else the current directory).
    #[arg(long, value_name = "PATH", env = "HOOKRELAY_STORE")]
    pub store: Option<PathBuf>,
}

impl HistoryStore {
    /// The store path.
    pub fn path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(crate::store::default_path)
    }
}
