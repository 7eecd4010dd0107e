//! "Create a Transcript" (POST /voiceCalls/{vendorCallKey}/messages) and "Create Transcripts in Bulk"
//! (POST /voiceCalls/messages).

use serde_json::{Value, json};

use super::fields::{Obj, exactly_one_of};
use crate::errors::ApiError;
use crate::faults::FaultQueue;
use crate::state::{Message, OrgState, VoiceCall, looks_like_record_id};

/// "Possible values are: END_USER, EXTERNAL_USER, HUMAN_AGENT, SUPERVISOR, VIRTUAL_AGENT".
pub const SENDER_TYPES: &[&str] = &["END_USER", "EXTERNAL_USER", "HUMAN_AGENT", "SUPERVISOR", "VIRTUAL_AGENT"];
/// "this API lets you create transcripts for up to five (5) different voice calls at a time".
pub const MAX_BULK_ENTRIES: usize = 5;
/// "... and each voice call can have up to five (5) transcripts".
pub const MAX_BULK_MESSAGES: usize = 5;

/// A validated message, before it is checked against its conversation.
struct Incoming {
    participant_id: String,
    message_id: String,
    start_time: i64,
    end_time: i64,
    content: String,
    sender_type: &'static str,
}

/// Validates one message and normalises its participantId ("Create a Transcript", participantId):
/// END_USER / SUPERVISOR / VIRTUAL_AGENT become `{vendorCallKey}<TYPE>`; HUMAN_AGENT must be a 15- or
/// 18-character user id starting with 005; EXTERNAL_USER is kept.
fn parse_message(value: &Value, at: &str, vendor_call_key: &str) -> Result<Incoming, ApiError> {
    let m = Obj::of(value, at)?;
    let participant_id = m.req_str("participantId")?;
    let message_id = m.req_str("messageId")?;
    let start_time = m.req_i64("startTime")?;
    let end_time = m.req_i64("endTime")?;
    let content = m.req_str("content")?;
    let sender_type = exactly_one_of(m.req_str("senderType")?, SENDER_TYPES, &m.name("senderType"))?;
    if start_time < 0 || end_time < 0 {
        return Err(ApiError::invalid_input(format!(
            "Fields '{at}startTime' and '{at}endTime' must be epoch milliseconds >= 0"
        )));
    }
    if start_time > end_time {
        return Err(ApiError::invalid_input(format!(
            "Field '{at}startTime' ({start_time}) must not be after '{at}endTime' ({end_time})"
        )));
    }
    let participant_id = match sender_type {
        "END_USER" | "SUPERVISOR" | "VIRTUAL_AGENT" => format!("{vendor_call_key}{sender_type}"),
        "HUMAN_AGENT" if !looks_like_record_id(participant_id, "005") => {
            return Err(ApiError::invalid_input(format!(
                "Field '{at}participantId' must be the rep's 15- or 18-character Salesforce user id (005...) when senderType is HUMAN_AGENT, but was '{participant_id}'"
            )));
        }
        _ => participant_id.to_owned(),
    };
    Ok(Incoming {
        participant_id,
        message_id: message_id.to_owned(),
        start_time,
        end_time,
        content: content.to_owned(),
        sender_type,
    })
}

/// "Both APIs create voice call transcripts if the timestamp of the transcript is between the start and end
/// times of the conversation."
fn check_window(call: &VoiceCall, message: &Incoming) -> Result<(), String> {
    if let Some(start) = call.start_time_ms.filter(|start| message.start_time < *start) {
        return Err(format!(
            "message {} startTime {} is before the conversation start {start}",
            message.message_id, message.start_time
        ));
    }
    if let Some(end) = call.end_time_ms.filter(|end| !call.is_active_call && message.end_time > *end) {
        return Err(format!(
            "message {} endTime {} is after the end {end} of the closed conversation",
            message.message_id, message.end_time
        ));
    }
    Ok(())
}

/// Stores the messages (all checked first: all or nothing); a repeated messageId is counted, not stored.
fn store(call: &mut VoiceCall, messages: Vec<Incoming>) -> Result<(), String> {
    for message in &messages {
        check_window(call, message)?;
    }
    for m in messages {
        if call.messages.iter().any(|existing| existing.message_id == m.message_id) {
            call.duplicate_messages += 1;
            continue;
        }
        call.messages.push(Message {
            participant_id: m.participant_id,
            message_id: m.message_id,
            start_time: m.start_time,
            end_time: m.end_time,
            content: m.content,
            sender_type: m.sender_type.to_owned(),
        });
    }
    Ok(())
}

/// Create a Transcript: 202 `{"result":"Accepted"}`, 404 when the conversation does not exist.
pub fn create_one(org: &mut OrgState, vendor_call_key: &str, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
    let body = body.ok_or_else(|| ApiError::json_parser("The request body is required and must be a JSON object"))?;
    let message = parse_message(body, "", vendor_call_key)?;
    // "This value can't be a Salesforce voiceCallId": looked up by vendor call key only.
    let call = org.find_by_vendor_key_mut(vendor_call_key).ok_or_else(|| {
        ApiError::not_found(format!("Conversation does not exist for vendorCallKey {vendor_call_key}"))
    })?;
    store(call, vec![message]).map_err(ApiError::invalid_input)?;
    Ok((202, json!({"result": "Accepted"})))
}

/// Create Transcripts in Bulk: 202 when every entry is processed, else 207 with the documented
/// "Response with errors" shape. Limits (5 entries x 5 messages) and malformed messages fail the whole request.
pub fn create_bulk(
    org: &mut OrgState,
    faults: &mut FaultQueue,
    body: Option<&Value>,
) -> Result<(u16, Value), ApiError> {
    let obj = Obj::body(body)?;
    let entries = obj.req_array("entries")?;
    if entries.len() > MAX_BULK_ENTRIES {
        return Err(ApiError::invalid_input(format!(
            "Field 'entries' has {} entries; at most {MAX_BULK_ENTRIES} voice calls per request",
            entries.len()
        )));
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let e = Obj::of(entry, &format!("entries[{i}]."))?;
        let key = e.req_str("vendorCallKey")?;
        let messages = e.req_array("messages")?;
        if messages.len() > MAX_BULK_MESSAGES {
            return Err(ApiError::invalid_input(format!(
                "Field 'entries[{i}].messages' has {} messages; at most {MAX_BULK_MESSAGES} per voice call",
                messages.len()
            )));
        }
        let messages = messages
            .iter()
            .enumerate()
            .map(|(j, m)| parse_message(m, &format!("entries[{i}].messages[{j}]."), key))
            .collect::<Result<Vec<_>, _>>()?;
        parsed.push((key.to_owned(), messages));
    }

    let mut results = Vec::with_capacity(parsed.len());
    let mut all_ok = true;
    for (key, messages) in parsed {
        let ids = format!("[{}]", messages.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>().join(", "));
        let outcome = if let Some(status) = faults.take_bulk(&key) {
            Err((
                status,
                format!(
                    "Error Processing Transcript with Id(s) {ids}. Error: io.grpc.StatusRuntimeException: UNAVAILABLE: fault injected by the emulator"
                ),
            ))
        } else if let Some(call) = org.find_by_vendor_key_mut(&key) {
            store(call, messages).map_err(|why| {
                (400, format!("Error Processing Transcript with Id(s) {ids}. Error: io.grpc.StatusRuntimeException: INVALID_ARGUMENT: {why}"))
            })
        } else {
            Err((
                400,
                format!(
                    "Error Processing Transcript with Id(s) {ids}. Error: io.grpc.StatusRuntimeException: PERMISSION_DENIED: Conversation does not exist"
                ),
            ))
        };
        let (status, message) = match outcome {
            Ok(()) => (202, format!("Successfully Processed Transcripts with Id(s) {ids}")),
            Err(failure) => {
                all_ok = false;
                failure
            }
        };
        results.push(json!({"vendorCallKey": key, "status": status, "message": message}));
    }
    if all_ok {
        return Ok((202, json!({"result": "Accepted"})));
    }
    Ok((
        207,
        json!({
            "result": "Multi-Status: A few messages were not processed",
            "errorResponse": {"errorResponseEntries": results}
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::BulkEntryFault;

    const START_MS: i64 = 1_704_103_200_000; // 2024-01-01T10:00:00Z

    fn org_with(keys: &[&str]) -> OrgState {
        let mut org = OrgState::default();
        for key in keys {
            let id = org.new_id("0LQ");
            org.voice_calls.push(VoiceCall {
                id,
                vendor_call_key: (*key).into(),
                start_time_ms: Some(START_MS),
                is_active_call: true,
                ..VoiceCall::default()
            });
        }
        org
    }

    fn msg(id: &str, sender: &str, participant: &str, start: i64) -> Value {
        json!({"participantId": participant, "messageId": id, "startTime": start, "endTime": start + 100, "content": "hi", "senderType": sender})
    }

    type Case = (&'static str, Value, Result<(), (u16, &'static str)>);

    #[test]
    fn single_message_rules_table() {
        let t = START_MS + 1000;
        let cases: Vec<Case> = vec![
            ("end user", msg("m1", "END_USER", "END_USER", t), Ok(())),
            ("agent id 15", msg("m2", "HUMAN_AGENT", "005123456789abc", t), Ok(())),
            ("agent id 18", msg("m3", "HUMAN_AGENT", "005123456789abcDEF", t), Ok(())),
            ("external", msg("m4", "EXTERNAL_USER", "ext-1", t), Ok(())),
            (
                "extra callCenterApiName",
                {
                    let mut m = msg("m5", "VIRTUAL_AGENT", "x", t);
                    m["callCenterApiName"] = json!("HVCC");
                    m
                },
                Ok(()),
            ),
            (
                "agent not a user id",
                msg("m6", "HUMAN_AGENT", "agent-7", t),
                Err((400, "'participantId' must be the rep's")),
            ),
            ("bad sender", msg("m7", "BOT", "x", t), Err((400, "'senderType' has the invalid value 'BOT'"))),
            ("lower-case sender", msg("m7", "end_user", "x", t), Err((400, "'senderType' has the invalid value"))),
            (
                "before call start",
                msg("m8", "END_USER", "x", START_MS - 1),
                Err((400, "before the conversation start")),
            ),
            (
                "start after end",
                json!({"participantId": "x", "messageId": "m9", "startTime": t + 5, "endTime": t, "content": "c", "senderType": "END_USER"}),
                Err((400, "must not be after")),
            ),
            (
                "string time",
                json!({"participantId": "x", "messageId": "m9", "startTime": "1", "endTime": t, "content": "c", "senderType": "END_USER"}),
                Err((400, "'startTime' must be an integer")),
            ),
            (
                "missing content",
                json!({"participantId": "x", "messageId": "m9", "startTime": t, "endTime": t, "senderType": "END_USER"}),
                Err((400, "'content' is missing")),
            ),
            (
                "missing messageId",
                json!({"participantId": "x", "startTime": t, "endTime": t, "content": "c", "senderType": "END_USER"}),
                Err((400, "'messageId' is missing")),
            ),
        ];
        for (name, body, expected) in cases {
            let mut org = org_with(&["k1"]);
            let got = create_one(&mut org, "k1", Some(&body));
            match expected {
                Ok(()) => assert_eq!(got, Ok((202, json!({"result": "Accepted"}))), "{name}"),
                Err((status, text)) => {
                    let err = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                    assert_eq!(err.status, status, "{name}");
                    assert!(err.message.contains(text), "{name}: {}", err.message);
                }
            }
        }
    }

    #[test]
    fn normalisation_duplicates_window_and_unknown_calls() {
        let mut org = org_with(&["k1"]);
        let t = START_MS + 10;
        create_one(&mut org, "k1", Some(&msg("m1", "END_USER", "END_USER", t))).expect("m1");
        create_one(&mut org, "k1", Some(&msg("m2", "VIRTUAL_AGENT", "whatever", t))).expect("m2");
        create_one(&mut org, "k1", Some(&msg("m3", "SUPERVISOR", "boss", t))).expect("m3");
        create_one(&mut org, "k1", Some(&msg("m1", "END_USER", "END_USER", t))).expect("duplicate still accepted");
        let call = &org.voice_calls[0];
        let ids: Vec<_> = call.messages.iter().map(|m| m.participant_id.as_str()).collect();
        assert_eq!(ids, ["k1END_USER", "k1VIRTUAL_AGENT", "k1SUPERVISOR"]);
        assert_eq!(call.duplicate_messages, 1);

        assert!(create_one(&mut org, "nope", Some(&msg("m1", "END_USER", "x", t))).is_err_and(|e| e.status == 404));
        let id = org.voice_calls[0].id.clone();
        assert!(
            create_one(&mut org, &id, Some(&msg("m9", "END_USER", "x", t))).is_err_and(|e| e.status == 404),
            "never by record id"
        );

        // A closed call with a known end accepts messages inside the window only.
        org.voice_calls[0].is_active_call = false;
        org.voice_calls[0].end_time_ms = Some(START_MS + 1000);
        assert!(create_one(&mut org, "k1", Some(&msg("m4", "END_USER", "x", START_MS + 500))).is_ok());
        assert!(
            create_one(&mut org, "k1", Some(&msg("m5", "END_USER", "x", START_MS + 950)))
                .is_err_and(|e| e.message.contains("after the end"))
        );
    }

    #[test]
    fn bulk_limits_fail_the_whole_request() {
        let mut org = org_with(&["k1"]);
        let mut faults = FaultQueue::default();
        let six_entries: Vec<Value> = (0..6)
            .map(|i| json!({"vendorCallKey": "k1", "messages": [msg(&format!("m{i}"), "END_USER", "x", START_MS)]}))
            .collect();
        let err = create_bulk(&mut org, &mut faults, Some(&json!({"entries": six_entries}))).expect_err("6 entries");
        assert!(err.message.contains("at most 5 voice calls"), "{}", err.message);
        let six_messages: Vec<Value> = (0..6).map(|i| msg(&format!("m{i}"), "END_USER", "x", START_MS)).collect();
        let err = create_bulk(
            &mut org,
            &mut faults,
            Some(&json!({"entries": [{"vendorCallKey": "k1", "messages": six_messages}]})),
        )
        .expect_err("6 messages");
        assert!(err.message.contains("at most 5 per voice call"), "{}", err.message);
        let err = create_bulk(
            &mut org,
            &mut faults,
            Some(&json!({"entries": [{"vendorCallKey": "k1", "messages": [msg("m", "NOBODY", "x", START_MS)]}]})),
        )
        .expect_err("bad sender");
        assert!(err.message.contains("entries[0].messages[0].senderType"), "{}", err.message);
        assert!(create_bulk(&mut org, &mut faults, Some(&json!({"entries": []}))).is_err());
        assert!(create_bulk(&mut org, &mut faults, Some(&json!({}))).is_err());
        assert!(org.voice_calls[0].messages.is_empty());

        let five: Vec<Value> = (0..5).map(|i| msg(&format!("m{i}"), "END_USER", "END_USER", START_MS + i)).collect();
        let entries: Vec<Value> = (0..5).map(|_| json!({"vendorCallKey": "k1", "messages": five.clone()})).collect();
        assert_eq!(
            create_bulk(&mut org, &mut faults, Some(&json!({"entries": entries}))),
            Ok((202, json!({"result": "Accepted"})))
        );
        assert_eq!(org.voice_calls[0].messages.len(), 5);
        assert_eq!(org.voice_calls[0].duplicate_messages, 20);
    }

    #[test]
    fn bulk_multi_status_has_the_documented_shape() {
        let mut org = org_with(&["k1", "k2"]);
        let mut faults = FaultQueue::default();
        faults.push_bulk(BulkEntryFault { vendor_call_key: "k2".into(), count: 1, status: 500 });
        let body = json!({"entries": [
            {"vendorCallKey": "k1", "messages": [msg("a", "END_USER", "END_USER", START_MS), msg("b", "VIRTUAL_AGENT", "VIRTUAL_AGENT", START_MS + 1)]},
            {"vendorCallKey": "ghost", "messages": [msg("c", "END_USER", "END_USER", START_MS)]},
            {"vendorCallKey": "k2", "messages": [msg("d", "END_USER", "END_USER", START_MS)]}
        ]});
        let (status, answer) = create_bulk(&mut org, &mut faults, Some(&body)).expect("answer");
        assert_eq!(status, 207);
        assert_eq!(
            answer,
            json!({
                "result": "Multi-Status: A few messages were not processed",
                "errorResponse": {"errorResponseEntries": [
                    {"vendorCallKey": "k1", "status": 202, "message": "Successfully Processed Transcripts with Id(s) [a, b]"},
                    {"vendorCallKey": "ghost", "status": 400, "message": "Error Processing Transcript with Id(s) [c]. Error: io.grpc.StatusRuntimeException: PERMISSION_DENIED: Conversation does not exist"},
                    {"vendorCallKey": "k2", "status": 500, "message": "Error Processing Transcript with Id(s) [d]. Error: io.grpc.StatusRuntimeException: UNAVAILABLE: fault injected by the emulator"}
                ]}
            })
        );
        assert_eq!(org.voice_calls[0].messages.len(), 2);
        assert!(org.voice_calls[1].messages.is_empty(), "the failed entry stored nothing");
        let (status, _) = create_bulk(
            &mut org,
            &mut faults,
            Some(&json!({"entries": [{"vendorCallKey": "k2", "messages": [msg("d", "END_USER", "x", START_MS)]}]})),
        )
        .expect("retry");
        assert_eq!(status, 202, "the bulk entry fault ran out");
    }
}
