//! `hookrelay send`: POST a payload to a channel, optionally signed, for scripts and tests.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

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
    /// Sign the body (Port: `x-port-timestamp` and `x-port-signature`).
    #[arg(long, value_parser = ["port"])]
    pub sign: Option<String>,
    /// The signing secret (or HOOKRELAY_PORT_SECRET).
    #[arg(long, env = "HOOKRELAY_PORT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Content type when no `content-type` header is given.
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
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
    if a.sign.is_some() {
        let Some(secret) = a.secret.as_deref() else {
            bail!("--sign port needs --secret or HOOKRELAY_PORT_SECRET");
        };
        let ts = (crate::delivery::now_ms() / 1000).to_string();
        let sig = crate::verify::sign_port(secret, &ts, &body);
        headers.push(("x-port-timestamp".into(), ts));
        headers.push(("x-port-signature".into(), sig));
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
        text.trim()
    );
    if !status.is_success() {
        bail!("the channel answered {status}");
    }
    Ok(())
}
