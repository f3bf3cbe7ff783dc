//! [`ForwardError`]: why sending a request to the target got no response, as a type. Its
//! [`ErrorKind`] is what an attempt keeps and what decides a retry.

use std::time::Duration;

use crate::delivery::{AttemptOutcome, ErrorKind};

/// Why sending to the target got no response. [`ForwardError::kind`] is what the attempt keeps
/// (and what decides a retry); the text is what the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("connection refused: is your dev server running?")]
    Refused,
    #[error("the target did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the connection was reset: {0}")]
    Reset(String),
    #[error("cannot connect to the target: {0}")]
    Connect(String),
    #[error("cannot build the request: {0}")]
    InvalidRequest(String),
    #[error("the response body broke off: {0}")]
    BrokenResponse(String),
    /// The TLS handshake with an `https://` target failed; the text names the certificate
    /// problem and the flag that fixes it ([`crate::tls::describe_handshake_error`]).
    #[error("{0}")]
    Tls(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl ForwardError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ForwardError::Refused => ErrorKind::Refused,
            ForwardError::Timeout(_) => ErrorKind::Timeout,
            ForwardError::Reset(_) => ErrorKind::Reset,
            ForwardError::Connect(_) => ErrorKind::Connect,
            ForwardError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            ForwardError::BrokenResponse(_) => ErrorKind::BrokenResponse,
            ForwardError::Tls(_) => ErrorKind::Tls,
            ForwardError::Other(_) => ErrorKind::Other,
        }
    }
}

impl From<ForwardError> for AttemptOutcome {
    fn from(e: ForwardError) -> Self {
        AttemptOutcome::Error {
            message: e.to_string(),
            error: e.kind(),
        }
    }
}

/// The client's error as a type: the io error kind underneath decides, not the text.
pub(crate) fn describe_client_error(e: &hyper_util::client::legacy::Error) -> ForwardError {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut io_kind = None;
    let mut incomplete = false;
    if let Some(tls) = find_rustls_error(e) {
        return ForwardError::Tls(crate::tls::describe_handshake_error(tls));
    }
    let mut src = e.source();
    while let Some(s) = src {
        parts.push(s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            incomplete |= h.is_incomplete_message() || h.is_canceled();
        }
        src = s.source();
    }
    let detail = if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    };
    use std::io::ErrorKind as Io;
    match io_kind {
        Some(Io::ConnectionRefused) => ForwardError::Refused,
        Some(Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof) => {
            ForwardError::Reset(detail)
        }
        Some(Io::TimedOut) => ForwardError::Connect(detail),
        _ if e.is_connect() => ForwardError::Connect(detail),
        _ if incomplete => ForwardError::Reset(detail),
        _ => ForwardError::Other(detail),
    }
}

/// The rustls error under a client error, if the TLS handshake failed. It sits inside io errors
/// (tokio-rustls, then hyper-rustls wrap it), where `source()` alone does not reach it.
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
        && let Some(r) = find_rustls_error(inner)
    {
        return Some(r);
    }
    e.source().and_then(find_rustls_error)
}
