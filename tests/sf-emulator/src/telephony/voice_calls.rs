//! "Create a Voice Call Record" (POST /voiceCalls) and "Update a Voice Call Record" (PATCH /voiceCalls/{CALL ID}).

use serde_json::{Map, Value, json};

use super::fields::{Obj, json_object_string};
use crate::errors::ApiError;
use crate::state::{OrgState, VOICE_CALL_PREFIX, VoiceCall, looks_like_voice_call_id};

/// Documented create parameters; anything else is accepted, ignored and listed in `ignoredFields`.
const CREATE_FIELDS: &[&str] = &[
    "callCenterApiName",
    "parentVoiceCallId",
    "vendorCallKey",
    "to",
    "from",
    "callOrigin",
    "initiationMethod",
    "queue",
    "startTime",
    "callSubtype",
    "participants",
    "callAttributes",
];

/// "Possible values are: Preview, Progressive, Voicemail".
pub const CALL_ORIGINS: &[&str] = &["Preview", "Progressive", "Voicemail"];

fn check_call_center(obj: &Obj<'_>, expected: &str) -> Result<(), ApiError> {
    if let Some(name) = obj.opt_str("callCenterApiName")?.filter(|name| *name != expected) {
        return Err(ApiError::invalid_input(format!(
            "Field 'callCenterApiName' is '{name}' but this org's call center API name is '{expected}'"
        )));
    }
    Ok(())
}

/// Create a Voice Call Record. Idempotent on `vendorCallKey` (page "Create a Voice Call Record": "If another
/// voice call record with the same vendor call key already exists, a new voice call record won't be created").
pub fn create(org: &mut OrgState, call_center: &str, body: Option<&Value>) -> Result<Value, ApiError> {
    let obj = Obj::body(body)?;
    obj.req_str("callCenterApiName")?;
    check_call_center(&obj, call_center)?;
    let vendor_call_key = obj.req_str("vendorCallKey")?;
    let to = obj.req_str("to")?;
    let from = obj.req_str("from")?;
    // "Outbound calls aren't supported."
    let method = match obj.get("initiationMethod") {
        None => obj.req_str("initiationMethod")?,
        Some(_) => obj.opt_enum("initiationMethod", &["Inbound", "Transfer"])?.unwrap_or_default(),
    };
    let (start_text, start_ms) = obj
        .opt_utc_time("startTime")?
        .ok_or_else(|| ApiError::invalid_input("Required field 'startTime' is missing"))?;
    let participants = obj.req_array("participants")?;
    for (i, participant) in participants.iter().enumerate() {
        let p = Obj::of(participant, &format!("participants[{i}]."))?;
        let kind = p.req_str("type")?;
        if kind != "END_USER" {
            return Err(ApiError::invalid_input(format!(
                "Field 'participants[{i}].type' must be END_USER but was '{kind}'"
            )));
        }
        p.req_str("participantKey")?;
    }
    let call_subtype = obj.opt_enum("callSubtype", &["PSTN", "WebRTC"])?;
    let call_origin = obj.opt_enum("callOrigin", CALL_ORIGINS)?;
    let queue = obj.opt_str("queue")?;
    let attributes =
        obj.opt_str("callAttributes")?.map(|text| json_object_string(text, "callAttributes")).transpose()?;
    let parent = obj.opt_str("parentVoiceCallId")?;
    let is_transfer = method == "Transfer";
    match (is_transfer, parent) {
        (true, None) => {
            return Err(ApiError::invalid_input(
                "Field 'parentVoiceCallId' is required when initiationMethod is Transfer",
            ));
        }
        (true, Some(p)) if p.trim().is_empty() => {
            return Err(ApiError::invalid_input("Field 'parentVoiceCallId' must not be empty"));
        }
        (false, Some(_)) => {
            return Err(ApiError::invalid_input(
                "Field 'parentVoiceCallId' is only allowed when initiationMethod is Transfer",
            ));
        }
        _ => {}
    }

    if let Some(existing) = org.voice_calls.iter_mut().rev().find(|c| c.vendor_call_key == vendor_call_key) {
        existing.create_count += 1;
        return Ok(json!({"voiceCallId": existing.id, "errors": []}));
    }

    let parent_id = parent.map(|p| org.find_call(p).map_or_else(|| p.to_owned(), |c| c.id.clone()));
    let (call_attributes, ignored_call_attributes) = match (is_transfer, attributes) {
        // "This property is ignored when creating a voice call record for transfer."
        (true, attrs) => (Map::new(), attrs),
        (false, attrs) => (attrs.unwrap_or_default(), None),
    };
    let id = org.new_id(VOICE_CALL_PREFIX);
    org.voice_calls.push(VoiceCall {
        id: id.clone(),
        vendor_call_key: vendor_call_key.to_owned(),
        call_center_api_name: call_center.to_owned(),
        from: Some(from.to_owned()),
        to: Some(to.to_owned()),
        initiation_method: Some(method.to_owned()),
        call_subtype: Some(call_subtype.unwrap_or("PSTN").to_owned()),
        call_origin: call_origin.map(str::to_owned),
        start_time: Some(start_text.to_owned()),
        start_time_ms: Some(start_ms),
        parent_voice_call_id: parent_id,
        // "This parameter is only used when initiationMethod is set to Transfer."
        queue: queue.filter(|_| is_transfer).map(str::to_owned),
        participants: participants.clone(),
        call_attributes,
        ignored_call_attributes,
        ignored_fields: obj.map.keys().filter(|k| !CREATE_FIELDS.contains(&k.as_str())).cloned().collect(),
        is_active_call: true,
        call_disposition: "in-progress".into(),
        create_count: 1,
        ..VoiceCall::default()
    });
    Ok(json!({"voiceCallId": id, "errors": []}))
}

/// Update a Voice Call Record: validates the documented fields, stores every field (documented or not,
/// as production accepts the official CTR sync's extra fields) and creates the record when the call is
/// unknown ("This endpoint can also be used to create a voice call even after the call has ended").
pub fn update(org: &mut OrgState, call_center: &str, call_id: &str, body: Option<&Value>) -> Result<Value, ApiError> {
    let obj = Obj::body(body)?;
    check_call_center(&obj, call_center)?;
    let start = obj.opt_utc_time("startTime")?;
    let end = obj.opt_utc_time("endTime")?;
    obj.opt_utc_time("enqueueTime")?;
    obj.opt_utc_time("acceptTime")?;
    for field in [
        "totalHoldDuration",
        "longestHoldDuration",
        "numberOfHolds",
        "agentInteractionDuration",
        "totalRecordingDuration",
    ] {
        obj.opt_non_negative_int(field)?;
    }
    for field in ["fromNumber", "toNumber", "queue", "agent", "recordingLocation"] {
        obj.opt_str(field)?;
    }
    let is_active = obj.opt_bool("isActiveCall")?;
    let call_origin = obj.opt_enum("callOrigin", CALL_ORIGINS)?;
    let attributes =
        obj.opt_str("callAttributes")?.map(|text| json_object_string(text, "callAttributes")).transpose()?;
    if let Some(reason) = obj.get("disconnectReason") {
        let r = Obj::of(reason, "disconnectReason.")?;
        r.req_str("value")?;
        if r.opt_bool("isError")?.is_none() {
            return Err(ApiError::invalid_input("Required field 'disconnectReason.isError' is missing"));
        }
    }

    if org.find_call(call_id).is_none() {
        if looks_like_voice_call_id(call_id) {
            return Err(ApiError::not_found(format!("No voice call with id {call_id}")));
        }
        let id = org.new_id(VOICE_CALL_PREFIX);
        org.voice_calls.push(VoiceCall {
            id,
            vendor_call_key: call_id.to_owned(),
            call_center_api_name: call_center.to_owned(),
            created_by_update: true,
            ..VoiceCall::default()
        });
    }
    let parent =
        obj.opt_str("parentCallIdentifier")?.map(|p| org.find_call(p).map_or_else(|| p.to_owned(), |c| c.id.clone()));
    let call =
        org.find_call_mut(call_id).ok_or_else(|| ApiError::not_found(format!("No voice call with id {call_id}")))?;
    for (key, value) in obj.map {
        if key != "callCenterApiName" {
            call.fields.insert(key.clone(), value.clone());
        }
    }
    if let Some((text, ms)) = start {
        call.start_time = Some(text.to_owned());
        call.start_time_ms = Some(ms);
    }
    if let Some((text, ms)) = end {
        call.end_time = Some(text.to_owned());
        call.end_time_ms = Some(ms);
    }
    if let Some(origin) = call_origin {
        call.call_origin = Some(origin.to_owned());
    }
    if let Some(attrs) = attributes {
        call.call_attributes.extend(attrs);
    }
    if call.created_by_update {
        call.from = call.from.take().or_else(|| obj.opt_str("fromNumber").ok().flatten().map(str::to_owned));
        call.to = call.to.take().or_else(|| obj.opt_str("toNumber").ok().flatten().map(str::to_owned));
        if call.parent_voice_call_id.is_none() {
            call.parent_voice_call_id = parent;
        }
    }
    // isActiveCall: "The default value is false. ... If set to false, the voice call conversation is closed
    // ... Any pending service routing records associated with the voice call are cleared."
    call.is_active_call = is_active == Some(true);
    if call.is_active_call {
        call.call_disposition = "in-progress".into();
    } else {
        call.call_disposition = "completed".into();
        call.routing.pending_service_routing = None;
    }
    call.update_count += 1;
    Ok(json!({"status": "pending"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CC: &str = "HVCC";

    fn inbound(key: &str) -> Value {
        json!({
            "callCenterApiName": CC, "vendorCallKey": key, "to": "+18005550100", "from": "+14155550100",
            "initiationMethod": "Inbound", "startTime": "2024-01-01T10:00:00.000Z", "callSubtype": "PSTN",
            "participants": [{"participantKey": "+14155550100", "type": "END_USER"}],
            "callAttributes": "{\"A__c\":\"x\"}"
        })
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        if value.is_null() {
            v.as_object_mut().map(|m| m.remove(key));
        } else {
            v[key] = value;
        }
        v
    }

    #[test]
    fn create_rules_table() {
        let base = inbound("k1");
        let transfer =
            with(with(inbound("k2"), "initiationMethod", json!("transfer")), "parentVoiceCallId", json!("k1"));
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("good", base.clone(), None),
            ("transfer with parent", transfer.clone(), None),
            ("lower-case subtype", with(inbound("k3"), "callSubtype", json!("webrtc")), None),
            (
                "no optional fields",
                with(with(inbound("k4"), "callSubtype", Value::Null), "callAttributes", Value::Null),
                None,
            ),
            (
                "missing vendorCallKey",
                with(base.clone(), "vendorCallKey", Value::Null),
                Some("'vendorCallKey' is missing"),
            ),
            ("missing to", with(base.clone(), "to", Value::Null), Some("'to' is missing")),
            ("missing from", with(base.clone(), "from", Value::Null), Some("'from' is missing")),
            (
                "missing callCenterApiName",
                with(base.clone(), "callCenterApiName", Value::Null),
                Some("'callCenterApiName' is missing"),
            ),
            (
                "other call center",
                with(base.clone(), "callCenterApiName", json!("Other")),
                Some("call center API name"),
            ),
            (
                "missing initiationMethod",
                with(base.clone(), "initiationMethod", Value::Null),
                Some("'initiationMethod' is missing"),
            ),
            (
                "outbound",
                with(base.clone(), "initiationMethod", json!("Outbound")),
                Some("'initiationMethod' has the invalid value 'Outbound'"),
            ),
            ("missing startTime", with(base.clone(), "startTime", Value::Null), Some("'startTime' is missing")),
            (
                "bad startTime",
                with(base.clone(), "startTime", json!("yesterday")),
                Some("'startTime' must be an ISO-8601"),
            ),
            (
                "missing participants",
                with(base.clone(), "participants", Value::Null),
                Some("'participants' is missing"),
            ),
            (
                "empty participants",
                with(base.clone(), "participants", json!([])),
                Some("'participants' must not be an empty array"),
            ),
            (
                "agent participant",
                with(base.clone(), "participants", json!([{"participantKey": "x", "type": "AGENT"}])),
                Some("'participants[0].type' must be END_USER"),
            ),
            (
                "empty participantKey",
                with(base.clone(), "participants", json!([{"participantKey": "", "type": "END_USER"}])),
                Some("'participants[0].participantKey' must not be empty"),
            ),
            (
                "bad subtype",
                with(base.clone(), "callSubtype", json!("SIP")),
                Some("'callSubtype' has the invalid value"),
            ),
            (
                "bad origin",
                with(base.clone(), "callOrigin", json!("Robot")),
                Some("'callOrigin' has the invalid value"),
            ),
            (
                "attributes object",
                with(base.clone(), "callAttributes", json!({"A__c": "x"})),
                Some("'callAttributes' must be a string"),
            ),
            (
                "attributes array string",
                with(base.clone(), "callAttributes", json!("[1]")),
                Some("'callAttributes' must be a string holding a JSON object"),
            ),
            (
                "attributes not json",
                with(base.clone(), "callAttributes", json!("{oops")),
                Some("'callAttributes' is not valid JSON"),
            ),
            (
                "transfer without parent",
                with(transfer.clone(), "parentVoiceCallId", Value::Null),
                Some("'parentVoiceCallId' is required when initiationMethod is Transfer"),
            ),
            (
                "inbound with parent",
                with(base.clone(), "parentVoiceCallId", json!("k0")),
                Some("only allowed when initiationMethod is Transfer"),
            ),
        ];
        let mut org = OrgState::default();
        for (name, body, expected) in cases {
            let got = create(&mut org, CC, Some(&body));
            match expected {
                None => assert!(got.is_ok(), "{name}: {got:?}"),
                Some(text) => {
                    let err = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                    assert_eq!(err.status, 400, "{name}");
                    assert!(err.message.contains(text), "{name}: {}", err.message);
                }
            }
        }
        assert!(create(&mut org, CC, None).is_err_and(|e| e.error_code == "JSON_PARSER_ERROR"));
    }

    #[test]
    fn create_is_idempotent_and_resolves_parents() {
        let mut org = OrgState::default();
        let first = create(&mut org, CC, Some(&inbound("k1"))).expect("create");
        let again = create(&mut org, CC, Some(&inbound("k1"))).expect("create again");
        assert_eq!(first, again);
        assert_eq!(org.voice_calls.len(), 1);
        assert_eq!(org.voice_calls[0].create_count, 2);
        let body = with(
            with(with(inbound("k2"), "initiationMethod", json!("Transfer")), "parentVoiceCallId", json!("k1")),
            "queue",
            json!("arn:queue"),
        );
        create(&mut org, CC, Some(&body)).expect("transfer");
        let child = org.find_call("k2").expect("child");
        assert_eq!(child.parent_voice_call_id.as_deref(), Some(org.voice_calls[0].id.as_str()));
        assert_eq!(child.initiation_method.as_deref(), Some("Transfer"));
        assert_eq!(child.queue.as_deref(), Some("arn:queue"));
        assert!(child.call_attributes.is_empty());
        assert!(child.ignored_call_attributes.is_some());
        assert_eq!(org.voice_calls[0].call_attributes.get("A__c"), Some(&json!("x")));
        assert!(org.voice_calls[0].queue.is_none(), "queue ignored for inbound");
    }

    #[test]
    fn update_rules_table() {
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("empty update", json!({}), None),
            (
                "documented types",
                json!({"startTime": "2024-01-01T10:00:00Z", "endTime": "2024-01-01T10:05:00Z", "enqueueTime": "2024-01-01T10:00:10Z", "acceptTime": "2024-01-01T10:00:20Z", "totalHoldDuration": 0, "numberOfHolds": 2, "isActiveCall": true, "disconnectReason": {"value": "AGENT_HUNGUP", "isError": false}, "callOrigin": "Voicemail"}),
                None,
            ),
            (
                "ctr extras",
                json!({"initiationMethod": "INBOUND", "callSubType": "PSTN", "fromNumber": "+1", "toNumber": "+2", "parentCallIdentifier": "p", "queue": "Q"}),
                None,
            ),
            ("bad endTime", json!({"endTime": 12}), Some("'endTime' must be a string")),
            ("bad acceptTime", json!({"acceptTime": "soon"}), Some("'acceptTime' must be an ISO-8601")),
            (
                "negative hold",
                json!({"totalHoldDuration": -1}),
                Some("'totalHoldDuration' must be an integer between 0"),
            ),
            ("string holds", json!({"numberOfHolds": "2"}), Some("'numberOfHolds' must be an integer")),
            (
                "float duration",
                json!({"agentInteractionDuration": 1.5}),
                Some("'agentInteractionDuration' must be an integer"),
            ),
            ("string isActiveCall", json!({"isActiveCall": "true"}), Some("'isActiveCall' must be a boolean")),
            ("attributes object", json!({"callAttributes": {}}), Some("'callAttributes' must be a string")),
            ("reason string", json!({"disconnectReason": "HUNGUP"}), Some("'disconnectReason' must be a JSON object")),
            (
                "reason without isError",
                json!({"disconnectReason": {"value": "X"}}),
                Some("'disconnectReason.isError' is missing"),
            ),
            (
                "reason without value",
                json!({"disconnectReason": {"isError": true}}),
                Some("'disconnectReason.value' is missing"),
            ),
            ("bad origin", json!({"callOrigin": "Robot"}), Some("'callOrigin' has the invalid value")),
            ("other call center", json!({"callCenterApiName": "X"}), Some("call center API name")),
        ];
        for (name, body, expected) in cases {
            let mut org = OrgState::default();
            create(&mut org, CC, Some(&inbound("k1"))).expect("create");
            let got = update(&mut org, CC, "k1", Some(&body));
            match expected {
                None => assert_eq!(got, Ok(json!({"status": "pending"})), "{name}"),
                Some(text) => {
                    let err = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                    assert!(err.message.contains(text), "{name}: {}", err.message);
                    assert_eq!(org.voice_calls[0].update_count, 0, "{name}: nothing stored");
                }
            }
        }
    }

    #[test]
    fn update_closes_stores_fields_and_creates_unknown_calls() {
        let mut org = OrgState::default();
        create(&mut org, CC, Some(&inbound("k1"))).expect("create");
        let id = org.voice_calls[0].id.clone();
        update(&mut org, CC, &id, Some(&json!({"isActiveCall": true, "totalHoldDuration": 3}))).expect("by id");
        assert!(org.voice_calls[0].is_active_call);
        update(
            &mut org,
            CC,
            "k1",
            Some(&json!({"totalHoldDuration": 7, "endTime": "2024-01-01T10:05:00Z", "callAttributes": "{\"B__c\":1}"})),
        )
        .expect("by key");
        let call = &org.voice_calls[0];
        assert!(!call.is_active_call, "an update without isActiveCall true closes the call");
        assert_eq!(call.call_disposition, "completed");
        assert_eq!(call.fields["totalHoldDuration"], json!(7));
        assert_eq!(call.update_count, 2);
        assert_eq!(call.end_time_ms, Some(1_704_103_500_000));
        assert_eq!(call.call_attributes.len(), 2);

        update(
            &mut org,
            CC,
            "vm-1",
            Some(&json!({"startTime": "2024-01-01T09:00:00Z", "isActiveCall": true, "fromNumber": "+1"})),
        )
        .expect("create by update");
        let created = org.find_call("vm-1").expect("created");
        assert!(created.created_by_update && created.is_active_call);
        assert_eq!(created.from.as_deref(), Some("+1"));
        assert!(update(&mut org, CC, "0LQEM0000009999", Some(&json!({}))).is_err_and(|e| e.status == 404));
    }
}
