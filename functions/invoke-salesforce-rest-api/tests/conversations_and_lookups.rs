//! The four methods the official function also answers, each with its sample event, against the
//! emulator: `uploadTranscript` and `fetchUploadIdsStatus` (the Connect REST API conversation upload,
//! through the same shared code as ContactDataSync), `SFSPhoneCallFlowQuery` and
//! `fetchOutboundPhoneNumber` (escaped SOQL, flat answers, anonymous callers never queried).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

#[allow(dead_code)]
mod support;

use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

const CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
const CALLER: &str = "+15555550123";
const AGENT_ARN: &str = "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

fn queries(stack: &Stack) -> Vec<String> {
    stack
        .emulator()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/query"))
        .map(|r| r.query.unwrap_or_default())
        .collect()
}

/// The sample upload event with its VoiceCall id replaced by `call`.
fn upload_event(call: &str) -> Value {
    with_params(event("07-upload-transcript.json"), |p| {
        let map = p["contactIdsPayloadMap"].as_str().expect("map").replace("0LQ000000000001", call);
        p.insert("contactIdsPayloadMap".into(), json!(map));
    })
}

#[tokio::test]
async fn upload_transcript_and_its_status() {
    let stack = Stack::start(false).await;
    let call = stack
        .emulator()
        .seed_voice_call(CONTACT, "2026-11-21T09:15:02.481Z", Some("2026-11-21T09:21:05Z"))
        .expect("call");

    let out = stack.invoke(upload_event(&call)).await.expect("upload");
    let result = &out["conversationBulkUploadsResults"][0];
    assert_eq!(result["conversationIdentifier"], CONTACT);
    assert_eq!(result["status"], "SUCCESS", "{out}");
    assert_eq!(result["errorDetail"], Value::Null);
    let upload_id = result["uploadId"].as_str().expect("uploadId").to_string();
    let upload = stack.emulator().requests_to("POST", "/services/data/v62.0/connect/conversations/upload");
    assert_eq!(upload.len(), 1);
    let part = &upload[0].body["parts"][0];
    assert_eq!(
        (part["name"].as_str(), part["filename"].as_str()),
        (Some(CONTACT), Some(format!("{CONTACT}.txt").as_str()))
    );
    assert_eq!(part["lines"].as_array().map(Vec::len), Some(3));
    let stored = stack.emulator().conversation(CONTACT).expect("stored");
    assert!(stored.entries.iter().any(|e| e.message_text.contains("José Álvarez")), "UTF-8 intact");

    // The status, through the same shared code: PENDING, then SUCCESS with the counts.
    let status = with_params(event("08-fetch-upload-ids-status.json"), |p| {
        p.insert("uploadIds".into(), json!(upload_id));
    });
    let first = stack.invoke(status.clone()).await.expect("status");
    assert_eq!(first["conversationBulkUploadStatuses"][0]["status"], "PENDING");
    let second = stack.invoke(status).await.expect("status");
    assert_eq!(second["conversationBulkUploadStatuses"][0]["status"], "SUCCESS");
    assert_eq!(second["conversationBulkUploadStatuses"][0]["successEntryCount"], 2);
    // The sample's ids are not known to this org: each is named.
    let unknown = stack.invoke(event("08-fetch-upload-ids-status.json")).await.expect("status");
    let statuses = unknown["conversationBulkUploadStatuses"].as_array().expect("statuses");
    assert_eq!(
        statuses.iter().map(|s| s["status"].clone()).collect::<Vec<_>>(),
        vec![json!("NOT_FOUND"), json!("NOT_FOUND")]
    );

    // A conversation Salesforce refuses is answered FAILED with its reason, not as an error.
    let refused = stack.invoke(upload_event("0LQ000000009999")).await.expect("answer");
    let result = &refused["conversationBulkUploadsResults"][0];
    assert_eq!(result["status"], "FAILED");
    assert!(result["errorDetail"].as_str().expect("detail").contains("0LQ000000009999"), "{result}");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn upload_transcript_retries_a_5xx_and_refuses_a_malformed_map() {
    let stack = Stack::start(false).await;
    let call = stack
        .emulator()
        .seed_voice_call(CONTACT, "2026-11-21T09:15:02.481Z", Some("2026-11-21T09:21:05Z"))
        .expect("call");
    stack.emulator().inject(Fault::status(503, 1).on("POST", "/connect/conversations/upload"));
    let out = stack.invoke(upload_event(&call)).await.expect("upload");
    assert_eq!(out["conversationBulkUploadsResults"][0]["status"], "SUCCESS", "{out}");
    assert_eq!(stack.emulator().requests_to("POST", "/services/data/v62.0/connect/conversations/upload").len(), 2);

    for (map, needle) in [
        (json!("not json"), "is not JSON"),
        (json!("[]"), "expected [[conversationId, ndjson], ...]"),
        (json!("[[\"../x\", \"{}\"]]"), "conversationId \"../x\" is not a valid id"),
    ] {
        let event = with_params(event("07-upload-transcript.json"), |p| {
            p.insert("contactIdsPayloadMap".into(), map);
        });
        let err = stack.invoke(event).await.expect_err("malformed");
        assert!(err.to_string().contains(needle), "{err} should contain {needle}");
    }
}

/// The appointment assistant's records: the caller's appointment "En Route" and its resource's phone.
fn seed_field_service(stack: &Stack, caller: &str) {
    let emu = stack.emulator();
    emu.insert_record("FieldServiceOrgSettings", json!({"ApptAssistantStatus": "En Route"})).expect("settings");
    let contact = emu.insert_record("Contact", json!({"LastName": "Caller", "Phone": caller})).expect("contact");
    let tech = emu
        .insert_record("User", json!({"Username": "tech1@acme.example", "LastName": "One", "Phone": "+15555550177"}))
        .expect("user");
    let resource =
        emu.insert_record("ServiceResource", json!({"Name": "Tech One", "RelatedRecordId": tech})).expect("resource");
    let appointment = emu
        .insert_record("ServiceAppointment", json!({"Status": "En Route", "ContactId": contact}))
        .expect("appointment");
    emu.insert_record(
        "AssignedResource",
        json!({"ServiceAppointmentId": appointment, "ServiceResourceId": resource, "LocationStatus": "EnRoute"}),
    )
    .expect("assignment");
}

fn with_caller(event: Value, caller: Value) -> Value {
    let mut event = event;
    event["Details"]["ContactData"]["CustomerEndpoint"]["Address"] = caller;
    event
}

#[tokio::test]
async fn sfs_phone_call_flow_query_answers_the_en_route_resource_phone() {
    let stack = Stack::start(false).await;
    seed_field_service(&stack, CALLER);
    let out = stack.invoke(event("09-sfs-phone-call-flow-query.json")).await.expect("lookup");
    assert_eq!(
        out,
        json!({"success": "true", "statusCode": "200", "status": "TRANSFER_CALL", "engPhone": "+15555550177"})
    );
    let sent = queries(&stack);
    assert_eq!(sent.len(), 2);
    assert!(sent[1].contains("ServiceAppointment.Contact.Phone%3D%27%2B15555550123%27"), "{}", sent[1]);

    // A number with no appointment.
    let out = stack
        .invoke(with_caller(event("09-sfs-phone-call-flow-query.json"), json!("+15555550999")))
        .await
        .expect("lookup");
    assert_eq!(
        out,
        json!({"success": "true", "statusCode": "200", "status": "PHONE_NOT_FOUND", "msg": "Assign resource not found or no phone in AssignedResource record"})
    );
    // A 10-digit number without '+' is looked up (the official refuses it).
    let before = queries(&stack).len();
    stack.invoke(with_caller(event("09-sfs-phone-call-flow-query.json"), json!("5555550123"))).await.expect("lookup");
    assert_eq!(queries(&stack).len(), before + 2);
}

#[tokio::test]
async fn anonymous_or_malformed_callers_are_answered_without_a_query() {
    let stack = Stack::start(false).await;
    for caller in [
        json!("anonymous"),
        json!("Anonymous"),
        Value::Null,
        json!(""),
        json!("+1555"),
        json!("x' OR Name != '"),
        json!("+1 555 555 0123"),
        json!("{15555550123"),
    ] {
        let out = stack
            .invoke(with_caller(event("09-sfs-phone-call-flow-query.json"), caller.clone()))
            .await
            .expect("answer");
        assert_eq!(out, json!({"success": "true", "statusCode": "200", "status": "ANONYMOUS"}), "{caller}");
    }
    assert!(queries(&stack).is_empty(), "no query for anonymous or malformed numbers");

    // Salesforce failing: the flow goes on with PHONE_NOT_FOUND, as the official answers.
    stack.emulator().inject(Fault::status(500, 10).on("GET", "/query"));
    let out = stack.invoke(event("09-sfs-phone-call-flow-query.json")).await.expect("answer");
    assert_eq!(
        out,
        json!({"success": "true", "statusCode": "200", "status": "PHONE_NOT_FOUND", "msg": "getInfo() exception"})
    );
}

fn seed_channels(stack: &Stack, agent_arn: &str) {
    let emu = stack.emulator();
    let center =
        emu.insert_record("ContactCenter", json!({"Name": "Acme", "InternalName": "ACME_CC"})).expect("center");
    let channel = emu
        .insert_record(
            "MessagingChannel",
            json!({"MasterLabel": "Main line", "MessageType": "Voice", "IsActive": true, "MessagingPlatformKey": "+18005550100", "SessionHandlerId": "00GXX0000000001"}),
        )
        .expect("channel");
    emu.insert_record("ContactCenterChannel", json!({"ContactCenterId": center, "ChannelId": channel})).expect("link");
    emu.insert_record(
        "CallCenterRoutingMap",
        json!({"Name": "agent", "ExternalId": agent_arn, "ReferenceRecordId": "00GXX0000000001"}),
    )
    .expect("routing map");
}

#[tokio::test]
async fn fetch_outbound_phone_number_answers_the_agents_voice_channel() {
    let stack = Stack::start(false).await;
    seed_channels(&stack, AGENT_ARN);
    let out = stack.invoke(event("10-fetch-outbound-phone-number.json")).await.expect("lookup");
    assert_eq!(out, json!({"success": "true", "outboundPhoneNumber": "+18005550100"}));
    let sent = queries(&stack);
    assert!(sent[0].contains("InternalName%3D%27ACME_CC%27"), "{}", sent[0]);

    // Another agent: no number. A quote in the ARN stays inside its literal.
    let other = with_params(event("10-fetch-outbound-phone-number.json"), |p| {
        p.insert("agentARN".into(), json!("x' OR ExternalId != '"));
    });
    assert_eq!(stack.invoke(other).await.expect("lookup"), json!({"success": "true"}));
    assert!(
        queries(&stack)[1].contains("ExternalId%3D%27x%5C%27+OR+ExternalId+%21%3D+%5C%27%27"),
        "{}",
        queries(&stack)[1]
    );
    // No agentARN: answered without a query.
    let missing = with_params(event("10-fetch-outbound-phone-number.json"), |p| {
        p.remove("agentARN");
    });
    assert_eq!(stack.invoke(missing).await.expect("answer"), json!({"success": "true"}));
    assert_eq!(queries(&stack).len(), 2);
    // Salesforce failing: no number, no error.
    stack.emulator().inject(Fault::status(500, 10).on("GET", "/query"));
    assert_eq!(
        stack.invoke(event("10-fetch-outbound-phone-number.json")).await.expect("answer"),
        json!({"success": "true"})
    );
    stack.assert_logs_clean();
}
