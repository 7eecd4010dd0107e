//! End to end: the consumer's handler in process, its Lambda client pointed at the REAL processor
//! binary behind a local Lambda runtime; what arrives on the Salesforce emulator is checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use contact_lens_consumer::handle;
use local_stack::invoke_recorder::InvokeRecorder;
use serde_json::{Value, json};
use support::*;

fn soon() -> scv_shared::retry::Deadline {
    scv_shared::retry::Deadline::after(std::time::Duration::from_secs(60))
}

fn failures(response: &scv_shared::kinesis::KinesisEventResponse) -> Vec<String> {
    serde_json::to_value(response).unwrap()["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_forty_record_batch_across_seven_contacts_arrives_in_full_and_in_order() {
    let stack = Stack::start().await;
    for n in 1..=7 {
        stack.create_call(&contact(n)).await;
    }
    let batch = event("02-forty-records-seven-contacts.json");
    assert_eq!(batch["Records"].as_array().unwrap().len(), 40);
    let deps = stack.consumer(None).await;
    let response = handle(batch.clone(), soon(), &deps).await.expect("handled");
    assert!(failures(&response).is_empty());
    let expected: Vec<(String, Vec<String>)> =
        (1..=7).map(|n| (contact(n), utterance_ids(&batch, &contact(n)))).collect();
    assert_eq!(expected.iter().map(|(_, ids)| ids.len()).sum::<usize>(), 33, "40 records less 7 STARTED");
    stack
        .wait_for("every utterance on its VoiceCall", |s| {
            expected.iter().all(|(c, ids)| s.message_ids(c).len() >= ids.len())
        })
        .await;
    for (c, ids) in &expected {
        assert_eq!(&stack.message_ids(c), ids, "{c}: every utterance once, in arrival order");
        let call = stack.emulator().voice_call(c).unwrap();
        let starts: Vec<i64> = call.messages.iter().map(|m| m.start_time).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{c}: chronological {starts:?}");
    }
    stack
        .wait_for("the signals", |s| s.emulator().voice_call(&contact(1)).is_some_and(|c| c.realtime_events.len() >= 2))
        .await;
    let kinds: Vec<String> = stack
        .emulator()
        .voice_call(&contact(1))
        .unwrap()
        .realtime_events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"IntelligenceSignal__Category".to_string())
            && kinds.contains(&"IntelligenceSignal__Sentiment".to_string()),
        "{kinds:?}"
    );
    let bulk = stack.emulator().requests_to("POST", "/telephony/v1/voiceCalls/messages");
    assert!(bulk.iter().all(|r| r.status == 202), "every bulk request accepted");
}

#[tokio::test]
async fn a_small_payload_limit_splits_the_batch_by_contact_and_loses_nothing() {
    let stack = Stack::start().await;
    for n in 1..=7 {
        stack.create_call(&contact(n)).await;
    }
    let batch = event("02-forty-records-seven-contacts.json");
    let recorder = InvokeRecorder::start().await.expect("recorder");
    let mut deps = stack.consumer(Some(recorder.endpoint())).await;
    deps.max_payload_bytes = 12_000;
    let response = handle(batch.clone(), soon(), &deps).await.expect("handled");
    assert!(failures(&response).is_empty());
    let invokes = recorder.invokes();
    assert!(invokes.len() >= 3, "{} invocations", invokes.len());
    let mut forwarded: Vec<Value> = Vec::new();
    for invoke in &invokes {
        assert_eq!(invoke.invocation_type, "Event");
        assert!(invoke.size <= 12_000, "{}", invoke.size);
        forwarded.extend(invoke.payload["Records"].as_array().unwrap().iter().cloned());
    }
    let mut sent: Vec<&str> = forwarded.iter().map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap()).collect();
    let mut all: Vec<&str> =
        batch["Records"].as_array().unwrap().iter().map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap()).collect();
    // Each contact's records in arrival (sequence) order, in one invocation.
    for n in 1..=7 {
        let holding: Vec<_> = invokes
            .iter()
            .filter(|i| {
                i.payload["Records"].as_array().unwrap().iter().any(|r| r["kinesis"]["partitionKey"] == contact(n))
            })
            .collect();
        assert_eq!(holding.len(), 1, "contact {n} is not split");
        // Kinesis sequence numbers are decimal strings too long for an integer: compare by length, then text.
        let seqs: Vec<(usize, String)> = holding[0].payload["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kinesis"]["partitionKey"] == contact(n))
            .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap())
            .map(|s| (s.len(), s.to_string()))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    }
    sent.sort();
    all.sort();
    assert_eq!(sent, all, "every record forwarded exactly once, unchanged");
    // The real processor takes each forwarded payload as it is.
    for invoke in invokes {
        let outcome = stack.processor.invoke(invoke.payload).await.expect("processor ran");
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    }
    for n in 1..=7 {
        assert_eq!(stack.message_ids(&contact(n)), utterance_ids(&batch, &contact(n)));
    }
}

#[tokio::test]
async fn the_official_fixture_is_forwarded_in_the_official_shape_and_unreadable_records_are_handled() {
    let stack = Stack::start().await;
    let recorder = InvokeRecorder::start().await.expect("recorder");
    let deps = stack.consumer(Some(recorder.endpoint())).await;
    let official = event("01-official-utterance.json");
    let response = handle(official.clone(), soon(), &deps).await.expect("handled");
    assert!(failures(&response).is_empty());
    assert_eq!(
        recorder.invokes()[0].payload,
        json!({"Records": official["Records"]}),
        "a subset of the batch, as received"
    );
    assert_eq!(recorder.invokes()[0].function, stack.processor.arn());

    let with_bad = event("03-with-unreadable-record.json");
    let response = handle(with_bad.clone(), soon(), &deps).await.expect("handled");
    assert!(failures(&response).is_empty(), "an unreadable record is handled, not retried forever");
    let forwarded = recorder.invokes()[1].payload["Records"].as_array().unwrap().len();
    assert_eq!(forwarded, 2);
    let bad_seq = with_bad["Records"][1]["kinesis"]["sequenceNumber"].as_str().unwrap().to_string();
    assert!(
        stack
            .logs
            .lines()
            .iter()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains(&bad_seq) && l.contains("cannot be read"))
    );
}

#[tokio::test]
async fn a_failed_hand_over_reports_exactly_its_records() {
    let stack = Stack::start().await;
    let recorder = InvokeRecorder::start().await.expect("recorder");
    let mut deps = stack.consumer(Some(recorder.endpoint())).await;
    deps.max_payload_bytes = 12_000;
    // One hand-over at a time, so "the next 10 invocation attempts" are those of the first parts.
    deps.invoke_concurrency = 1;
    recorder.fail_next(10); // the first invocation fails through the SDK's retries
    let batch = event("02-forty-records-seven-contacts.json");
    let response = handle(batch.clone(), soon(), &deps).await.expect("handled");
    let failed = failures(&response);
    let delivered: Vec<String> = recorder
        .invokes()
        .iter()
        .flat_map(|i| {
            i.payload["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!failed.is_empty());
    let mut everything: Vec<String> = failed.iter().chain(delivered.iter()).cloned().collect();
    everything.sort();
    let mut all: Vec<String> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    assert_eq!(everything, all, "each record is either delivered or reported, never both, never neither");
}

/// Issue 13 item 8: a single record that can never fit the asynchronous payload is kept (ERROR log
/// with the reason) and reported done, not retried until it expires; the others are handed over.
#[tokio::test]
async fn a_record_that_can_never_fit_is_quarantined_not_retried() {
    let stack = Stack::start().await;
    let recorder = InvokeRecorder::start().await.expect("recorder");
    let mut deps = stack.consumer(Some(recorder.endpoint())).await;
    deps.max_payload_bytes = 12_000;
    let mut batch = event("02-forty-records-seven-contacts.json");
    let mut data = local_stack::records::data_of(&batch["Records"][3]).expect("data");
    data["Padding"] = json!("x".repeat(20_000));
    batch["Records"][3] = local_stack::records::with_data(&batch["Records"][3], &data);
    let huge_seq = batch["Records"][3]["kinesis"]["sequenceNumber"].as_str().unwrap().to_string();
    let response = handle(batch.clone(), soon(), &deps).await.expect("handled");
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    let delivered: Vec<String> = recorder
        .invokes()
        .iter()
        .flat_map(|i| {
            i.payload["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(delivered.len(), 39, "every other record is handed over");
    assert!(!delivered.contains(&huge_seq));
    assert!(
        stack
            .logs
            .lines()
            .iter()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains(&huge_seq) && l.contains("can never fit")),
        "logged at ERROR with its sequence number and the reason"
    );
}

/// A consumer whose Lambda client reaches `endpoint`, one invocation per contact.
async fn consumer_at(endpoint: &str) -> contact_lens_consumer::Deps {
    let lambda = aws_sdk_lambda::Client::new(&local_stack::moto::aws_sdk_config(endpoint).await);
    let mut deps = contact_lens_consumer::Deps::new(
        lambda,
        "arn:aws:lambda:us-east-1:123456789012:function:ContactLensProcessor:live".into(),
    );
    deps.max_payload_bytes = 12_000;
    deps
}

/// Issue 13 item 3: with Invoke slow (1.5 s each), the parts for different contacts go at once,
/// so a batch that takes many invocations finishes well inside a deadline that one-at-a-time
/// sending would overrun, every record handed over, each contact's records in order.
#[tokio::test]
async fn slow_invokes_go_concurrently_within_the_deadline() {
    use local_stack::faults::{Fault, FaultEndpoint};
    let recorder = InvokeRecorder::start().await.expect("recorder");
    let slow =
        FaultEndpoint::forwarding(recorder.endpoint(), &[("", Fault::Delay(std::time::Duration::from_millis(1500)))])
            .await
            .expect("fault endpoint");
    let deps = consumer_at(slow.endpoint()).await;
    let batch = event("02-forty-records-seven-contacts.json");
    let started = std::time::Instant::now();
    let deadline = scv_shared::retry::Deadline::after(std::time::Duration::from_secs(8));
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), handle(batch.clone(), deadline, &deps))
        .await
        .expect("an answer")
        .expect("handled");
    let took = started.elapsed();
    let invokes = recorder.invokes();
    assert!(invokes.len() >= 6, "{} invocations: enough that one at a time would overrun", invokes.len());
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    assert!(took < std::time::Duration::from_secs(8), "answered after {took:?}");
    // Each contact's records arrive in batch order across its invocations.
    let forwarded: Vec<String> = invokes
        .iter()
        .flat_map(|i| i.payload["Records"].as_array().unwrap().clone())
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(forwarded.len(), batch["Records"].as_array().unwrap().len());
}

/// Issue 13 item 3: with Invoke hanging, the batch answers by its deadline, every record reported.
#[tokio::test]
async fn hanging_invokes_end_at_the_deadline_with_every_record_reported() {
    let hanging = local_stack::faults::FaultEndpoint::hanging().await.expect("fault endpoint");
    let deps = consumer_at(hanging.endpoint()).await;
    let batch = event("02-forty-records-seven-contacts.json");
    let started = std::time::Instant::now();
    let deadline = scv_shared::retry::Deadline::after(std::time::Duration::from_secs(3));
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), handle(batch.clone(), deadline, &deps))
        .await
        .expect("an answer by the deadline")
        .expect("handled");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(6), "answered after {took:?}");
    let all: Vec<String> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string())
        .collect();
    let mut reported = failures(&response);
    reported.sort();
    let mut readable: Vec<String> = all.clone();
    readable.sort();
    assert_eq!(reported, readable, "every record reported for retry");
}
