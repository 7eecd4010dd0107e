//! Configuration from the environment, read in one place, with the official variable names
//! (the environment variables of the official Service Cloud Voice functions, kept so an admin can
//! swap code without touching configuration). A missing or malformed variable is an error that
//! names it.
//!
//! One module per concern, each with a typed struct read by `from_env(&dyn Env)` and its
//! variables' names as `pub const`s listed in its `VARS` (name + one-line meaning); [`vars`]
//! lists them all, and a test checks every variable `template.yaml` sets against it.
//!
//! | module | structs | variables |
//! |---|---|---|
//! | [`telephony`] | [`ScrtConfig`] | `SALESFORCE_ORG_ID`, `CALL_CENTER_API_NAME`, `SCRT_ENDPOINT_BASE`, `SCRT_PRIVATE_KEY_PARAM_NAME`, `SCRT_DEADLINE_MS` |
//! | [`keys`] | [`ExtensionConfig`], [`KeyStoreConfig`] | `PRIVATE_KEY_PARAM_NAME`, `USE_SSM_LAMBDA_EXTENSION`, `PRIVATE_KEY_CACHE_TTL_SECONDS`, `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, `AWS_SESSION_TOKEN`, `SSM_KMS_KEY_ID` |
//! | [`rest`] | [`RestConfig`] | `SALESFORCE_AUTH_ENDPOINT`, `SALESFORCE_REST_API_ENDPOINT_BASE`, `CONSUMER_KEY_PARAM_NAME`, `REST_PRIVATE_KEY_PARAM_NAME`, `ACCESS_TOKEN_PARAM_NAME`, `AUDIENCE`, `SUBJECT`, `SALESFORCE_REST_DEADLINE_MS` |
//! | [`ctr`] | [`BackupConfig`], [`CtrSyncConfig`], [`ResyncSettings`] | `CTR_BACKUP_S3_BUCKET`, `CTR_QUARANTINE_PREFIX`, `CTR_SYNC_CONCURRENCY`, `CTR_RESYNC_*` |
//! | [`voicemail`] | [`RecordingsConfig`], [`PackagingConfig`] | `s3_recordings_bucket`, `aws_region`, `delay_before_routing_vm_sec` |
//! | [`contact_lens`] | [`ConsumerConfig`], [`ProcessorConfig`] | `CONTACT_LENS_PROCESSOR_FUNCTION_ARN`, `MAX_RETRY_INVOCATIONS`, `AWS_LAMBDA_FUNCTION_NAME` |
//! | [`connect`] | [`ConnectConfig`] | `CONNECT_INSTANCE_ID` |
//! | [`transcripts`] | [`TranscriptConfig`] | `MAX_CONTACT_IDS`, `BATCH_SIZE`, `CONTACT_LENS_ANALYSIS_BUCKET` |
//! | [`logging`] | [`LoggingConfig`] | `LOG_LEVEL`, `AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT` |
//! | [`kinesis`] | [`crate::kinesis::FailureReporting`] | `REPORT_BATCH_ITEM_FAILURES` |
//! | [`invoke`] | [`Wiring`], [`InvokeConfig`] | `INVOKE_TELEPHONY_INTEGRATION_API_ARN`, `invoke_telephony_integration_api_arn`, `INVOKE_SALESFORCE_REST_API_ARN`, `INVOKE_DEADLINE_MS` |
//! | [`transcription`] | [`TriggerConfig`], [`TranscriberConfig`] | `INVOKE_KVS_TRANSCRIBER_ARN`, `TRANSCRIBER_*` waits (and `AWS_LAMBDA_FUNCTION_NAME`) |

use thiserror::Error;

pub mod connect;
pub mod contact_lens;
pub mod ctr;
pub mod invoke;
pub mod keys;
pub mod kinesis;
pub mod logging;
pub mod progress;
pub mod rest;
pub mod telephony;
pub mod transcription;
pub mod transcripts;
pub mod voicemail;

pub use connect::ConnectConfig;
pub use contact_lens::{ConsumerConfig, ProcessorConfig};
pub use ctr::{BackupConfig, CtrSyncConfig, ResyncSettings};
pub use invoke::{InvokeConfig, Wiring};
pub use keys::{ExtensionConfig, KeyStoreConfig};
pub use logging::{LoggingConfig, log_level};
pub use rest::RestConfig;
pub use telephony::ScrtConfig;
pub use transcription::{TranscriberConfig, TriggerConfig};
pub use transcripts::TranscriptConfig;
pub use voicemail::{PackagingConfig, RecordingsConfig};

/// One environment variable: its name, written once, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub meaning: &'static str,
}

/// Every variable any function reads.
pub fn vars() -> impl Iterator<Item = &'static Var> {
    [
        telephony::VARS,
        keys::VARS,
        rest::VARS,
        ctr::VARS,
        voicemail::VARS,
        contact_lens::VARS,
        connect::VARS,
        logging::VARS,
        invoke::VARS,
        kinesis::VARS,
        transcripts::VARS,
        transcription::VARS,
        progress::VARS,
    ]
    .into_iter()
    .flatten()
}

/// A configuration problem found at cold start. The message names the variable; it never
/// contains a secret (no variable read here holds one: keys live in SSM).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
    #[error("neither the direct settings ({direct}) nor {invoke} is set")]
    NoWiring { direct: String, invoke: String },
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
pub(crate) fn key_param(env: &dyn Env, specific: &'static str) -> Result<String, ConfigError> {
    match optional(env, specific) {
        Some(name) => Ok(name),
        None => required(env, keys::PRIVATE_KEY_PARAM_NAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{LogFormat, LogLevel};
    use std::collections::HashMap;
    use std::time::Duration;

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
        type Case = (&'static [(&'static str, &'static str)], LogLevel, LogFormat);
        let cases: &[Case] = &[
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

    /// The `Environment.Variables` names of every function in `template.yaml` (and `Globals`).
    fn template_variables() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
        let names = |owner: &str, function: &serde_yaml_ng::Value| -> Vec<(String, String)> {
            function
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(serde_yaml_ng::Value::as_mapping)
                .map(|m| m.keys().filter_map(|k| k.as_str()).map(|k| (owner.to_string(), k.to_string())).collect())
                .unwrap_or_default()
        };
        let mut found = names("Globals", &doc["Globals"]["Function"]);
        let resources = doc["Resources"].as_mapping().expect("Resources");
        for (name, resource) in resources {
            if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
                found.extend(names(name.as_str().unwrap_or("?"), &resource["Properties"]));
            }
        }
        found
    }

    #[test]
    fn every_variable_the_template_sets_is_a_known_variable() {
        let known: Vec<&str> = vars().map(|v| v.name).collect();
        let found = template_variables();
        assert!(found.len() > 20, "the template's function environments were not found: {found:?}");
        let unknown: Vec<_> = found.iter().filter(|(_, name)| !known.contains(&name.as_str())).collect();
        assert!(unknown.is_empty(), "template.yaml sets variables no configuration module reads: {unknown:?}");
    }

    #[test]
    fn each_variable_is_listed_once_with_a_meaning() {
        let mut names: Vec<&str> = vars().map(|v| v.name).collect();
        assert!(vars().all(|v| !v.meaning.is_empty() && !v.name.is_empty()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a variable is listed twice");
    }
}
