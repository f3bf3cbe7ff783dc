//! Reading a request body within the relay's bounds: the per-request limit, the shared
//! in-flight budget and the client's own, and a minimum arrival rate.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::client::Clients;
use super::metrics::Refusal;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body is larger than this relay's limit of {0} bytes")]
    TooLarge(usize),
    #[error("the relay is receiving too many large bodies at once; retry shortly")]
    Busy,
    #[error("this address is sending too many large bodies at once; retry shortly")]
    ClientBusy,
    #[error("the request body arrived too slowly")]
    TooSlow,
    #[error("could not read the request body: {0}")]
    Read(String),
}

impl BodyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::ClientBusy => StatusCode::TOO_MANY_REQUESTS,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn refusal(&self) -> Refusal {
        match self {
            BodyError::TooLarge(_) => Refusal::too_large,
            BodyError::Busy => Refusal::memory_busy,
            BodyError::ClientBusy => Refusal::client_body_bytes,
            BodyError::TooSlow => Refusal::too_slow,
            BodyError::Read(_) => Refusal::bad_body,
        }
    }
}

/// How a body must arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyRules {
    /// Largest body.
    pub limit: usize,
    /// Longest wait for room in the shared budget.
    pub wait: Duration,
    /// Time allowed before the minimum rate applies.
    pub grace: Duration,
    /// Bytes per second the body must arrive at on average after the grace time.
    pub min_rate: usize,
}

/// Body bytes held from the shared budget and the client's own; released when dropped.
#[derive(Default)]
pub(crate) struct Held {
    global: Option<OwnedSemaphorePermit>,
    client: Option<(Arc<Clients>, IpAddr)>,
    reserved: usize,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("reserved", &self.reserved)
            .finish()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((clients, ip)) = &self.client {
            clients.release_body_bytes(*ip, self.reserved);
        }
    }
}

/// Read a whole body of at most `rules.limit` bytes. Every byte is taken from the shared
/// `budget` (one permit per byte) and from the client's own limit *as it arrives* (a declared
/// length reserves nothing), so slow or lying uploads cannot hold room they have not used.
/// The body must keep arriving: after `rules.grace`, at `rules.min_rate` bytes/s on average.
pub(crate) async fn read_body(
    mut body: Body,
    declared: Option<u64>,
    rules: BodyRules,
    budget: &Arc<Semaphore>,
    client: Option<(&Arc<Clients>, IpAddr)>,
) -> Result<(Bytes, Held), BodyError> {
    let limit = rules.limit;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut held = Held {
        global: None,
        client: client.map(|(c, ip)| (Arc::clone(c), ip)),
        reserved: 0,
    };
    let started = tokio::time::Instant::now();
    // The body is copied into a buffer of its own, even when it came in one frame: a frame is
    // a slice of hyper's connection read buffer (8 KiB and more), and an event in the ring
    // holding that slice would keep the whole buffer alive (unaccounted: the ring counts the
    // body's length) and make hyper allocate a fresh one for the connection's next request.
    // The buffer's capacity is only address space until written, so the declared length
    // (already within the limit) may size it.
    let mut buf = BytesMut::new();
    loop {
        let have = buf.len();
        let min_rate = rules.min_rate.max(1) as u64;
        let deadline = started + rules.grace + Duration::from_millis(have as u64 * 1000 / min_rate);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(|e| BodyError::Read(e.to_string()))?,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not part of the body
        };
        let len = have + data.len();
        if len > limit {
            return Err(BodyError::TooLarge(limit));
        }
        reserve(budget, &mut held, len, limit, rules.wait).await?;
        if buf.capacity() == 0 {
            let want = declared.map_or(0, |n| n as usize);
            buf.reserve(want.max(len));
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), held))
}

/// Hold `n` bytes in all (taking only what is not held yet): first the client's own limit
/// (refused at once when over it), then the shared budget (waiting at most `wait`).
async fn reserve(
    budget: &Arc<Semaphore>,
    held: &mut Held,
    n: usize,
    limit: usize,
    wait: Duration,
) -> Result<(), BodyError> {
    let more = n.saturating_sub(held.reserved);
    if more == 0 {
        return Ok(());
    }
    let more32 = u32::try_from(more).map_err(|_| BodyError::TooLarge(limit))?;
    if let Some((clients, ip)) = &held.client
        && !clients.take_body_bytes(*ip, more)
    {
        return Err(BodyError::ClientBusy);
    }
    // from here `held` owns the client bytes: dropping it gives them back
    held.reserved += more;
    let permit = tokio::time::timeout(wait, Arc::clone(budget).acquire_many_owned(more32))
        .await
        .map_err(|_| BodyError::Busy)?
        .map_err(|_| BodyError::Busy)?;
    match &mut held.global {
        Some(h) => h.merge(permit),
        None => held.global = Some(permit),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(parts: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    fn rules(limit: usize) -> BodyRules {
        BodyRules {
            limit,
            wait: Duration::from_millis(50),
            grace: Duration::from_secs(5),
            min_rate: 1,
        }
    }

    #[tokio::test]
    async fn bodies_are_bounded_and_budgeted() {
        let budget = Arc::new(Semaphore::new(10));
        let (b, held) = read_body(body_of(&[b"abc", b"def"]), None, rules(8), &budget, None)
            .await
            .unwrap();
        assert_eq!(&b[..], b"abcdef");
        assert_eq!(budget.available_permits(), 4, "6 bytes held");
        // While held, a body needing more than what is left waits, then gives up.
        let busy = read_body(body_of(&[b"12345"]), None, rules(8), &budget, None).await;
        assert!(matches!(busy, Err(BodyError::Busy)), "{busy:?}");
        drop(held);
        assert_eq!(budget.available_permits(), 10);
        let big = read_body(body_of(&[b"12345", b"6789"]), None, rules(8), &budget, None).await;
        assert!(matches!(big, Err(BodyError::TooLarge(8))));
        let declared = read_body(body_of(&[]), Some(9), rules(8), &budget, None).await;
        assert!(matches!(declared, Err(BodyError::TooLarge(8))));
        assert_eq!(budget.available_permits(), 10, "nothing leaked");
        let (b, _h) = read_body(body_of(&[]), Some(0), rules(8), &budget, None)
            .await
            .unwrap();
        assert!(b.is_empty());
    }
}
