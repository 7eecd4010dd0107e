//! Real-time transcription with Amazon Transcribe: kvsConsumerTrigger and kvsTranscriber
//! (Implementation Guide ch. 6 "kvsConsumerTrigger", "kvsTranscriber").

use super::{ConfigError, Env, Var, optional, required};

pub const INVOKE_KVS_TRANSCRIBER_ARN: &str = "INVOKE_KVS_TRANSCRIBER_ARN";

pub const VARS: &[Var] = &[Var {
    name: INVOKE_KVS_TRANSCRIBER_ARN,
    meaning: "the kvsTranscriber function (alias) the trigger invokes asynchronously",
}];

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

/// kvsTranscriber: the function a long call continues in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TranscriberConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda), when an invocation names no function ARN.
    pub function_name: Option<String>,
}

impl TranscriberConfig {
    pub fn from_env(env: &dyn Env) -> Self {
        Self { function_name: optional(env, super::contact_lens::AWS_LAMBDA_FUNCTION_NAME) }
    }
}
