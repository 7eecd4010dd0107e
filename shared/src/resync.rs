//! The CTR resync (seed 001 ch. 2 "Retry CTR Sync", step 4): find VoiceCalls that missed their CTR
//! sync with SOQL, fetch each CTR backup from S3 by VendorCallKey, and replay the update. A
//! missing backup is counted, not fatal; each call succeeds or fails on its own.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::ctr::{Ctr, to_voice_call_fields};
use crate::ctr_backup::CtrBackup;
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
    let to = now - chrono::Duration::from_std(grace).unwrap_or_default();
    format!(
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null AND CreatedDate >= {} AND CreatedDate <= {} ORDER BY CreatedDate ASC LIMIT {limit}",
        format(from),
        format(to)
    )
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
}

impl Resync<'_> {
    /// Runs `soql` (which must select `VendorCallKey`), at most `max_calls` calls.
    pub async fn run(&self, soql: &str, max_calls: usize, deadline: Deadline) -> Result<ResyncCounts, ResyncError> {
        let records = self.rest.query_all(soql, max_calls, deadline).await.map_err(|e| ResyncError::Query(Box::new(e)))?;
        let keys: Vec<String> = records.iter().filter_map(|r| r.get("VendorCallKey").and_then(Value::as_str)).map(str::to_string).collect();
        let mut counts = ResyncCounts { found: records.len(), ..Default::default() };
        if keys.len() < records.len() {
            tracing::warn!(found = records.len(), with_key = keys.len(), "some unsynced VoiceCalls have no VendorCallKey and cannot be looked up");
            counts.failed += records.len() - keys.len();
        }
        let outcomes = crate::kinesis::process_by_key(keys, String::clone, self.concurrency, |key| async move {
                let outcome = self.replay(&key, deadline).await;
                (key, outcome)
            }, |_| false, |_| Outcome::Failed).await;
        for (_, outcome) in outcomes {
            match outcome {
                Outcome::Resynced => counts.resynced += 1,
                Outcome::NoBackup => counts.no_backup += 1,
                Outcome::Failed => counts.failed += 1,
            }
        }
        tracing::info!(found = counts.found, resynced = counts.resynced, no_backup = counts.no_backup, failed = counts.failed, "CTR resync finished");
        Ok(counts)
    }

    async fn replay(&self, contact_id: &str, deadline: Deadline) -> Outcome {
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
        let ctr = match serde_json::from_str(&backup).map_err(|e| e.to_string()).and_then(Ctr::from_value) {
            Ok(ctr) => ctr,
            Err(e) => {
                tracing::error!(contactId = contact_id, error = %e, "the CTR backup is unreadable");
                return Outcome::Failed;
            }
        };
        let fields = to_voice_call_fields(&ctr);
        let update_deadline = Deadline::after(self.update_budget).min(deadline);
        match self.telephony.update_voice_call(contact_id, &fields, update_deadline).await {
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
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE CustomerHoldDuration = null AND CreatedDate >= 2026-11-20T12:00:00Z AND CreatedDate <= 2026-11-21T11:45:00Z ORDER BY CreatedDate ASC LIMIT 200"
        );
    }
}
