//! The options for how requests reach the target, shared by `forward` and `replay`
//! ([`crate::forward::TargetOptions`] is what they become).

use std::path::PathBuf;

use clap::Args;

use crate::forward::{HeaderRules, Routes, TargetOptions};
use crate::tls::TrustOptions;

/// `--ca-cert`, `--insecure`, `-H`, `--drop-header`, `--route`.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetOpts {
    /// Trust this CA certificate (PEM) for https:// targets, besides the system's roots
    /// (repeatable): for a private CA or a self-signed certificate (mkcert, openssl).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// Accept any certificate from an https:// target (self-signed development certificates;
    /// never for a target you do not run yourself).
    #[arg(long)]
    pub insecure: bool,
    /// Add or replace this header on every forwarded request, `Host` included (repeatable):
    /// -H 'Host: api.local' -H 'X-Env: dev'.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Remove this header from every forwarded request (repeatable).
    #[arg(long = "drop-header", value_name = "NAME")]
    pub drop_headers: Vec<String>,
    /// Send deliveries whose sub-path starts with PREFIX to URL plus the rest of the sub-path
    /// (query kept; repeatable; the longest prefix wins; the rest go to the target):
    /// --route /github=http://localhost:3000/gh.
    #[arg(long = "route", value_name = "PREFIX=URL")]
    pub routes: Vec<String>,
}

impl TargetOpts {
    /// The options, checked (the CA files are read now).
    pub fn options(&self) -> anyhow::Result<TargetOptions> {
        let trust = TrustOptions {
            ca_certs: self.ca_certs.clone(),
            insecure: self.insecure,
        };
        let mut options = TargetOptions::new(trust)?;
        options.headers = HeaderRules::parse(&self.headers, &self.drop_headers)?;
        options.routes = Routes::parse(&self.routes)?;
        Ok(options)
    }
}
