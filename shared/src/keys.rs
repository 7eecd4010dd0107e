//! The private key that signs Telephony Integration API tokens: read from SSM Parameter Store
//! (or through the AWS Parameters and Secrets Lambda extension), parsed once, cached with a TTL,
//! and refreshed once when Salesforce rejects a token (key rotation).
//!
//! Steady load costs exactly one SSM call per cold start (and one per TTL); concurrent callers
//! share one fetch, each waiting no longer than its own deadline; a failed fetch is remembered for
//! a few seconds so a batch does not wait for a hanging SSM once per record. Errors name the parameter and the problem, never the key material.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::EncodingKey;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::config::{Env, ScrtConfig};
use crate::retry::Deadline;

pub use aws_sdk_ssm::Client as SsmClient;

#[derive(Debug, Error, Clone)]
pub enum KeyError {
    #[error("SSM parameter {param} was not found")]
    NotFound { param: String },
    #[error("could not read SSM parameter {param}: {message}")]
    Fetch { param: String, message: String },
    #[error("SSM parameter {param} does not hold a usable RSA private key: {reason}")]
    Malformed { param: String, reason: String },
}

impl KeyError {
    /// Throttling and transport failures may pass; a missing or bad key will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, KeyError::Fetch { .. })
    }
}

/// A parsed RSA private key (parsed once into the signer's key pair). `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(Arc<crate::jwt::RsaKey>);

impl SigningKey {
    pub fn encoding_key(&self) -> &crate::jwt::RsaKey {
        &self.0
    }
    fn same_as(&self, other: &SigningKey) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// Parses a PEM RSA private key, PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE
/// KEY`), and proves it can sign. `param` only names the source in errors.
pub fn parse_private_key(pem: &str, param: &str) -> Result<SigningKey, KeyError> {
    let malformed = |reason: &str| KeyError::Malformed { param: param.to_string(), reason: reason.to_string() };
    let trimmed = pem.trim();
    // Keys pasted into the console sometimes arrive with literal "\n" sequences.
    let normalised = if !trimmed.contains('\n') && trimmed.contains("\\n") {
        trimmed.replace("\\n", "\n")
    } else {
        trimmed.to_string()
    };
    if !normalised.starts_with("-----BEGIN") {
        return Err(malformed(
            "expected a PEM block starting with -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----",
        ));
    }
    if normalised.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(malformed("the key is encrypted with a passphrase; store it unencrypted as a SecureString"));
    }
    let key = EncodingKey::from_rsa_pem(normalised.as_bytes())
        .map_err(|e| malformed(&format!("not an RSA private key in PKCS#1 or PKCS#8 PEM form ({:?})", e.kind())))?;
    // EncodingKey does not check the key itself; parsing it into the signer's key pair and a trial
    // signature do.
    let key = crate::jwt::RsaKey::new(key)
        .map_err(|_| malformed("the PEM block does not contain a valid RSA private key"))?;
    let probe = crate::jwt::Claims::scrt("00D000000000000", "probe", 0);
    crate::jwt::sign(&probe, &key).map_err(|_| malformed("the PEM block does not contain a valid RSA private key"))?;
    Ok(SigningKey(Arc::new(key)))
}

/// Where the PEM text comes from.
#[derive(Clone)]
pub enum KeySource {
    /// `ssm:GetParameter` with decryption through the SDK.
    Ssm { client: aws_sdk_ssm::Client, param: String },
    /// The AWS Parameters and Secrets Lambda extension (`USE_SSM_LAMBDA_EXTENSION=true`, Implementation Guide
    /// ch. 6 "Increase Performance of the ContactLensProcessor Lambda Function").
    Extension { http: reqwest::Client, endpoint: String, session_token: Option<String>, param: String },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Ssm { param, .. } => write!(f, "KeySource::Ssm({param})"),
            KeySource::Extension { endpoint, param, .. } => write!(f, "KeySource::Extension({endpoint}, {param})"),
        }
    }
}

impl KeySource {
    /// The source `ScrtConfig` asks for. The extension listens on
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (default 2773) and wants the session token.
    pub fn from_config(cfg: &ScrtConfig, ssm: aws_sdk_ssm::Client, http: reqwest::Client, env: &dyn Env) -> Self {
        let param = cfg.private_key_param_name.clone();
        if cfg.use_ssm_extension {
            let extension = crate::config::ExtensionConfig::from_env(env);
            KeySource::Extension { http, endpoint: extension.endpoint(), session_token: extension.session_token, param }
        } else {
            KeySource::Ssm { client: ssm, param }
        }
    }

    pub fn param(&self) -> &str {
        match self {
            KeySource::Ssm { param, .. } | KeySource::Extension { param, .. } => param,
        }
    }

    async fn fetch_pem(&self) -> Result<String, KeyError> {
        let param = self.param().to_string();
        match self {
            KeySource::Ssm { client, .. } => {
                let out = client.get_parameter().name(&param).with_decryption(true).send().await.map_err(|e| {
                    let not_found = e
                        .as_service_error()
                        .is_some_and(aws_sdk_ssm::operation::get_parameter::GetParameterError::is_parameter_not_found);
                    if not_found {
                        KeyError::NotFound { param: param.clone() }
                    } else {
                        KeyError::Fetch {
                            param: param.clone(),
                            message: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                        }
                    }
                })?;
                out.parameter
                    .and_then(|p| p.value)
                    .ok_or(KeyError::Malformed { param, reason: "the parameter has no value".into() })
            }
            KeySource::Extension { http, endpoint, session_token, .. } => {
                let mut request = http
                    .get(format!("{endpoint}/systemsmanager/parameters/get"))
                    .query(&[("name", param.as_str()), ("withDecryption", "true")])
                    .timeout(Duration::from_secs(2));
                if let Some(token) = session_token {
                    request = request.header("X-Aws-Parameters-Secrets-Token", token);
                }
                let fetch_error = |message: String| KeyError::Fetch { param: param.clone(), message };
                let response = request.send().await.map_err(|e| fetch_error(format!("extension unreachable: {e}")))?;
                let status = response.status();
                if status.as_u16() == 404 || status.as_u16() == 400 {
                    let body = response.text().await.unwrap_or_default();
                    if body.contains("ParameterNotFound") {
                        return Err(KeyError::NotFound { param });
                    }
                    return Err(fetch_error(format!("extension answered HTTP {status}")));
                }
                if !status.is_success() {
                    return Err(fetch_error(format!("extension answered HTTP {status}")));
                }
                let body: serde_json::Value =
                    response.json().await.map_err(|e| fetch_error(format!("extension answer is not JSON: {e}")))?;
                body.pointer("/Parameter/Value")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or(KeyError::Malformed { param, reason: "the extension answer has no Parameter.Value".into() })
            }
        }
    }
}

struct Cached {
    key: SigningKey,
    fetched: Instant,
}

/// How long a failed fetch is remembered: the other records of a batch fail at once with the same
/// error instead of each waiting for SSM again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// The longest one fetch may take, whatever the caller's deadline (the SDK's own operation timeout).
const MAX_FETCH: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Slot {
    cached: Option<Cached>,
    failure: Option<(KeyError, Instant)>,
}

/// The process-wide cache of the parsed key. Build it once at cold start and share it.
///
/// One caller fetches at a time (`gate`); every other caller waits for it no longer than its own
/// deadline, then reads what the fetch left in `slot`: the key, or the failure, remembered for
/// [`FAILURE_MEMORY`]. `slot` is never held across an await.
pub struct KeyCache {
    source: KeySource,
    ttl: Duration,
    slot: std::sync::Mutex<Slot>,
    gate: Mutex<()>,
    fetches: AtomicU64,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache").field("source", &self.source).field("ttl", &self.ttl).finish()
    }
}

impl KeyCache {
    pub fn new(source: KeySource, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            slot: std::sync::Mutex::new(Slot::default()),
            gate: Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The cached key, fetched and parsed when absent or older than the TTL, by `deadline`.
    /// Concurrent callers share one fetch; a failure is returned again for [`FAILURE_MEMORY`].
    pub async fn get(&self, deadline: Deadline) -> Result<SigningKey, KeyError> {
        // Boxed: keeps the callers' future types shallow (the compiler's layout depth limit).
        Box::pin(self.obtain(None, deadline)).await
    }

    /// Replaces `stale` (the key Salesforce just rejected) with a freshly fetched one, by
    /// `deadline`. When another caller already replaced it, returns that key without fetching again.
    pub async fn refresh(&self, stale: &SigningKey, deadline: Deadline) -> Result<SigningKey, KeyError> {
        Box::pin(self.obtain(Some(stale), deadline)).await
    }

    /// How many times the key was fetched from its source (for tests and benchmarks).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub fn param(&self) -> &str {
        self.source.param()
    }

    /// What the slot already answers: a usable key (fresh, and not `stale`), or a recent failure.
    fn settled(&self, stale: Option<&SigningKey>) -> Option<Result<SigningKey, KeyError>> {
        let slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = &slot.cached {
            let usable = match stale {
                Some(stale) => !cached.key.same_as(stale),
                None => cached.fetched.elapsed() < self.ttl,
            };
            if usable {
                return Some(Ok(cached.key.clone()));
            }
        }
        match &slot.failure {
            Some((error, at)) if at.elapsed() < FAILURE_MEMORY => Some(Err(error.clone())),
            _ => None,
        }
    }

    async fn obtain(&self, stale: Option<&SigningKey>, deadline: Deadline) -> Result<SigningKey, KeyError> {
        if let Some(settled) = self.settled(stale) {
            return settled;
        }
        let out_of_time = || KeyError::Fetch {
            param: self.param().to_string(),
            message: "no answer before the invocation's deadline".into(),
        };
        // Wait for a fetch in progress no longer than this caller may.
        let _gate = tokio::time::timeout(deadline.remaining(), self.gate.lock()).await.map_err(|_| out_of_time())?;
        if let Some(settled) = self.settled(stale) {
            return settled;
        }
        let bound = deadline.remaining().min(MAX_FETCH);
        let result = match tokio::time::timeout(bound, self.load()).await {
            Ok(result) => result,
            Err(_) => Err(KeyError::Fetch {
                param: self.param().to_string(),
                message: format!("no answer within {} ms (the invocation's deadline)", bound.as_millis()),
            }),
        };
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &result {
            Ok(key) => {
                slot.cached = Some(Cached { key: key.clone(), fetched: Instant::now() });
                slot.failure = None;
            }
            Err(error) => {
                tracing::warn!(param = self.param(), error = %error, "private key fetch failed; remembered for {} s", FAILURE_MEMORY.as_secs());
                slot.failure = Some((error.clone(), Instant::now()));
            }
        }
        result
    }

    async fn load(&self) -> Result<SigningKey, KeyError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let pem = self.source.fetch_pem().await?;
        let key = parse_private_key(&pem, self.source.param());
        tracing::debug!(param = self.source.param(), ok = key.is_ok(), "private key loaded");
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_keys_without_echoing_them() {
        let secretish = "MIIEowIBAAKCAQEAsecretmaterial";
        for text in [
            secretish.to_string(),
            format!("-----BEGIN RSA PRIVATE KEY-----\n{secretish}\n-----END RSA PRIVATE KEY-----"),
        ] {
            let err = parse_private_key(&text, "my-param").unwrap_err();
            let message = err.to_string();
            assert!(message.contains("my-param"), "{message}");
            assert!(!message.contains("secretmaterial"), "{message}");
            assert!(matches!(err, KeyError::Malformed { .. }));
        }
    }

    #[test]
    fn encrypted_keys_get_their_own_message() {
        let err =
            parse_private_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----", "p")
                .unwrap_err();
        assert!(err.to_string().contains("passphrase"), "{err}");
    }
}
