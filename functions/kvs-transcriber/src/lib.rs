//! kvsTranscriber: transcribes a contact's live audio with Amazon Transcribe streaming and posts every
//! final result to the VoiceCall as a transcript message (Implementation Guide ch. 6 "kvsTranscriber";
//! ch. 9 "Monitor Transcription-Related Limit Errors"; docs/functions.md#kvstranscriber).
//!
//! Invoked asynchronously by kvsConsumerTrigger with the official payload
//! ([`scv_shared::transcription::TranscriptionRequest`]). For each enabled track (`AUDIO_FROM_CUSTOMER`,
//! `AUDIO_TO_CUSTOMER`), one task reads Kinesis Video `GetMedia` from the contact's start fragment
//! through the shared streaming Matroska reader and forwards each audio block to its own Transcribe
//! streaming session as it is read (bounded channel: constant memory, however long the call). Every
//! final result becomes one `POST /voiceCalls/{contactId}/messages`, in order per track.
//!
//! Better than the official function: every final result of an event is posted (not only the first);
//! the audio starts at the contact's start fragment, so the timestamps are exact; a Salesforce 429
//! stops the call's transcription cleanly after recording `sf_realtime_transcription_status`; a
//! Transcribe or Kinesis Video failure is retried with backoff from the fragment holding the end of
//! the last posted result (nothing lost, nothing posted twice); a call longer than the function's
//! time limit is continued by an asynchronous invocation of itself that picks up at the same point.
//!
//! A request that can never be served fails at once with an error naming the field, the value and
//! the contact: a malformed stream ARN, fragment number, vocabulary name or instance ARN before any
//! call; a stream or fragment Kinesis Video does not have, or settings Transcribe refuses at the start
//! of a session (`BadRequestException`), without the session retries meant for failures that a
//! resumption can cure. The waits of a live call (stall timeout, session retries, continuation
//! margin) are configurable (`scv_shared::config::TranscriberConfig`, production defaults there).

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, Env, ProcessEnv, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::ids::PathId;
use scv_shared::keys::SsmClient;
use scv_shared::retry::{Deadline, RetryPolicy};
use scv_shared::scrt::TelephonyClient;
use scv_shared::transcription::{SettingError, TranscriptionRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

mod track;

pub use track::{FinalResult, TrackEnd, TrackKind, TrackOutcome, finals_of_medical, finals_of_standard, session_id};

/// The `category` of every log line.
pub const CATEGORY: &str = "kvsTranscriber";
/// The contact attribute the CTR sync carries into the VoiceCall (Implementation Guide ch. 9).
pub const TRANSCRIPTION_STATUS_ATTRIBUTE: &str = "sf_realtime_transcription_status";
/// The value the official kvsTranscriber writes there.
pub const TRANSCRIPTION_LIMIT_VALUE: &str = "Exceeded Limits for creating messages in Transcription";
/// The top-level key of a continuation's payload (the official trigger never sends it).
pub const CONTINUATION_KEY: &str = "scvContinuation";

/// Tunables, with the production defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A live stream that sends nothing for this long has ended (Amazon Connect streams audio,
    /// silence and hold music included, for as long as the call lasts).
    pub stall_timeout: Duration,
    /// Audio blocks waiting for Transcribe, per track (the memory bound).
    pub audio_buffer_blocks: usize,
    /// Time kept before the invocation's deadline to stop the sessions and hand the call over.
    pub continuation_margin: Duration,
    /// How many times one call is handed over to a new invocation (15 min each).
    pub max_continuations: u32,
    /// Sessions of one track that may fail in a row (each retried with backoff) before it gives up.
    pub session_retry: RetryPolicy,
    /// The longest one message may take to post, retries included.
    pub post_budget: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_config(&scv_shared::config::TranscriberConfig::default())
    }
}

impl Settings {
    /// The settings of `config` (the waits a deployment may change: `shared::config::transcription`).
    pub fn from_config(config: &scv_shared::config::TranscriberConfig) -> Self {
        Self {
            stall_timeout: config.stall_timeout,
            audio_buffer_blocks: 16,
            continuation_margin: config.continuation_margin,
            max_continuations: 16,
            session_retry: RetryPolicy {
                max_attempts: config.session_attempts,
                base_delay: config.retry_base_delay,
                max_delay: Duration::from_secs(5),
                attempt_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(2),
            },
            post_budget: Duration::from_secs(10),
        }
    }
}

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub kvs: aws_sdk_kinesisvideo::Client,
    /// The configuration media clients are built from (one per data endpoint).
    pub media: aws_sdk_kinesisvideomedia::config::Builder,
    pub transcribe: aws_sdk_transcribestreaming::Client,
    pub connect: aws_sdk_connect::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub telephony: TelephonyClient,
    /// `AWS_LAMBDA_FUNCTION_NAME`: invoked for a continuation when the invocation names no ARN.
    pub function_name: Option<String>,
    pub settings: Settings,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let cfg = ScrtConfig::from_env(&env)?;
        let sdk = scv_shared::aws::load().await;
        let transcribe = transcribe_config(&sdk);
        Self::new(&cfg, &env, &sdk, transcribe)
    }

    /// `sdk` configures Kinesis Video, Connect, Lambda and SSM; `transcribe` the streaming client.
    pub fn new(
        cfg: &ScrtConfig,
        env: &dyn Env,
        sdk: &scv_shared::aws::SdkConfig,
        transcribe: aws_sdk_transcribestreaming::Config,
    ) -> Result<Self, ConfigError> {
        let http = scv_shared::aws::http_client();
        let config = scv_shared::config::TranscriberConfig::from_env(env)?;
        Ok(Self {
            kvs: aws_sdk_kinesisvideo::Client::new(sdk),
            media: media_config(sdk),
            transcribe: aws_sdk_transcribestreaming::Client::from_conf(transcribe),
            connect: aws_sdk_connect::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            telephony: TelephonyClient::from_config(cfg, SsmClient::new(sdk), http, env),
            settings: Settings::from_config(&config),
            function_name: config.function_name,
        })
    }
}

/// The media clients' configuration: timeouts until the response headers only; the body is read
/// for as long as the call lasts, bounded by the stall timeout and the invocation's deadline.
pub fn media_config(sdk: &scv_shared::aws::SdkConfig) -> aws_sdk_kinesisvideomedia::config::Builder {
    use aws_sdk_kinesisvideomedia::config::timeout::TimeoutConfig;
    aws_sdk_kinesisvideomedia::config::Builder::from(sdk).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(12))
            .build(),
    )
}

/// The Transcribe streaming client's configuration from the shared one: no operation timeout (a
/// session lasts as long as the call) and no SDK retries (a failed session is resumed by the
/// function from the right fragment instead).
pub fn transcribe_config(sdk: &scv_shared::aws::SdkConfig) -> aws_sdk_transcribestreaming::Config {
    use aws_sdk_transcribestreaming::config::retry::RetryConfig;
    use aws_sdk_transcribestreaming::config::timeout::TimeoutConfig;
    aws_sdk_transcribestreaming::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .disable_operation_timeout()
                .disable_operation_attempt_timeout()
                .build(),
        )
        .retry_config(RetryConfig::disabled())
        .build()
}

/// Why an invocation failed; every message names the contact.
#[derive(Debug, Error)]
pub enum TranscriberError {
    #[error("the event is not a kvsTranscriber request: {0}")]
    BadEvent(String),
    #[error("{source} (contact {contact})")]
    Setting { source: SettingError, contact: String },
    #[error("{0}")]
    BadContactId(#[from] scv_shared::ids::IdError),
    #[error("contact {contact}: {detail}")]
    Failed { contact: String, detail: String },
    #[error("contact {contact}: the call could not be handed over to a new invocation of {function}: {reason}")]
    Continuation { contact: String, function: String, reason: String },
}

impl TranscriberError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TranscriberError::BadEvent(_) | TranscriberError::Setting { .. } => ErrorKind::InvalidEvent,
            TranscriberError::BadContactId(e) => e.kind(),
            TranscriberError::Failed { .. } | TranscriberError::Continuation { .. } => ErrorKind::AwsUnavailable,
        }
    }
}

scv_shared::diagnostic!(TranscriberError);

/// Where a track resumes: in a continuation, or after a failed session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackResume {
    /// The fragment the next `GetMedia` starts with.
    pub fragment: String,
    /// Milliseconds of the track's audio before that fragment, from the audio start timestamp.
    pub fragment_offset_ms: u64,
    /// Where the last posted result ends (ms from the audio start): a result ending there or
    /// before was posted already and is not posted again.
    pub posted_until_ms: u64,
}

/// What a continuation carries: the tracks still open, where each resumes, and how many
/// invocations came before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<TrackResume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<TrackResume>,
    pub invocation: u32,
}

/// The invocation payload: the official request, plus this function's continuation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriberEvent {
    #[serde(flatten)]
    pub request: TranscriptionRequest,
    #[serde(rename = "scvContinuation", default, skip_serializing_if = "Option::is_none")]
    pub continuation: Option<Continuation>,
}

/// One invocation's limits: when to hand the call over, and to which function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Sessions stop here and the call is handed over.
    pub continue_at: Deadline,
    /// The function (ARN, alias ARN or name) a continuation invokes.
    pub function: Option<String>,
}

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, TranscriberError> {
    let (payload, context) = event.into_parts();
    let left = context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO);
    let continue_at = Deadline::after(left.saturating_sub(deps.settings.continuation_margin));
    let function = Some(context.invoked_function_arn.clone()).filter(|a| !a.is_empty()).or(deps.function_name.clone());
    let invocation = Invocation { continue_at, function };
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, &invocation, deps).instrument(span).await
}

/// The testable handler: transcribes every open track until the call ends, the transcription is
/// stopped by a Salesforce limit, or `continue_at`, when the call is handed over.
pub async fn handle(payload: Value, invocation: &Invocation, deps: &Deps) -> Result<Value, TranscriberError> {
    let event = decode_event(&payload)?;
    let contact = event.request.voice_call_id.clone();
    tracing::Span::current().record("contactId", contact.as_str());
    let request = event
        .request
        .clone()
        .validate()
        .map_err(|source| TranscriberError::Setting { source, contact: contact.clone() })?;
    PathId::parse("voiceCallId", &contact)?;
    // A stream, fragment, vocabulary or instance that can never be served fails now, not after retries.
    request.check_references().map_err(|source| TranscriberError::Setting { source, contact: contact.clone() })?;
    if let Some(c) = &event.continuation {
        let resumes =
            [("scvContinuation.customer.fragment", &c.customer), ("scvContinuation.agent.fragment", &c.agent)];
        for (field, resume) in resumes {
            if let Some(resume) = resume {
                scv_shared::transcription::fragment_number(field, &resume.fragment)
                    .map_err(|source| TranscriberError::Setting { source, contact: contact.clone() })?;
            }
        }
    }
    let audio_start_ms: i64 = request.audio_start_timestamp.trim().parse().map_err(|_| {
        TranscriberError::BadEvent(format!(
            "audioStartTimestamp {:?} is not epoch milliseconds (contact {contact})",
            request.audio_start_timestamp
        ))
    })?;
    let invocation_number = event.continuation.as_ref().map_or(0, |c| c.invocation);
    let start = |kind: TrackKind| -> Option<TrackResume> {
        match &event.continuation {
            Some(c) => match kind {
                TrackKind::Customer => c.customer.clone(),
                TrackKind::Agent => c.agent.clone(),
            },
            None => {
                let enabled = match kind {
                    TrackKind::Customer => request.stream_audio_from_customer,
                    TrackKind::Agent => request.stream_audio_to_customer,
                };
                enabled.then(|| TrackResume {
                    fragment: request.start_fragment_num.clone(),
                    fragment_offset_ms: 0,
                    posted_until_ms: 0,
                })
            }
        }
    };
    tracing::info!(
        contactId = %contact,
        invocation = invocation_number,
        customer = start(TrackKind::Customer).is_some(),
        agent = start(TrackKind::Agent).is_some(),
        "transcription started"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ctx =
        track::Context { deps, request: &request, audio_start_ms, continue_at: invocation.continue_at, stop: stop_tx };
    let customer = async {
        match start(TrackKind::Customer) {
            Some(resume) => Some(track::run(&ctx, TrackKind::Customer, resume, stop_rx.clone()).await),
            None => None,
        }
    };
    let agent = async {
        match start(TrackKind::Agent) {
            Some(resume) => Some(track::run(&ctx, TrackKind::Agent, resume, stop_rx.clone()).await),
            None => None,
        }
    };
    let (customer, agent) = tokio::join!(customer, agent);

    let mut summary = json!({"result": "Success", "contactId": contact, "invocation": invocation_number});
    let mut failures = Vec::new();
    let mut continuation = Continuation { customer: None, agent: None, invocation: invocation_number + 1 };
    for (kind, outcome) in [(TrackKind::Customer, customer), (TrackKind::Agent, agent)] {
        let Some(outcome) = outcome else { continue };
        summary[kind.key()] = json!({"messages": outcome.posted, "end": outcome.end.label()});
        match outcome.end {
            TrackEnd::Continue(resume) => match kind {
                TrackKind::Customer => continuation.customer = Some(resume),
                TrackKind::Agent => continuation.agent = Some(resume),
            },
            TrackEnd::Failed(detail) => failures.push(format!("{}: {detail}", kind.track())),
            TrackEnd::CallEnded | TrackEnd::Limit | TrackEnd::Stopped => {}
        }
    }
    if continuation.customer.is_some() || continuation.agent.is_some() {
        continue_call(&event.request, continuation, invocation, deps).await?;
        summary["result"] = json!("Continued");
    }
    if !failures.is_empty() {
        return Err(TranscriberError::Failed { contact, detail: failures.join("; ") });
    }
    tracing::info!(contactId = %contact, summary = %summary, "transcription ended");
    Ok(summary)
}

/// The invocation payload, decoded part by part so that an error names the field by its path
/// (`streamARN`, `scvContinuation.customer.fragment`) and the contact when the payload names a valid one.
fn decode_event(payload: &Value) -> Result<TranscriberEvent, TranscriberError> {
    let contact = payload
        .get("voiceCallId")
        .and_then(Value::as_str)
        .filter(|c| PathId::parse("voiceCallId", c).is_ok())
        .map(|c| format!(" (contact {c})"))
        .unwrap_or_default();
    let bad = |e: String| TranscriberError::BadEvent(format!("{e}{contact}"));
    let request: TranscriptionRequest = scv_shared::error::decode_json(payload).map_err(bad)?;
    let continuation = match payload.get(CONTINUATION_KEY) {
        None | Some(Value::Null) => None,
        Some(value) => Some(scv_shared::error::decode_json_at(value, CONTINUATION_KEY).map_err(bad)?),
    };
    Ok(TranscriberEvent { request, continuation })
}

/// Hands the open tracks over to a new asynchronous invocation of this function.
async fn continue_call(
    request: &TranscriptionRequest,
    continuation: Continuation,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<(), TranscriberError> {
    let contact = request.voice_call_id.clone();
    let function = invocation.function.clone().unwrap_or_default();
    let failed = |reason: String| TranscriberError::Continuation {
        contact: contact.clone(),
        function: function.clone(),
        reason,
    };
    if function.is_empty() {
        return Err(failed("the invocation names no function to continue in".into()));
    }
    if continuation.invocation > deps.settings.max_continuations {
        return Err(failed(format!(
            "the call has been handed over {} times already (the limit)",
            deps.settings.max_continuations
        )));
    }
    let event = TranscriberEvent { request: request.clone(), continuation: Some(continuation.clone()) };
    // The margin kept before the deadline for the handover bounds the invoke.
    let deadline = Deadline::after(deps.settings.continuation_margin);
    scv_shared::invoke::invoke_async(&deps.lambda, &function, &event, deadline)
        .await
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!(
        contactId = %contact,
        invocation = continuation.invocation,
        customerFragment = continuation.customer.as_ref().map(|r| r.fragment.as_str()),
        agentFragment = continuation.agent.as_ref().map(|r| r.fragment.as_str()),
        "the call continues in a new invocation"
    );
    Ok(())
}
