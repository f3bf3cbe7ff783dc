//! What `forward` checks before it prints anything: the target and its options (CA files,
//! headers, routes), the channel URL, the secrets,
//! the Slack webhook and the store. A mistake there is reported before "send webhooks to: URL", with what to do.

use std::path::PathBuf;

use anyhow::bail;

use super::ForwardArgs;
use crate::forward::{Target, TargetOptions};
use crate::verify::Verifier;

/// The checked parts of a `forward` command line.
pub struct Checked {
    pub target: Target,
    /// TLS trust (the `--ca-cert` files read), header rules, routes, event filters.
    pub options: TargetOptions,
    pub verifier: Verifier,
    /// The store to keep deliveries in; `None` with `--no-store` or when it cannot be opened.
    pub store: Option<PathBuf>,
}

/// Check everything `forward` needs before it starts. An unusable target, channel URL or secret
/// is an error. A store that cannot be opened is not (forwarding matters more than history, as
/// the README says): a warning says why and what to do, and deliveries stay in memory.
pub fn check(args: &ForwardArgs) -> anyhow::Result<Checked> {
    let target = Target::parse(&args.target_url())?;
    let mut options = args.target_opts.options()?;
    options.filter = crate::forward::EventFilter::new(&args.only, &args.skip);
    if let Some(url) = args.channel() {
        check_channel(&url)?;
    }
    let verifier = args.verify.verifier()?;
    if let Some(url) = &args.slack_webhook {
        check_slack_webhook(url)?;
    }
    let store = args
        .store
        .path()
        .and_then(|p| match crate::store::Store::open(&p) {
            Ok(_) => Some(p),
            Err(e) => {
                // `{e}` alone: the store's error already names its cause once
                eprintln!("hookrelay: warning: cannot open the store: {e}");
                eprintln!(
                    "hookrelay: deliveries are kept in memory only this run; pass --store PATH \
                 to keep them elsewhere, or --no-store to go without history"
                );
                None
            }
        });
    if let Some(p) = &store {
        // another forward sends from this store: say so now, before any channel URL is shown
        // (the job takes the lease for good when it opens its inbox)
        drop(crate::store::SenderLease::take(p)?);
    }
    Ok(Checked {
        target,
        options,
        verifier,
        store,
    })
}

/// The channel URL must be an absolute http(s) URL.
fn check_channel(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url.trim());
    match parsed {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => bail!(
            "the channel URL `{}` is not an http:// or https:// URL \
             (expected e.g. https://smee.io/AbC123); run `hookrelay --help` for the commands",
            crate::sanitize::display_safe_bounded(url, 200)
        ),
    }
}

/// The Slack webhook must be an absolute http(s) URL. It holds a secret, so the error does not
/// repeat it.
fn check_slack_webhook(url: &str) -> anyhow::Result<()> {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => bail!(
            "--slack-webhook (or HOOKRELAY_SLACK_WEBHOOK) is not an http(s) URL \
             (expected https://hooks.slack.com/services/T…/B…/…)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{check_channel, check_slack_webhook};

    #[test]
    fn a_slack_webhook_must_be_a_url_and_is_not_repeated() {
        assert!(check_slack_webhook("https://hooks.slack.com/services/T1/B2/secret").is_ok());
        let e = check_slack_webhook("hooks.slack.com/services/T1/B2/secret").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn channel_urls_must_be_absolute_http() {
        assert!(check_channel("https://smee.io/abc").is_ok());
        assert!(check_channel("http://127.0.0.1:3300/ch").is_ok());
        for bad in ["smee.io/abc", "lst", "ftp://x/y", "/relative"] {
            let e = check_channel(bad).unwrap_err().to_string();
            assert!(e.contains("expected e.g."), "{bad}: {e}");
        }
    }
}
