//! TLS set-up shared by every HTTPS client: the one crypto provider (rustls with ring) for the
//! SSE subscription, Slack and `send` (through reqwest), and the forwarder's client
//! configuration for `https://` targets ([`client_config`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The crypto provider every client and server here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Install rustls' ring crypto provider once per process (reqwest is built without a default).
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Which certificates an `https://` target may present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustOptions {
    /// Extra CA certificates (PEM files), trusted besides the system's roots (`--ca-cert`).
    pub ca_certs: Vec<PathBuf>,
    /// Accept any certificate (`--insecure`): for self-signed development certificates only.
    pub insecure: bool,
}

/// Why the client TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("--ca-cert {path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ca-cert {path}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("--ca-cert {path}: not a usable CA certificate: {why}")]
    Unusable { path: PathBuf, why: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The forwarder's TLS client configuration: the system's roots plus `--ca-cert` files, or no
/// certificate check at all with `--insecure`. No ALPN: HTTP/1.1 is what the forwarder speaks.
pub fn client_config(trust: &TrustOptions) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let check = if trust.insecure {
        CertCheck::AnyCertificate
    } else {
        // the --ca-cert files are read and turned into trust anchors now, so a bad one is an
        // error at start
        let mut ca_certs = RootCertStore::empty();
        for path in &trust.ca_certs {
            for cert in read_pem_certificates(path)? {
                ca_certs.add(cert).map_err(|e| TlsSetupError::Unusable {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
            }
        }
        CertCheck::Roots {
            ca_certs,
            verifier: OnceLock::new(),
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TargetVerifier { provider, check }))
        .with_no_client_auth();
    Ok(config)
}

/// Every certificate in a PEM file (at least one).
fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsSetupError::Unusable {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// How an `https://` target's certificate is checked. The handshake's signatures are checked
/// the same way in both cases.
#[derive(Debug)]
enum CertCheck {
    /// `--insecure`: any certificate is accepted (the connection is encrypted, just not
    /// authenticated). rustls has no such verifier built in, on purpose.
    AnyCertificate,
    /// The usual verification against the system's roots plus `--ca-cert`. The system's roots
    /// load at the first `https://` handshake, not at start, so a forward to `http://` targets
    /// never holds them (about 1.4 MiB resident): rustls verifies with a fixed root store, and
    /// this defers building its `WebPkiServerVerifier`.
    Roots {
        /// The `--ca-cert` trust anchors, read at start.
        ca_certs: RootCertStore,
        /// Built at the first handshake; `None` when no root at all could be trusted.
        verifier: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
    },
}

/// The forwarder's certificate verifier (see [`CertCheck`]).
#[derive(Debug)]
struct TargetVerifier {
    provider: Arc<CryptoProvider>,
    check: CertCheck,
}

impl TargetVerifier {
    /// The roots verifier, built on first use.
    fn roots(
        &self,
        ca_certs: &RootCertStore,
        verifier: &OnceLock<Option<Arc<WebPkiServerVerifier>>>,
    ) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        let built = verifier.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            // unreadable system certificates are not fatal: --ca-cert may be all that is needed
            let system = rustls_native_certs::load_native_certs();
            for e in &system.errors {
                tracing::debug!("system root certificates: {e}");
            }
            roots.add_parsable_certificates(system.certs);
            roots.extend(ca_certs.roots.iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .ok()
        });
        // no root to trust: every certificate is from an unknown issuer
        built.clone().ok_or(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))
    }
}

impl ServerCertVerifier for TargetVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            CertCheck::AnyCertificate => Ok(ServerCertVerified::assertion()),
            CertCheck::Roots { ca_certs, verifier } => self
                .roots(ca_certs, verifier)?
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a failed TLS handshake with the target means for the user, with the flag that fixes it.
pub fn describe_handshake_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const FIX: &str = "pass --ca-cert FILE with the CA (PEM) that signed it, or --insecure to \
                       skip the check for a self-signed development certificate";
    match e {
        rustls::Error::InvalidCertificate(c) => {
            let problem = match c {
                C::UnknownIssuer => "is not signed by a trusted CA (self-signed or private CA?)",
                C::BadSignature => "has a bad signature",
                C::Expired | C::ExpiredContext { .. } => "has expired",
                C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet",
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "does not name the target's host"
                }
                C::Revoked => "is revoked",
                C::BadEncoding => "cannot be parsed",
                _ => "was rejected",
            };
            format!("the target's TLS certificate {problem} ({e}): {FIX}")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "the TLS handshake with the target failed ({e}): does it speak https on that port? \
             (use http:// for a plain HTTP server)"
        ),
        _ => format!("the TLS handshake with the target failed: {e}"),
    }
}
