//! kvsConsumerTrigger: invoked from an Amazon Connect flow after "Start media streaming", it starts
//! real-time transcription of the contact by invoking kvsTranscriber asynchronously (Implementation
//! Guide ch. 6 "kvsConsumerTrigger"; ch. 2 "Set Up Call Transcription with Amazon Transcribe" and the
//! custom vocabulary section; docs/functions.md#kvsconsumertrigger).
//!
//! It reads `Details.ContactData.MediaStreams.Customer.Audio` (`StreamARN`, `StartFragmentNumber`,
//! `StartTimestamp`), `ContactId`, `InstanceARN`, `CustomerEndpoint.Address`, the contact attributes
//! `languageCode` (default `en-US`), `streamAudioFromCustomer` and `streamAudioToCustomer` (on unless
//! the string `"false"`), and the flow parameters `engine` (`standard` or `medical`), `specialty`,
//! `vocabularyName`, `vocabularyFilterName`, `vocabularyFilterMethod`. It answers
//! `{"lambdaResult": "Success"}` once Lambda has accepted the invocation. Unlike the official function,
//! which answers Success whatever happens, a contact without an audio stream, a setting Amazon
//! Transcribe would refuse, or a transcriber that cannot be invoked after bounded retries fails the
//! invocation with a message naming the contact, so the flow's error branch runs.

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, ProcessEnv, TriggerConfig};
use scv_shared::error::ErrorKind;
use scv_shared::flow::{FlowEvent, contact_label, value_text};
use scv_shared::retry::Deadline;
use scv_shared::transcription::{DEFAULT_LANGUAGE, ENGINE_STANDARD, SettingError, TranscriptionRequest};
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line.
pub const CATEGORY: &str = "kvsConsumerTrigger";
/// Invoke attempts in all (the Lambda client's standard retry mode: 5xx, throttling, no answer).
pub const INVOKE_ATTEMPTS: u32 = 3;

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub lambda: aws_sdk_lambda::Client,
    /// `INVOKE_KVS_TRANSCRIBER_ARN`.
    pub transcriber: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let cfg = TriggerConfig::from_env(&ProcessEnv)?;
        let sdk = scv_shared::aws::load().await;
        Ok(Self::new(&sdk, &cfg))
    }

    /// The Lambda client retries an invocation [`INVOKE_ATTEMPTS`] times in all, quickly: the flow
    /// waits for the answer.
    pub fn new(sdk: &scv_shared::aws::SdkConfig, cfg: &TriggerConfig) -> Self {
        use aws_sdk_lambda::config::retry::RetryConfig;
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(INVOKE_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(1)),
            )
            .build();
        Self { lambda: aws_sdk_lambda::Client::from_conf(config), transcriber: cfg.transcriber_function_arn.clone() }
    }
}

/// Why an invocation failed; every message names the contact.
#[derive(Debug, Error)]
pub enum TriggerError {
    #[error("the event is not an Amazon Connect flow event: {0}")]
    BadEvent(String),
    #[error("{field} is missing ({contact}){hint}")]
    MissingField { field: &'static str, contact: String, hint: &'static str },
    #[error("{problem} ({contact})")]
    WrongType { problem: String, contact: String },
    #[error("{source} ({contact})")]
    Setting { source: SettingError, contact: String },
    #[error(
        "kvsTranscriber {function} could not be invoked for contact {contact} after {attempts} attempt(s): {reason}"
    )]
    Invoke { function: String, contact: String, attempts: u32, reason: String, retryable: bool },
}

impl TriggerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TriggerError::BadEvent(_) | TriggerError::WrongType { .. } | TriggerError::Setting { .. } => {
                ErrorKind::InvalidEvent
            }
            TriggerError::MissingField { .. } => ErrorKind::MissingField,
            TriggerError::Invoke { retryable, .. } => ErrorKind::aws(*retryable),
        }
    }
}

scv_shared::diagnostic!(TriggerError);

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, TriggerError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), scv_shared::retry::FLOW_ANSWER_LIMIT);
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, deadline, deps).instrument(span).await
}

/// The testable handler: reads and checks the flow event, then invokes the transcriber by `deadline`.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<Value, TriggerError> {
    let deadline = deadline.for_flow();
    let request = request(payload)?;
    tracing::Span::current().record("contactId", request.voice_call_id.as_str());
    invoke(deps, &request, deadline).await?;
    tracing::info!(
        contactId = %request.voice_call_id,
        languageCode = %request.language_code,
        engine = %request.engine,
        streamAudioFromCustomer = request.stream_audio_from_customer,
        streamAudioToCustomer = request.stream_audio_to_customer,
        "real-time transcription handed to kvsTranscriber"
    );
    Ok(json!({"lambdaResult": "Success"}))
}

const AUDIO: &str = "Details.ContactData.MediaStreams.Customer.Audio";

/// The transcriber's payload from the flow event, every setting checked.
pub fn request(payload: Value) -> Result<TranscriptionRequest, TriggerError> {
    let raw = payload.clone();
    let event = FlowEvent::from_value(payload).map_err(|e| TriggerError::BadEvent(e.to_string()))?;
    let contact = || contact_label(event.contact_id().as_deref());
    // A text field the request needs: absent, or present with the wrong type, is an error naming it.
    let required = |path: &'static str, hint: &'static str| -> Result<String, TriggerError> {
        let pointer = format!("/{}", path.replace('.', "/"));
        if let Some(text) = raw.pointer(&pointer).and_then(value_text) {
            return Ok(text);
        }
        Err(match event.field_error(path, "a string") {
            Some(problem) => TriggerError::WrongType { problem, contact: contact() },
            None => TriggerError::MissingField { field: path, contact: contact(), hint },
        })
    };
    let voice_call_id = required("Details.ContactData.ContactId", "")?;
    let no_stream = ": start media streaming in the flow before this block";
    let stream_arn = required("Details.ContactData.MediaStreams.Customer.Audio.StreamARN", no_stream)?;
    let start_fragment_num =
        required("Details.ContactData.MediaStreams.Customer.Audio.StartFragmentNumber", no_stream)?;
    let audio_start_timestamp = required("Details.ContactData.MediaStreams.Customer.Audio.StartTimestamp", no_stream)?;
    let instance_arn = required("Details.ContactData.InstanceARN", "")?;
    let data = event.contact_data();
    let attribute = |name: &str| data.and_then(|d| d.attributes.get(name));
    // On unless the attribute is the string "false", as the official trigger reads it.
    let streams = |name: &str| attribute(name).and_then(Value::as_str) != Some("false");
    let setting = |source: SettingError| TriggerError::Setting { source, contact: contact() };
    let request = TranscriptionRequest {
        stream_arn,
        start_fragment_num,
        audio_start_timestamp,
        customer_phone_number: data.and_then(scv_shared::flow::ContactData::customer_address),
        voice_call_id,
        language_code: attribute("languageCode").and_then(value_text).unwrap_or_else(|| DEFAULT_LANGUAGE.into()),
        stream_audio_from_customer: streams("streamAudioFromCustomer"),
        stream_audio_to_customer: streams("streamAudioToCustomer"),
        instance_arn,
        engine: event.parameter("engine").unwrap_or_else(|| ENGINE_STANDARD.into()),
        vocabulary_name: event.parameter("vocabularyName"),
        vocabulary_filter_name: event.parameter("vocabularyFilterName"),
        vocabulary_filter_method: event.parameter("vocabularyFilterMethod"),
        specialty: event.parameter("specialty"),
    };
    if request.audio_start_timestamp.trim().parse::<i64>().is_err() {
        return Err(TriggerError::WrongType {
            problem: format!("{AUDIO}.StartTimestamp {:?} is not epoch milliseconds", request.audio_start_timestamp),
            contact: contact(),
        });
    }
    request.validate().map_err(setting)
}

async fn invoke(deps: &Deps, request: &TranscriptionRequest, deadline: Deadline) -> Result<(), TriggerError> {
    scv_shared::invoke::invoke_async(&deps.lambda, &deps.transcriber, request, deadline).await.map_err(|e| {
        TriggerError::Invoke {
            function: deps.transcriber.clone(),
            contact: request.voice_call_id.clone(),
            attempts: INVOKE_ATTEMPTS,
            retryable: e.is_retryable(),
            reason: e.to_string(),
        }
    })
}
