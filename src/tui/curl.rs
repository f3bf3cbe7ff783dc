//! Copy as curl: the request as a command, from the one builder ([`crate::curl`]) that
//! `hookrelay export --curl` uses too.

use crate::delivery::Delivery;
use crate::forward::{Target, TargetOptions, forwarded_headers};

/// Where the forward job sends deliveries: its target and options (routes, `-H`).
#[derive(Clone, Debug)]
pub struct Sending {
    pub target: Target,
    pub options: TargetOptions,
}

/// A curl command that sends `d`'s request (method, headers, exact body): as its last attempt
/// went out (URL, headers, an edited body), else as `sending` would send it now (its route,
/// `-H`), else to `target` (the history viewer, which knows no options).
pub fn curl_command(d: &Delivery, sending: Option<&Sending>, target: &str) -> String {
    let req = &d.request;
    if let Some(a) = d.last_attempt() {
        let Some(sent) = &a.sent else {
            return crate::curl::command_with(req, &a.target, &forwarded_headers(req), None);
        };
        // the target's own `host` is curl's to set from the URL; a `-H Host` one stays
        let own_host = a
            .target
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.to_string()));
        let headers: Vec<(String, String)> = sent
            .headers
            .iter()
            .filter(|(n, v)| !(n.eq_ignore_ascii_case("host") && Some(v) == own_host.as_ref()))
            .cloned()
            .collect();
        return match &sent.body {
            Some(body) => {
                let mut edited = req.clone();
                edited.body = body.clone();
                crate::curl::command_with(&edited, &a.target, &headers, None)
            }
            None => crate::curl::command_with(req, &a.target, &headers, None),
        };
    }
    match sending {
        Some(s) => {
            let out = s.options.outgoing(&s.target, req, &[]);
            crate::curl::command_with(req, &out.url, &out.headers, None)
        }
        None => crate::curl::command(req, &crate::curl::url_for(req, target), None),
    }
}
