//! The CTR sync: the backup bucket, the quarantine prefix, concurrency and the resync window.

use std::time::Duration;

use super::{ConfigError, Env, Var, flag, number, optional, required};

pub const CTR_BACKUP_S3_BUCKET: &str = "CTR_BACKUP_S3_BUCKET";
pub const CTR_QUARANTINE_PREFIX: &str = "CTR_QUARANTINE_PREFIX";
pub const CTR_SYNC_CONCURRENCY: &str = "CTR_SYNC_CONCURRENCY";
pub const CTR_SYNC_ADAPTIVE: &str = "CTR_SYNC_ADAPTIVE";
pub const CTR_RESYNC_LOOKBACK_MINUTES: &str = "CTR_RESYNC_LOOKBACK_MINUTES";
pub const CTR_RESYNC_GRACE_MINUTES: &str = "CTR_RESYNC_GRACE_MINUTES";
pub const CTR_RESYNC_MAX_CALLS: &str = "CTR_RESYNC_MAX_CALLS";
pub const CTR_CUSTOM_FIELDS: &str = "CTR_CUSTOM_FIELDS";
pub const CTR_CUSTOM_FIELDS_PARAM_NAME: &str = "CTR_CUSTOM_FIELDS_PARAM_NAME";

pub const VARS: &[Var] = &[
    Var { name: CTR_BACKUP_S3_BUCKET, meaning: "bucket of the CTR backups; set, it also enables retryCTRSync" },
    Var { name: CTR_QUARANTINE_PREFIX, meaning: "key prefix of records that can never succeed (default quarantine/)" },
    Var {
        name: CTR_SYNC_CONCURRENCY,
        meaning: "the most Telephony Integration API updates at once (default 50, 1-100); adaptive below it",
    },
    Var {
        name: CTR_SYNC_ADAPTIVE,
        meaning: "false: always CTR_SYNC_CONCURRENCY updates at once instead of adapting to 429s and latency (default true)",
    },
    Var {
        name: CTR_RESYNC_LOOKBACK_MINUTES,
        meaning: "resync: calls created this long ago at the most (default 1440)",
    },
    Var { name: CTR_RESYNC_GRACE_MINUTES, meaning: "resync: calls younger than this are left alone (default 15)" },
    Var { name: CTR_RESYNC_MAX_CALLS, meaning: "resync: calls per run (default 200)" },
    Var {
        name: CTR_CUSTOM_FIELDS,
        meaning: "custom synced fields: JSON of VoiceCall field to CTR path (Attributes.X, DisconnectReason), optional type",
    },
    Var {
        name: CTR_CUSTOM_FIELDS_PARAM_NAME,
        meaning: "SSM parameter holding CTR_CUSTOM_FIELDS' JSON (when it is not set)",
    },
];

/// Where backups and quarantined records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// `CTR_BACKUP_S3_BUCKET`.
    pub bucket: String,
    /// `CTR_QUARANTINE_PREFIX` (default `quarantine/`).
    pub quarantine_prefix: String,
}

impl BackupConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let bucket = required(env, CTR_BACKUP_S3_BUCKET)?;
        let mut quarantine_prefix = optional(env, CTR_QUARANTINE_PREFIX).unwrap_or_else(|| "quarantine/".into());
        if !quarantine_prefix.ends_with('/') {
            quarantine_prefix.push('/');
        }
        Ok(Self { bucket, quarantine_prefix })
    }

    /// `Some` when `CTR_BACKUP_S3_BUCKET` is set (what enables the resync where it is optional).
    pub fn from_env_if_set(env: &dyn Env) -> Result<Option<Self>, ConfigError> {
        match optional(env, CTR_BACKUP_S3_BUCKET) {
            None => Ok(None),
            Some(_) => Self::from_env(env).map(Some),
        }
    }
}

/// How many contacts the CTR sync updates at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtrSyncConfig {
    /// `CTR_SYNC_CONCURRENCY` (default 50, clamped to 1-100): the ceiling of the adaptive
    /// concurrency (`crate::concurrency`), which starts there.
    pub concurrency: usize,
    /// `CTR_SYNC_ADAPTIVE` (default true); false: always `concurrency` at once.
    pub adaptive: bool,
}

impl CtrSyncConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            concurrency: number(env, CTR_SYNC_CONCURRENCY, 50)?.clamp(1, 100) as usize,
            adaptive: flag(env, CTR_SYNC_ADAPTIVE, true)?,
        })
    }
}

/// How far back and how much one run looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncSettings {
    /// `CTR_RESYNC_LOOKBACK_MINUTES` (default 1440): calls created this long ago at the most.
    pub lookback: Duration,
    /// `CTR_RESYNC_GRACE_MINUTES` (default 15): calls younger than this may still be waiting for
    /// their CTR and are left alone.
    pub grace: Duration,
    /// `CTR_RESYNC_MAX_CALLS` (default 200): calls per run.
    pub max_calls: usize,
    /// `CTR_SYNC_CONCURRENCY` (default 50): the most updates at once.
    pub concurrency: usize,
}

impl ResyncSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            lookback: Duration::from_secs(60 * number(env, CTR_RESYNC_LOOKBACK_MINUTES, 1440)?),
            grace: Duration::from_secs(60 * number(env, CTR_RESYNC_GRACE_MINUTES, 15)?),
            max_calls: number(env, CTR_RESYNC_MAX_CALLS, 200)?.clamp(1, 10_000) as usize,
            concurrency: CtrSyncConfig::from_env(env)?.concurrency,
        })
    }
}
