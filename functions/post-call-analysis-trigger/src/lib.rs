//! PostCallAnalysisTrigger: when Contact Lens writes a post-call analysis file to S3 (EventBridge
//! `Object Created`), read it, place it on the contact's timeline with Amazon Connect
//! `DescribeContact`, and store the sentiment signals in Salesforce with Store a Post-Call
//! Conversation Event (seed 001 ch. 3; reference 2.11 and 5).
//!
//! Signals sent:
//!
//! - one `IntelligenceSignal__Sentiment` per transcript line: POSITIVE `1000`, NEUTRAL and MIXED
//!   `0`, NEGATIVE `-1000`, from `base + BeginOffsetMillis` to `base + EndOffsetMillis`, for the
//!   line's participant (AGENT or CUSTOMER);
//! - the overall sentiment of each participant as `IntelligenceSignal__OverallSentimentScore` with
//!   the raw Contact Lens score (−5…5, e.g. `"0.8"`) from `base` to the disconnect. The
//!   documentation lists only `IntelligenceSignal__Sentiment`; the official function sends this
//!   type too (reference 9 item 10), and where the documentation and the official code disagree on
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

use std::time::{Duration, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_connect::types::Contact;
use lambda_runtime::LambdaEvent;
use scv_shared::aws::sdk_retryable;
use scv_shared::config::{ConfigError, Env, ProcessEnv, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{ConversationEvent, ConversationEvents, ScrtError, TelephonyClient};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line (the official function reuses `invokeSfRestApi`, which makes
/// its lines look like another function's; reference 7.3 item 41).
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
    #[error("DescribeContact for contact {contact_id} (instance {instance_id}) failed: {message}")]
    DescribeContact { contact_id: String, instance_id: String, message: String, retryable: bool },
    #[error("contact {contact_id}: {reason}")]
    Timing { contact_id: String, reason: String },
    #[error(
        "contact {contact_id}: post-call events batch {batch} of {batches} failed after {sent} of {total} events were stored: {source}"
    )]
    Salesforce { contact_id: String, batch: usize, batches: usize, sent: usize, total: usize, source: ScrtError },
}

impl TriggerError {
    /// A short name for the Lambda error type (`errorType`), by kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TriggerError::NotAnEvent(_) | TriggerError::BadFile { .. } => ErrorKind::InvalidEvent,
            TriggerError::MissingField { .. } | TriggerError::Timing { .. } => ErrorKind::MissingField,
            TriggerError::ReadObject { retryable, .. } | TriggerError::DescribeContact { retryable, .. } => {
                ErrorKind::aws(*retryable)
            }
            TriggerError::Salesforce { source, .. } => ErrorKind::salesforce(source.is_retryable()),
        }
    }
}

scv_shared::diagnostic!(TriggerError);

// ---------------------------------------------------------------------------------------------
// The event. `aws_lambda_events` has the EventBridge envelope but not the S3 `Object Created`
// detail (its `s3` module is the S3 notification event), so the detail is typed here.

/// An S3 `Object Created` event as EventBridge delivers it.
pub type ObjectCreatedEvent = EventBridgeEvent<ObjectCreatedDetail>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectCreatedDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub bucket: BucketRef,
    pub object: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketRef {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectRef {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A post-call analysis file of this contact (the id in the key).
    Analysis { contact_id: String },
    /// Not one to read, and why.
    Skip(String),
}

/// The key as S3 names the object: `+` is a space and `%XX` an escaped byte, as the official
/// function decodes it.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("the object key is not UTF-8 once decoded: {e}"))
}

/// Only `Analysis/Voice/YYYY/MM/DD/<36-character contact id>….json` is read; a key containing
/// `Redacted` anywhere (the redacted copy) is skipped (reference 2.11).
pub fn check_key(key: &str) -> KeyCheck {
    if key.contains("Redacted") {
        return KeyCheck::Skip("a redacted copy".into());
    }
    let Some(rest) = key.strip_prefix("Analysis/Voice/") else {
        return KeyCheck::Skip("not under Analysis/Voice/".into());
    };
    let bytes = rest.as_bytes();
    let date_ok = bytes.len() > 11
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'/'
        && bytes[5..7].iter().all(u8::is_ascii_digit)
        && bytes[7] == b'/'
        && bytes[8..10].iter().all(u8::is_ascii_digit)
        && bytes[10] == b'/';
    if !date_ok {
        return KeyCheck::Skip("no YYYY/MM/DD/ date folder after Analysis/Voice/".into());
    }
    let name = &rest[11..];
    let id: String = name.chars().take(36).collect();
    if id.len() != 36 || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return KeyCheck::Skip("the file name does not start with a contact id".into());
    }
    if !name.ends_with(".json") {
        return KeyCheck::Skip("not a .json file".into());
    }
    KeyCheck::Analysis { contact_id: id }
}

// ---------------------------------------------------------------------------------------------
// The analysis file (reference 5). Transcript lines are kept as JSON and read one by one, so a
// malformed line is skipped and counted instead of failing the file.

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnalysisFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_metadata: Option<CustomerMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_characteristics: Option<ConversationCharacteristics>,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<ParticipantInfo>,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_s3_uri: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConversationCharacteristics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_conversation_duration_millis: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<SentimentCharacteristics>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentimentCharacteristics {
    /// Participant role -> score (−5…5). Kept as JSON: a non-number is skipped, not fatal.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub overall_sentiment: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantInfo {
    #[serde(default)]
    pub participant_id: String,
    #[serde(default)]
    pub participant_role: String,
}

/// One transcript line (the fields this function reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscriptLine {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub participant_id: Option<String>,
    #[serde(default)]
    pub begin_offset_millis: Option<i64>,
    #[serde(default)]
    pub end_offset_millis: Option<i64>,
    #[serde(default)]
    pub sentiment: Option<String>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses the file (UTF-8 JSON, a byte-order mark tolerated).
pub fn parse_analysis(bytes: &[u8]) -> Result<AnalysisFile, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => AnalysisFile::deserialize(&value).map_err(|e| format!("unexpected shape: {e}")),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The per-utterance score of a Contact Lens sentiment (case-insensitive).
pub fn sentiment_score(sentiment: &str) -> Option<&'static str> {
    match sentiment.to_ascii_uppercase().as_str() {
        "POSITIVE" => Some("1000"),
        "NEUTRAL" | "MIXED" => Some("0"),
        "NEGATIVE" => Some("-1000"),
        _ => None,
    }
}

/// A number as JavaScript's `String(n)` prints it (`0`, `0.8`, `-2.5`, `5`).
pub fn js_number(n: f64) -> String {
    if n == 0.0 {
        "0".into()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// When the analysed conversation happened, from DescribeContact, in epoch milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactTimes {
    pub connected_to_agent: Option<i64>,
    pub connected_to_system: Option<i64>,
    pub initiation: Option<i64>,
    pub disconnect: Option<i64>,
    pub initial_contact_id: Option<String>,
}

impl ContactTimes {
    pub fn from_contact(contact: &Contact) -> Self {
        // Rounded to the nearest millisecond: Connect sends epoch seconds as a decimal number, which
        // a binary float cannot always hold exactly (…03.020 would truncate to …03.019).
        let ms = |t: Option<&aws_sdk_connect::primitives::DateTime>| {
            t.map(|t| t.secs() * 1000 + (i64::from(t.subsec_nanos()) + 500_000) / 1_000_000)
        };
        Self {
            connected_to_agent: ms(contact.agent_info().and_then(|a| a.connected_to_agent_timestamp())),
            connected_to_system: ms(contact.connected_to_system_timestamp()),
            initiation: ms(contact.initiation_timestamp()),
            disconnect: ms(contact.disconnect_timestamp()),
            initial_contact_id: contact.initial_contact_id().filter(|i| !i.trim().is_empty()).map(str::to_string),
        }
    }

    /// Where the analysed recording starts, and which timestamp said so.
    pub fn base(&self) -> Option<(i64, &'static str)> {
        self.connected_to_agent
            .map(|t| (t, "AgentInfo.ConnectedToAgentTimestamp"))
            .or_else(|| self.connected_to_system.map(|t| (t, "ConnectedToSystemTimestamp")))
            .or_else(|| self.initiation.map(|t| (t, "InitiationTimestamp")))
    }
}

/// The signals of one file, sorted ascending by start time, and the lines that were skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub events: Vec<ConversationEvent>,
    /// Why each skipped transcript line or overall score was skipped.
    pub skipped: Vec<String>,
}

/// The post-call events of a file whose recording starts at `base_ms`; `end_ms` is the
/// contact's disconnect, if known.
pub fn signals(file: &AnalysisFile, base_ms: i64, end_ms: Option<i64>) -> Signals {
    let mut out = Signals::default();
    let role_of = |id: &str| -> Option<String> {
        let id = id.trim();
        if PARTICIPANTS.contains(&id) {
            return Some(id.to_string());
        }
        file.participants
            .iter()
            .find(|p| p.participant_id == id)
            .map(|p| p.participant_role.clone())
            .filter(|r| PARTICIPANTS.contains(&r.as_str()))
    };

    let mut lines = Vec::new();
    let mut last_end = 0;
    for (i, raw) in file.transcript.iter().enumerate() {
        let line = match TranscriptLine::deserialize(raw) {
            Ok(line) => line,
            Err(e) => {
                out.skipped.push(format!("Transcript[{i}]: malformed: {e}"));
                continue;
            }
        };
        let label = format!("Transcript[{i}] ({})", line.id.as_deref().unwrap_or("no Id"));
        let Some(sentiment) = line.sentiment.as_deref() else {
            out.skipped.push(format!("{label}: Sentiment is missing"));
            continue;
        };
        let Some(value) = sentiment_score(sentiment) else {
            out.skipped.push(format!("{label}: Sentiment {sentiment:?} is not POSITIVE, NEUTRAL, MIXED or NEGATIVE"));
            continue;
        };
        let (begin, end) = match (line.begin_offset_millis, line.end_offset_millis) {
            (Some(b), Some(e)) if b >= 0 && e >= b => (b, e),
            _ => {
                out.skipped.push(format!("{label}: BeginOffsetMillis/EndOffsetMillis missing or out of order"));
                continue;
            }
        };
        let Some(participant) = line.participant_id.as_deref().and_then(role_of) else {
            out.skipped.push(format!(
                "{label}: ParticipantId {:?} is neither AGENT nor CUSTOMER",
                line.participant_id.as_deref().unwrap_or("")
            ));
            continue;
        };
        last_end = last_end.max(end);
        lines.push(ConversationEvent {
            kind: SENTIMENT.into(),
            value: value.into(),
            start_time: base_ms + begin,
            end_time: Some(base_ms + end),
            score: None,
            participant: Some(participant),
            details: None,
        });
    }

    let characteristics = file.conversation_characteristics.as_ref();
    let duration = characteristics.and_then(|c| c.total_conversation_duration_millis).unwrap_or(0);
    let overall_end = end_ms.unwrap_or(base_ms + duration.max(last_end)).max(base_ms);
    let overall = characteristics.and_then(|c| c.sentiment.as_ref()).map(|s| &s.overall_sentiment);
    for participant in PARTICIPANTS {
        let Some(score) = overall.and_then(|o| o.get(*participant)) else {
            continue;
        };
        match score.as_f64() {
            Some(n) if n.is_finite() && (-5.0..=5.0).contains(&n) => out.events.push(ConversationEvent {
                kind: OVERALL_SENTIMENT.into(),
                value: js_number(n),
                start_time: base_ms,
                end_time: Some(overall_end),
                score: None,
                participant: Some(participant.to_string()),
                details: None,
            }),
            _ => out.skipped.push(format!(
                "ConversationCharacteristics.Sentiment.OverallSentiment.{participant}: {score} is not a score between -5 and 5"
            )),
        }
    }
    out.events.extend(lines);
    // Stable: the overall scores stay ahead of an utterance starting at the same moment.
    out.events.sort_by_key(|e| e.start_time);
    out
}

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
    let event = ObjectCreatedEvent::deserialize(&payload).map_err(|e| {
        let e = TriggerError::NotAnEvent(e.to_string());
        tracing::error!(error = %e, "event rejected");
        e
    })?;
    if event.detail_type != "Object Created" {
        let reason = format!("detail-type is {:?}, not \"Object Created\"", event.detail_type);
        tracing::debug!(reason = %reason, "event skipped");
        return Ok(json!({"result": "Skipped", "reason": reason}));
    }
    let bucket = event.detail.bucket.name.clone();
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
    let file = read_analysis(bucket, key, deps).await?;
    let missing = |field: &'static str| TriggerError::MissingField { bucket: bucket.into(), key: key.into(), field };
    let metadata = file.customer_metadata.as_ref().ok_or_else(|| missing("CustomerMetadata"))?;
    let contact_id = metadata
        .contact_id
        .clone()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| missing("CustomerMetadata.ContactId"))?;
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

    let contact = describe_contact(&contact_id, &instance_id, deps).await?;
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
    let mut sent = 0;
    for (index, chunk) in events.chunks(MAX_EVENTS_PER_REQUEST).enumerate() {
        let request = ConversationEvents { service: SERVICE.into(), events: chunk.to_vec(), persist: None };
        let deadline = Deadline::for_invocation(lambda_deadline, deps.budget);
        match deps.telephony.store_post_call_events(&vendor_call_key, &request, deadline).await {
            Ok(_) => sent += chunk.len(),
            Err(e) if e.status() == Some(404) && sent == 0 => {
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
                    sent,
                    total: events.len(),
                    source,
                });
            }
        }
    }
    tracing::info!(
        events = events.len(),
        batches,
        vendorCallKey = %vendor_call_key,
        "stored {} post-call event(s) for contact {contact_id} in {batches} request(s)",
        events.len()
    );
    Ok(summary("Success", batches))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_table() {
        let id = "4aff0437-fda0-4f80-95a9-08b9e5924997";
        let analysis = |k: &str| (k.to_string(), Some(id));
        let cases: Vec<(String, Option<&str>)> = vec![
            analysis(&format!("Analysis/Voice/2022/03/30/{id}_analysis_2022-03-30T23:55:23Z.json")),
            analysis(&format!("Analysis/Voice/2026/11/21/{id}.json")),
            (format!("Analysis/Voice/Redacted/2022/03/30/{id}_analysis_redacted_2022-03-30T23:55:23Z.json"), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis_Redacted.json"), None),
            (format!("Analysis/Chat/2022/03/30/{id}_analysis.json"), None),
            (format!("connect/acme/Analysis/Voice/2022/03/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/22/03/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/2022/3/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/2022/03/30/{}_analysis.json", id.to_uppercase()), None),
            ("Analysis/Voice/2022/03/30/short_analysis.json".into(), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis.json.tmp"), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis.wav"), None),
            ("".into(), None),
        ];
        for (key, expected) in cases {
            let got = check_key(&key);
            match expected {
                Some(contact) => assert_eq!(got, KeyCheck::Analysis { contact_id: contact.into() }, "{key}"),
                None => assert!(matches!(got, KeyCheck::Skip(_)), "{key}: {got:?}"),
            }
        }
    }

    #[test]
    fn keys_are_decoded_as_s3_escapes_them() {
        assert_eq!(
            decode_key("Analysis/Voice/2022/03/30/a_2022-03-30T23%3A55%3A23Z.json").unwrap(),
            "Analysis/Voice/2022/03/30/a_2022-03-30T23:55:23Z.json"
        );
        assert_eq!(decode_key("a+b%2Bc").unwrap(), "a b+c");
        assert!(decode_key("bad%FF").is_err());
    }

    #[test]
    fn sentiments_and_numbers() {
        let cases = [
            ("POSITIVE", Some("1000")),
            ("NEUTRAL", Some("0")),
            ("MIXED", Some("0")),
            ("NEGATIVE", Some("-1000")),
            ("negative", Some("-1000")),
            ("ANGRY", None),
            ("", None),
        ];
        for (sentiment, expected) in cases {
            assert_eq!(sentiment_score(sentiment), expected, "{sentiment}");
        }
        for (n, text) in [(0.0, "0"), (-0.0, "0"), (0.8, "0.8"), (-2.5, "-2.5"), (5.0, "5"), (-4.0, "-4")] {
            assert_eq!(js_number(n), text, "{n}");
        }
    }

    fn file(v: Value) -> AnalysisFile {
        AnalysisFile::deserialize(&v).expect("file")
    }

    #[test]
    fn signals_are_scored_sorted_and_bad_lines_counted() {
        let f = file(json!({
            "Participants": [{"ParticipantId": "AGENT", "ParticipantRole": "AGENT"}, {"ParticipantId": "C1", "ParticipantRole": "CUSTOMER"}],
            "ConversationCharacteristics": {"TotalConversationDurationMillis": 9000, "Sentiment": {"OverallSentiment": {"AGENT": 0, "CUSTOMER": -2.5}}},
            "Transcript": [
                {"Id": "t1", "ParticipantId": "C1", "BeginOffsetMillis": 3000, "EndOffsetMillis": 4000, "Sentiment": "NEGATIVE"},
                {"Id": "t0", "ParticipantId": "AGENT", "BeginOffsetMillis": 100, "EndOffsetMillis": 2000, "Sentiment": "POSITIVE"},
                {"Id": "t2", "ParticipantId": "AGENT", "BeginOffsetMillis": 5000, "EndOffsetMillis": 6000},
                {"Id": "t3", "ParticipantId": "AGENT", "BeginOffsetMillis": 6000, "EndOffsetMillis": 7000, "Sentiment": "SARCASTIC"},
                {"Id": "t4", "ParticipantId": "SUPERVISOR", "BeginOffsetMillis": 7000, "EndOffsetMillis": 7500, "Sentiment": "NEUTRAL"},
                {"Id": "t5", "ParticipantId": "AGENT", "BeginOffsetMillis": 8000, "EndOffsetMillis": 7900, "Sentiment": "MIXED"},
                {"Id": "t6", "ParticipantId": "AGENT", "BeginOffsetMillis": "8000", "Sentiment": "MIXED"},
                {"Id": "t7", "ParticipantId": "AGENT", "BeginOffsetMillis": 8500, "EndOffsetMillis": 8900, "Sentiment": "MIXED"}
            ]
        }));
        let s = signals(&f, 1_000_000, Some(1_010_000));
        let summary: Vec<(String, String, i64, Option<i64>, String)> = s
            .events
            .iter()
            .map(|e| (e.kind.clone(), e.value.clone(), e.start_time, e.end_time, e.participant.clone().unwrap()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (OVERALL_SENTIMENT.into(), "0".into(), 1_000_000, Some(1_010_000), "AGENT".into()),
                (OVERALL_SENTIMENT.into(), "-2.5".into(), 1_000_000, Some(1_010_000), "CUSTOMER".into()),
                (SENTIMENT.into(), "1000".into(), 1_000_100, Some(1_002_000), "AGENT".into()),
                (SENTIMENT.into(), "-1000".into(), 1_003_000, Some(1_004_000), "CUSTOMER".into()),
                (SENTIMENT.into(), "0".into(), 1_008_500, Some(1_008_900), "AGENT".into()),
            ]
        );
        assert_eq!(s.skipped.len(), 5, "{:#?}", s.skipped);
        assert!(s.skipped[0].contains("Transcript[2] (t2): Sentiment is missing"), "{}", s.skipped[0]);
        assert!(s.skipped[1].contains("\"SARCASTIC\""));
        assert!(s.skipped[2].contains("SUPERVISOR"));
        assert!(s.skipped[3].contains("out of order"));
        assert!(s.skipped[4].contains("Transcript[6]: malformed"), "{}", s.skipped[4]);
    }

    #[test]
    fn the_overall_window_falls_back_when_the_disconnect_is_unknown() {
        let f = file(json!({
            "ConversationCharacteristics": {"TotalConversationDurationMillis": 9000, "Sentiment": {"OverallSentiment": {"AGENT": 1.2, "CUSTOMER": "high", "SYSTEM": 3}}},
            "Transcript": [{"ParticipantId": "CUSTOMER", "BeginOffsetMillis": 100, "EndOffsetMillis": 12000, "Sentiment": "NEUTRAL"}]
        }));
        let s = signals(&f, 1000, None);
        assert_eq!(s.events[0].end_time, Some(13_000), "the latest utterance end beats the duration");
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert!(s.skipped[0].contains("OverallSentiment.CUSTOMER"));
        let empty = signals(&file(json!({"Transcript": null})), 0, None);
        assert!(empty.events.is_empty() && empty.skipped.is_empty());
    }

    #[test]
    fn timing_prefers_the_agent_then_the_contact_itself() {
        use aws_sdk_connect::primitives::DateTime;
        use aws_sdk_connect::types::AgentInfo;
        let agent = Contact::builder()
            .id("c")
            .initial_contact_id("first")
            .initiation_timestamp(DateTime::from_secs_f64(100.0))
            .disconnect_timestamp(DateTime::from_secs_f64(400.5))
            .agent_info(AgentInfo::builder().connected_to_agent_timestamp(DateTime::from_secs_f64(130.25)).build())
            .build();
        let t = ContactTimes::from_contact(&agent);
        assert_eq!(t.base(), Some((130_250, "AgentInfo.ConnectedToAgentTimestamp")));
        assert_eq!((t.disconnect, t.initial_contact_id.as_deref()), (Some(400_500), Some("first")));
        let no_agent = Contact::builder()
            .initiation_timestamp(DateTime::from_secs_f64(100.0))
            .connected_to_system_timestamp(DateTime::from_secs_f64(101.0))
            .initial_contact_id("")
            .build();
        let t = ContactTimes::from_contact(&no_agent);
        assert_eq!(t.base(), Some((101_000, "ConnectedToSystemTimestamp")));
        assert_eq!(t.initial_contact_id, None);
        let bare = Contact::builder().initiation_timestamp(DateTime::from_secs_f64(100.0)).build();
        assert_eq!(ContactTimes::from_contact(&bare).base(), Some((100_000, "InitiationTimestamp")));
        assert_eq!(ContactTimes::from_contact(&Contact::builder().build()).base(), None);
        // Epoch seconds with milliseconds that a float cannot hold exactly still round to the ms.
        let fraction = Contact::builder().initiation_timestamp(DateTime::from_secs_f64(1_795_252_503.020)).build();
        assert_eq!(ContactTimes::from_contact(&fraction).initiation, Some(1_795_252_503_020));
    }

    #[test]
    fn files_that_are_not_analysis_files_are_named() {
        assert!(parse_analysis(b"\xEF\xBB\xBF{\"Transcript\": []}").is_ok());
        assert!(parse_analysis(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse_analysis(b"{\"Transcript\": ").unwrap_err().starts_with("not JSON"));
        assert!(parse_analysis(b"{\"a\": \"\xff\"}").unwrap_err().starts_with("not UTF-8"));
        assert!(parse_analysis(b"{\"Transcript\": 5}").unwrap_err().starts_with("unexpected shape"));
        let accents =
            parse_analysis("{\"Transcript\": [{\"Content\": \"Ça marche, merci beaucoup\"}]}".as_bytes()).unwrap();
        assert_eq!(accents.transcript[0]["Content"], "Ça marche, merci beaucoup");
    }
}
