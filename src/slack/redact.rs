//! Showing a Slack webhook URL without its secret.
//!
//! The whole URL is the credential. `https://hooks.slack.com/services/T000/B000/XXXX` is shown
//! as `https://hooks.slack.com/services/T000/B000/••••`: the workspace (`T…`) and webhook (`B…`)
//! ids help tell webhooks apart and grant nothing alone. Any other URL keeps only its scheme,
//! host and port.

/// What replaces a secret.
pub const MASK: &str = "••••";

/// The webhook URL with its secret parts masked (see the module doc). Never fails: text that is
/// not a URL is masked entirely.
pub fn redact_webhook_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url.trim()) else {
        return MASK.to_string();
    };
    let Some(host) = parsed.host_str() else {
        return MASK.to_string();
    };
    let origin = match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    };
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let is_id = |s: &str, prefix: char| {
        s.starts_with(prefix) && s.len() <= 20 && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    match segments.as_slice() {
        ["services", team, hook, ..] if is_id(team, 'T') && is_id(hook, 'B') => {
            format!("{origin}/services/{team}/{hook}/{MASK}")
        }
        [] | [""] => origin,
        _ => format!("{origin}/{MASK}"),
    }
}
