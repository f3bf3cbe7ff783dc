//! HTTP routing: `/` help page, `/new` redirect, `/{channel}` subscribe (SSE) or help page,
//! and everything else on `/{channel}[/sub/path][?query]` is a webhook.
//!
//! Routing is done by hand on the raw path so the sub-path and query reach subscribers exactly
//! as the sender wrote them (percent-encoding untouched).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::backend::BackendError;
use super::listener::Peer;
use super::metrics::{Refusal, Sample};
use super::response::{Resp, html, refused, refused_with, text};
use super::{AppState, ingest, new_channel_name, page, reply, stream, valid_channel_name};
use crate::wire;

/// The router: one fallback handler does all routing.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// Route one request and write its access-log line (client address, method, route, status,
/// time; never the channel name, which is the secret of the URL).
async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Resp {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<Peer>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
    let client = st.clients.client_ip(peer, req.headers());
    let method = req.method().clone();
    let (kind, resp) = route(&st, client, req).await;
    let (status, ms) = (resp.status().as_u16(), started.elapsed().as_millis() as u64);
    if st.cfg.access_log {
        tracing::info!(target: "hookrelay::access", %client, %method, route = kind, status, ms, "request");
    } else {
        tracing::debug!(target: "hookrelay::access", %client, %method, route = kind, status, ms, "request");
    }
    resp
}

async fn route(st: &Arc<AppState>, client: IpAddr, req: Request) -> (&'static str, Resp) {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method == Method::CONNECT {
        st.metrics.refused(Refusal::method);
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not relayed: this is not a proxy\n",
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        return ("connect", r);
    }
    if !st.clients.allow_request(client) {
        st.metrics.refused(Refusal::rate_limited);
        let mut r = text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests from this address; slow down\n",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return ("rate_limited", r);
    }
    let rest = path.strip_prefix('/').unwrap_or(&path);
    match rest {
        "" => return ("index", index(st, &method, req.headers())),
        "healthz" => return ("healthz", text(StatusCode::OK, "ok\n")),
        "readyz" => return ("readyz", ready(st)),
        "metrics" => return ("metrics", metrics(st)),
        _ => {}
    }
    let (channel, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if channel == crate::reply::REPLY_SEGMENT {
        let parts: Vec<&str> = sub.trim_start_matches('/').split('/').collect();
        return match parts[..] {
            ["reply", chan, id] if valid_channel_name(chan) && !id.is_empty() => {
                let (chan, id) = (chan.to_string(), id.to_string());
                ("reply", reply::post(st, &chan, &id, client, req).await)
            }
            _ => (
                "bad_path",
                text(
                    StatusCode::NOT_FOUND,
                    "no such reply path
",
                ),
            ),
        };
    }
    if channel == "new" && sub.is_empty() {
        return ("new", new_channel(st, &method, req.headers()));
    }
    if !valid_channel_name(channel) {
        st.metrics.refused(Refusal::bad_path);
        return (
            "bad_channel",
            text(
                StatusCode::BAD_REQUEST,
                "invalid channel name: use 1 to 128 characters from A-Z a-z 0-9 _ -\n",
            ),
        );
    }
    if has_dot_segment(sub) {
        st.metrics.refused(Refusal::bad_path);
        return (
            "bad_path",
            text(
                StatusCode::BAD_REQUEST,
                "dot-segments (. and ..) are not allowed in a webhook path\n",
            ),
        );
    }
    if method == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return ("preflight", preflight(req.headers()));
    }
    // `/chan` and `/chan/` are the same channel for subscribing and the help page
    if (sub.is_empty() || sub == "/") && method == Method::GET {
        if accepts(req.headers(), "text/event-stream") {
            return (
                "subscribe",
                subscribe(st, channel, req.headers(), req.uri()).await,
            );
        }
        if accepts(req.headers(), "text/html") {
            return (
                "page",
                html(
                    StatusCode::OK,
                    page::channel_html(&base_url(st, req.headers()), channel),
                ),
            );
        }
    }
    if *st.shutdown.borrow() {
        st.metrics.refused(Refusal::shutting_down);
        return (
            "publish",
            refused_with(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is shutting down; retry shortly\n",
            ),
        );
    }
    let channel = channel.to_string();
    let sub = sub.to_string();
    (
        "publish",
        ingest::ingest(st, channel, sub, client, req).await,
    )
}

/// Whether a path has a `.` or `..` segment (also percent-encoded): such paths mean other
/// paths to the servers behind the subscribers, so they are refused rather than relayed.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|seg| {
        // count the dots, `.` or `%2e` in any case; anything else is a name
        let (mut rest, mut dots) = (seg.as_bytes(), 0);
        while !rest.is_empty() {
            if rest[0] == b'.' {
                rest = &rest[1..];
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

/// `GET /readyz`: 200 while accepting, 503 once shutting down or while the event store
/// (Redis) is unreachable.
fn ready(st: &AppState) -> Resp {
    if *st.shutdown.borrow() || st.draining.load(std::sync::atomic::Ordering::Acquire) {
        text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if !st.hub.ready() {
        text(StatusCode::SERVICE_UNAVAILABLE, "event store unreachable\n")
    } else {
        text(StatusCode::OK, "ready\n")
    }
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
fn metrics(st: &AppState) -> Resp {
    let body = st.metrics.render(Sample {
        subscribers: st.hub.subscriber_count(),
        channels: st.hub.channel_count(),
        retained_bytes: st.hub.retained_bytes(),
        frame_bytes: st.memory.frames_in_use(),
        body_bytes: st.memory.bodies_in_use(),
    });
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// `GET /`: what this is.
fn index(st: &AppState, method: &Method, headers: &HeaderMap) -> Resp {
    if method != Method::GET && method != Method::HEAD {
        return text(
            StatusCode::NOT_FOUND,
            "send webhooks to a channel URL (/<channel>), not to /; GET /new makes one\n",
        );
    }
    let base = base_url(st, headers);
    if accepts(headers, "text/html") {
        html(StatusCode::OK, page::index_html(&base))
    } else {
        text(StatusCode::OK, &page::index_text(&base))
    }
}

/// `GET|HEAD /new`: 307 to a fresh channel (absolute URL from the Host header, like smee.io).
fn new_channel(st: &AppState, method: &Method, headers: &HeaderMap) -> Resp {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "/new only answers GET and HEAD (a redirect to a fresh channel)\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let url = format!("{}/{}", base_url(st, headers), new_channel_name());
    let mut r = text(StatusCode::TEMPORARY_REDIRECT, &format!("{url}\n"));
    match HeaderValue::from_str(&url) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad Host header\n"),
    }
    r
}

/// `GET /{channel}` with `Accept: text/event-stream`: the SSE stream.
async fn subscribe(
    st: &Arc<AppState>,
    channel: &str,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Resp {
    if let Some(tokens) = &st.cfg.subscriber_tokens
        && !tokens.allows(headers)
    {
        st.metrics.subscription_refused();
        let mut r = text(
            StatusCode::UNAUTHORIZED,
            "subscribing to this relay needs Authorization: Bearer <token> (hookrelay forward --token)\n",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hookrelay\""),
        );
        return r;
    }
    if *st.shutdown.borrow() {
        return refused_with(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay is shutting down\n",
        );
    }
    let extended = headers
        .get(wire::WIRE_HEADER)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
        || uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == wire::WIRE_QUERY));
    let last_id = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let replier = headers
        .get(crate::reply::REPLY_HEADER)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    match st.hub.subscribe(channel, last_id.as_deref()).await {
        Ok(sub) => {
            let ready = if replier {
                let (token, hash) = reply::new_token();
                match st.hub.add_replier(channel, hash).await {
                    Ok(lease) => Some((reply::ready_frame(&token), lease)),
                    Err(e) => {
                        st.metrics.subscription_refused();
                        return refused_with(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"));
                    }
                }
            } else {
                None
            };
            tracing::debug!(
                channel,
                extended,
                replier,
                resume = last_id.is_some(),
                "subscriber connected"
            );
            stream::response(sub, extended, ready, Arc::clone(st))
        }
        Err(e) => {
            st.metrics.subscription_refused();
            match e {
                BackendError::Refused(e) => refused(e),
                e => refused_with(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n")),
            }
        }
    }
}

/// CORS preflight: allow every method and the requested headers.
fn preflight(headers: &HeaderMap) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// Whether any `Accept` value contains `media` (case-insensitive; lenient about lists and
/// parameters, unlike smee.io's exact comparison).
fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains(media)
    })
}

/// `proto://host` as the client sees this server: `X-Forwarded-Proto`/`-Host`, else `Host`,
/// else the bound address. Values with characters a host cannot have are ignored.
fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = match first("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .filter(|h| {
            h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or_else(|| st.local_addr.to_string());
    format!("{proto}://{host}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_segments_are_found_also_percent_encoded() {
        for bad in ["/.", "/..", "/a/../b", "/%2e", "/%2E%2e/x", "/.%2e", "/a/."] {
            assert!(super::has_dot_segment(bad), "{bad}");
        }
        for ok in [
            "",
            "/",
            "/a.b",
            "/...",
            "/%2e%2e%2e",
            "/.x",
            "/%2ex",
            "/%2",
            "/a//b",
        ] {
            assert!(!super::has_dot_segment(ok), "{ok}");
        }
    }
}
