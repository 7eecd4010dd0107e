//! End to end through the handler: every sample event against the Salesforce emulator and moto,
//! asserting what Salesforce received and stored; then multi-status partial failures, 429s, the
//! transcription limit, retried invocations and the extension key path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use contact_lens_processor::{ProcessorError, RETRY_KEY, RetryPayload, TRANSCRIPTION_LIMIT_VALUE};
use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

fn realtime_events(stack: &Stack, contact_id: &str) -> Vec<Value> {
    stack
        .emulator()
        .voice_call(contact_id)
        .map(|c| c.realtime_events.iter().map(|e| e["event"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_sample_event_reaches_salesforce_as_documented() {
    let stack = Stack::start().await;
    for c in [OFFICIAL_CONTACT.to_string(), contact(2), contact(3), contact(4), contact(5), contact(6), contact(7)] {
        stack.create_call(&c).await;
    }
    let names = event_names();
    assert_eq!(names.len(), 4, "{names:?}");

    // 01: the official fixture and the rest of its conversation.
    let summary = stack.invoke(event("01-utterances.json")).await.expect("01");
    assert_eq!((summary.records, summary.messages_sent, summary.bulk_requests), (5, 5, 1));
    let call = stack.emulator().voice_call(OFFICIAL_CONTACT).expect("call");
    let official = &call.messages[0];
    assert_eq!(official.message_id, "5a859b25-e047-454f-b47f-c78ee2a33f08");
    assert_eq!(official.participant_id, format!("{OFFICIAL_CONTACT}VIRTUAL_AGENT"));
    assert_eq!(official.sender_type, "VIRTUAL_AGENT");
    assert_eq!(official.end_time - official.start_time, 625);
    let request = &stack.bulk_requests()[0];
    let sent = &request.body["entries"][0]["messages"];
    assert_eq!(sent[1]["participantId"], format!("{OFFICIAL_CONTACT}END_USER"), "documented prefix on the wire");
    let starts: Vec<i64> = call.messages.iter().map(|m| m.start_time).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "chronological: {starts:?}");
    assert_eq!(call.messages.len(), 5);
    let sentiments: Vec<(String, String)> = realtime_events(&stack, OFFICIAL_CONTACT)
        .iter()
        .map(|e| (e["value"].as_str().unwrap().to_string(), e["participant"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(String, String)> = [("0", "AGENT"), ("0", "CUSTOMER"), ("1000", "AGENT"), ("-1000", "CUSTOMER")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(sentiments, expected);

    // 02: categories (one event each, ascending, points of interest as details) and sentiment.
    let summary = stack.invoke(event("02-categories-and-sentiment.json")).await.expect("02");
    assert_eq!(summary.messages_sent, 2);
    let events = realtime_events(&stack, &contact(2));
    let shape: Vec<(&str, &str)> =
        events.iter().map(|e| (e["type"].as_str().unwrap(), e["value"].as_str().unwrap())).collect();
    assert_eq!(
        shape,
        vec![
            // Same startTime (offset 5120): stable order, categories of the record first.
            ("IntelligenceSignal__Category", "keyWord"),
            ("IntelligenceSignal__Sentiment", "-1000"),
            ("IntelligenceSignal__Sentiment", "1000"),
            ("IntelligenceSignal__Category", "CustomerDissatisfied"),
        ]
    );
    assert_eq!(events[0]["details"]["BeginOffsetMillis"], 5120);
    assert_eq!(events[0]["details"]["PointsOfInterest"][0]["EndOffsetMillis"], 15495);
    let times: Vec<i64> = events.iter().map(|e| e["startTime"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let posts = stack
        .emulator()
        .requests_to("POST", &format!("/telephony/v1/voiceCalls/{}/realtimeConversationEvents", contact(2)));
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body["service"], "AmazonConnectContactLens");
    assert_eq!(posts[0].body["persist"], false);

    // 03: 3 contacts x 12 utterances -> 3 bulk requests, each contact in order.
    let before = stack.bulk_requests().len();
    let summary = stack.invoke(event("03-three-contacts-twelve-utterances.json")).await.expect("03");
    assert_eq!((summary.messages_sent, summary.bulk_requests), (36, 3));
    let requests = &stack.bulk_requests()[before..];
    assert_eq!(requests.len(), 3);
    for request in requests {
        let entries = request.body["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.iter().all(|e| e["messages"].as_array().unwrap().len() <= 5));
    }
    for (n, c) in [(0, contact(3)), (1, contact(4)), (2, contact(5))] {
        let ids = stack.message_ids(&c);
        let expected: Vec<String> = (0..12).map(|k| uuid::Uuid::from_u128(20000 + n * 100 + k).to_string()).collect();
        assert_eq!(ids, expected, "{c}: every message, in order");
    }

    // 04: lifecycle events, an unknown segment kind, an unreadable record.
    let summary = stack.invoke(event("04-lifecycle-and-unknown-segments.json")).await.expect("04");
    assert_eq!((summary.records, summary.skipped_records, summary.messages_sent), (6, 1, 1));
    assert_eq!(stack.message_ids(&contact(6)).len(), 1);
    let lines = stack.logs().lines();
    let has = |level: &str, text: &str| {
        lines.iter().any(|l| l.contains(&format!("\"level\":\"{level}\"")) && l.contains(text))
    };
    assert!(has("ERROR", "real-time analysis FAILED for 7c1e0007"), "FAILED at ERROR with the contact");
    assert!(has("INFO", "analysis started for 7c1e0006"));
    assert!(has("INFO", "analysis completed for 7c1e0006"));
    assert!(has("WARN", "unknown Contact Lens segment kind Issues"));
    assert!(has("ERROR", "cannot be read and is skipped"));
    assert!(stack.recorder().invokes().is_empty(), "nothing needed a retry");
    assert_eq!(stack.emulator().voice_calls().iter().map(|c| c.duplicate_messages).sum::<u32>(), 0);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_multi_status_failure_retries_only_the_failed_entries() {
    let stack = Stack::start().await;
    for n in 3..=5 {
        stack.create_call(&contact(n)).await;
    }
    stack.emulator().fail_bulk_entries(&contact(4), 1);
    let summary = stack.invoke(event("03-three-contacts-twelve-utterances.json")).await.expect("handed over");
    assert_eq!((summary.messages_sent, summary.messages_retried), (24, 12));
    assert_eq!(stack.message_ids(&contact(3)).len(), 12);
    assert_eq!(stack.message_ids(&contact(5)).len(), 12);
    assert!(stack.message_ids(&contact(4)).is_empty(), "held back after its first entry failed, to keep the order");

    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 1);
    assert_eq!((invokes[0].function.as_str(), invokes[0].invocation_type.as_str()), (FUNCTION, "Event"));
    let retry: RetryPayload = serde_json::from_value(invokes[0].payload[RETRY_KEY].clone()).expect("retry payload");
    assert_eq!(retry.attempt, 1);
    assert_eq!(retry.work.contact_list(), contact(4), "only the contact whose entry failed");
    assert_eq!(retry.work.message_count(), 12);

    // The retry invocation sends the rest, in order, and nothing twice.
    let summary = stack.invoke(invokes[0].payload.clone()).await.expect("retry");
    assert_eq!((summary.attempt, summary.messages_sent, summary.messages_retried), (1, 12, 0));
    let expected: Vec<String> = (0..12).map(|k| uuid::Uuid::from_u128(20000 + 100 + k).to_string()).collect();
    assert_eq!(stack.message_ids(&contact(4)), expected);
    assert_eq!(stack.emulator().voice_calls().iter().map(|c| c.duplicate_messages).sum::<u32>(), 0);
    assert_eq!(stack.recorder().invokes().len(), 1);
}

#[tokio::test]
async fn a_429_then_success_is_retried_inside_the_invocation() {
    let stack = Stack::start().await;
    stack.create_call(OFFICIAL_CONTACT).await;
    stack.emulator().inject(Fault::status(429, 1).with_retry_after(1).on("POST", "/voiceCalls/messages"));
    let summary = stack.invoke(event("01-utterances.json")).await.expect("accepted after the retry");
    assert_eq!(summary.messages_sent, 5);
    let statuses: Vec<u16> = stack.bulk_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 202]);
    assert_eq!(stack.message_ids(OFFICIAL_CONTACT).len(), 5);
    assert!(stack.recorder().invokes().is_empty());
}

#[tokio::test]
async fn a_retried_invocation_duplicates_no_message() {
    let stack = Stack::start().await;
    stack.create_call(OFFICIAL_CONTACT).await;
    stack.invoke(event("01-utterances.json")).await.expect("first");
    // Lambda's own asynchronous retry delivers the same event again.
    stack.invoke(event("01-utterances.json")).await.expect("again");
    let call = stack.emulator().voice_call(OFFICIAL_CONTACT).expect("call");
    assert_eq!(call.messages.len(), 5, "stored once");
    assert_eq!(call.duplicate_messages, 5, "the repeats were recognised by their message ids");
}

#[tokio::test]
async fn a_conversation_that_no_longer_exists_is_dropped_not_retried() {
    let stack = Stack::start().await;
    stack.create_call(&contact(3)).await;
    stack.create_call(&contact(5)).await;
    // contact 4 has no VoiceCall: PERMISSION_DENIED in its multi-status entries.
    let summary = stack.invoke(event("03-three-contacts-twelve-utterances.json")).await.expect("no retry");
    assert_eq!((summary.messages_sent, summary.messages_dropped, summary.messages_retried), (24, 12, 0));
    assert!(stack.recorder().invokes().is_empty());
    assert!(
        stack
            .logs()
            .lines()
            .iter()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains("will not be retried") && l.contains(&contact(4)))
    );
}

#[tokio::test]
async fn the_transcription_limit_is_logged_and_recorded_on_the_contact() {
    let stack = Stack::start().await;
    stack.create_call(OFFICIAL_CONTACT).await;
    stack
        .connect()
        .put_contact(INSTANCE_ID, json!({"Id": OFFICIAL_CONTACT, "InitialContactId": OFFICIAL_CONTACT}))
        .expect("seed");
    stack.fail_bulk_entry_with(OFFICIAL_CONTACT, 429).await;
    let summary = stack.invoke(event("01-utterances.json")).await.expect("handed over");
    assert_eq!(summary.messages_retried, 5);
    let updates: Vec<_> =
        stack.connect().requests().into_iter().filter(|r| r.operation == "UpdateContactAttributes").collect();
    assert_eq!(updates.len(), 1);
    assert_eq!((updates[0].instance_id.as_str(), updates[0].status), (INSTANCE_ID, 200));
    assert_eq!(updates[0].contact_id, OFFICIAL_CONTACT);
    let contact = stack.connect().contact(INSTANCE_ID, OFFICIAL_CONTACT).expect("contact");
    assert_eq!(contact["Attributes"]["sf_realtime_transcription_status"], json!(TRANSCRIPTION_LIMIT_VALUE));
    // The name Implementation Guide ch. 9 documents, which the CTR sync carries to the VoiceCall field.
    assert_eq!(contact["Attributes"]["sf_realtime_transcription_status__c"], json!(TRANSCRIPTION_LIMIT_VALUE));
    assert!(stack.logs().lines().iter().any(|l| l.contains("\"level\":\"ERROR\"")
        && l.contains("SCV_LIMITS_ERROR")
        && l.contains(&format!("\"contactId\":\"{OFFICIAL_CONTACT}\""))));
}

#[tokio::test]
async fn exhausted_retries_and_failed_hand_overs_fail_the_invocation() {
    let stack = Stack::start().await;
    stack.create_call(OFFICIAL_CONTACT).await;
    // Salesforce keeps failing: the hand-over itself fails -> the invocation fails.
    stack.emulator().inject(Fault::status(503, 100).on("POST", "/voiceCalls/messages"));
    // More failures than the SDK's own retries.
    stack.recorder().fail_next(10);
    let err = stack.invoke(event("01-utterances.json")).await.expect_err("must fail");
    assert!(matches!(err, ProcessorError::Unsent { messages: 5, .. }), "{err}");
    assert!(err.to_string().contains(OFFICIAL_CONTACT), "{err}");
    stack.recorder().fail_next(0);

    // The last allowed attempt fails instead of handing over again.
    let summary = stack.invoke(event("01-utterances.json")).await.expect("handed over");
    assert_eq!(summary.messages_retried, 5);
    let mut payload = stack.recorder().invokes()[0].payload.clone();
    payload[RETRY_KEY]["attempt"] = json!(stack.deps.settings.max_retry_invocations);
    payload[RETRY_KEY]["notBefore"] = Value::Null;
    let err = stack.invoke(payload).await.expect_err("exhausted");
    assert!(err.to_string().contains("retry invocations exhausted"), "{err}");
    assert_eq!(stack.recorder().invokes().len(), 1, "no further hand-over");
    stack.emulator().clear_faults();
}

#[tokio::test]
async fn the_key_can_come_through_the_parameters_and_secrets_extension() {
    let moto = local_stack::moto::Moto::shared().expect("moto");
    let sdk = local_stack::moto::aws_sdk_config(&moto.endpoint()).await;
    let extension = local_stack::extension::ParametersExtension::start(&sdk, "session-token").await.expect("extension");
    let stack = Stack::start_with_env(vec![
        ("USE_SSM_LAMBDA_EXTENSION".into(), "true".into()),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT".into(), extension.port().to_string()),
        ("AWS_SESSION_TOKEN".into(), "session-token".into()),
    ])
    .await;
    stack.create_call(OFFICIAL_CONTACT).await;
    stack.invoke(event("01-utterances.json")).await.expect("sent");
    assert_eq!(stack.message_ids(OFFICIAL_CONTACT).len(), 5);
    assert!(extension.request_count() >= 1, "the key came through the extension");
}

/// Issue 13 item 1: a segment whose ContactId (or partition key) is a dot segment, holds a
/// separator or a control character, or is over-long is skipped with the reason and never sent.
#[tokio::test]
async fn hostile_contact_ids_reach_no_endpoint() {
    let stack = Stack::start().await;
    // The segment reader trims the ContactId, so `c-1\n` is the valid `c-1`.
    let hostile = scv_shared::ids::hostile_ids().into_iter().filter(|id| id.trim() != "c-1");
    for id in hostile {
        let mut batch = event("01-utterances.json");
        let records = batch["Records"].as_array_mut().unwrap();
        let count = records.len();
        for record in records.iter_mut() {
            let mut data = local_stack::records::data_of(record).expect("data");
            data["ContactId"] = json!(id);
            *record = local_stack::records::with_data(record, &data);
            record["kinesis"]["partitionKey"] = json!(id);
        }
        let summary = stack.invoke(batch).await.unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert_eq!(summary.skipped_records, count, "{id:?}");
        assert_eq!(summary.messages_sent + summary.events_sent, 0, "{id:?}");
    }
    let requests: Vec<String> =
        stack.emulator().requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(requests.is_empty(), "no request may reach Salesforce: {requests:?}");
}
