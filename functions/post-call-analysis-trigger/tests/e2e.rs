//! End to end through the handler: the sample S3 events against the Salesforce emulator, moto (S3,
//! SSM) and the local Amazon Connect endpoint (DescribeContact), asserting the exact post-call
//! requests Salesforce received and what it stored; then batching, skipped lines, contacts never
//! connected to an agent, transfers, injected 429/5xx answers, AWS failures and malformed input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

const SENTIMENT: &str = "IntelligenceSignal__Sentiment";
const OVERALL: &str = "IntelligenceSignal__OverallSentimentScore";

/// What the fixture must become, computed independently of the function: the overall scores over
/// the agent-connected window, then one event per transcript line.
fn expected_events(file: &Value, base: i64, end: i64) -> Vec<Value> {
    let overall = &file["ConversationCharacteristics"]["Sentiment"]["OverallSentiment"];
    let mut events = vec![
        json!({"type": OVERALL, "value": overall["AGENT"].to_string(), "startTime": base, "endTime": end, "participant": "AGENT"}),
        json!({"type": OVERALL, "value": overall["CUSTOMER"].to_string(), "startTime": base, "endTime": end, "participant": "CUSTOMER"}),
    ];
    for line in file["Transcript"].as_array().expect("Transcript") {
        let value = match line["Sentiment"].as_str().expect("Sentiment") {
            "POSITIVE" => "1000",
            "NEGATIVE" => "-1000",
            "NEUTRAL" | "MIXED" => "0",
            other => panic!("fixture sentiment {other}"),
        };
        events.push(json!({
            "type": SENTIMENT, "value": value,
            "startTime": base + line["BeginOffsetMillis"].as_i64().unwrap(),
            "endTime": base + line["EndOffsetMillis"].as_i64().unwrap(),
            "participant": line["ParticipantId"]
        }));
    }
    events
}

#[tokio::test]
async fn the_sample_file_is_stored_as_post_call_events() {
    let stack = Stack::with_sample_call().await;
    let names = event_names();
    assert_eq!(names, vec!["01-analysis-file-created.json", "02-redacted-copy-created.json"]);

    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    let file = analysis_fixture();
    assert!(file["Transcript"].as_array().unwrap().len() >= 15, "a realistic fixture");
    let expected = expected_events(&file, ms("2026-11-21T09:15:48.210Z"), ms("2026-11-21T09:21:05.000Z"));
    assert_eq!(
        output,
        json!({
            "result": "Success", "contactId": CONTACT, "vendorCallKey": CONTACT, "events": expected.len(),
            "batches": 1, "skipped": 0, "timingFrom": "AgentInfo.ConnectedToAgentTimestamp"
        })
    );
    let posts = stack.posts();
    assert_eq!(posts.len(), 1, "{} events fit one request", expected.len());
    let post = &posts[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.path, format!("/telephony/v1/voiceCalls/{CONTACT}/postConversationEvents"));
    assert_eq!(post.body, json!({"service": "AmazonConnectContactLens", "events": expected}));
    assert_eq!(post.telephony_provider_name.as_deref(), Some("amazon-connect"));
    assert_eq!(post.status, 202, "{}", post.response);
    let claims = post.jwt_claims.as_ref().expect("claims");
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(ORG_ID), Some(CALL_CENTER)));
    assert_eq!(claims["aud"], "https://scrt.salesforce.com");

    // What Salesforce holds, and what Connect was asked.
    let call = stack.emulator().voice_call(CONTACT).expect("call");
    assert_eq!(call.post_call_events.len(), expected.len());
    assert_eq!(call.post_call_events[2]["event"]["value"], "1000");
    let described = stack.connect().requests();
    assert_eq!(described.len(), 1);
    assert_eq!((described[0].instance_id.as_str(), described[0].contact_id.as_str()), (INSTANCE, CONTACT));

    // The redacted copy is skipped without reading anything.
    let output = stack.invoke(stack.event("02-redacted-copy-created.json")).await.expect("skipped");
    assert_eq!(output["result"], "Skipped");
    assert_eq!(output["reason"], "a redacted copy");
    assert_eq!(stack.posts().len(), 1);
    assert_eq!(stack.connect().requests().len(), 1);

    let lines = lines_with(stack.logs(), &format!("post-call event(s) for contact {CONTACT}"));
    let line = lines.first().expect("an INFO line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["category"], "postCallAnalysisTrigger");
    assert_eq!(line["context"]["contactId"], CONTACT);
    assert!(stack.logs().lines().iter().all(|l| !l.contains("overdraft")), "no transcript text in the logs");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn long_calls_are_sent_in_sorted_batches_of_25() {
    let stack = Stack::start().await;
    stack.voice_call(CONTACT).await;
    stack.put_contact(sample_contact());
    let mut file = analysis_fixture();
    let sentiments = ["POSITIVE", "NEUTRAL", "NEGATIVE", "MIXED"];
    let mut lines: Vec<Value> = (0..60)
        .map(|i| {
            json!({"Id": format!("line-{i}"), "ParticipantId": if i % 2 == 0 { "AGENT" } else { "CUSTOMER" },
                   "BeginOffsetMillis": 1000 + i * 4000, "EndOffsetMillis": 1000 + i * 4000 + 3000,
                   "Sentiment": sentiments[i as usize % 4], "Content": "…"})
        })
        .collect();
    lines.reverse(); // out of order in the file: the API wants them sorted
    file["Transcript"] = json!(lines);
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&file).unwrap()).await;

    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    assert_eq!((output["events"].as_u64(), output["batches"].as_u64()), (Some(62), Some(3)));
    let posts = stack.posts();
    let sizes: Vec<usize> = posts.iter().map(|p| p.body["events"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![25, 25, 12]);
    let starts: Vec<i64> = posts
        .iter()
        .flat_map(|p| p.body["events"].as_array().unwrap().clone())
        .map(|e| e["startTime"].as_i64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "ascending across batches: {starts:?}");
    assert!(posts.iter().all(|p| p.status == 202));
    assert_eq!(stack.emulator().voice_call(CONTACT).unwrap().post_call_events.len(), 62);
}

#[tokio::test]
async fn a_line_with_a_missing_or_unknown_sentiment_is_skipped_and_counted() {
    let stack = Stack::start().await;
    stack.voice_call(CONTACT).await;
    stack.put_contact(sample_contact());
    let mut file = analysis_fixture();
    file["Transcript"][3].as_object_mut().unwrap().remove("Sentiment");
    file["Transcript"][5]["Sentiment"] = json!("FRUSTRATED");
    file["Transcript"][7]["ParticipantId"] = json!("SUPERVISOR");
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&file).unwrap()).await;

    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("not fatal");
    let lines = file["Transcript"].as_array().unwrap().len();
    assert_eq!(output["skipped"], 3);
    assert_eq!(output["events"], json!(2 + lines - 3));
    let sent = stack.posts()[0].body["events"].as_array().unwrap().len();
    assert_eq!(sent, 2 + lines - 3);
    let warnings = lines_with(stack.logs(), "transcript line(s) or score(s) of contact");
    let warning = warnings.iter().find(|l| l["contactId"] == CONTACT).expect("a WARN line for this contact");
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["context"]["skipped"], 3);
    assert!(warning["message"].as_str().unwrap().contains("Transcript[3]"), "{warning}");
}

#[tokio::test]
async fn a_contact_never_connected_to_an_agent_uses_its_own_timestamps() {
    let stack = Stack::start().await;
    stack.voice_call(CONTACT).await;
    let mut contact = sample_contact();
    contact.as_object_mut().unwrap().remove("AgentInfo");
    stack.put_contact(contact);
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).unwrap()).await;

    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("no crash");
    assert_eq!(output["timingFrom"], "ConnectedToSystemTimestamp");
    let expected = expected_events(&analysis_fixture(), ms("2026-11-21T09:15:03.020Z"), ms("2026-11-21T09:21:05.000Z"));
    assert_eq!(stack.posts()[0].body["events"], json!(expected));
}

#[tokio::test]
async fn a_transferred_contact_is_stored_on_the_first_contact_of_the_conversation() {
    let stack = Stack::start().await;
    let first = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    stack.voice_call(first).await;
    stack.voice_call(CONTACT).await;
    let mut contact = sample_contact();
    contact["InitialContactId"] = json!(first);
    contact["PreviousContactId"] = json!(first);
    contact["InitiationMethod"] = json!("TRANSFER");
    stack.put_contact(contact);
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).unwrap()).await;

    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    assert_eq!((output["contactId"].as_str(), output["vendorCallKey"].as_str()), (Some(CONTACT), Some(first)));
    assert_eq!(stack.posts()[0].path, format!("/telephony/v1/voiceCalls/{first}/postConversationEvents"));
    assert!(!stack.emulator().voice_call(first).unwrap().post_call_events.is_empty());
    assert!(stack.emulator().voice_call(CONTACT).unwrap().post_call_events.is_empty());
}

#[tokio::test]
async fn limits_are_retried_and_lasting_failures_fail_the_invocation() {
    // Issue 13 item 2: the post carries no id, so only a limit (429, refused before any work) is
    // retried in the invocation; a 502 may come after the events were stored and ends it (it was
    // retried here before). The redelivery posts the batch the progress record does not hold.
    let stack = Stack::with_sample_call().await;
    stack.emulator().inject(Fault::status(429, 1).with_retry_after(1).on("POST", "/postConversationEvents"));
    stack.emulator().inject(Fault::status(502, 1).on("POST", "/postConversationEvents"));
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("502 is not retried");
    assert_eq!(err.kind(), "SalesforceUnavailable", "Lambda's retry finishes it");
    assert!(err.to_string().contains("Salesforce answered HTTP 502 after 2 attempt(s)"), "{err}");
    stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored by the redelivery");
    let statuses: Vec<u16> = stack.posts().iter().map(|p| p.status).collect();
    assert_eq!(statuses, vec![429, 502, 202]);

    // A redelivery of the same file posts nothing (its batch is in the progress record, issue 13
    // item 2); without the record, the file is posted again.
    stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("already stored");
    assert_eq!(stack.posts().len(), 3);
    let progress = format!("post_call_progress/{ANALYSIS_KEY}");
    stack.s3.delete_object().bucket(stack.bucket()).key(progress).send().await.expect("record deleted");
    stack.emulator().inject(Fault::status(503, 50).on("POST", "/postConversationEvents"));
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("the official says Success");
    assert_eq!(err.kind(), "SalesforceUnavailable");
    let total = 2 + analysis_fixture()["Transcript"].as_array().unwrap().len();
    assert!(
        err.to_string().starts_with(&format!(
            "contact {CONTACT}: post-call events batch 1 of 1 failed after 0 of {total} events were stored: storePostConversationEvents for contact {CONTACT}: Salesforce answered HTTP 503"
        )),
        "{err}"
    );
    let attempts = stack.posts().len() - 3;
    assert_eq!(attempts, 1, "a 5xx on an unkeyed post is not re-sent");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "SalesforceUnavailable");
}

/// A 502 after Salesforce stored the batch: the invocation sends it once (the client used to
/// re-send it at once, storing it twice) and fails for Lambda's retry.
#[tokio::test]
async fn a_server_error_after_storing_is_not_resent_in_the_invocation() {
    let stack = Stack::with_sample_call().await;
    stack.emulator().inject(Fault::applied_then_status(502, 1).on("POST", "/postConversationEvents"));
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("502");
    assert!(err.to_string().contains("after 1 attempt(s)"), "{err}");
    assert_eq!(stack.posts().len(), 1);
    let total = 2 + analysis_fixture()["Transcript"].as_array().unwrap().len();
    assert_eq!(stored_once(&stack), total, "stored once, not twice");
}

#[tokio::test]
async fn a_contact_without_a_voice_call_is_done_not_retried() {
    let stack = Stack::start().await;
    stack.put_contact(sample_contact());
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).unwrap()).await;
    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("404 is not a failure");
    assert_eq!(output["result"], "NoVoiceCall");
    assert_eq!(stack.posts().len(), 1);
    assert_eq!(stack.posts()[0].status, 404);
    let warnings = lines_with(stack.logs(), "Salesforce has no conversation for contact");
    assert!(warnings.iter().any(|l| l["level"] == "WARN" && l["context"]["contactId"] == CONTACT));
}

#[tokio::test]
async fn connect_failures_are_named_and_throttling_is_retried() {
    let stack = Stack::start().await;
    stack.voice_call(CONTACT).await;
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).unwrap()).await;

    // Unknown contact: permanent.
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("unknown contact");
    assert_eq!(err.kind(), "AwsError");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("DescribeContact for contact {CONTACT} (instance {INSTANCE}) failed")),
        "{message}"
    );
    assert!(message.contains("ResourceNotFoundException"), "{message}");
    assert!(stack.posts().is_empty());

    // Throttled once: the SDK's own retry gets through.
    stack.put_contact(sample_contact());
    stack.connect().fail_next(1, 429, "ThrottlingException");
    stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    let statuses: Vec<u16> = stack.connect().requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![404, 429, 200]);

    // Failing for longer than the SDK retries: retryable for Lambda.
    stack.connect().fail_next(10, 500, "InternalServiceException");
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("Connect down");
    assert_eq!(err.kind(), "AwsUnavailable", "{err}");
}

#[tokio::test]
async fn files_that_cannot_be_read_fail_with_a_clear_error() {
    let stack = Stack::start().await;
    stack.put_contact(sample_contact());
    let key = |name: &str| format!("Analysis/Voice/2026/11/21/{CONTACT}_{name}.json");

    let err = stack.invoke(stack.event_for_key(&key("missing"))).await.expect_err("no object");
    assert_eq!(err.kind(), "AwsError", "{err}");
    assert!(
        err.to_string().starts_with(&format!("reading s3://{}/{} failed", stack.bucket(), key("missing"))),
        "{err}"
    );

    stack.put_object(&key("garbage"), b"<html>not json</html>").await;
    let err = stack.invoke(stack.event_for_key(&key("garbage"))).await.expect_err("not JSON");
    assert_eq!(err.kind(), "InvalidEvent");
    assert!(err.to_string().contains("is not a Contact Lens analysis file: not JSON"), "{err}");

    let mut no_instance = analysis_fixture();
    no_instance["CustomerMetadata"].as_object_mut().unwrap().remove("InstanceId");
    stack.put_object(&key("no-instance"), &serde_json::to_vec(&no_instance).unwrap()).await;
    let err = stack.invoke(stack.event_for_key(&key("no-instance"))).await.expect_err("no instance");
    assert_eq!(err.kind(), "MissingField");
    assert!(err.to_string().ends_with("CustomerMetadata.InstanceId is missing"), "{err}");

    let cases = [
        (json!({"Records": [{"s3": {}}]}), "the event is not an EventBridge S3 Object Created event"),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": "b"}}}),
            "the event is not an EventBridge S3 Object Created event",
        ),
    ];
    for (payload, message) in cases {
        let err = stack.invoke(payload.clone()).await.expect_err("malformed");
        assert_eq!(err.kind(), "InvalidEvent");
        assert!(err.to_string().starts_with(message), "{payload}: {err}");
    }
    // Keys that are not analysis files are skipped, not errors.
    for key in ["Analysis/Voice/2026/11/21/readme.txt", "CallRecordings/2026/11/21/x.wav"] {
        let output = stack.invoke(stack.event_for_key(key)).await.expect("skipped");
        assert_eq!(output["result"], "Skipped", "{key}");
    }
    assert!(stack.posts().is_empty());
    assert!(stack.connect().requests().is_empty());
}

#[tokio::test]
async fn the_binary_reaches_connect_through_its_endpoint_variable() {
    use local_stack::runtime::FunctionProcess;

    let stack = Stack::with_sample_call().await;
    let spec = stack.function_spec().with_env("LOG_LEVEL", "debug").with_timeout(Duration::from_secs(30));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function.wait_ready(Duration::from_secs(10)).await.expect("ready");

    let done = function.invoke(stack.event("01-analysis-file-created.json")).await.expect("invoked");
    let output = done.result.expect("success");
    assert_eq!(output["result"], "Success");
    assert_eq!(stack.connect().requests().len(), 1, "DescribeContact went to AWS_ENDPOINT_URL_CONNECT");
    assert_eq!(stack.posts().len(), 1);

    let failed = function.invoke(json!({"hello": "world"})).await.expect("invoked");
    assert_eq!(failed.result.expect_err("not an event").error_type, "InvalidEvent");
    let logs = function.logs();
    let line: Value = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("stored ")))
        .unwrap_or_else(|| panic!("{logs:#?}"));
    assert_eq!(line["contactId"], CONTACT);
    assert_logs_clean(&logs, stack.keys());
    function.shutdown().await.expect("shutdown");
}

#[test]
fn sample_events_and_fixture_round_trip_through_the_types() {
    use post_call_analysis_trigger::{AnalysisFile, ObjectCreatedEvent};
    use serde::Deserialize;
    for name in event_names() {
        let raw = event(&name);
        let parsed = ObjectCreatedEvent::deserialize(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again: ObjectCreatedEvent = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again, "{name}");
        assert_eq!(serde_json::to_value(&parsed).unwrap()["detail"], raw["detail"], "{name}");
    }
    let file = analysis_fixture();
    let parsed = AnalysisFile::deserialize(&file).expect("fixture");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), file, "nothing lost on the way through the type");
}

/// Issue 13 item 1: a hostile CustomerMetadata.ContactId (the file) or InitialContactId
/// (DescribeContact) fails naming the field and the value; no post-call request reaches Salesforce.
#[tokio::test]
async fn hostile_contact_ids_reach_no_endpoint() {
    let stack = Stack::start().await;
    stack.voice_call(CONTACT).await;
    stack.put_contact(sample_contact());
    for id in scv_shared::ids::hostile_ids() {
        let mut file = analysis_fixture();
        file["CustomerMetadata"]["ContactId"] = json!(id);
        stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&file).unwrap()).await;
        let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err(&format!("{id:?}"));
        let text = err.to_string();
        if id.trim().is_empty() {
            assert_eq!(err.kind(), "MissingField", "{id:?}: {text}");
        } else {
            assert_eq!(err.kind(), "InvalidEvent", "{id:?}: {text}");
            assert!(text.contains("CustomerMetadata.ContactId"), "{text}");
            assert!(text.len() < 600, "the message clips the value: {text}");
        }
    }
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).unwrap()).await;
    for id in scv_shared::ids::hostile_ids().into_iter().filter(|id| !id.trim().is_empty()) {
        let mut contact = sample_contact();
        contact["InitialContactId"] = json!(id);
        stack.put_contact(contact);
        let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err(&format!("{id:?}"));
        assert!(err.to_string().contains("InitialContactId"), "{err}");
    }
    assert!(stack.posts().is_empty(), "no post-call request may reach Salesforce");
    let other: Vec<String> = stack
        .emulator()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|p| p != "POST /telephony/v1/voiceCalls")
        .collect();
    assert!(other.is_empty(), "{other:?}");
}

/// A hostile bucket name in the event (a path segment of the S3 request with path-style addressing)
/// fails naming the field before any call (found by tests/local-stack/tests/mutations.rs).
#[tokio::test]
async fn hostile_bucket_names_reach_no_endpoint() {
    let stack = Stack::with_sample_call().await;
    // `a.b` is a hostile id but a valid bucket name.
    for name in scv_shared::ids::hostile_ids().into_iter().filter(|n| !n.is_empty() && n != "a.b") {
        let mut event = stack.event("01-analysis-file-created.json");
        event["detail"]["bucket"]["name"] = json!(name);
        let err = stack.invoke(event).await.expect_err(&format!("{name:?}"));
        assert_eq!(err.kind(), "InvalidEvent", "{name:?}: {err}");
        assert!(err.to_string().contains("detail.bucket.name"), "{err}");
    }
    assert!(stack.connect().requests().is_empty(), "nothing reached DescribeContact");
    assert!(stack.posts().is_empty(), "no post-call request reached Salesforce");
}

/// Issue 13 item 3: the S3 read and DescribeContact take the invocation's remaining time; with S3 (then
/// Connect) hanging, the invocation fails by its own deadline saying so, not after the SDK's timeouts.
#[tokio::test]
async fn hanging_s3_and_connect_end_at_the_invocation_deadline() {
    let stack = Stack::with_sample_call().await;
    let hanging = local_stack::faults::FaultEndpoint::hanging().await.expect("fault endpoint");
    let cfg = scv_shared::config::ScrtConfig::from_env(&stack.env()).expect("configuration");
    let hanging_sdk = stack.sdk_for(hanging.endpoint()).await;
    let connect = |endpoint: &str| {
        aws_sdk_connect::Client::from_conf(
            aws_sdk_connect::config::Builder::from(&stack.sdk).endpoint_url(endpoint).build(),
        )
    };
    let run = |deps: post_call_analysis_trigger::Deps| {
        let event = stack.event("01-analysis-file-created.json");
        async move {
            let context = local_stack::stack::context(Duration::from_millis(1500));
            let answer = post_call_analysis_trigger::handler(lambda_runtime::LambdaEvent::new(event, context), &deps);
            tokio::time::timeout(Duration::from_secs(20), answer)
                .await
                .expect("an answer, by the invocation's deadline")
        }
    };
    let ssm = || scv_shared::keys::SsmClient::new(&stack.sdk);

    let s3_hangs = post_call_analysis_trigger::Deps::new(
        &cfg,
        ssm(),
        scv_shared::aws::s3_client(&hanging_sdk),
        connect(stack.connect().endpoint()),
        &stack.env(),
    );
    let err = run(s3_hangs).await.expect_err("S3 never answers");
    assert_eq!(err.kind(), "AwsUnavailable", "{err}");
    assert!(err.to_string().contains("no answer within the invocation's remaining time"), "{err}");

    let connect_hangs =
        post_call_analysis_trigger::Deps::new(&cfg, ssm(), stack.s3.clone(), connect(hanging.endpoint()), &stack.env());
    let err = run(connect_hangs).await.expect_err("Connect never answers");
    assert_eq!(err.kind(), "AwsUnavailable", "{err}");
    assert!(err.to_string().starts_with(&format!("DescribeContact for contact {CONTACT}")), "{err}");
    assert!(err.to_string().contains("no answer within the invocation's remaining time"), "{err}");
    assert!(stack.posts().is_empty(), "nothing was stored");
}

/// A 62-event file (60 lines and the two overall scores): three batches of 25, 25 and 12.
async fn long_call(stack: &Stack) {
    stack.voice_call(CONTACT).await;
    stack.put_contact(sample_contact());
    let mut file = analysis_fixture();
    let lines: Vec<Value> = (0..60)
        .map(|i| {
            json!({"Id": format!("line-{i}"), "ParticipantId": if i % 2 == 0 { "AGENT" } else { "CUSTOMER" },
                   "BeginOffsetMillis": 1000 + i * 4000, "EndOffsetMillis": 1000 + i * 4000 + 3000,
                   "Sentiment": "POSITIVE", "Content": "…"})
        })
        .collect();
    file["Transcript"] = json!(lines);
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&file).unwrap()).await;
}

/// Every stored event of the contact as (type, participant, startTime), asserting none is there twice.
fn stored_once(stack: &Stack) -> usize {
    let events = stack.emulator().voice_call(CONTACT).unwrap().post_call_events;
    let mut seen: Vec<String> = events
        .iter()
        .map(|e| format!("{} {} {}", e["event"]["type"], e["event"]["participant"], e["event"]["startTime"]))
        .collect();
    let all = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), all, "an event is stored twice");
    all
}

/// Issue 13 item 2: batch 2 of 3 fails for longer than the retries; the redelivered event posts only
/// batches 2 and 3 (batch 1 is in the progress record), and a third delivery posts nothing.
#[tokio::test]
async fn a_redelivery_posts_only_the_batches_not_yet_acknowledged() {
    let stack = Stack::start().await;
    long_call(&stack).await;
    stack.emulator().inject(Fault::status(503, 50).after(1).on("POST", "/postConversationEvents"));
    let err = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect_err("batch 2 fails");
    assert!(err.to_string().contains("batch 2 of 3 failed after 25 of 62 events were stored"), "{err}");
    assert_eq!(err.kind(), "SalesforceUnavailable");
    assert_eq!(stored_once(&stack), 25);
    let first_run = stack.posts().len();

    stack.emulator().clear_faults();
    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("the rest is stored");
    assert_eq!((output["result"].as_str(), output["events"].as_u64()), (Some("Success"), Some(62)));
    let redelivery: Vec<usize> =
        stack.posts()[first_run..].iter().map(|p| p.body["events"].as_array().unwrap().len()).collect();
    assert_eq!(redelivery, vec![25, 12], "only batches 2 and 3 are posted again");
    assert_eq!(stored_once(&stack), 62);

    // The record names every batch; a third delivery posts nothing.
    let key = format!("post_call_progress/{ANALYSIS_KEY}");
    let record = stack.s3.get_object().bucket(stack.bucket()).key(&key).send().await.expect("the progress record");
    let record: Value = serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(record["analysisKey"], ANALYSIS_KEY);
    assert_eq!(record["vendorCallKey"], CONTACT);
    assert_eq!(record["acknowledged"].as_object().unwrap().len(), 3, "{record}");
    let posts = stack.posts().len();
    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("nothing left");
    assert_eq!(output["result"], "Success");
    assert_eq!(stack.posts().len(), posts, "a third delivery posts nothing");
    assert_eq!(stored_once(&stack), 62);
    let lines = lines_with(stack.logs(), "was stored by an earlier delivery");
    assert!(lines.iter().all(|l| l["context"]["contactId"] == CONTACT) && lines.len() >= 4, "{lines:?}");
}

/// A changed analysis file (Contact Lens rewrote it) is not hidden by the record of the old one:
/// only batches exactly as acknowledged are skipped.
#[tokio::test]
async fn a_rewritten_file_posts_the_batches_that_changed() {
    let stack = Stack::start().await;
    long_call(&stack).await;
    stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    assert_eq!(stack.posts().len(), 3);
    let mut file: Value = analysis_fixture();
    file["Transcript"] = json!([{"Id": "x", "ParticipantId": "AGENT", "BeginOffsetMillis": 10, "EndOffsetMillis": 20,
                                  "Sentiment": "NEGATIVE", "Content": "…"}]);
    stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&file).unwrap()).await;
    let output = stack.invoke(stack.event("01-analysis-file-created.json")).await.expect("stored");
    assert_eq!(output["events"], 3);
    assert_eq!(stack.posts().len(), 4, "the new content is posted");
}
