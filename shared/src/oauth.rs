//! Salesforce REST authentication: the OAuth 2.0 JWT bearer grant (Implementation Guide ch. 6 "Set Up OAuth in
//! the AWS Lambda Function", docs/salesforce-rest.md#oauth-jwt-bearer). Credentials come from SSM in one `GetParameters`
//! call; the access token is kept in memory and shared with other containers through the SSM token
//! parameter (written within the deadline without delaying the answer, failures logged); a rejected token is refreshed once, and
//! concurrent requests share that one refresh.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::config::RestConfig;
use crate::http::{Context, Exchange, send_with_retries};
use crate::jwt::{Claims, Clock, SystemClock, sign};
use crate::keys::{KeyError, SigningKey, SsmClient, parse_private_key};
use crate::retry::{Deadline, RetryPolicy};

/// The assertion lifetime: Salesforce wants `exp` within 3 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 150;
/// Credentials read from SSM are reused this long.
const CREDENTIALS_TTL: Duration = Duration::from_secs(300);
/// The longest the answer waits for the token to be shared in SSM.
const SHARE_WAIT: Duration = Duration::from_millis(300);
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Debug, Error, Clone)]
pub enum AuthError {
    #[error("SSM parameter {param} ({variable}) was not found")]
    MissingParameter { param: String, variable: &'static str },
    #[error("could not read the Salesforce credentials from SSM: {0}")]
    Ssm(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("Salesforce refused the token request: {error}: {description}")]
    Refused { status: u16, error: String, description: String },
    #[error("the token request failed: {0}")]
    Unavailable(String),
    #[error("the token answer is not what Salesforce sends: {0}")]
    Malformed(String),
}

impl AuthError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuthError::Ssm(_) | AuthError::Unavailable(_))
    }
}

/// An access token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

struct Credentials {
    consumer_key: String,
    key: SigningKey,
    audience: String,
    subject: String,
    loaded: Instant,
}

#[derive(Default)]
struct State {
    credentials: Option<Arc<Credentials>>,
    token: Option<AccessToken>,
}

/// Hands out access tokens. Build once at cold start.
pub struct SalesforceAuth {
    cfg: RestConfig,
    ssm: SsmClient,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    state: Mutex<State>,
    grants: AtomicU64,
    ssm_reads: AtomicU64,
}

impl fmt::Debug for SalesforceAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceAuth").field("auth_endpoint", &self.cfg.auth_endpoint).finish()
    }
}

/// SSM parameter names: letters, digits and `_.-/` (so a URL or an e-mail address is not one).
fn could_be_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 2048
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

/// A value in the token parameter that is a real token (`<org id>!<session>`), not the
/// placeholder the official template writes at install time.
fn looks_like_token(value: &str) -> bool {
    value.starts_with("00D") && value.contains('!') && value.len() > 20
}

impl SalesforceAuth {
    pub fn new(cfg: &RestConfig, ssm: SsmClient, http: reqwest::Client) -> Self {
        Self {
            cfg: cfg.clone(),
            ssm,
            http,
            clock: Arc::new(SystemClock),
            policy: RetryPolicy::default(),
            state: Mutex::new(State::default()),
            grants: AtomicU64::new(0),
            ssm_reads: AtomicU64::new(0),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// OAuth token requests made so far.
    pub fn grant_count(&self) -> u64 {
        self.grants.load(Ordering::Relaxed)
    }

    /// SSM `GetParameters` calls made so far.
    pub fn ssm_read_count(&self) -> u64 {
        self.ssm_reads.load(Ordering::Relaxed)
    }

    /// The current token: from memory, else from the shared SSM parameter, else a new grant.
    pub async fn token(&self, deadline: Deadline) -> Result<AccessToken, AuthError> {
        // Boxed: keeps the callers' future types shallow (the compiler's layout depth limit).
        Box::pin(self.current(deadline)).await
    }

    async fn current(&self, deadline: Deadline) -> Result<AccessToken, AuthError> {
        let mut state = self.lock(deadline).await?;
        if let Some(token) = &state.token {
            return Ok(token.clone());
        }
        let (credentials, shared) = self.load(&mut state, true, deadline).await?;
        let token = match shared {
            Some(token) => token,
            None => self.grant(&credentials, deadline).await?,
        };
        state.token = Some(token.clone());
        Ok(token)
    }

    /// A replacement for `stale`, which Salesforce just rejected. When another request already
    /// replaced it (here, or another container through SSM), that token is used without a grant.
    pub async fn refresh(&self, stale: &AccessToken, deadline: Deadline) -> Result<AccessToken, AuthError> {
        Box::pin(self.replace(stale, deadline)).await
    }

    async fn replace(&self, stale: &AccessToken, deadline: Deadline) -> Result<AccessToken, AuthError> {
        let mut state = self.lock(deadline).await?;
        if let Some(current) = &state.token
            && current != stale
        {
            return Ok(current.clone());
        }
        let (credentials, shared) = self.load(&mut state, false, deadline).await?;
        let token = match shared.filter(|t| t != stale) {
            Some(token) => token,
            None => self.grant(&credentials, deadline).await?,
        };
        state.token = Some(token.clone());
        Ok(token)
    }

    /// The state, waiting for another caller's SSM read or grant no longer than `deadline`.
    async fn lock(&self, deadline: Deadline) -> Result<tokio::sync::MutexGuard<'_, State>, AuthError> {
        tokio::time::timeout(deadline.remaining(), self.state.lock()).await.map_err(|_| {
            AuthError::Unavailable(
                "no token before the invocation's deadline (another request is obtaining one)".into(),
            )
        })
    }

    /// Reads credentials (cached for a while unless `use_cache` is false) and the shared token in
    /// one SSM call, by `deadline`.
    async fn load(
        &self,
        state: &mut State,
        use_cache: bool,
        deadline: Deadline,
    ) -> Result<(Arc<Credentials>, Option<AccessToken>), AuthError> {
        let cfg = &self.cfg;
        let mut names =
            vec![cfg.consumer_key_param.clone(), cfg.private_key_param.clone(), cfg.access_token_param.clone()];
        for indirect in [&cfg.audience, &cfg.subject] {
            if could_be_parameter_name(indirect) && !names.contains(indirect) {
                names.push(indirect.clone());
            }
        }
        self.ssm_reads.fetch_add(1, Ordering::Relaxed);
        let read = self.ssm.get_parameters().set_names(Some(names.clone())).with_decryption(true).send();
        let out = tokio::time::timeout(deadline.remaining(), read)
            .await
            .map_err(|_| {
                AuthError::Ssm(format!("no answer for {} before the invocation's deadline", names.join(", ")))
            })?
            .map_err(|e| AuthError::Ssm(aws_sdk_ssm::error::DisplayErrorContext(&e).to_string()))?;
        let values: HashMap<String, String> =
            out.parameters.unwrap_or_default().into_iter().filter_map(|p| Some((p.name?, p.value?))).collect();
        let shared = values
            .get(&cfg.access_token_param)
            .filter(|v| looks_like_token(v))
            .map(|v| AccessToken(Arc::from(v.as_str())));

        if let Some(credentials) =
            state.credentials.as_ref().filter(|c| use_cache && c.loaded.elapsed() < CREDENTIALS_TTL)
        {
            return Ok((credentials.clone(), shared));
        }
        let required = |param: &String, variable: &'static str| {
            values.get(param).cloned().ok_or_else(|| AuthError::MissingParameter { param: param.clone(), variable })
        };
        let consumer_key = required(&cfg.consumer_key_param, crate::config::rest::CONSUMER_KEY_PARAM_NAME)?;
        let key = parse_private_key(
            &required(&cfg.private_key_param, crate::config::keys::PRIVATE_KEY_PARAM_NAME)?,
            &cfg.private_key_param,
        )?;
        // AUDIENCE and SUBJECT: a parameter by that name wins, else the value itself.
        let audience = values.get(&cfg.audience).cloned().unwrap_or_else(|| {
            tracing::warn!(
                variable = crate::config::rest::AUDIENCE,
                "no SSM parameter named by AUDIENCE; using its value as the audience"
            );
            cfg.audience.clone()
        });
        let subject = values.get(&cfg.subject).cloned().unwrap_or_else(|| {
            tracing::warn!(
                variable = crate::config::rest::SUBJECT,
                "no SSM parameter named by SUBJECT; using its value as the Salesforce username"
            );
            cfg.subject.clone()
        });
        let credentials = Arc::new(Credentials { consumer_key, key, audience, subject, loaded: Instant::now() });
        state.credentials = Some(credentials.clone());
        Ok((credentials, shared))
    }

    /// The JWT bearer grant, then the token shared through SSM.
    async fn grant(&self, credentials: &Credentials, deadline: Deadline) -> Result<AccessToken, AuthError> {
        self.grants.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_unix();
        let context = Context { operation: "oauthTokenRequest", contact_id: "" };
        let attempt = |timeout: Duration| {
            let claims = Claims::new(
                &credentials.consumer_key,
                &credentials.subject,
                &credentials.audience,
                now,
                ASSERTION_LIFETIME_SECS,
            );
            let assertion =
                sign(&claims, credentials.key.encoding_key()).map(|t| t.expose().to_string()).unwrap_or_default();
            self.http
                .post(&self.cfg.auth_endpoint)
                .timeout(timeout)
                .form(&[("grant_type", GRANT_TYPE), ("assertion", assertion.as_str())])
                .send()
        };
        let exchange =
            send_with_retries(&self.policy, deadline, context, attempt, |a| a.status >= 500 || a.status == 429).await;
        let answer = match exchange {
            Exchange::Answered { answer, .. } if answer.is_success() => answer,
            Exchange::Answered { answer, .. } => {
                let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
                let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let error = text("error").unwrap_or_else(|| format!("HTTP {}", answer.status));
                let description = text("error_description").unwrap_or_else(|| crate::scrt::error_message(&answer.body));
                return Err(if answer.status >= 500 || answer.status == 429 {
                    AuthError::Unavailable(format!("{error}: {description}"))
                } else {
                    AuthError::Refused { status: answer.status, error, description }
                });
            }
            Exchange::Failed { error, .. } => return Err(AuthError::Unavailable(error)),
            Exchange::OutOfTime { last, .. } => {
                return Err(AuthError::Unavailable(format!(
                    "no answer before the deadline{}",
                    last.map(|l| format!(" ({l})")).unwrap_or_default()
                )));
            }
        };
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
        }
        let parsed: TokenAnswer =
            serde_json::from_str(&answer.body).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let token = AccessToken(Arc::from(parsed.access_token.as_str()));
        tracing::info!(param = %self.cfg.access_token_param, "obtained a new Salesforce access token");
        self.share(&parsed.access_token, deadline).await;
        Ok(token)
    }

    /// Writes the token to SSM for other containers. A failure is logged, not fatal: this
    /// container has a working token. The write never delays the answer much: it is waited for
    /// at most [`SHARE_WAIT`] (and never past `deadline`), then left to finish in the background,
    /// bounded by `deadline` too.
    async fn share(&self, token: &str, deadline: Deadline) {
        let param = self.cfg.access_token_param.clone();
        let write = self
            .ssm
            .put_parameter()
            .name(&param)
            .value(token)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send();
        let bound = deadline.remaining();
        let task = tokio::spawn(async move {
            let failure = match tokio::time::timeout(bound, write).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                Err(_) => format!("no answer within {} ms (the invocation's deadline)", bound.as_millis()),
            };
            tracing::error!(
                param = %param,
                error = %failure,
                "could not share the new access token in SSM; other containers will request their own"
            );
        });
        if tokio::time::timeout(SHARE_WAIT.min(deadline.remaining()), task).await.is_err() {
            tracing::warn!(
                param = %self.cfg.access_token_param,
                "sharing the access token in SSM is slow; answering without waiting for it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_and_literals_are_told_apart() {
        assert!(could_be_parameter_name("ACME_CC-salesforce-rest-api-subject"));
        assert!(could_be_parameter_name("/scv/prod/audience"));
        assert!(!could_be_parameter_name("integration@acme.example"));
        assert!(!could_be_parameter_name("https://login.salesforce.com/"));
    }

    #[test]
    fn placeholders_are_not_tokens() {
        assert!(!looks_like_token("placeholder"));
        assert!(!looks_like_token("salesforce-rest-api-access-token"));
        assert!(looks_like_token("00DXX0000000001!AQ8AQF4ke.tokenvalue_123"));
    }

    #[test]
    fn tokens_never_print() {
        let token = AccessToken(Arc::from("00DXX0000000001!secret"));
        assert_eq!(format!("{token:?}"), "AccessToken([REDACTED])");
    }
}
