//! The CTR resync (docs/functions.md#ctr-resync; Implementation Guide ch. 2, step 4): find VoiceCalls that missed their CTR
//! sync with SOQL, fetch each CTR backup from S3 by VendorCallKey, and replay the update. A
//! missing backup is counted, not fatal; each call succeeds or fails on its own.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::concurrency::Aimd;
use crate::config::BackupConfig;
pub use crate::config::ResyncSettings;
use crate::config::{ConfigError, Env, ScrtConfig};
use crate::ctr::CustomFields;
use crate::ctr_backup::{CtrBackup, S3Client};
use crate::ctr_sync::{CtrSync, DecodedCtr};
use crate::ids::PathId;
use crate::keys::SsmClient;
use crate::rest::{RestError, SalesforceRest};
use crate::retry::Deadline;
use crate::scrt::TelephonyClient;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResyncCounts {
    pub found: usize,
    pub resynced: usize,
    pub no_backup: usize,
    pub failed: usize,
}

#[derive(Debug, Error)]
pub enum ResyncError {
    #[error("the query for unsynced VoiceCalls failed: {0}")]
    Query(#[source] Box<RestError>),
}

/// The query for VoiceCalls created in `[now - lookback, now - grace]` that have no CTR data yet
/// (`CustomerHoldDuration` is only set by a CTR sync), oldest first.
pub fn unsynced_query(now: chrono::DateTime<chrono::Utc>, lookback: Duration, grace: Duration, limit: usize) -> String {
    let format = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let from = now - chrono::Duration::from_std(lookback).unwrap_or_default();
    // Whole seconds: the lower bound rounds down, the upper bound up, so nothing falls between.
    let to = now - chrono::Duration::from_std(grace).unwrap_or_default() + chrono::Duration::seconds(1);
    format!(
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null AND CreatedDate >= {} AND CreatedDate <= {} ORDER BY CreatedDate ASC LIMIT {limit}",
        format(from),
        format(to)
    )
}

/// What the resync needs besides the REST client, built once at cold start: the Telephony
/// Integration API client (its key in `SCRT_PRIVATE_KEY_PARAM_NAME` or `PRIVATE_KEY_PARAM_NAME`),
/// the backup bucket and the settings.
#[derive(Debug)]
pub struct ResyncClients {
    pub telephony: TelephonyClient,
    pub backup: CtrBackup,
    pub settings: ResyncSettings,
    pub update_budget: Duration,
    /// The configured custom fields (`CTR_CUSTOM_FIELDS`), applied as CTRDataSync applies them.
    pub custom_fields: CustomFields,
    /// Calls replayed at once, adapted to Salesforce's answers (AIMD, `CTR_SYNC_CONCURRENCY` the
    /// ceiling), kept for the container's life.
    pub limiter: Arc<Aimd>,
}

impl ResyncClients {
    pub fn from_env(env: &dyn Env, ssm: SsmClient, s3: S3Client, http: reqwest::Client) -> Result<Self, ConfigError> {
        let cfg = ScrtConfig::from_env(env)?;
        Ok(Self {
            telephony: TelephonyClient::from_config(&cfg, ssm, http, env),
            backup: CtrBackup::new(s3, BackupConfig::from_env(env)?),
            settings: ResyncSettings::from_env(env)?,
            update_budget: cfg.deadline,
            custom_fields: crate::ctr::custom_fields_from_variable(env)?.unwrap_or_default(),
            limiter: Arc::new(Aimd::new(ResyncSettings::from_env(env)?.concurrency)),
        })
    }

    /// The custom fields read at cold start (e.g. from `CTR_CUSTOM_FIELDS_PARAM_NAME`).
    pub fn with_custom_fields(mut self, custom_fields: CustomFields) -> Self {
        self.custom_fields = custom_fields;
        self
    }

    /// One run: `soql` when a caller gives one (the documented `retryCTRSync` shape), else the
    /// unsynced calls of the look-back window.
    pub async fn run(
        &self,
        rest: &SalesforceRest,
        soql: Option<&str>,
        deadline: Deadline,
    ) -> Result<ResyncCounts, ResyncError> {
        let window;
        let query = match soql {
            Some(q) => q,
            None => {
                window = unsynced_query(
                    chrono::Utc::now(),
                    self.settings.lookback,
                    self.settings.grace,
                    self.settings.max_calls,
                );
                &window
            }
        };
        tracing::info!(soql = %query, "looking for VoiceCalls that missed their CTR sync");
        Resync {
            rest,
            telephony: &self.telephony,
            backup: &self.backup,
            concurrency: self.settings.concurrency,
            update_budget: self.update_budget,
            custom_fields: &self.custom_fields,
            limiter: Some(self.limiter.clone()),
        }
        .run(query, self.settings.max_calls, deadline)
        .await
    }
}

/// The resync, over clients built at cold start.
#[derive(Debug)]
pub struct Resync<'a> {
    pub rest: &'a SalesforceRest,
    pub telephony: &'a TelephonyClient,
    pub backup: &'a CtrBackup,
    pub concurrency: usize,
    /// Per-update budget.
    pub update_budget: Duration,
    pub custom_fields: &'a CustomFields,
    /// When set, the calls replayed at once adapt to Salesforce's answers (at most `concurrency`).
    pub limiter: Option<Arc<Aimd>>,
}

impl Resync<'_> {
    /// Runs `soql` (which must select `VendorCallKey`), at most `max_calls` calls.
    pub async fn run(&self, soql: &str, max_calls: usize, deadline: Deadline) -> Result<ResyncCounts, ResyncError> {
        let records =
            self.rest.query_all(soql, max_calls, deadline).await.map_err(|e| ResyncError::Query(Box::new(e)))?;
        let keys: Vec<String> =
            records.iter().filter_map(|r| r.get("VendorCallKey").and_then(Value::as_str)).map(str::to_string).collect();
        let mut counts = ResyncCounts { found: records.len(), ..Default::default() };
        if keys.len() < records.len() {
            tracing::warn!(
                found = records.len(),
                with_key = keys.len(),
                "some unsynced VoiceCalls have no VendorCallKey and cannot be looked up"
            );
            counts.failed += records.len() - keys.len();
        }
        let outcomes = crate::kinesis::process_by_key(
            keys,
            String::clone,
            self.concurrency,
            |key| async move {
                let outcome = match &self.limiter {
                    Some(limiter) => {
                        let _permit = limiter.acquire().await;
                        crate::concurrency::scoped(limiter.clone(), self.replay(&key, deadline)).await
                    }
                    None => self.replay(&key, deadline).await,
                };
                (key, outcome)
            },
            |_| false,
            |_| Outcome::Failed,
        )
        .await;
        for (_, outcome) in outcomes {
            match outcome {
                Outcome::Resynced => counts.resynced += 1,
                Outcome::NoBackup => counts.no_backup += 1,
                Outcome::Failed => counts.failed += 1,
            }
        }
        tracing::info!(
            found = counts.found,
            resynced = counts.resynced,
            no_backup = counts.no_backup,
            failed = counts.failed,
            "CTR resync finished"
        );
        Ok(counts)
    }

    async fn replay(&self, contact_id: &str, deadline: Deadline) -> Outcome {
        // The VendorCallKey names the backup object and the VoiceCall path: a forged one (`..`,
        // `a/b`) reaches neither (issue 13 item 1).
        if let Err(e) = PathId::parse("VendorCallKey", contact_id) {
            tracing::error!(contactId = contact_id, error = %e, "the VoiceCall cannot be resynced");
            return Outcome::Failed;
        }
        let backup = match self.backup.fetch(contact_id).await {
            Ok(Some(text)) => text,
            Ok(None) => {
                tracing::warn!(contactId = contact_id, "no CTR backup for this VoiceCall; it cannot be resynced");
                return Outcome::NoBackup;
            }
            Err(e) => {
                tracing::error!(contactId = contact_id, error = %e, "reading the CTR backup failed");
                return Outcome::Failed;
            }
        };
        let decoded = match DecodedCtr::from_text(&backup) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::error!(contactId = contact_id, error = %e, "the CTR backup is unreadable");
                return Outcome::Failed;
            }
        };
        // The backup is the stored CTR: mapped and applied as CTRDataSync applies it, nothing re-written.
        let sync = CtrSync {
            telephony: self.telephony,
            backup: None,
            custom_fields: self.custom_fields,
            update_budget: self.update_budget,
        };
        match sync.update(contact_id, &decoded.ctr, deadline).await {
            Ok(_) => {
                tracing::info!(contactId = contact_id, "VoiceCall resynced from its CTR backup");
                Outcome::Resynced
            }
            Err(e) => {
                tracing::error!(contactId = contact_id, error = %e, "resyncing the VoiceCall failed");
                Outcome::Failed
            }
        }
    }
}

enum Outcome {
    Resynced,
    NoBackup,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_query_is_bounded_and_ordered() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let q = unsynced_query(now, Duration::from_secs(24 * 3600), Duration::from_secs(900), 200);
        assert_eq!(
            q,
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null AND CreatedDate >= 2026-11-20T12:00:00Z AND CreatedDate <= 2026-11-21T11:45:01Z ORDER BY CreatedDate ASC LIMIT 200"
        );
    }
}
