//! VoiceMailPackaging end to end against the Salesforce emulator and moto: the documented voicemail
//! sequence, a repeated event, a failure at each step followed by the retry, and what is ignored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use scv_shared::voicemail::packaged_key;
use serde_json::json;
use sf_emulator::Fault;
use support::*;
use voicemail_packaging::{PackagingError, STEPS, Status};

fn call_sequence() -> Vec<(String, String)> {
    vec![
        ("PATCH".into(), "{id}".into()),
        ("POST".into(), "{id}/messages".into()),
        ("PATCH".into(), "{id}/omniFlow".into()),
        ("PATCH".into(), "{id}".into()),
    ]
}

#[tokio::test]
async fn a_transcript_becomes_one_routed_closed_voicemail_call_with_its_message() {
    let stack = Stack::start().await;
    let out = stack.run().await.expect("delivered");
    assert_eq!(out.status, Status::Delivered);
    assert_eq!(out.done, STEPS.map(String::from).to_vec());
    assert_eq!(stack.calls(), call_sequence(), "the documented order");

    let calls = stack.emulator().voice_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.vendor_call_key, stack.contact_id);
    assert!(call.created_by_update, "Update a Voice Call Record created it");
    assert_eq!(call.call_origin.as_deref(), Some("Voicemail"));
    assert_eq!(
        (call.from.as_deref(), call.to.as_deref()),
        (Some(CALLER), Some(DIALED)),
        "from and to, as the guide's VoiceMailPackagingFunction sets them"
    );
    assert_eq!((call.start_time_ms, call.end_time_ms), (Some(INIT_MS), Some(END_MS)));
    assert_eq!(call.fields["totalRecordingDuration"], 5);
    assert_eq!(
        call.fields["recordingLocation"],
        format!("{}/voicemail_recordings/{}.wav", stack.bucket(), stack.contact_id)
    );
    assert!(!call.is_active_call && call.call_disposition == "completed", "closed after routing");

    assert_eq!(call.messages.len(), 1);
    let message = &call.messages[0];
    assert_eq!(message.content, stack.transcript);
    assert_eq!(message.sender_type, "END_USER");
    assert_eq!(message.message_id, stack.contact_id);
    assert_eq!((message.start_time, message.end_time), (END_MS - 5000, END_MS), "real epoch ms, not the year");
    assert!(message.start_time >= INIT_MS && message.end_time <= END_MS, "inside the call window");

    assert_eq!(call.routing.execute_count, 1);
    let omni = stack.emulator().requests().into_iter().find(|r| r.path.ends_with("/omniFlow")).unwrap();
    assert_eq!(omni.body["dialedNumber"], DIALED);
    assert_eq!(omni.response["queue"], "VoicemailQueue");
    // The first update keeps the conversation open for the message; the last one closes it.
    let updates: Vec<_> = stack
        .emulator()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&stack.contact_id))
        .collect();
    assert_eq!(updates[0].body["isActiveCall"], true);
    assert_eq!(updates[0].body["callOrigin"], "Voicemail");
    assert_eq!(updates[1].body["isActiveCall"], false);

    assert!(!stack.job_exists().await, "the transcription job is deleted");
    let progress = stack.progress().await.expect("progress record");
    assert_eq!(progress["steps"].as_object().unwrap().len(), STEPS.len());
    stack.assert_logs_clean();
}

#[tokio::test]
async fn the_same_event_twice_gives_one_message_and_one_routing() {
    let stack = Stack::start().await;
    stack.run().await.expect("delivered");
    let again = stack.run().await.expect("a repeated event succeeds");
    assert_eq!(again.status, Status::AlreadyDelivered);
    assert!(again.done.is_empty());
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!(call.messages.len(), 1);
    assert_eq!(call.duplicate_messages, 0, "not even sent twice");
    assert_eq!(call.routing.execute_count, 1);
    assert_eq!(call.update_count, 2);
    assert!(!call.is_active_call, "not reopened");
    assert_eq!(stack.calls(), call_sequence());
}

/// A step that fails after its retries fails the invocation; the retry does the rest, once.
#[tokio::test]
async fn a_failure_at_each_salesforce_step_is_finished_by_the_retry_without_duplicates() {
    let cases = [
        ("voiceCallUpdated", "PATCH", "", 0),
        ("transcriptPosted", "POST", "/messages", 1),
        ("routed", "PATCH", "/omniFlow", 2),
    ];
    for (step, method, suffix, done_before) in cases {
        let stack = Stack::start().await;
        let path = format!("/voiceCalls/{}{suffix}", stack.contact_id);
        stack.emulator().inject(Fault::status(503, 100).on(method, &path));
        let err = stack.run().await.unwrap_err();
        assert!(matches!(&err, PackagingError::Salesforce { step: s, .. } if *s == step), "{step}: {err}");
        assert!(err.to_string().contains(&stack.contact_id), "{err}");
        let progress = stack.progress().await.map_or(0, |p| p["steps"].as_object().unwrap().len());
        assert_eq!(progress, done_before, "{step}: the steps before it are recorded");

        stack.emulator().clear_faults();
        let out = stack.run().await.expect("the retry delivers");
        assert_eq!(out.already_done.len(), done_before, "{step}");
        let call = &stack.emulator().voice_calls()[0];
        assert_eq!(call.messages.len(), 1, "{step}");
        assert_eq!(call.duplicate_messages, 0, "{step}");
        assert_eq!(call.routing.execute_count, 1, "{step}");
        assert_eq!(call.call_origin.as_deref(), Some("Voicemail"), "{step}");
        assert!(!call.is_active_call, "{step}");
        let accepted: Vec<_> = stack
            .emulator()
            .requests()
            .into_iter()
            .filter(|r| r.path.contains(&stack.contact_id) && !r.faulted)
            .map(|r| r.path.replace(&format!("/telephony/v1/voiceCalls/{}", stack.contact_id), "{id}"))
            .collect();
        assert_eq!(accepted, vec!["{id}", "{id}/messages", "{id}/omniFlow", "{id}"], "{step}");
    }
}

#[tokio::test]
async fn routing_that_finds_no_destination_fails_and_the_retry_routes_once() {
    let stack = Stack::start().await;
    stack.emulator().set_routing(sf_emulator::RoutingConfig::default());
    let err = stack.run().await.unwrap_err();
    assert!(matches!(err, PackagingError::Routing { .. }), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "SalesforceError");
    stack.emulator().set_routing(
        sf_emulator::RoutingConfig::default()
            .dialed_number(DIALED, sf_emulator::RoutingAnswer::queue("VoicemailQueue")),
    );
    let out = stack.run().await.expect("delivered");
    assert_eq!(out.done, vec!["routed", "closed", "transcriptionJobDeleted"]);
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!(call.routing.execute_count, 2, "the refused attempt and the one that routed");
    assert_eq!(call.messages.len(), 1);
}

#[tokio::test]
async fn transcribe_or_s3_down_fails_the_invocation_and_the_retry_finishes() {
    let stack = Stack::start().await;
    let dead = local_stack::moto::aws_sdk_config("http://127.0.0.1:9").await;
    let no_transcribe = deps_for(&stack.env, &stack.sdk, stack.s3.clone(), aws_sdk_transcribe::Client::new(&dead));
    let err = stack.run_with(&no_transcribe).await.unwrap_err();
    assert!(matches!(err, PackagingError::Transcribe { .. }), "{err}");
    assert!(stack.job_exists().await);
    let out = stack.run().await.expect("delivered");
    assert_eq!(out.done, vec!["transcriptionJobDeleted"]);
    assert!(!stack.job_exists().await);
    assert_eq!(stack.calls(), call_sequence());

    let stack = Stack::start().await;
    let no_s3 = deps_for(&stack.env, &stack.sdk, scv_shared::aws::s3_client(&dead), stack.transcribe.clone());
    let err = stack.run_with(&no_s3).await.unwrap_err();
    assert!(matches!(err, PackagingError::S3 { .. }), "{err}");
    assert!(err.to_string().contains(&packaged_key(&stack.contact_id)), "{err}");
    assert!(stack.emulator().requests().is_empty(), "nothing reaches Salesforce without the progress record");
    assert_eq!(stack.run().await.expect("delivered").status, Status::Delivered);
}

#[tokio::test]
async fn an_empty_transcript_still_delivers_the_recording() {
    let stack = Stack::with_transcript(Some("")).await;
    let out = stack.run().await.expect("delivered");
    assert_eq!(out.status, Status::Delivered);
    let call = &stack.emulator().voice_calls()[0];
    assert!(call.messages.is_empty());
    assert_eq!(call.routing.execute_count, 1);
    assert!(!call.is_active_call);
}

#[tokio::test]
async fn non_transcripts_are_ignored_and_bad_ones_fail_naming_the_problem() {
    let stack = Stack::start().await;
    let mut check = sample("write-access-check.json");
    check["detail"]["bucket"]["name"] = json!(stack.bucket());
    let out = voicemail_packaging::handle(
        &check,
        scv_shared::retry::Deadline::after(std::time::Duration::from_secs(10)),
        &stack.deps,
    )
    .await
    .expect("ignored");
    assert_eq!(out.status, Status::Ignored);
    assert!(stack.emulator().requests().is_empty());

    stack
        .s3
        .put_object()
        .bucket(stack.bucket())
        .key(scv_shared::voicemail::transcript_key(&stack.contact_id))
        .body(b"{\"results\": {}}".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = stack.run().await.unwrap_err();
    assert!(
        matches!(err, PackagingError::Transcript { .. }) && err.to_string().contains("results.transcripts"),
        "{err}"
    );
    assert!(stack.emulator().requests().is_empty());
}

/// Issue 14: exactly the official template's environment (`invoke_telephony_integration_api_arn`,
/// `delay_before_routing_vm_sec`, `LOG_LEVEL`): every Salesforce step goes through
/// InvokeTelephonyIntegrationApi with the official payloads and the voicemail is delivered.
#[tokio::test]
async fn with_the_official_environment_the_voicemail_is_delivered_through_invoke_telephony_integration_api() {
    let stack = Stack::with_invoke_endpoint().await;
    let deps = stack.official_deps(|_| None).await;
    let out = stack.run_with(&deps).await.expect("delivered");
    assert_eq!(out.status, Status::Delivered);
    assert_eq!(stack.calls(), call_sequence(), "the documented order, through the invoked function");
    let methods: Vec<(String, String)> = stack
        .recorder()
        .invokes()
        .iter()
        .map(|i| {
            let p = &i.payload["Details"]["Parameters"];
            assert_eq!(i.function, ITIA_ARN);
            assert_eq!(p["contactId"], stack.contact_id.as_str());
            (p["methodName"].as_str().unwrap().to_string(), p["fieldValues"].to_string())
        })
        .collect();
    let names: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["updateVoiceCall", "sendMessage", "executeOmniFlow", "updateVoiceCall"]);
    assert!(methods[2].1.contains(DIALED), "executeOmniFlow carries fieldValues.dialedNumber: {}", methods[2].1);
    let first: serde_json::Value = serde_json::from_str(&methods[0].1).unwrap();
    assert_eq!((first["fromNumber"].as_str(), first["toNumber"].as_str()), (Some(CALLER), Some(DIALED)));
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!((call.from.as_deref(), call.to.as_deref()), (Some(CALLER), Some(DIALED)));
    assert_eq!(call.messages.len(), 1);
    assert_eq!(call.routing.execute_count, 1);
    assert!(!call.is_active_call, "closed");
    assert!(!stack.job_exists().await);
}

#[tokio::test]
async fn an_official_send_message_error_answer_or_function_error_fails_the_step_and_the_retry_finishes() {
    use local_stack::invoke_recorder::Answer;
    let stack = Stack::with_invoke_endpoint().await;
    // The official sendMessage swallows its failure into {"result":"Error"}; then routing fails with a FunctionError.
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = attempts.clone();
    let deps = stack
        .official_deps(move |payload| {
            let method = payload["Details"]["Parameters"]["methodName"].as_str().unwrap_or_default();
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match (method, n) {
                ("sendMessage", 1) => Some(Answer::Ok(json!({"result": "Error"}))),
                ("executeOmniFlow", 3) => Some(Answer::error("Error", "Error executing Omni Flow")),
                _ => None,
            }
        })
        .await;
    let first = stack.run_with(&deps).await.expect_err("the error answer fails the step");
    assert!(matches!(&first, PackagingError::Salesforce { step: "transcriptPosted", .. }), "{first}");
    assert!(first.to_string().contains("result Error"), "{first}");
    let second = stack.run_with(&deps).await.expect_err("the FunctionError fails the step");
    assert!(matches!(&second, PackagingError::Salesforce { step: "routed", .. }), "{second}");
    assert!(second.to_string().contains("Error executing Omni Flow"), "{second}");
    let done = stack.run_with(&deps).await.expect("the third delivery finishes");
    assert_eq!(done.status, Status::Delivered);
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!(call.messages.len(), 1, "one message");
    assert_eq!(call.routing.execute_count, 1, "one routing");
}

#[tokio::test]
async fn cold_start_names_what_is_missing_when_neither_wiring_is_complete() {
    let stack = Stack::start().await;
    let mut env = stack.env.clone();
    env.remove("CALL_CENTER_API_NAME");
    let lookup = |name: &str| env.get(name).cloned();
    let err = voicemail_packaging::Deps::new(&lookup, &stack.sdk, stack.s3.clone(), stack.transcribe.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("CALL_CENTER_API_NAME") && err.contains("invoke_telephony_integration_api_arn"), "{err}");
}

/// Issue 13 item 2: the progress write after routing fails (S3 denies the write that records
/// `routed`); the replay does not route again, finishes the other steps, and says so.
#[tokio::test]
async fn a_progress_write_failing_after_routing_does_not_route_twice() {
    use local_stack::faults::{Fault as AwsFault, FaultEndpoint};
    let stack = Stack::start().await;
    let s3 = FaultEndpoint::forwarding(&stack.moto_endpoint, &[("PUT", AwsFault::DenyIfBodyContains("\"routed\""))])
        .await
        .expect("fault endpoint");
    let sdk = stack.sdk_for(s3.endpoint()).await;
    let deps = deps_for(&stack.env, &stack.sdk, scv_shared::aws::s3_client(&sdk), stack.transcribe.clone());
    let err = stack.run_with(&deps).await.expect_err("the progress write after routing fails");
    assert!(matches!(&err, PackagingError::S3 { operation: "writing", .. }), "{err}");
    assert_eq!(stack.emulator().voice_calls()[0].routing.execute_count, 1, "routed once");
    let progress = stack.progress().await.expect("the record");
    assert!(progress["routingRequested"].is_string(), "the intent was recorded first: {progress}");
    assert!(progress["steps"].get("routed").is_none(), "{progress}");

    let out = stack.run().await.expect("the replay finishes");
    assert_eq!(out.status, Status::Delivered);
    assert_eq!(out.done, vec!["closed", "transcriptionJobDeleted"]);
    assert_eq!(out.already_done, vec!["voiceCallUpdated", "transcriptPosted", "routed"]);
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!(call.routing.execute_count, 1, "the replay routes zero more times");
    assert!(!call.is_active_call);
    assert_eq!(stack.calls(), call_sequence());
    let progress = stack.progress().await.expect("the record");
    assert!(progress["steps"]["routed"].as_str().unwrap().starts_with("assumed"), "{progress}");
    assert!(progress.get("routingRequested").is_none(), "{progress}");
    let warnings = local_stack::stack::lines_with(stack.logs(), "not routing again");
    assert!(warnings.iter().any(|l| l["level"] == "WARN"), "{warnings:?}");
}

/// The intent does not block a retry when Salesforce refused the routing (HTTP 400).
#[tokio::test]
async fn a_refused_routing_withdraws_the_intent_and_the_retry_routes() {
    let stack = Stack::start().await;
    let path = format!("/voiceCalls/{}/omniFlow", stack.contact_id);
    stack.emulator().inject(Fault::status(400, 1).on("PATCH", &path));
    stack.run().await.expect_err("refused");
    assert!(stack.progress().await.unwrap().get("routingRequested").is_none());
    stack.run().await.expect("delivered");
    assert_eq!(stack.emulator().voice_calls()[0].routing.execute_count, 1);
}

/// Issue 14: the real binary, started with exactly the official template's environment
/// (`invoke_telephony_integration_api_arn`, `delay_before_routing_vm_sec`, `LOG_LEVEL`, plus the
/// local AWS settings), delivers the voicemail through InvokeTelephonyIntegrationApi; an invoke
/// answered with a `FunctionError` fails the invocation (Lambda retries it), and the retry finishes
/// without repeating what was done.
#[tokio::test]
async fn the_binary_started_with_the_official_environment_delivers_through_the_invoke_and_reports_a_function_error() {
    use local_stack::invoke_recorder::Answer;
    use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};
    use std::sync::atomic::{AtomicBool, Ordering};

    let stack = Stack::with_invoke_endpoint().await;
    let failing = std::sync::Arc::new(AtomicBool::new(true));
    let fail = failing.clone();
    let _in_process = stack
        .official_deps(move |payload| {
            let method = payload["Details"]["Parameters"]["methodName"].as_str().unwrap_or_default();
            (method == "sendMessage" && fail.load(Ordering::SeqCst))
                .then(|| Answer::error("Error", "Error sending message"))
        })
        .await;
    let mut env = local_stack::moto::aws_env(&stack.moto_endpoint);
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), stack.recorder().endpoint().to_string()));
    env.extend(official_env());
    let spec = FunctionSpec::new(stack.name.clone(), binary_path("voicemail-packaging"))
        .with_envs(env)
        .with_timeout(std::time::Duration::from_secs(60));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function
        .wait_ready(std::time::Duration::from_secs(10))
        .await
        .expect("ready: the official configuration is accepted");

    let failed = function.invoke(stack.event()).await.expect("invoked");
    let error = failed.result.expect_err("the FunctionError fails the invocation");
    assert!(error.error_message.contains("Error sending message"), "{error}");
    assert!(error.error_message.contains(&stack.contact_id), "{error}");

    failing.store(false, Ordering::SeqCst);
    let done = function.invoke(stack.event()).await.expect("invoked");
    let output = done.result.expect("the retry delivers");
    assert_eq!(output["status"], "DELIVERED", "{output}");
    assert_eq!(output["alreadyDone"], json!(["voiceCallUpdated"]), "{output}");
    let methods: Vec<String> = stack
        .recorder()
        .invokes()
        .iter()
        .map(|i| {
            assert_eq!(i.function, ITIA_ARN);
            i.payload["Details"]["Parameters"]["methodName"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        methods,
        ["updateVoiceCall", "sendMessage", "sendMessage", "executeOmniFlow", "updateVoiceCall"],
        "the retry repeats only the failed step"
    );
    let call = &stack.emulator().voice_calls()[0];
    assert_eq!((call.from.as_deref(), call.to.as_deref()), (Some(CALLER), Some(DIALED)));
    assert_eq!(call.messages.len(), 1);
    assert_eq!(call.routing.execute_count, 1);
    assert!(!call.is_active_call, "closed");
    function.shutdown().await.expect("shutdown");
}
