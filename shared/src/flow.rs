//! Amazon Connect flow events ("Invoke AWS Lambda function" block) and the flow-facing output.
//!
//! `aws_lambda_events::connect::ConnectEvent` cannot carry these events: its `Parameters` are
//! string-only (flows and the official internal callers pass `fieldValues` as an object), its
//! `Attributes` map loses the order the `sfdc-` rule must keep, and it has no `SegmentAttributes`
//! (WebRTC detection) or `InitiationTimestamp`. Every field here is optional: a missing field is a
//! documented default or an error that names it, never a panic.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"Name":"ContactFlowEvent","Details":{"ContactData":{...},"Parameters":{...}}}`, or an
/// EventBridge scheduled event (`detail-type: Scheduled Event`) for keep-warm.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlowEvent {
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "Details", default)]
    pub details: Option<FlowDetails>,
    #[serde(rename = "detail-type", default)]
    pub detail_type: Option<String>,
}

impl FlowEvent {
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
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlowDetails {
    #[serde(rename = "ContactData", default)]
    pub contact_data: Option<ContactData>,
    #[serde(rename = "Parameters", default, deserialize_with = "null_as_empty")]
    pub parameters: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactData {
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub initial_contact_id: Option<String>,
    #[serde(default)]
    pub previous_contact_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub initiation_method: Option<String>,
    #[serde(default)]
    pub initiation_timestamp: Option<String>,
    #[serde(default, rename = "InstanceARN")]
    pub instance_arn: Option<String>,
    #[serde(default)]
    pub customer_endpoint: Option<Endpoint>,
    #[serde(default)]
    pub system_endpoint: Option<Endpoint>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Map<String, Value>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub segment_attributes: Map<String, Value>,
    #[serde(default)]
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
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, rename = "Type")]
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
    #[serde(default, rename = "ARN")]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
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
