//! HTTP routing: `/` help page, `/new` redirect, `/{channel}` subscribe (SSE) or help page,
//! and everything else on `/{channel}[/sub/path][?query]` is a webhook.
//!
//! Routing is done by hand on the raw path so the sub-path and query reach subscribers exactly
//! as the sender wrote them (percent-encoding untouched).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::hub::HubError;
use super::{AppState, ingest, new_channel_name, page, stream, valid_channel_name};
use crate::wire;

pub(crate) type Resp = Response<Body>;

/// The router: one fallback handler does all routing.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix('/').unwrap_or(&path);
    if rest.is_empty() {
        return index(&st, &method, req.headers());
    }
    let (channel, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if channel == "new" && sub.is_empty() {
        return new_channel(&st, &method, req.headers());
    }
    if !valid_channel_name(channel) {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid channel name: use 1 to 128 characters from A-Z a-z 0-9 _ -\n",
        );
    }
    if method == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(req.headers());
    }
    if sub.is_empty() && method == Method::GET {
        if accepts(req.headers(), "text/event-stream") {
            return subscribe(&st, channel, &req);
        }
        if accepts(req.headers(), "text/html") {
            return html(
                StatusCode::OK,
                page::channel_html(&base_url(&st, req.headers()), channel),
            );
        }
    }
    let channel = channel.to_string();
    let sub = sub.to_string();
    ingest::ingest(&st, channel, sub, req).await
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
fn subscribe(st: &AppState, channel: &str, req: &Request) -> Resp {
    let headers = req.headers();
    let extended = headers
        .get(wire::WIRE_HEADER)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == wire::WIRE_QUERY));
    let last_id = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match st.hub.subscribe(channel, last_id.as_deref()) {
        Ok(sub) => {
            tracing::debug!(
                channel,
                extended,
                resume = last_id.is_some(),
                "subscriber connected"
            );
            stream::response(
                sub,
                extended,
                st.cfg.ping_interval,
                st.shutdown.clone(),
                Arc::clone(&st.encode_slots),
            )
        }
        Err(e) => refused(e),
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

pub(crate) fn refused(e: HubError) -> Resp {
    tracing::debug!(error = %e, "request refused");
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"));
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
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

pub(crate) fn text(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn html(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
