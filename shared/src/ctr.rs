//! Amazon Connect contact trace records (CTRs): the typed record, which CTRs are synced, and the
//! CTR-to-VoiceCall mapping for Update a Voice Call Record (Implementation Guide ch. 6 "CTRDataSyncFunction Lambda Function",
//! docs/functions.md#ctrdatasync).
//!
//! Deviations from the official function, each listed in docs/differences.md#ctr-sync-filters: `disconnectReason` is
//! sent only when the CTR has one (the documentation requires `value` and `isError` whenever it is
//! passed); WebRTC fallbacks match InvokeTelephonyIntegrationApi (caller side `from`, contact center
//! side `to`; docs/differences.md#ctr-sync-filters); a voicemail is recognised by the same rule as the voicemail
//! functions (`vm_flag` "1" with `vm_lang`, `vm_from` and a Kinesis Video recording; docs/events.md#contact-trace-record), and
//! non-voice channels are skipped (docs/differences.md#ctr-sync-filters).

use serde::Deserialize;
use serde_json::{Map, Value};

/// The CTR fields this project reads. Unknown fields are ignored; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ctr {
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub initiation_method: Option<String>,
    #[serde(default)]
    pub initiation_timestamp: Option<String>,
    #[serde(default)]
    pub disconnect_timestamp: Option<String>,
    /// When Amazon Connect last updated the record: orders two CTRs of one contact.
    #[serde(default)]
    pub last_update_timestamp: Option<String>,
    #[serde(default)]
    pub previous_contact_id: Option<String>,
    #[serde(default)]
    pub disconnect_reason: Option<String>,
    #[serde(default)]
    pub agent: Option<Agent>,
    #[serde(default)]
    pub queue: Option<Queue>,
    #[serde(default)]
    pub system_endpoint: Option<Endpoint>,
    #[serde(default)]
    pub customer_endpoint: Option<Endpoint>,
    #[serde(default)]
    pub recording: Option<Recording>,
    #[serde(default)]
    pub recordings: Option<Vec<Recording>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Map<String, Value>,
    /// The record as read, for the configured custom fields ([`CustomFields`]) that name any path.
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Agent {
    #[serde(default)]
    pub connected_to_agent_timestamp: Option<String>,
    #[serde(default)]
    pub customer_hold_duration: Option<Value>,
    #[serde(default)]
    pub longest_hold_duration: Option<Value>,
    #[serde(default)]
    pub agent_interaction_duration: Option<Value>,
    #[serde(default)]
    pub number_of_holds: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    #[serde(default)]
    pub enqueue_timestamp: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "ARN")]
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    #[serde(default)]
    pub address: Option<String>,
}

/// `Recording` (singular, legacy) and the entries of `Recordings`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recording {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub fragment_start_number: Option<String>,
    #[serde(default)]
    pub fragment_stop_number: Option<String>,
    #[serde(default)]
    pub media_stream_type: Option<String>,
    #[serde(default)]
    pub participant_type: Option<String>,
    #[serde(default)]
    pub storage_type: Option<String>,
    #[serde(default)]
    pub start_timestamp: Option<String>,
    #[serde(default)]
    pub stop_timestamp: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

impl Ctr {
    /// The CTR's own version: `LastUpdateTimestamp`, else `DisconnectTimestamp`; `None` when it
    /// has neither (or neither is an ISO 8601 time). Of two CTRs of one contact, the one with the
    /// later time is the newer (issue 13 item 6, "newest wins").
    pub fn updated_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let parse = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        parse(&self.last_update_timestamp).or_else(|| parse(&self.disconnect_timestamp))
    }

    /// Reads a CTR; the error names the field with the wrong type.
    pub fn from_value(value: Value) -> Result<Ctr, String> {
        if !value.is_object() {
            return Err("the record is not a JSON object".into());
        }
        let mut ctr: Ctr =
            serde_json::from_value(value.clone()).map_err(|e| format!("not a contact trace record: {e}"))?;
        ctr.raw = value;
        Ok(ctr)
    }

    fn address(endpoint: &Option<Endpoint>) -> Option<String> {
        endpoint.as_ref().and_then(|e| e.address.clone()).filter(|a| !a.is_empty())
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
    }

    /// The Kinesis Video recording of a voicemail, if there is one.
    pub fn kvs_recording(&self) -> Option<&Recording> {
        self.recordings
            .iter()
            .flatten()
            .find(|r| r.location.as_deref().is_some_and(|l| l.starts_with("arn:aws") && l.contains(":kinesisvideo:")))
    }

    /// A voicemail that the voicemail functions carry to Salesforce (docs/events.md#contact-trace-record): `vm_flag`
    /// "1" with `vm_lang` and `vm_from` set, and a Kinesis Video recording to read it from.
    pub fn is_voicemail(&self) -> bool {
        self.attribute("vm_flag") == Some("1")
            && self.attribute("vm_lang").is_some()
            && self.attribute("vm_from").is_some()
            && self.kvs_recording().is_some()
    }
}

/// Initiation methods whose CTRs update a VoiceCall (docs/functions.md#ctrdatasync).
pub const SYNCED_INITIATION_METHODS: &[&str] = &["INBOUND", "OUTBOUND", "TRANSFER", "CALLBACK", "API", "WEBRTC_API"];

/// Why a CTR is not synced. A skipped record is a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `Attributes.NoSync` is "true" (Implementation Guide ch. 2 "Disable CTR Sync for Voice Call Records").
    NoSync,
    NoContactId,
    InitiationMethod(Option<String>),
    /// Chat, task and email contacts have no VoiceCall.
    Channel(String),
    /// Left to the voicemail packaging.
    Voicemail,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NoSync => write!(f, "NoSync attribute is \"true\""),
            Skip::NoContactId => write!(f, "the CTR has no ContactId"),
            Skip::InitiationMethod(m) => {
                write!(f, "initiation method {} is not synced", m.as_deref().unwrap_or("(none)"))
            }
            Skip::Channel(c) => write!(f, "channel {c} has no VoiceCall"),
            Skip::Voicemail => write!(f, "a voicemail: the voicemail packaging updates its VoiceCall"),
        }
    }
}

/// Whether this CTR updates a VoiceCall.
pub fn should_sync(ctr: &Ctr) -> Result<(), Skip> {
    if ctr.attribute("NoSync") == Some("true") {
        return Err(Skip::NoSync);
    }
    if ctr.contact_id.as_deref().is_none_or(str::is_empty) {
        return Err(Skip::NoContactId);
    }
    if !ctr.initiation_method.as_deref().is_some_and(|m| SYNCED_INITIATION_METHODS.contains(&m)) {
        return Err(Skip::InitiationMethod(ctr.initiation_method.clone()));
    }
    if let Some(channel) = ctr.channel.as_deref().filter(|c| !c.eq_ignore_ascii_case("VOICE")) {
        return Err(Skip::Channel(channel.to_string()));
    }
    if ctr.is_voicemail() {
        return Err(Skip::Voicemail);
    }
    Ok(())
}

/// Disconnect reasons that mark the call as ended in error.
const ERROR_DISCONNECTS: &[&str] = &["TELECOM_PROBLEM", "CONTACT_FLOW_DISCONNECT", "OTHER"];
const WEBRTC_DEFAULT: &str = "WebRTC_Default";

/// `callAttributes`: the `sfdc-` attributes (prefix stripped, order and values kept) and the
/// transcription-limit attribute, inserted after the first attribute as the official function
/// does (docs/differences.md#transcription-status-attribute). Both the official name `sf_realtime_transcription_status` and the
/// documented custom field `sf_realtime_transcription_status__c` (Implementation Guide ch. 9) are carried.
pub fn call_attributes(attributes: &Map<String, Value>) -> String {
    let truthy =
        |v: &Value| !matches!(v, Value::Null | Value::Bool(false)) && v.as_str() != Some("") && v.as_f64() != Some(0.0);
    let mut out = Map::new();
    for (index, (key, value)) in attributes.iter().enumerate() {
        if let Some(stripped) = key.strip_prefix("sfdc-") {
            out.insert(stripped.to_string(), value.clone());
        }
        if index == 0 {
            for status in ["sf_realtime_transcription_status", "sf_realtime_transcription_status__c"] {
                if let Some(v) = attributes.get(status).filter(|v| truthy(v)) {
                    out.insert(status.to_string(), v.clone());
                }
            }
        }
    }
    Value::Object(out).to_string()
}

/// The Update a Voice Call Record fields for a CTR (docs/functions.md#ctrdatasync); absent values are left out.
pub fn to_voice_call_fields(ctr: &Ctr) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            fields.insert(key.to_string(), v);
        }
    };
    let text = |s: &Option<String>| s.clone().map(Value::String);
    put("startTime", text(&ctr.initiation_timestamp));
    put("endTime", text(&ctr.disconnect_timestamp));
    put("parentCallIdentifier", text(&ctr.previous_contact_id));
    if let Some(reason) = ctr.disconnect_reason.as_deref().filter(|r| !r.is_empty()) {
        put(
            "disconnectReason",
            Some(serde_json::json!({"value": reason, "isError": ERROR_DISCONNECTS.contains(&reason)})),
        );
    }
    if let Some(agent) = &ctr.agent {
        put("acceptTime", text(&agent.connected_to_agent_timestamp));
        put("totalHoldDuration", agent.customer_hold_duration.clone());
        put("longestHoldDuration", agent.longest_hold_duration.clone());
        put("agentInteractionDuration", agent.agent_interaction_duration.clone());
        put("numberOfHolds", agent.number_of_holds.clone());
    }
    if let Some(queue) = &ctr.queue {
        put("enqueueTime", text(&queue.enqueue_timestamp));
        put("queue", text(&queue.name));
    }
    let method = ctr.initiation_method.as_deref();
    if let Some(m) = method {
        put("initiationMethod", Some(Value::String(if m == "API" { "INBOUND" } else { m }.to_string())));
        put("callSubType", Some(Value::String(if m == "WEBRTC_API" { "WebRTC" } else { "PSTN" }.to_string())));
    }
    let (system, customer) = (Ctr::address(&ctr.system_endpoint), Ctr::address(&ctr.customer_endpoint));
    let (from, to) = match method {
        Some("OUTBOUND" | "CALLBACK") => (system, customer),
        Some("WEBRTC_API") => (
            ctr.attribute("WebRTC_From").map(str::to_string).or(customer).or_else(|| Some(WEBRTC_DEFAULT.into())),
            ctr.attribute("WebRTC_To").map(str::to_string).or(system).or_else(|| Some(WEBRTC_DEFAULT.into())),
        ),
        _ => (customer, system),
    };
    put("fromNumber", from.map(Value::String));
    put("toNumber", to.map(Value::String));
    put("recordingLocation", ctr.recording.as_ref().and_then(|r| r.location.clone()).map(Value::String));
    if !ctr.attributes.is_empty() {
        put("callAttributes", Some(Value::String(call_attributes(&ctr.attributes))));
    }
    fields
}

// ---------------------------------------------------------------------------------------------
// Custom synced fields (Implementation Guide ch. 6, "Customize Synced CTR Fields Using
// CTRDataSyncFunction"): the guide's customisation is editing `transformCTR` in the console,
// which a compiled function does not allow; here it is configuration (docs/migrating.md#custom-ctr-fields).

/// How a custom field's value is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// As the CTR has it.
    AsIs,
    /// A string (numbers and booleans written out).
    String,
    /// A number (a numeric string is read as one).
    Number,
    /// A boolean (`"true"`/`"false"` in any case are read as one).
    Boolean,
}

/// One custom field: the VoiceCall field (a key of `callAttributes`, as the guide's example adds
/// `ConnectionAttempts__c`) and the CTR path its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub field: String,
    /// Dot-separated keys into the CTR (`Attributes.ConnectionAttempts`, `DisconnectReason`).
    pub path: Vec<String>,
    pub kind: FieldType,
}

/// The configured custom fields, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomFields(pub Vec<CustomField>);

/// A custom-field configuration that cannot be used; the message names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomFieldError {
    #[error("the custom field mapping is not a JSON object of VoiceCall field to CTR path: {0}")]
    NotAnObject(String),
    #[error("custom field {field:?}: {reason}")]
    Entry { field: String, reason: String },
}

impl CustomFields {
    /// Reads `{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "DisconnectReason__c":
    /// {"path": "DisconnectReason", "type": "string"}}`. Every entry is checked: the field is a
    /// Salesforce API name (a letter, then letters, digits and single underscores), the path is
    /// non-empty dot-separated keys, the type is `string`, `number` or `boolean`.
    pub fn parse(json: &str) -> Result<Self, CustomFieldError> {
        let value: Value = serde_json::from_str(json).map_err(|e| CustomFieldError::NotAnObject(e.to_string()))?;
        let Value::Object(entries) = value else {
            return Err(CustomFieldError::NotAnObject(format!("got {}", crate::kinesis::describe(&value))));
        };
        let mut fields = Vec::with_capacity(entries.len());
        for (field, spec) in entries {
            let bad = |reason: String| CustomFieldError::Entry { field: field.clone(), reason };
            let valid_name = field.len() <= 80
                && field.starts_with(|c: char| c.is_ascii_alphabetic())
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !field.trim_end_matches("__c").contains("__")
                && !field.ends_with('_');
            if !valid_name {
                return Err(bad("not a Salesforce field API name (a letter, then letters, digits and single underscores, e.g. ConnectionAttempts__c)".into()));
            }
            let (path, kind) = match &spec {
                Value::String(path) => (path.as_str(), None),
                Value::Object(o) => {
                    if let Some(key) = o.keys().find(|k| *k != "path" && *k != "type") {
                        return Err(bad(format!("unknown key {key:?} (expected path and optional type)")));
                    }
                    let path = o
                        .get("path")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("path is missing or not a string".into()))?;
                    let kind = match o.get("type") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(t)) => Some(t.as_str()),
                        Some(other) => {
                            return Err(bad(format!("type is {}, not a string", crate::kinesis::describe(other))));
                        }
                    };
                    (path, kind)
                }
                other => {
                    return Err(bad(format!(
                        "expected a CTR path or {{\"path\", \"type\"}}, got {}",
                        crate::kinesis::describe(other)
                    )));
                }
            };
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if segments.iter().any(|s| s.trim().is_empty()) {
                return Err(bad(format!(
                    "path {path:?} has an empty key (expected e.g. Attributes.ConnectionAttempts)"
                )));
            }
            let kind = match kind {
                None => FieldType::AsIs,
                Some("string") => FieldType::String,
                Some("number") => FieldType::Number,
                Some("boolean") => FieldType::Boolean,
                Some(other) => return Err(bad(format!("type {other:?} is not string, number or boolean"))),
            };
            fields.push(CustomField { field, path: segments, kind });
        }
        Ok(Self(fields))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The custom fields' values for `ctr`, in configuration order. A path the CTR lacks (or holds
    /// null or an empty string) gives no value, as the guide's `if (...)` does; a value that cannot
    /// have the configured type is left out and named in a WARN line.
    pub fn values(&self, ctr: &Ctr) -> Map<String, Value> {
        let mut out = Map::new();
        for custom in &self.0 {
            let found = custom.path.iter().try_fold(&ctr.raw, |at, key| at.get(key));
            let Some(value) = found.filter(|v| !v.is_null() && v.as_str() != Some("")) else { continue };
            match convert(value, custom.kind) {
                Some(v) => {
                    out.insert(custom.field.clone(), v);
                }
                None => tracing::warn!(
                    field = %custom.field,
                    path = %custom.path.join("."),
                    "custom field {} left out: the CTR's {} is {}, not a {:?}",
                    custom.field,
                    custom.path.join("."),
                    crate::kinesis::describe(value),
                    custom.kind
                ),
            }
        }
        out
    }

    /// Adds the custom fields' values to `fields["callAttributes"]` (created when the CTR had no
    /// attributes). A custom field wins over an `sfdc-` attribute of the same name.
    pub fn apply(&self, ctr: &Ctr, fields: &mut Map<String, Value>) {
        let values = self.values(ctr);
        if values.is_empty() {
            return;
        }
        let mut attributes = fields
            .get("callAttributes")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok())
            .unwrap_or_default();
        attributes.extend(values);
        fields.insert("callAttributes".into(), Value::String(Value::Object(attributes).to_string()));
    }
}

fn convert(value: &Value, kind: FieldType) -> Option<Value> {
    match (kind, value) {
        (FieldType::AsIs, v) => Some(v.clone()),
        (FieldType::String, Value::String(_)) => Some(value.clone()),
        (FieldType::String, Value::Number(_) | Value::Bool(_)) => Some(Value::String(value.to_string())),
        (FieldType::Number, Value::Number(_)) => Some(value.clone()),
        (FieldType::Number, Value::String(s)) => {
            let s = s.trim();
            s.parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)))
        }
        (FieldType::Boolean, Value::Bool(_)) => Some(value.clone()),
        (FieldType::Boolean, Value::String(s)) => s.trim().to_ascii_lowercase().parse::<bool>().ok().map(Value::Bool),
        _ => None,
    }
}

/// The custom-field mapping of this deployment: `CTR_CUSTOM_FIELDS` (the JSON itself), else the
/// SSM parameter `CTR_CUSTOM_FIELDS_PARAM_NAME` names (read at cold start), else none. An invalid
/// mapping stops the cold start naming the variable and the bad entry.
pub async fn custom_fields_from_env(
    env: &dyn crate::config::Env,
    ssm: &crate::keys::SsmClient,
) -> Result<CustomFields, crate::config::ConfigError> {
    use crate::config::ctr::CTR_CUSTOM_FIELDS_PARAM_NAME;
    if let Some(fields) = custom_fields_from_variable(env)? {
        return Ok(fields);
    }
    let Some(name) = crate::config::optional(env, CTR_CUSTOM_FIELDS_PARAM_NAME) else {
        return Ok(CustomFields::default());
    };
    let malformed =
        |reason: String| crate::config::ConfigError::Malformed { name: CTR_CUSTOM_FIELDS_PARAM_NAME, reason };
    let read = ssm.get_parameter().name(&name).with_decryption(true).send();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .map_err(|_| malformed(format!("SSM parameter {name} did not answer within 5 s")))?
        .map_err(|e| {
            malformed(format!("SSM parameter {name} cannot be read: {}", aws_sdk_ssm::error::DisplayErrorContext(&e)))
        })?;
    let text = answer.parameter().and_then(|p| p.value()).unwrap_or_default();
    CustomFields::parse(text).map_err(|e| malformed(format!("SSM parameter {name}: {e}")))
}

/// `CTR_CUSTOM_FIELDS` alone (no SSM): `None` when unset.
pub fn custom_fields_from_variable(
    env: &dyn crate::config::Env,
) -> Result<Option<CustomFields>, crate::config::ConfigError> {
    use crate::config::ctr::CTR_CUSTOM_FIELDS;
    match crate::config::optional(env, CTR_CUSTOM_FIELDS) {
        None => Ok(None),
        Some(json) => CustomFields::parse(&json)
            .map(Some)
            .map_err(|e| crate::config::ConfigError::Malformed { name: CTR_CUSTOM_FIELDS, reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The guide's example (ch. 6, "Customize Synced CTR Fields Using CTRDataSyncFunction").
    const GUIDE: &str =
        r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "DisconnectReason__c": "DisconnectReason"}"#;

    #[test]
    fn the_guide_s_custom_fields_are_added_to_call_attributes() {
        let custom = CustomFields::parse(GUIDE).expect("valid");
        let c = ctr(json!({"ContactId": "c1", "DisconnectReason": "CUSTOMER_DISCONNECT",
            "Attributes": {"sfdc-Tier__c": "Gold", "ConnectionAttempts": "3"}}));
        let mut fields = to_voice_call_fields(&c);
        custom.apply(&c, &mut fields);
        assert_eq!(
            fields["callAttributes"],
            r#"{"Tier__c":"Gold","ConnectionAttempts__c":"3","DisconnectReason__c":"CUSTOMER_DISCONNECT"}"#
        );
        // Absent values are left out; no attributes at all still gets the CTR field.
        let bare = ctr(json!({"ContactId": "c2", "DisconnectReason": "AGENT_DISCONNECT"}));
        let mut fields = to_voice_call_fields(&bare);
        custom.apply(&bare, &mut fields);
        assert_eq!(fields["callAttributes"], r#"{"DisconnectReason__c":"AGENT_DISCONNECT"}"#);
        let none = ctr(json!({"ContactId": "c3"}));
        let mut fields = to_voice_call_fields(&none);
        custom.apply(&none, &mut fields);
        assert!(fields.get("callAttributes").is_none());
    }

    #[test]
    fn types_convert_or_leave_the_field_out() {
        let custom = CustomFields::parse(
            r#"{"Attempts__c": {"path": "Attributes.Attempts", "type": "number"},
                "Vip__c": {"path": "Attributes.Vip", "type": "boolean"},
                "Holds__c": {"path": "Agent.NumberOfHolds", "type": "string"},
                "Bad__c": {"path": "Attributes.Name", "type": "number"}}"#,
        )
        .expect("valid");
        let c =
            ctr(json!({"Attributes": {"Attempts": "3", "Vip": "TRUE", "Name": "Ann"}, "Agent": {"NumberOfHolds": 2}}));
        assert_eq!(Value::Object(custom.values(&c)), json!({"Attempts__c": 3, "Vip__c": true, "Holds__c": "2"}));
    }

    #[test]
    fn invalid_mappings_name_the_bad_entry() {
        let cases = [
            ("[1]", "not a JSON object"),
            ("{", "not a JSON object"),
            (r#"{"Ok__c": "A", "bad name": "A"}"#, "custom field \"bad name\": not a Salesforce field API name"),
            (r#"{"X__c": "Attributes..A"}"#, "custom field \"X__c\": path \"Attributes..A\" has an empty key"),
            (r#"{"X__c": {"path": "A", "type": "date"}}"#, "custom field \"X__c\": type \"date\" is not string"),
            (r#"{"X__c": {"type": "string"}}"#, "custom field \"X__c\": path is missing"),
            (r#"{"X__c": {"path": "A", "as": "string"}}"#, "custom field \"X__c\": unknown key \"as\""),
            (r#"{"X__c": 5}"#, "custom field \"X__c\": expected a CTR path"),
            (r#"{"A__b__c": "A"}"#, "custom field \"A__b__c\": not a Salesforce field API name"),
        ];
        for (json, expected) in cases {
            let err = CustomFields::parse(json).expect_err(json).to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    fn ctr(v: Value) -> Ctr {
        Ctr::from_value(v).expect("a CTR")
    }

    #[test]
    fn a_ctr_is_versioned_by_its_last_update_else_its_disconnect() {
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&chrono::Utc);
        let cases = [
            (
                json!({"LastUpdateTimestamp": "2026-11-21T11:11:40Z", "DisconnectTimestamp": "2026-11-21T11:10:35Z"}),
                Some(at("2026-11-21T11:11:40Z")),
            ),
            (json!({"DisconnectTimestamp": "2026-11-21T11:10:35Z"}), Some(at("2026-11-21T11:10:35Z"))),
            (
                json!({"LastUpdateTimestamp": "not a time", "DisconnectTimestamp": "2026-11-21T11:10:35+01:00"}),
                Some(at("2026-11-21T10:10:35Z")),
            ),
            (json!({"InitiationTimestamp": "2026-11-21T11:10:35Z"}), None),
        ];
        for (value, expected) in cases {
            assert_eq!(ctr(value.clone()).updated_at(), expected, "{value}");
        }
    }

    /// The official fixture's full TRANSFER CTR (from its unit tests; docs/functions.md#ctrdatasync) and its fields.
    #[test]
    fn maps_a_full_transfer_ctr() {
        let c = ctr(json!({
            "ContactId": "c-1", "Channel": "VOICE", "InitiationMethod": "TRANSFER",
            "InitiationTimestamp": "2024-01-04T19:49:19Z", "DisconnectTimestamp": "2024-01-04T19:55:01Z",
            "PreviousContactId": "c-0", "DisconnectReason": "TELECOM_PROBLEM",
            "Agent": {"ConnectedToAgentTimestamp": "2024-01-04T19:49:40Z", "CustomerHoldDuration": 12, "LongestHoldDuration": 8,
                      "AgentInteractionDuration": 300, "NumberOfHolds": 2, "Username": "rep1"},
            "Queue": {"EnqueueTimestamp": "2024-01-04T19:49:25Z", "Name": "BasicQueue", "ARN": "arn:q"},
            "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"},
            "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
            "Recording": {"Location": "bucket/connect/rec.wav", "Type": "AUDIO"},
            "Attributes": {"sf_realtime_transcription_status": "passed", "sfdc-UserInputNum__c": 10, "other": "x"}
        }));
        assert_eq!(should_sync(&c), Ok(()));
        let fields = to_voice_call_fields(&c);
        assert_eq!(
            Value::Object(fields),
            json!({
                "startTime": "2024-01-04T19:49:19Z", "endTime": "2024-01-04T19:55:01Z", "parentCallIdentifier": "c-0",
                "disconnectReason": {"value": "TELECOM_PROBLEM", "isError": true},
                "acceptTime": "2024-01-04T19:49:40Z", "totalHoldDuration": 12, "longestHoldDuration": 8,
                "agentInteractionDuration": 300, "numberOfHolds": 2,
                "enqueueTime": "2024-01-04T19:49:25Z", "queue": "BasicQueue",
                "initiationMethod": "TRANSFER", "callSubType": "PSTN",
                "fromNumber": "+15555550123", "toNumber": "+15555550100",
                "recordingLocation": "bucket/connect/rec.wav",
                "callAttributes": "{\"sf_realtime_transcription_status\":\"passed\",\"UserInputNum__c\":10}"
            })
        );
    }

    /// The official sparse case: no InitiationTimestamp, a stray null queue.
    #[test]
    fn maps_a_sparse_ctr_without_nulls() {
        let c = ctr(
            json!({"ContactId": "c-2", "DisconnectTimestamp": "2024-01-04T19:55:01Z", "DisconnectReason": "AGENT_HUNGUP", "Queue": null}),
        );
        assert_eq!(
            Value::Object(to_voice_call_fields(&c)),
            json!({"endTime": "2024-01-04T19:55:01Z", "disconnectReason": {"value": "AGENT_HUNGUP", "isError": false}})
        );
        let no_reason = ctr(json!({"ContactId": "c-3"}));
        assert!(to_voice_call_fields(&no_reason).is_empty(), "no disconnectReason without a reason");
    }

    #[test]
    fn api_is_reported_as_inbound_and_methods_pick_the_direction() {
        let endpoints = json!({"SystemEndpoint": {"Address": "+1800"}, "CustomerEndpoint": {"Address": "+1555"}});
        let cases = [
            ("API", "INBOUND", "PSTN", "+1555", "+1800"),
            ("INBOUND", "INBOUND", "PSTN", "+1555", "+1800"),
            ("OUTBOUND", "OUTBOUND", "PSTN", "+1800", "+1555"),
            ("CALLBACK", "CALLBACK", "PSTN", "+1800", "+1555"),
            ("WEBRTC_API", "WEBRTC_API", "WebRTC", "+1555", "+1800"),
        ];
        for (method, reported, subtype, from, to) in cases {
            let mut v = endpoints.clone();
            v["ContactId"] = json!("c");
            v["InitiationMethod"] = json!(method);
            let f = to_voice_call_fields(&ctr(v));
            assert_eq!(
                (f["initiationMethod"].as_str(), f["callSubType"].as_str()),
                (Some(reported), Some(subtype)),
                "{method}"
            );
            assert_eq!((f["fromNumber"].as_str(), f["toNumber"].as_str()), (Some(from), Some(to)), "{method}");
        }
        let webrtc =
            ctr(json!({"ContactId": "c", "InitiationMethod": "WEBRTC_API", "Attributes": {"WebRTC_From": "jane@x"}}));
        let f = to_voice_call_fields(&webrtc);
        assert_eq!((f["fromNumber"].as_str(), f["toNumber"].as_str()), (Some("jane@x"), Some("WebRTC_Default")));
    }

    #[test]
    fn the_transcription_status_follows_the_first_attribute() {
        let attrs =
            json!({"sfdc-A__c": "x", "other": "y", "sf_realtime_transcription_status": "Exceeded", "sfdc-B__c": "z"});
        let Value::Object(map) = attrs else { unreachable!() };
        assert_eq!(call_attributes(&map), r#"{"A__c":"x","sf_realtime_transcription_status":"Exceeded","B__c":"z"}"#);
        let documented = json!({"sf_realtime_transcription_status__c": "limit", "sfdc-": "empty-key"});
        let Value::Object(map) = documented else { unreachable!() };
        assert_eq!(call_attributes(&map), r#"{"sf_realtime_transcription_status__c":"limit","":"empty-key"}"#);
    }

    /// The official filter matrix (from its unit tests; docs/functions.md#ctrdatasync) plus the fixed cases.
    #[test]
    fn which_ctrs_are_synced() {
        let kvs = json!([{"Location": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/acme-1/1700000000000", "FragmentStartNumber": "1", "FragmentStopNumber": "9"}]);
        let vm = |flag: &str| json!({"vm_flag": flag, "vm_lang": "en-US", "vm_from": "+1555"});
        let cases = vec![
            (json!({"ContactId": "c", "InitiationMethod": "INBOUND"}), Ok(())),
            (json!({"ContactId": "c", "InitiationMethod": "OUTBOUND"}), Ok(())),
            (json!({"ContactId": "c", "InitiationMethod": "TRANSFER"}), Ok(())),
            (json!({"ContactId": "c", "InitiationMethod": "CALLBACK"}), Ok(())),
            (json!({"ContactId": "c", "InitiationMethod": "API"}), Ok(())),
            (json!({"ContactId": "c", "InitiationMethod": "WEBRTC_API"}), Ok(())),
            (
                json!({"ContactId": "c", "InitiationMethod": "DISCONNECT"}),
                Err(Skip::InitiationMethod(Some("DISCONNECT".into()))),
            ),
            (json!({"InitiationMethod": "placeHolderInitiationMethod"}), Err(Skip::NoContactId)),
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": vm("1"), "Recordings": kvs}),
                Err(Skip::Voicemail),
            ),
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": vm("1"), "Recordings": null}),
                Ok(()),
            ),
            // The official skipped any truthy vm_flag (so "0" was never synced): fixed.
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": vm("0"), "Recordings": kvs}),
                Ok(()),
            ),
            (json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Recordings": kvs}), Ok(())),
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": {"x": "y"}, "Recordings": kvs}),
                Ok(()),
            ),
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": {"NoSync": "true"}}),
                Err(Skip::NoSync),
            ),
            (json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Attributes": {"NoSync": "false"}}), Ok(())),
            (
                json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Channel": "CHAT"}),
                Err(Skip::Channel("CHAT".into())),
            ),
            (json!({"ContactId": "c", "InitiationMethod": "INBOUND", "Channel": "VOICE"}), Ok(())),
        ];
        for (value, expected) in cases {
            assert_eq!(should_sync(&ctr(value.clone())), expected, "{value}");
        }
    }

    #[test]
    fn wrong_types_are_named() {
        let err = Ctr::from_value(json!({"ContactId": 42})).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        assert!(Ctr::from_value(json!([1, 2])).is_err());
    }
}
