//! Copy as curl: the request as a command, from the one builder ([`crate::curl`]) that
//! `hookrelay export --curl` uses too.

use crate::delivery::Delivery;

/// A curl command that sends `d`'s request (method, headers, exact body) to `url`.
pub fn curl_command(d: &Delivery, url: &str) -> String {
    crate::curl::command(&d.request, url, None)
}
