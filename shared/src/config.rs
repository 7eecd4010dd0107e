//! Configuration from the environment, read in one place, with the official variable names
//! (../shared/reference/official-lambdas.md 1.2) so an admin can swap code without touching
//! configuration. A missing or malformed variable is an error that names it.

use std::time::Duration;

use thiserror::Error;

use crate::logging::{LogFormat, LogLevel};

/// A configuration problem found at cold start. The message names the variable; it never
/// contains a secret (no variable read here holds one: keys live in SSM).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// Where environment values come from: the process environment in Lambda, a map in tests
/// (edition 2024 makes `set_var` unsafe, and tests run in parallel).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Reads one variable; empty or blank counts as unset.
pub fn optional(env: &dyn Env, name: &'static str) -> Option<String> {
    env.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

pub fn required(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    optional(env, name).ok_or(ConfigError::Missing { name })
}

/// `true`/`false` in any case; unset gives `default`.
pub fn flag(env: &dyn Env, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match optional(env, name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConfigError::Malformed { name, reason: format!("expected true or false, got {v:?}") }),
    }
}

/// A whole number of some unit; unset gives `default`.
pub fn number(env: &dyn Env, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match optional(env, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ConfigError::Malformed { name, reason: format!("expected a whole number, got {v:?}") }),
    }
}

/// An absolute http(s) URL without its trailing slash.
pub fn base_url(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    let value = required(env, name)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| ConfigError::Malformed { name, reason: "expected an http(s) URL".into() })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(ConfigError::Malformed { name, reason: "expected an http(s) URL with a host".into() });
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// A Salesforce org id: `00D` followed by 12 (15-character id) or 15 (18-character id)
/// alphanumerics, the SAM parameter pattern of the official template extended to 18 characters.
pub fn org_id(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    let value = required(env, name)?;
    let ok = value.starts_with("00D")
        && (value.len() == 15 || value.len() == 18)
        && value.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Malformed {
            name,
            reason: "expected a Salesforce org id: 00D followed by 12 or 15 letters or digits".into(),
        })
    }
}

/// The key parameter: `PRIVATE_KEY_PARAM_NAME` as the official functions name it, unless the
/// unambiguous `specific` name is set — a function that needs both the Telephony Integration API key
/// and the REST connected-app key (the CTR resync) names them `SCRT_PRIVATE_KEY_PARAM_NAME` and
/// `REST_PRIVATE_KEY_PARAM_NAME`.
fn key_param(env: &dyn Env, specific: &'static str) -> Result<String, ConfigError> {
    match optional(env, specific) {
        Some(name) => Ok(name),
        None => required(env, "PRIVATE_KEY_PARAM_NAME"),
    }
}

/// Settings every function that calls the Telephony Integration API (SCRT) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrtConfig {
    /// `SALESFORCE_ORG_ID`: the JWT `iss`.
    pub org_id: String,
    /// `CALL_CENTER_API_NAME`: the JWT `sub` and the `callCenterApiName` body field.
    pub call_center_api_name: String,
    /// `SCRT_ENDPOINT_BASE`: e.g. `https://mydomain.my.salesforce-scrt.com/telephony/v1`.
    pub endpoint_base: String,
    /// `PRIVATE_KEY_PARAM_NAME`: the SSM parameter holding the PEM private key.
    pub private_key_param_name: String,
    /// `USE_SSM_LAMBDA_EXTENSION`: read the key through the Parameters and Secrets extension.
    pub use_ssm_extension: bool,
    /// `PRIVATE_KEY_CACHE_TTL_SECONDS` (default 300): how long a parsed key is reused.
    pub key_cache_ttl: Duration,
    /// `SCRT_DEADLINE_MS` (default 6000): the longest one Telephony API operation may take,
    /// retries included. Flow-facing calls are also bounded by the Lambda's own deadline.
    pub deadline: Duration,
}

impl ScrtConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            org_id: org_id(env, "SALESFORCE_ORG_ID")?,
            call_center_api_name: required(env, "CALL_CENTER_API_NAME")?,
            endpoint_base: base_url(env, "SCRT_ENDPOINT_BASE")?,
            private_key_param_name: key_param(env, "SCRT_PRIVATE_KEY_PARAM_NAME")?,
            use_ssm_extension: flag(env, "USE_SSM_LAMBDA_EXTENSION", false)?,
            key_cache_ttl: Duration::from_secs(number(env, "PRIVATE_KEY_CACHE_TTL_SECONDS", 300)?),
            deadline: Duration::from_millis(number(env, "SCRT_DEADLINE_MS", 6000)?),
        })
    }
}

/// Settings of the Salesforce REST API client (OAuth 2.0 JWT bearer; seed 001 ch. 6 "Set Up OAuth
/// in the AWS Lambda Function", reference 1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// `SALESFORCE_AUTH_ENDPOINT`: the token URL, e.g. `https://login.salesforce.com/services/oauth2/token`.
    pub auth_endpoint: String,
    /// `SALESFORCE_REST_API_ENDPOINT_BASE`: e.g. `https://mydomain.my.salesforce.com/services/data/v62.0`.
    pub rest_base: String,
    /// `CONSUMER_KEY_PARAM_NAME`: SSM parameter holding the connected app's consumer key.
    pub consumer_key_param: String,
    /// `PRIVATE_KEY_PARAM_NAME`: SSM parameter holding the connected app's private key (PEM).
    pub private_key_param: String,
    /// `ACCESS_TOKEN_PARAM_NAME`: SSM parameter where the access token is shared between containers.
    pub access_token_param: String,
    /// `AUDIENCE`: an SSM parameter name whose value is the JWT `aud` (the official code), or the
    /// audience itself (what admins type); a parameter by that name wins.
    pub audience: String,
    /// `SUBJECT`: an SSM parameter name whose value is the Salesforce username (the official
    /// code), or the username itself (what the documentation tells admins to type).
    pub subject: String,
    /// `SALESFORCE_REST_DEADLINE_MS` (default 6000): longest time one REST operation may take.
    pub deadline: Duration,
}

impl RestConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            auth_endpoint: base_url(env, "SALESFORCE_AUTH_ENDPOINT")?,
            rest_base: base_url(env, "SALESFORCE_REST_API_ENDPOINT_BASE")?,
            consumer_key_param: required(env, "CONSUMER_KEY_PARAM_NAME")?,
            private_key_param: key_param(env, "REST_PRIVATE_KEY_PARAM_NAME")?,
            access_token_param: required(env, "ACCESS_TOKEN_PARAM_NAME")?,
            audience: required(env, "AUDIENCE")?,
            subject: required(env, "SUBJECT")?,
            deadline: Duration::from_millis(number(env, "SALESFORCE_REST_DEADLINE_MS", 6000)?),
        })
    }
}

/// `LOG_LEVEL` (default `info`).
pub fn log_level(env: &dyn Env) -> Result<LogLevel, ConfigError> {
    match optional(env, "LOG_LEVEL") {
        None => Ok(LogLevel::Info),
        Some(v) => LogLevel::parse(&v)
            .ok_or_else(|| ConfigError::Malformed { name: "LOG_LEVEL", reason: format!("unknown level {v:?}") }),
    }
}

/// How a function logs, from Lambda's advanced logging controls and the official `LOG_LEVEL`.
///
/// Level: `AWS_LAMBDA_LOG_LEVEL` when Lambda sets it (the function's application log level;
/// TRACE, DEBUG, INFO, WARN, ERROR or FATAL), else `LOG_LEVEL` (the official variable, winston
/// names accepted), else INFO. Format: text when `AWS_LAMBDA_LOG_FORMAT` is `Text`, JSON
/// otherwise (unset included), so the documented Logs Insights query keeps working by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: LogLevel::Info, format: LogFormat::Json }
    }
}

impl LoggingConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let level = match optional(env, "AWS_LAMBDA_LOG_LEVEL") {
            Some(v) => LogLevel::parse(&v).ok_or_else(|| ConfigError::Malformed {
                name: "AWS_LAMBDA_LOG_LEVEL",
                reason: format!("unknown level {v:?}"),
            })?,
            None => log_level(env)?,
        };
        let format = match optional(env, "AWS_LAMBDA_LOG_FORMAT") {
            None => LogFormat::Json,
            Some(v) => LogFormat::parse(&v).ok_or_else(|| ConfigError::Malformed {
                name: "AWS_LAMBDA_LOG_FORMAT",
                reason: format!("expected JSON or Text, got {v:?}"),
            })?,
        };
        Ok(Self { level, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("SALESFORCE_ORG_ID", "00DXX0000000001"),
        ("CALL_CENTER_API_NAME", "ACME_CC"),
        ("SCRT_ENDPOINT_BASE", "https://acme.my.salesforce-scrt.com/telephony/v1/"),
        ("PRIVATE_KEY_PARAM_NAME", "ACME_CC-scrt-jwt-auth-private-key"),
    ];

    #[test]
    fn reads_the_official_names_with_defaults() {
        let cfg = ScrtConfig::from_env(&env(GOOD)).expect("valid");
        assert_eq!(cfg.org_id, "00DXX0000000001");
        assert_eq!(cfg.endpoint_base, "https://acme.my.salesforce-scrt.com/telephony/v1");
        assert!(!cfg.use_ssm_extension);
        assert_eq!(cfg.key_cache_ttl, Duration::from_secs(300));
        assert_eq!(cfg.deadline, Duration::from_millis(6000));
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (name, _) in GOOD {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| k != name).collect();
            let err = ScrtConfig::from_env(&env(&pairs)).unwrap_err();
            assert_eq!(err.to_string(), format!("environment variable {name} is not set"));
        }
    }

    #[test]
    fn malformed_values_are_named() {
        let cases = [
            ("SALESFORCE_ORG_ID", "001XX0000000001"),
            ("SALESFORCE_ORG_ID", "00DXX00"),
            ("SCRT_ENDPOINT_BASE", "acme.my.salesforce-scrt.com"),
            ("USE_SSM_LAMBDA_EXTENSION", "yes"),
            ("SCRT_DEADLINE_MS", "6s"),
        ];
        for (name, value) in cases {
            let mut pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            let err = ScrtConfig::from_env(&env(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(matches!(err, ConfigError::Malformed { .. }), "{err:?}");
        }
    }

    #[test]
    fn extension_flag_is_case_insensitive_and_18_char_org_ids_pass() {
        let mut pairs = GOOD.to_vec();
        pairs.push(("USE_SSM_LAMBDA_EXTENSION", "TRUE"));
        pairs[0] = ("SALESFORCE_ORG_ID", "00DXX0000000001AAA");
        let cfg = ScrtConfig::from_env(&env(&pairs)).expect("valid");
        assert!(cfg.use_ssm_extension);
        assert_eq!(cfg.org_id.len(), 18);
    }

    #[test]
    fn rest_config_reads_the_official_names() {
        let pairs = [
            ("SALESFORCE_AUTH_ENDPOINT", "https://login.salesforce.com/services/oauth2/token"),
            ("SALESFORCE_REST_API_ENDPOINT_BASE", "https://acme.my.salesforce.com/services/data/v62.0"),
            ("CONSUMER_KEY_PARAM_NAME", "ACME_CC-salesforce-rest-api-auth-consumer-key"),
            ("PRIVATE_KEY_PARAM_NAME", "ACME_CC-salesforce-rest-api-auth-private-key"),
            ("ACCESS_TOKEN_PARAM_NAME", "ACME_CC-salesforce-rest-api-access-token"),
            ("AUDIENCE", "ACME_CC-salesforce-rest-api-audience"),
            ("SUBJECT", "integration@acme.example"),
        ];
        let cfg = RestConfig::from_env(&env(&pairs)).expect("valid");
        assert_eq!(cfg.subject, "integration@acme.example");
        assert_eq!(cfg.deadline, Duration::from_millis(6000));
        for (name, _) in pairs {
            let rest: Vec<_> = pairs.iter().copied().filter(|(k, _)| *k != name).collect();
            assert_eq!(RestConfig::from_env(&env(&rest)).unwrap_err(), ConfigError::Missing { name });
        }
    }

    #[test]
    fn specific_key_names_win_over_the_shared_one() {
        let mut pairs = GOOD.to_vec();
        pairs.push(("SCRT_PRIVATE_KEY_PARAM_NAME", "scrt-key"));
        assert_eq!(ScrtConfig::from_env(&env(&pairs)).unwrap().private_key_param_name, "scrt-key");
        let without_shared: Vec<_> = pairs.iter().copied().filter(|(k, _)| *k != "PRIVATE_KEY_PARAM_NAME").collect();
        assert_eq!(ScrtConfig::from_env(&env(&without_shared)).unwrap().private_key_param_name, "scrt-key");
    }

    #[test]
    fn logging_prefers_lambda_controls_then_log_level_then_info_json() {
        let cases: &[(&[(&str, &str)], LogLevel, LogFormat)] = &[
            (&[], LogLevel::Info, LogFormat::Json),
            (&[("LOG_LEVEL", "debug")], LogLevel::Debug, LogFormat::Json),
            (&[("LOG_LEVEL", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")], LogLevel::Warn, LogFormat::Json),
            (&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")], LogLevel::Error, LogFormat::Json),
            (&[("AWS_LAMBDA_LOG_LEVEL", "TRACE"), ("AWS_LAMBDA_LOG_FORMAT", "Text")], LogLevel::Trace, LogFormat::Text),
            (&[("AWS_LAMBDA_LOG_FORMAT", "JSON")], LogLevel::Info, LogFormat::Json),
            (&[("AWS_LAMBDA_LOG_LEVEL", " "), ("LOG_LEVEL", "error")], LogLevel::Error, LogFormat::Json),
        ];
        for (pairs, level, format) in cases {
            let cfg = LoggingConfig::from_env(&env(pairs)).expect("valid");
            assert_eq!((cfg.level, cfg.format), (*level, *format), "{pairs:?}");
        }
        for (name, value) in [("AWS_LAMBDA_LOG_LEVEL", "loud"), ("AWS_LAMBDA_LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")]
        {
            let err = LoggingConfig::from_env(&env(&[(name, value)])).unwrap_err();
            assert!(matches!(&err, ConfigError::Malformed { name: n, .. } if *n == name), "{err:?}");
        }
    }

    #[test]
    fn log_level_accepts_winston_names() {
        assert_eq!(log_level(&env(&[])).unwrap(), LogLevel::Info);
        assert_eq!(log_level(&env(&[("LOG_LEVEL", "DEBUG")])).unwrap(), LogLevel::Debug);
        assert_eq!(log_level(&env(&[("LOG_LEVEL", "verbose")])).unwrap(), LogLevel::Debug);
        assert!(log_level(&env(&[("LOG_LEVEL", "loud")])).is_err());
    }
}
