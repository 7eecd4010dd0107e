//! CTRDataSync: Contact Trace Records from the CTR Kinesis stream to VoiceCall updates (Implementation Guide
//! ch. 6), each CTR backed up to S3 first (docs/functions.md#ctrdatasync).
//!
//! Nothing is lost: every record ends as synced, skipped (a success, logged at INFO), quarantined
//! (it can never succeed: kept in S3 with the reason, logged at ERROR with its sequence number), or
//! reported in `batchItemFailures` so Lambda retries it. No Salesforce update happens without its
//! backup. Records of one contact are applied in order; contacts run concurrently, bounded.
//! A replayed record re-writes the same backup and the same field values (idempotent).

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::concurrency::Aimd;
use scv_shared::config::{ConfigError, CtrSyncConfig, Env, ProcessEnv, ScrtConfig};
use scv_shared::ctr::{Ctr, should_sync, to_voice_call_fields};
use scv_shared::ctr_backup::{BackupConfig, CtrBackup, Quarantined, S3Client, Stored, Superseded};
use scv_shared::error::ErrorKind;
use scv_shared::ids::PathId;
use scv_shared::keys::SsmClient;
use scv_shared::kinesis::{self, KinesisEventResponse, ProcessRecords, ReadRecords, Record, Runner, Settle};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{ScrtError, TelephonyClient};
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "ctrDataSync";

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub telephony: TelephonyClient,
    pub backup: CtrBackup,
    /// `CTR_SYNC_CONCURRENCY` (default 50): the most contacts updated at once (a 100-record batch at
    /// 50 ms per Salesforce call then takes two rounds; see bench/RESULTS.md).
    pub concurrency: usize,
    /// `CTR_SYNC_ADAPTIVE` (default true): `false` keeps `concurrency` whatever Salesforce answers.
    pub adaptive: bool,
    /// Contacts updated at once, adapted to Salesforce's answers (AIMD, `concurrency` the ceiling),
    /// kept for the container's life (docs/functions.md#adaptive-concurrency).
    pub limiter: Arc<Aimd>,
    /// The budget of one Salesforce update (`SCRT_DEADLINE_MS`).
    pub update_budget: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let sdk = scv_shared::aws::load().await;
        Self::new(&env, SsmClient::new(&sdk), scv_shared::aws::s3_client(&sdk))
    }

    pub fn new(env: &dyn Env, ssm: SsmClient, s3: S3Client) -> Result<Self, ConfigError> {
        let cfg = ScrtConfig::from_env(env)?;
        let sync = CtrSyncConfig::from_env(env)?;
        let http = scv_shared::aws::http_client();
        Ok(Self {
            telephony: TelephonyClient::from_config(&cfg, ssm, http, env),
            backup: CtrBackup::new(s3, BackupConfig::from_env(env)?),
            concurrency: sync.concurrency,
            adaptive: sync.adaptive,
            limiter: Arc::new(Aimd::new(sync.concurrency)),
            update_budget: cfg.deadline,
        })
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error("the event is not a Kinesis event: {0}")]
    NotKinesis(String),
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidEvent
    }
}

scv_shared::diagnostic!(SyncError);

/// How one record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Synced,
    Skipped(String),
    /// Kept under the quarantine prefix: it can never succeed.
    Quarantined(String),
    /// Reported for retry.
    Failed(String),
}

impl From<kinesis::Outcome> for Outcome {
    fn from(outcome: kinesis::Outcome) -> Self {
        match outcome {
            kinesis::Outcome::Done(()) => Outcome::Synced,
            kinesis::Outcome::Skipped(reason) => Outcome::Skipped(reason),
            kinesis::Outcome::Quarantined(reason) => Outcome::Quarantined(reason),
            kinesis::Outcome::Retry(reason) => Outcome::Failed(reason),
        }
    }
}

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<KinesisEventResponse, SyncError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await.map(|(response, _)| response)
}

/// The testable handler: the batch response and each record's outcome (in batch order).
pub async fn handle(
    payload: Value,
    deadline: Deadline,
    deps: &Deps,
) -> Result<(KinesisEventResponse, Vec<(String, Outcome)>), SyncError> {
    let runner = Runner { name: "CTR", concurrency: deps.concurrency };
    let work = CtrSync { deps, deadline };
    let result = if deps.adaptive {
        runner.run_adaptive(&payload, &work, &deps.limiter).await
    } else {
        runner.run(&payload, &work).await
    }
    .map_err(|e| SyncError::NotKinesis(e.to_string()))?;
    Ok(result.map_outcomes(Outcome::from))
}

/// A CTR read from its record, with the JSON it came from (kept if it is quarantined).
struct ParsedCtr {
    ctr: Ctr,
    value: Value,
}

impl ParsedCtr {
    fn contact_id(&self) -> Option<&str> {
        self.ctr.contact_id.as_deref().filter(|c| !c.is_empty())
    }
}

/// One batch's work: records of one contact in order, each backed up then synced.
struct CtrSync<'a> {
    deps: &'a Deps,
    deadline: Deadline,
}

impl ReadRecords for CtrSync<'_> {
    type Item = ParsedCtr;

    fn parse(&self, record: &Record<'_>) -> Result<ParsedCtr, Settle> {
        let value = record.json().map_err(Settle::Quarantine)?;
        let ctr = Ctr::from_value(value.clone()).map_err(Settle::Quarantine)?;
        // The ContactId names the backup object and the VoiceCall path: a forged one (`..`,
        // `quarantine/forged/1`) is kept with the reason, never sent nor backed up (issue 13 item 1).
        if let Some(id) = ctr.contact_id.as_deref().filter(|c| !c.is_empty()) {
            PathId::parse("ContactId", id).map_err(|e| Settle::Quarantine(e.to_string()))?;
        }
        Ok(ParsedCtr { ctr, value })
    }

    /// Records of one contact share a key; a record without a contact stands alone.
    fn key<'i>(&self, item: &'i ParsedCtr) -> Option<&'i str> {
        item.contact_id()
    }

    /// Kept in S3 under the quarantine prefix: the CTR if it was read, else the raw data.
    async fn quarantine(
        &self,
        record: &Record<'_>,
        item: Option<&ParsedCtr>,
        reason: &str,
    ) -> Result<Option<String>, String> {
        let entry = Quarantined {
            reason,
            sequence_number: record.sequence_number(),
            partition_key: record.partition_key(),
            contact_id: item.and_then(ParsedCtr::contact_id),
            event_source_arn: record.kinesis.event_source_arn.as_deref(),
            raw_data: if item.is_none() { Some(record.kinesis.data.as_str()) } else { None },
            record: item.map(|i| &i.value),
        };
        self.deps.backup.quarantine(&entry).await.map(Some).map_err(|e| e.to_string())
    }
}

impl ProcessRecords for CtrSync<'_> {
    type Done = ();

    async fn process(&self, record: &Record<'_>, item: &ParsedCtr) -> kinesis::Outcome {
        let seq = record.sequence_number();
        let deps = self.deps;
        if let Err(skip) = should_sync(&item.ctr) {
            tracing::info!(reason = %skip, "CTR not synced");
            return kinesis::Outcome::Skipped(skip.to_string());
        }
        let contact_id = item.contact_id().unwrap_or_default();
        let text = record.text.as_deref().unwrap_or_default();
        // Newest wins (issue 13 item 6): a CTR older than the contact's stored backup changes
        // neither the backup nor the VoiceCall, in this batch or in a redelivered one.
        let version = item.ctr.updated_at();
        match deps.backup.store_newest(contact_id, text, version).await {
            Ok(Stored::Written) => {}
            Ok(Stored::Superseded(why)) => return superseded(why),
            Err(e) => {
                tracing::error!(sequenceNumber = seq, error = %e, "CTR backup failed; the record is retried and Salesforce is not updated without it");
                return kinesis::Outcome::Retry(e.to_string());
            }
        }
        // A newer CTR may have been backed up (and applied) since: checked again just before the update.
        match deps.backup.stored_version(contact_id).await {
            Ok(stored) => {
                if let Some(why) = scv_shared::ctr_backup::superseded(version, stored) {
                    return superseded(why);
                }
            }
            Err(e) => {
                tracing::error!(sequenceNumber = seq, error = %e, "CTR backup unreadable before the update; the record is retried");
                return kinesis::Outcome::Retry(e.to_string());
            }
        }
        let fields = to_voice_call_fields(&item.ctr);
        let update_deadline = Deadline::after(deps.update_budget).min(self.deadline);
        match deps.telephony.update_voice_call(contact_id, &fields, update_deadline).await {
            Ok(_) => {
                tracing::info!(fields = fields.len(), "VoiceCall updated from its CTR");
                kinesis::Outcome::Done(())
            }
            Err(e) if permanent(&e) => kinesis::Outcome::Quarantined(e.to_string()),
            Err(e) => {
                tracing::warn!(sequenceNumber = seq, error = %e, "VoiceCall update failed; the record is reported for retry");
                kinesis::Outcome::Retry(e.to_string())
            }
        }
    }
}

/// A CTR older than the contact's stored backup: skipped, the newer values stay.
fn superseded(why: Superseded) -> kinesis::Outcome {
    tracing::info!(reason = %why, "CTR not synced");
    kinesis::Outcome::Skipped(why.to_string())
}

/// Answers that will not change on retry: the payload itself is refused. Authorization failures
/// (401, 403) are configuration problems an admin fixes, so those records are retried.
fn permanent(e: &ScrtError) -> bool {
    !e.is_retryable() && !matches!(e.status(), Some(401 | 403 | 408)) && !matches!(e, ScrtError::Key { .. })
}
