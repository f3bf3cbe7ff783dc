//! [`TargetOptions`]: how requests reach the user's targets, in one place. Built once from the
//! command line, carried by [`crate::pipeline::ForwardConfig`], and used alike by the forward
//! job, `hookrelay replay` and the UI's replay.

use std::sync::Arc;

use super::filter::EventFilter;
use super::headers::HeaderRules;
use super::routes::Routes;
use crate::tls::{TlsSetupError, TrustOptions};

/// TLS trust for `https://` targets, header rules, routes, event filters.
#[derive(Clone, Debug)]
pub struct TargetOptions {
    /// Which certificates an `https://` target may present (`--ca-cert`, `--insecure`).
    pub trust: TrustOptions,
    /// The TLS client configuration built from `trust` (the system's roots plus `--ca-cert`).
    tls: Arc<rustls::ClientConfig>,
    /// `-H` and `--drop-header`, applied to every forwarded request (replays too).
    pub headers: HeaderRules,
    /// `--route PREFIX=URL`: sub-paths that go elsewhere than the target.
    pub routes: Routes,
    /// `--only` / `--skip`: which event labels the forward job forwards (the rest are stored
    /// as skipped).
    pub filter: EventFilter,
}

impl TargetOptions {
    /// Options with this trust; reads the `--ca-cert` files now, so a bad one is an error at
    /// start, not at the first delivery.
    pub fn new(trust: TrustOptions) -> Result<TargetOptions, TlsSetupError> {
        let tls = Arc::new(crate::tls::client_config(&trust)?);
        Ok(TargetOptions {
            trust,
            tls,
            headers: HeaderRules::default(),
            routes: Routes::default(),
            filter: EventFilter::default(),
        })
    }

    /// The TLS client configuration for `https://` targets.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }
}

impl Default for TargetOptions {
    /// The system's roots, nothing else.
    fn default() -> Self {
        TargetOptions::new(TrustOptions::default())
            .expect("a TLS configuration without files always builds")
    }
}
