//! How a function logs: the official `LOG_LEVEL` and Lambda's advanced logging controls.

use super::{ConfigError, Env, Var, optional};
use crate::logging::{LogFormat, LogLevel};

pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";

pub const VARS: &[Var] = &[
    Var { name: LOG_LEVEL, meaning: "application log level, winston names accepted (default info)" },
    Var { name: AWS_LAMBDA_LOG_LEVEL, meaning: "set by Lambda: the advanced logging controls' application log level" },
    Var { name: AWS_LAMBDA_LOG_FORMAT, meaning: "set by Lambda: JSON or Text (advanced logging controls)" },
];

/// `LOG_LEVEL` (default `info`).
pub fn log_level(env: &dyn Env) -> Result<LogLevel, ConfigError> {
    match optional(env, LOG_LEVEL) {
        None => Ok(LogLevel::Info),
        Some(v) => LogLevel::parse(&v)
            .ok_or_else(|| ConfigError::Malformed { name: LOG_LEVEL, reason: format!("unknown level {v:?}") }),
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
        let level = match optional(env, AWS_LAMBDA_LOG_LEVEL) {
            Some(v) => LogLevel::parse(&v).ok_or_else(|| ConfigError::Malformed {
                name: AWS_LAMBDA_LOG_LEVEL,
                reason: format!("unknown level {v:?}"),
            })?,
            None => log_level(env)?,
        };
        let format = match optional(env, AWS_LAMBDA_LOG_FORMAT) {
            None => LogFormat::Json,
            Some(v) => LogFormat::parse(&v).ok_or_else(|| ConfigError::Malformed {
                name: AWS_LAMBDA_LOG_FORMAT,
                reason: format!("expected JSON or Text, got {v:?}"),
            })?,
        };
        Ok(Self { level, format })
    }
}
