//! VoiceMailAudioProcessing: voicemail contact trace records from the CTR Kinesis stream to a WAV
//! of the caller's voice in S3 (Implementation Guide ch. 2 "Enable Voicemail Support", ch. 6
//! "VoiceMailAudioProcessingFunction"; docs/functions.md#voicemailaudioprocessing).
//!
//! Per record, independently: a voicemail CTR (`vm_flag` "1", `vm_lang` and `vm_from` set, a
//! Kinesis Video recording: [`Ctr::is_voicemail`], the rule CTRDataSync uses to leave it alone)
//! has the fragments `FragmentStartNumber..=FragmentStopNumber` read through `GetDataEndpoint` and
//! `GetMedia`, parsed as they arrive, the `AUDIO_FROM_CUSTOMER` track kept, reading stopped after the
//! stop fragment, and `voicemail_recordings/<ContactId>.wav` written (real sizes, tagged as the
//! official function tags it). Every other CTR is skipped; a malformed record is logged at ERROR
//! with its sequence number and counted as handled; a Kinesis Video or S3 failure is reported in
//! `batchItemFailures` so Lambda retries that record alone. A retried record overwrites the same
//! object with the same bytes and tags.

use std::time::Duration;

use aws_sdk_kinesisvideo::types::ApiName;
use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use lambda_runtime::LambdaEvent;
use scv_shared::aws::SdkConfig;
use scv_shared::config::{ConfigError, Env, ProcessEnv, RecordingsConfig};
use scv_shared::ctr::Ctr;
use scv_shared::error::ErrorKind;
use scv_shared::kinesis::{
    self, FailureReporting, KinesisEventResponse, ProcessRecords, ReadRecords, Record, RetryWholeBatch, Runner, Settle,
};
use scv_shared::matroska::{AudioExtractor, ExtractedAudio, FragmentNumber, MkvError, Progress};
use scv_shared::retry::{Deadline, RetryPolicy};
use scv_shared::voicemail::{RECORDING_CONTENT_TYPE, RecordingTags, is_safe_contact_id, recording_key};
use scv_shared::wav::{self, PcmFormat};
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "voiceMailAudioProcessing";

/// Contacts processed at once (each holds one GetMedia connection and its audio).
const CONCURRENCY: usize = 4;
/// Longest silence of a GetMedia body before the read is abandoned (and retried).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Reads of one recording, the first included.
const READ_ATTEMPTS: u32 = 3;
/// Another read of a recording starts only while the record has spent less than this share of the
/// time the invocation had left when the record started: one bad stream cannot spend the batch's
/// time (the record is reported for retry instead).
const RETRY_SHARE: f64 = 0.25;

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub kvs: aws_sdk_kinesisvideo::Client,
    /// The configuration media clients are built from (one per data endpoint).
    pub media: aws_sdk_kinesisvideomedia::config::Builder,
    pub s3: aws_sdk_s3::Client,
    /// `s3_recordings_bucket`.
    pub bucket: String,
    pub idle_timeout: Duration,
    /// `REPORT_BATCH_ITEM_FAILURES`: whether the mapping reads `batchItemFailures`.
    pub reporting: FailureReporting,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Self::new(&ProcessEnv, &sdk, scv_shared::aws::s3_client(&sdk))
    }

    /// `kvs_sdk` configures the Kinesis Video clients (`aws_region`, when set, overrides its region).
    pub fn new(env: &dyn Env, kvs_sdk: &SdkConfig, s3: aws_sdk_s3::Client) -> Result<Self, ConfigError> {
        let RecordingsConfig { bucket, region } = RecordingsConfig::from_env(env)?;
        let region = region.map(aws_sdk_kinesisvideo::config::Region::new);
        // No retries inside the SDK: `read_with_retries` decides, within the record's budget.
        let mut kvs = aws_sdk_kinesisvideo::config::Builder::from(kvs_sdk)
            .retry_config(aws_sdk_kinesisvideo::config::retry::RetryConfig::standard().with_max_attempts(1));
        let mut media = aws_sdk_kinesisvideomedia::config::Builder::from(kvs_sdk)
            .retry_config(aws_sdk_kinesisvideomedia::config::retry::RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                aws_sdk_kinesisvideomedia::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    // Until the response headers; the body is bounded by IDLE_TIMEOUT and the deadline.
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(12))
                    .build(),
            );
        if let Some(region) = region {
            kvs = kvs.region(region.clone());
            media = media.region(region);
        }
        Ok(Self {
            kvs: aws_sdk_kinesisvideo::Client::from_conf(kvs.build()),
            media,
            s3,
            bucket,
            idle_timeout: IDLE_TIMEOUT,
            reporting: FailureReporting::from_env(env)?,
        })
    }
}

#[derive(Debug, Error)]
pub enum AudioProcessingError {
    #[error("the event is not a Kinesis event: {0}")]
    NotKinesis(String),
    /// A record must be retried and the mapping does not read `batchItemFailures`.
    #[error(transparent)]
    RetryBatch(#[from] RetryWholeBatch),
}

impl AudioProcessingError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AudioProcessingError::NotKinesis(_) => ErrorKind::InvalidEvent,
            AudioProcessingError::RetryBatch(_) => ErrorKind::AwsUnavailable,
        }
    }
}

scv_shared::diagnostic!(AudioProcessingError);

/// Why reading or storing one voicemail failed; every one of these is retried.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("contact {contact_id}: Kinesis Video GetDataEndpoint for {stream}: {message}")]
    DataEndpoint { contact_id: String, stream: String, message: String },
    #[error("contact {contact_id}: Kinesis Video GetMedia for {stream} from fragment {start}: {message}")]
    GetMedia { contact_id: String, stream: String, start: String, message: String },
    /// Kinesis Video answered a server error (5xx): not read again in this invocation, the record
    /// is reported for retry at once.
    #[error("contact {contact_id}: Kinesis Video {operation} for {stream} answered HTTP {status}: {message}")]
    Unavailable { contact_id: String, stream: String, operation: &'static str, status: u16, message: String },
    #[error("contact {contact_id}: reading fragments {start}..={stop} of {stream}: {source}")]
    Media { contact_id: String, stream: String, start: String, stop: String, source: MkvError },
    #[error(
        "contact {contact_id}: the media of {stream} ended before fragment {stop} was complete (last read: {last})"
    )]
    Incomplete { contact_id: String, stream: String, stop: String, last: String },
    #[error("contact {contact_id}: no audio between fragments {start} and {stop} of {stream}")]
    NoAudio { contact_id: String, stream: String, start: String, stop: String },
    #[error("contact {contact_id}: writing s3://{bucket}/{key}: {message}")]
    S3 { contact_id: String, bucket: String, key: String, message: String },
    #[error("contact {contact_id}: the recording cannot be written as WAV: {message}")]
    Wav { contact_id: String, message: String },
}

impl RecordError {
    /// Worth another read inside this invocation: the stream or the connection failed.
    fn read_again(&self) -> bool {
        match self {
            RecordError::DataEndpoint { .. } | RecordError::GetMedia { .. } | RecordError::Incomplete { .. } => true,
            RecordError::Media { source, .. } => matches!(source, MkvError::Truncated { .. }),
            _ => false,
        }
    }
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The recording is in S3.
    Written { key: String, bytes: usize, duration_secs: u64 },
    /// Not a voicemail (a success).
    Skipped(String),
    /// Can never be processed: logged at ERROR with its sequence number, counted as handled.
    Malformed(String),
    /// Reported for retry.
    Failed(String),
}

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<KinesisEventResponse, AudioProcessingError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await.map(|(response, _)| response)
}

/// What a record holds once decoded: a voicemail to read, or the reason it is not one.
enum Parsed {
    Voicemail(Box<Voicemail>),
    Skip(String),
    Malformed(String),
}

/// Everything needed to read and store one voicemail.
#[derive(Debug, Clone)]
pub struct Voicemail {
    pub contact_id: String,
    pub stream_arn: String,
    pub start: FragmentNumber,
    pub stop: FragmentNumber,
    pub tags: RecordingTags,
}

/// The voicemail a CTR describes (docs/events.md#contact-trace-record), or why it is none.
fn voicemail_of(ctr: &Ctr) -> Parsed {
    if !ctr.is_voicemail() {
        let flag = ctr.attributes.get("vm_flag").and_then(Value::as_str);
        return Parsed::Skip(match flag {
            Some("1") => "vm_flag is 1 but vm_lang, vm_from or a Kinesis Video recording is missing".into(),
            Some("0") => "vm_flag is 0: voicemail already processed".into(),
            _ => "not a voicemail".into(),
        });
    }
    let Some(contact_id) = ctr.contact_id.clone().filter(|c| !c.is_empty()) else {
        return Parsed::Malformed("a voicemail CTR without ContactId".into());
    };
    if !is_safe_contact_id(&contact_id) {
        return Parsed::Malformed(format!("ContactId {contact_id:?} cannot name an S3 object"));
    }
    let Some(recording) = ctr.kvs_recording() else {
        return Parsed::Malformed(format!("contact {contact_id}: no Kinesis Video recording"));
    };
    let stream_arn = recording.location.clone().unwrap_or_default();
    let fragment = |field: &str, value: &Option<String>| {
        value.as_deref().and_then(FragmentNumber::parse).ok_or_else(|| {
            format!("contact {contact_id}: Recordings[].{field} is {value:?}, expected a fragment number")
        })
    };
    let (start, stop) = match (
        fragment("FragmentStartNumber", &recording.fragment_start_number),
        fragment("FragmentStopNumber", &recording.fragment_stop_number),
    ) {
        (Ok(start), Ok(stop)) => (start, stop),
        (Err(e), _) | (_, Err(e)) => return Parsed::Malformed(e),
    };
    if stop < start {
        return Parsed::Malformed(format!(
            "contact {contact_id}: FragmentStopNumber {stop} is before FragmentStartNumber {start}"
        ));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty());
    let tags = RecordingTags {
        lang: text(ctr.attributes.get("vm_lang")),
        dialed_number: ctr.system_endpoint.as_ref().and_then(|e| e.address.clone()).filter(|a| !a.is_empty()),
        init_timestamp: ctr.initiation_timestamp.clone(),
        end_timestamp: ctr.disconnect_timestamp.clone(),
        duration_secs: None,
        recording_url: None,
        // The caller the voicemail flow recorded in `vm_from` (a voicemail CTR always has it).
        caller: text(ctr.attributes.get("vm_from")),
    };
    Parsed::Voicemail(Box::new(Voicemail { contact_id, stream_arn, start, stop, tags }))
}

/// The testable handler: the batch response and each record's outcome, in batch order.
pub async fn handle(
    payload: Value,
    deadline: Deadline,
    deps: &Deps,
) -> Result<(KinesisEventResponse, Vec<(String, Outcome)>), AudioProcessingError> {
    let runner = Runner { name: "voicemail", concurrency: CONCURRENCY };
    let result = runner
        .run(&payload, &AudioBatch { deps, deadline })
        .await
        .map_err(|e| AudioProcessingError::NotKinesis(e.to_string()))?;
    result.check(runner.name, deps.reporting)?;
    Ok(result.map_outcomes(|outcome| match outcome {
        kinesis::Outcome::Done(written) => written,
        kinesis::Outcome::Skipped(reason) => Outcome::Skipped(reason),
        kinesis::Outcome::Quarantined(reason) => Outcome::Malformed(reason),
        kinesis::Outcome::Retry(reason) => Outcome::Failed(reason),
    }))
}

/// One batch's work: each voicemail CTR's recording read and stored; a malformed record is logged
/// at ERROR by the runner and counted as handled.
struct AudioBatch<'a> {
    deps: &'a Deps,
    deadline: Deadline,
}

impl ReadRecords for AudioBatch<'_> {
    type Item = Voicemail;

    fn parse(&self, record: &Record<'_>) -> Result<Voicemail, Settle> {
        let ctr = record.json().and_then(Ctr::from_value).map_err(Settle::Quarantine)?;
        match voicemail_of(&ctr) {
            Parsed::Voicemail(voicemail) => Ok(*voicemail),
            Parsed::Skip(reason) => Err(Settle::Skip(reason)),
            Parsed::Malformed(reason) => Err(Settle::Quarantine(reason)),
        }
    }

    fn key<'i>(&self, voicemail: &'i Voicemail) -> Option<&'i str> {
        Some(&voicemail.contact_id)
    }
}

impl ProcessRecords for AudioBatch<'_> {
    /// [`Outcome::Written`].
    type Done = Outcome;

    async fn process(&self, record: &Record<'_>, voicemail: &Voicemail) -> kinesis::Outcome<Outcome> {
        match store_voicemail(voicemail, self.deadline, self.deps).await {
            Ok(written) => kinesis::Outcome::Done(written),
            Err(e) => {
                tracing::error!(sequenceNumber = record.sequence_number(), error = %e, "voicemail not stored; the record is reported for retry");
                kinesis::Outcome::Retry(e.to_string())
            }
        }
    }
}

/// Reads the voicemail's audio and writes the tagged WAV (overwriting any earlier copy).
pub async fn store_voicemail(v: &Voicemail, deadline: Deadline, deps: &Deps) -> Result<Outcome, RecordError> {
    let audio = read_with_retries(v, deadline, deps).await?;
    let key = recording_key(&v.contact_id);
    let file = wav::encode(PcmFormat::TELEPHONY, &audio.pcm)
        .map_err(|e| RecordError::Wav { contact_id: v.contact_id.clone(), message: e.to_string() })?;
    let duration_secs = wav::duration_secs(PcmFormat::TELEPHONY, audio.pcm.len());
    let mut tags = v.tags.clone();
    tags.duration_secs = Some(duration_secs);
    tags.recording_url = Some(format!("{}/{key}", deps.bucket));
    deps.s3
        .put_object()
        .bucket(&deps.bucket)
        .key(&key)
        .content_type(RECORDING_CONTENT_TYPE)
        .tagging(tags.tagging_header())
        .body(file.clone().into())
        .send()
        .await
        .map_err(|e| RecordError::S3 {
            contact_id: v.contact_id.clone(),
            bucket: deps.bucket.clone(),
            key: key.clone(),
            message: error_text(&e),
        })?;
    tracing::info!(
        key = key.as_str(),
        bytes = file.len(),
        durationSeconds = duration_secs,
        fragments = audio.fragments.len(),
        track = audio.track.as_deref().unwrap_or(""),
        "voicemail recording written"
    );
    Ok(Outcome::Written { key, bytes: file.len(), duration_secs })
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

async fn read_with_retries(v: &Voicemail, deadline: Deadline, deps: &Deps) -> Result<ExtractedAudio, RecordError> {
    let started = std::time::Instant::now();
    let retry_budget = deadline.remaining().mul_f64(RETRY_SHARE);
    let policy = RetryPolicy {
        max_attempts: READ_ATTEMPTS,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let mut attempt = 1;
    loop {
        match read_audio(v, deadline, deps).await {
            Ok(audio) => return Ok(audio),
            Err(e) if e.read_again() && attempt < policy.max_attempts => {
                let wait = policy.next_delay(attempt, None);
                if !deadline.allows(wait, Duration::from_secs(1)) || started.elapsed() + wait > retry_budget {
                    tracing::warn!(attempt, error = %e, "reading the voicemail failed; no time left to read it again");
                    return Err(e);
                }
                tracing::warn!(attempt, error = %e, "reading the voicemail failed; reading it again");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One read: GetDataEndpoint, GetMedia from the start fragment, the body parsed as it arrives and
/// dropped (connection closed) once the stop fragment is complete.
async fn read_audio(v: &Voicemail, deadline: Deadline, deps: &Deps) -> Result<ExtractedAudio, RecordError> {
    let contact_id = v.contact_id.clone();
    let stream = v.stream_arn.clone();
    let unavailable = |operation: &'static str, status: Option<u16>, message: &str| {
        status.filter(|s| *s >= 500).map(|status| RecordError::Unavailable {
            contact_id: contact_id.clone(),
            stream: stream.clone(),
            operation,
            status,
            message: message.to_string(),
        })
    };
    let endpoint =
        deps.kvs.get_data_endpoint().api_name(ApiName::GetMedia).stream_arn(&v.stream_arn).send().await.map_err(
            |e| {
                let message = error_text(&e);
                let status = e.raw_response().map(|r| r.status().as_u16());
                unavailable("GetDataEndpoint", status, &message).unwrap_or_else(|| RecordError::DataEndpoint {
                    contact_id: contact_id.clone(),
                    stream: stream.clone(),
                    message,
                })
            },
        )?;
    let Some(data_endpoint) = endpoint.data_endpoint().filter(|e| !e.is_empty()) else {
        return Err(RecordError::DataEndpoint { contact_id, stream, message: "no DataEndpoint in the answer".into() });
    };
    let media = aws_sdk_kinesisvideomedia::Client::from_conf(deps.media.clone().endpoint_url(data_endpoint).build());
    let get_media_error = |message: String| RecordError::GetMedia {
        contact_id: contact_id.clone(),
        stream: stream.clone(),
        start: v.start.to_string(),
        message,
    };
    let selector = StartSelector::builder()
        .start_selector_type(StartSelectorType::FragmentNumber)
        .after_fragment_number(v.start.as_str())
        .build()
        .map_err(|e| get_media_error(e.to_string()))?;
    let output = media.get_media().stream_arn(&v.stream_arn).start_selector(selector).send().await.map_err(|e| {
        let message = error_text(&e);
        let status = e.raw_response().map(|r| r.status().as_u16());
        unavailable("GetMedia", status, &message).unwrap_or_else(|| get_media_error(message))
    })?;
    let mut body = output.payload;
    let mut extractor = AudioExtractor::new(v.start.clone(), v.stop.clone(), Some(&v.contact_id));
    let media_error = |source: MkvError| RecordError::Media {
        contact_id: contact_id.clone(),
        stream: stream.clone(),
        start: v.start.to_string(),
        stop: v.stop.to_string(),
        source,
    };
    loop {
        let wait = deps.idle_timeout.min(deadline.remaining());
        match tokio::time::timeout(wait, body.next()).await {
            Err(_) => {
                let what = if deadline.remaining().is_zero() { "the invocation deadline" } else { "the idle timeout" };
                return Err(get_media_error(format!(
                    "no data for {} ms ({what}) after {} bytes",
                    wait.as_millis(),
                    extractor.position()
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(get_media_error(format!(
                    "the media stream failed after {} bytes: {}",
                    extractor.position(),
                    error_text(&e)
                )));
            }
            Ok(Some(Ok(bytes))) => {
                if extractor.push(&bytes).map_err(media_error)? == Progress::Done {
                    break;
                }
            }
        }
    }
    // Dropping the body closes the connection: nothing after the stop fragment is read.
    drop(body);
    let audio = extractor.finish().map_err(media_error)?;
    if audio.foreign_contact {
        tracing::warn!(
            fragments = audio.fragments.len(),
            "the stream moved on to another contact before the stop fragment; the audio ends there"
        );
    } else if !audio.complete {
        let last = audio.fragments.last().map_or_else(|| "none".to_string(), ToString::to_string);
        return Err(RecordError::Incomplete { contact_id, stream, stop: v.stop.to_string(), last });
    }
    if audio.fragments.is_empty() {
        return Err(RecordError::NoAudio { contact_id, stream, start: v.start.to_string(), stop: v.stop.to_string() });
    }
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(ctr: Value) -> Parsed {
        voicemail_of(&Ctr::from_value(ctr).expect("a CTR"))
    }

    fn voicemail_ctr() -> Value {
        json!({
            "ContactId": "c-1", "InitiationTimestamp": "2024-01-04T19:49:19Z", "DisconnectTimestamp": "2024-01-04T19:50:06Z",
            "SystemEndpoint": {"Address": "+15555550100"},
            "Attributes": {"vm_flag": "1", "vm_lang": "en-US", "vm_from": "+15555550123"},
            "Recordings": [
                {"Location": "bucket/connect/rec.wav", "StorageType": "S3"},
                {"Location": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/s/1", "FragmentStartNumber": "91343852333181432392682062607743920146264440066", "FragmentStopNumber": "91343852333181432392682062607743920146264440099", "StorageType": "KINESIS_VIDEO_STREAM"}
            ]
        })
    }

    #[test]
    fn a_voicemail_ctr_gives_the_kvs_recording_and_the_official_tags() {
        let Parsed::Voicemail(v) = parse(voicemail_ctr()) else { panic!("a voicemail") };
        assert_eq!(
            v.stream_arn, "arn:aws:kinesisvideo:us-east-1:123456789012:stream/s/1",
            "the KVS entry, not Recordings[0]"
        );
        assert!(v.start < v.stop);
        assert_eq!(v.tags.lang.as_deref(), Some("en-US"));
        assert_eq!(v.tags.dialed_number.as_deref(), Some("+15555550100"));
        assert_eq!(
            v.tags.caller.as_deref(),
            Some("+15555550123"),
            "vm_from: the caller, for the VoiceCall's fromNumber"
        );
        assert_eq!(v.tags.init_timestamp.as_deref(), Some("2024-01-04T19:49:19Z"));
        assert_eq!(v.tags.end_timestamp.as_deref(), Some("2024-01-04T19:50:06Z"));
    }

    #[test]
    fn which_records_are_skipped_or_malformed() {
        let with = |path: &str, value: Value| {
            let mut ctr = voicemail_ctr();
            let pointer = ctr.pointer_mut(path).expect("path");
            *pointer = value;
            ctr
        };
        let cases: Vec<(Value, &str)> = vec![
            (with("/Attributes/vm_flag", json!("0")), "skip:vm_flag is 0"),
            (with("/Attributes/vm_flag", json!("2")), "skip:not a voicemail"),
            (with("/Attributes/vm_lang", json!("")), "skip:vm_flag is 1 but"),
            (with("/Attributes/vm_from", Value::Null), "skip:vm_flag is 1 but"),
            (with("/Recordings", json!([{"Location": "bucket/x.wav"}])), "skip:vm_flag is 1 but"),
            (json!({"ContactId": "c-2", "InitiationMethod": "INBOUND"}), "skip:not a voicemail"),
            (with("/Recordings/1/FragmentStartNumber", json!("12a")), "malformed:Recordings[].FragmentStartNumber"),
            (with("/Recordings/1/FragmentStopNumber", Value::Null), "malformed:Recordings[].FragmentStopNumber"),
            (with("/Recordings/1/FragmentStopNumber", json!("1")), "malformed:FragmentStopNumber 1 is before"),
            (with("/ContactId", json!("")), "malformed:without ContactId"),
            (with("/ContactId", json!("../x")), "malformed:cannot name an S3 object"),
        ];
        for (ctr, expected) in cases {
            let got = match parse(ctr.clone()) {
                Parsed::Skip(r) => format!("skip:{r}"),
                Parsed::Malformed(r) => format!("malformed:{r}"),
                Parsed::Voicemail(_) => "voicemail".into(),
            };
            let (kind, text) = expected.split_once(':').unwrap();
            assert!(got.starts_with(kind) && got.contains(text), "{ctr}: {got}");
        }
    }
}
