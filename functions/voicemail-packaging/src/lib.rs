//! VoiceMailPackaging: a voicemail transcript written to `voicemail_transcripts/` (EventBridge S3
//! "Object Created") to a VoiceCall a rep can play, read and receive (Implementation Guide ch. 2 "Enable
//! Voicemail Support" step 4, ch. 6 "VoiceMailPackagingFunction"; Partner Telephony Developer Guide "Send Voicemails to
//! Agents", "Sample Sequence of Operations"; docs/functions.md#voicemailpackaging).
//!
//! The documented sequence, straight to the Telephony Integration API (no Lambda hop), or, with
//! only the official `invoke_telephony_integration_api_arn` set, through InvokeTelephonyIntegrationApi
//! (`updateVoiceCall`, `sendMessage`, `executeOmniFlow`), whose `FunctionError` or error answer
//! fails the step (docs/migrating.md#two-wirings):
//! 1. Update a Voice Call Record: `callOrigin` Voicemail, `isActiveCall` true, `fromNumber` (the
//!    caller, tag `vm_from`) and `toNumber` (the dialed number), the recording's location and
//!    duration, start and end time (Update creates the call when it is unknown).
//! 2. Create a Transcript: the transcript as one END_USER message stamped with real epoch
//!    milliseconds inside the call window (the official function sent the year: docs/differences.md#voicemail-packaging-once).
//! 3. Execute an Omni-Channel Flow with the dialed number (after `delay_before_routing_vm_sec`, once).
//! 4. Update a Voice Call Record: `isActiveCall` false, which completes the conversation.
//! 5. Delete the Transcribe job.
//!
//! Each step that succeeds is recorded in `voicemail_packaged/<ContactId>.json` before the next one
//! starts, so a repeated event (EventBridge and Lambda deliver at least once) or a retried failure
//! repeats nothing already done: one message, one routing. A step that still fails after its own
//! retries fails the invocation, and Lambda's asynchronous retries finish the work.
//!
//! Routing is the one step a repeat would visibly duplicate (a second Omni-Channel flow for the same
//! voicemail), and the Telephony Integration API gives no way to read whether a call was routed. So
//! the intent is recorded first (`routingRequested` in the progress record) and the outcome checked
//! on replay: a record with the intent and no `routed` means an earlier invocation sent the routing
//! request and stopped before recording its answer (its progress write failed, or it ran out of
//! time); the replay does not route again and records `routed` as assumed, with a WARN naming the
//! contact (issue 13 item 2; docs/functions.md#voicemailpackaging). When Salesforce answered the
//! routing request with an error (or routing never started), the intent is withdrawn and the retry
//! routes.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::aws::sdk_retryable;
use scv_shared::config::invoke::{INVOKE_TELEPHONY_INTEGRATION_API_ARN, INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER};
use scv_shared::config::{ConfigError, Env, PackagingConfig, ProcessEnv};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{ExecuteOmniFlow, ScrtError, TranscriptMessage};
use scv_shared::voicemail::{
    EventError, RecordingTags, TRANSCRIPTS_PREFIX, TagError, contact_of, created_object, packaged_key, recording_key,
    tag, transcript_text, transcription_job_name,
};
use scv_shared::wiring::Telephony;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "voiceMailPackaging";
/// `delay_before_routing_vm_sec` is capped here: no multi-minute sleeps inside the Lambda.
pub const MAX_ROUTING_DELAY: Duration = Duration::from_secs(120);

/// The steps, in order, as named in the progress record.
pub const STEPS: [&str; 5] = ["voiceCallUpdated", "transcriptPosted", "routed", "closed", "transcriptionJobDeleted"];

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub transcribe: aws_sdk_transcribe::Client,
    /// Salesforce directly, or InvokeTelephonyIntegrationApi (the official wiring).
    pub telephony: Telephony,
    /// `SCRT_DEADLINE_MS` (`INVOKE_DEADLINE_MS` through a function): one operation, retries included.
    pub step_budget: Duration,
    /// `delay_before_routing_vm_sec` (default 60, at most [`MAX_ROUTING_DELAY`]).
    pub routing_delay: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Self::new(&ProcessEnv, &sdk, scv_shared::aws::s3_client(&sdk), aws_sdk_transcribe::Client::new(&sdk))
    }

    /// The Lambda client of the official wiring comes from `sdk`.
    pub fn new(
        env: &dyn Env,
        sdk: &scv_shared::aws::SdkConfig,
        s3: aws_sdk_s3::Client,
        transcribe: aws_sdk_transcribe::Client,
    ) -> Result<Self, ConfigError> {
        let variables = [INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER, INVOKE_TELEPHONY_INTEGRATION_API_ARN];
        let (telephony, step_budget) = Telephony::from_env(env, &variables, sdk, SsmClient::new(sdk))?;
        let delay = PackagingConfig::from_env(env)?.routing_delay.min(MAX_ROUTING_DELAY);
        Ok(Self { s3, transcribe, telephony, step_budget, routing_delay: delay })
    }
}

#[derive(Debug, Error)]
pub enum PackagingError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("contact {contact_id}: {operation} s3://{bucket}/{key}: {message}")]
    S3 { contact_id: String, operation: &'static str, bucket: String, key: String, message: String, retryable: bool },
    #[error("contact {contact_id}: s3://{bucket}/{key} is not an Amazon Transcribe output: {message}")]
    Transcript { contact_id: String, bucket: String, key: String, message: String },
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("contact {contact_id}: step {step}: {source}")]
    Salesforce { contact_id: String, step: &'static str, source: ScrtError },
    #[error("contact {contact_id}: Omni-Channel routing of dialed number {dialed_number} failed: {errors}")]
    Routing { contact_id: String, dialed_number: String, errors: String },
    #[error("contact {contact_id}: deleting transcription job {job}: {message}")]
    Transcribe { contact_id: String, job: String, message: String, retryable: bool },
}

impl PackagingError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PackagingError::Event(_) => ErrorKind::InvalidEvent,
            PackagingError::S3 { retryable, .. } | PackagingError::Transcribe { retryable, .. } => {
                ErrorKind::aws(*retryable)
            }
            PackagingError::Transcript { .. } | PackagingError::Tag(_) => ErrorKind::InvalidEvent,
            PackagingError::Salesforce { source, .. } if source.is_limit() => ErrorKind::LimitExceeded,
            PackagingError::Salesforce { source, .. } => ErrorKind::salesforce(source.is_retryable()),
            // Omni-Channel answered with errors (e.g. no destination for the dialed number).
            PackagingError::Routing { .. } => ErrorKind::SalesforceError,
        }
    }
}

scv_shared::diagnostic!(PackagingError);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Every step is done (some perhaps by an earlier invocation).
    Delivered,
    /// Every step had been done before this event.
    AlreadyDelivered,
    /// Not a transcript (e.g. Transcribe's write-access check object).
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// Steps done by this invocation.
    pub done: Vec<String>,
    /// Steps an earlier invocation had done.
    pub already_done: Vec<String>,
}

/// The progress record `voicemail_packaged/<ContactId>.json`: each step with when it was done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub contact_id: String,
    pub steps: BTreeMap<String, String>,
    /// When the routing request was about to be sent: set before the request, replaced by the
    /// `routed` step once its answer is recorded, withdrawn when Salesforce answered an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_requested: Option<String>,
}

impl Progress {
    fn done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }
}

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Output, PackagingError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let contact = created_object(&payload)
        .ok()
        .and_then(|o| contact_of(&o.key, TRANSCRIPTS_PREFIX, ".json").map(str::to_string))
        .unwrap_or_default();
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = %contact);
    handle(&payload, deadline, deps).instrument(span).await.inspect_err(|e| {
        tracing::error!(error = %e, errorType = e.kind().as_str(), "voicemail not delivered yet; the invocation fails and is retried");
    })
}

/// What the packaging works from, read once per invocation.
struct Voicemail {
    contact_id: String,
    bucket: String,
    tags: RecordingTags,
    transcript: String,
}

/// The testable handler.
pub async fn handle(event: &Value, deadline: Deadline, deps: &Deps) -> Result<Output, PackagingError> {
    let object = created_object(event)?;
    let Some(contact_id) = contact_of(&object.key, TRANSCRIPTS_PREFIX, ".json") else {
        tracing::info!(
            key = object.key.as_str(),
            "not a voicemail transcript (voicemail_transcripts/<ContactId>.json): ignored"
        );
        return Ok(Output { status: Status::Ignored, contact_id: None, done: vec![], already_done: vec![] });
    };
    let contact_id = contact_id.to_string();
    let mut progress = read_progress(deps, &object.bucket, &contact_id).await?;
    let mut already_done: Vec<String> =
        STEPS.iter().filter(|s| progress.done(s)).map(std::string::ToString::to_string).collect();
    if already_done.len() == STEPS.len() {
        tracing::info!("voicemail already delivered: nothing to do (a repeated event)");
        return Ok(Output {
            status: Status::AlreadyDelivered,
            contact_id: Some(contact_id),
            done: vec![],
            already_done,
        });
    }
    let voicemail = read_voicemail(deps, &object.bucket, &object.key, &contact_id).await?;
    let mut done = Vec::new();
    for step in STEPS {
        if progress.done(step) {
            continue;
        }
        if step == ROUTED {
            if let Some(requested) = progress.routing_requested.take() {
                tracing::warn!(
                    requestedAt = requested.as_str(),
                    "contact {contact_id}: an earlier invocation sent the routing request at {requested} and stopped before recording its answer; not routing again (check the VoiceCall's routing if the voicemail reached no rep)"
                );
                progress.steps.insert(step.to_string(), format!("assumed: requested at {requested}"));
                write_progress(deps, &voicemail.bucket, &progress).await?;
                already_done.push(step.to_string());
                continue;
            }
            progress.routing_requested = Some(now());
            write_progress(deps, &voicemail.bucket, &progress).await?;
            if let Err(e) = run_step(step, &voicemail, deadline, deps).await {
                if routing_answered_error(&e) {
                    progress.routing_requested = None;
                    if let Err(w) = write_progress(deps, &voicemail.bucket, &progress).await {
                        tracing::warn!(error = %w, "contact {contact_id}: withdrawing the routing intent failed; a retry will not route again");
                    }
                }
                return Err(e);
            }
            progress.routing_requested = None;
        } else {
            run_step(step, &voicemail, deadline, deps).await?;
        }
        progress.steps.insert(step.to_string(), now());
        write_progress(deps, &voicemail.bucket, &progress).await?;
        tracing::info!(step, "voicemail step done");
        done.push(step.to_string());
    }
    tracing::info!(steps = done.len(), "voicemail delivered");
    Ok(Output { status: Status::Delivered, contact_id: Some(contact_id), done, already_done })
}

/// The routing step, the one a repeat duplicates (see the module documentation).
const ROUTED: &str = "routed";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether the routing step failed on an answer that says it was not carried out, so a retry may
/// route: Omni-Channel's error answer, a Salesforce error status or limit, a key or input problem
/// before sending, or (official wiring) InvokeTelephonyIntegrationApi reporting the failure it got.
/// A transport failure, a deadline, an unreachable function or an answer that cannot be read may
/// come after Salesforce routed: the intent stays and the replay does not route again.
fn routing_answered_error(e: &PackagingError) -> bool {
    use scv_shared::invoke::InvokeError;
    match e {
        PackagingError::Routing { .. } | PackagingError::Tag(_) => true,
        PackagingError::Salesforce { source, .. } => match source {
            ScrtError::Status { .. } | ScrtError::Limit { .. } | ScrtError::Key { .. } | ScrtError::Invalid { .. } => {
                true
            }
            ScrtError::Function { source, .. } => {
                matches!(**source, InvokeError::FunctionError { .. } | InvokeError::ErrorAnswer { .. })
            }
            ScrtError::Transport { .. } | ScrtError::Deadline { .. } | ScrtError::Decode { .. } => false,
        },
        _ => false,
    }
}

async fn read_progress(deps: &Deps, bucket: &str, contact_id: &str) -> Result<Progress, PackagingError> {
    let key = packaged_key(contact_id);
    let s3_error = |message: String, retryable: bool| PackagingError::S3 {
        contact_id: contact_id.to_string(),
        operation: "reading",
        bucket: bucket.to_string(),
        key: key.clone(),
        message,
        retryable,
    };
    match deps.s3.get_object().bucket(bucket).key(&key).send().await {
        Ok(out) => {
            let bytes = out.body.collect().await.map_err(|e| s3_error(e.to_string(), true))?.into_bytes();
            serde_json::from_slice(&bytes).map_err(|e| s3_error(format!("not a progress record: {e}"), false))
        }
        Err(e)
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
        {
            Ok(Progress { contact_id: contact_id.to_string(), ..Progress::default() })
        }
        Err(e) => Err(s3_error(error_text(&e), sdk_retryable(&e))),
    }
}

async fn write_progress(deps: &Deps, bucket: &str, progress: &Progress) -> Result<(), PackagingError> {
    let key = packaged_key(&progress.contact_id);
    let body = serde_json::to_vec_pretty(progress).unwrap_or_default();
    deps.s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| PackagingError::S3 {
            contact_id: progress.contact_id.clone(),
            operation: "writing",
            bucket: bucket.to_string(),
            key,
            message: error_text(&e),
            retryable: sdk_retryable(&e),
        })?;
    Ok(())
}

/// The recording's tags and the transcript text.
async fn read_voicemail(
    deps: &Deps,
    bucket: &str,
    transcript_key: &str,
    contact_id: &str,
) -> Result<Voicemail, PackagingError> {
    let recording = recording_key(contact_id);
    let s3_error = |operation: &'static str, key: &str, message: String, retryable: bool| PackagingError::S3 {
        contact_id: contact_id.to_string(),
        operation,
        bucket: bucket.to_string(),
        key: key.to_string(),
        message,
        retryable,
    };
    let tagging = deps
        .s3
        .get_object_tagging()
        .bucket(bucket)
        .key(&recording)
        .send()
        .await
        .map_err(|e| s3_error("reading the tags of", &recording, error_text(&e), sdk_retryable(&e)))?;
    let pairs: Vec<(&str, &str)> = tagging.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    let tags = RecordingTags::from_pairs(contact_id, pairs)?;
    let out = deps
        .s3
        .get_object()
        .bucket(bucket)
        .key(transcript_key)
        .send()
        .await
        .map_err(|e| s3_error("reading", transcript_key, error_text(&e), sdk_retryable(&e)))?;
    let bytes =
        out.body.collect().await.map_err(|e| s3_error("reading", transcript_key, e.to_string(), true))?.into_bytes();
    let invalid = |message: String| PackagingError::Transcript {
        contact_id: contact_id.to_string(),
        bucket: bucket.to_string(),
        key: transcript_key.to_string(),
        message,
    };
    let output: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let transcript = transcript_text(&output).map_err(invalid)?;
    Ok(Voicemail { contact_id: contact_id.to_string(), bucket: bucket.to_string(), tags, transcript })
}

/// The message window: it ends when the call ended and lasts as long as the recording (the caller
/// leaves the voicemail at the end of the call), never starting before the call did.
pub fn message_window(tags: &RecordingTags, contact_id: &str) -> Result<(i64, i64), TagError> {
    let start = tags.epoch_millis(contact_id, tag::INIT_TIMESTAMP)?;
    let end = tags.epoch_millis(contact_id, tag::END_TIMESTAMP)?;
    if end < start {
        return Err(TagError::Invalid {
            tag: tag::END_TIMESTAMP,
            contact_id: contact_id.to_string(),
            value: tags.end_timestamp.clone().unwrap_or_default(),
            reason: format!("before {} {}", tag::INIT_TIMESTAMP, tags.init_timestamp.as_deref().unwrap_or("")),
        });
    }
    let length = tags.duration_secs.map_or(end - start, |d| i64::try_from(d).unwrap_or(i64::MAX).saturating_mul(1000));
    Ok((end.saturating_sub(length).max(start), end))
}

/// The recording details both updates carry.
fn recording_fields(tags: &RecordingTags) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(url) = &tags.recording_url {
        fields.insert("recordingLocation".into(), json!(url));
    }
    if let Some(d) = tags.duration_secs {
        fields.insert("totalRecordingDuration".into(), json!(d));
    }
    fields
}

async fn run_step(step: &'static str, v: &Voicemail, deadline: Deadline, deps: &Deps) -> Result<(), PackagingError> {
    let id = v.contact_id.as_str();
    let sf = |source: ScrtError| PackagingError::Salesforce { contact_id: id.to_string(), step, source };
    let step_deadline = || Deadline::after(deps.step_budget).min(deadline);
    match step {
        "voiceCallUpdated" => {
            let mut fields = Map::new();
            fields.insert("callOrigin".into(), json!("Voicemail"));
            fields.insert("isActiveCall".into(), json!(true));
            // From and to, as the guide's VoiceMailPackagingFunction sets them (ch. 6): the caller
            // VoiceMailAudioProcessing tagged (`vm_from`) and the number the caller dialed.
            if let Some(caller) = &v.tags.caller {
                fields.insert("fromNumber".into(), json!(caller));
            }
            if let Some(dialed) = &v.tags.dialed_number {
                fields.insert("toNumber".into(), json!(dialed));
            }
            fields.extend(recording_fields(&v.tags));
            fields.insert("startTime".into(), json!(v.tags.require(id, tag::INIT_TIMESTAMP)?));
            fields.insert("endTime".into(), json!(v.tags.require(id, tag::END_TIMESTAMP)?));
            deps.telephony.update_voice_call(id, &fields, step_deadline()).await.map_err(sf)?;
        }
        "transcriptPosted" => {
            if v.transcript.is_empty() {
                tracing::warn!("the transcript is empty (no speech recognised): no message is posted");
                return Ok(());
            }
            let (start_time, end_time) = message_window(&v.tags, id)?;
            let message = TranscriptMessage {
                participant_id: "END_USER".into(),
                message_id: id.to_string(),
                start_time,
                end_time,
                content: v.transcript.clone(),
                sender_type: "END_USER".into(),
            };
            tracing::debug!(characters = v.transcript.chars().count(), "posting the transcript");
            deps.telephony.create_transcript(id, &message, step_deadline()).await.map_err(sf)?;
        }
        "routed" => {
            let dialed_number = v.tags.require(id, tag::DIALED_NUMBER)?.to_string();
            let reserve = deps.step_budget.saturating_mul(3);
            let wait = deps.routing_delay.min(deadline.remaining().saturating_sub(reserve));
            if !wait.is_zero() {
                tracing::info!(seconds = wait.as_secs_f64(), "waiting before routing (delay_before_routing_vm_sec)");
                tokio::time::sleep(wait).await;
            }
            let request = ExecuteOmniFlow { dialed_number: Some(dialed_number.clone()), ..Default::default() };
            let answer = deps.telephony.execute_omni_flow(id, &request, step_deadline()).await.map_err(sf)?;
            let failed = match &answer.errors {
                None | Some(Value::Null) => false,
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            };
            if failed {
                let errors = answer.errors.as_ref().map(Value::to_string).unwrap_or_default();
                return Err(PackagingError::Routing { contact_id: id.to_string(), dialed_number, errors });
            }
            tracing::info!(
                agent = answer.agent.as_deref().unwrap_or(""),
                queue = answer.queue.as_deref().unwrap_or(""),
                "voicemail routed by Omni-Channel"
            );
        }
        "closed" => {
            let mut fields = recording_fields(&v.tags);
            fields.insert("isActiveCall".into(), json!(false));
            deps.telephony.update_voice_call(id, &fields, step_deadline()).await.map_err(sf)?;
        }
        _ => {
            let job = transcription_job_name(id);
            match deps.transcribe.delete_transcription_job().transcription_job_name(&job).send().await {
                Ok(_) => {}
                Err(e) if is_missing_job(&e) => {
                    tracing::info!(job = job.as_str(), "the transcription job was already deleted");
                }
                Err(e) => {
                    return Err(PackagingError::Transcribe {
                        contact_id: id.to_string(),
                        job,
                        message: error_text(&e),
                        retryable: sdk_retryable(&e),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Transcribe answers BadRequestException "The requested job couldn't be found" for a deleted job.
fn is_missing_job<R>(
    e: &aws_sdk_transcribe::error::SdkError<
        aws_sdk_transcribe::operation::delete_transcription_job::DeleteTranscriptionJobError,
        R,
    >,
) -> bool {
    use aws_sdk_transcribe::operation::delete_transcription_job::DeleteTranscriptionJobError as E;
    match e.as_service_error() {
        Some(E::BadRequestException(b)) => {
            let message = b.message().unwrap_or_default().to_ascii_lowercase();
            message.contains("couldn't be found") || message.contains("not found") || message.contains("does not exist")
        }
        _ => false,
    }
}

fn error_text<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(init: &str, end: &str, duration: Option<u64>) -> RecordingTags {
        RecordingTags {
            init_timestamp: Some(init.into()),
            end_timestamp: Some(end.into()),
            duration_secs: duration,
            ..Default::default()
        }
    }

    #[test]
    fn the_message_window_is_real_epoch_milliseconds_inside_the_call() {
        let init = 1_704_397_759_000; // 2024-01-04T19:49:19Z
        let end = 1_704_397_807_000; // 2024-01-04T19:50:07Z
        let cases =
            [(Some(5), (end - 5000, end)), (None, (init, end)), (Some(600), (init, end)), (Some(0), (end, end))];
        for (duration, expected) in cases {
            let window = message_window(&tags("2024-01-04T19:49:19Z", "2024-01-04T19:50:07Z", duration), "c");
            assert_eq!(window, Ok(expected), "{duration:?}");
            let (start, stop) = expected;
            assert!(start >= init && stop <= end && start > 1_000_000_000_000, "never the year");
        }
    }

    #[test]
    fn bad_window_tags_name_the_tag() {
        let err = message_window(&tags("2024-01-04T19:50:07Z", "2024-01-04T19:49:19Z", None), "c-1").unwrap_err();
        assert!(err.to_string().contains("vm_endTimestamp") && err.to_string().contains("c-1"), "{err}");
        let err = message_window(&tags("2024", "2024-01-04T19:49:19Z", None), "c-1").unwrap_err();
        assert!(err.to_string().contains("vm_initTimestamp"), "{err}");
        let missing = RecordingTags::default();
        assert!(message_window(&missing, "c-1").unwrap_err().to_string().contains("is missing"));
    }
}
