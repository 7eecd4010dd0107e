//! End to end through the handler against the emulator's Connect REST API conversation upload, moto
//! (S3, SSM) and the local Amazon Connect endpoint: the documented payloads, exact multipart parts and
//! NDJSON lines, per-contact failures among good contacts, the MAX_CONTACT_IDS refusal, batches,
//! status polling, 5xx then success, a 401 with one token refresh, re-runs, and clean logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

#[tokio::test]
async fn the_sample_upload_sends_each_contact_as_one_named_file_part() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    let call_b = stack.seed_call(CONTACT_B).await;
    let mut event = event("01-upload-transcript.json");
    event["payload"][0]["relatedRecords"] = json!([call_a]);
    event["payload"][1]["relatedRecords"] = json!([call_b]);

    let answer = stack.invoke(event).await.expect("upload");
    let results = results(&answer);
    assert_eq!(results.len(), 2);
    for (result, contact) in results.iter().zip([CONTACT_A, CONTACT_B]) {
        assert_eq!(result["conversationIdentifier"], contact);
        assert_eq!(result["status"], "SUCCESS", "{result}");
        assert_eq!(result["errorDetail"], Value::Null);
        assert_eq!(result["entryCount"], LINES);
        assert!(result["uploadId"].as_str().is_some_and(|u| !u.is_empty()));
    }

    // One request (BATCH_SIZE 10), one file part per conversation, named by it, with a filename.
    let uploads = stack.uploads();
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].content_type.as_deref().unwrap_or_default().starts_with("multipart/form-data; boundary="));
    let parts = uploads[0].body["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    let contact = sample_contact();
    let base = ms(contact["AgentInfo"]["ConnectedToAgentTimestamp"].as_str().expect("agent"));
    let end = ms(contact["DisconnectTimestamp"].as_str().expect("end"));
    let fixture = analysis_for(CONTACT_A);
    for (part, (contact_id, call)) in parts.iter().zip([(CONTACT_A, &call_a), (CONTACT_B, &call_b)]) {
        assert_eq!(part["name"], contact_id);
        assert_eq!(part["filename"], format!("{contact_id}.txt"));
        let lines = part["lines"].as_array().expect("lines");
        assert_eq!(lines.len(), 1 + LINES);
        assert_eq!(lines[0], json!({"type": "conversation", "payload": {"conversationId": contact_id}}));
        let mut previous = 0;
        for (line, source) in lines[1..].iter().zip(fixture["Transcript"].as_array().expect("transcript")) {
            let p = &line["payload"];
            assert_eq!(line["type"], "conversationEntry");
            assert_eq!(p["conversationId"], contact_id);
            assert_eq!(p["id"], source["Id"]);
            assert_eq!(p["messageText"], source["Content"]);
            let begin = source["BeginOffsetMillis"].as_i64().expect("begin");
            let sent = p["clientSentTimestamp"].as_i64().expect("ms");
            assert!(sent > previous && sent <= end && sent >= base, "{sent} inside the call, increasing");
            assert_eq!(sent, (base + begin).max(previous + 1).min(end));
            previous = sent;
            assert_eq!(p["clientDuration"], source["EndOffsetMillis"].as_i64().expect("end") - begin);
            let (subject, role) = match source["ParticipantId"].as_str() {
                Some("AGENT") => (format!("{contact_id}VIRTUAL_AGENT"), "AGENT"),
                _ => (format!("{contact_id}END_USER"), "END_USER"),
            };
            assert_eq!(p["sender"], json!({"appType": "TELEPHONY_INTEGRATION", "subject": subject, "role": role}));
            assert_eq!(p["relatedRecords"], json!([call]));
        }
    }

    // Stored on each conversation, text intact (UTF-8).
    let stored = stack.emulator().conversation(CONTACT_A).expect("stored conversation");
    assert_eq!(stored.entries.len(), LINES);
    assert!(stored.entries.iter().any(|e| e.message_text == CUSTOMER_WORDS));

    // Only the analysis prefix of the bucket was read, and Connect was asked once per contact.
    let describes = stack.connect().requests();
    assert_eq!(describes.iter().map(|r| r.contact_id.as_str()).collect::<Vec<_>>(), vec![CONTACT_A, CONTACT_B]);
    assert!(describes.iter().all(|r| r.instance_id == INSTANCE));
    stack.assert_logs_clean();
}

#[tokio::test]
async fn failing_contacts_are_reported_while_the_others_go_through() {
    let stack = Stack::start().await;
    let good_1 = "c0000000-0000-4000-8000-000000000001";
    let no_file = "c0000000-0000-4000-8000-000000000002";
    let malformed = "c0000000-0000-4000-8000-000000000003";
    let unknown_call = "c0000000-0000-4000-8000-000000000004";
    let no_agent = "c0000000-0000-4000-8000-000000000005";
    let not_in_connect = "c0000000-0000-4000-8000-000000000006";
    let good_2 = "c0000000-0000-4000-8000-000000000007";
    let call_1 = stack.seed_call(good_1).await;
    let call_no_file = stack.seed_contact_and_call(no_file);
    let call_malformed = stack.seed_contact_and_call(malformed);
    stack.put_raw_analysis(malformed, b"{\"Transcript\": [ {\"Id\": \"x\", ").await;
    // A VoiceCall id that does not exist in the org: Salesforce refuses that conversation.
    stack.seed_call(unknown_call).await;
    let call_no_agent = stack.seed_contact_and_call(no_agent);
    let mut contact = sample_contact();
    contact["Id"] = json!(no_agent);
    contact.as_object_mut().expect("contact").remove("AgentInfo");
    stack.connect().put_contact(INSTANCE, api_shape(contact)).expect("contact");
    let call_2 = stack.seed_call(good_2).await;

    let event = upload_event(&[
        (good_1, &call_1),
        (no_file, &call_no_file),
        (malformed, &call_malformed),
        (unknown_call, "0LQ000000009999"),
        (no_agent, &call_no_agent),
        (not_in_connect, "0LQ000000009998"),
        (good_2, &call_2),
    ]);
    let answer = stack.invoke(event).await.expect("upload");
    let results = results(&answer);
    assert_eq!(results.len(), 7);
    let ok = |id: &str| {
        let r = result_of(&results, id);
        assert_eq!(r["status"], "SUCCESS", "{r}");
    };
    let failed = |id: &str, needle: &str| {
        let r = result_of(&results, id);
        assert_eq!(r["status"], "FAILED", "{r}");
        assert_eq!(r["uploadId"], Value::Null);
        let detail = r["errorDetail"].as_str().expect("errorDetail");
        assert!(detail.contains(needle), "{id}: {detail} should contain {needle}");
        assert_eq!(r["retryable"], false, "{r}");
    };
    ok(good_1);
    ok(good_2);
    failed(no_file, &format!("no Contact Lens analysis file s3://{}/Analysis/Voice/", stack.bucket()));
    failed(malformed, "is not JSON");
    failed(unknown_call, "0LQ000000009999");
    failed(no_agent, "has no agent");
    failed(not_in_connect, &format!("Amazon Connect has no contact {not_in_connect}"));
    assert_eq!(
        results.iter().map(|r| r["conversationIdentifier"].clone()).collect::<Vec<_>>(),
        [good_1, no_file, malformed, unknown_call, no_agent, not_in_connect, good_2].map(|c| json!(c)).to_vec(),
        "results in request order"
    );

    // The batch of three conversations was refused as a whole (400), then each was sent alone.
    let uploads = stack.uploads();
    let statuses: Vec<u16> = uploads.iter().map(|u| u.status).collect();
    assert_eq!(statuses, vec![400, 201, 400, 201]);
    assert!(stack.emulator().conversation(good_1).is_some() && stack.emulator().conversation(good_2).is_some());
    assert!(stack.emulator().conversation(unknown_call).is_none(), "nothing partial is stored");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn more_contacts_than_max_contact_ids_are_refused_naming_the_limit() {
    let stack = Stack::start_with(|b| b.with_env("MAX_CONTACT_IDS", "2")).await;
    let event =
        upload_event(&[(CONTACT_A, "0LQ000000000001"), (CONTACT_B, "0LQ000000000002"), ("c-3", "0LQ000000000003")]);
    let answer = stack.invoke(event).await.expect("an answer");
    assert_eq!(answer["statusCode"], 400);
    let body: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["error"], "Max supported contactIds in a request is 2 (MAX_CONTACT_IDS); this request has 3");
    assert!(stack.uploads().is_empty());
    assert!(stack.connect().requests().is_empty(), "nothing was looked up");

    // The other refusals, with the official texts.
    let unsupported = stack.invoke(json!({"operation": "deleteTranscript"})).await.expect("answer");
    assert_eq!(
        unsupported,
        json!({"statusCode": 400, "body": "{\"error\":\"Unsupported operation:deleteTranscript.Supported operations:uploadTranscript,fetchUploadIdsStatus\"}"})
    );
    let empty = stack.invoke(json!({"operation": "fetchUploadIdsStatus", "uploadIds": []})).await.expect("answer");
    assert!(empty["body"].as_str().expect("body").contains("missing uploadIds or empty uploadIds"));
}

#[tokio::test]
async fn batches_hold_batch_size_conversations() {
    let stack = Stack::start_with(|b| b.with_env("BATCH_SIZE", "1")).await;
    let call_a = stack.seed_call(CONTACT_A).await;
    let call_b = stack.seed_call(CONTACT_B).await;
    let answer = stack.invoke(upload_event(&[(CONTACT_A, &call_a), (CONTACT_B, &call_b)])).await.expect("upload");
    assert!(results(&answer).iter().all(|r| r["status"] == "SUCCESS"), "{answer}");
    let uploads = stack.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads.iter().all(|u| u.body["parts"].as_array().map(Vec::len) == Some(1)));
}

#[tokio::test]
async fn upload_statuses_move_from_pending_to_success_and_unknown_ids_are_named() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    let answer = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload");
    let upload_id = results(&answer)[0]["uploadId"].as_str().expect("uploadId").to_string();

    let mut status_event = event("02-fetch-upload-ids-status.json");
    status_event["uploadIds"] = json!([upload_id]);
    let first = stack.invoke(status_event.clone()).await.expect("status");
    assert_eq!(first["conversationBulkUploadStatuses"][0]["status"], "PENDING");
    let second = stack.invoke(status_event).await.expect("status");
    let status = &second["conversationBulkUploadStatuses"][0];
    assert_eq!(status["status"], "SUCCESS", "{status}");
    assert_eq!(status["uploadId"], upload_id.as_str());
    assert_eq!(status["conversationId"], CONTACT_A);
    assert_eq!(status["successEntryCount"], LINES);
    assert_eq!(status["failedEntryCount"], 0);
    let get = stack.emulator().requests_to("GET", "/services/data/v62.0/connect/conversations/upload");
    assert_eq!(get[0].query.as_deref(), Some(format!("uploadIds={upload_id}").as_str()));

    // The sample's ids are unknown here: each is answered NOT_FOUND, the known one still SUCCESS.
    let mut mixed = event("02-fetch-upload-ids-status.json");
    mixed["uploadIds"].as_array_mut().expect("ids").push(json!(upload_id));
    let answer = stack.invoke(mixed).await.expect("status");
    let statuses = answer["conversationBulkUploadStatuses"].as_array().expect("statuses");
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[0]["status"], "NOT_FOUND");
    assert_eq!(statuses[0]["uploadId"], "f230e3d9-6c0f-3909-a0a8-1b78c634bbde");
    assert!(statuses[0]["errorDetail"].as_str().expect("detail").contains("f230e3d9-6c0f-3909-a0a8-1b78c634bbde"));
    assert_eq!(statuses[2]["status"], "SUCCESS");
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_conversation_is_stored_once() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    // The first attempt is processed, then answered 503: the retry re-uploads the same entries.
    stack.emulator().inject(Fault::applied_then_status(503, 1).on("POST", "/connect/conversations/upload"));
    stack.emulator().inject(Fault::status(500, 1).on("POST", "/connect/conversations/upload"));
    let answer = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload");
    assert_eq!(results(&answer)[0]["status"], "SUCCESS", "{answer}");
    assert_eq!(stack.uploads().iter().map(|u| u.status).collect::<Vec<_>>(), vec![503, 500, 201]);
    let stored = stack.emulator().conversation(CONTACT_A).expect("stored");
    assert_eq!(stored.entries.len(), LINES, "the repeated upload added nothing");
    let last = stack.emulator().conversation_uploads().pop().expect("upload");
    assert_eq!(last.deduplicated_entry_ids.len(), LINES);
}

#[tokio::test]
async fn a_5xx_that_does_not_clear_fails_the_contacts_as_retryable() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    stack.emulator().inject(Fault::status(503, 10).on("POST", "/connect/conversations/upload"));
    let answer = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload");
    let result = &results(&answer)[0];
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["retryable"], true);
    assert!(result["errorDetail"].as_str().expect("detail").contains("503"), "{result}");
    let attempts = stack.uploads().len();
    assert!((2..=4).contains(&attempts), "bounded retries: {attempts}");
    assert!(stack.emulator().conversation(CONTACT_A).is_none());
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    let call_b = stack.seed_call(CONTACT_B).await;
    stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("first upload");
    let issued = stack.emulator().issued_token_count();
    stack.emulator().expire_access_tokens();
    let answer = stack.invoke(upload_event(&[(CONTACT_B, &call_b)])).await.expect("second upload");
    assert_eq!(results(&answer)[0]["status"], "SUCCESS", "{answer}");
    assert_eq!(stack.emulator().issued_token_count(), issued + 1, "one refresh");
    assert_eq!(stack.uploads().iter().map(|u| u.status).collect::<Vec<_>>(), vec![201, 401, 201]);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn running_again_is_safe() {
    let stack = Stack::start().await;
    let call_a = stack.seed_call(CONTACT_A).await;
    let first = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload");
    let second = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload again");
    assert_eq!(results(&second)[0]["status"], "SUCCESS");
    assert_ne!(results(&first)[0]["uploadId"], results(&second)[0]["uploadId"]);
    let stored = stack.emulator().conversation(CONTACT_A).expect("stored");
    assert_eq!(stored.entries.len(), LINES, "entries are not doubled");
    let uploads = stack.emulator().conversation_uploads();
    assert!(uploads[1].reupload);
    assert_eq!(uploads[1].deduplicated_entry_ids.len(), LINES);
    assert_eq!(uploads[1].failed_entry_count, 0);
}

#[tokio::test]
async fn without_the_variable_the_bucket_is_named_after_the_call_center_and_account() {
    let stack = Stack::start_with(|b| b.without_env("CONTACT_LENS_ANALYSIS_BUCKET")).await;
    let call_a = stack.seed_contact_and_call(CONTACT_A);
    let answer = stack.invoke(upload_event(&[(CONTACT_A, &call_a)])).await.expect("upload");
    let detail = results(&answer)[0]["errorDetail"].as_str().expect("detail").to_string();
    assert!(detail.contains("s3://acme_cc-123456789012/Analysis/Voice/2026/11/21/"), "{detail}");
    let err = stack.handle(upload_event(&[(CONTACT_A, &call_a)]), "not-an-arn").await.expect_err("no bucket");
    assert_eq!(err.kind(), scv_shared::error::ErrorKind::NotConfigured);
    assert!(err.to_string().contains("CONTACT_LENS_ANALYSIS_BUCKET"), "{err}");
}

#[tokio::test]
async fn batches_go_out_concurrently_and_narrow_under_a_429_storm_losing_nothing() {
    // One conversation per request, Salesforce slow to answer uploads and taking two at a time: a
    // third request in flight is answered 429, so 429s prove the batches overlap. The adaptive limit
    // must narrow; every contact ends uploaded once or reported retryable, and a second run of the
    // reported ones finishes the back-fill.
    let stack = Stack::start_with(|b| b.with_env("BATCH_SIZE", "1")).await;
    let contacts: Vec<String> = (0..16).map(|i| format!("{}{i:02}", &CONTACT_A[..CONTACT_A.len() - 2])).collect();
    let mut calls = std::collections::BTreeMap::new();
    for contact in &contacts {
        calls.insert(contact.clone(), stack.seed_call(contact).await);
    }
    stack.emulator().limit_concurrency(Some(2));
    stack.emulator().inject(Fault::delay(60, 1000).on("POST", "connect/conversations/upload"));
    let event_for =
        |ids: &[String]| upload_event(&ids.iter().map(|c| (c.as_str(), calls[c].as_str())).collect::<Vec<_>>());

    let answer = stack.invoke(event_for(&contacts)).await.expect("upload");
    let results = results(&answer);
    assert_eq!(results.len(), contacts.len());
    let mut again = Vec::new();
    for (result, contact) in results.iter().zip(&contacts) {
        assert_eq!(result["conversationIdentifier"], contact.as_str());
        if result["status"] != "SUCCESS" {
            assert_eq!(result["retryable"], true, "a 429 leaves the contact retryable: {result}");
            again.push(contact.clone());
        }
    }
    let uploads = stack.uploads();
    assert!(uploads.iter().any(|u| u.status == 429), "more than two upload requests were in flight at once");
    assert!(stack.deps.limiter.cuts() > 0, "the 429s narrowed the limit");
    assert!(stack.deps.limiter.limit() < scv_shared::conversation::UPLOAD_CONCURRENCY);

    if !again.is_empty() {
        let answer = stack.invoke(event_for(&again)).await.expect("second run");
        assert!(results_all_success(&answer), "{answer}");
    }
    let stored = stack.uploads().iter().filter(|u| u.status == 201).count();
    assert_eq!(stored, contacts.len(), "each conversation accepted once");
    assert!(contacts.iter().all(|c| stack.emulator().conversation(c).is_some()));
    stack.assert_logs_clean();
}

fn results_all_success(answer: &Value) -> bool {
    results(answer).iter().all(|r| r["status"] == "SUCCESS")
}
