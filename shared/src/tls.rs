//! One TLS configuration per process, shared by the AWS SDK clients and reqwest.
//!
//! Left to themselves, each client reads and parses the system's root certificates on its own: the
//! SDK's default HTTPS client (`aws-smithy-http-client`, `default-https-client`) when its first
//! connector is built, reqwest 0.13's `rustls` feature when its client is built (through
//! rustls-platform-verifier). That is most of a cold start's init time once the crypto's entropy
//! is seeded (docs/building.md#one-tls-root-store). Here the roots are read and parsed once, into
//! one `rustls::ClientConfig`; reqwest takes it as its preconfigured TLS backend and the SDK gets an
//! HTTP client ([`SdkHttpClient`]: hyper with hyper-rustls, what the SDK's own client is made of)
//! built on the same configuration.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};

/// The TLS client configuration of a process: one root store, one verifier, ALPN h2 and HTTP/1.1.
/// Cloning shares it.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    roots: usize,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("roots", &self.roots).finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the TLS configuration: {0}")]
pub struct TlsError(String);

impl Tls {
    /// The system's root certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the
    /// distribution's bundle, [`native_roots`]), read and parsed once. Unreadable or unparsable certificates are
    /// skipped and counted in a warning.
    pub fn native() -> Result<Self, TlsError> {
        let loaded = native_roots();
        let mut roots = RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(loaded.certs);
        if !loaded.errors.is_empty() || invalid > 0 {
            tracing::warn!(
                valid,
                invalid,
                errors = loaded.errors.len(),
                "some system root certificates could not be read or parsed"
            );
        }
        Self::from_roots(roots)
    }

    /// A configuration trusting exactly `roots`.
    pub fn from_roots(roots: RootCertStore) -> Result<Self, TlsError> {
        let count = roots.len();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { config: Arc::new(config), roots: count })
    }

    /// The process's configuration from the system's roots, built on first use and shared by every
    /// client [`crate::aws::load`] and [`crate::aws::http_client`] build afterwards. A value computed
    /// once and never changed (like the SDK's own cache of the native roots); `None` when it could
    /// not be built, and the clients then fall back to their own defaults.
    pub fn shared() -> Option<&'static Tls> {
        static SHARED: OnceLock<Option<Tls>> = OnceLock::new();
        SHARED
            .get_or_init(|| match Tls::native() {
                Ok(tls) => Some(tls),
                Err(e) => {
                    tracing::warn!(error = %e, "shared TLS configuration unavailable; each client loads its own roots");
                    None
                }
            })
            .as_ref()
    }

    /// How many root certificates the store holds.
    pub fn root_count(&self) -> usize {
        self.roots
    }

    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Whether two handles share one configuration (one store).
    pub fn same_as(&self, other: &Tls) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }

    /// A reqwest builder whose TLS is this configuration (no second read of the system's roots).
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().tls_backend_preconfigured(ClientConfig::clone(&self.config))
    }

    /// The AWS SDK's HTTP client on this configuration; `connect_timeout` bounds each connection.
    pub fn sdk_http_client(&self, connect_timeout: Duration) -> SharedHttpClient {
        SharedHttpClient::new(SdkHttpClient::new(self, connect_timeout))
    }
}

/// The SDK's HTTP client on a [`Tls`]: one hyper connection pool over hyper-rustls, HTTP/2 when
/// the server offers it. Every SDK client built from the same `SdkConfig` shares it. Per-attempt
/// and operation timeouts are the SDK's own (`aws::load`'s `TimeoutConfig`); the connect timeout
/// is set here.
#[derive(Clone)]
pub struct SdkHttpClient {
    connector: SharedHttpConnector,
}

impl fmt::Debug for SdkHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SdkHttpClient")
    }
}

impl SdkHttpClient {
    pub fn new(tls: &Tls, connect_timeout: Duration) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        // As the SDK's own client builds it: the configuration as is (ALPN h2, http/1.1), plain
        // http:// allowed (local endpoints).
        let https = hyper_rustls::HttpsConnector::from((tcp, Arc::clone(&tls.config)));
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .build(https);
        Self { connector: SharedHttpConnector::new(SdkConnector { client }) }
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector.clone()
    }
}

type Https = hyper_rustls::HttpsConnector<TcpConnector>;

#[derive(Clone)]
struct SdkConnector {
    client: HyperClient<Https, SdkBody>,
}

impl fmt::Debug for SdkConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SdkConnector")
    }
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sent = self.client.request(request);
        HttpConnectorFuture::new(async move {
            match sent.await {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(connector_error(e)),
            }
        })
    }
}

/// The SDK's classification of a transport failure (what its own client does): no connection, a
/// closed or cut-off connection and I/O errors may succeed on a retry; a request the client refused
/// will not.
fn connector_error(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let hyper_error = find::<hyper::Error>(&error);
    if error.is_connect() || find::<std::io::Error>(&error).is_some() {
        return ConnectorError::io(error.into());
    }
    match hyper_error {
        Some(h) if h.is_timeout() => ConnectorError::timeout(error.into()),
        Some(h) if h.is_user() => ConnectorError::user(error.into()),
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io(error.into()),
        Some(h) if h.is_incomplete_message() => ConnectorError::other(error.into(), Some(ErrorKind::TransientError)),
        _ => ConnectorError::other(error.into(), None),
    }
}

fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The distributions' root bundles, the first that exists is read: Debian and Ubuntu, then Amazon
/// Linux (Lambda's `provided.al2023`), Fedora and RHEL, then SUSE, then Alpine.
pub const BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's root certificates, read once each. `SSL_CERT_FILE` / `SSL_CERT_DIR`, when set,
/// decide as they do for OpenSSL (`rustls_native_certs::load_native_certs`). Otherwise the
/// distribution's bundle alone: `load_native_certs` would also read the directory beside it, the
/// same roots again (on Debian, each of the ~150 files of `/etc/ssl/certs`; on Amazon Linux, the
/// bundle a second time), which was most of a cold start's init (bench/README.md). No bundle, or
/// one without a certificate: `load_native_certs`.
pub fn native_roots() -> rustls_native_certs::CertificateResult {
    let configured = std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    if !configured {
        for bundle in BUNDLES.iter().map(std::path::Path::new).filter(|p| p.is_file()) {
            let loaded = rustls_native_certs::load_certs_from_paths(Some(bundle), None);
            if !loaded.certs.is_empty() {
                return loaded;
            }
        }
    }
    rustls_native_certs::load_native_certs()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// With a distribution bundle and no `SSL_CERT_*`, the roots come from the bundle alone, each
    /// once, and are roots the platform loader trusts too.
    #[test]
    fn the_bundle_alone_each_root_once() {
        let configured = std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
        let Some(bundle) = BUNDLES.iter().find(|p| std::path::Path::new(p).is_file()) else {
            assert!(!native_roots().certs.is_empty() || configured, "no bundle: the platform loader decides");
            return;
        };
        let ours = native_roots();
        assert!(ours.errors.is_empty(), "{:?}", ours.errors);
        let ours: Vec<Vec<u8>> = ours.certs.iter().map(|c| c.as_ref().to_vec()).collect();
        let distinct: BTreeSet<&Vec<u8>> = ours.iter().collect();
        assert!(!ours.is_empty(), "{bundle} holds roots");
        if configured {
            return;
        }
        assert_eq!(distinct.len(), ours.len(), "each root read once from {bundle}");
        let platform: BTreeSet<Vec<u8>> =
            rustls_native_certs::load_native_certs().certs.iter().map(|c| c.as_ref().to_vec()).collect();
        assert!(ours.iter().all(|c| platform.contains(c)), "only roots the platform trusts");
        let tls = Tls::native().expect("configuration");
        assert_eq!(tls.roots, distinct.len());
    }
}
