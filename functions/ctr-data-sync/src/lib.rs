//! CTRDataSync: Contact Trace Records from the CTR Kinesis stream to VoiceCall updates (seed 001
//! ch. 6, reference 2.2), each CTR backed up to S3 first (seed 001 ch. 2 "Retry CTR Sync").
//!
//! Nothing is lost: every record ends as synced, skipped (a success, logged at INFO), quarantined
//! (it can never succeed: kept in S3 with the reason, logged at ERROR with its sequence number), or
//! reported in `batchItemFailures` so Lambda retries it. No Salesforce update happens without its
//! backup. Records of one contact are applied in order; contacts run concurrently, bounded.
//! A replayed record re-writes the same backup and the same field values (idempotent).

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, CtrSyncConfig, Env, ProcessEnv, ScrtConfig};
use scv_shared::ctr::{Ctr, should_sync, to_voice_call_fields};
use scv_shared::ctr_backup::{BackupConfig, CtrBackup, Quarantined, S3Client};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::kinesis::{KinesisEventResponse, KinesisRecord, batch_response, decode_data, process_by_key, records};
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
    /// `CTR_SYNC_CONCURRENCY` (default 25): contacts updated at once (a 100-record batch at 50 ms per
    /// Salesforce call then takes four rounds, about 0.5 s; see bench/RESULTS.md).
    pub concurrency: usize,
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
        let http = scv_shared::aws::http_client();
        Ok(Self {
            telephony: TelephonyClient::from_config(&cfg, ssm, http, env),
            backup: CtrBackup::new(s3, BackupConfig::from_env(env)?),
            concurrency: CtrSyncConfig::from_env(env)?.concurrency,
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

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<KinesisEventResponse, SyncError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await.map(|(response, _)| response)
}

/// A record read from the batch: decoded, parsed, or the reason it could not be.
struct Item {
    record: KinesisRecord,
    text: Result<String, String>,
    ctr: Result<(Ctr, Value), String>,
}

impl Item {
    fn read(record: KinesisRecord) -> Self {
        let text = decode_data(&record.data).map_err(|e| e.to_string());
        let ctr = match &text {
            Ok(t) => serde_json::from_str::<Value>(t)
                .map_err(|e| format!("the record is not JSON: {e}"))
                .and_then(|v| Ctr::from_value(v.clone()).map(|c| (c, v))),
            Err(e) => Err(e.clone()),
        };
        Self { record, text, ctr }
    }

    fn contact_id(&self) -> Option<&str> {
        self.ctr.as_ref().ok().and_then(|(c, _)| c.contact_id.as_deref()).filter(|c| !c.is_empty())
    }

    /// Records of one contact share a key; a record without a contact stands alone.
    fn key(&self) -> String {
        self.contact_id().map_or_else(|| format!("seq:{}", self.record.sequence_number), str::to_string)
    }
}

/// The testable handler: the batch response and each record's outcome (in batch order).
pub async fn handle(
    payload: Value,
    deadline: Deadline,
    deps: &Deps,
) -> Result<(KinesisEventResponse, Vec<(String, Outcome)>), SyncError> {
    let batch = records(&payload).map_err(|e| SyncError::NotKinesis(e.to_string()))?;
    let items: Vec<Item> = batch.into_iter().map(Item::read).collect();
    let outcomes = process_by_key(
        items,
        Item::key,
        deps.concurrency,
        |item| async move {
            let span = tracing::info_span!("record", contactId = item.contact_id().unwrap_or(""), sequenceNumber = %item.record.sequence_number);
            let outcome = sync_one(&item, deadline, deps).instrument(span).await;
            (item, outcome)
        },
        |outcome| matches!(outcome, Outcome::Failed(_)),
        |_| Outcome::Failed("an earlier record of the same contact failed; retried after it, in order".into()),
    )
    .await;

    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .map(|(i, _)| i.record.sequence_number.clone())
        .collect();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    tracing::info!(
        records = outcomes.len(),
        synced = count(|o| matches!(o, Outcome::Synced)),
        skipped = count(|o| matches!(o, Outcome::Skipped(_))),
        quarantined = count(|o| matches!(o, Outcome::Quarantined(_))),
        failed = failed.len(),
        "CTR batch done"
    );
    let report = outcomes.into_iter().map(|(item, outcome)| (item.record.sequence_number, outcome)).collect();
    Ok((batch_response(failed), report))
}

async fn sync_one(item: &Item, deadline: Deadline, deps: &Deps) -> Outcome {
    let seq = item.record.sequence_number.as_str();
    let (ctr, value) = match &item.ctr {
        Ok(parsed) => parsed,
        Err(reason) => return quarantine(item, reason, None, deps).await,
    };
    if let Err(skip) = should_sync(ctr) {
        tracing::info!(reason = %skip, "CTR not synced");
        return Outcome::Skipped(skip.to_string());
    }
    let contact_id = item.contact_id().unwrap_or_default();
    let text = item.text.as_deref().unwrap_or_default();
    if let Err(e) = deps.backup.store(contact_id, text).await {
        tracing::error!(sequenceNumber = seq, error = %e, "CTR backup failed; the record is retried and Salesforce is not updated without it");
        return Outcome::Failed(e.to_string());
    }
    let fields = to_voice_call_fields(ctr);
    let update_deadline = Deadline::after(deps.update_budget).min(deadline);
    match deps.telephony.update_voice_call(contact_id, &fields, update_deadline).await {
        Ok(_) => {
            tracing::info!(fields = fields.len(), "VoiceCall updated from its CTR");
            Outcome::Synced
        }
        Err(e) if permanent(&e) => quarantine(item, &e.to_string(), Some(value), deps).await,
        Err(e) => {
            tracing::warn!(sequenceNumber = seq, error = %e, "VoiceCall update failed; the record is reported for retry");
            Outcome::Failed(e.to_string())
        }
    }
}

/// Answers that will not change on retry: the payload itself is refused. Authorization failures
/// (401, 403) are configuration problems an admin fixes, so those records are retried.
fn permanent(e: &ScrtError) -> bool {
    !e.is_retryable() && !matches!(e.status(), Some(401 | 403 | 408)) && !matches!(e, ScrtError::Key { .. })
}

async fn quarantine(item: &Item, reason: &str, record: Option<&Value>, deps: &Deps) -> Outcome {
    let seq = item.record.sequence_number.as_str();
    let entry = Quarantined {
        reason,
        sequence_number: seq,
        partition_key: item.record.partition_key.as_deref(),
        contact_id: item.contact_id(),
        event_source_arn: item.record.event_source_arn.as_deref(),
        raw_data: if record.is_none() { Some(item.record.data.as_str()) } else { None },
        record,
    };
    match deps.backup.quarantine(&entry).await {
        Ok(key) => {
            tracing::error!(sequenceNumber = seq, reason, quarantined = %key, "CTR record can never succeed; quarantined in S3");
            Outcome::Quarantined(reason.to_string())
        }
        Err(e) => {
            tracing::error!(sequenceNumber = seq, reason, error = %e, "quarantining the record failed; it is reported for retry");
            Outcome::Failed(format!("{reason}; quarantine failed: {e}"))
        }
    }
}
