//! The Contact Lens consumer and processor.

use super::{ConfigError, Env, Var, number, optional, required};

pub const CONTACT_LENS_PROCESSOR_FUNCTION_ARN: &str = "CONTACT_LENS_PROCESSOR_FUNCTION_ARN";
pub const MAX_RETRY_INVOCATIONS: &str = "MAX_RETRY_INVOCATIONS";
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

pub const VARS: &[Var] = &[
    Var { name: CONTACT_LENS_PROCESSOR_FUNCTION_ARN, meaning: "the processor function the consumer invokes" },
    Var {
        name: MAX_RETRY_INVOCATIONS,
        meaning: "how many times the processor re-invokes itself with unsent work (default 3)",
    },
    Var { name: AWS_LAMBDA_FUNCTION_NAME, meaning: "set by Lambda: the function's own name, to invoke itself again" },
];

/// The consumer: which function processes the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `CONTACT_LENS_PROCESSOR_FUNCTION_ARN`.
    pub processor_function_arn: String,
}

impl ConsumerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self { processor_function_arn: required(env, CONTACT_LENS_PROCESSOR_FUNCTION_ARN)? })
    }
}

/// The processor: how it hands unsent work over to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// `MAX_RETRY_INVOCATIONS` (default 3).
    pub max_retry_invocations: u32,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: Option<String>,
}

impl ProcessorConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let max_retry_invocations = u32::try_from(number(env, MAX_RETRY_INVOCATIONS, 3)?)
            .map_err(|_| ConfigError::Malformed { name: MAX_RETRY_INVOCATIONS, reason: "too large".into() })?;
        Ok(Self { max_retry_invocations, function_name: optional(env, AWS_LAMBDA_FUNCTION_NAME) })
    }
}
