//! The private key that signs Telephony Integration API tokens: read from SSM Parameter Store
//! (or through the AWS Parameters and Secrets Lambda extension), parsed once, cached with a TTL,
//! and refreshed once when Salesforce rejects a token (key rotation).
//!
//! Steady load costs exactly one SSM call per cold start (and one per TTL); concurrent callers
//! share one fetch, each waiting no longer than its own deadline; a failed fetch is remembered for
//! a few seconds so a batch does not wait for a hanging SSM once per record. Errors name the parameter and the problem, never the key material.
//!
//! Rotation with no failed call (docs/keys.md#rotation): a new key is first *staged* in
//! `<param>-next` while Salesforce still accepts the current one. When Salesforce rejects a token
//! (its certificate was replaced), [`KeyCache::refresh`] reloads `<param>`; if that key did not
//! change, it takes the staged key instead, and the cache keeps whichever key the retry used, so a
//! container sees at most one 401 per rotation. *Promotion* copies the staged key into `<param>`.

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

/// What a parameter name is suffixed with to name its staged key (docs/keys.md#rotation).
pub const STAGED_SUFFIX: &str = "-next";

/// The name of the staged key of `param`: `<param>-next`.
pub fn staged_param(param: &str) -> String {
    format!("{param}{STAGED_SUFFIX}")
}

/// A parsed RSA private key (parsed once into the signer's key pair). `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(Arc<Parsed>);

struct Parsed {
    key: crate::jwt::RsaKey,
    /// Tells two loads of the same PEM text apart from a changed key (in memory only).
    material: u64,
}

impl SigningKey {
    pub fn encoding_key(&self) -> &crate::jwt::RsaKey {
        &self.0.key
    }
    /// The same load (not merely the same key material).
    fn same_as(&self, other: &SigningKey) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// The same key material, whichever load.
    pub fn same_key_as(&self, other: &SigningKey) -> bool {
        self.0.material == other.0.material
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
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&normalised, &mut hasher);
    Ok(SigningKey(Arc::new(Parsed { key, material: std::hash::Hasher::finish(&hasher) })))
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

    /// The same source for the staged key, `<param>-next`.
    pub fn staged(&self) -> KeySource {
        let mut staged = self.clone();
        match &mut staged {
            KeySource::Ssm { param, .. } | KeySource::Extension { param, .. } => *param = staged_param(param),
        }
        staged
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
    /// The key came from the staged parameter (Salesforce accepted it, the current one was refused).
    staged: bool,
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
    staged: KeySource,
    ttl: Duration,
    slot: std::sync::Mutex<Slot>,
    gate: Mutex<()>,
    fetches: AtomicU64,
    staged_fetches: AtomicU64,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache").field("source", &self.source).field("ttl", &self.ttl).finish()
    }
}

impl KeyCache {
    pub fn new(source: KeySource, ttl: Duration) -> Self {
        Self {
            staged: source.staged(),
            source,
            ttl,
            slot: std::sync::Mutex::new(Slot::default()),
            gate: Mutex::new(()),
            fetches: AtomicU64::new(0),
            staged_fetches: AtomicU64::new(0),
        }
    }

    /// The cached key, fetched and parsed when absent or older than the TTL, by `deadline`.
    /// Concurrent callers share one fetch; a failure is returned again for [`FAILURE_MEMORY`].
    pub async fn get(&self, deadline: Deadline) -> Result<SigningKey, KeyError> {
        // Boxed: keeps the callers' future types shallow (the compiler's layout depth limit).
        Box::pin(self.obtain(None, deadline)).await
    }

    /// Replaces `stale` (the key Salesforce just rejected) with a freshly fetched one, by
    /// `deadline`: the current parameter's key if it changed, else the staged key (`<param>-next`)
    /// if there is one and it differs, else the current key again. The cache keeps the key returned.
    /// When another caller already replaced `stale`, returns that key without fetching again.
    pub async fn refresh(&self, stale: &SigningKey, deadline: Deadline) -> Result<SigningKey, KeyError> {
        Box::pin(self.obtain(Some(stale), deadline)).await
    }

    /// How many times the key was fetched from its source (for tests and benchmarks).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// How many times the staged key was fetched (after a rejection, or to check a kept staged key).
    pub fn staged_fetch_count(&self) -> u64 {
        self.staged_fetches.load(Ordering::Relaxed)
    }

    /// Whether the cached key is the staged one (Salesforce refused the current key, accepted it).
    pub fn using_staged(&self) -> bool {
        let slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.cached.as_ref().is_some_and(|c| c.staged)
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
        let result = match tokio::time::timeout(bound, self.next_key(stale)).await {
            Ok(result) => result,
            Err(_) => Err(KeyError::Fetch {
                param: self.param().to_string(),
                message: format!("no answer within {} ms (the invocation's deadline)", bound.as_millis()),
            }),
        };
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &result {
            Ok((key, staged)) => {
                slot.cached = Some(Cached { key: key.clone(), fetched: Instant::now(), staged: *staged });
                slot.failure = None;
            }
            Err(error) => {
                tracing::warn!(param = self.param(), error = %error, "private key fetch failed; remembered for {} s", FAILURE_MEMORY.as_secs());
                slot.failure = Some((error.clone(), Instant::now()));
            }
        }
        result.map(|(key, _)| key)
    }

    /// The key to cache next, and whether it is the staged one. `stale`: the key Salesforce just
    /// refused (`None`: a first load or the TTL ran out).
    async fn next_key(&self, stale: Option<&SigningKey>) -> Result<(SigningKey, bool), KeyError> {
        let current = self.load(&self.source).await?;
        let kept_staged = {
            let slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            slot.cached.as_ref().filter(|c| c.staged).map(|c| c.key.clone())
        };
        let Some(refused) = stale else {
            // The TTL ran out while the staged key was in use: keep it as long as it is still the
            // staged key and not yet promoted (Salesforce refuses the current one).
            if let Some(kept) = kept_staged.filter(|k| !k.same_key_as(&current))
                && let Ok(Some(staged)) = self.load_staged().await
                && staged.same_key_as(&kept)
            {
                return Ok((staged, true));
            }
            return Ok((current, false));
        };
        if !current.same_key_as(refused) {
            tracing::info!(param = self.source.param(), "the private key changed in SSM; using the new one");
            return Ok((current, false));
        }
        match self.load_staged().await {
            Ok(Some(staged)) if !staged.same_key_as(refused) => {
                tracing::warn!(
                    param = self.staged.param(),
                    "Salesforce refused the current key and it is unchanged; trying the staged key (a rotation in progress)"
                );
                Ok((staged, true))
            }
            Ok(_) => Ok((current, false)),
            Err(error) => {
                tracing::warn!(param = self.staged.param(), error = %error, "the staged key could not be read; keeping the current key");
                Ok((current, false))
            }
        }
    }

    /// The staged key, `None` when there is none.
    async fn load_staged(&self) -> Result<Option<SigningKey>, KeyError> {
        self.staged_fetches.fetch_add(1, Ordering::Relaxed);
        match self.load_from(&self.staged).await {
            Ok(key) => Ok(Some(key)),
            Err(KeyError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn load(&self, source: &KeySource) -> Result<SigningKey, KeyError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.load_from(source).await
    }

    async fn load_from(&self, source: &KeySource) -> Result<SigningKey, KeyError> {
        let pem = source.fetch_pem().await?;
        let key = parse_private_key(&pem, source.param());
        tracing::debug!(param = source.param(), ok = key.is_ok(), "private key loaded");
        key
    }
}

/// A failed SSM write: the SDK's reason, never the value.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct PutError {
    pub message: String,
    pub retryable: bool,
}

/// Writes `value` to `param` as a SecureString, overwriting, encrypted with `kms_key_id` (`None`:
/// the account's `aws/ssm` key). The SDK's timeouts and retries apply ([`crate::aws::load`]).
pub async fn put_secure_parameter(
    ssm: &aws_sdk_ssm::Client,
    param: &str,
    value: &str,
    kms_key_id: Option<&str>,
) -> Result<(), PutError> {
    ssm.put_parameter()
        .name(param)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .set_key_id(kms_key_id.map(str::to_string))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            // A validation message may quote what was sent: the value never leaves here.
            let message = aws_sdk_ssm::error::DisplayErrorContext(&e).to_string().replace(value, "[REDACTED]");
            let message = crate::logging::scrub(&message).unwrap_or(message);
            PutError { message, retryable: crate::aws::sdk_retryable(&e) }
        })
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
