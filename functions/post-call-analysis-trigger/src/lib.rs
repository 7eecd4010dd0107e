//! PostCallAnalysisTrigger: when Contact Lens writes a post-call analysis file to S3 (EventBridge
//! `Object Created`), read it, place it on the contact's timeline with Amazon Connect
//! `DescribeContact`, and store the sentiment signals in Salesforce with Store a Post-Call
//! Conversation Event (Implementation Guide ch. 3; docs/functions.md#postcallanalysistrigger).
//!
//! Signals sent:
//!
//! - one `IntelligenceSignal__Sentiment` per transcript line: POSITIVE `1000`, NEUTRAL and MIXED
//!   `0`, NEGATIVE `-1000`, from `base + BeginOffsetMillis` to `base + EndOffsetMillis`, for the
//!   line's participant (AGENT or CUSTOMER);
//! - the overall sentiment of each participant as `IntelligenceSignal__OverallSentimentScore` with
//!   the raw Contact Lens score (−5…5, e.g. `"0.8"`) from `base` to the disconnect. The
//!   documentation lists only `IntelligenceSignal__Sentiment`; the official function sends this
//!   type too (docs/differences.md#overall-sentiment-signal), and where the documentation and the official code disagree on
//!   the wire this project follows the official code, which production accepts. Rescaling the
//!   score into a call-long `IntelligenceSignal__Sentiment` would instead put one whole-call
//!   utterance on the per-utterance timeline.
//!
//! Events are sorted ascending by `startTime` (the API requires it) and sent in batches of at most
//! [`MAX_EVENTS_PER_REQUEST`] (25), one after the other.
//!
//! `base` is the moment the contact was connected to an agent (the recording Contact Lens analysed
//! starts there), as in the official function; a contact never connected to an agent uses its own
//! timestamps (connected to the system, else initiated) instead of crashing. The conversation is
//! addressed by the contact's `InitialContactId`: the documentation requires the vendor call key
//! of the first contact of the conversation for transfers (the official sends the transferred
//! contact's own id).
//!
//! Beyond the official function: only `Analysis/Voice/YYYY/MM/DD/<contactId>….json` keys are read
//! and redacted copies skipped (as the official); a transcript line with a missing or unknown
//! sentiment (or no usable offsets or participant) is skipped and counted instead of failing the
//! file; the file is read as UTF-8 (not ASCII); a failed post fails the invocation after the
//! client's retries (429/5xx with backoff and `Retry-After`) instead of answering Success, and
//! the error says how many events were already stored. Salesforce answering 404 (no conversation
//! for this contact, e.g. a contact that never went through the SCV flow) is logged and treated as
//! done: no retry can create the call.
//!
//! Redelivery stores nothing twice: the events carry no id Salesforce could deduplicate on, so each
//! acknowledged batch is recorded in the file's progress record ([`progress`],
//! `post_call_progress/<analysis file key>`) before the next one is sent, and a redelivered event
//! posts only the batches not recorded there (issue 13 item 2).

use std::time::{Duration, SystemTime};

use aws_sdk_connect::types::Contact;
use lambda_runtime::LambdaEvent;
use scv_shared::aws::sdk_retryable;
use scv_shared::config::{ConfigError, Env, ProcessEnv, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::ids::{IdError, PathId};
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{ConversationEvents, ScrtError, TelephonyClient};
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

pub mod analysis;
pub mod event;
pub mod progress;

pub use analysis::{
    AnalysisFile, ContactTimes, ConversationCharacteristics, CustomerMetadata, ParticipantInfo,
    SentimentCharacteristics, Signals, TranscriptLine, js_number, parse_analysis, sentiment_score, signals,
};
pub use event::{BucketRef, KeyCheck, ObjectCreatedDetail, ObjectCreatedEvent, ObjectRef, check_key, decode_key};
pub use progress::{PROGRESS_PREFIX, Progress, fingerprint, progress_key};

/// The `category` of every log line (the official function reuses `invokeSfRestApi`, which makes
/// its lines look like another function's; docs/differences.md#log-categories).
pub const CATEGORY: &str = "postCallAnalysisTrigger";
/// The intelligence source, as documented.
pub const SERVICE: &str = "AmazonConnectContactLens";
/// Per-utterance sentiment, −1000…1000 (documented).
pub const SENTIMENT: &str = "IntelligenceSignal__Sentiment";
/// Overall sentiment per participant, the raw Contact Lens score (sent by the official function).
pub const OVERALL_SENTIMENT: &str = "IntelligenceSignal__OverallSentimentScore";
/// The most events one Store a Post-Call Conversation Event request carries (the official limit).
pub const MAX_EVENTS_PER_REQUEST: usize = 25;
/// The participants the API accepts.
pub const PARTICIPANTS: &[&str] = &["AGENT", "CUSTOMER"];

/// The longest a Lambda invocation can last (15 minutes): the budget of the calls bounded only by the
/// invocation's own deadline.
const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// Built once at cold start.
pub struct Deps {
    pub telephony: TelephonyClient,
    pub s3: aws_sdk_s3::Client,
    pub connect: aws_sdk_connect::Client,
    /// The longest one Salesforce request may take, retries included (`SCRT_DEADLINE_MS`), within
    /// the Lambda's own deadline.
    pub budget: Duration,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").field("telephony", &self.telephony).field("budget", &self.budget).finish()
    }
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let cfg = ScrtConfig::from_env(&env)?;
        let sdk = scv_shared::aws::load().await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        // AWS_ENDPOINT_URL_CONNECT (the local stack) is honoured by the SDK itself.
        let connect = aws_sdk_connect::Client::new(&sdk);
        Ok(Self::new(&cfg, SsmClient::new(&sdk), s3, connect, &env))
    }

    pub fn new(
        cfg: &ScrtConfig,
        ssm: SsmClient,
        s3: aws_sdk_s3::Client,
        connect: aws_sdk_connect::Client,
        env: &dyn Env,
    ) -> Self {
        let http = scv_shared::aws::http_client();
        Self { telephony: TelephonyClient::from_config(cfg, ssm, http, env), s3, connect, budget: cfg.deadline }
    }
}

/// Why an invocation failed. Messages name the object, the contact and the field.
#[derive(Debug, Error)]
pub enum TriggerError {
    #[error("the event is not an EventBridge S3 Object Created event: {0}")]
    NotAnEvent(String),
    #[error("reading s3://{bucket}/{key} failed: {message}")]
    ReadObject { bucket: String, key: String, message: String, retryable: bool },
    #[error("s3://{bucket}/{key} is not a Contact Lens analysis file: {reason}")]
    BadFile { bucket: String, key: String, reason: String },
    #[error("s3://{bucket}/{key}: {field} is missing")]
    MissingField { bucket: String, key: String, field: &'static str },
    #[error("s3://{bucket}/{key}: {source}")]
    BadId { bucket: String, key: String, source: IdError },
    #[error("DescribeContact for contact {contact_id} (instance {instance_id}) failed: {message}")]
    DescribeContact { contact_id: String, instance_id: String, message: String, retryable: bool },
    #[error("contact {contact_id}: {reason}")]
    Timing { contact_id: String, reason: String },
    #[error("contact {contact_id}: {operation} the progress record s3://{bucket}/{key} failed: {message}")]
    Progress {
        contact_id: String,
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
        retryable: bool,
    },
    #[error(
        "contact {contact_id}: post-call events batch {batch} of {batches} failed after {sent} of {total} events were stored: {source}"
    )]
    Salesforce { contact_id: String, batch: usize, batches: usize, sent: usize, total: usize, source: ScrtError },
}

impl TriggerError {
    /// A short name for the Lambda error type (`errorType`), by kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TriggerError::NotAnEvent(_) | TriggerError::BadFile { .. } | TriggerError::BadId { .. } => {
                ErrorKind::InvalidEvent
            }
            TriggerError::MissingField { .. } | TriggerError::Timing { .. } => ErrorKind::MissingField,
            TriggerError::ReadObject { retryable, .. }
            | TriggerError::DescribeContact { retryable, .. }
            | TriggerError::Progress { retryable, .. } => ErrorKind::aws(*retryable),
            TriggerError::Salesforce { source, .. } => ErrorKind::salesforce(source.is_retryable()),
        }
    }
}

scv_shared::diagnostic!(TriggerError);

// ---------------------------------------------------------------------------------------------

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, TriggerError> {
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, context.deadline(), deps).instrument(span).await
}

/// The testable handler. `lambda_deadline` bounds every Salesforce request (each gets at most
/// [`Deps::budget`]). Answers `{"result": "Success", "contactId", "vendorCallKey", "events",
/// "batches", "skipped"}`, `{"result": "Skipped", "reason"}` for a key that is not an analysis
/// file, `{"result": "NoSignals", ...}` when the file has none, or `{"result": "NoVoiceCall", ...}`
/// when Salesforce has no conversation for the contact.
pub async fn handle(payload: Value, lambda_deadline: SystemTime, deps: &Deps) -> Result<Value, TriggerError> {
    let event: ObjectCreatedEvent = scv_shared::error::decode_json(&payload).map_err(|e| {
        let e = TriggerError::NotAnEvent(e);
        tracing::error!(error = %e, "event rejected");
        e
    })?;
    if event.detail_type != "Object Created" {
        let reason = format!("detail-type is {:?}, not \"Object Created\"", event.detail_type);
        tracing::debug!(reason = %reason, "event skipped");
        return Ok(json!({"result": "Skipped", "reason": reason}));
    }
    let bucket = event.detail.bucket.name.clone();
    // The bucket is a path segment of the S3 request: only a valid name gets there (issue 13 item 1).
    scv_shared::ids::bucket_name("detail.bucket.name", &bucket).map_err(|source| TriggerError::BadId {
        bucket: bucket.clone(),
        key: event.detail.object.key.clone(),
        source,
    })?;
    let key = decode_key(&event.detail.object.key).map_err(|reason| TriggerError::BadFile {
        bucket: bucket.clone(),
        key: event.detail.object.key.clone(),
        reason,
    })?;
    let key_contact = match check_key(&key) {
        KeyCheck::Analysis { contact_id } => contact_id,
        KeyCheck::Skip(reason) => {
            tracing::info!(bucket = %bucket, key = %key, "s3://{bucket}/{key} skipped: {reason}");
            return Ok(json!({"result": "Skipped", "reason": reason, "key": key}));
        }
    };
    tracing::Span::current().record("contactId", key_contact.as_str());
    let result = process(&bucket, &key, &key_contact, lambda_deadline, deps).await;
    if let Err(e) = &result {
        tracing::error!(error = %e, kind = e.kind().as_str(), "post-call analysis of s3://{bucket}/{key} failed");
    }
    result
}

async fn process(
    bucket: &str,
    key: &str,
    key_contact: &str,
    lambda_deadline: SystemTime,
    deps: &Deps,
) -> Result<Value, TriggerError> {
    // The S3 read and DescribeContact take the invocation's remaining time, whatever the SDK's own
    // timeouts allow (issue 13 item 3).
    let invocation = Deadline::for_invocation(lambda_deadline, LAMBDA_MAX_TIMEOUT);
    let out_of_time = || format!("no answer within the invocation's remaining time ({:?})", invocation.remaining());
    let file =
        tokio::time::timeout(invocation.remaining(), read_analysis(bucket, key, deps)).await.map_err(|_| {
            TriggerError::ReadObject { bucket: bucket.into(), key: key.into(), message: out_of_time(), retryable: true }
        })??;
    let missing = |field: &'static str| TriggerError::MissingField { bucket: bucket.into(), key: key.into(), field };
    let metadata = file.customer_metadata.as_ref().ok_or_else(|| missing("CustomerMetadata"))?;
    let contact_id = metadata
        .contact_id
        .clone()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| missing("CustomerMetadata.ContactId"))?;
    // Ids reach DescribeContact and the Salesforce path: only valid ones (issue 13 item 1).
    let bad_id = |source: IdError| TriggerError::BadId { bucket: bucket.into(), key: key.into(), source };
    PathId::parse("CustomerMetadata.ContactId", &contact_id).map_err(bad_id)?;
    let instance_id = metadata
        .instance_id
        .clone()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| missing("CustomerMetadata.InstanceId"))?;
    if contact_id != key_contact {
        tracing::warn!(
            keyContactId = %key_contact,
            "the file's CustomerMetadata.ContactId {contact_id} differs from the contact id in its key; using the file's"
        );
        tracing::Span::current().record("contactId", contact_id.as_str());
    }

    let contact = tokio::time::timeout(invocation.remaining(), describe_contact(&contact_id, &instance_id, deps))
        .await
        .map_err(|_| TriggerError::DescribeContact {
            contact_id: contact_id.clone(),
            instance_id: instance_id.clone(),
            message: out_of_time(),
            retryable: true,
        })??;
    let times = ContactTimes::from_contact(&contact);
    let (base_ms, base_from) = times.base().ok_or_else(|| TriggerError::Timing {
        contact_id: contact_id.clone(),
        reason: "DescribeContact gave no ConnectedToAgentTimestamp, ConnectedToSystemTimestamp or InitiationTimestamp"
            .into(),
    })?;
    if times.connected_to_agent.is_none() {
        tracing::info!(
            timingFrom = base_from,
            "contact {contact_id} was never connected to an agent: timing from its {base_from}"
        );
    }
    let vendor_call_key = times.initial_contact_id.clone().unwrap_or_else(|| contact_id.clone());
    PathId::parse("InitialContactId (DescribeContact)", &vendor_call_key).map_err(bad_id)?;

    let Signals { events, skipped } = signals(&file, base_ms, times.disconnect);
    for reason in &skipped {
        tracing::debug!("skipped: {reason}");
    }
    if !skipped.is_empty() {
        tracing::warn!(
            skipped = skipped.len(),
            first = %skipped[0],
            "{} transcript line(s) or score(s) of contact {contact_id} skipped (first: {})",
            skipped.len(),
            skipped[0]
        );
    }
    let summary = |result: &str, batches: usize| {
        json!({
            "result": result, "contactId": contact_id, "vendorCallKey": vendor_call_key, "events": events.len(),
            "batches": batches, "skipped": skipped.len(), "timingFrom": base_from
        })
    };
    if events.is_empty() {
        tracing::info!("no post-call signals for contact {contact_id}");
        return Ok(summary("NoSignals", 0));
    }

    let batches = events.len().div_ceil(MAX_EVENTS_PER_REQUEST);
    let record = ProgressRecord { bucket, key: progress_key(key), contact_id: &contact_id };
    let mut progress = tokio::time::timeout(invocation.remaining(), record.read(key, &vendor_call_key, deps))
        .await
        .map_err(|_| record.error("reading", out_of_time(), true))??;
    let mut sent = 0;
    let mut already = 0;
    for (index, chunk) in events.chunks(MAX_EVENTS_PER_REQUEST).enumerate() {
        let request = ConversationEvents { service: SERVICE.into(), events: chunk.to_vec(), persist: None };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let batch_fingerprint = fingerprint(&vendor_call_key, &body);
        if progress.is_acknowledged(&batch_fingerprint) {
            tracing::info!(batch = index + 1, "batch {} of {batches} was stored by an earlier delivery", index + 1);
            already += chunk.len();
            continue;
        }
        let deadline = Deadline::for_invocation(lambda_deadline, deps.budget);
        match deps.telephony.store_post_call_events(&vendor_call_key, &request, deadline).await {
            Ok(_) => {
                sent += chunk.len();
                progress.acknowledge(batch_fingerprint);
                tokio::time::timeout(invocation.remaining(), record.write(&progress, deps))
                    .await
                    .map_err(|_| record.error("writing", out_of_time(), true))??;
            }
            Err(e) if e.status() == Some(404) && sent + already == 0 => {
                tracing::warn!(
                    error = %e,
                    "Salesforce has no conversation for contact {contact_id} (vendor call key {vendor_call_key}); its post-call signals are not stored"
                );
                return Ok(summary("NoVoiceCall", 0));
            }
            Err(source) => {
                return Err(TriggerError::Salesforce {
                    contact_id: contact_id.clone(),
                    batch: index + 1,
                    batches,
                    sent: sent + already,
                    total: events.len(),
                    source,
                });
            }
        }
    }
    tracing::info!(
        events = events.len(),
        batches,
        alreadyStored = already,
        vendorCallKey = %vendor_call_key,
        "stored {} post-call event(s) for contact {contact_id} in {batches} request(s)",
        events.len()
    );
    Ok(summary("Success", batches))
}

/// Where the progress record of one analysis file lives ([`progress`]).
struct ProgressRecord<'a> {
    bucket: &'a str,
    key: String,
    contact_id: &'a str,
}

impl ProgressRecord<'_> {
    fn error(&self, operation: &'static str, message: String, retryable: bool) -> TriggerError {
        TriggerError::Progress {
            contact_id: self.contact_id.into(),
            operation,
            bucket: self.bucket.into(),
            key: self.key.clone(),
            message,
            retryable,
        }
    }

    /// The record, or an empty one when there is none yet. A record that cannot be read fails the
    /// invocation (retryable): posting without it could store batches twice.
    async fn read(&self, analysis_key: &str, vendor_call_key: &str, deps: &Deps) -> Result<Progress, TriggerError> {
        match deps.s3.get_object().bucket(self.bucket).key(&self.key).send().await {
            Ok(out) => {
                let bytes =
                    out.body.collect().await.map_err(|e| self.error("reading", e.to_string(), true))?.into_bytes();
                serde_json::from_slice(&bytes)
                    .map_err(|e| self.error("reading", format!("not a progress record: {e}"), false))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
            {
                Ok(Progress::new(analysis_key, vendor_call_key))
            }
            Err(e) => {
                Err(self.error("reading", aws_sdk_s3::error::DisplayErrorContext(&e).to_string(), sdk_retryable(&e)))
            }
        }
    }

    async fn write(&self, progress: &Progress, deps: &Deps) -> Result<(), TriggerError> {
        let body = serde_json::to_vec_pretty(progress).unwrap_or_default();
        deps.s3
            .put_object()
            .bucket(self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                self.error("writing", aws_sdk_s3::error::DisplayErrorContext(&e).to_string(), sdk_retryable(&e))
            })?;
        Ok(())
    }
}

async fn read_analysis(bucket: &str, key: &str, deps: &Deps) -> Result<AnalysisFile, TriggerError> {
    let read_error = |message: String, retryable: bool| TriggerError::ReadObject {
        bucket: bucket.into(),
        key: key.into(),
        message,
        retryable,
    };
    let object = deps
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| read_error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string(), sdk_retryable(&e)))?;
    let bytes =
        object.body.collect().await.map_err(|e| read_error(format!("reading the body: {e}"), true))?.into_bytes();
    parse_analysis(&bytes).map_err(|reason| TriggerError::BadFile { bucket: bucket.into(), key: key.into(), reason })
}

async fn describe_contact(contact_id: &str, instance_id: &str, deps: &Deps) -> Result<Contact, TriggerError> {
    let answer = deps.connect.describe_contact().contact_id(contact_id).instance_id(instance_id).send().await;
    let error = |message: String, retryable: bool| TriggerError::DescribeContact {
        contact_id: contact_id.into(),
        instance_id: instance_id.into(),
        message,
        retryable,
    };
    match answer {
        Ok(output) => output.contact.ok_or_else(|| error("the answer has no Contact".into(), false)),
        Err(e) => {
            let retryable = sdk_retryable(&e);
            Err(error(aws_sdk_connect::error::DisplayErrorContext(&e).to_string(), retryable))
        }
    }
}
