//! AWS SDK configuration. The SDK reads `AWS_ENDPOINT_URL` (and per-service
//! `AWS_ENDPOINT_URL_<SERVICE>`) by itself, which is how the local stack points it at moto.

use std::time::Duration;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

use crate::tls::Tls;

/// The SDK's connection timeout (also set on its HTTP client's connector).
const SDK_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Loads the shared SDK configuration once at cold start, with timeouts on every call, on the
/// process's one TLS configuration ([`Tls::shared`], also [`http_client`]'s).
pub async fn load() -> aws_config::SdkConfig {
    load_on(Tls::shared()).await
}

/// [`load`] on the given TLS configuration (`None`: the SDK's own HTTPS client and roots).
pub async fn load_on(tls: Option<&Tls>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(tls) = tls {
        loader = loader.http_client(tls.sdk_http_client(SDK_CONNECT_TIMEOUT));
    }
    loader
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(SDK_CONNECT_TIMEOUT)
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await
}

/// The one HTTP client of a function (connection pool shared by every outbound call), on the
/// process's one TLS configuration ([`Tls::shared`], also [`load`]'s).
pub fn http_client() -> reqwest::Client {
    http_client_on(Tls::shared())
}

/// [`http_client`] on the given TLS configuration (`None`: reqwest's own, the platform's roots).
pub fn http_client_on(tls: Option<&Tls>) -> reqwest::Client {
    tls.map_or_else(reqwest::Client::builder, Tls::reqwest_builder)
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("scv-lambdas/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// An S3 client from the shared configuration. With a custom endpoint (the local stack's moto,
/// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`) it uses path-style addressing, which such servers need.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(custom_endpoint).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Whether an AWS SDK call may succeed if tried again: no answer at all (dispatch failure,
/// timeout, unreadable response) or an answer of throttling (429) or a server error (5xx). A
/// client error other than throttling, or a request the SDK could not build, will not change.
pub fn sdk_retryable<E>(error: &aws_sdk_s3::error::SdkError<E>) -> bool {
    use aws_sdk_s3::error::SdkError;
    match error {
        SdkError::ServiceError(_) => {
            error.raw_response().map(|r| r.status().as_u16()).is_none_or(|s| s == 429 || s >= 500)
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}
