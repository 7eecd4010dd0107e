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
        serde_json::from_value(value).map_err(|e| format!("not a contact trace record: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
