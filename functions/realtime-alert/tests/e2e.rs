//! End to end through the Lambda entry point: every sample SNS event against the Salesforce
//! emulator's REST side (OAuth JWT bearer, platform event publish) and moto (SSM), then several
//! records, malformed input, and injected 429/5xx answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

const PUBLISH_PATH: &str = "/services/data/v62.0/sobjects/RealtimeAlertEvent";

fn expected_fields(name: &str) -> Value {
    match name {
        "01-lambda-errors-alarm.json" => json!({
            "Name": "SCV Lambda - InvokeTelephonyIntegrationApiFunction Errors",
            "Description": "Errors >= 3 for 1 datapoints within 1 minute",
            "Source": "Cloudwatch Alarm from account 123456789012",
            "Severity": "Critical",
            "Payload": "Threshold Crossed: 1 datapoint [4.0 (21/11/26 09:20:00)] was greater than or equal to the threshold (3.0). Trigger condition: {\"MetricName\":\"Errors\",\"Namespace\":\"AWS/Lambda\",\"StatisticType\":\"Statistic\",\"Statistic\":\"SUM\",\"Unit\":null,\"Dimensions\":[{\"value\":\"ACME_CC-InvokeTelephonyIntegrationApiFunction\",\"name\":\"FunctionName\"}],\"Period\":60,\"EvaluationPeriods\":1,\"DatapointsToAlarm\":1,\"ComparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"Threshold\":3,\"TreatMissingData\":\"missing\",\"EvaluateLowSampleCountPercentile\":\"\"}",
            "EventDateTime": "2026-11-21T09:21:00.000Z"
        }),
        "02-concurrent-calls-ok.json" => json!({
            "Name": "SCV Connect - Concurrent Calls Percentage",
            "Description": "Concurrent calls above 80% of the instance quota",
            "Source": "Cloudwatch Alarm from account 123456789012",
            "Severity": "Informational",
            "Payload": "Threshold Crossed: 1 out of the last 10 datapoints [0.42 (21/11/26 10:05:00)] was not greater than or equal to the threshold (0.8) (minimum 10 datapoints for ALARM -> OK transition). Trigger condition: {\"MetricName\":\"ConcurrentCallsPercentage\",\"Namespace\":\"AWS/Connect\",\"StatisticType\":\"Statistic\",\"Statistic\":\"MAXIMUM\",\"Unit\":null,\"Dimensions\":[{\"value\":\"8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a\",\"name\":\"InstanceId\"},{\"value\":\"VoiceCalls\",\"name\":\"MetricGroup\"}],\"Period\":60,\"EvaluationPeriods\":10,\"ComparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"Threshold\":0.8,\"TreatMissingData\":\"missing\",\"EvaluateLowSampleCountPercentile\":\"\"}",
            "EventDateTime": "2026-11-21T10:06:12.337Z"
        }),
        "03-throttles-insufficient-data.json" => json!({
            "Name": "SCV Lambda - CTRDataSyncFunction Throttles",
            "Source": "Cloudwatch Alarm from account 123456789012",
            "Severity": "Warning",
            "Payload": "Insufficient Data: 1 datapoint was unknown. Trigger condition: {\"MetricName\":\"Throttles\",\"Namespace\":\"AWS/Lambda\",\"StatisticType\":\"Statistic\",\"Statistic\":\"SUM\",\"Unit\":null,\"Dimensions\":[{\"value\":\"ACME_CC-CTRDataSyncFunction\",\"name\":\"FunctionName\"}],\"Period\":60,\"EvaluationPeriods\":1,\"ComparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"Threshold\":1,\"TreatMissingData\":\"missing\",\"EvaluateLowSampleCountPercentile\":\"\"}",
            "EventDateTime": "2026-11-21T11:40:00.981Z"
        }),
        other => panic!("sample event {other} has no expectation in this test: add one"),
    }
}

#[tokio::test]
async fn every_sample_alarm_arrives_as_a_platform_event() {
    let stack = Stack::start().await;
    let names = event_names();
    assert_eq!(names.len(), 3, "{names:?}");
    for (i, name) in names.iter().enumerate() {
        let output = stack.invoke(event(name)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = expected_fields(name);
        let publishes = stack.emulator().requests_to("POST", PUBLISH_PATH);
        assert_eq!(publishes.len(), i + 1, "{name}: one publish per record");
        let request = publishes.last().expect("publish");
        assert_eq!(request.body, expected, "{name}: the exact fields sent");
        assert_eq!(request.status, 201, "{name}: {}", request.response);

        let alerts = stack.alerts();
        let stored = alerts.last().expect("stored");
        for (field, value) in expected.as_object().unwrap() {
            if field == "EventDateTime" {
                continue; // stored in Salesforce's own datetime format
            }
            assert_eq!(&stored[field], value, "{name}: stored {field}");
        }
        let id = request.response["id"].as_str().expect("the id Salesforce answered");
        assert!(id.starts_with("e00"), "{name}: {id}");
        assert_eq!(
            output,
            json!({"published": [{"alarm": expected["Name"], "severity": expected["Severity"], "id": id}]}),
            "{name}"
        );
    }
    assert_eq!(stack.alerts().len(), 3);
    assert_eq!(stack.emulator().issued_token_count(), 1, "one OAuth token for the whole run");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn every_record_is_published_and_a_bad_one_fails_the_invocation_by_name() {
    let stack = Stack::start().await;
    let mut two = event("01-lambda-errors-alarm.json");
    let second = event("02-concurrent-calls-ok.json")["Records"][0].clone();
    two["Records"].as_array_mut().unwrap().push(second);
    let output = stack.invoke(two.clone()).await.expect("both published");
    let published = output["published"].as_array().expect("list");
    assert_eq!(published.len(), 2);
    assert_eq!(published[1]["severity"], "Informational");
    assert_eq!(stack.alerts().len(), 2);

    // A record that is not an alarm notification, between two that are (new notifications: the
    // same SNS messages again would be skipped as already published, issue 13 item 2).
    let mut three = two.clone();
    three["Records"][0]["Sns"]["MessageId"] = json!("new-message-1");
    three["Records"][1]["Sns"]["MessageId"] = json!("new-message-2");
    let mut bad = three["Records"][0].clone();
    bad["Sns"]["MessageId"] = json!("bad-message-1");
    bad["Sns"]["Message"] = json!("Hello from the SNS console");
    three["Records"].as_array_mut().unwrap().insert(1, bad);
    let err = stack.invoke(three).await.expect_err("one record failed");
    assert_eq!(err.kind(), "InvalidEvent");
    assert_eq!(
        err.to_string(),
        "1 of 3 SNS records failed (the others were published): SNS record 1 (message bad-message-1) is not a CloudWatch alarm notification: Sns.Message is not a JSON object"
    );
    assert_eq!(stack.alerts().len(), 4, "the two good records were published");
}

#[tokio::test]
async fn input_that_is_not_an_alarm_notification_is_rejected_by_name() {
    let stack = Stack::start().await;
    let sample = event("01-lambda-errors-alarm.json");
    let mut missing_signature = sample.clone();
    missing_signature["Records"][0]["Sns"].as_object_mut().unwrap().remove("Signature");
    let cases = [
        (
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            "the event is not an SNS notification: an event from aws.events, not an SNS notification",
        ),
        (json!({"Records": []}), "the SNS event has no records"),
        (Value::Null, "the event is not an SNS notification"),
        // Decoding errors name the JSON path (issue 13 item 4, found by tests/local-stack/tests/mutations.rs).
        (json!({"Records": null}), "the event is not an SNS notification: Records: invalid type: null"),
        (
            with_alarm(sample.clone(), |a| {
                a.insert("Region".into(), json!(12345));
            }),
            "SNS record 0 (message 6a1e3c5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a) is not a CloudWatch alarm notification: Records[0].Sns.Message.Region: invalid type",
        ),
        (
            with_alarm(sample.clone(), |a| {
                a.remove("AlarmName");
            }),
            "SNS record 0 (message 6a1e3c5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a) is not a CloudWatch alarm notification: AlarmName is missing",
        ),
        (
            with_alarm(sample.clone(), |a| {
                a.insert("NewStateValue".into(), Value::Null);
            }),
            "SNS record 0 (message 6a1e3c5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a) is not a CloudWatch alarm notification: NewStateValue is missing",
        ),
        (
            with_alarm(sample.clone(), |a| {
                a.insert("AlarmName".into(), json!(42));
            }),
            "SNS record 0 (message 6a1e3c5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a) is not a CloudWatch alarm notification: Records[0].Sns.Message.AlarmName: invalid type",
        ),
        (
            missing_signature,
            "SNS record 0 (message 6a1e3c5b-7d9f-4b1d-8e3a-5c7e9b1d3f5a) is not a CloudWatch alarm notification: not an SNS record: Records[0].Sns: missing field `Signature`",
        ),
    ];
    for (payload, message) in cases {
        let err = stack.invoke(payload.clone()).await.expect_err("rejected");
        assert_eq!(err.kind(), "InvalidEvent", "{payload}");
        assert!(err.to_string().starts_with(message), "{payload}:\n{err}");
    }
    assert!(stack.alerts().is_empty(), "nothing was published");
    assert!(stack.emulator().requests_to("POST", PUBLISH_PATH).is_empty());
}

#[tokio::test]
async fn limits_are_retried_and_server_errors_fail_the_invocation() {
    let stack = Stack::start().await;
    // A limit answer is refused before any work: retried (issue 13 item 2).
    stack.emulator().inject(Fault::status(429, 1).with_retry_after(1).on("POST", "/sobjects/RealtimeAlertEvent"));
    stack.invoke(event("01-lambda-errors-alarm.json")).await.expect("published after the limit cleared");
    let statuses: Vec<u16> = stack.emulator().requests_to("POST", PUBLISH_PATH).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 201]);
    assert_eq!(stack.alerts().len(), 1);

    stack.emulator().inject(Fault::status(500, 20).on("POST", "/sobjects/RealtimeAlertEvent"));
    let err = stack.invoke(event("02-concurrent-calls-ok.json")).await.expect_err("SNS and Lambda retry it");
    assert_eq!(err.kind(), "SalesforceUnavailable");
    assert!(
        err.to_string().starts_with(
            "SNS record 0: publishing the alarm \"SCV Connect - Concurrent Calls Percentage\" as RealtimeAlertEvent failed"
        ),
        "{err}"
    );
    let attempts = stack.emulator().requests_to("POST", PUBLISH_PATH).len() - 2;
    assert_eq!(attempts, 1, "a publish answered 5xx may have been published: it is not sent again (issue 13 item 2)");
    assert_eq!(stack.alerts().len(), 1, "nothing more was published");
    stack.emulator().clear_faults();

    // A permanent rejection is not retried.
    stack.emulator().inject(Fault::status(400, 1).on("POST", "/sobjects/RealtimeAlertEvent"));
    let before = stack.emulator().requests_to("POST", PUBLISH_PATH).len();
    let err = stack.invoke(event("03-throttles-insufficient-data.json")).await.expect_err("400");
    assert_eq!(err.kind(), "SalesforceError");
    assert_eq!(stack.emulator().requests_to("POST", PUBLISH_PATH).len(), before + 1);
}

#[tokio::test]
async fn the_binary_runs_under_the_lambda_runtime_api() {
    use local_stack::runtime::FunctionProcess;

    let stack = Stack::start().await;
    let spec = stack.function_spec().with_env("LOG_LEVEL", "debug").with_timeout(Duration::from_secs(15));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function.wait_ready(Duration::from_secs(10)).await.expect("ready");

    let done = function.invoke(event("01-lambda-errors-alarm.json")).await.expect("invoked");
    let output = done.result.expect("published");
    assert_eq!(output["published"][0]["severity"], "Critical");
    assert_eq!(stack.alerts().len(), 1);

    let failed = function.invoke(json!({"source": "aws.events", "detail": {}})).await.expect("invoked");
    let error = failed.result.expect_err("not SNS");
    assert_eq!(error.error_type, "InvalidEvent");

    let logs = function.logs();
    assert!(
        logs.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|l| l["category"] == "RealTimeAlert"
            && l["message"].as_str().is_some_and(|m| m.starts_with("RealtimeAlertEvent published"))),
        "{logs:#?}"
    );
    assert_logs_clean(&logs, stack.keys());
    function.shutdown().await.expect("shutdown");
}

#[test]
fn sample_events_round_trip_through_the_types() {
    use aws_lambda_events::sns::SnsEvent;
    use realtime_alert::AlarmNotification;
    for name in event_names() {
        let raw = event(&name);
        let parsed: SnsEvent = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again: SnsEvent = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again, "{name}");
        let alarm: AlarmNotification = serde_json::from_str(&parsed.records[0].sns.message).unwrap();
        let alarm_again: AlarmNotification = serde_json::from_value(serde_json::to_value(&alarm).unwrap()).unwrap();
        assert_eq!(alarm, alarm_again, "{name}");
    }
}

/// Issue 14: exactly the official template's environment (`INVOKE_SALESFORCE_REST_API_ARN`,
/// `LOG_LEVEL`): the alert is published through InvokeSalesforceRestApi's `realtimeAlertEvent`.
#[tokio::test]
async fn with_the_official_environment_alerts_are_published_through_invoke_salesforce_rest_api() {
    let stack = Stack::official(|_| None).await;
    let name = "01-lambda-errors-alarm.json";
    let output = stack.invoke(event(name)).await.expect("published");
    let expected = expected_fields(name);
    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 1);
    assert_eq!(invokes[0].function, ISFRA_ARN);
    let mut parameters = expected.clone();
    parameters["methodName"] = json!("realtimeAlertEvent");
    assert_eq!(invokes[0].payload, json!({"Details": {"Parameters": parameters}}), "the official payload");
    let publishes = stack.emulator().requests_to("POST", PUBLISH_PATH);
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].body, expected, "the exact fields reached Salesforce");
    let id = publishes[0].response["id"].as_str().expect("id");
    assert_eq!(output["published"][0]["id"], id);
    assert_eq!(stack.alerts().len(), 1);
}

#[tokio::test]
async fn a_function_error_or_success_false_of_the_invoked_function_fails_the_invocation() {
    use local_stack::invoke_recorder::Answer;
    let stack = Stack::official(|_| Some(Answer::error("Error", "REQUIRED_FIELD_MISSING"))).await;
    let err = stack.invoke(event("01-lambda-errors-alarm.json")).await.expect_err("reported, not lost");
    assert!(err.to_string().contains("REQUIRED_FIELD_MISSING"), "{err}");
    assert_eq!(err.kind(), "SalesforceUnavailable", "retried by SNS and Lambda");

    let refused = Stack::official(|_| {
        Some(Answer::Ok(json!({"success": false, "errorMessage": "The requested resource does not exist"})))
    })
    .await;
    let err = refused.invoke(event("01-lambda-errors-alarm.json")).await.expect_err("success false is a failure");
    assert!(err.to_string().contains("The requested resource does not exist"), "{err}");
    assert!(refused.alerts().is_empty());
}

#[tokio::test]
async fn cold_start_names_what_is_missing_when_neither_wiring_is_complete() {
    let stack = Stack::start().await;
    let mut env = stack.env.clone();
    env.remove("SALESFORCE_AUTH_ENDPOINT");
    let lookup = |name: &str| env.get(name).cloned();
    let err = realtime_alert::Deps::new(&lookup, &stack.sdk).unwrap_err().to_string();
    assert!(err.contains("SALESFORCE_AUTH_ENDPOINT") && err.contains("INVOKE_SALESFORCE_REST_API_ARN"), "{err}");
}

/// Issue 13 item 2: the second record's publish fails; the redelivered event publishes only that
/// record (the first is marked by its SNS MessageId), and a third delivery publishes nothing.
#[tokio::test]
async fn a_redelivered_event_publishes_only_the_records_not_yet_published() {
    let stack = Stack::start().await;
    let mut two = event("01-lambda-errors-alarm.json");
    let second = event("02-concurrent-calls-ok.json")["Records"][0].clone();
    two["Records"].as_array_mut().unwrap().push(second);
    let ids: Vec<String> =
        (0..2).map(|i| two["Records"][i]["Sns"]["MessageId"].as_str().unwrap().to_string()).collect();
    assert_ne!(ids[0], ids[1]);
    stack.emulator().inject(Fault::status(503, 20).after(1).on("POST", "/sobjects/RealtimeAlertEvent"));
    let err = stack.invoke(two.clone()).await.expect_err("the second record fails");
    assert!(err.to_string().starts_with("1 of 2 SNS records failed"), "{err}");
    assert_eq!(stack.alerts().len(), 1);

    stack.emulator().clear_faults();
    let publishes = stack.emulator().requests_to("POST", PUBLISH_PATH).len();
    let output = stack.invoke(two.clone()).await.expect("the redelivery publishes the rest");
    assert_eq!(stack.emulator().requests_to("POST", PUBLISH_PATH).len(), publishes + 1, "one publish: record 2");
    let alerts = stack.alerts();
    assert_eq!(alerts.len(), 2, "each alarm once");
    assert_ne!(alerts[0]["Name"], alerts[1]["Name"]);
    let published = output["published"].as_array().unwrap();
    assert_eq!(published[0]["alreadyPublished"], true, "{output}");
    assert!(published[0]["id"].as_str().unwrap().starts_with("e00"), "the id of the earlier publish: {output}");
    assert!(published[1].get("alreadyPublished").is_none(), "{output}");

    // Markers per MessageId; a third delivery publishes nothing.
    for id in &ids {
        let key = format!("alert_progress/{id}");
        stack.s3.get_object().bucket(stack.bucket()).key(&key).send().await.expect("a marker per message");
    }
    stack.invoke(two).await.expect("nothing left");
    assert_eq!(stack.alerts().len(), 2);
    let lines = local_stack::stack::lines_with(stack.logs(), "was published by an earlier delivery");
    assert!(lines.len() >= 3, "{lines:?}");
}

/// Issue 14: the real binary, started with exactly the official template's environment
/// (`INVOKE_SALESFORCE_REST_API_ARN`, `LOG_LEVEL`, plus the local AWS settings), publishes an alert
/// through InvokeSalesforceRestApi; an invoke answered with a `FunctionError` fails the invocation
/// (reported to SNS and Lambda for a retry, not lost).
#[tokio::test]
async fn the_binary_started_with_the_official_environment_publishes_through_the_invoke_and_reports_a_function_error() {
    use local_stack::invoke_recorder::Answer;
    use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};

    const REFUSED: &str = "SCV Lambda CTRDataSyncFunction Errors (ACME_CC)";
    let stack = Stack::official(|payload| {
        (payload["Details"]["Parameters"]["Name"] == json!(REFUSED))
            .then(|| Answer::error("Error", "REQUIRED_FIELD_MISSING: Payload"))
    })
    .await;
    let mut env = local_stack::moto::aws_env(&stack.moto_endpoint);
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), stack.recorder().endpoint().to_string()));
    env.extend(
        [("INVOKE_SALESFORCE_REST_API_ARN", ISFRA_ARN), ("LOG_LEVEL", "info")]
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let spec = FunctionSpec::new(stack.name.clone(), binary_path("realtime-alert"))
        .with_envs(env)
        .with_timeout(Duration::from_secs(15));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function.wait_ready(Duration::from_secs(10)).await.expect("ready: the official configuration is accepted");

    let done = function.invoke(event("01-lambda-errors-alarm.json")).await.expect("invoked");
    let output = done.result.expect("published");
    assert_eq!(stack.alerts().len(), 1, "published through the invoked function");
    assert!(output["published"][0]["id"].is_string(), "{output}");

    let refused = with_alarm(event("01-lambda-errors-alarm.json"), |alarm| {
        alarm.insert("AlarmName".into(), json!(REFUSED));
    });
    let failed = function.invoke(refused).await.expect("invoked");
    let error = failed.result.expect_err("a FunctionError of the invoked function fails the invocation");
    assert_eq!(error.error_type, "SalesforceUnavailable", "{error}");
    assert!(error.error_message.contains("REQUIRED_FIELD_MISSING"), "{error}");
    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 2);
    assert!(
        invokes.iter().all(
            |i| i.function == ISFRA_ARN && i.payload["Details"]["Parameters"]["methodName"] == "realtimeAlertEvent"
        )
    );
    assert_eq!(stack.alerts().len(), 1, "the refused alert was not published");
    function.shutdown().await.expect("shutdown");
}
