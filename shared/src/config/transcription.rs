//! Real-time transcription with Amazon Transcribe: kvsConsumerTrigger and kvsTranscriber
//! (Implementation Guide ch. 6 "kvsConsumerTrigger", "kvsTranscriber").

use std::time::Duration;

use super::{ConfigError, Env, Var, number, optional, required};

pub const INVOKE_KVS_TRANSCRIBER_ARN: &str = "INVOKE_KVS_TRANSCRIBER_ARN";
pub const TRANSCRIBER_STALL_TIMEOUT_MS: &str = "TRANSCRIBER_STALL_TIMEOUT_MS";
pub const TRANSCRIBER_SESSION_ATTEMPTS: &str = "TRANSCRIBER_SESSION_ATTEMPTS";
pub const TRANSCRIBER_RETRY_BASE_DELAY_MS: &str = "TRANSCRIBER_RETRY_BASE_DELAY_MS";
pub const TRANSCRIBER_CONTINUATION_MARGIN_MS: &str = "TRANSCRIBER_CONTINUATION_MARGIN_MS";

pub const VARS: &[Var] = &[
    Var {
        name: INVOKE_KVS_TRANSCRIBER_ARN,
        meaning: "the kvsTranscriber function (alias) the trigger invokes asynchronously",
    },
    Var {
        name: TRANSCRIBER_STALL_TIMEOUT_MS,
        meaning: "kvsTranscriber: a live stream silent this long (ms) has ended (default 10000)",
    },
    Var {
        name: TRANSCRIBER_SESSION_ATTEMPTS,
        meaning: "kvsTranscriber: sessions of one track that may fail in a row before it gives up (default 5)",
    },
    Var {
        name: TRANSCRIBER_RETRY_BASE_DELAY_MS,
        meaning: "kvsTranscriber: the first backoff (ms) before a failed session is resumed, doubling (default 200)",
    },
    Var {
        name: TRANSCRIBER_CONTINUATION_MARGIN_MS,
        meaning: "kvsTranscriber: time (ms) kept before the deadline to hand a long call over (default 30000)",
    },
];

/// kvsConsumerTrigger: which function transcribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    /// `INVOKE_KVS_TRANSCRIBER_ARN`.
    pub transcriber_function_arn: String,
}

impl TriggerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self { transcriber_function_arn: required(env, INVOKE_KVS_TRANSCRIBER_ARN)? })
    }
}

/// kvsTranscriber: the function a long call continues in, and the waits of a live call. The
/// production defaults suit Amazon Connect's live media (audio, silence included, every 20 ms while
/// the call lasts) and Lambda's 15-minute limit; a test stack shortens the waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriberConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda), when an invocation names no function ARN.
    pub function_name: Option<String>,
    /// `TRANSCRIBER_STALL_TIMEOUT_MS` (default 10 s): a live stream that sends nothing this long has ended.
    pub stall_timeout: Duration,
    /// `TRANSCRIBER_SESSION_ATTEMPTS` (default 5, at least 1): sessions of one track that may fail in
    /// a row (each resumed after a backoff) before the track gives up.
    pub session_attempts: u32,
    /// `TRANSCRIBER_RETRY_BASE_DELAY_MS` (default 200 ms): the first backoff before a failed session
    /// is resumed; it doubles, up to 5 s.
    pub retry_base_delay: Duration,
    /// `TRANSCRIBER_CONTINUATION_MARGIN_MS` (default 30 s): kept before the invocation's deadline to
    /// stop the sessions and hand the call over to a new invocation.
    pub continuation_margin: Duration,
}

impl Default for TranscriberConfig {
    fn default() -> Self {
        Self {
            function_name: None,
            stall_timeout: Duration::from_secs(10),
            session_attempts: 5,
            retry_base_delay: Duration::from_millis(200),
            continuation_margin: Duration::from_secs(30),
        }
    }
}

impl TranscriberConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let millis = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            Ok(Duration::from_millis(number(env, name, default)?))
        };
        let attempts = number(env, TRANSCRIBER_SESSION_ATTEMPTS, u64::from(defaults.session_attempts))?;
        let session_attempts = u32::try_from(attempts).ok().filter(|a| *a >= 1).ok_or(ConfigError::Malformed {
            name: TRANSCRIBER_SESSION_ATTEMPTS,
            reason: "expected 1 or more".into(),
        })?;
        Ok(Self {
            function_name: optional(env, super::contact_lens::AWS_LAMBDA_FUNCTION_NAME),
            stall_timeout: millis(TRANSCRIBER_STALL_TIMEOUT_MS, defaults.stall_timeout)?,
            session_attempts,
            retry_base_delay: millis(TRANSCRIBER_RETRY_BASE_DELAY_MS, defaults.retry_base_delay)?,
            continuation_margin: millis(TRANSCRIBER_CONTINUATION_MARGIN_MS, defaults.continuation_margin)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcriber_waits_default_to_production_values_and_can_be_shortened() {
        let none = |_: &str| None::<String>;
        let config = TranscriberConfig::from_env(&none).unwrap();
        assert_eq!(config, TranscriberConfig::default());
        assert_eq!(config.stall_timeout, Duration::from_secs(10));
        assert_eq!(config.continuation_margin, Duration::from_secs(30));
        let short = |name: &str| match name {
            TRANSCRIBER_STALL_TIMEOUT_MS => Some("300".to_string()),
            TRANSCRIBER_SESSION_ATTEMPTS => Some("2".to_string()),
            TRANSCRIBER_RETRY_BASE_DELAY_MS => Some("10".to_string()),
            TRANSCRIBER_CONTINUATION_MARGIN_MS => Some("1500".to_string()),
            _ => None,
        };
        let config = TranscriberConfig::from_env(&short).unwrap();
        assert_eq!(config.stall_timeout, Duration::from_millis(300));
        assert_eq!(config.session_attempts, 2);
        assert_eq!(config.retry_base_delay, Duration::from_millis(10));
        assert_eq!(config.continuation_margin, Duration::from_millis(1500));
        let zero = |name: &str| (name == TRANSCRIBER_SESSION_ATTEMPTS).then(|| "0".to_string());
        let err = TranscriberConfig::from_env(&zero).unwrap_err().to_string();
        assert!(err.contains(TRANSCRIBER_SESSION_ATTEMPTS), "{err}");
        let junk = |name: &str| (name == TRANSCRIBER_STALL_TIMEOUT_MS).then(|| "soon".to_string());
        assert!(TranscriberConfig::from_env(&junk).unwrap_err().to_string().contains(TRANSCRIBER_STALL_TIMEOUT_MS));
    }
}
