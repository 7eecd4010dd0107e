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
use scv_shared::ctr::CustomFields;
use scv_shared::ctr_backup::{BackupConfig, CtrBackup, Quarantined, S3Client};
use scv_shared::ctr_sync::{Applied, ApplyError, CtrSync, DecodedCtr};
use scv_shared::error::ErrorKind;
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
    let work = Batch { deps, deadline };
    let result = if deps.adaptive {
        runner.run_adaptive(&payload, &work, &deps.limiter).await
    } else {
        runner.run(&payload, &work).await
    }
    .map_err(|e| SyncError::NotKinesis(e.to_string()))?;
    result.check(runner.name, deps.reporting)?;
    Ok(result.map_outcomes(Outcome::from))
}

/// One batch's work: records of one contact in order, each backed up then synced.
struct Batch<'a> {
    deps: &'a Deps,
    deadline: Deadline,
}

impl ReadRecords for Batch<'_> {
    type Item = DecodedCtr;

    fn parse(&self, record: &Record<'_>) -> Result<DecodedCtr, Settle> {
        let value = record.json().map_err(Settle::Quarantine)?;
        DecodedCtr::decode(value).map_err(Settle::Quarantine)
    }

    /// Records of one contact share a key; a record without a contact stands alone.
    fn key<'i>(&self, item: &'i DecodedCtr) -> Option<&'i str> {
        item.contact_id()
    }

    /// Kept in S3 under the quarantine prefix: the CTR if it was read, else the raw data.
    async fn quarantine(
        &self,
        record: &Record<'_>,
        item: Option<&DecodedCtr>,
        reason: &str,
    ) -> Result<Option<String>, String> {
        let entry = Quarantined {
            reason,
            sequence_number: record.sequence_number(),
            partition_key: record.partition_key(),
            contact_id: item.and_then(DecodedCtr::contact_id),
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

impl ProcessRecords for Batch<'_> {
    type Done = ();

    async fn process(&self, record: &Record<'_>, item: &DecodedCtr) -> kinesis::Outcome {
        let seq = record.sequence_number();
        let deps = self.deps;
        let sync = CtrSync {
            telephony: &deps.telephony,
            backup: deps.backup.as_ref(),
            custom_fields: &deps.custom_fields,
            update_budget: deps.update_budget,
        };
        let text = record.text.as_deref().unwrap_or_default();
        match sync.apply(item, text, self.deadline).await {
            Ok(Applied::Updated { fields }) => {
                tracing::info!(fields, "VoiceCall updated from its CTR");
                kinesis::Outcome::Done(())
            }
            Ok(skipped) => kinesis::Outcome::Skipped(skipped.reason().unwrap_or_default()),
            Err(ApplyError::Backup(e)) => {
                tracing::error!(sequenceNumber = seq, error = %e, "CTR backup failed; the record is retried and Salesforce is not updated without it");
                kinesis::Outcome::Retry(e.to_string())
            }
            Err(ApplyError::Update(e)) if permanent(&e) => kinesis::Outcome::Quarantined(e.to_string()),
            Err(ApplyError::Update(e)) => {
                tracing::warn!(sequenceNumber = seq, error = %e, "VoiceCall update failed; the record is reported for retry");
                kinesis::Outcome::Retry(e.to_string())
            }
        }
    }
}

/// Answers that will not change on retry: the payload itself is refused. Authorization failures
/// (401, 403) are configuration problems an admin fixes, so those records are retried.
fn permanent(e: &ScrtError) -> bool {
    !e.is_retryable() && !matches!(e.status(), Some(401 | 403 | 408)) && !matches!(e, ScrtError::Key { .. })
}
