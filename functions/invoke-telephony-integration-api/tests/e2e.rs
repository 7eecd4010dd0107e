//! End to end through the handler: every sample event against the Salesforce emulator and moto,
//! asserting the exact request Salesforce received and the output the flow gets; then missing
//! fields, faults, expired tokens and key rotation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use invoke_telephony_integration_api::InvokeError;
use local_stack::moto::put_secure_parameter;
use scv_shared::jwt::FixedClock;
use scv_shared::scrt::ScrtError;
use serde_json::{Value, json};
use sf_emulator::Fault;
use sf_emulator::keys::TestKeyPair;
use support::*;

const A: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
const B: &str = "b3e2a9d4-5c6f-4e7a-8b9c-0d1e2f3a4b5c";
const C: &str = "d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a";
const QUEUE_ARN: &str = "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/queue/4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f";

/// What one sample event must send and answer.
struct Expect {
    method: &'static str,
    path: String,
    provider_header: bool,
    body: Value,
}

fn expectation(name: &str) -> Option<Expect> {
    let e = |method, path: String, provider_header, body| Some(Expect { method, path, provider_header, body });
    match name {
        "00-keep-warm.json" => None,
        "01-create-voice-call.json" => e(
            "POST",
            "/telephony/v1/voiceCalls".into(),
            true,
            json!({
                "callCenterApiName": CALL_CENTER, "vendorCallKey": A, "to": "+15555550100", "from": "+15555550123",
                "initiationMethod": "Inbound", "startTime": "2026-11-21T09:15:02.481Z", "callSubtype": "PSTN",
                "callAttributes": "{\"SourceType\":\"Service\",\"Department__c\":\"Billing\",\"IVR_Choice__c\":\"2\"}",
                "participants": [{"participantKey": "+15555550123", "type": "END_USER"}]
            }),
        ),
        "02-execute-omni-flow.json" => e(
            "PATCH",
            format!("/telephony/v1/voiceCalls/{A}/omniFlow"),
            true,
            json!({
                "dialedNumber": "+15555550100", "flowDevName": "Route_Inbound_Voice", "fallbackQueue": "Billing_Queue",
                "flowInputParameters": {"Department": "Billing", "IvrChoice": "2"}
            }),
        ),
        "03-send-message.json" => e(
            "POST",
            format!("/telephony/v1/voiceCalls/{A}/messages"),
            true,
            json!({
                "participantId": format!("{A}END_USER"), "messageId": format!("{A}-ivr-summary"), "startTime": 1795252503481i64,
                "endTime": 1795252505481i64, "content": "Caller chose billing (option 2) in the IVR.", "senderType": "END_USER",
                "callCenterApiName": CALL_CENTER
            }),
        ),
        "04-create-voice-call-webrtc.json" => e(
            "POST",
            "/telephony/v1/voiceCalls".into(),
            true,
            json!({
                "callCenterApiName": CALL_CENTER, "vendorCallKey": B, "to": "support@acme.example", "from": "jane.doe@example.com",
                "initiationMethod": "Inbound", "startTime": "2026-11-21T09:16:40.005Z", "callSubtype": "WebRTC",
                "callAttributes": "{\"SourceType\":\"Sales\"}",
                "participants": [{"participantKey": "WebRTC_Default", "type": "END_USER"}]
            }),
        ),
        "05-create-transfer-vc.json" => e(
            "POST",
            "/telephony/v1/voiceCalls".into(),
            true,
            json!({
                "callCenterApiName": CALL_CENTER, "vendorCallKey": C, "to": "+15555550100", "from": "+15555550123",
                "initiationMethod": "Transfer", "startTime": "2026-11-21T09:19:44.120Z", "callSubtype": "PSTN",
                "parentVoiceCallId": A, "queue": QUEUE_ARN,
                "callAttributes": "{\"SourceType\":\"Service\",\"Department__c\":\"Billing\",\"IVR_Choice__c\":\"2\"}",
                "participants": [{"participantKey": "+15555550123", "type": "END_USER"}]
            }),
        ),
        "06-reroute-flow-execution.json" => {
            e("PATCH", format!("/telephony/v1/voiceCalls/{C}/reroute"), false, Value::Null)
        }
        "07-cancel-omni-flow-execution.json" => {
            e("PATCH", format!("/telephony/v1/voiceCalls/{A}/clearRouting"), false, Value::Null)
        }
        "08-update-voice-call.json" => e(
            "PATCH",
            format!("/telephony/v1/voiceCalls/{A}"),
            true,
            json!({
                "endTime": "2026-11-21T09:21:05.000Z", "callAttributes": "{\"Disposition__c\":\"Resolved\"}", "callCenterApiName": CALL_CENTER
            }),
        ),
        other => panic!("sample event {other} has no expectation in this test: add one"),
    }
}

#[tokio::test]
async fn every_sample_event_sends_the_documented_request_and_answers_the_flow() {
    let stack = Stack::start().await;
    let names = event_names();
    assert_eq!(names.len(), 9, "one sample per method plus keep-warm: {names:?}");
    let mut seen = 0;
    for name in &names {
        let output = stack.invoke(event(name)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let requests = stack.emulator().requests();
        let Some(expect) = expectation(name) else {
            assert_eq!(output, json!({"statusCode": 200, "message": "Keep Lambda Warm"}));
            assert!(requests.is_empty(), "keep-warm must not call Salesforce");
            assert_eq!(stack.deps.telephony.keys().fetch_count(), 1, "keep-warm pre-loads the key");
            continue;
        };
        assert_eq!(requests.len(), seen + 1, "{name}: exactly one request");
        let request = requests.last().expect("a request");
        seen += 1;
        assert_eq!(request.method, expect.method, "{name}");
        assert_eq!(request.path, expect.path, "{name}");
        assert_eq!(request.body, expect.body, "{name}: body");
        assert_eq!(
            request.telephony_provider_name.as_deref(),
            expect.provider_header.then_some("amazon-connect"),
            "{name}: provider header"
        );
        assert!(
            (200..300).contains(&request.status),
            "{name}: emulator answered {} {}",
            request.status,
            request.response
        );
        let claims = request.jwt_claims.as_ref().expect("claims");
        assert_eq!(claims["iss"], ORG_ID);
        assert_eq!(claims["sub"], CALL_CENTER);
        assert_eq!(claims["aud"], "https://scrt.salesforce.com");
        assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 180);

        // Flow outputs: flat string values.
        let out = output.as_object().expect("an object");
        assert!(out.values().all(Value::is_string), "{name}: flat strings only: {output}");
        match name.as_str() {
            "01-create-voice-call.json" | "04-create-voice-call-webrtc.json" | "05-create-transfer-vc.json" => {
                let id = out["voiceCallId"].as_str().unwrap();
                assert!(id.starts_with("0LQ") && id.len() == 15, "{name}: {id}");
                assert_eq!(out["errors"], "[]");
            }
            "02-execute-omni-flow.json" => assert_eq!(output, json!({"agent": FLOW_AGENT})),
            "03-send-message.json" => assert_eq!(output, json!({"result": "Accepted"})),
            "06-reroute-flow-execution.json" | "07-cancel-omni-flow-execution.json" => {
                assert_eq!(output, json!({"status": "Success"}));
            }
            "08-update-voice-call.json" => assert_eq!(output, json!({"status": "pending"})),
            _ => unreachable!(),
        }
    }

    // What Salesforce now holds.
    let a = stack.emulator().voice_call(A).expect("call A");
    let c = stack.emulator().voice_call(C).expect("call C");
    assert_eq!(c.parent_voice_call_id.as_deref(), Some(a.id.as_str()), "the transfer hangs under its parent");
    assert_eq!(a.messages.len(), 1);
    assert!(a.routing.pending_service_routing.is_none(), "routing cleared");
    assert_eq!(c.routing.reroute_count, 1);
    assert_eq!(a.fields["endTime"], "2026-11-21T09:21:05.000Z");
    let b = stack.emulator().voice_call(B).expect("call B");
    assert_eq!(b.call_subtype.as_deref(), Some("WebRTC"));

    // One SSM call for the whole run; a fresh jti per token.
    assert_eq!(stack.deps.telephony.keys().fetch_count(), 1);
    let jtis: std::collections::HashSet<String> = stack
        .emulator()
        .requests()
        .iter()
        .filter_map(|r| r.jwt_claims.as_ref()?["jti"].as_str().map(str::to_string))
        .collect();
    assert_eq!(jtis.len(), seen);
    stack.assert_logs_clean();
}

fn with_contact(mut event: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(event["Details"]["ContactData"].as_object_mut().expect("ContactData"));
    event
}

#[tokio::test]
async fn sparse_contact_data_gets_documented_defaults() {
    let stack = Stack::start().await;
    let sparse = with_contact(event("01-create-voice-call.json"), |cd| {
        cd.remove("SegmentAttributes");
        cd.insert("Attributes".into(), Value::Null);
        cd.remove("InitiationTimestamp");
    });
    let out = stack.invoke(sparse).await.expect("created");
    assert!(out["voiceCallId"].as_str().unwrap().starts_with("0LQ"));
    let body = &stack.emulator().requests()[0].body;
    assert_eq!(body["callSubtype"], "PSTN");
    assert_eq!(body["callAttributes"], "{}");
    assert!(chrono::DateTime::parse_from_rfc3339(body["startTime"].as_str().unwrap()).is_ok());

    // WebRTC without any address falls back to the placeholder on both sides.
    let webrtc = with_contact(event("04-create-voice-call-webrtc.json"), |cd| {
        cd.insert("Attributes".into(), json!({}));
        cd.insert("ContactId".into(), json!("webrtc-no-address"));
    });
    stack.invoke(webrtc).await.expect("created");
    let body = &stack.emulator().requests()[1].body;
    assert_eq!((body["from"].as_str(), body["to"].as_str()), (Some("WebRTC_Default"), Some("WebRTC_Default")));
}

#[tokio::test]
async fn missing_fields_fail_with_a_message_naming_field_and_contact_and_send_nothing() {
    let stack = Stack::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            with_contact(event("01-create-voice-call.json"), |cd| {
                cd.remove("CustomerEndpoint");
            }),
            "createVoiceCall for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.ContactData.CustomerEndpoint.Address is missing",
        ),
        (
            with_contact(event("01-create-voice-call.json"), |cd| {
                cd.insert("SystemEndpoint".into(), json!({"Address": ""}));
            }),
            "Details.ContactData.SystemEndpoint.Address is missing",
        ),
        (
            with_contact(event("05-create-transfer-vc.json"), |cd| {
                cd.remove("PreviousContactId");
            }),
            "createTransferVC for contact d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a: Details.ContactData.PreviousContactId is missing",
        ),
        (
            json!({"Details": {"Parameters": {"methodName": "createVoiceCall", "contactId": "x-1"}}}),
            "createVoiceCall for contact x-1: Details.ContactData is missing",
        ),
        (
            json!({"Details": {"Parameters": {"methodName": "updateVoiceCall", "contactId": "x-2"}}}),
            "updateVoiceCall for contact x-2: Details.Parameters.fieldValues is missing",
        ),
        (
            json!({"Details": {"Parameters": {"methodName": "updateVoiceCall", "contactId": "x-3", "fieldValues": "not json"}}}),
            "updateVoiceCall for contact x-3: Details.Parameters.fieldValues is malformed",
        ),
        (
            json!({"Details": {"Parameters": {"methodName": "executeOmniFlow", "contactId": "x-4"}}}),
            "executeOmniFlow for contact x-4: dialed number is missing",
        ),
        (json!({"Details": {"Parameters": {"methodName": "sendMessage"}}}), "sendMessage: the contact id is missing"),
        (
            json!({"Details": {"Parameters": {"contactId": "x-5"}}}),
            "Details.Parameters.methodName is missing (contact x-5)",
        ),
        (
            json!({"Details": {"Parameters": {"methodName": "deleteVoiceCall", "contactId": "x-6"}}}),
            "Unsupported method: deleteVoiceCall (Details.Parameters.methodName, contact x-6)",
        ),
        (json!({"Details": "a string"}), "the event is not an Amazon Connect flow event"),
    ];
    for (event, expected) in cases {
        let err = stack.invoke(event).await.expect_err(expected);
        assert!(err.to_string().contains(expected), "got {err:?}, want {expected}");
    }
    assert!(stack.emulator().requests().is_empty(), "bad input never reaches Salesforce");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn update_accepts_field_values_given_as_json_text_and_omni_flow_falls_back_to_the_field_value() {
    let stack = Stack::start().await;
    stack.invoke(event("01-create-voice-call.json")).await.expect("created");
    let update = json!({"Details": {"Parameters": {"methodName": "updateVoiceCall", "contactId": A,
        "fieldValues": "{\"isActiveCall\":true,\"callOrigin\":\"Voicemail\"}"}}});
    assert_eq!(stack.invoke(update).await.expect("updated"), json!({"status": "pending"}));
    assert_eq!(
        stack.emulator().requests()[1].body,
        json!({"isActiveCall": true, "callOrigin": "Voicemail", "callCenterApiName": CALL_CENTER})
    );

    // Internal-caller shape: no ContactData, dialed number from fieldValues.
    let route = json!({"Details": {"Parameters": {"methodName": "executeOmniFlow", "contactId": A, "fallbackQueue": "Billing_Queue",
        "fieldValues": {"dialedNumber": "+15555550199"}}}});
    assert_eq!(stack.invoke(route).await.expect("routed"), json!({"queue": "Billing_Queue"}));
    assert_eq!(
        stack.emulator().requests()[2].body,
        json!({"dialedNumber": "+15555550199", "fallbackQueue": "Billing_Queue", "flowInputParameters": {}})
    );
}

#[tokio::test]
async fn routing_errors_reach_the_flow_as_a_string() {
    let stack = Stack::start().await;
    stack.invoke(event("01-create-voice-call.json")).await.expect("created");
    let route = json!({"Details": {"Parameters": {"methodName": "executeOmniFlow", "contactId": A, "fieldValues": {"dialedNumber": "+15555550199"}}}});
    let out = stack.invoke(route).await.expect("answered");
    let errors: Vec<String> =
        serde_json::from_str(out["errors"].as_str().expect("errors as text")).expect("a JSON array");
    assert!(!errors.is_empty());
}

#[tokio::test]
async fn one_429_is_retried_after_retry_after_and_succeeds() {
    let stack = Stack::start().await;
    stack.emulator().inject(Fault::status(429, 1).with_retry_after(1));
    let started = Instant::now();
    let out = stack.invoke(event("01-create-voice-call.json")).await.expect("succeeds after one retry");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert!(out["voiceCallId"].as_str().unwrap().starts_with("0LQ"));
    let statuses: Vec<u16> = stack.emulator().requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[0], 429);
    assert!((200..300).contains(&statuses[1]));
    assert_eq!(statuses.len(), 2);
    assert_eq!(stack.emulator().voice_calls().len(), 1);
}

#[tokio::test]
async fn a_persistent_429_answers_the_flow_with_the_limit_marker_and_logs_scv_limits_error() {
    let stack = Stack::start().await;
    stack.emulator().inject(Fault::status(429, 100));
    let out = stack.invoke(event("01-create-voice-call.json")).await.expect("a limit is an answer, not a failure");
    assert_eq!(out["statusCode"], "429");
    assert_eq!(out["errorType"], "SCV_LIMITS_ERROR");
    assert!(
        out["errorMessage"].as_str().unwrap().starts_with("SCV_LIMITS_ERROR: createVoiceCall for contact 6f1b7c1e")
    );
    let attempts = stack.emulator().requests().len();
    assert!((2..=4).contains(&attempts), "bounded retries, got {attempts}");
    let limit_lines: Vec<Value> = stack
        .logs()
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with("SCV_LIMITS_ERROR")) && l["contactId"] == A)
        .collect();
    assert!(!limit_lines.is_empty(), "an SCV_LIMITS_ERROR line for the contact");
    assert_eq!(limit_lines[0]["level"], "ERROR");
    assert_eq!(limit_lines[0]["context"]["contactId"], A);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_persistent_500_fails_the_invocation_after_bounded_retries() {
    let stack = Stack::start().await;
    stack.emulator().inject(Fault::status(500, 100));
    let err = stack.invoke(event("08-update-voice-call.json")).await.expect_err("fails");
    match &err {
        InvokeError::Salesforce(ScrtError::Status { status: 500, contact_id, .. }) => assert_eq!(contact_id, A),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 500"));
    let attempts = stack.emulator().requests().len();
    assert!((2..=4).contains(&attempts), "bounded retries, got {attempts}");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let stack = Stack::start().await;
    stack.emulator().inject(Fault::drop_connection(1));
    let out = stack.invoke(event("01-create-voice-call.json")).await.expect("succeeds on the retry");
    assert!(out["voiceCallId"].as_str().unwrap().starts_with("0LQ"));
    assert_eq!(stack.emulator().voice_calls().len(), 1);
}

#[tokio::test]
async fn slow_salesforce_is_cut_off_at_the_deadline() {
    let stack = Stack::start_with(|cfg| cfg.deadline = Duration::from_secs(2)).await;
    stack.emulator().inject(Fault::delay(20_000, 100));
    let started = Instant::now();
    let err = stack.invoke(event("01-create-voice-call.json")).await.expect_err("no answer in time");
    assert!(started.elapsed() < Duration::from_secs(4), "answered within the deadline, took {:?}", started.elapsed());
    assert!(err.to_string().contains("contact 6f1b7c1e"), "{err}");

    // One slow answer inside the budget is simply waited for.
    stack.emulator().clear_faults();
    stack.emulator().inject(Fault::delay(300, 1));
    stack.invoke(event("01-create-voice-call.json")).await.expect("slow but in time");
}

#[tokio::test]
async fn an_expired_token_is_rejected_by_salesforce_and_the_key_is_reloaded_only_once() {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now().timestamp() - 3600));
    let stack = Stack::start().await.with_clock(clock);
    let err = stack.invoke(event("01-create-voice-call.json")).await.expect_err("expired tokens are refused");
    assert_eq!(err_status(&err), Some(401));
    let requests = stack.emulator().requests();
    assert_eq!(requests.len(), 2, "one retry with a reloaded key, then give up");
    assert!(requests.iter().all(|r| r.status == 401));
    assert!(requests[0].response.to_string().to_lowercase().contains("expired"), "{}", requests[0].response);
    assert_eq!(stack.deps.telephony.keys().fetch_count(), 2);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn key_rotation_is_picked_up_on_the_first_401() {
    let stack = Stack::start().await;
    stack.invoke(event("01-create-voice-call.json")).await.expect("old key works");
    // The admin rotates: Salesforce gets the new public key, SSM the new private key.
    let rotated = TestKeyPair::generate().expect("new key pair");
    stack.emulator().set_scrt_public_keys(vec![rotated.public_pem.clone()]);
    put_secure_parameter(&stack.sdk, &stack.param, &rotated.private_pkcs8_pem).await.expect("rotate in SSM");

    let out = stack.invoke(event("08-update-voice-call.json")).await.expect("new key works after one reload");
    assert_eq!(out, json!({"status": "pending"}));
    let statuses: Vec<u16> = stack.emulator().requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[1], 401, "the old key is rejected");
    assert!((200..300).contains(&statuses[2]));
    assert_eq!(statuses.len(), 3);
    assert_eq!(stack.deps.telephony.keys().fetch_count(), 2, "refreshed exactly once");
    assert_logs_clean(&stack.logs().lines(), &rotated);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_missing_key_parameter_fails_with_its_name() {
    let stack = Stack::start_with(|cfg| cfg.private_key_param_name = "no-such-parameter".into()).await;
    let err = stack.invoke(event("01-create-voice-call.json")).await.expect_err("no key");
    assert!(err.to_string().contains("SSM parameter no-such-parameter was not found"), "{err}");
    assert!(stack.emulator().requests().is_empty());
}

#[tokio::test]
async fn a_bad_key_fails_clearly_without_echoing_it() {
    let stack = Stack::start().await;
    let bogus =
        "-----BEGIN RSA PRIVATE KEY-----\nTm90QUtleUF0QWxsTm90QUtleUF0QWxsTm90QUtleQ==\n-----END RSA PRIVATE KEY-----";
    put_secure_parameter(&stack.sdk, &stack.param, bogus).await.expect("put");
    let err = stack.invoke(event("01-create-voice-call.json")).await.expect_err("bad key");
    let text = err.to_string();
    assert!(text.contains(&stack.param) && text.contains("does not hold a usable RSA private key"), "{text}");
    assert!(!text.contains("Tm90QUtle"), "{text}");
    for line in stack.logs().lines() {
        assert!(!line.contains("Tm90QUtle"), "{line}");
    }
}

fn err_status(err: &InvokeError) -> Option<u16> {
    match err {
        InvokeError::Salesforce(e) => e.status(),
        _ => None,
    }
}

#[tokio::test]
async fn the_key_can_come_through_the_parameters_and_secrets_extension() {
    let moto = local_stack::moto::Moto::shared().expect("moto");
    let sdk = local_stack::moto::aws_sdk_config(&moto.endpoint()).await;
    let extension =
        local_stack::extension::ParametersExtension::start(&sdk, "session-token-1").await.expect("extension");
    let env = vec![
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT".to_string(), extension.port().to_string()),
        ("AWS_SESSION_TOKEN".to_string(), "session-token-1".to_string()),
    ];
    let stack = Stack::start_with_env(|cfg| cfg.use_ssm_extension = true, env).await;
    stack.invoke(event("01-create-voice-call.json")).await.expect("created with a key from the extension");
    stack.invoke(event("08-update-voice-call.json")).await.expect("updated");
    assert_eq!(extension.request_count(), 1, "the extension is asked once; the key is cached");

    // A wrong session token is refused by the extension and reported clearly.
    let env = vec![
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT".to_string(), extension.port().to_string()),
        ("AWS_SESSION_TOKEN".to_string(), "wrong".to_string()),
    ];
    let refused = Stack::start_with_env(|cfg| cfg.use_ssm_extension = true, env).await;
    let err = refused.invoke(event("01-create-voice-call.json")).await.expect_err("refused");
    assert!(err.to_string().contains("extension answered HTTP 401"), "{err}");
    stack.assert_logs_clean();
}

/// Issue 13 item 1: an id that is a dot segment, holds a separator, a control character or is
/// over-long fails the invocation naming the field and the value, and nothing reaches Salesforce
/// (`..` once reached `PATCH /telephony/v1/clearRouting`).
#[tokio::test]
async fn hostile_contact_ids_reach_no_endpoint() {
    let stack = Stack::start().await;
    let methods = ["07-cancel-omni-flow-execution.json", "06-reroute-flow-execution.json", "08-update-voice-call.json"];
    for name in methods {
        for id in scv_shared::ids::hostile_ids() {
            let mut event = event(name);
            event["Details"]["Parameters"]["contactId"] = json!(id);
            event["Details"]["ContactData"]["ContactId"] = json!(id);
            let err = stack.invoke(event).await.expect_err(&format!("{name} with contactId {id:?}"));
            let text = err.to_string();
            if id.trim().is_empty() {
                assert!(matches!(err, InvokeError::MissingContactId { .. }), "{name} {id:?}: {text}");
            } else {
                assert!(matches!(err, InvokeError::BadContactId { .. }), "{name} {id:?}: {text}");
                assert!(text.contains("Details.Parameters.contactId"), "{text}");
                assert!(text.len() < 400, "the message clips the value: {text}");
            }
        }
    }
    let requests: Vec<String> =
        stack.emulator().requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(requests.is_empty(), "no request may reach Salesforce: {requests:?}");
}

#[tokio::test]
async fn a_200_without_the_documented_answer_fails_the_invocation_naming_what_was_missing() {
    let stack = Stack::start().await;
    for (name, missing) in
        [("01-create-voice-call.json", "voiceCallId"), ("02-execute-omni-flow.json", "agent, queue or errors")]
    {
        stack.emulator().reset();
        stack.emulator().inject(Fault::body(json!({"foo": 1}), 1));
        let err = stack.invoke(event(name)).await.expect_err(name);
        assert!(matches!(err, InvokeError::Salesforce(ScrtError::Decode { .. })), "{name}: {err:?}");
        assert_eq!(err.kind(), scv_shared::error::ErrorKind::SalesforceError, "{name}");
        let message = err.to_string();
        assert!(message.contains(&format!("without {missing}")), "{name}: {message}");
        assert!(message.contains("for contact "), "{name}: {message}");
        assert_eq!(stack.emulator().requests().len(), 1, "{name}: a 200 is not retried");
    }
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_wrong_type_fails_only_the_method_that_reads_it_naming_its_path_and_the_contact() {
    let stack = Stack::start().await;
    // Fields createVoiceCall does not read may have any type.
    let unread = with_contact(event("01-create-voice-call.json"), |cd| {
        cd.insert("Channel".into(), json!(12345));
        cd.insert("InitialContactId".into(), json!({"not": "a string"}));
        cd.insert("InstanceARN".into(), json!([1, 2]));
        cd.insert("Name".into(), json!(true));
    });
    let out = stack.invoke(unread).await.expect("Channel is not read by createVoiceCall");
    assert!(out["voiceCallId"].as_str().unwrap().starts_with("0LQ"));
    let sent = stack.emulator().requests().len();

    let cases: Vec<(Value, &str)> = vec![
        (
            with_contact(event("01-create-voice-call.json"), |cd| {
                cd.insert("CustomerEndpoint".into(), json!({"Address": 5}));
            }),
            "createVoiceCall for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.ContactData.CustomerEndpoint.Address is the number 5, expected a string",
        ),
        (
            with_contact(event("01-create-voice-call.json"), |cd| {
                cd.insert("SystemEndpoint".into(), json!("+15555550100"));
            }),
            "Details.ContactData.SystemEndpoint is a string, expected an object",
        ),
        (
            with_contact(event("01-create-voice-call.json"), |cd| {
                cd.insert("ContactId".into(), json!(12345));
            }),
            "createVoiceCall for no contact id in the event: Details.ContactData.ContactId is the number 12345, expected a string",
        ),
        (
            json!({"Details": {"ContactData": {"ContactId": "abc-123"}, "Parameters": "methodName=createVoiceCall"}}),
            "Details.Parameters: invalid type: string \"methodName=createVoiceCall\", expected a map (contact abc-123)",
        ),
        (
            json!({"Details": {"ContactData": {"ContactId": "abc-123"}, "Parameters": {"methodName": {"x": 1}}}}),
            "Details.Parameters.methodName is an object with keys x, expected a string",
        ),
        (json!(42), "the event: invalid type: integer `42`"),
    ];
    for (event, expected) in cases {
        let err = stack.invoke(event).await.expect_err(expected);
        assert!(err.to_string().contains(expected), "got {err}, want {expected}");
        assert_eq!(err.kind(), scv_shared::error::ErrorKind::InvalidEvent, "{err}");
    }
    assert_eq!(stack.emulator().requests().len(), sent, "bad input never reaches Salesforce");
}

/// Issue 13 item 3: with SSM hanging (no SDK timeout at all), the flow gets an error by 7 s, even
/// with a configured budget longer than Connect's 8 s, and the error names the key parameter.
#[tokio::test]
async fn hanging_ssm_answers_the_flow_by_seven_seconds() {
    let stack = Stack::start().await;
    let ssm = local_stack::faults::FaultEndpoint::hanging().await.expect("fault endpoint");
    let sdk = local_stack::moto::aws_sdk_config(ssm.endpoint()).await;
    let mut cfg = stack.cfg.clone();
    cfg.deadline = Duration::from_secs(20);
    let deps = invoke_telephony_integration_api::Deps::new(&cfg, scv_shared::keys::SsmClient::new(&sdk), &stack.env());
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        invoke_telephony_integration_api::handle(
            event("01-create-voice-call.json"),
            scv_shared::retry::Deadline::after(Duration::from_secs(20)),
            &deps,
        ),
    )
    .await
    .expect("an answer before Connect gives up");
    let took = started.elapsed();
    let err = answer.expect_err("no key, no call");
    assert!(took <= Duration::from_millis(7200), "answered after {took:?}");
    assert!(err.to_string().contains(&stack.param) && err.to_string().contains("deadline"), "{err}");
    assert!(stack.emulator().requests().is_empty(), "nothing reached Salesforce");
}

/// Issue 13: routing requests route again when repeated, so a 5xx that may come after Salesforce
/// applied one is not retried; Clear Routing (a delete) is.
#[tokio::test]
async fn routing_requests_applied_then_answered_502_are_not_sent_again() {
    let stack = Stack::start().await;
    stack.invoke(event("01-create-voice-call.json")).await.expect("created");
    let mut transfer = event("01-create-voice-call.json");
    transfer["Details"]["ContactData"]["ContactId"] = json!(C);
    transfer["Details"]["ContactData"]["InitialContactId"] = json!(C);
    stack.invoke(transfer).await.expect("created");

    stack.emulator().inject(Fault::applied_then_status(502, 1).on("PATCH", "/omniFlow"));
    let err = stack.invoke(event("02-execute-omni-flow.json")).await.expect_err("the 502 is reported");
    assert!(err.to_string().contains("HTTP 502") && err.to_string().contains(A), "{err}");
    assert_eq!(stack.emulator().voice_call(A).unwrap().routing.execute_count, 1, "the flow ran once");

    stack.emulator().inject(Fault::applied_then_status(502, 1).on("PATCH", "/reroute"));
    let err = stack.invoke(event("06-reroute-flow-execution.json")).await.expect_err("the 502 is reported");
    assert!(err.to_string().contains("HTTP 502") && err.to_string().contains(C), "{err}");
    assert_eq!(stack.emulator().voice_call(C).unwrap().routing.reroute_count, 1, "rerouted once");

    // A 429 is refused before any work: still retried, and the flow runs once.
    stack.emulator().inject(Fault::status(429, 1).on("PATCH", "/omniFlow"));
    stack.invoke(event("02-execute-omni-flow.json")).await.expect("routed after the 429");
    assert_eq!(stack.emulator().voice_call(A).unwrap().routing.execute_count, 2);

    // Deleting the PendingServiceRouting twice changes nothing: retried, and the flow gets its answer.
    stack.emulator().inject(Fault::applied_then_status(502, 1).on("PATCH", "/clearRouting"));
    let out = stack.invoke(event("07-cancel-omni-flow-execution.json")).await.expect("cleared on the retry");
    assert_eq!(out, json!({"status": "Success"}));
    let call = stack.emulator().voice_call(A).unwrap();
    assert_eq!(call.routing.clear_count, 2);
    assert!(call.routing.pending_service_routing.is_none());
}
