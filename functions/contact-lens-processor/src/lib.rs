//! ContactLensProcessor: invoked asynchronously by the ContactLensConsumer with a Kinesis-shaped
//! event (docs/functions.md#contactlensprocessor). `Utterance` segments become
//! transcript messages through Create Transcripts in Bulk; `Categories` and sentiment become
//! real-time conversation events (docs/telephony-integration-api.md#send-a-real-time-conversation-event).
//!
//! Nothing is reported as success that was not accepted: every bulk entry of the multi-status
//! answer is inspected, and what still fails after the client's own retries is handed to a new
//! asynchronous invocation of this function carrying only that work (a bounded attempt counter in
//! the payload), or fails the invocation when that is not possible. Message ids are the utterance
//! ids, so a retry cannot duplicate a message.

pub mod handover;
pub mod pack;
pub mod send;
pub mod work;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scv_shared::concurrency::Aimd;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, ConnectConfig, Env, ProcessEnv, ProcessorConfig, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::kinesis;
use scv_shared::retry::{Deadline, RetryPolicy};
use scv_shared::scrt::TelephonyClient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub use handover::{RetryPayload, retry_delay};
pub use send::{EntryResult, Outcome, classify_entry, send};
pub use work::{ContactWork, Work};

use handover::{hand_over, now_ms, wait_until};
use send::record_transcription_limit;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "ContactLensProcessor";
/// The `service` of real-time conversation events for Amazon Connect (Implementation Guide ch. 3).
pub const SERVICE: &str = "AmazonConnectContactLens";
/// The top-level key of a retry invocation's payload (the official consumer never sends it).
pub const RETRY_KEY: &str = "scvContactLensRetry";
/// The contact attribute the CTR sync copies into the VoiceCall (docs/telephony-integration-api.md#transcription-limits).
pub const TRANSCRIPTION_STATUS_ATTRIBUTE: &str = "sf_realtime_transcription_status";
/// The contact attribute and VoiceCall custom field Implementation Guide ch. 9 ("Monitor
/// Transcription-Related Limit Errors") names; written beside the official name, so an org
/// configured either way gets its field (docs/differences.md#transcription-status-attribute).
pub const TRANSCRIPTION_STATUS_FIELD: &str = "sf_realtime_transcription_status__c";
/// The value the official kvsTranscriber writes there (docs/differences.md#transcription-status-attribute).
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
    /// The most contacts whose real-time events are sent at once: the ceiling of the adaptive
    /// concurrency ([`Deps::limiter`]), which starts there.
    pub event_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            operation_budget: Duration::from_secs(6),
            max_retry_invocations: 3,
            retry_base_delay: Duration::from_secs(2),
            max_payload_bytes: ASYNC_PAYLOAD_LIMIT,
            event_concurrency: 16,
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
    /// Contacts sent at once, adapted to Salesforce's answers (AIMD, `settings.event_concurrency` the
    /// ceiling), kept for the container's life.
    pub limiter: Arc<Aimd>,
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
    /// Runs one contact's sending holding a permit of [`Deps::limiter`], which learns from its answers.
    pub async fn limited<F: std::future::Future>(&self, work: F) -> F::Output {
        let _permit = self.limiter.acquire().await;
        scv_shared::concurrency::scoped(self.limiter.clone(), work).await
    }

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
            limiter: Arc::new(Aimd::new(settings.event_concurrency)),
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
/// Time kept before Lambda's deadline to hand unsent work over to a new invocation; it also bounds
/// each hand-over invoke.
pub(crate) const HANDOVER_MARGIN: Duration = Duration::from_secs(3);

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, ProcessorError> {
    let (payload, context) = event.into_parts();
    // Leave room to hand unsent work over before Lambda's own deadline.
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(900))
        .min(Deadline::at(deadline_before(context.deadline(), HANDOVER_MARGIN)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
