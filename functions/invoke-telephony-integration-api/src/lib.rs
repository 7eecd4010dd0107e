//! InvokeTelephonyIntegrationApi: called from Amazon Connect flows (Implementation Guide ch. 6;
//! docs/functions.md#invoketelephonyintegrationapi) to create VoiceCalls (inbound, transfer), update them, execute or cancel the
//! Omni-Channel flow, reroute, and send a transcript message; an EventBridge schedule keeps it
//! warm.
//!
//! Output to Connect is a flat map of strings. A Salesforce limit (HTTP 429 after the retries)
//! answers `statusCode` `429` with the `SCV_LIMITS_ERROR` marker so the flow can branch (Implementation Guide
//! ch. 9, docs/telephony-integration-api.md#limits); every other failure fails the invocation so the flow's error branch runs.

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, Env, ProcessEnv, ScrtConfig};
use scv_shared::error::ErrorKind;
use scv_shared::flow::{
    ContactData, FlowEvent, FlowOutput, call_attributes, contact_label, flatten_top_level, strip_prefixed,
};
use scv_shared::ids::{IdError, PathId};
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{
    CreateVoiceCall, ExecuteOmniFlow, LIMITS_ERROR_PREFIX, Participant, ScrtError, TelephonyClient,
};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "invokeTelephonyIntegrationApi";

/// The WebRTC placeholder address. The documentation says `WEBRTC_DEFAULT`; the official
/// functions send `WebRTC_Default`, which is what production accepts (docs/differences.md#webrtc-placeholder).
pub const WEBRTC_DEFAULT: &str = "WebRTC_Default";

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub telephony: TelephonyClient,
    /// The longest one invocation spends on Salesforce, retries included (`SCRT_DEADLINE_MS`).
    pub budget: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let env = ProcessEnv;
        let cfg = ScrtConfig::from_env(&env)?;
        let sdk = scv_shared::aws::load().await;
        Ok(Self::new(&cfg, SsmClient::new(&sdk), &env))
    }

    pub fn new(cfg: &ScrtConfig, ssm: SsmClient, env: &dyn Env) -> Self {
        let http = scv_shared::aws::http_client();
        Self { telephony: TelephonyClient::from_config(cfg, ssm, http, env), budget: cfg.deadline }
    }
}

/// Why an invocation failed. Messages name the method, the contact and the field.
#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("the event is not an Amazon Connect flow event: {0}")]
    BadEvent(String),
    #[error("Details.Parameters.methodName is missing ({contact})")]
    MissingMethod { contact: String },
    /// Names the field and the contact (issue 13 item 4).
    #[error("Unsupported method: {method} (Details.Parameters.methodName, {contact})")]
    UnsupportedMethod { method: String, contact: String },
    #[error("{method}: the contact id is missing (set Details.Parameters.contactId or Details.ContactData.ContactId)")]
    MissingContactId { method: String },
    /// A field the method reads has the wrong type: `problem` names its JSON path and what was there.
    #[error("{method} for {contact}: {problem}")]
    WrongType { method: String, contact: String, problem: String },
    #[error("{method} for contact {contact_id}: {field} is missing{hint}")]
    MissingField { method: String, contact_id: String, field: &'static str, hint: &'static str },
    #[error("{method} for contact {contact_id}: {field} is malformed: {reason}")]
    Malformed { method: String, contact_id: String, field: &'static str, reason: String },
    #[error("{method}: {source}")]
    BadContactId { method: String, source: IdError },
    #[error(transparent)]
    Salesforce(#[from] ScrtError),
}

impl InvokeError {
    /// A short name for the Lambda error type (`errorType`), by kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvokeError::BadEvent(_) | InvokeError::Malformed { .. } | InvokeError::WrongType { .. } => {
                ErrorKind::InvalidEvent
            }
            InvokeError::MissingMethod { .. }
            | InvokeError::MissingContactId { .. }
            | InvokeError::MissingField { .. } => ErrorKind::MissingField,
            InvokeError::UnsupportedMethod { .. } => ErrorKind::UnsupportedMethod,
            InvokeError::BadContactId { source, .. } => source.kind(),
            InvokeError::Salesforce(e) if e.is_retryable() => ErrorKind::SalesforceUnavailable,
            InvokeError::Salesforce(_) => ErrorKind::SalesforceError,
        }
    }
}

scv_shared::diagnostic!(InvokeError);

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, InvokeError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), deps.budget);
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, deadline, deps).instrument(span).await
}

/// The testable handler.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<Value, InvokeError> {
    // Connect waits 8 s: every call below, SSM included, shares one deadline within that.
    let deadline = deadline.for_flow();
    let event = FlowEvent::from_value(payload).map_err(|e| InvokeError::BadEvent(e.to_string()))?;
    if event.is_scheduled() {
        return Ok(keep_warm(deps, deadline).await);
    }
    let contact = || contact_label(event.contact_id().as_deref());
    let Some(method) = event.parameter("methodName") else {
        return Err(match event.field_error("Details.Parameters.methodName", "a string") {
            Some(problem) => InvokeError::WrongType { method: "the flow event".into(), contact: contact(), problem },
            None => InvokeError::MissingMethod { contact: contact() },
        });
    };
    let contact_id = event.contact_id().ok_or_else(|| {
        let problem = event
            .field_error("Details.Parameters.contactId", "a string")
            .or_else(|| event.field_error("Details.ContactData.ContactId", "a string"));
        match problem {
            Some(problem) => InvokeError::WrongType { method: method.clone(), contact: contact(), problem },
            None => InvokeError::MissingContactId { method: method.clone() },
        }
    })?;
    // The contact id is the path of every call but createVoiceCall: only a valid id gets there
    // (issue 13 item 1; `..` would reach `/telephony/v1/clearRouting`).
    let field = if event.parameter("contactId").is_some() {
        "Details.Parameters.contactId"
    } else {
        "Details.ContactData.ContactId"
    };
    PathId::parse(field, &contact_id).map_err(|source| InvokeError::BadContactId { method: method.clone(), source })?;
    tracing::Span::current().record("contactId", contact_id.as_str());
    tracing::debug!(method = %method, "flow event received");
    tracing::info!(method = %method, "Invoke {method} request with {contact_id}");

    let call = Call { event: &event, method: &method, contact_id: &contact_id, deadline, deps };
    let result = match method.as_str() {
        "createVoiceCall" => call.create_voice_call(false).await,
        "createTransferVC" => call.create_voice_call(true).await,
        "updateVoiceCall" => call.update_voice_call().await,
        "executeOmniFlow" => call.execute_omni_flow().await,
        "cancelOmniFlowExecution" => {
            deps.telephony.clear_routing(&contact_id, deadline).await.map(Value::Object).map_err(Into::into)
        }
        "rerouteFlowExecution" => {
            deps.telephony.reroute(&contact_id, deadline).await.map(Value::Object).map_err(Into::into)
        }
        "sendMessage" => call.send_message().await,
        other => {
            tracing::warn!(method = other, "Unsupported method {other}");
            return Err(InvokeError::UnsupportedMethod { method: other.to_string(), contact: contact() });
        }
    };

    match result {
        Ok(body) => {
            let output = flatten_top_level(&body);
            tracing::info!(method = %method, output = ?output, "Response received from TelephonyService with {contact_id}");
            Ok(to_value(output))
        }
        Err(InvokeError::Salesforce(e)) if e.is_limit() => Ok(to_value(limit_output(&e))),
        Err(e) => {
            tracing::error!(method = %method, error = %e, "{method} failed");
            Err(e)
        }
    }
}

/// The keep-warm answer of the official function; the key is loaded on the way so the first
/// flow call after a cold start does not wait for SSM.
async fn keep_warm(deps: &Deps, deadline: Deadline) -> Value {
    if let Err(e) = deps.telephony.keys().get(deadline).await {
        tracing::warn!(error = %e, "keep-warm could not pre-load the private key");
    }
    json!({"statusCode": 200, "message": "Keep Lambda Warm"})
}

/// What a flow gets when Salesforce keeps answering 429 (Implementation Guide ch. 9): `statusCode` `429`
/// to branch on, and the `SCV_LIMITS_ERROR` marker. The shared client has already logged the
/// `SCV_LIMITS_ERROR` line for CloudWatch.
fn limit_output(e: &ScrtError) -> FlowOutput {
    FlowOutput::from([
        ("statusCode".to_string(), "429".to_string()),
        ("errorType".to_string(), LIMITS_ERROR_PREFIX.to_string()),
        ("errorMessage".to_string(), format!("{LIMITS_ERROR_PREFIX}: {e}")),
    ])
}

fn to_value(output: FlowOutput) -> Value {
    Value::Object(output.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// Who calls whom, as the create payload wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub from: String,
    pub to: String,
    pub participant_key: String,
}

/// `SegmentAttributes["connect:Subtype"]` is `connect:WebRTC`; anything else (or nothing) is PSTN.
pub fn is_webrtc(contact: &ContactData) -> bool {
    contact.subtype() == Some("connect:WebRTC")
}

/// PSTN: the customer calls the contact center's number, both required. WebRTC: the
/// `WebRTC_From`/`WebRTC_To` attributes, else the endpoints, else the placeholder; the participant
/// is always the placeholder. The error names the missing field.
pub fn endpoints(contact: &ContactData) -> Result<Endpoints, &'static str> {
    if is_webrtc(contact) {
        return Ok(Endpoints {
            from: contact
                .attribute("WebRTC_From")
                .or_else(|| contact.customer_address())
                .unwrap_or_else(|| WEBRTC_DEFAULT.into()),
            to: contact
                .attribute("WebRTC_To")
                .or_else(|| contact.system_address())
                .unwrap_or_else(|| WEBRTC_DEFAULT.into()),
            participant_key: WEBRTC_DEFAULT.into(),
        });
    }
    let from = contact.customer_address().ok_or("Details.ContactData.CustomerEndpoint.Address")?;
    let to = contact.system_address().ok_or("Details.ContactData.SystemEndpoint.Address")?;
    Ok(Endpoints { participant_key: from.clone(), from, to })
}

/// The contact's system endpoint when the event has one (it takes precedence), else
/// `fieldValues.dialedNumber` (docs/functions.md#invoketelephonyintegrationapi).
pub fn dialed_number(event: &FlowEvent, field_values: &Map<String, Value>) -> Option<String> {
    event
        .contact_data()
        .and_then(ContactData::system_address)
        .or_else(|| field_values.get("dialedNumber").and_then(scv_shared::flow::value_text))
}

/// One method call on behalf of one contact.
struct Call<'a> {
    event: &'a FlowEvent,
    method: &'a str,
    contact_id: &'a str,
    deadline: Deadline,
    deps: &'a Deps,
}

impl Call<'_> {
    /// The field is absent: missing, or of a type the method cannot use (then the error says
    /// what was there, at which JSON path).
    fn missing(&self, field: &'static str, hint: &'static str) -> InvokeError {
        let expected = if field == "Details.ContactData" { "an object" } else { "a string" };
        match self.event.field_error(field, expected) {
            Some(problem) => InvokeError::WrongType {
                method: self.method.into(),
                contact: contact_label(Some(self.contact_id)),
                problem,
            },
            None => InvokeError::MissingField {
                method: self.method.into(),
                contact_id: self.contact_id.into(),
                field,
                hint,
            },
        }
    }

    fn contact_data(&self) -> Result<&ContactData, InvokeError> {
        self.event.contact_data().ok_or_else(|| {
            self.missing("Details.ContactData", " (this method reads the contact's endpoints and attributes)")
        })
    }

    /// `Parameters.fieldValues`: an object, or a string holding one (what a flow's text
    /// parameter can carry).
    fn field_values(&self, required: bool) -> Result<Map<String, Value>, InvokeError> {
        match self.event.parameters().get("fieldValues") {
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(InvokeError::Malformed {
                    method: self.method.into(),
                    contact_id: self.contact_id.into(),
                    field: "Details.Parameters.fieldValues",
                    reason: "expected a JSON object".into(),
                }),
            },
            None | Some(Value::Null) if !required => Ok(Map::new()),
            None | Some(Value::Null) => Err(self.missing("Details.Parameters.fieldValues", "")),
            Some(_) => Err(InvokeError::Malformed {
                method: self.method.into(),
                contact_id: self.contact_id.into(),
                field: "Details.Parameters.fieldValues",
                reason: "expected a JSON object".into(),
            }),
        }
    }

    /// createVoiceCall and createTransferVC (docs/telephony-integration-api.md#create-a-voice-call-record).
    async fn create_voice_call(&self, transfer: bool) -> Result<Value, InvokeError> {
        let contact = self.contact_data()?;
        let webrtc = is_webrtc(contact);
        let Endpoints { from, to, participant_key } = endpoints(contact).map_err(|field| self.missing(field, ""))?;
        let parent_voice_call_id = if transfer {
            Some(contact.previous_contact_id.clone().filter(|p| !p.trim().is_empty()).ok_or_else(|| {
                self.missing("Details.ContactData.PreviousContactId", " (a transfer needs its parent call)")
            })?)
        } else {
            None
        };
        let request = CreateVoiceCall {
            call_center_api_name: self.deps.telephony.call_center_api_name().to_string(),
            vendor_call_key: self.contact_id.to_string(),
            to,
            from,
            initiation_method: if transfer { "Transfer" } else { "Inbound" }.to_string(),
            start_time: self.start_time(contact),
            call_subtype: Some(if webrtc { "WebRTC" } else { "PSTN" }.to_string()),
            parent_voice_call_id,
            queue: if transfer {
                contact.queue.as_ref().and_then(|q| q.arn.clone()).filter(|a| !a.is_empty())
            } else {
                None
            },
            call_origin: None,
            call_attributes: Some(call_attributes(&contact.attributes)),
            participants: vec![Participant::end_user(participant_key)],
        };
        let response = self.deps.telephony.create_voice_call(&request, self.deadline).await?;
        Ok(serde_json::to_value(response).unwrap_or(Value::Null))
    }

    /// The contact's `InitiationTimestamp` when the event carries one, else now.
    fn start_time(&self, contact: &ContactData) -> String {
        let format = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match contact.initiation_timestamp.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(t)) => format(t.with_timezone(&chrono::Utc)),
            Some(Err(_)) => {
                tracing::warn!(
                    field = "Details.ContactData.InitiationTimestamp",
                    "not an ISO-8601 timestamp; using the current time"
                );
                format(chrono::Utc::now())
            }
            None => format(chrono::Utc::now()),
        }
    }

    async fn update_voice_call(&self) -> Result<Value, InvokeError> {
        let fields = self.field_values(true)?;
        let response = self.deps.telephony.update_voice_call(self.contact_id, &fields, self.deadline).await?;
        Ok(Value::Object(response))
    }

    async fn execute_omni_flow(&self) -> Result<Value, InvokeError> {
        let dialed_number = dialed_number(self.event, &self.field_values(false)?).ok_or_else(|| {
            self.missing(
                "dialed number",
                " (set Details.ContactData.SystemEndpoint.Address or Details.Parameters.fieldValues.dialedNumber)",
            )
        })?;
        let request = ExecuteOmniFlow {
            dialed_number: Some(dialed_number),
            flow_dev_name: self.event.parameter("flowDevName"),
            fallback_queue: self.event.parameter("fallbackQueue"),
            flow_input_parameters: strip_prefixed(self.event.parameters(), "flowInput-"),
        };
        let response = self.deps.telephony.execute_omni_flow(self.contact_id, &request, self.deadline).await?;
        Ok(serde_json::to_value(response).unwrap_or(Value::Null))
    }

    async fn send_message(&self) -> Result<Value, InvokeError> {
        let fields = self.field_values(true)?;
        let response = self.deps.telephony.create_transcript(self.contact_id, &fields, self.deadline).await?;
        Ok(Value::Object(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(v: Value) -> ContactData {
        serde_json::from_value(v).expect("contact data")
    }

    #[test]
    fn pstn_needs_both_endpoints() {
        let c = contact(json!({"CustomerEndpoint": {"Address": "+1555"}, "SystemEndpoint": {"Address": "+1800"}}));
        assert_eq!(
            endpoints(&c),
            Ok(Endpoints { from: "+1555".into(), to: "+1800".into(), participant_key: "+1555".into() })
        );
        let c = contact(json!({"SystemEndpoint": {"Address": "+1800"}}));
        assert_eq!(endpoints(&c), Err("Details.ContactData.CustomerEndpoint.Address"));
        let c = contact(json!({"CustomerEndpoint": {"Address": "+1555"}, "SystemEndpoint": null}));
        assert_eq!(endpoints(&c), Err("Details.ContactData.SystemEndpoint.Address"));
    }

    #[test]
    fn webrtc_falls_back_from_attributes_to_endpoints_to_the_placeholder() {
        let webrtc = json!({"connect:Subtype": {"ValueString": "connect:WebRTC"}});
        let cases = [
            (
                json!({"WebRTC_From": "a@x", "WebRTC_To": "b@y"}),
                json!({"Address": "+1555"}),
                json!({"Address": "+1800"}),
                ("a@x", "b@y"),
            ),
            (json!({}), json!({"Address": "+1555"}), json!({"Address": "+1800"}), ("+1555", "+1800")),
            (json!({"WebRTC_From": ""}), json!(null), json!(null), ("WebRTC_Default", "WebRTC_Default")),
        ];
        for (attributes, customer, system, (from, to)) in cases {
            let c = contact(
                json!({"Attributes": attributes, "CustomerEndpoint": customer, "SystemEndpoint": system, "SegmentAttributes": webrtc}),
            );
            let e = endpoints(&c).expect("WebRTC never fails");
            assert_eq!((e.from.as_str(), e.to.as_str(), e.participant_key.as_str()), (from, to, "WebRTC_Default"));
        }
        let telephony =
            contact(json!({"SegmentAttributes": {"connect:Subtype": {"ValueString": "connect:Telephony"}}}));
        assert!(!is_webrtc(&telephony));
    }

    #[test]
    fn the_system_endpoint_takes_precedence_as_dialed_number() {
        let event: FlowEvent =
            serde_json::from_value(json!({"Details": {"ContactData": {"SystemEndpoint": {"Address": "+1800"}}}}))
                .unwrap();
        let fields: Map<String, Value> = serde_json::from_value(json!({"dialedNumber": "+1999"})).unwrap();
        assert_eq!(dialed_number(&event, &fields).as_deref(), Some("+1800"));
        let internal: FlowEvent = serde_json::from_value(json!({"Details": {"Parameters": {}}})).unwrap();
        assert_eq!(dialed_number(&internal, &fields).as_deref(), Some("+1999"));
        assert_eq!(dialed_number(&internal, &Map::new()), None);
    }
}
