//! HandleContactEvents: Amazon Connect contact events from EventBridge (Implementation Guide
//! ch. 6 "HandleContactEventsFunction"; docs/functions.md#handlecontactevents) keep Salesforce's routing consistent:
//!
//! - an inbound or transfer voice contact that disconnects without ever reaching an agent
//!   (abandoned or missed) gets Clear Routing (Implementation Guide ch. 3 "Clear Routing"), so no PendingServiceRouting
//!   record is left behind;
//! - a `CONTACT_DATA_UPDATED` event whose routing criteria hold an `EXPIRED` step with agents
//!   criteria (preferred-agent routing ran out) gets Reroute a Voice Call. Every step is examined,
//!   not only the first (docs/differences.md#contact-event-routing).
//!
//! Everything else (other event types, other channels, other initiation methods) is ignored and
//! logged at DEBUG. The Telephony Integration API is called directly through the shared client
//! (no Lambda-to-Lambda hop through InvokeTelephonyIntegrationApi) unless only the official
//! `INVOKE_TELEPHONY_INTEGRATION_API_ARN` is set: then InvokeTelephonyIntegrationApi is invoked with
//! `cancelOmniFlowExecution` / `rerouteFlowExecution`, and its `FunctionError` fails the invocation
//! (docs/migrating.md#two-wirings).
//!
//! Beyond the official function: a missing `steps` array or a null field is not a crash; a
//! non-voice contact is never cleared or rerouted as a voice call (docs/differences.md#contact-event-routing); a
//! failure fails the invocation with a message naming the contact (the official ignores the
//! invoked function's errors); and Salesforce answering 404 ("no voice call for this contact")
//! is logged and treated as done rather than retried, because no retry can make a call appear:
//! contacts that never reached the SCV flow (an IVR-only call, a contact of another center
//! sharing the instance) have no VoiceCall and nothing to clean up.

use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use scv_shared::config::invoke::INVOKE_TELEPHONY_INTEGRATION_API_ARN;
use scv_shared::config::{ConfigError, Env, ProcessEnv};
use scv_shared::error::ErrorKind;
use scv_shared::ids::{IdError, PathId};
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::ScrtError;
use scv_shared::wiring::Telephony;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "handleContactEvents";

/// The EventBridge `detail-type` of Amazon Connect contact events.
pub const CONTACT_EVENT: &str = "Amazon Connect Contact Event";
/// The initiation methods whose contacts Salesforce routes through Omni-Channel.
pub const ROUTED_METHODS: &[&str] = &["INBOUND", "TRANSFER"];

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    /// Salesforce directly, or InvokeTelephonyIntegrationApi (the official wiring).
    pub telephony: Telephony,
    /// The longest one invocation spends on Salesforce, retries included (`SCRT_DEADLINE_MS`, or
    /// `INVOKE_DEADLINE_MS` through a function).
    pub budget: Duration,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Self::new(&ProcessEnv, &sdk)
    }

    pub fn new(env: &dyn Env, sdk: &scv_shared::aws::SdkConfig) -> Result<Self, ConfigError> {
        let (telephony, budget) =
            Telephony::from_env(env, &[INVOKE_TELEPHONY_INTEGRATION_API_ARN], sdk, SsmClient::new(sdk))?;
        Ok(Self { telephony, budget })
    }
}

/// Why an invocation failed. Messages name the field and the contact.
#[derive(Debug, Error)]
pub enum HandleError {
    /// `contact` is [`scv_shared::flow::contact_label`] of `detail.contactId` when the raw event has one.
    #[error("the event is not an EventBridge event ({contact}): {reason}")]
    NotAnEvent { reason: String, contact: String },
    #[error("the {CONTACT_EVENT} has no detail")]
    MissingDetail,
    #[error("the {event_type} event has no detail.contactId")]
    MissingContactId { event_type: String },
    #[error("the contact event for contact {contact_id}: {field} is malformed: {reason}")]
    Malformed { contact_id: String, field: &'static str, reason: String },
    #[error("the contact event: {0}")]
    BadContactId(IdError),
    #[error(transparent)]
    Salesforce(#[from] ScrtError),
}

impl HandleError {
    /// A short name for the Lambda error type (`errorType`), by kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HandleError::NotAnEvent { .. } | HandleError::Malformed { .. } => ErrorKind::InvalidEvent,
            HandleError::BadContactId(e) => e.kind(),
            HandleError::MissingDetail | HandleError::MissingContactId { .. } => ErrorKind::MissingField,
            HandleError::Salesforce(e) if e.is_retryable() => ErrorKind::SalesforceUnavailable,
            HandleError::Salesforce(_) => ErrorKind::SalesforceError,
        }
    }
}

scv_shared::diagnostic!(HandleError);

// ---------------------------------------------------------------------------------------------
// The event. `aws_lambda_events` has the EventBridge envelope but no Amazon Connect contact event
// detail (its `connect` module is the flow event), so the detail is typed here. Every field is
// optional: the official predicates treat missing and null alike, and so does this.

/// An Amazon Connect contact event as EventBridge delivers it.
pub type ContactEvent = EventBridgeEvent<Value>;

/// The `detail` of an Amazon Connect contact event (the fields this function reads; the rest is
/// kept in `extra`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactEventDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiation_method: Option<String>,
    /// Only its presence matters (JavaScript truthiness, as the official predicate).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub agent_info: Value,
    /// Parsed on demand by [`ContactEventDetail::routing_criteria`], so a malformed routing
    /// criteria never stands in the way of a disconnect.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub routing_criteria: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContactEventDetail {
    /// The error starts with the JSON path inside `routingCriteria` (`steps[0].expression: ...`).
    pub fn routing_criteria(&self) -> Result<Option<RoutingCriteria>, String> {
        if !truthy(&self.routing_criteria) {
            return Ok(None);
        }
        scv_shared::error::decode_json::<RoutingCriteria>(&self.routing_criteria).map(Some)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingCriteria {
    /// Missing and null both mean no steps (the official code throws on a missing array).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub steps: Vec<Option<RoutingStep>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A routing step's expression: one attribute condition, or `and`/`or` lists of expressions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expression {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_condition: Option<AttributeCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and_expression: Option<Vec<Expression>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or_expression: Option<Vec<Expression>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_criteria: Option<MatchCriteria>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchCriteria {
    /// Only its presence matters (truthiness, as the official predicate).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub agents_criteria: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Expression {
    /// Whether this expression, or one nested in it, targets agents (preferred-agent routing).
    pub fn has_agents_criteria(&self) -> bool {
        self.attribute_condition
            .as_ref()
            .and_then(|c| c.match_criteria.as_ref())
            .is_some_and(|m| truthy(&m.agents_criteria))
            || self.and_expression.iter().flatten().any(Expression::has_agents_criteria)
            || self.or_expression.iter().flatten().any(Expression::has_agents_criteria)
    }
}

impl RoutingStep {
    pub fn is_expired_agents_step(&self) -> bool {
        self.status.as_deref() == Some("EXPIRED")
            && self.expression.as_ref().is_some_and(Expression::has_agents_criteria)
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// JavaScript truthiness of a JSON value (`null`, `false`, `0`, `""` are falsy; objects and arrays,
/// even empty, are truthy), which the official predicates rely on.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

// ---------------------------------------------------------------------------------------------

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An abandoned or missed inbound/transfer voice contact: clear its routing.
    ClearRouting { contact_id: String },
    /// Preferred-agent routing expired: reroute. `expired_steps` are the indices of the expired
    /// steps with agents criteria.
    Reroute { contact_id: String, expired_steps: Vec<usize> },
    /// Nothing to do, and why.
    Ignore { reason: String },
}

/// The pure decision: the official predicates (docs/functions.md#handlecontactevents) with every step examined, a channel
/// filter, and no crash on sparse input. Input that is not a contact event is an error naming
/// what was wrong; a contact event this function has no business with is [`Decision::Ignore`].
pub fn decide(payload: &Value) -> Result<Decision, HandleError> {
    let ignore = |reason: String| Ok(Decision::Ignore { reason });
    let event: ContactEvent = scv_shared::error::decode_json(payload).map_err(|reason| HandleError::NotAnEvent {
        reason,
        // The contact, when the raw event names one (issue 13 item 4).
        contact: scv_shared::flow::contact_label(payload.pointer("/detail/contactId").and_then(Value::as_str)),
    })?;
    if event.detail_type != CONTACT_EVENT {
        return ignore(format!("detail-type is {:?}, not {CONTACT_EVENT:?}", event.detail_type));
    }
    if !truthy(&event.detail) {
        return Err(HandleError::MissingDetail);
    }
    let detail: ContactEventDetail = scv_shared::error::decode_json(&event.detail).map_err(|reason| {
        HandleError::Malformed {
            contact_id: event.detail.get("contactId").and_then(Value::as_str).unwrap_or("(unknown)").to_string(),
            field: "detail",
            // The path inside `detail` of the field that failed, e.g. `channel: invalid type: ...`.
            reason,
        }
    })?;
    let event_type = detail.event_type.clone().unwrap_or_default();
    let method = detail.initiation_method.as_deref().unwrap_or_default();
    // Real contact events always carry the channel; an event without one is treated as voice, as
    // the official function (which never looks at it) does.
    if let Some(channel) = detail.channel.as_deref().filter(|c| *c != "VOICE") {
        return ignore(format!("channel {channel} is not VOICE"));
    }
    if !ROUTED_METHODS.contains(&method) {
        return ignore(format!(
            "{event_type} of a contact with initiation method {method:?}: not routed by Salesforce"
        ));
    }
    // The contact id is the path of the Salesforce call: only a valid id gets there (issue 13
    // item 1; `.` would reach `/voiceCalls/clearRouting`).
    let contact_id = || {
        let id = detail
            .contact_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| HandleError::MissingContactId { event_type: event_type.clone() })?;
        PathId::parse("detail.contactId", &id).map_err(HandleError::BadContactId)?;
        Ok::<_, HandleError>(id)
    };
    match event_type.as_str() {
        "DISCONNECTED" if truthy(&detail.agent_info) => ignore("DISCONNECTED after reaching an agent".into()),
        "DISCONNECTED" => Ok(Decision::ClearRouting { contact_id: contact_id()? }),
        "CONTACT_DATA_UPDATED" => {
            let criteria = detail.routing_criteria().map_err(|e| HandleError::Malformed {
                contact_id: detail.contact_id.clone().unwrap_or_else(|| "(unknown)".into()),
                field: "detail.routingCriteria",
                reason: e,
            })?;
            let Some(criteria) = criteria else {
                return ignore("CONTACT_DATA_UPDATED without routing criteria".into());
            };
            let expired_steps: Vec<usize> = criteria
                .steps
                .iter()
                .enumerate()
                .filter(|(_, step)| step.as_ref().is_some_and(RoutingStep::is_expired_agents_step))
                .map(|(i, _)| i)
                .collect();
            if expired_steps.is_empty() {
                return ignore("CONTACT_DATA_UPDATED without an expired agents-criteria routing step".into());
            }
            Ok(Decision::Reroute { contact_id: contact_id()?, expired_steps })
        }
        other => ignore(format!("event type {other:?} needs no action")),
    }
}

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, HandleError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), deps.budget);
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, deadline, deps).instrument(span).await
}

/// The testable handler. Answers what was done: `{"action", "contactId", "status"}`, where
/// `status` is Salesforce's (`Success`) or `NoVoiceCall` when Salesforce has no call for the
/// contact; `{"action": "none", "reason"}` for an ignored event.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<Value, HandleError> {
    if let Some(contact_id) = payload.pointer("/detail/contactId").and_then(Value::as_str) {
        tracing::Span::current().record("contactId", contact_id);
    }
    let decision = decide(&payload).inspect_err(|e| tracing::error!(error = %e, "contact event rejected"))?;
    let (action, contact_id) = match decision {
        Decision::Ignore { reason } => {
            tracing::debug!(reason = %reason, "contact event ignored: {reason}");
            return Ok(json!({"action": "none", "reason": reason}));
        }
        Decision::ClearRouting { contact_id } => {
            tracing::info!(
                "contact {contact_id} disconnected without reaching an agent: clearing its Omni-Channel routing"
            );
            ("clearRouting", contact_id)
        }
        Decision::Reroute { contact_id, expired_steps } => {
            tracing::info!(
                expiredSteps = ?expired_steps,
                "contact {contact_id}: preferred-agent routing step(s) {expired_steps:?} expired: rerouting"
            );
            ("reroute", contact_id)
        }
    };
    let result = if action == "reroute" {
        deps.telephony.reroute(&contact_id, deadline).await
    } else {
        deps.telephony.clear_routing(&contact_id, deadline).await
    };
    match result {
        Ok(answer) => {
            let status = answer.get("status").and_then(Value::as_str).unwrap_or("Success").to_string();
            tracing::info!(action, status = %status, "{action} for contact {contact_id}: {status}");
            Ok(json!({"action": action, "contactId": contact_id, "status": status}))
        }
        Err(e) if e.status() == Some(404) => {
            tracing::warn!(
                action,
                error = %e,
                "{action} for contact {contact_id}: Salesforce has no voice call for this contact; nothing to do"
            );
            Ok(json!({"action": action, "contactId": contact_id, "status": "NoVoiceCall"}))
        }
        Err(e) => {
            tracing::error!(action, error = %e, "{action} for contact {contact_id} failed");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTACT: &str = "c3f1a7d2-8b4e-4f6a-9c1d-2e3f4a5b6c7d";

    fn disconnected() -> Value {
        json!({
            "version": "0",
            "id": "5b1ab2f4-6b9e-4d4a-8f0e-0a1b2c3d4e5f",
            "detail-type": CONTACT_EVENT,
            "source": "aws.connect",
            "account": "123456789012",
            "time": "2026-11-21T09:18:30Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "contactId": CONTACT,
                "channel": "VOICE",
                "initiationMethod": "INBOUND",
                "eventType": "DISCONNECTED",
                "instanceArn": "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a"
            }
        })
    }

    fn expired() -> Value {
        let mut event = disconnected();
        event["detail"]["initiationMethod"] = json!("TRANSFER");
        event["detail"]["eventType"] = json!("CONTACT_DATA_UPDATED");
        event["detail"]["routingCriteria"] = json!({
            "steps": [{
                "status": "EXPIRED",
                "expression": {"attributeCondition": {"matchCriteria": {"agentsCriteria": {"agentIds": []}}}}
            }]
        });
        event
    }

    fn with(mut event: Value, pointer: &str, value: Value) -> Value {
        *event.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
        event
    }

    /// Sets (or adds) a field of `detail`.
    fn set(mut event: Value, key: &str, value: Value) -> Value {
        event["detail"][key] = value;
        event
    }

    fn without(mut event: Value, parent: &str, key: &str) -> Value {
        event.pointer_mut(parent).and_then(Value::as_object_mut).expect(parent).remove(key);
        event
    }

    #[derive(Debug, PartialEq)]
    enum Out {
        Clear,
        Reroute(Vec<usize>),
        Ignore,
        Invalid,
    }

    fn outcome(event: &Value) -> Out {
        match decide(event) {
            Ok(Decision::ClearRouting { contact_id }) => {
                assert_eq!(contact_id, CONTACT);
                Out::Clear
            }
            Ok(Decision::Reroute { contact_id, expired_steps }) => {
                assert_eq!(contact_id, CONTACT);
                Out::Reroute(expired_steps)
            }
            Ok(Decision::Ignore { .. }) => Out::Ignore,
            Err(_) => Out::Invalid,
        }
    }

    /// The official test matrix (its 21 unit-test cases): each case where the official predicate
    /// is false must cause no Salesforce call (ignored, or rejected as not a contact event).
    #[test]
    fn the_official_predicate_matrix_holds() {
        let steps0 = "/detail/routingCriteria/steps/0";
        let cases: Vec<(&str, Value, Out)> = vec![
            // Abandoned-call disconnect.
            ("disconnect: canonical", disconnected(), Out::Clear),
            ("disconnect: null event", Value::Null, Out::Invalid),
            ("disconnect: null detail", with(disconnected(), "/detail", Value::Null), Out::Invalid),
            ("disconnect: wrong detail-type", with(disconnected(), "/detail-type", json!("Other")), Out::Ignore),
            (
                "disconnect: wrong initiation method",
                with(disconnected(), "/detail/initiationMethod", json!("OUTBOUND")),
                Out::Ignore,
            ),
            (
                "disconnect: wrong eventType",
                with(disconnected(), "/detail/eventType", json!("CONNECTED_TO_AGENT")),
                Out::Ignore,
            ),
            (
                "disconnect: agentInfo present",
                set(
                    disconnected(),
                    "agentInfo",
                    json!({"agentArn": "arn:aws:connect:us-east-1:123456789012:instance/i/agent/1", "connectedToAgentTimestamp": "2026-11-21T09:16:00Z"}),
                ),
                Out::Ignore,
            ),
            // Routing criteria expired.
            ("expired: canonical", expired(), Out::Reroute(vec![0])),
            ("expired: null event", Value::Null, Out::Invalid),
            ("expired: null detail", with(expired(), "/detail", Value::Null), Out::Invalid),
            ("expired: null routingCriteria", with(expired(), "/detail/routingCriteria", Value::Null), Out::Ignore),
            ("expired: wrong detail-type", with(expired(), "/detail-type", json!("Other")), Out::Ignore),
            ("expired: wrong method", with(expired(), "/detail/initiationMethod", json!("API")), Out::Ignore),
            ("expired: wrong eventType", with(expired(), "/detail/eventType", json!("QUEUED")), Out::Ignore),
            ("expired: empty steps", with(expired(), "/detail/routingCriteria/steps", json!([])), Out::Ignore),
            ("expired: status ACTIVE", with(expired(), &format!("{steps0}/status"), json!("ACTIVE")), Out::Ignore),
            ("expired: status JOINED", with(expired(), &format!("{steps0}/status"), json!("JOINED")), Out::Ignore),
            ("expired: null expression", with(expired(), &format!("{steps0}/expression"), Value::Null), Out::Ignore),
            (
                "expired: null attributeCondition",
                with(expired(), &format!("{steps0}/expression/attributeCondition"), Value::Null),
                Out::Ignore,
            ),
            (
                "expired: null matchCriteria",
                with(expired(), &format!("{steps0}/expression/attributeCondition/matchCriteria"), Value::Null),
                Out::Ignore,
            ),
            (
                "expired: null agentsCriteria",
                with(
                    expired(),
                    &format!("{steps0}/expression/attributeCondition/matchCriteria/agentsCriteria"),
                    Value::Null,
                ),
                Out::Ignore,
            ),
        ];
        assert_eq!(cases.len(), 21, "the official matrix has 21 cases");
        for (name, event, expected) in cases {
            assert_eq!(outcome(&event), expected, "{name}");
        }
    }

    /// Input the official code crashes on (TypeError) or gets wrong.
    #[test]
    fn sparse_and_crashing_inputs_are_handled() {
        let steps = "/detail/routingCriteria/steps";
        let agents_step = json!({"status": "EXPIRED", "expression": {"attributeCondition": {"matchCriteria": {"agentsCriteria": {"agentIds": ["a1"]}}}}});
        let queue_step =
            json!({"status": "ACTIVE", "expression": {"attributeCondition": {"name": "Tech", "value": "Billing"}}});
        let cases: Vec<(&str, Value, Out)> = vec![
            ("missing steps", without(expired(), "/detail/routingCriteria", "steps"), Out::Ignore),
            ("null steps", with(expired(), steps, Value::Null), Out::Ignore),
            ("null step", with(expired(), steps, json!([null])), Out::Ignore),
            ("second step expired", with(expired(), steps, json!([queue_step, agents_step])), Out::Reroute(vec![1])),
            (
                "two expired agents steps: one reroute naming both",
                with(expired(), steps, json!([agents_step, queue_step, agents_step])),
                Out::Reroute(vec![0, 2]),
            ),
            (
                "agents criteria nested in an and-expression",
                with(
                    expired(),
                    &format!("{steps}/0/expression"),
                    json!({"andExpression": [{"attributeCondition": {"name": "Tech"}}, {"attributeCondition": {"matchCriteria": {"agentsCriteria": {"agentIds": ["a1"]}}}}]}),
                ),
                Out::Reroute(vec![0]),
            ),
            (
                "expired step without agents criteria",
                with(
                    expired(),
                    steps,
                    json!([{"status": "EXPIRED", "expression": {"attributeCondition": {"name": "Tech"}}}]),
                ),
                Out::Ignore,
            ),
            (
                "routingCriteria not an object",
                with(expired(), "/detail/routingCriteria", json!("EXPIRED")),
                Out::Invalid,
            ),
            ("steps not an array", with(expired(), steps, json!({"status": "EXPIRED"})), Out::Invalid),
            ("null initiationMethod", with(disconnected(), "/detail/initiationMethod", Value::Null), Out::Ignore),
            ("null eventType", with(disconnected(), "/detail/eventType", Value::Null), Out::Ignore),
            ("missing eventType", without(disconnected(), "/detail", "eventType"), Out::Ignore),
            ("null agentInfo is no agent", set(disconnected(), "agentInfo", Value::Null), Out::Clear),
            ("empty agentInfo object is an agent (truthy)", set(disconnected(), "agentInfo", json!({})), Out::Ignore),
            ("transfer abandoned", with(disconnected(), "/detail/initiationMethod", json!("TRANSFER")), Out::Clear),
            ("chat is not a voice call", with(disconnected(), "/detail/channel", json!("CHAT")), Out::Ignore),
            ("task is not a voice call", with(expired(), "/detail/channel", json!("TASK")), Out::Ignore),
            ("no channel is taken as voice", without(disconnected(), "/detail", "channel"), Out::Clear),
            ("missing contactId", without(disconnected(), "/detail", "contactId"), Out::Invalid),
            ("blank contactId", with(disconnected(), "/detail/contactId", json!(" ")), Out::Invalid),
            ("contactId a number", with(disconnected(), "/detail/contactId", json!(42)), Out::Invalid),
            ("contactId a dot segment", with(disconnected(), "/detail/contactId", json!(".")), Out::Invalid),
            ("contactId walks up", with(expired(), "/detail/contactId", json!("../x")), Out::Invalid),
            ("missing detail", without(disconnected(), "", "detail"), Out::Invalid),
            ("not an object", json!(["DISCONNECTED"]), Out::Invalid),
            (
                "scheduled event",
                json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
                Out::Ignore,
            ),
        ];
        for (name, event, expected) in cases {
            assert_eq!(outcome(&event), expected, "{name}");
        }
    }

    #[test]
    fn errors_name_the_field_and_the_contact() {
        let err = decide(&without(disconnected(), "/detail", "contactId")).unwrap_err();
        assert_eq!(err.to_string(), "the DISCONNECTED event has no detail.contactId");
        assert_eq!(err.kind(), "MissingField");
        let err = decide(&with(expired(), "/detail/routingCriteria/steps", json!(7))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("the contact event for contact {CONTACT}: detail.routingCriteria is malformed")),
            "{err}"
        );
        assert_eq!(err.kind(), "InvalidEvent");
        let err = decide(&Value::Null).unwrap_err();
        assert!(err.to_string().starts_with("the event is not an EventBridge event"), "{err}");
        // A broken envelope still names the contact, and a broken criterion its path (issue 13 item 4).
        let err = decide(&with(disconnected(), "/detail-type", json!(12345))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("the event is not an EventBridge event (contact {CONTACT}): detail-type:")),
            "{err}"
        );
        let err = decide(&with(expired(), "/detail/routingCriteria/steps/0/expression/attributeCondition", json!([1])))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("detail.routingCriteria is malformed: steps[0].expression.attributeCondition: invalid type"),
            "{err}"
        );
        // The JSON path of the bad field, inside `detail` and at the top.
        let err = decide(&with(disconnected(), "/detail/channel", json!(12345))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the contact event for contact {CONTACT}: detail is malformed: channel: invalid type: integer `12345`, expected a string"
            )
        );
        let err = decide(&json!({"detail-type": 5, "detail": {}})).unwrap_err();
        assert!(err.to_string().contains("detail-type: invalid type: integer `5`"), "{err}");
    }

    #[test]
    fn truthiness_follows_javascript() {
        let cases = [
            (json!(null), false),
            (json!(false), false),
            (json!(0), false),
            (json!(""), false),
            (json!(true), true),
            (json!(1), true),
            (json!("0"), true),
            (json!({}), true),
            (json!([]), true),
        ];
        for (value, expected) in cases {
            assert_eq!(truthy(&value), expected, "{value}");
        }
    }
}
