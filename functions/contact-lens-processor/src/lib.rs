//! ContactLensProcessor: invoked asynchronously by the ContactLensConsumer with a Kinesis-shaped
//! event (seed 001 ch. 6 "ContactLensProcessorFunction", reference 2.4). `Utterance` segments become
//! transcript messages through Create Transcripts in Bulk; `Categories` and sentiment become
//! real-time conversation events (seed 001 ch. 3).
//!
//! Nothing is reported as success that was not accepted: every bulk entry of the multi-status
//! answer is inspected, and what still fails after the client's own retries is handed to a new
//! asynchronous invocation of this function carrying only that work (a bounded attempt counter in
//! the payload), or fails the invocation when that is not possible. Message ids are the utterance
//! ids, so a retry cannot duplicate a message.

pub mod pack;
pub mod work;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, ConnectConfig, Env, ProcessEnv, ProcessorConfig, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::kinesis;
use scv_shared::retry::{Deadline, RetryPolicy};
use scv_shared::scrt::{
    BulkTranscriptEntry, BulkTranscripts, ConversationEvent, ConversationEvents, LIMITS_ERROR_PREFIX, ScrtError,
    TelephonyClient,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

pub use work::{ContactWork, Work};

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "ContactLensProcessor";
/// The `service` of real-time conversation events for Amazon Connect (seed 001 ch. 3).
pub const SERVICE: &str = "AmazonConnectContactLens";
/// The top-level key of a retry invocation's payload (the official consumer never sends it).
pub const RETRY_KEY: &str = "scvContactLensRetry";
/// The contact attribute the CTR sync copies into the VoiceCall (seed 001 ch. 9, reference 2.2).
pub const TRANSCRIPTION_STATUS_ATTRIBUTE: &str = "sf_realtime_transcription_status";
/// The value the official kvsTranscriber writes there (reference 2.14).
pub const TRANSCRIPTION_LIMIT_VALUE: &str = "Exceeded Limits for creating messages in Transcription";
/// Lambda's limit on an asynchronous invocation payload.
pub const ASYNC_PAYLOAD_LIMIT: usize = 256 * 1024;
/// Real-time events per request (the post-call endpoint documents 25; the same bound here).
pub const EVENTS_PER_REQUEST: usize = 25;

/// Tunables, with defaults for production.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest time one Salesforce operation may take, retries included (`SCRT_DEADLINE_MS`).
    pub operation_budget: Duration,
    /// How many times unsent work is handed to a new invocation before the invocation fails
    /// (`MAX_RETRY_INVOCATIONS`, default 3).
    pub max_retry_invocations: u32,
    /// The first retry invocation waits about this long (doubled per attempt, jittered, capped at 30 s).
    pub retry_base_delay: Duration,
    /// Payload limit of a retry invocation.
    pub max_payload_bytes: usize,
    /// Contacts whose real-time events are sent at once.
    pub event_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            operation_budget: Duration::from_secs(6),
            max_retry_invocations: 3,
            retry_base_delay: Duration::from_secs(2),
            max_payload_bytes: ASYNC_PAYLOAD_LIMIT,
            event_concurrency: 4,
        }
    }
}

/// Where to record that the org hit its transcription limit (`CONNECT_INSTANCE_ID`).
#[derive(Debug, Clone)]
pub struct ConnectTarget {
    pub client: aws_sdk_connect::Client,
    pub instance_id: String,
}

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub telephony: TelephonyClient,
    /// For handing unsent work to a new invocation of this function.
    pub lambda: aws_sdk_lambda::Client,
    /// `AWS_LAMBDA_FUNCTION_NAME`: used when the invocation does not carry its own ARN.
    pub function_name: Option<String>,
    pub connect: Option<ConnectTarget>,
    pub settings: Settings,
}

/// The retry policy of an asynchronous function: more patient than a flow-facing one.
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    }
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let cfg = ScrtConfig::from_env(&env)?;
        let sdk = scv_shared::aws::load().await;
        Self::new(&cfg, &sdk, &env)
    }

    /// `sdk` serves SSM, Lambda and Connect (tests point each at its local server).
    pub fn new(cfg: &ScrtConfig, sdk: &scv_shared::aws::SdkConfig, env: &dyn Env) -> Result<Self, ConfigError> {
        let http = scv_shared::aws::http_client();
        let processor = ProcessorConfig::from_env(env)?;
        let settings = Settings {
            operation_budget: cfg.deadline,
            max_retry_invocations: processor.max_retry_invocations,
            ..Settings::default()
        };
        let connect = ConnectConfig::from_env(env)
            .instance_id
            .map(|instance_id| ConnectTarget { client: aws_sdk_connect::Client::new(sdk), instance_id });
        Ok(Self {
            telephony: TelephonyClient::from_config(cfg, SsmClient::new(sdk), http, env).with_policy(retry_policy()),
            lambda: aws_sdk_lambda::Client::new(sdk),
            function_name: processor.function_name,
            connect,
            settings,
        })
    }
}

/// Why an invocation failed. Lambda's own asynchronous retry (and on-failure destination) then takes
/// over.
#[derive(Debug, Error)]
pub enum ProcessorError {
    #[error("the event is neither a Kinesis event nor a retry of this function: {0}")]
    BadEvent(String),
    #[error(
        "{messages} transcript message(s) and {events} real-time event(s) for contact(s) {contacts} were not accepted by Salesforce ({reason}); failing the invocation so Lambda retries it"
    )]
    Unsent { contacts: String, messages: usize, events: usize, reason: String },
}

impl ProcessorError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProcessorError::BadEvent(_) => ErrorKind::InvalidEvent,
            ProcessorError::Unsent { .. } => ErrorKind::SalesforceUnavailable,
        }
    }
}

scv_shared::diagnostic!(ProcessorError);

/// What the invocation is: its deadline and how to invoke itself again.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub deadline: Deadline,
    /// The ARN this invocation was invoked with (alias included), else the function name.
    pub self_function: Option<String>,
}

/// The payload of a retry invocation: only the unsent work, already mapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPayload {
    /// 1 for the first retry.
    pub attempt: u32,
    /// Epoch milliseconds before which the retry does not call Salesforce (backoff, Retry-After).
    #[serde(default)]
    pub not_before: Option<i64>,
    pub work: Work,
}

/// The summary an invocation answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub records: usize,
    pub skipped_records: usize,
    pub messages_sent: usize,
    pub messages_dropped: usize,
    pub events_sent: usize,
    pub events_dropped: usize,
    pub bulk_requests: usize,
    /// Messages and events handed to a retry invocation.
    pub messages_retried: usize,
    pub events_retried: usize,
    /// The attempt this invocation was (0: from the consumer).
    pub attempt: u32,
}

/// The Lambda entry point: a span with `requestId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, ProcessorError> {
    let (payload, context) = event.into_parts();
    // Leave room to hand unsent work over before Lambda's own deadline.
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(900))
        .min(Deadline::at(deadline_before(context.deadline(), Duration::from_secs(3))));
    let self_function =
        Some(context.invoked_function_arn.clone()).filter(|a| !a.is_empty()).or_else(|| deps.function_name.clone());
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    let summary = Box::pin(handle(payload, Invocation { deadline, self_function }, deps).instrument(span)).await?;
    Ok(serde_json::to_value(summary).unwrap_or(Value::Null))
}

fn deadline_before(lambda_deadline: SystemTime, margin: Duration) -> std::time::Instant {
    let left = lambda_deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    std::time::Instant::now() + left.saturating_sub(margin)
}

/// The testable handler.
pub async fn handle(payload: Value, invocation: Invocation, deps: &Deps) -> Result<Summary, ProcessorError> {
    let mut summary = Summary::default();
    let (work, attempt) = if let Some(retry) = payload.get(RETRY_KEY) {
        let retry: RetryPayload =
            serde_json::from_value(retry.clone()).map_err(|e| ProcessorError::BadEvent(format!("{RETRY_KEY}: {e}")))?;
        tracing::info!(
            attempt = retry.attempt,
            contacts = %retry.work.contact_list(),
            "retry invocation {} with {} message(s) and {} event(s)",
            retry.attempt,
            retry.work.message_count(),
            retry.work.event_count()
        );
        if let Some(not_before) = retry.not_before {
            wait_until(not_before, invocation.deadline).await;
        }
        (retry.work, retry.attempt)
    } else {
        let records = kinesis::records(&payload).map_err(|e| ProcessorError::BadEvent(e.to_string()))?;
        summary.records = records.len();
        let built = work::build(&records, now_ms());
        summary.skipped_records = built.skipped_records;
        (built.work, 0)
    };
    summary.attempt = attempt;

    // Boxed: the SDK and HTTP futures nest deep enough to strain the compiler's layout queries.
    let outcome = Box::pin(send(&work, invocation.deadline, deps)).await;
    summary.messages_sent = outcome.messages_sent;
    summary.messages_dropped = outcome.messages_dropped;
    summary.events_sent = outcome.events_sent;
    summary.events_dropped = outcome.events_dropped;
    summary.bulk_requests = outcome.bulk_requests;

    for contact in &outcome.limited_contacts {
        Box::pin(record_transcription_limit(contact, deps)).await;
    }

    let unsent = outcome.unsent;
    if unsent.is_empty() {
        tracing::info!(
            messages = summary.messages_sent,
            events = summary.events_sent,
            "sent {} transcript message(s) and {} real-time event(s) to Salesforce",
            summary.messages_sent,
            summary.events_sent
        );
        return Ok(summary);
    }
    let reason = outcome.last_error.unwrap_or_else(|| "Salesforce did not accept them".into());
    let unsent_error = |reason: String| ProcessorError::Unsent {
        contacts: unsent.contact_list(),
        messages: unsent.message_count(),
        events: unsent.event_count(),
        reason,
    };
    if attempt >= deps.settings.max_retry_invocations {
        let e = unsent_error(format!("{reason}; retry invocations exhausted ({attempt})"));
        tracing::error!(error = %e, "giving the work back to Lambda");
        return Err(e);
    }
    let Some(function) = invocation.self_function.as_deref() else {
        let e = unsent_error(format!("{reason}; this function's own name is unknown, so it cannot retry by itself"));
        tracing::error!(error = %e, "giving the work back to Lambda");
        return Err(e);
    };
    let delay = retry_delay(&deps.settings, attempt + 1, outcome.retry_after);
    let not_before = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    match Box::pin(hand_over(&unsent, attempt + 1, not_before, function, deps)).await {
        Ok(invocations) => {
            summary.messages_retried = unsent.message_count();
            summary.events_retried = unsent.event_count();
            for contact in &unsent.contacts {
                tracing::warn!(
                    contactId = %contact.contact_id,
                    attempt = attempt + 1,
                    messages = contact.messages.len(),
                    events = contact.events.len(),
                    reason = %reason,
                    "not accepted yet: handed to retry invocation {} (in {} ms)",
                    attempt + 1,
                    delay.as_millis()
                );
            }
            tracing::info!(invocations, "unsent work handed to {invocations} retry invocation(s)");
            Ok(summary)
        }
        Err(invoke_error) => {
            let e = unsent_error(format!("{reason}; the retry invocation failed: {invoke_error}"));
            tracing::error!(error = %e, "giving the work back to Lambda");
            Err(e)
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

async fn wait_until(not_before_ms: i64, deadline: Deadline) {
    let wait = Duration::from_millis(u64::try_from(not_before_ms - now_ms()).unwrap_or(0));
    // Never wait away the time the work itself needs.
    let wait = wait.min(deadline.remaining() / 2);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Full-jitter backoff for retry invocation `attempt`, never sooner than `Retry-After`, capped at 30 s.
pub fn retry_delay(settings: &Settings, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let policy = RetryPolicy {
        base_delay: settings.retry_base_delay,
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    policy.next_delay(attempt, retry_after).min(Duration::from_secs(30))
}

/// Invokes this function asynchronously with the unsent work, split to fit the payload limit (a
/// contact's work stays in one invocation unless it alone is too large).
async fn hand_over(unsent: &Work, attempt: u32, not_before: i64, function: &str, deps: &Deps) -> Result<usize, String> {
    let parts = pack::split_work(
        unsent,
        deps.settings.max_payload_bytes,
        |work| json!({RETRY_KEY: RetryPayload { attempt, not_before: Some(not_before), work: work.clone() }}),
    );
    let count = parts.len();
    for part in parts {
        let body = serde_json::to_vec(&part).map_err(|e| format!("the retry payload cannot be encoded: {e}"))?;
        deps.lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(body))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service) => service.to_string(),
                None => aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
            })?;
    }
    Ok(count)
}

/// Records the transcription limit on the contact (seed 001 ch. 9): the CTR sync copies
/// `sf_realtime_transcription_status` into the VoiceCall. Logged with `SCV_LIMITS_ERROR` either way.
async fn record_transcription_limit(contact_id: &str, deps: &Deps) {
    tracing::error!(
        contactId = %contact_id,
        "{LIMITS_ERROR_PREFIX}: Salesforce reported the org's transcription limit for contact {contact_id}"
    );
    let Some(connect) = &deps.connect else { return };
    let result = connect
        .client
        .update_contact_attributes()
        .instance_id(&connect.instance_id)
        .initial_contact_id(contact_id)
        .attributes(TRANSCRIPTION_STATUS_ATTRIBUTE, TRANSCRIPTION_LIMIT_VALUE)
        .send()
        .await;
    match result {
        Ok(_) => tracing::info!(
            contactId = %contact_id,
            "recorded {TRANSCRIPTION_STATUS_ATTRIBUTE} on the contact"
        ),
        Err(e) => tracing::error!(
            contactId = %contact_id,
            error = %aws_sdk_connect::error::DisplayErrorContext(&e),
            "{LIMITS_ERROR_PREFIX}: could not record {TRANSCRIPTION_STATUS_ATTRIBUTE} on the contact"
        ),
    }
}

/// What sending a [`Work`] achieved.
#[derive(Debug, Default)]
pub struct Outcome {
    pub messages_sent: usize,
    pub messages_dropped: usize,
    pub events_sent: usize,
    pub events_dropped: usize,
    pub bulk_requests: usize,
    /// What is left to retry, per contact in the original order.
    pub unsent: Work,
    pub limited_contacts: BTreeSet<String>,
    pub retry_after: Option<Duration>,
    pub last_error: Option<String>,
}

/// How one bulk entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Sent,
    /// Will not pass on retry (the conversation does not exist, the messages are invalid).
    Dropped(String),
    /// May pass later; `limit` when Salesforce reported the transcription limit.
    Unsent {
        reason: String,
        limit: bool,
    },
}

/// Reads one entry of the multi-status answer (seed 001 ch. 3, "Response with errors").
pub fn classify_entry(status: u16, message: &str) -> EntryResult {
    let upper = message.to_ascii_uppercase();
    if (200..300).contains(&status) {
        EntryResult::Sent
    } else if status == 429 || upper.contains("RESOURCE_EXHAUSTED") || upper.contains("LIMIT") {
        EntryResult::Unsent { reason: format!("HTTP {status}: {message}"), limit: true }
    } else if upper.contains("PERMISSION_DENIED") || upper.contains("NOT_FOUND") || status == 404 {
        EntryResult::Dropped(format!("the conversation does not exist (HTTP {status}: {message})"))
    } else if status >= 500 || upper.contains("UNAVAILABLE") || upper.contains("DEADLINE_EXCEEDED") {
        EntryResult::Unsent { reason: format!("HTTP {status}: {message}"), limit: false }
    } else {
        EntryResult::Dropped(format!("HTTP {status}: {message}"))
    }
}

/// Sends the transcript messages and the real-time events of `work`.
pub async fn send(work: &Work, deadline: Deadline, deps: &Deps) -> Outcome {
    let (messages, events) = tokio::join!(send_messages(work, deadline, deps), send_events(work, deadline, deps));
    let mut outcome = Outcome::default();
    let MessagesOutcome { sent, dropped, requests, unsent: unsent_messages, limited, retry_after, last_error } =
        messages;
    outcome.messages_sent = sent;
    outcome.messages_dropped = dropped;
    outcome.bulk_requests = requests;
    outcome.limited_contacts = limited;
    outcome.retry_after = retry_after;
    outcome.last_error = last_error;
    outcome.events_sent = events.sent;
    outcome.events_dropped = events.dropped;
    if outcome.last_error.is_none() {
        outcome.last_error = events.last_error;
    }
    outcome.retry_after = outcome.retry_after.max(events.retry_after);
    // Unsent work per contact, in the original contact order.
    for (index, contact) in work.contacts.iter().enumerate() {
        let messages = unsent_messages.get(&index).cloned().unwrap_or_default();
        let events = events.unsent.get(&index).cloned().unwrap_or_default();
        if !messages.is_empty() || !events.is_empty() {
            outcome.unsent.contacts.push(ContactWork { contact_id: contact.contact_id.clone(), messages, events });
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct MessagesOutcome {
    sent: usize,
    dropped: usize,
    requests: usize,
    unsent: std::collections::HashMap<usize, Vec<scv_shared::scrt::TranscriptMessage>>,
    limited: BTreeSet<String>,
    retry_after: Option<Duration>,
    last_error: Option<String>,
}

/// Bulk requests one after another (a contact's chunks are in order across them); once a contact's
/// entry is not accepted, its later chunks are held back so the retry keeps the order.
async fn send_messages(work: &Work, deadline: Deadline, deps: &Deps) -> MessagesOutcome {
    let mut out = MessagesOutcome::default();
    let counts: Vec<usize> = work.contacts.iter().map(|c| c.messages.len()).collect();
    let plan = pack::pack_bulk(&counts);
    // First chunk (message index) per contact that is not sent: everything from there is unsent.
    let mut held: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut dropped: HashSet<(usize, usize)> = HashSet::new();
    for request in plan {
        let entries: Vec<pack::Chunk> = request.into_iter().filter(|c| !held.contains_key(&c.contact)).collect();
        if entries.is_empty() {
            continue;
        }
        let results = match send_bulk(work, &entries, deadline, deps, &mut out).await {
            Ok(results) => results,
            Err(rejection) if entries.len() > 1 => {
                // Rejected as a whole: one request per entry, so one bad entry holds back no other.
                tracing::warn!(error = %rejection, "the bulk request was rejected as a whole; sending its entries one by one");
                let mut results = Vec::with_capacity(entries.len());
                for chunk in &entries {
                    let single = send_bulk(work, std::slice::from_ref(chunk), deadline, deps, &mut out).await;
                    results.extend(single.unwrap_or_else(|rejection| vec![EntryResult::Dropped(rejection)]));
                }
                results
            }
            Err(rejection) => vec![EntryResult::Dropped(rejection)],
        };
        for (chunk, result) in entries.iter().zip(results) {
            let contact = &work.contacts[chunk.contact].contact_id;
            match result {
                EntryResult::Sent => out.sent += chunk.len,
                EntryResult::Dropped(reason) => {
                    out.dropped += chunk.len;
                    dropped.insert((chunk.contact, chunk.start));
                    tracing::error!(
                        contactId = %contact,
                        messages = chunk.len,
                        reason = %reason,
                        "{} transcript message(s) for contact {contact} were rejected and will not be retried: {reason}",
                        chunk.len
                    );
                }
                EntryResult::Unsent { reason, limit } => {
                    if limit {
                        out.limited.insert(contact.clone());
                    }
                    tracing::warn!(contactId = %contact, messages = chunk.len, reason = %reason, "transcript messages not accepted yet");
                    out.last_error = Some(reason);
                    held.insert(chunk.contact, chunk.start);
                }
            }
        }
    }
    for (contact, start) in held {
        out.unsent.insert(contact, work.contacts[contact].messages[start..].to_vec());
    }
    out
}

/// One bulk request; the result of each entry, or why Salesforce rejected the request as a whole
/// (a 4xx that no retry changes).
async fn send_bulk(
    work: &Work,
    entries: &[pack::Chunk],
    deadline: Deadline,
    deps: &Deps,
    out: &mut MessagesOutcome,
) -> Result<Vec<EntryResult>, String> {
    let request = BulkTranscripts {
        entries: entries
            .iter()
            .map(|c| BulkTranscriptEntry {
                vendor_call_key: work.contacts[c.contact].contact_id.clone(),
                messages: work.contacts[c.contact].messages[c.start..c.start + c.len].to_vec(),
            })
            .collect(),
    };
    let op_deadline = Deadline::after(deps.settings.operation_budget).min(deadline);
    out.requests += 1;
    match deps.telephony.create_transcripts_bulk(&request, op_deadline).await {
        Ok(response) => Ok(match response.error_response {
            None => vec![EntryResult::Sent; entries.len()],
            Some(errors) => request
                .entries
                .iter()
                .map(|entry| {
                    match errors.error_response_entries.iter().find(|e| e.vendor_call_key == entry.vendor_call_key) {
                        Some(e) => classify_entry(e.status, &e.message),
                        None => EntryResult::Unsent {
                            reason: "the multi-status answer does not mention this call".into(),
                            limit: false,
                        },
                    }
                })
                .collect(),
        }),
        Err(e) => {
            if let ScrtError::Limit { retry_after, .. } = &e {
                out.retry_after = out.retry_after.max(*retry_after);
            }
            let whole_request_rejected =
                !e.is_retryable() && !matches!(e, ScrtError::Key { .. }) && e.status().is_some();
            if whole_request_rejected {
                return Err(e.to_string());
            }
            Ok(vec![EntryResult::Unsent { reason: e.to_string(), limit: e.is_limit() }; entries.len()])
        }
    }
}

/// (contact index, sent, dropped, unsent events, Retry-After, last error) of one contact.
type ContactEventsResult = (usize, usize, usize, Vec<ConversationEvent>, Option<Duration>, Option<String>);

#[derive(Debug, Default)]
struct EventsOutcome {
    sent: usize,
    dropped: usize,
    unsent: std::collections::HashMap<usize, Vec<ConversationEvent>>,
    retry_after: Option<Duration>,
    last_error: Option<String>,
}

/// Real-time events per contact in chunks of [`EVENTS_PER_REQUEST`], ascending by `startTime`;
/// contacts in parallel (bounded), a contact's chunks one after another.
async fn send_events(work: &Work, deadline: Deadline, deps: &Deps) -> EventsOutcome {
    let results: Vec<ContactEventsResult> = stream::iter(
        work.contacts.iter().enumerate().filter(|(_, c)| !c.events.is_empty()),
    )
    .map(|(index, contact)| async move {
        let (mut sent, mut dropped) = (0, 0);
        let mut retry_after = None;
        let mut last_error = None;
        let mut position = 0;
        while position < contact.events.len() {
            let end = (position + EVENTS_PER_REQUEST).min(contact.events.len());
            let request = ConversationEvents {
                service: SERVICE.into(),
                events: contact.events[position..end].to_vec(),
                persist: Some(false),
            };
            let op_deadline = Deadline::after(deps.settings.operation_budget).min(deadline);
            match deps.telephony.send_realtime_events(&contact.contact_id, &request, op_deadline).await {
                Ok(_) => sent += end - position,
                Err(e) if e.is_retryable() || matches!(e, ScrtError::Key { .. }) => {
                    if let ScrtError::Limit { retry_after: r, .. } = &e {
                        retry_after = *r;
                    }
                    tracing::warn!(contactId = %contact.contact_id, error = %e, "real-time events not accepted yet");
                    last_error = Some(e.to_string());
                    return (index, sent, dropped, contact.events[position..].to_vec(), retry_after, last_error);
                }
                Err(e) => {
                    dropped += end - position;
                    tracing::error!(
                        contactId = %contact.contact_id,
                        events = end - position,
                        error = %e,
                        "real-time events for contact {} were rejected and will not be retried",
                        contact.contact_id
                    );
                }
            }
            position = end;
        }
        (index, sent, dropped, Vec::new(), retry_after, last_error)
    })
    .buffer_unordered(deps.settings.event_concurrency.max(1))
    .collect()
    .await;
    let mut out = EventsOutcome::default();
    for (index, sent, dropped, unsent, retry_after, last_error) in results {
        out.sent += sent;
        out.dropped += dropped;
        if !unsent.is_empty() {
            out.unsent.insert(index, unsent);
        }
        out.retry_after = out.retry_after.max(retry_after);
        if last_error.is_some() {
            out.last_error = last_error;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_status_entries_are_classified() {
        let cases = [
            (202, "Successfully Processed Transcripts with Id(s) [a]", EntryResult::Sent),
            (
                400,
                "Error Processing Transcript with Id(s) [a]. Error: io.grpc.StatusRuntimeException: PERMISSION_DENIED: Conversation does not exist",
                EntryResult::Dropped(String::new()),
            ),
            (
                500,
                "Error: io.grpc.StatusRuntimeException: UNAVAILABLE: try later",
                EntryResult::Unsent { reason: String::new(), limit: false },
            ),
            (429, "Too many", EntryResult::Unsent { reason: String::new(), limit: true }),
            (
                400,
                "Error: io.grpc.StatusRuntimeException: RESOURCE_EXHAUSTED: transcription limit exceeded",
                EntryResult::Unsent { reason: String::new(), limit: true },
            ),
            (
                400,
                "Error: io.grpc.StatusRuntimeException: INVALID_ARGUMENT: message m startTime is before the conversation start",
                EntryResult::Dropped(String::new()),
            ),
        ];
        for (status, message, expected) in cases {
            let got = classify_entry(status, message);
            let same = matches!(
                (&got, &expected),
                (EntryResult::Sent, EntryResult::Sent) | (EntryResult::Dropped(_), EntryResult::Dropped(_))
            ) || matches!((&got, &expected), (EntryResult::Unsent { limit: a, .. }, EntryResult::Unsent { limit: b, .. }) if a == b);
            assert!(same, "{status} {message}: {got:?}");
        }
    }

    #[test]
    fn retry_delays_are_bounded_and_honour_retry_after() {
        let settings = Settings::default();
        for attempt in 1..10 {
            let d = retry_delay(&settings, attempt, None);
            assert!(d <= Duration::from_secs(30), "{attempt}: {d:?}");
        }
        assert!(retry_delay(&settings, 1, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        assert_eq!(retry_delay(&settings, 1, Some(Duration::from_secs(300))), Duration::from_secs(30));
    }

    #[test]
    fn retry_payloads_round_trip() {
        let payload = RetryPayload { attempt: 2, not_before: Some(5), work: Work::default() };
        let value = json!({RETRY_KEY: payload.clone()});
        let back: RetryPayload = serde_json::from_value(value[RETRY_KEY].clone()).expect("round trip");
        assert_eq!(back, payload);
        assert_eq!(value[RETRY_KEY]["notBefore"], 5);
    }
}
