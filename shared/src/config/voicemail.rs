//! Voicemail: the recordings bucket, the Kinesis Video region, the routing delay.

use std::time::Duration;

use super::{ConfigError, Env, Var, number, optional, required};

pub const S3_RECORDINGS_BUCKET: &str = "s3_recordings_bucket";
pub const AWS_REGION: &str = "aws_region";
pub const DELAY_BEFORE_ROUTING_VM_SEC: &str = "delay_before_routing_vm_sec";

pub const VARS: &[Var] = &[
    Var { name: S3_RECORDINGS_BUCKET, meaning: "bucket the voicemail recordings are written to (the official name)" },
    Var {
        name: AWS_REGION,
        meaning: "region of the Kinesis Video streams when not the function's (the official name)",
    },
    Var {
        name: DELAY_BEFORE_ROUTING_VM_SEC,
        meaning: "seconds to wait before routing a voicemail (default 60; the official name)",
    },
];

/// Where voicemail audio is read from and written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingsConfig {
    /// `s3_recordings_bucket`.
    pub bucket: String,
    /// `aws_region`: overrides the Kinesis Video clients' region.
    pub region: Option<String>,
}

impl RecordingsConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self { bucket: required(env, S3_RECORDINGS_BUCKET)?, region: optional(env, AWS_REGION) })
    }
}

/// How a voicemail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackagingConfig {
    /// `delay_before_routing_vm_sec` (default 60).
    pub routing_delay: Duration,
}

impl PackagingConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self { routing_delay: Duration::from_secs(number(env, DELAY_BEFORE_ROUTING_VM_SEC, 60)?) })
    }
}
