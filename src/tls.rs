//! TLS set-up shared by every HTTPS client (the SSE subscription, Slack, `send`).

/// Install rustls' ring crypto provider once per process (reqwest is built without a default).
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
