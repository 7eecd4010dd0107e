//! CTRDataSync: Contact Trace Records from the CTR Kinesis stream to VoiceCall updates (Implementation Guide
//! ch. 6), each CTR backed up to S3 first (docs/functions.md#ctrdatasync).
//!
//! Nothing is lost: every record ends as synced, skipped (a success, logged at INFO), quarantined
//! (it can never succeed: kept in S3 with the reason, logged at ERROR with its sequence number), or
//! reported in `batchItemFailures` so Lambda retries it. No Salesforce update happens without its
//! backup. Records of one contact are applied in order; contacts run concurrently, bounded.
//! A replayed record re-writes the same backup and the same field values (idempotent).
//!
//! Two wirings (docs/migrating.md#two-wirings): with the Telephony Integration API settings the
//! update goes to Salesforce directly; with only the official `INVOKE_TELEPHONY_INTEGRATION_API_ARN`
//! it goes through InvokeTelephonyIntegrationApi's `updateVoiceCall`, whose `FunctionError` or error
//! answer reports the record for retry. Without `CTR_BACKUP_S3_BUCKET` (an official stack's
//! configuration) nothing is backed up: a cold-start WARN says so, the newest-wins check needs the
//! backup and is off, and a record that can never succeed is kept only in its ERROR log line.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::concurrency::Aimd;
use scv_shared::config::invoke::INVOKE_TELEPHONY_INTEGRATION_API_ARN;
use scv_shared::config::{ConfigError, CtrSyncConfig, Env, ProcessEnv};
use scv_shared::ctr::{Ctr, CustomFields, should_sync, to_voice_call_fields};
use scv_shared::ctr_backup::{BackupConfig, CtrBackup, Quarantined, S3Client, Stored, Superseded};
use scv_shared::error::ErrorKind;
use scv_shared::ids::PathId;
use scv_shared::keys::SsmClient;
use scv_shared::kinesis::{
    self, FailureReporting, KinesisEventResponse, ProcessRecords, ReadRecords, Record, RetryWholeBatch, Runner, Settle,
};
use scv_shared::retry::Deadline;
use scv_shared::scrt::ScrtError;
use scv_shared::wiring::Telephony;
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "ctrDataSync";

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    /// Salesforce directly, or InvokeTelephonyIntegrationApi (the official wiring).
    pub telephony: Telephony,
    /// `None` without `CTR_BACKUP_S3_BUCKET`.
    pub backup: Option<CtrBackup>,
    /// `CTR_SYNC_CONCURRENCY` (default 50): the most contacts updated at once (a 100-record batch at
    /// 50 ms per Salesforce call then takes two rounds; see bench/RESULTS.md).
    pub concurrency: usize,
    /// `CTR_SYNC_ADAPTIVE` (default true): `false` keeps `concurrency` whatever Salesforce answers.
    pub adaptive: bool,
    /// Contacts updated at once, adapted to Salesforce's answers (AIMD, `concurrency` the ceiling),
    /// kept for the container's life (docs/functions.md#adaptive-concurrency).
    pub limiter: Arc<Aimd>,
    /// `REPORT_BATCH_ITEM_FAILURES`: whether the mapping reads `batchItemFailures`.
    pub reporting: FailureReporting,
    /// Custom synced fields (`CTR_CUSTOM_FIELDS` or `CTR_CUSTOM_FIELDS_PARAM_NAME`), validated at cold start.
    pub custom_fields: CustomFields,
    /// The budget of one Salesforce update (`SCRT_DEADLINE_MS`, or `INVOKE_DEADLINE_MS` through a function).
    pub update_budget: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let sdk = scv_shared::aws::load().await;
        let custom_fields = scv_shared::ctr::custom_fields_from_env(&env, &SsmClient::new(&sdk)).await?;
        Ok(Self { custom_fields, ..Self::new(&env, &sdk, scv_shared::aws::s3_client(&sdk))? })
    }

    /// Reads `CTR_CUSTOM_FIELDS` itself; [`Deps::from_env`] also reads the SSM parameter.
    pub fn new(env: &dyn Env, sdk: &scv_shared::aws::SdkConfig, s3: S3Client) -> Result<Self, ConfigError> {
        let (telephony, update_budget) =
            Telephony::from_env(env, &[INVOKE_TELEPHONY_INTEGRATION_API_ARN], sdk, SsmClient::new(sdk))?;
        let backup = BackupConfig::from_env_if_set(env)?.map(|cfg| CtrBackup::new(s3, cfg));
        if backup.is_none() {
            tracing::warn!(
                "CTR_BACKUP_S3_BUCKET is not set: CTRs are not backed up, the newest-wins check is off and a record that can never succeed is kept only in its ERROR log line"
            );
        }
        let sync = CtrSyncConfig::from_env(env)?;
        Ok(Self {
            telephony,
            backup,
            concurrency: sync.concurrency,
            adaptive: sync.adaptive,
            limiter: Arc::new(Aimd::new(sync.concurrency)),
            reporting: FailureReporting::from_env(env)?,
            custom_fields: scv_shared::ctr::custom_fields_from_variable(env)?.unwrap_or_default(),
            update_budget,
        })
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error("the event is not a Kinesis event: {0}")]
    NotKinesis(String),
    /// A record must be retried and the mapping does not read `batchItemFailures`.
    #[error(transparent)]
    RetryBatch(#[from] RetryWholeBatch),
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::NotKinesis(_) => ErrorKind::InvalidEvent,
            SyncError::RetryBatch(_) => ErrorKind::SalesforceUnavailable,
        }
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

/// The testable handler: the batch response and each record's outcome (in batch order); without
/// item-failure reporting, a record to retry fails the whole batch ([`SyncError::RetryBatch`]).
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
    result.check(runner.name, deps.reporting)?;
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
        match &self.deps.backup {
            Some(backup) => backup.quarantine(&entry).await.map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
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
        if let Some(backup) = &deps.backup
            && let Some(outcome) = backed_up(backup, contact_id, text, version, seq).await
        {
            return outcome;
        }
        let mut fields = to_voice_call_fields(&item.ctr);
        deps.custom_fields.apply(&item.ctr, &mut fields);
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

/// Backs the CTR up (newest wins) and checks it is still the newest just before the update:
/// `Some(outcome)` when the record ends here (superseded, or the backup failed).
async fn backed_up(
    backup: &CtrBackup,
    contact_id: &str,
    text: &str,
    version: scv_shared::ctr_backup::Version,
    seq: &str,
) -> Option<kinesis::Outcome> {
    match backup.store_newest(contact_id, text, version).await {
        Ok(Stored::Written) => {}
        Ok(Stored::Superseded(why)) => return Some(superseded(why)),
        Err(e) => {
            tracing::error!(sequenceNumber = seq, error = %e, "CTR backup failed; the record is retried and Salesforce is not updated without it");
            return Some(kinesis::Outcome::Retry(e.to_string()));
        }
    }
    // A newer CTR may have been backed up (and applied) since: checked again just before the update.
    match backup.stored_version(contact_id).await {
        Ok(stored) => scv_shared::ctr_backup::superseded(version, stored).map(superseded),
        Err(e) => {
            tracing::error!(sequenceNumber = seq, error = %e, "CTR backup unreadable before the update; the record is retried");
            Some(kinesis::Outcome::Retry(e.to_string()))
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
