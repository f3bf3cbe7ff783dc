//! `hookrelay send`: POST a payload to a channel, optionally signed, for scripts and tests.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::SecretOpts;
use crate::delivery::WebhookRequest;
use crate::verify::{Scheme, Verifier};

/// The unit of Port's `x-port-timestamp` when `send` signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TimestampUnit {
    /// Milliseconds, as the handler in Port's guide reads it (it divides by 1000).
    #[default]
    Ms,
    /// Seconds, as Port's docs describe it and its agent sends it.
    S,
}

#[derive(Debug, Args, Clone)]
pub struct SendArgs {
    /// The payload file (`-` for standard input). Sent byte for byte.
    pub file: PathBuf,
    /// The channel URL (a sub-path and query may follow the channel).
    #[arg(long)]
    pub to: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "POST")]
    pub method: String,
    /// Extra header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "K:V")]
    pub headers: Vec<String>,
    /// Sign the body with this scheme's headers (Port: `x-port-timestamp` and
    /// `x-port-signature`), with its secret from --secret SCHEME=SECRET, the environment or
    /// --secrets-file, exactly as `forward` takes them.
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub sign: Option<Scheme>,
    #[command(flatten)]
    pub secret: SecretOpts,
    /// Port's timestamp unit: `ms` (default; what the handler in Port's guide expects) or `s`.
    #[arg(long, value_enum, default_value = "ms")]
    pub timestamp_unit: TimestampUnit,
    /// Content type when no `content-type` header is given.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

/// `headers` with `scheme`'s signature headers over `body`, signed now.
fn signed(
    scheme: Scheme,
    a: &SendArgs,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> anyhow::Result<Vec<(String, String)>> {
    let secrets = a.secret.secrets()?;
    if !secrets.has(scheme) {
        bail!(
            "--sign {scheme} needs its secret: --secret {scheme}=SECRET, {}, or `{scheme} = SECRET` in --secrets-file",
            scheme.env_var()
        );
    }
    let now = crate::delivery::now_ms();
    let mut req = WebhookRequest {
        method: a.method.clone(),
        path: String::new(),
        query: String::new(),
        headers,
        body: body.to_vec().into(),
    };
    if scheme == Scheme::Port {
        // Re-signing keeps the unit of the timestamp it finds: start from the one asked for.
        let ts = match a.timestamp_unit {
            TimestampUnit::Ms => now.to_string(),
            TimestampUnit::S => now.div_euclid(1000).to_string(),
        };
        req.set_header(crate::verify::port::TIMESTAMP, ts);
    }
    let mut v = Verifier::new(secrets);
    v.forced = Some(scheme);
    v.resign(&mut req, now)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(req.headers)
}

pub async fn run(a: SendArgs) -> anyhow::Result<()> {
    let body = if a.file.as_os_str() == "-" {
        use std::io::Read;
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading standard input")?;
        b
    } else {
        std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?
    };
    let method = reqwest::Method::from_bytes(a.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("`{}` is not an HTTP method", a.method))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &a.headers {
        let Some((k, v)) = h.split_once(':') else {
            bail!("header `{h}` is not `Name: value`");
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), a.content_type.clone()));
    }
    if let Some(scheme) = a.sign {
        headers = signed(scheme, &a, headers, &body)?;
    }
    let client = reqwest::Client::new();
    let mut req = client.request(method, &a.to).body(body.clone());
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("sending to {}", a.to))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!(
        "{} {} bytes -> {status} {}",
        a.method.to_ascii_uppercase(),
        body.len(),
        crate::sanitize::display_safe_bounded(text.trim(), 2_000)
    );
    if !status.is_success() {
        bail!("the channel answered {status}");
    }
    Ok(())
}
