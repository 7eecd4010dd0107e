//! End to end: the trigger's handler on the sample flow events, its Lambda client pointed at the
//! Invoke recorder; the asynchronous invocation of the transcriber is checked field by field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use kvs_consumer_trigger::{TriggerError, handle};
use scv_shared::error::ErrorKind;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};
use support::*;

const CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/acme-connect-contact-6f1b7c1e/1795252400000";
const INSTANCE: &str = "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a";

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(7))
}

/// The one invocation the recorder saw: Event type, the transcriber's ARN; its payload.
fn the_invocation(stack: &Stack) -> Value {
    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 1, "exactly one invocation: {invokes:#?}");
    assert_eq!(invokes[0].invocation_type, "Event", "asynchronous");
    assert_eq!(invokes[0].function, stack.env["INVOKE_KVS_TRANSCRIBER_ARN"]);
    assert!(invokes[0].function.ends_with(":function:ACME_CC-kvsTranscriber:active"), "{}", invokes[0].function);
    invokes[0].payload.clone()
}

fn common(engine: &str, from_customer: bool, to_customer: bool) -> Value {
    json!({
        "streamARN": STREAM,
        "startFragmentNum": "91343852333181432392682063124252754210132085250",
        "audioStartTimestamp": "1795252503481",
        "customerPhoneNumber": "+15555550123",
        "voiceCallId": CONTACT,
        "languageCode": "en-US",
        "streamAudioFromCustomer": from_customer,
        "streamAudioToCustomer": to_customer,
        "instanceARN": INSTANCE,
        "engine": engine,
    })
}

#[tokio::test]
async fn the_default_flow_invokes_the_transcriber_with_the_official_payload() {
    let stack = Stack::start().await;
    let answer = handle(stack.event("01-default.json"), soon(), &stack.deps).await.expect("handled");
    assert_eq!(answer, json!({"lambdaResult": "Success"}));
    // Field by field, and nothing else (no vocabulary field when the flow sets none).
    assert_eq!(the_invocation(&stack), common("standard", true, true));
    // (The capture holds the lines of every test of this process.)
    let lines = local_stack::stack::lines_with(stack.logs(), "handed to kvsTranscriber");
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["contactId"] == CONTACT && l["level"] == "INFO"), "{lines:?}");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn vocabulary_and_filter_parameters_are_passed_on() {
    let stack = Stack::start().await;
    handle(stack.event("02-vocabulary.json"), soon(), &stack.deps).await.expect("handled");
    let mut expected = common("standard", true, true);
    expected["vocabularyName"] = json!("acme-products");
    expected["vocabularyFilterName"] = json!("acme-profanity");
    expected["vocabularyFilterMethod"] = json!("mask");
    assert_eq!(the_invocation(&stack), expected);
}

#[tokio::test]
async fn a_medical_flow_passes_engine_and_specialty_and_a_disabled_track() {
    let stack = Stack::start().await;
    handle(stack.event("03-medical.json"), soon(), &stack.deps).await.expect("handled");
    let mut expected = common("medical", true, false);
    expected["specialty"] = json!("ONCOLOGY");
    assert_eq!(the_invocation(&stack), expected);
}

#[tokio::test]
async fn settings_are_normalised_the_way_the_transcriber_reads_them() {
    let stack = Stack::start().await;
    let event = event_with("02-vocabulary.json", |e| {
        e["Details"]["Parameters"]["vocabularyFilterMethod"] = json!("REMOVE");
        e["Details"]["Parameters"]["engine"] = json!("Standard");
        e["Details"]["ContactData"]["Attributes"]["languageCode"] = json!("es-US");
        // Only the string "false" turns a track off (a boolean false is not the string).
        e["Details"]["ContactData"]["Attributes"]["streamAudioFromCustomer"] = json!(false);
        e["Details"]["ContactData"]["Attributes"]["streamAudioToCustomer"] = json!("false");
    });
    handle(event, soon(), &stack.deps).await.expect("handled");
    let payload = the_invocation(&stack);
    assert_eq!(payload["vocabularyFilterMethod"], "remove");
    assert_eq!(payload["engine"], "standard");
    assert_eq!(payload["languageCode"], "es-US");
    assert_eq!(payload["streamAudioFromCustomer"], true);
    assert_eq!(payload["streamAudioToCustomer"], false);
}

#[tokio::test]
async fn invalid_settings_and_a_missing_stream_fail_naming_the_value_and_the_contact() {
    let stack = Stack::start().await;
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, ErrorKind, &str)> = vec![
        (
            "unknown language",
            |e| e["Details"]["ContactData"]["Attributes"]["languageCode"] = json!("xx-XX"),
            ErrorKind::InvalidEvent,
            "languageCode \"xx-XX\" is not a language code of Amazon Transcribe standard streaming",
        ),
        (
            "medical in French",
            |e| {
                e["Details"]["Parameters"]["engine"] = json!("medical");
                e["Details"]["ContactData"]["Attributes"]["languageCode"] = json!("fr-FR");
            },
            ErrorKind::InvalidEvent,
            "languageCode \"fr-FR\" is not a language code of Amazon Transcribe medical streaming",
        ),
        (
            "unknown filter method",
            |e| e["Details"]["Parameters"]["vocabularyFilterMethod"] = json!("blur"),
            ErrorKind::InvalidEvent,
            "vocabularyFilterMethod \"blur\" is not one of mask, remove, tag",
        ),
        (
            "unknown specialty",
            |e| e["Details"]["Parameters"]["specialty"] = json!("DENTISTRY"),
            ErrorKind::InvalidEvent,
            "specialty \"DENTISTRY\" is not a Transcribe Medical specialty",
        ),
        (
            "unknown engine",
            |e| e["Details"]["Parameters"]["engine"] = json!("turbo"),
            ErrorKind::InvalidEvent,
            "engine \"turbo\" is not standard or medical",
        ),
        (
            "no audio stream",
            |e| e["Details"]["ContactData"]["MediaStreams"]["Customer"]["Audio"] = Value::Null,
            ErrorKind::MissingField,
            "Details.ContactData.MediaStreams.Customer.Audio.StreamARN is missing (contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21): start media streaming in the flow before this block",
        ),
        (
            "no start fragment",
            |e| {
                e["Details"]["ContactData"]["MediaStreams"]["Customer"]["Audio"]
                    .as_object_mut()
                    .unwrap()
                    .remove("StartFragmentNumber");
            },
            ErrorKind::MissingField,
            "Details.ContactData.MediaStreams.Customer.Audio.StartFragmentNumber is missing",
        ),
        (
            "a start timestamp that is no time",
            |e| e["Details"]["ContactData"]["MediaStreams"]["Customer"]["Audio"]["StartTimestamp"] = json!("soon"),
            ErrorKind::InvalidEvent,
            "StartTimestamp \"soon\" is not epoch milliseconds",
        ),
        (
            "audio of the wrong type",
            |e| e["Details"]["ContactData"]["MediaStreams"]["Customer"] = json!("x"),
            ErrorKind::InvalidEvent,
            "Details.ContactData.MediaStreams.Customer is a string, expected an object",
        ),
    ];
    for (what, edit, kind, needle) in cases {
        let event = event_with("02-vocabulary.json", edit);
        let err = handle(event, soon(), &stack.deps).await.expect_err(what);
        let message = err.to_string();
        assert_eq!(err.kind(), kind, "{what}: {message}");
        assert!(message.contains(needle), "{what}: {message}");
        assert!(message.contains(CONTACT), "{what}: names the contact: {message}");
    }
    assert!(stack.recorder().invokes().is_empty(), "nothing invoked for a refused event");
}

#[tokio::test]
async fn a_transient_invoke_failure_is_retried_and_a_lasting_one_fails_naming_the_contact() {
    let stack = Stack::start().await;
    stack.recorder().fail_next(2);
    let answer = handle(stack.event("01-default.json"), soon(), &stack.deps).await.expect("third attempt");
    assert_eq!(answer["lambdaResult"], "Success");
    assert_eq!(stack.recorder().invokes().len(), 1, "invoked once, after two refusals");

    stack.recorder().fail_next(3);
    let err = handle(stack.event("01-default.json"), soon(), &stack.deps).await.expect_err("three refusals");
    assert!(matches!(err, TriggerError::Invoke { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::AwsUnavailable);
    let message = err.to_string();
    assert!(message.contains(CONTACT) && message.contains("after 3 attempt(s)"), "{message}");
    assert_eq!(stack.recorder().invokes().len(), 1, "no further invocation recorded");
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "AwsUnavailable");
    stack.assert_logs_clean();
}
