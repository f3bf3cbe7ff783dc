//! The relay's own answers: plain text, HTML, and refusals (a limit, with `Retry-After`).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use super::hub::HubError;

pub(crate) type Resp = Response<Body>;

pub(crate) fn refused(e: HubError) -> Resp {
    tracing::debug!(error = %e, "request refused");
    let status = match e {
        HubError::SenderQuota(_) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    refused_with(status, &format!("{e}\n"))
}

pub(crate) fn refused_with(status: StatusCode, msg: &str) -> Resp {
    let mut r = text(status, msg);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
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

pub(crate) fn html(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
