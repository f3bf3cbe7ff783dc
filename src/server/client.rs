//! Per client address: open connections, body bytes being received, request rate (a token
//! bucket, `governor`), and the client's address itself (behind a trusted proxy, taken from
//! `X-Forwarded-For`). Channels created per sender are counted by the hub.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// Limits per client address (see [`super::ServerConfig::per_client`]). [`Default`] gives
/// values for a public relay (what `hookrelay serve` uses); [`ClientLimits::none`] turns them
/// off (a relay serving one developer on loopback).
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// Most open connections from one address (a trusted proxy is exempt). Default 64.
    pub connections: usize,
    /// Most body bytes one address may be sending at once. Default 32 MiB.
    pub body_bytes: usize,
    /// Requests per second one address may make on average; 0 turns the limit off. Default 100.
    pub requests_per_second: u32,
    /// Requests one address may make in a burst. Default 1000.
    pub burst: u32,
    /// Channels one sender address may create by publishing to a name nobody subscribed to.
    /// Default 32.
    pub channels: usize,
}

impl ClientLimits {
    /// No per-address limits.
    pub fn none() -> ClientLimits {
        ClientLimits {
            connections: usize::MAX,
            body_bytes: usize::MAX,
            requests_per_second: 0,
            burst: 0,
            channels: usize::MAX,
        }
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            connections: 64,
            body_bytes: 32 * 1024 * 1024,
            requests_per_second: 100,
            burst: 1000,
            channels: 32,
        }
    }
}

#[derive(Default)]
struct Usage {
    connections: usize,
    body_bytes: usize,
}

/// The per-address bookkeeping of one server.
pub(crate) struct Clients {
    limits: ClientLimits,
    usage: Mutex<HashMap<IpAddr, Usage>>,
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: Vec<IpNet>,
}

impl Clients {
    pub fn new(limits: ClientLimits, trusted: Vec<IpNet>) -> Clients {
        let rate = NonZeroU32::new(limits.requests_per_second).map(|per_sec| {
            let burst = NonZeroU32::new(limits.burst).unwrap_or(per_sec);
            RateLimiter::dashmap(Quota::per_second(per_sec).allow_burst(burst))
        });
        Clients {
            limits,
            usage: Mutex::new(HashMap::new()),
            rate,
            trusted,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Usage>> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `peer` is a trusted proxy.
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&peer))
    }

    /// The client's address: the TCP peer, or behind a trusted proxy the right-most
    /// `X-Forwarded-For` address that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.is_trusted(ip) => continue,
                Ok(ip) => return ip,
                Err(_) => break, // garbage from the client side: stop trusting the chain
            }
        }
        peer
    }

    /// Count a new connection from `ip`; `None` when the address is at its limit.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        if self.is_trusted(ip) {
            return Some(ConnSlot { owner: None, ip });
        }
        let mut usage = self.lock();
        let u = usage.entry(ip).or_default();
        if u.connections >= self.limits.connections {
            return None;
        }
        u.connections += 1;
        Some(ConnSlot {
            owner: Some(Arc::clone(self)),
            ip,
        })
    }

    /// Whether `ip` may make another request now (token bucket).
    pub fn allow_request(&self, ip: IpAddr) -> bool {
        self.rate.as_ref().is_none_or(|r| r.check_key(&ip).is_ok())
    }

    /// Take `n` more body bytes for `ip`; `false` when that would pass its limit.
    pub fn take_body_bytes(&self, ip: IpAddr, n: usize) -> bool {
        let mut usage = self.lock();
        let u = usage.entry(ip).or_default();
        if u.body_bytes + n > self.limits.body_bytes {
            if u.connections == 0 && u.body_bytes == 0 {
                usage.remove(&ip);
            }
            return false;
        }
        u.body_bytes += n;
        true
    }

    /// Give back body bytes taken with [`take_body_bytes`](Self::take_body_bytes).
    pub fn release_body_bytes(&self, ip: IpAddr, n: usize) {
        let mut usage = self.lock();
        if let Some(u) = usage.get_mut(&ip) {
            u.body_bytes = u.body_bytes.saturating_sub(n);
            if u.connections == 0 && u.body_bytes == 0 {
                usage.remove(&ip);
            }
        }
    }

    /// Forget rate-limiter state of addresses not seen lately (called by the janitor).
    pub fn tidy(&self) {
        if let Some(r) = &self.rate {
            r.retain_recent();
            r.shrink_to_fit();
        }
    }
}

/// One counted connection; released when dropped.
pub(crate) struct ConnSlot {
    owner: Option<Arc<Clients>>,
    pub ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        if let Some(owner) = &self.owner {
            let mut usage = owner.lock();
            if let Some(u) = usage.get_mut(&self.ip) {
                u.connections = u.connections.saturating_sub(1);
                if u.connections == 0 && u.body_bytes == 0 {
                    usage.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connections_and_body_bytes_per_address() {
        let c = Arc::new(Clients::new(
            ClientLimits {
                connections: 2,
                body_bytes: 10,
                ..ClientLimits::default()
            },
            vec!["10.0.0.0/8".parse().unwrap()],
        ));
        let a = c.connect(ip("127.0.0.2")).unwrap();
        let _b = c.connect(ip("127.0.0.2")).unwrap();
        assert!(c.connect(ip("127.0.0.2")).is_none());
        assert!(
            c.connect(ip("127.0.0.1")).is_some(),
            "other addresses unaffected"
        );
        drop(a);
        assert!(c.connect(ip("127.0.0.2")).is_some());
        for _ in 0..5 {
            assert!(c.connect(ip("10.1.2.3")).is_some(), "proxies are exempt");
        }
        assert!(c.take_body_bytes(ip("127.0.0.2"), 8));
        assert!(!c.take_body_bytes(ip("127.0.0.2"), 3));
        c.release_body_bytes(ip("127.0.0.2"), 8);
        assert!(c.take_body_bytes(ip("127.0.0.2"), 10));
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let c = Clients::new(ClientLimits::default(), vec!["10.0.0.0/8".parse().unwrap()]);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 5.6.7.8, 10.0.0.9".parse().unwrap(),
        );
        assert_eq!(c.client_ip(ip("10.0.0.1"), &h), ip("5.6.7.8"));
        assert_eq!(c.client_ip(ip("9.9.9.9"), &h), ip("9.9.9.9"));
        h.insert("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(c.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn request_rate_is_a_token_bucket_per_address() {
        let c = Clients::new(
            ClientLimits {
                requests_per_second: 1,
                burst: 3,
                ..ClientLimits::default()
            },
            vec![],
        );
        let allowed = (0..10).filter(|_| c.allow_request(ip("127.0.0.2"))).count();
        assert!((3..=4).contains(&allowed), "{allowed}");
        assert!(c.allow_request(ip("127.0.0.1")));
    }
}
