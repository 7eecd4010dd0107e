//! The Telephony Integration API client (docs/telephony-integration-api.md#endpoints): every endpoint, typed requests and
//! responses, a fresh RS256 JWT per attempt, timeouts, bounded retries with full jitter that
//! honour `Retry-After`, a key refresh on 401, and 429s that survive the retries surfaced as
//! [`ScrtError::Limit`] and logged with the `SCV_LIMITS_ERROR` prefix (docs/telephony-integration-api.md#limits).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::ScrtConfig;
use crate::http::{Context, Exchange, Idempotency, send_with_retries_as};
use crate::ids::PathId;
use crate::jwt::{Claims, Clock, SystemClock, sign};
use crate::keys::{KeyCache, KeyError};
use crate::retry::{Deadline, RetryPolicy};

/// The custom header the documentation lists on every endpoint. The official functions send
/// `amazon-connect` (the documentation's example says "Amazon Connect"); production accepts what
/// the official code sends, so this does too (docs/differences.md#provider-header).
pub const PROVIDER_HEADER: &str = "Telephony-Provider-Name";
pub const PROVIDER_NAME: &str = "amazon-connect";

/// The field a call id in the path is named by in errors: the VoiceCall id or the vendor call key
/// (the contact id), as each endpoint documents (Telephony Integration API, "Update Voice Call").
pub const CALL_ID_FIELD: &str = "call id (VoiceCall id or vendor call key)";

/// The log prefix Implementation Guide ch. 9 ("Monitor VoiceCall Limit Errors") tells admins to search CloudWatch for.
pub const LIMITS_ERROR_PREFIX: &str = "SCV_LIMITS_ERROR";

/// Every Telephony Integration API endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateVoiceCall,
    UpdateVoiceCall,
    CreateTranscript,
    CreateTranscriptsBulk,
    ExecuteOmniFlow,
    RealtimeConversationEvents,
    PostConversationEvents,
    Reroute,
    ClearRouting,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateVoiceCall => "createVoiceCall",
            Operation::UpdateVoiceCall => "updateVoiceCall",
            Operation::CreateTranscript => "createTranscript",
            Operation::CreateTranscriptsBulk => "createTranscriptsBulk",
            Operation::ExecuteOmniFlow => "executeOmniFlow",
            Operation::RealtimeConversationEvents => "sendRealtimeConversationEvents",
            Operation::PostConversationEvents => "storePostConversationEvents",
            Operation::Reroute => "reroute",
            Operation::ClearRouting => "clearRouting",
        }
    }

    /// Reroute is PATCH although the documentation says POST: the official functions send PATCH
    /// and that is what production accepts (docs/differences.md#reroute-method).
    pub fn method(self) -> Method {
        match self {
            Operation::CreateVoiceCall
            | Operation::CreateTranscript
            | Operation::CreateTranscriptsBulk
            | Operation::RealtimeConversationEvents
            | Operation::PostConversationEvents => Method::POST,
            Operation::UpdateVoiceCall | Operation::ExecuteOmniFlow | Operation::Reroute | Operation::ClearRouting => {
                Method::PATCH
            }
        }
    }

    /// The path below `SCRT_ENDPOINT_BASE`: fixed segments and the call id appended as one segment.
    /// A [`PathId`] holds no dot segment, separator or control character, so nothing can change the
    /// path; it is percent-encoded all the same.
    pub fn path(self, call_id: &PathId) -> String {
        let id = utf8_percent_encode(call_id.as_str(), PATH_SEGMENT);
        match self {
            Operation::CreateVoiceCall => "/voiceCalls".to_string(),
            Operation::CreateTranscriptsBulk => "/voiceCalls/messages".to_string(),
            Operation::UpdateVoiceCall => format!("/voiceCalls/{id}"),
            Operation::CreateTranscript => format!("/voiceCalls/{id}/messages"),
            Operation::ExecuteOmniFlow => format!("/voiceCalls/{id}/omniFlow"),
            Operation::RealtimeConversationEvents => format!("/voiceCalls/{id}/realtimeConversationEvents"),
            Operation::PostConversationEvents => format!("/voiceCalls/{id}/postConversationEvents"),
            Operation::Reroute => format!("/voiceCalls/{id}/reroute"),
            Operation::ClearRouting => format!("/voiceCalls/{id}/clearRouting"),
        }
    }

    /// The path of an operation without a call id.
    fn fixed_path(self) -> &'static str {
        match self {
            Operation::CreateTranscriptsBulk => "/voiceCalls/messages",
            _ => "/voiceCalls",
        }
    }

    /// What a 2xx answer of this operation must hold, when it is not the documented shape
    /// (`docs/telephony-integration-api.md#endpoints`): `None` when `answer` has it. A success
    /// without it would hand the caller nothing (no `voiceCallId` for the flow) and no error.
    pub fn missing_in_answer(self, answer: &Map<String, Value>) -> Option<&'static str> {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
        match self {
            Operation::CreateVoiceCall if !text("voiceCallId") => Some("voiceCallId"),
            Operation::CreateTranscript | Operation::CreateTranscriptsBulk if !text("result") => Some("result"),
            Operation::ExecuteOmniFlow if !["agent", "queue", "errors"].iter().any(|k| answer.contains_key(*k)) => {
                Some("agent, queue or errors")
            }
            _ => None,
        }
    }

    /// Whether sending the request twice is harmless, which decides what the client retries
    /// (issue 13 item 2; docs/telephony-integration-api.md#retries):
    ///
    /// - Store a Post-Call Conversation Event and Send Real-time Conversation Events carry events
    ///   with no id (only type, value, times, participant): a repeat stores them twice. Not
    ///   idempotent: retried only when the request provably never arrived (connection refused)
    ///   or was refused as a limit (429); a 5xx, a timeout or a cut-off answer ends the exchange
    ///   and the caller's own record decides (PostCallAnalysisTrigger's progress record re-posts
    ///   only the unacknowledged batch on redelivery, once, instead of up to every attempt here).
    /// - Create a Voice Call is keyed by `vendorCallKey` and Create a Transcript (single or bulk)
    ///   by `messageId`, "unique for the given conversation" (Service Cloud Voice for Partner
    ///   Telephony Developer Guide, Telephony Integration REST API); updates (PATCH) set named
    ///   fields: retried on any retryable failure.
    /// - Execute an Omni-Channel Flow runs the flow and "creates a PendingServiceRequest", and
    ///   Reroute a Voice Call "closes any agentWork that is already accepted and reroutes the call
    ///   to a different rep" (Service Cloud Voice Implementation Guide, ch. 3, Telephony Integration
    ///   REST API): a repeat routes the call again, closing the work the first one created. Not
    ///   idempotent, whatever their HTTP method: retried only when the request provably never
    ///   arrived (connection refused) or was refused as a limit (429).
    /// - Clear Routing "deletes the PendingServiceRouting (PSR) record": deleting it again changes
    ///   nothing (the call is still there, its PSR still gone), so it is retried (cancelOmniFlowExecution).
    pub fn idempotency(self) -> Idempotency {
        match self {
            Operation::PostConversationEvents
            | Operation::RealtimeConversationEvents
            | Operation::ExecuteOmniFlow
            | Operation::Reroute => Idempotency::NotIdempotent,
            Operation::CreateVoiceCall
            | Operation::UpdateVoiceCall
            | Operation::CreateTranscript
            | Operation::CreateTranscriptsBulk
            | Operation::ClearRouting => Idempotency::Idempotent,
        }
    }

    fn takes_call_id(self) -> bool {
        !matches!(self, Operation::CreateVoiceCall | Operation::CreateTranscriptsBulk)
    }

    /// The official functions send no provider header on clearRouting and reroute.
    pub fn sends_provider_header(self) -> bool {
        !matches!(self, Operation::Reroute | Operation::ClearRouting)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 3986 unreserved characters stay; everything else in a path segment is encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A failed Telephony Integration API operation. Messages name the operation and the contact and
/// never contain a token or key.
#[derive(Debug, Error)]
pub enum ScrtError {
    #[error(
        "{operation} for contact {contact_id}: Salesforce limit reached (HTTP 429) after {attempts} attempt(s): {message}"
    )]
    Limit { operation: Operation, contact_id: String, attempts: u32, retry_after: Option<Duration>, message: String },
    #[error(
        "{operation} for contact {contact_id}: Salesforce answered HTTP {status} after {attempts} attempt(s): {message}"
    )]
    Status { operation: Operation, contact_id: String, status: u16, attempts: u32, message: String },
    #[error("{operation} for contact {contact_id}: {message} after {attempts} attempt(s)")]
    Transport { operation: Operation, contact_id: String, attempts: u32, message: String },
    #[error("{operation} for contact {contact_id}: deadline reached after {attempts} attempt(s){last}")]
    Deadline { operation: Operation, contact_id: String, attempts: u32, last: String },
    #[error("{operation} for contact {contact_id}: {source}")]
    Key { operation: Operation, contact_id: String, source: KeyError },
    #[error("{operation} for contact {contact_id}: {message}")]
    Invalid { operation: Operation, contact_id: String, message: String },
    #[error("{operation} for contact {contact_id}: unexpected answer from Salesforce: {message}")]
    Decode { operation: Operation, contact_id: String, message: String },
    /// The operation went through InvokeTelephonyIntegrationApi (the official wiring) and failed there.
    #[error("{operation} for contact {contact_id}: {source}")]
    Function { operation: Operation, contact_id: String, source: Box<crate::invoke::InvokeError> },
}

impl ScrtError {
    /// Whether the same request may succeed later (limits, server errors, transport, deadline,
    /// a key fetch that failed in passing). 4xx answers and bad input will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            ScrtError::Limit { .. } | ScrtError::Transport { .. } | ScrtError::Deadline { .. } => true,
            ScrtError::Status { status, .. } => *status >= 500,
            ScrtError::Key { source, .. } => source.is_retryable(),
            ScrtError::Invalid { .. } | ScrtError::Decode { .. } => false,
            ScrtError::Function { source, .. } => source.is_retryable(),
        }
    }

    pub fn is_limit(&self) -> bool {
        match self {
            ScrtError::Limit { .. } => true,
            ScrtError::Function { source, .. } => source.is_limit(),
            _ => false,
        }
    }

    /// The HTTP status Salesforce answered last, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ScrtError::Limit { .. } => Some(429),
            ScrtError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A 2xx answer read as `R` once it has the documented shape ([`Operation::missing_in_answer`]);
/// an empty body reads as `{}`. The error says what was wrong, with the start of the body.
fn decode_answer<R: DeserializeOwned>(operation: Operation, status: u16, body: &str) -> Result<R, String> {
    let text = if body.trim().is_empty() { "{}" } else { body };
    let shown: String = text.chars().take(200).collect();
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("HTTP {status} with a body that does not parse: {e}: {shown}"))?;
    let Value::Object(map) = &value else {
        return Err(format!("HTTP {status} with a body that is not a JSON object: {shown}"));
    };
    if let Some(missing) = operation.missing_in_answer(map) {
        return Err(format!("HTTP {status} without {missing} in the answer: {shown}"));
    }
    serde_json::from_value(value).map_err(|e| format!("HTTP {status} with an answer of the wrong shape: {e}: {shown}"))
}

// ---------------------------------------------------------------------------------------------
// Requests and responses (docs/telephony-integration-api.md#endpoints). Responses keep unknown fields in `extra`.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub participant_key: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Participant {
    pub fn end_user(key: impl Into<String>) -> Self {
        Self { participant_key: key.into(), kind: "END_USER".into() }
    }
}

/// Create a Voice Call Record (`POST /voiceCalls`), also used for transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVoiceCall {
    pub call_center_api_name: String,
    pub vendor_call_key: String,
    pub to: String,
    pub from: String,
    pub initiation_method: String,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_subtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_voice_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_origin: Option<String>,
    /// A string holding a JSON object, as documented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_attributes: Option<String>,
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVoiceCallResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_call_id: Option<String>,
    /// An array, or a string when Salesforce created the call with field errors.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub errors: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Execute an Omni-Channel Flow (`PATCH /voiceCalls/{id}/omniFlow`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteOmniFlow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialed_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_dev_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_queue: Option<String>,
    /// Sent as a JSON object, as the official functions do.
    pub flow_input_parameters: Map<String, Value>,
}

/// The routing answer: `agent` / `queue` are `CallCenterRoutingMap` external ids, or `errors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One transcript message (Create a Transcript; an entry of Create Transcripts in Bulk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptMessage {
    pub participant_id: String,
    pub message_id: String,
    /// Epoch milliseconds.
    pub start_time: i64,
    pub end_time: i64,
    pub content: String,
    pub sender_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTranscriptEntry {
    pub vendor_call_key: String,
    pub messages: Vec<TranscriptMessage>,
}

/// Create Transcripts in Bulk (`POST /voiceCalls/messages`): at most 5 calls x 5 messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkTranscripts {
    pub entries: Vec<BulkTranscriptEntry>,
}

pub const BULK_MAX_CALLS: usize = 5;
pub const BULK_MAX_MESSAGES: usize = 5;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkErrorEntry {
    #[serde(default)]
    pub vendor_call_key: String,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkErrorResponse {
    #[serde(default)]
    pub error_response_entries: Vec<BulkErrorEntry>,
}

/// `{"result":"Accepted"}`, or the documented multi-status answer with one entry per call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkTranscriptResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_response: Option<BulkErrorResponse>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One real-time or post-call conversation event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// Epoch milliseconds.
    pub start_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Body of the real-time and post-call conversation event endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationEvents {
    pub service: String,
    pub events: Vec<ConversationEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<bool>,
}

/// Answers with no fixed shape (`{"status":"pending"}`, `{"result":"Accepted"}`, ...).
pub type JsonObject = Map<String, Value>;

// ---------------------------------------------------------------------------------------------

/// The client. Build it once at cold start; it is cheap to share by reference.
pub struct TelephonyClient {
    http: reqwest::Client,
    base: String,
    call_center_api_name: String,
    org_id: String,
    keys: Arc<KeyCache>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
}

impl fmt::Debug for TelephonyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelephonyClient").field("base", &self.base).field("keys", &self.keys).finish()
    }
}

impl TelephonyClient {
    pub fn new(cfg: &ScrtConfig, http: reqwest::Client, keys: Arc<KeyCache>) -> Self {
        Self {
            http,
            base: cfg.endpoint_base.clone(),
            call_center_api_name: cfg.call_center_api_name.clone(),
            org_id: cfg.org_id.clone(),
            keys,
            clock: Arc::new(SystemClock),
            policy: RetryPolicy::default(),
        }
    }

    /// The client with its own key cache: the key from SSM (or the Parameters and Secrets
    /// extension, as `cfg` says), cached for `cfg.key_cache_ttl`.
    pub fn from_config(
        cfg: &ScrtConfig,
        ssm: crate::keys::SsmClient,
        http: reqwest::Client,
        env: &dyn crate::config::Env,
    ) -> Self {
        let source = crate::keys::KeySource::from_config(cfg, ssm, http.clone(), env);
        Self::new(cfg, http, Arc::new(KeyCache::new(source, cfg.key_cache_ttl)))
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn call_center_api_name(&self) -> &str {
        &self.call_center_api_name
    }

    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    /// POST /voiceCalls (inbound and transfer).
    pub async fn create_voice_call(
        &self,
        request: &CreateVoiceCall,
        deadline: Deadline,
    ) -> Result<CreateVoiceCallResponse, ScrtError> {
        self.send(Operation::CreateVoiceCall, "", &request.vendor_call_key, Some(request), deadline).await
    }

    /// PATCH /voiceCalls/{id}: `fields` as the caller gives them plus `callCenterApiName`.
    pub async fn update_voice_call(
        &self,
        call_id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        let body = self.with_call_center(fields);
        self.send(Operation::UpdateVoiceCall, call_id, call_id, Some(&body), deadline).await
    }

    /// POST /voiceCalls/{vendorCallKey}/messages: `message` plus `callCenterApiName`.
    pub async fn create_transcript<M: Serialize>(
        &self,
        vendor_call_key: &str,
        message: &M,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        let Ok(Value::Object(fields)) = serde_json::to_value(message) else {
            return Err(ScrtError::Invalid {
                operation: Operation::CreateTranscript,
                contact_id: vendor_call_key.into(),
                message: "the message is not a JSON object".into(),
            });
        };
        let body = self.with_call_center(&fields);
        self.send(Operation::CreateTranscript, vendor_call_key, vendor_call_key, Some(&body), deadline).await
    }

    /// POST /voiceCalls/messages. The caller packs at most [`BULK_MAX_CALLS`] x [`BULK_MAX_MESSAGES`].
    pub async fn create_transcripts_bulk(
        &self,
        request: &BulkTranscripts,
        deadline: Deadline,
    ) -> Result<BulkTranscriptResponse, ScrtError> {
        let contacts: Vec<&str> = request.entries.iter().map(|e| e.vendor_call_key.as_str()).collect();
        let label = contacts.join(",");
        if request.entries.len() > BULK_MAX_CALLS
            || request.entries.iter().any(|e| e.messages.len() > BULK_MAX_MESSAGES)
        {
            return Err(ScrtError::Invalid {
                operation: Operation::CreateTranscriptsBulk,
                contact_id: label,
                message: format!("a bulk request holds at most {BULK_MAX_CALLS} calls x {BULK_MAX_MESSAGES} messages"),
            });
        }
        self.send(Operation::CreateTranscriptsBulk, "", &label, Some(request), deadline).await
    }

    /// PATCH /voiceCalls/{id}/omniFlow.
    pub async fn execute_omni_flow(
        &self,
        call_id: &str,
        request: &ExecuteOmniFlow,
        deadline: Deadline,
    ) -> Result<RoutingResponse, ScrtError> {
        self.send(Operation::ExecuteOmniFlow, call_id, call_id, Some(request), deadline).await
    }

    /// POST /voiceCalls/{vendorCallKey}/realtimeConversationEvents.
    pub async fn send_realtime_events(
        &self,
        vendor_call_key: &str,
        request: &ConversationEvents,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        self.send(Operation::RealtimeConversationEvents, vendor_call_key, vendor_call_key, Some(request), deadline)
            .await
    }

    /// POST /voiceCalls/{vendorCallKey}/postConversationEvents.
    pub async fn store_post_call_events(
        &self,
        vendor_call_key: &str,
        request: &ConversationEvents,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        self.send(Operation::PostConversationEvents, vendor_call_key, vendor_call_key, Some(request), deadline).await
    }

    /// Reroute a Voice Call (no body).
    pub async fn reroute(&self, call_id: &str, deadline: Deadline) -> Result<JsonObject, ScrtError> {
        self.send::<(), _>(Operation::Reroute, call_id, call_id, None, deadline).await
    }

    /// Clear Routing (no body).
    pub async fn clear_routing(&self, call_id: &str, deadline: Deadline) -> Result<JsonObject, ScrtError> {
        self.send::<(), _>(Operation::ClearRouting, call_id, call_id, None, deadline).await
    }

    fn with_call_center(&self, fields: &Map<String, Value>) -> Map<String, Value> {
        let mut body = fields.clone();
        body.insert("callCenterApiName".into(), Value::String(self.call_center_api_name.clone()));
        body
    }

    /// One operation: sign, send, retry what may pass, refresh the key once on 401.
    async fn send<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        operation: Operation,
        call_id: &str,
        contact_id: &str,
        body: Option<&B>,
        deadline: Deadline,
    ) -> Result<R, ScrtError> {
        let contact = contact_id.to_string();
        let invalid =
            |message: &str| ScrtError::Invalid { operation, contact_id: contact.clone(), message: message.into() };
        // The one way a call id reaches the path (issue 13 item 1): `..` or `a/b` would walk to
        // another endpoint once the URL is parsed.
        let url = if operation.takes_call_id() {
            let id = PathId::parse(CALL_ID_FIELD, call_id).map_err(|e| invalid(&e.to_string()))?;
            format!("{}{}", self.base, operation.path(&id))
        } else {
            format!("{}{}", self.base, operation.fixed_path())
        };
        let payload = match body {
            Some(b) => {
                Some(serde_json::to_vec(b).map_err(|e| invalid(&format!("the request cannot be encoded: {e}")))?)
            }
            None => None,
        };
        let key_error = |source: KeyError| ScrtError::Key { operation, contact_id: contact.clone(), source };
        let mut key = self.keys.get(deadline).await.map_err(key_error)?;
        let context = Context { operation: operation.name(), contact_id };
        let mut refreshed = false;
        let mut earlier_attempts = 0;
        loop {
            let signing_key = key.clone();
            let attempt = |timeout: Duration| {
                // A fresh token per attempt: a retried request must not replay a jti.
                let claims = Claims::scrt(&self.org_id, &self.call_center_api_name, self.clock.now_unix());
                let token = sign(&claims, signing_key.encoding_key());
                let mut request = self
                    .http
                    .request(operation.method(), &url)
                    .header(CONTENT_TYPE, "application/json")
                    .timeout(timeout);
                if let Ok(token) = &token {
                    request = request.header(AUTHORIZATION, token.header_value());
                }
                if operation.sends_provider_header() {
                    request = request.header(PROVIDER_HEADER, PROVIDER_NAME);
                }
                if let Some(bytes) = &payload {
                    request = request.body(bytes.clone());
                }
                request.send()
            };
            let idempotency = operation.idempotency();
            let exchange = send_with_retries_as(idempotency, &self.policy, deadline, context, attempt, |a| {
                a.status == 429 || (a.status >= 500 && idempotency == Idempotency::Idempotent)
            })
            .await;
            match exchange {
                Exchange::Answered { answer, .. } if answer.is_success() => {
                    return decode_answer(operation, answer.status, &answer.body)
                        .map_err(|message| ScrtError::Decode { operation, contact_id: contact.clone(), message });
                }
                Exchange::Answered { answer, attempts } if answer.status == 401 && !refreshed => {
                    // The key may have been rotated: fetch it again, once, and retry at once.
                    refreshed = true;
                    earlier_attempts += attempts;
                    tracing::warn!(contactId = %contact, operation = operation.name(), "Salesforce rejected the token (401); reloading the private key once");
                    key = self.keys.refresh(&key, deadline).await.map_err(key_error)?;
                }
                Exchange::Answered { answer, attempts } if answer.status == 429 => {
                    let message = error_message(&answer.body);
                    let attempts = earlier_attempts + attempts;
                    tracing::error!(
                        contactId = %contact,
                        operation = operation.name(),
                        attempts,
                        "{LIMITS_ERROR_PREFIX}: Salesforce limit reached (HTTP 429) on {} for contact {contact}: {message}",
                        operation.name()
                    );
                    return Err(ScrtError::Limit {
                        operation,
                        contact_id: contact,
                        attempts,
                        retry_after: answer.retry_after,
                        message,
                    });
                }
                Exchange::Answered { answer, attempts } => {
                    return Err(ScrtError::Status {
                        operation,
                        contact_id: contact,
                        status: answer.status,
                        attempts: earlier_attempts + attempts,
                        message: error_message(&answer.body),
                    });
                }
                Exchange::Failed { error, attempts } => {
                    return Err(ScrtError::Transport {
                        operation,
                        contact_id: contact,
                        attempts: earlier_attempts + attempts,
                        message: error,
                    });
                }
                Exchange::OutOfTime { attempts, last } => {
                    let last = last.map(|l| format!("; last: {l}")).unwrap_or_default();
                    return Err(ScrtError::Deadline {
                        operation,
                        contact_id: contact,
                        attempts: earlier_attempts + attempts,
                        last,
                    });
                }
            }
        }
    }
}

/// The readable part of a Salesforce error body: `[{errorCode, message}]`, `{errorCode,
/// message}`, `{errors: [...]}`, OAuth's `{error, error_description}`, or the text itself.
pub fn error_message(body: &str) -> String {
    fn entry(v: &Value) -> Option<String> {
        let code = v.get("errorCode").or_else(|| v.get("error")).and_then(Value::as_str);
        let message = v.get("message").or_else(|| v.get("error_description")).and_then(Value::as_str);
        match (code, message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (Some(c), None) => Some(c.to_string()),
            (None, Some(m)) => Some(m.to_string()),
            (None, None) => v.as_str().map(str::to_string),
        }
    }
    let text = match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) => items.iter().filter_map(entry).collect::<Vec<_>>().join("; "),
        Ok(Value::Object(map)) => match map.get("errors") {
            Some(Value::Array(items)) => items.iter().filter_map(entry).collect::<Vec<_>>().join("; "),
            _ => entry(&Value::Object(map.clone())).unwrap_or_else(|| Value::Object(map).to_string()),
        },
        _ => body.trim().to_string(),
    };
    let text = if text.is_empty() { "(no details)".to_string() } else { text };
    let clipped: String = text.chars().take(500).collect();
    crate::logging::scrub(&clipped).unwrap_or(clipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_call_id_as_one_segment() {
        let id = |s| PathId::parse("contactId", s).unwrap();
        assert_eq!(Operation::UpdateVoiceCall.path(&id("abc-123")), "/voiceCalls/abc-123");
        assert_eq!(Operation::ClearRouting.path(&id("0LQ5g000000abcD")), "/voiceCalls/0LQ5g000000abcD/clearRouting");
        assert_eq!(Operation::CreateVoiceCall.path(&id("ignored")), "/voiceCalls");
        assert_eq!(Operation::CreateVoiceCall.fixed_path(), "/voiceCalls");
        assert_eq!(Operation::CreateTranscriptsBulk.fixed_path(), "/voiceCalls/messages");
    }

    #[test]
    fn a_2xx_must_have_the_documented_answer() {
        let decode = |op, body: &str| decode_answer::<Value>(op, 200, body);
        let created: CreateVoiceCallResponse =
            decode_answer(Operation::CreateVoiceCall, 200, r#"{"voiceCallId":"0LQ1","errors":[]}"#)
                .expect("documented");
        assert_eq!(created.voice_call_id.as_deref(), Some("0LQ1"));
        for (op, body, missing) in [
            (Operation::CreateVoiceCall, r#"{"foo":1}"#, "without voiceCallId"),
            (Operation::CreateVoiceCall, "", "without voiceCallId"),
            (Operation::CreateVoiceCall, r#"{"voiceCallId":""}"#, "without voiceCallId"),
            (Operation::CreateVoiceCall, r#"{"voiceCallId":12}"#, "without voiceCallId"),
            (Operation::CreateTranscript, r#"{"foo":1}"#, "without result"),
            (Operation::CreateTranscriptsBulk, "{}", "without result"),
            (Operation::ExecuteOmniFlow, r#"{"foo":1}"#, "without agent, queue or errors"),
            (Operation::UpdateVoiceCall, "[1]", "not a JSON object"),
            (Operation::Reroute, "42", "not a JSON object"),
            (Operation::ClearRouting, "{", "does not parse"),
        ] {
            let err = decode(op, body).expect_err(body);
            assert!(err.contains(missing), "{op} {body}: {err}");
        }
        for (op, body) in [
            (Operation::ExecuteOmniFlow, r#"{"errors":["no flow"]}"#),
            (Operation::ExecuteOmniFlow, r#"{"queue":"Q"}"#),
            (Operation::CreateTranscriptsBulk, r#"{"result":"Accepted"}"#),
            (Operation::UpdateVoiceCall, r#"{"status":"pending"}"#),
            (Operation::ClearRouting, ""),
        ] {
            decode(op, body).unwrap_or_else(|e| panic!("{op} {body}: {e}"));
        }
    }

    #[test]
    fn methods_and_provider_header_follow_the_official_wire() {
        assert_eq!(Operation::Reroute.method(), Method::PATCH);
        assert_eq!(Operation::ClearRouting.method(), Method::PATCH);
        assert_eq!(Operation::CreateTranscript.method(), Method::POST);
        assert!(!Operation::Reroute.sends_provider_header());
        assert!(!Operation::ClearRouting.sends_provider_header());
        assert!(Operation::UpdateVoiceCall.sends_provider_header());
    }

    #[test]
    fn error_bodies_become_readable_messages() {
        assert_eq!(
            error_message(r#"[{"errorCode":"INVALID_INPUT","message":"to is required"}]"#),
            "INVALID_INPUT: to is required"
        );
        assert_eq!(
            error_message(r#"{"error":"invalid_grant","error_description":"expired"}"#),
            "invalid_grant: expired"
        );
        assert_eq!(error_message(r#"{"errors":["no channel","no flow"]}"#), "no channel; no flow");
        assert_eq!(error_message("Service Unavailable"), "Service Unavailable");
        assert_eq!(error_message(""), "(no details)");
        assert_eq!(error_message("bad token eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.c2ln"), "bad token [REDACTED]");
    }

    #[test]
    fn retryable_classification() {
        let op = Operation::UpdateVoiceCall;
        let status = |s| ScrtError::Status {
            operation: op,
            contact_id: "c".into(),
            status: s,
            attempts: 1,
            message: String::new(),
        };
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        let limit = ScrtError::Limit {
            operation: op,
            contact_id: "c".into(),
            attempts: 3,
            retry_after: None,
            message: String::new(),
        };
        assert!(limit.is_retryable() && limit.is_limit());
        assert_eq!(limit.status(), Some(429));
        assert!(limit.to_string().contains("for contact c"));
    }

    #[test]
    fn request_bodies_serialise_as_documented() {
        let create = CreateVoiceCall {
            call_center_api_name: "CC".into(),
            vendor_call_key: "k".into(),
            to: "+1".into(),
            from: "+2".into(),
            initiation_method: "Inbound".into(),
            start_time: "2024-01-01T00:00:00.000Z".into(),
            call_subtype: Some("PSTN".into()),
            parent_voice_call_id: None,
            queue: None,
            call_origin: None,
            call_attributes: Some("{}".into()),
            participants: vec![Participant::end_user("+2")],
        };
        let v = serde_json::to_value(&create).unwrap();
        assert_eq!(v["callSubtype"], "PSTN");
        assert_eq!(v["participants"][0]["type"], "END_USER");
        assert!(v.get("parentVoiceCallId").is_none());
        let flow = ExecuteOmniFlow { dialed_number: Some("+1".into()), ..Default::default() };
        assert_eq!(
            serde_json::to_value(&flow).unwrap(),
            serde_json::json!({"dialedNumber":"+1","flowInputParameters":{}})
        );
    }
}
