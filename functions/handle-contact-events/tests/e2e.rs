//! End to end through the Lambda entry point: every sample event against the Salesforce emulator
//! and moto, asserting the exact request Salesforce received and what Salesforce now holds; then
//! a contact with no voice call, injected 429/5xx/4xx answers and malformed events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

const ABANDONED: &str = "4a8c2e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e";
const TRANSFER: &str = "7e5d3c1b-9a8f-4e6d-8c4b-2a0f9e8d7c6b";
const EXPIRED: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const WITH_AGENT: &str = "2b4d6f8a-0c1e-4a3b-9d5f-7e9a1c3b5d7f";
const CHAT: &str = "5c7e9a1b-3d5f-4b7c-8e9a-0b1c2d3e4f5a";

fn routing_requests(stack: &Stack) -> Vec<sf_emulator::RecordedRequest> {
    stack
        .emulator()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/clearRouting") || r.path.ends_with("/reroute"))
        .collect()
}

#[tokio::test]
async fn every_sample_event_reaches_salesforce_as_expected() {
    let stack = Stack::start().await;
    for contact in [ABANDONED, TRANSFER, EXPIRED, WITH_AGENT, CHAT] {
        stack.routed_call(contact).await;
    }
    let names = event_names();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        let before = routing_requests(&stack).len();
        let output = stack.invoke(event(name)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let sent = routing_requests(&stack)[before..].to_vec();
        let expected = match name.as_str() {
            "01-abandoned-inbound.json" => Some(("clearRouting", ABANDONED)),
            "02-missed-transfer.json" => Some(("clearRouting", TRANSFER)),
            "03-preferred-agent-step-expired.json" => Some(("reroute", EXPIRED)),
            "04-disconnected-after-agent.json" | "05-chat-transfer-disconnected.json" => None,
            other => panic!("sample event {other} has no expectation in this test: add one"),
        };
        match expected {
            Some((action, contact)) => {
                assert_eq!(output, json!({"action": action, "contactId": contact, "status": "Success"}), "{name}");
                assert_eq!(sent.len(), 1, "{name}: exactly one request");
                let request = &sent[0];
                // PATCH without the provider header, as the official functions send (docs/differences.md#provider-header).
                assert_eq!(request.method, "PATCH", "{name}");
                assert_eq!(request.path, format!("/telephony/v1/voiceCalls/{contact}/{action}"), "{name}");
                assert_eq!(request.body, Value::Null, "{name}: no body");
                assert_eq!(request.telephony_provider_name, None, "{name}");
                assert_eq!(request.status, 200, "{name}: {}", request.response);
                let claims = request.jwt_claims.as_ref().expect("claims");
                assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(ORG_ID), Some(CALL_CENTER)));
                assert_eq!(claims["aud"], "https://scrt.salesforce.com");
            }
            None => {
                assert_eq!(output["action"], "none", "{name}: {output}");
                assert!(sent.is_empty(), "{name}: no Salesforce call for an ignored event: {sent:?}");
            }
        }
    }

    // What Salesforce now holds: no PendingServiceRouting left for the abandoned calls, the
    // expired one rerouted, the others untouched.
    for contact in [ABANDONED, TRANSFER] {
        let call = stack.emulator().voice_call(contact).expect("call");
        assert!(call.routing.pending_service_routing.is_none(), "{contact}: routing cleared");
        assert_eq!((call.routing.clear_count, call.routing.reroute_count), (1, 0), "{contact}");
    }
    let rerouted = stack.emulator().voice_call(EXPIRED).expect("call");
    assert_eq!((rerouted.routing.clear_count, rerouted.routing.reroute_count), (0, 1));
    for contact in [WITH_AGENT, CHAT] {
        let call = stack.emulator().voice_call(contact).expect("call");
        assert!(call.routing.pending_service_routing.is_some(), "{contact}: untouched");
        assert_eq!((call.routing.clear_count, call.routing.reroute_count), (0, 0), "{contact}");
    }

    // Log lines carry the contact, at the top and under context (the documented Logs Insights query).
    let lines = lines_with(stack.logs(), &format!("contact {ABANDONED} disconnected without reaching an agent"));
    let line = lines.first().expect("an INFO line about the abandoned call");
    assert_eq!(line["contactId"], ABANDONED);
    assert_eq!(line["context"]["contactId"], ABANDONED);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["category"], "handleContactEvents");
    let ignored = lines_with(stack.logs(), "contact event ignored");
    assert!(
        ignored.iter().any(|l| l["contactId"] == CHAT && l["level"] == "DEBUG"),
        "the chat contact is ignored at DEBUG: {ignored:?}"
    );
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_contact_without_a_voice_call_is_done_not_retried() {
    let stack = Stack::start().await;
    // No call was created for this contact (an IVR-only call, another call center's contact).
    let output = stack.invoke(event("01-abandoned-inbound.json")).await.expect("404 is not a failure");
    assert_eq!(output, json!({"action": "clearRouting", "contactId": ABANDONED, "status": "NoVoiceCall"}));
    let sent = routing_requests(&stack);
    assert_eq!(sent.len(), 1, "a 404 is not retried: {sent:?}");
    assert_eq!(sent[0].status, 404);
    let warnings = lines_with(stack.logs(), "Salesforce has no voice call for this contact");
    assert!(warnings.iter().any(|l| l["level"] == "WARN" && l["contactId"] == ABANDONED), "{warnings:?}");

    // The same for a reroute.
    let output = stack.invoke(event("03-preferred-agent-step-expired.json")).await.expect("404 is not a failure");
    assert_eq!(output["status"], "NoVoiceCall");
}

#[tokio::test]
async fn limits_are_retried_honouring_retry_after() {
    let stack = Stack::start().await;
    stack.routed_call(ABANDONED).await;
    stack.emulator().inject(Fault::status(429, 2).with_retry_after(1).on("PATCH", "/clearRouting"));
    let output = stack.invoke(event("01-abandoned-inbound.json")).await.expect("cleared after the limit lifted");
    assert_eq!(output["status"], "Success");
    let sent = routing_requests(&stack);
    assert_eq!(sent.iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 429, 200]);
    assert!(stack.emulator().voice_call(ABANDONED).unwrap().routing.pending_service_routing.is_none());
}

#[tokio::test]
async fn server_errors_that_outlast_the_retries_fail_the_invocation() {
    let stack = Stack::start().await;
    stack.routed_call(ABANDONED).await;
    stack.emulator().inject(Fault::status(503, 20).on("PATCH", "/clearRouting"));
    let err = stack.invoke(event("01-abandoned-inbound.json")).await.expect_err("Lambda retries it");
    assert_eq!(err.kind(), "SalesforceUnavailable");
    let message = err.to_string();
    assert!(message.contains("clearRouting for contact 4a8c2e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e"), "{message}");
    assert!(message.contains("HTTP 503"), "{message}");
    let attempts = routing_requests(&stack).len();
    assert!((2..=4).contains(&attempts), "bounded retries, got {attempts}");
    assert!(stack.emulator().voice_call(ABANDONED).unwrap().routing.pending_service_routing.is_some());
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "SalesforceUnavailable");

    // A limit that outlasts the budget is retryable too (the async retries and the on-failure
    // destination take it from there).
    stack.emulator().clear_faults();
    stack.emulator().inject(Fault::status(429, 50).on("PATCH", "/clearRouting"));
    let err = stack
        .handle_within(event("01-abandoned-inbound.json"), Duration::from_secs(2))
        .await
        .expect_err("still limited");
    assert_eq!(err.kind(), "SalesforceUnavailable", "{err}");
}

#[tokio::test]
async fn a_rejected_request_fails_with_a_permanent_error() {
    let stack = Stack::start().await;
    stack.routed_call(EXPIRED).await;
    stack.emulator().inject(Fault::status(400, 1).on("PATCH", "/reroute"));
    let err = stack.invoke(event("03-preferred-agent-step-expired.json")).await.expect_err("400");
    assert_eq!(err.kind(), "SalesforceError");
    assert!(err.to_string().contains(&format!("reroute for contact {EXPIRED}")), "{err}");
    assert_eq!(routing_requests(&stack).len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn malformed_events_fail_with_a_clear_error_and_call_nothing() {
    let stack = Stack::start().await;
    let mut no_contact = event("01-abandoned-inbound.json");
    no_contact["detail"].as_object_mut().unwrap().remove("contactId");
    let mut bad_steps = event("03-preferred-agent-step-expired.json");
    bad_steps["detail"]["routingCriteria"]["steps"] = json!("EXPIRED");
    let mut null_detail = event("01-abandoned-inbound.json");
    null_detail["detail"] = Value::Null;
    let cases = [
        (json!({"Records": []}), "InvalidEvent", "the event is not an EventBridge event"),
        (Value::Null, "InvalidEvent", "the event is not an EventBridge event"),
        (no_contact, "MissingField", "the DISCONNECTED event has no detail.contactId"),
        (null_detail, "MissingField", "the Amazon Connect Contact Event has no detail"),
        (
            bad_steps,
            "InvalidEvent",
            "the contact event for contact 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a: detail.routingCriteria is malformed",
        ),
    ];
    for (payload, kind, message) in cases {
        let err = stack.invoke(payload.clone()).await.expect_err("malformed");
        assert_eq!(err.kind(), kind, "{payload}");
        assert!(err.to_string().starts_with(message), "{payload}: {err}");
    }
    assert!(stack.emulator().requests().is_empty(), "nothing reached Salesforce");
}

#[tokio::test]
async fn the_binary_runs_under_the_lambda_runtime_api() {
    use local_stack::runtime::FunctionProcess;

    let stack = Stack::start().await;
    stack.routed_call(ABANDONED).await;
    let spec = stack.function_spec().with_env("LOG_LEVEL", "debug").with_timeout(Duration::from_secs(10));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function.wait_ready(Duration::from_secs(10)).await.expect("ready");

    let done = function.invoke(event("01-abandoned-inbound.json")).await.expect("invoked");
    assert_eq!(
        done.result.expect("success"),
        json!({"action": "clearRouting", "contactId": ABANDONED, "status": "Success"})
    );
    assert!(stack.emulator().voice_call(ABANDONED).unwrap().routing.pending_service_routing.is_none());

    let failed = function.invoke(json!({"hello": "world"})).await.expect("invoked");
    let error = failed.result.expect_err("not an event");
    assert_eq!(error.error_type, "InvalidEvent");
    assert!(error.error_message.starts_with("the event is not an EventBridge event"), "{error}");

    let logs = function.logs();
    let line: Value = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("clearRouting for contact")))
        .unwrap_or_else(|| panic!("a JSON line about the clear: {logs:#?}"));
    assert_eq!(line["contactId"], ABANDONED);
    assert_eq!(line["context"]["contactId"], ABANDONED);
    assert!(line["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert_logs_clean(&logs, stack.keys());
    function.shutdown().await.expect("shutdown");
}

#[test]
fn sample_events_round_trip_through_the_types() {
    use handle_contact_events::{ContactEvent, ContactEventDetail};
    use serde::Deserialize;
    for name in event_names() {
        let raw = event(&name);
        let parsed = ContactEvent::deserialize(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let detail = ContactEventDetail::deserialize(&parsed.detail).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again: ContactEventDetail =
            serde_json::from_value(serde_json::to_value(&detail).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(detail, again, "{name}");
        assert_eq!(detail.routing_criteria().map(|c| c.is_some()).ok(), Some(name.starts_with("03")), "{name}");
        let envelope = serde_json::to_value(&parsed).unwrap();
        assert_eq!(envelope["detail-type"], raw["detail-type"], "{name}");
        assert_eq!(envelope["detail"], raw["detail"], "{name}");
    }
}

/// Issue 13 item 1: `contactId "."` once sent `PATCH /voiceCalls/clearRouting` and reported success
/// for a call it never touched. Every hostile id fails naming the field and the value, and nothing
/// reaches Salesforce.
#[tokio::test]
async fn hostile_contact_ids_reach_no_endpoint() {
    let stack = Stack::start().await;
    for name in ["01-abandoned-inbound.json", "03-preferred-agent-step-expired.json"] {
        for id in scv_shared::ids::hostile_ids() {
            let mut event = event(name);
            event["detail"]["contactId"] = json!(id);
            let err = stack.invoke(event).await.expect_err(&format!("{name} with contactId {id:?}"));
            let text = err.to_string();
            if id.trim().is_empty() {
                assert_eq!(err.kind(), "MissingField", "{name} {id:?}: {text}");
            } else {
                assert_eq!(err.kind(), "InvalidEvent", "{name} {id:?}: {text}");
                assert!(text.contains("detail.contactId"), "{text}");
                assert!(text.len() < 400, "the message clips the value: {text}");
            }
        }
    }
    let requests: Vec<String> =
        stack.emulator().requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(requests.is_empty(), "no request may reach Salesforce: {requests:?}");
}

/// Issue 14: exactly the official template's environment (`INVOKE_TELEPHONY_INTEGRATION_API_ARN`,
/// `LOG_LEVEL`): the routing reaches Salesforce through InvokeTelephonyIntegrationApi.
#[tokio::test]
async fn with_the_official_environment_routing_goes_through_invoke_telephony_integration_api() {
    let stack = Stack::official(|_| None).await;
    for contact in [ABANDONED, EXPIRED] {
        stack.routed_call(contact).await;
    }
    let cleared = stack.invoke(event("01-abandoned-inbound.json")).await.expect("cleared");
    assert_eq!(cleared, json!({"action": "clearRouting", "contactId": ABANDONED, "status": "Success"}));
    let rerouted = stack.invoke(event("03-preferred-agent-step-expired.json")).await.expect("rerouted");
    assert_eq!(rerouted["action"], "reroute");
    let invokes = stack.recorder().invokes();
    let sent: Vec<(String, Value)> = invokes.iter().map(|i| (i.function.clone(), i.payload.clone())).collect();
    assert_eq!(
        sent,
        vec![
            (
                ITIA_ARN.to_string(),
                json!({"Details": {"Parameters": {"methodName": "cancelOmniFlowExecution", "contactId": ABANDONED}}})
            ),
            (
                ITIA_ARN.to_string(),
                json!({"Details": {"Parameters": {"methodName": "rerouteFlowExecution", "contactId": EXPIRED}}})
            ),
        ]
    );
    let call = stack.emulator().voice_call(ABANDONED).expect("call");
    assert!(call.routing.pending_service_routing.is_none(), "routing cleared through the invoked function");
    assert_eq!(stack.emulator().voice_call(EXPIRED).expect("call").routing.reroute_count, 1);
}

#[tokio::test]
async fn a_function_error_of_the_invoked_function_fails_the_invocation() {
    use local_stack::invoke_recorder::Answer;
    let stack = Stack::official(|_| Some(Answer::error("Error", "Error cancelling OmniFlowExecution"))).await;
    let err = stack.invoke(event("01-abandoned-inbound.json")).await.expect_err("the failure is reported");
    let text = err.to_string();
    assert!(text.contains("Error cancelling OmniFlowExecution") && text.contains(ABANDONED), "{text}");
    assert_eq!(err.kind(), scv_shared::error::ErrorKind::SalesforceUnavailable, "retried by EventBridge/Lambda");
}

/// Issue 14: the real binary, started with exactly the official template's environment (plus the
/// local AWS settings), clears an abandoned call through InvokeTelephonyIntegrationApi, and an invoke
/// answered with a `FunctionError` fails the invocation (reported, not lost).
#[tokio::test]
async fn the_binary_started_with_the_official_environment_works_through_the_invoke() {
    use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};

    use local_stack::invoke_recorder::Answer;

    // The reroute of EXPIRED is answered as a failing official function answers (Unhandled).
    let stack = Stack::official(|payload| {
        (payload["Details"]["Parameters"]["contactId"] == json!(EXPIRED))
            .then(|| Answer::error("Error", "Error rerouting FlowExecution"))
    })
    .await;
    stack.routed_call(ABANDONED).await;
    stack.routed_call(EXPIRED).await;
    let mut env = local_stack::moto::aws_env(&stack.moto_endpoint);
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), stack.recorder().endpoint().to_string()));
    env.extend(
        [("INVOKE_TELEPHONY_INTEGRATION_API_ARN", ITIA_ARN), ("LOG_LEVEL", "info")]
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let spec = FunctionSpec::new(stack.name.clone(), binary_path("handle-contact-events"))
        .with_envs(env)
        .with_timeout(Duration::from_secs(10));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function.wait_ready(Duration::from_secs(10)).await.expect("ready: the official configuration is accepted");
    let done = function.invoke(event("01-abandoned-inbound.json")).await.expect("invoked");
    assert_eq!(
        done.result.expect("success"),
        json!({"action": "clearRouting", "contactId": ABANDONED, "status": "Success"})
    );
    assert_eq!(stack.recorder().invokes().len(), 1);
    assert!(stack.emulator().voice_call(ABANDONED).unwrap().routing.pending_service_routing.is_none());

    let failed = function.invoke(event("03-preferred-agent-step-expired.json")).await.expect("invoked");
    let error = failed.result.expect_err("a FunctionError of the invoked function fails the invocation");
    assert_eq!(error.error_type, "SalesforceUnavailable", "retried by EventBridge and Lambda: {error}");
    assert!(error.error_message.contains("Error rerouting FlowExecution") && error.error_message.contains(EXPIRED));
    assert_eq!(stack.recorder().invokes().len(), 2);
    assert_eq!(stack.emulator().voice_call(EXPIRED).unwrap().routing.reroute_count, 0, "not rerouted");
    function.shutdown().await.expect("shutdown");
}
