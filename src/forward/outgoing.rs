//! What a delivery goes out as: the URL (its route's or the target's, with the sub-path and
//! the query) and the headers (the sender's in order minus hop-by-hop ones, then `extra`, then
//! `-H` / `--drop-header`, minus the forwarder's private order header). The one place the forward job, replays and the UI's copy-as-curl
//! get them from.

use super::{Target, TargetOptions, forwarded_headers};
use crate::delivery::{Headers, WebhookRequest};

/// A request as it goes to the target (before the client adds `host` and `content-length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub headers: Headers,
}

impl TargetOptions {
    /// `req` as it goes out to `target` under these options, with `extra` headers (a replay's
    /// marker) before the `-H` rules.
    pub fn outgoing(
        &self,
        target: &Target,
        req: &WebhookRequest,
        extra: &[(String, String)],
    ) -> Outgoing {
        let mut headers = forwarded_headers(req);
        headers.extend(extra.iter().cloned());
        self.headers.apply(&mut headers);
        // the order header is the forwarder's own (exact_head.rs): one a sender sent, or `-H`
        // set, never goes out, so it cannot steer the head's rewrite
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(super::exact_head::ORDER_HEADER));
        Outgoing {
            url: self.routes.url_for(target, req),
            headers,
        }
    }
}
