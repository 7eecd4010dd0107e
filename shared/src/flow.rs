//! Amazon Connect flow events ("Invoke AWS Lambda function" block) and the flow-facing output.
//!
//! `aws_lambda_events::connect::ConnectEvent` cannot carry these events: its `Parameters` are
//! string-only (flows and the official internal callers pass `fieldValues` as an object), its
//! `Attributes` map loses the order the `sfdc-` rule must keep, and it has no `SegmentAttributes`
//! (WebRTC detection) or `InitiationTimestamp`. Every field here is optional: a missing field is a
//! documented default or an error that names it, never a panic.
//!
//! A method validates only what it uses: the contact data is read leniently (a field of the wrong
//! type reads as absent, so `ContactData.Channel: 12345` fails no method), and a method that needs
//! a field asks [`FlowEvent::field_error`] why it is absent, which names the JSON path and what
//! was there instead. Only `Details` and `Details.Parameters` must have their type: a decoding
//! error ([`FlowEventError`]) names the JSON path and the contact.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// `{"Name":"ContactFlowEvent","Details":{"ContactData":{...},"Parameters":{...}}}`, or an
/// EventBridge scheduled event (`detail-type: Scheduled Event`) for keep-warm.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlowEvent {
    #[serde(rename = "Name", default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(rename = "Details", default)]
    pub details: Option<FlowDetails>,
    #[serde(rename = "detail-type", default, deserialize_with = "lenient")]
    pub detail_type: Option<String>,
    /// The event as received, to say why a field a method needs is absent.
    #[serde(skip)]
    raw: Value,
}

/// A flow event that cannot be decoded: the JSON path, what was wrong, and the contact when the
/// event names one (`Details.Parameters.contactId`, else `Details.ContactData.ContactId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEventError {
    pub path: String,
    pub message: String,
    pub contact_id: Option<String>,
}

impl fmt::Display for FlowEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, contact_label(self.contact_id.as_deref()))
    }
}

impl std::error::Error for FlowEventError {}

/// `contact <id>`, or says the event names none: the tail of every error about a flow event.
pub fn contact_label(contact_id: Option<&str>) -> String {
    match contact_id {
        Some(id) => format!("contact {id}"),
        None => "no contact id in the event".to_string(),
    }
}

impl FlowEvent {
    /// Decodes a flow event; an error names the JSON path of the bad field and the contact.
    pub fn from_value(value: Value) -> Result<FlowEvent, FlowEventError> {
        match serde_path_to_error::deserialize::<_, FlowEvent>(&value) {
            Ok(mut event) => {
                event.raw = value;
                Ok(event)
            }
            Err(e) => {
                let path = e.path().to_string();
                Err(FlowEventError {
                    path: if path == "." { "the event".into() } else { path },
                    message: e.into_inner().to_string(),
                    contact_id: raw_contact_id(&value),
                })
            }
        }
    }

    pub fn is_scheduled(&self) -> bool {
        self.detail_type.as_deref() == Some("Scheduled Event")
    }

    pub fn parameters(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        self.details.as_ref().map_or(&EMPTY, |d| &d.parameters)
    }

    pub fn contact_data(&self) -> Option<&ContactData> {
        self.details.as_ref().and_then(|d| d.contact_data.as_ref())
    }

    /// A parameter as text: strings as they are, numbers and booleans printed; blank is absent.
    pub fn parameter(&self, name: &str) -> Option<String> {
        value_text(self.parameters().get(name)?)
    }

    /// `Parameters.contactId` when set, else `ContactData.ContactId` (docs/events.md#connect-flow-event).
    pub fn contact_id(&self) -> Option<String> {
        self.parameter("contactId")
            .or_else(|| self.contact_data().and_then(|c| c.contact_id.clone()).filter(|s| !s.trim().is_empty()))
    }

    /// Why the field at `path` (dotted, from the event's root: `Details.ContactData.Channel`) is
    /// absent although the event has something there: `None` when it is missing, null or
    /// blank; else the path and what was found, e.g. `Details.ContactData.CustomerEndpoint is the
    /// number 5, expected an object` (`expected` says what the last segment should be).
    pub fn field_error(&self, path: &str, expected: &str) -> Option<String> {
        let mut current = &self.raw;
        let mut walked: Vec<&str> = Vec::new();
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match current {
                Value::Null => return None,
                Value::Object(map) => match map.get(*segment) {
                    None | Some(Value::Null) => return None,
                    Some(next) => {
                        walked.push(segment);
                        current = next;
                        if last {
                            return match next {
                                Value::String(s) if s.trim().is_empty() => None,
                                Value::String(_) if expected == "a string" => None,
                                Value::Object(_) if expected == "an object" => None,
                                other => Some(format!(
                                    "{} is {}, expected {expected}",
                                    walked.join("."),
                                    crate::error::describe_json(other)
                                )),
                            };
                        }
                    }
                },
                other => {
                    return Some(format!(
                        "{} is {}, expected an object",
                        walked.join("."),
                        crate::error::describe_json(other)
                    ));
                }
            }
        }
        None
    }
}

/// The contact id of an event that could not be decoded, when it has a readable one.
fn raw_contact_id(value: &Value) -> Option<String> {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    text("/Details/Parameters/contactId").or_else(|| text("/Details/ContactData/ContactId")).map(str::to_string)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlowDetails {
    #[serde(rename = "ContactData", default, deserialize_with = "lenient")]
    pub contact_data: Option<ContactData>,
    #[serde(rename = "Parameters", default, deserialize_with = "null_as_empty")]
    pub parameters: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactData {
    #[serde(default, deserialize_with = "lenient")]
    pub contact_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub initial_contact_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub previous_contact_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub initiation_method: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub initiation_timestamp: Option<String>,
    #[serde(default, rename = "InstanceARN", deserialize_with = "lenient")]
    pub instance_arn: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub customer_endpoint: Option<Endpoint>,
    #[serde(default, deserialize_with = "lenient")]
    pub system_endpoint: Option<Endpoint>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub attributes: Map<String, Value>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub segment_attributes: Map<String, Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub queue: Option<Queue>,
}
impl ContactData {
    pub fn customer_address(&self) -> Option<String> {
        self.customer_endpoint.as_ref().and_then(Endpoint::address)
    }

    pub fn system_address(&self) -> Option<String> {
        self.system_endpoint.as_ref().and_then(Endpoint::address)
    }

    pub fn attribute(&self, name: &str) -> Option<String> {
        value_text(self.attributes.get(name)?)
    }

    /// `SegmentAttributes["connect:Subtype"].ValueString`.
    pub fn subtype(&self) -> Option<&str> {
        self.segment_attributes.get("connect:Subtype")?.get("ValueString")?.as_str()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    #[serde(default, deserialize_with = "lenient")]
    pub address: Option<String>,
    #[serde(default, rename = "Type", deserialize_with = "lenient")]
    pub kind: Option<String>,
}

impl Endpoint {
    pub fn address(&self) -> Option<String> {
        self.address.clone().filter(|a| !a.trim().is_empty())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    #[serde(default, rename = "ARN", deserialize_with = "lenient")]
    pub arn: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

/// A field of the wrong type reads as absent (a method that needs it asks
/// [`FlowEvent::field_error`] what was there).
fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

/// Strings as they are, numbers and booleans printed, anything else absent; blank is absent.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Keys starting with exactly `prefix` (case-sensitive), the prefix stripped, values unchanged,
/// in their original order (docs/events.md#sfdc-attributes).
pub fn strip_prefixed(map: &Map<String, Value>, prefix: &str) -> Map<String, Value> {
    map.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), v.clone()))).collect()
}

/// The `sfdc-` contact attributes as the `callAttributes` string (a JSON object).
pub fn call_attributes(attributes: &Map<String, Value>) -> String {
    Value::Object(strip_prefixed(attributes, "sfdc-")).to_string()
}

/// What a flow receives: a flat map of string values (Amazon Connect cannot read nested values
/// from a Lambda). Strings stay, null is dropped, numbers and booleans are printed, arrays and
/// objects are serialised as JSON text.
pub type FlowOutput = BTreeMap<String, String>;

pub fn flatten_top_level(value: &Value) -> FlowOutput {
    let mut out = FlowOutput::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            match v {
                Value::Null => {}
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                other => {
                    out.insert(k.clone(), other.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sfdc_rule_keeps_order_values_and_the_empty_key() {
        let attrs = json!({"sfdc-B__c": "x", "other": "no", "sfdc-A__c": 10, "SFDC-C__c": "case", "sfdc-": "empty"});
        let Value::Object(map) = attrs else { unreachable!() };
        assert_eq!(call_attributes(&map), r#"{"B__c":"x","A__c":10,"":"empty"}"#);
    }

    #[test]
    fn flow_input_rule_matches_the_official_tests() {
        let params = json!({
            "flowInput-field1": "1", "flowInput-field2": "2", "flowInput-field3": "3", "flowInput-field4": "4",
            "field5": "5", "flowInpu-x": "n", "flowInputfield2": "n", "flow-x": "n", "Input-x": "n"
        });
        let Value::Object(map) = params else { unreachable!() };
        assert_eq!(
            Value::Object(strip_prefixed(&map, "flowInput-")),
            json!({"field1":"1","field2":"2","field3":"3","field4":"4"})
        );
    }

    #[test]
    fn sparse_and_null_events_parse() {
        for raw in [
            json!({}),
            json!({"Details": null}),
            json!({"Details": {"Parameters": null, "ContactData": null}}),
            json!({"Details": {"ContactData": {"Attributes": null, "SegmentAttributes": null, "Queue": null, "CustomerEndpoint": null}}}),
        ] {
            let event: FlowEvent = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert!(event.contact_id().is_none());
            assert!(event.parameters().is_empty());
        }
    }

    #[test]
    fn decoding_errors_name_the_path_and_the_contact() {
        let cases = [
            (
                json!({"Details": {"ContactData": {"ContactId": "abc-123"}, "Parameters": "x"}}),
                r#"Details.Parameters: invalid type: string "x", expected a map (contact abc-123)"#,
            ),
            (json!({"Details": {"Parameters": {"contactId": "p-1"}, "ContactData": {"ContactId": "c-1"}}, "x": 1}), ""),
            (
                json!({"Details": 7}),
                "Details: invalid type: integer `7`, expected struct FlowDetails (no contact id in the event)",
            ),
            (json!(null), "the event: invalid type: null, expected struct FlowEvent (no contact id in the event)"),
        ];
        for (raw, expected) in cases {
            match FlowEvent::from_value(raw.clone()) {
                Ok(_) => assert!(expected.is_empty(), "{raw} decoded"),
                Err(e) => assert_eq!(e.to_string(), expected, "{raw}"),
            }
        }
    }

    #[test]
    fn wrong_types_read_as_absent_and_say_why_when_asked() {
        let event = FlowEvent::from_value(json!({
            "Name": 5,
            "Details": {
                "ContactData": {
                    "ContactId": "abc-123", "Channel": 12345, "CustomerEndpoint": {"Address": 5},
                    "SystemEndpoint": "+1800", "Attributes": "x", "Queue": [1], "PreviousContactId": ""
                },
                "Parameters": {"methodName": "createVoiceCall"}
            }
        }))
        .expect("only Details and Parameters must have their type");
        let contact = event.contact_data().expect("contact data");
        assert_eq!(contact.contact_id.as_deref(), Some("abc-123"));
        assert_eq!(
            (contact.channel.as_deref(), contact.customer_address(), contact.system_address()),
            (None, None, None)
        );
        assert!(contact.attributes.is_empty() && contact.queue.as_ref().and_then(|q| q.arn.clone()).is_none());
        assert_eq!(
            event.field_error("Details.ContactData.Channel", "a string").as_deref(),
            Some("Details.ContactData.Channel is the number 12345, expected a string")
        );
        assert_eq!(
            event.field_error("Details.ContactData.CustomerEndpoint.Address", "a string").as_deref(),
            Some("Details.ContactData.CustomerEndpoint.Address is the number 5, expected a string")
        );
        assert_eq!(
            event.field_error("Details.ContactData.SystemEndpoint.Address", "a string").as_deref(),
            Some("Details.ContactData.SystemEndpoint is a string, expected an object")
        );
        for absent in
            ["Details.ContactData.ContactId", "Details.ContactData.PreviousContactId", "Details.ContactData.Nope"]
        {
            assert_eq!(event.field_error(absent, "a string"), None, "{absent}");
        }
        assert_eq!(event.field_error("Details.ContactData", "an object"), None);
    }

    #[test]
    fn contact_id_prefers_the_parameter() {
        let event: FlowEvent = serde_json::from_value(json!({
            "Details": {"ContactData": {"ContactId": "from-contact"}, "Parameters": {"contactId": "from-param"}}
        }))
        .unwrap();
        assert_eq!(event.contact_id().as_deref(), Some("from-param"));
        let event: FlowEvent = serde_json::from_value(json!({
            "Details": {"ContactData": {"ContactId": "from-contact"}, "Parameters": {"contactId": ""}}
        }))
        .unwrap();
        assert_eq!(event.contact_id().as_deref(), Some("from-contact"));
    }

    #[test]
    fn outputs_are_flat_strings() {
        let out = flatten_top_level(
            &json!({"voiceCallId": "0LQ1", "errors": [], "n": 3, "ok": true, "gone": null, "o": {"a": 1}}),
        );
        assert_eq!(out.get("voiceCallId").map(String::as_str), Some("0LQ1"));
        assert_eq!(out.get("errors").map(String::as_str), Some("[]"));
        assert_eq!(out.get("n").map(String::as_str), Some("3"));
        assert_eq!(out.get("ok").map(String::as_str), Some("true"));
        assert_eq!(out.get("o").map(String::as_str), Some(r#"{"a":1}"#));
        assert!(!out.contains_key("gone"));
    }
}
