//! VoiceMailTranscribe: a voicemail recording written to `voicemail_recordings/` (EventBridge S3
//! "Object Created") to one Amazon Transcribe job (Implementation Guide ch. 2 "Enable Voicemail Support" step 3,
//! ch. 6 "VoiceMailTranscribeFunction Lambda Function"; docs/functions.md#voicemailtranscribe).
//!
//! The job reads the recording's tags (`vm_lang`, default en-US), transcribes the WAV at 8000 Hz and
//! writes Amazon Transcribe's JSON to `voicemail_transcripts/<ContactId>.json` in the same bucket,
//! which triggers VoiceMailPackaging. The job name is the contact id, so a duplicate event cannot
//! start a second job: a conflict with a job for the same recording is a success. Every other
//! failure fails the invocation, so Lambda's asynchronous retries (and its on-failure destination)
//! take over; the official function logged and swallowed them (docs/differences.md#voicemail-transcription-errors).

use aws_sdk_transcribe::error::ProvideErrorMetadata;
use aws_sdk_transcribe::operation::start_transcription_job::StartTranscriptionJobError;
use aws_sdk_transcribe::types::{LanguageCode, Media, MediaFormat};
use lambda_runtime::LambdaEvent;
use scv_shared::aws::sdk_retryable;
use scv_shared::config::ConfigError;
use scv_shared::error::ErrorKind;
use scv_shared::voicemail::{
    EventError, RECORDINGS_PREFIX, RecordingTags, TagError, contact_of, created_object, transcript_key,
    transcription_job_name,
};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "voiceMailTranscribe";
/// Amazon Connect audio, as the recordings are written.
pub const SAMPLE_RATE_HZ: i32 = 8000;

/// Built once at cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub transcribe: aws_sdk_transcribe::Client,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Ok(Self::new(scv_shared::aws::s3_client(&sdk), aws_sdk_transcribe::Client::new(&sdk)))
    }

    pub fn new(s3: aws_sdk_s3::Client, transcribe: aws_sdk_transcribe::Client) -> Self {
        Self { s3, transcribe }
    }
}

#[derive(Debug, Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("contact {contact_id}: reading the tags of s3://{bucket}/{key}: {message}")]
    Tags { contact_id: String, bucket: String, key: String, message: String, retryable: bool },
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("contact {contact_id}: starting transcription job {job} (vm_lang {language}): {message}")]
    Start { contact_id: String, job: String, language: String, message: String, retryable: bool },
    #[error(
        "contact {contact_id}: vm_lang {language:?} is not an Amazon Transcribe batch language code (e.g. en-US, es-US)"
    )]
    Language { contact_id: String, language: String },
    #[error("contact {contact_id}: transcription job {job} already exists for another recording ({media})")]
    OtherMedia { contact_id: String, job: String, media: String },
}

impl TranscribeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TranscribeError::Event(_) => ErrorKind::InvalidEvent,
            TranscribeError::Tags { retryable, .. } | TranscribeError::Start { retryable, .. } => {
                ErrorKind::aws(*retryable)
            }
            TranscribeError::Tag(_) | TranscribeError::Language { .. } => ErrorKind::InvalidEvent,
            // Amazon Transcribe holds a job of this name for another recording: retrying will not change it.
            TranscribeError::OtherMedia { .. } => ErrorKind::AwsError,
        }
    }
}

scv_shared::diagnostic!(TranscribeError);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// A job was started.
    Started,
    /// The job of this recording already exists (a duplicate event).
    AlreadyStarted,
    /// Not a voicemail recording (e.g. another object under the prefix).
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Output, TranscribeError> {
    let (payload, context) = event.into_parts();
    let contact = created_object(&payload)
        .ok()
        .and_then(|o| contact_of(&o.key, RECORDINGS_PREFIX, ".wav").map(str::to_string))
        .unwrap_or_default();
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = %contact);
    handle(&payload, deps)
        .instrument(span)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "voicemail not transcribed; the invocation fails and is retried"))
}

/// The testable handler.
pub async fn handle(event: &Value, deps: &Deps) -> Result<Output, TranscribeError> {
    let object = created_object(event)?;
    let Some(contact_id) = contact_of(&object.key, RECORDINGS_PREFIX, ".wav") else {
        tracing::info!(
            key = object.key.as_str(),
            "not a voicemail recording (voicemail_recordings/<ContactId>.wav): ignored"
        );
        return Ok(Output { status: Status::Ignored, contact_id: None, job_name: None, language_code: None });
    };
    let tagging = deps.s3.get_object_tagging().bucket(&object.bucket).key(&object.key).send().await.map_err(|e| {
        TranscribeError::Tags {
            contact_id: contact_id.to_string(),
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            message: error_text(&e),
            retryable: sdk_retryable(&e),
        }
    })?;
    let pairs: Vec<(&str, &str)> = tagging.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    let tags = RecordingTags::from_pairs(contact_id, pairs)?;
    let language = tags.language().to_string();
    // Only a language Amazon Transcribe's batch API knows (its `LanguageCode` values) is passed on.
    if !LanguageCode::values().contains(&language.as_str()) {
        return Err(TranscribeError::Language { contact_id: contact_id.to_string(), language });
    }
    let job = transcription_job_name(contact_id);
    let media_uri = format!("s3://{}/{}", object.bucket, object.key);
    let started = deps
        .transcribe
        .start_transcription_job()
        .transcription_job_name(&job)
        .language_code(LanguageCode::from(language.as_str()))
        .media_format(MediaFormat::Wav)
        .media_sample_rate_hertz(SAMPLE_RATE_HZ)
        .media(Media::builder().media_file_uri(&media_uri).build())
        .output_bucket_name(&object.bucket)
        .output_key(transcript_key(contact_id))
        .send()
        .await;
    let start_error = |message: String, retryable: bool| TranscribeError::Start {
        contact_id: contact_id.to_string(),
        job: job.clone(),
        language: language.clone(),
        message,
        retryable,
    };
    let status = match started {
        Ok(_) => {
            tracing::info!(job = job.as_str(), languageCode = language.as_str(), "transcription job started");
            Status::Started
        }
        Err(e) if matches!(e.as_service_error(), Some(StartTranscriptionJobError::ConflictException(_))) => {
            // The same name: a job for this contact exists. Success only if it is this recording's.
            let existing =
                deps.transcribe.get_transcription_job().transcription_job_name(&job).send().await.map_err(|e| {
                    start_error(format!("the job exists but cannot be read: {}", error_text(&e)), sdk_retryable(&e))
                })?;
            let media = existing
                .transcription_job()
                .and_then(|j| j.media())
                .and_then(|m| m.media_file_uri())
                .unwrap_or_default()
                .to_string();
            if media != media_uri {
                return Err(TranscribeError::OtherMedia { contact_id: contact_id.to_string(), job, media });
            }
            tracing::info!(
                job = job.as_str(),
                "the transcription job of this recording already exists (duplicate event)"
            );
            Status::AlreadyStarted
        }
        Err(e) => {
            let code = e.code().unwrap_or("").to_string();
            let message = error_text(&e);
            let retryable = sdk_retryable(&e);
            return Err(start_error(if code.is_empty() { message } else { format!("{code}: {message}") }, retryable));
        }
    };
    Ok(Output { status, contact_id: Some(contact_id.to_string()), job_name: Some(job), language_code: Some(language) })
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
