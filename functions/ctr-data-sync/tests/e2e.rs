//! CTRDataSync end to end against the Salesforce emulator and moto (SSM, S3): a full batch, a
//! poison record, a 429 storm, S3 down, and the mixed sample with skips, a voicemail and one
//! contact twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::collections::HashSet;

use ctr_data_sync::Outcome;
use serde_json::{Value, json};
use sf_emulator::Fault;
use support::*;

#[tokio::test]
async fn a_batch_of_100_ctrs_is_backed_up_and_synced_exactly() {
    let stack = Stack::start().await;
    let batch = event("batch-100.json");
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    assert_eq!(outcomes.len(), 100);
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Synced), "{outcomes:?}");

    let records = batch["Records"].as_array().unwrap();
    let contacts: HashSet<String> =
        records.iter().map(|r| ctr_of(r)["ContactId"].as_str().unwrap().to_string()).collect();
    let backups: HashSet<String> = stack.keys_under("").await.into_iter().collect();
    assert_eq!(backups, contacts, "one backup per CTR, named by ContactId");

    let updates = stack.emulator().requests();
    assert_eq!(updates.len(), 100);
    assert!(updates.iter().all(|r| r.method == "PATCH" && r.status == 200), "every update accepted");
    for record in records {
        let ctr = ctr_of(record);
        let id = ctr["ContactId"].as_str().unwrap();
        let request =
            updates.iter().find(|r| r.path == format!("/telephony/v1/voiceCalls/{id}")).expect("an update per contact");
        let body = &request.body;
        assert_eq!(body["callCenterApiName"], CALL_CENTER);
        assert_eq!(body["startTime"], ctr["InitiationTimestamp"], "{id}");
        assert_eq!(body["endTime"], ctr["DisconnectTimestamp"]);
        assert_eq!(body["acceptTime"], ctr["Agent"]["ConnectedToAgentTimestamp"]);
        assert_eq!(body["totalHoldDuration"], ctr["Agent"]["CustomerHoldDuration"]);
        assert_eq!(body["numberOfHolds"], ctr["Agent"]["NumberOfHolds"]);
        assert_eq!(body["longestHoldDuration"], ctr["Agent"]["LongestHoldDuration"]);
        assert_eq!(body["agentInteractionDuration"], ctr["Agent"]["AgentInteractionDuration"]);
        assert_eq!(body["enqueueTime"], ctr["Queue"]["EnqueueTimestamp"]);
        assert_eq!(body["queue"], ctr["Queue"]["Name"]);
        assert_eq!(body["recordingLocation"], ctr["Recording"]["Location"]);
        assert_eq!(body["disconnectReason"]["value"], ctr["DisconnectReason"]);
        let method = ctr["InitiationMethod"].as_str().unwrap();
        assert_eq!(body["initiationMethod"], if method == "API" { "INBOUND" } else { method });
        let attributes: Value = serde_json::from_str(body["callAttributes"].as_str().unwrap()).unwrap();
        assert_eq!(attributes["SourceType"], "Service");
        assert!(attributes.get("language").is_none(), "only sfdc- attributes");
        // What Salesforce now holds.
        let call = stack.emulator().voice_call(id).expect("the VoiceCall");
        assert_eq!(call.fields["totalHoldDuration"], ctr["Agent"]["CustomerHoldDuration"]);
    }
    stack.assert_logs_clean();
}

#[tokio::test]
async fn one_undecodable_record_is_quarantined_and_the_other_99_sync() {
    let stack = Stack::start().await;
    let mut batch = event("batch-100.json");
    let poison = &mut batch["Records"][37];
    poison["kinesis"]["data"] = json!("eyJDb250YWN0SWQiOiAi%%%corrupted%%%");
    let poison_seq = seq_of(poison);
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "a record that can never succeed must not block the shard");
    let synced = outcomes.iter().filter(|(_, o)| *o == Outcome::Synced).count();
    assert_eq!(synced, 99);
    let quarantined: Vec<_> = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Quarantined(_))).collect();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].0, poison_seq);
    let kept = stack.keys_under("quarantine/").await;
    assert_eq!(kept, vec![format!("quarantine/unknown/{poison_seq}.json")]);
    let body: Value = serde_json::from_str(&stack.object(&kept[0]).await.expect("object")).unwrap();
    assert!(body["reason"].as_str().unwrap().contains("not base64"), "{body}");
    assert_eq!(body["data"], "eyJDb250YWN0SWQiOiAi%%%corrupted%%%", "the original data is kept");
    assert_eq!(stack.emulator().requests().len(), 99);
    let error_line = stack.logs().lines().into_iter().find(|l| l.contains(&poison_seq) && l.contains("\"ERROR\""));
    assert!(error_line.is_some(), "logged at ERROR with its sequence number");
}

#[tokio::test]
async fn a_429_storm_on_ten_contacts_reports_exactly_those_and_a_replay_finishes_them() {
    let stack = Stack::start().await;
    let batch = event("batch-100.json");
    let records = batch["Records"].as_array().unwrap().clone();
    let stormy: Vec<(String, String)> =
        records.iter().step_by(10).map(|r| (ctr_of(r)["ContactId"].as_str().unwrap().to_string(), seq_of(r))).collect();
    for (contact, _) in &stormy {
        stack.emulator().inject(Fault::status(429, 1000).on("PATCH", &format!("/voiceCalls/{contact}")));
    }
    let (response, _) = stack.run(&batch).await;
    let failed: HashSet<String> = failures(&response).into_iter().collect();
    let expected: HashSet<String> = stormy.iter().map(|(_, seq)| seq.clone()).collect();
    assert_eq!(failed, expected, "exactly the ten limited contacts are reported");
    assert_eq!(stack.keys_under("").await.len(), 100, "every CTR was backed up, limited or not");
    assert_eq!(stack.emulator().voice_calls().len(), 90);

    // Lambda retries the failed records once Salesforce recovers.
    stack.emulator().clear_faults();
    let retry =
        json!({"Records": records.iter().filter(|r| expected.contains(&seq_of(r))).cloned().collect::<Vec<_>>()});
    let (response, outcomes) = stack.run(&retry).await;
    assert!(failures(&response).is_empty());
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Synced));
    let calls = stack.emulator().voice_calls();
    assert_eq!(calls.len(), 100, "none lost");
    assert!(calls.iter().all(|c| c.update_count == 1), "none applied twice");
}

#[tokio::test]
async fn with_s3_down_nothing_reaches_salesforce_and_everything_is_retried() {
    let stack = Stack::start().await;
    let dead = local_stack::moto::aws_sdk_config("http://127.0.0.1:9").await;
    let deps = deps_for(&stack.env, &stack.sdk, scv_shared::aws::s3_client(&dead));
    let batch = event("batch-100.json");
    let subset = json!({"Records": batch["Records"].as_array().unwrap()[..10].to_vec()});
    let (response, outcomes) =
        ctr_data_sync::handle(subset, scv_shared::retry::Deadline::after(std::time::Duration::from_secs(60)), &deps)
            .await
            .unwrap();
    assert_eq!(failures(&response).len(), 10, "every record reported for retry");
    assert!(
        outcomes.iter().all(|(_, o)| matches!(o, Outcome::Failed(reason) if reason.contains("could not write s3://"))),
        "{outcomes:?}"
    );
    assert!(stack.emulator().requests().is_empty(), "no Salesforce update without its backup");
}

#[tokio::test]
async fn the_mixed_sample_skips_quarantines_and_keeps_per_contact_order() {
    let stack = Stack::start().await;
    let batch = event("mixed-batch.json");
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|(_, o)| match o {
            Outcome::Synced => "synced",
            Outcome::Skipped(_) => "skipped",
            Outcome::Quarantined(_) => "quarantined",
            Outcome::Failed(_) => "failed",
        })
        .collect();
    // The last record is the first contact again with an older LastUpdateTimestamp: superseded.
    assert_eq!(kinds, vec!["synced", "skipped", "skipped", "skipped", "quarantined", "synced", "skipped"]);
    let reasons: Vec<String> =
        outcomes.iter().filter_map(|(_, o)| if let Outcome::Skipped(r) = o { Some(r.clone()) } else { None }).collect();
    assert!(
        reasons[0].contains("NoSync")
            && reasons[1].contains("CHAT")
            && reasons[2].contains("voicemail")
            && reasons[3].contains("superseded"),
        "{reasons:?}"
    );

    // The same contact twice, the later record with an older LastUpdateTimestamp: newest wins, so
    // the VoiceCall keeps the values of the first (newer) CTR.
    let first = ctr_of(&batch["Records"][0]);
    let id = first["ContactId"].as_str().unwrap();
    let call = stack.emulator().voice_call(id).expect("VoiceCall");
    assert_eq!(call.update_count, 1);
    let attributes: Value = serde_json::to_value(&call.call_attributes).unwrap();
    assert!(attributes.get("Disposition__c").is_none(), "the older CTR was not applied: {attributes}");
    // The transfer points at its parent.
    let transfer = ctr_of(&batch["Records"][5]);
    let body = &stack
        .emulator()
        .requests()
        .iter()
        .find(|r| r.path.ends_with(transfer["ContactId"].as_str().unwrap()))
        .expect("transfer")
        .body
        .clone();
    assert_eq!(body["parentCallIdentifier"], first["ContactId"]);
    // Skipped CTRs leave no backup: only synced ones are backed up.
    let backups = stack.keys_under("").await.into_iter().filter(|k| !k.starts_with("quarantine/")).count();
    assert_eq!(backups, 2);
    // Skips are INFO, not ERROR.
    assert!(!stack.logs().lines().iter().any(|l| l.contains("\"ERROR\"") && l.contains("NoSync")));
}

#[tokio::test]
async fn a_record_salesforce_refuses_is_quarantined_with_the_ctr() {
    let stack = Stack::start().await;
    let batch = event("batch-100.json");
    let record = batch["Records"][3].clone();
    let mut ctr = ctr_of(&record);
    ctr["InitiationTimestamp"] = json!("yesterday at noon");
    let mut bad = record.clone();
    bad["kinesis"]["data"] = json!(base64_encode(&ctr.to_string()));
    let (response, outcomes) = stack.run(&json!({"Records": [bad]})).await;
    assert!(failures(&response).is_empty());
    assert!(matches!(&outcomes[0].1, Outcome::Quarantined(reason) if reason.contains("HTTP 400")), "{outcomes:?}");
    let id = ctr["ContactId"].as_str().unwrap();
    let kept = stack.keys_under(&format!("quarantine/{id}/")).await;
    assert_eq!(kept.len(), 1);
    let body: Value = serde_json::from_str(&stack.object(&kept[0]).await.unwrap()).unwrap();
    assert_eq!(body["record"]["ContactId"], id, "the CTR itself is kept for a later replay");
}

/// A record of `base` carrying its CTR changed by `change` (same contact, same sequence number).
fn with_ctr(base: &Value, seq: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut ctr = ctr_of(base);
    change(&mut ctr);
    let mut record = base.clone();
    record["kinesis"]["data"] = json!(base64_encode(&ctr.to_string()));
    record["kinesis"]["sequenceNumber"] = json!(seq);
    record
}

/// The same contact's CTR at an older and a newer LastUpdateTimestamp, with different values.
fn older_and_newer() -> (String, Value, Value) {
    let base = event("batch-100.json")["Records"][0].clone();
    let id = ctr_of(&base)["ContactId"].as_str().unwrap().to_string();
    let older = with_ctr(&base, "1001", |c| {
        c["LastUpdateTimestamp"] = json!("2026-11-21T09:05:00Z");
        c["Agent"]["CustomerHoldDuration"] = json!(11);
    });
    let newer = with_ctr(&base, "1002", |c| {
        c["LastUpdateTimestamp"] = json!("2026-11-21T09:30:00.250Z");
        c["Agent"]["CustomerHoldDuration"] = json!(22);
    });
    (id, older, newer)
}

async fn backed_up_hold(stack: &Stack, id: &str) -> Value {
    let backup: Value = serde_json::from_str(&stack.object(id).await.expect("the backup")).unwrap();
    backup["Agent"]["CustomerHoldDuration"].clone()
}

#[tokio::test]
async fn an_older_ctr_after_a_newer_one_in_one_batch_changes_nothing() {
    let stack = Stack::start().await;
    let (id, older, newer) = older_and_newer();
    let (response, outcomes) = stack.run(&json!({"Records": [newer, older]})).await;
    assert!(failures(&response).is_empty());
    assert_eq!(outcomes[0].1, Outcome::Synced);
    assert!(
        matches!(&outcomes[1].1, Outcome::Skipped(r) if r.contains("superseded") && r.contains("2026-11-21T09:30:00.250Z")),
        "{outcomes:?}"
    );
    let call = stack.emulator().voice_call(&id).expect("VoiceCall");
    assert_eq!(call.update_count, 1, "the older CTR never reached Salesforce");
    assert_eq!(call.fields["totalHoldDuration"], 22);
    assert_eq!(backed_up_hold(&stack, &id).await, 22, "the backup keeps the newer CTR");
    assert!(
        stack.logs().lines().iter().any(|l| l.contains("superseded") && l.contains(&id)),
        "logged with its contact"
    );
}

#[tokio::test]
async fn an_older_batch_redelivered_after_a_newer_one_changes_nothing() {
    let stack = Stack::start().await;
    let (id, older, newer) = older_and_newer();
    let (_, outcomes) = stack.run(&json!({"Records": [older.clone()]})).await;
    assert_eq!(outcomes[0].1, Outcome::Synced);
    let (_, outcomes) = stack.run(&json!({"Records": [newer]})).await;
    assert_eq!(outcomes[0].1, Outcome::Synced, "a newer CTR replaces an older one");
    // Lambda delivers the older batch again.
    let (response, outcomes) = stack.run(&json!({"Records": [older]})).await;
    assert!(failures(&response).is_empty(), "superseded is a success, not retried");
    assert!(matches!(&outcomes[0].1, Outcome::Skipped(r) if r.contains("superseded")), "{outcomes:?}");
    let call = stack.emulator().voice_call(&id).expect("VoiceCall");
    assert_eq!(call.update_count, 2);
    assert_eq!(call.fields["totalHoldDuration"], 22);
    assert_eq!(backed_up_hold(&stack, &id).await, 22);
}

#[tokio::test]
async fn the_same_ctr_replayed_is_applied_again() {
    let stack = Stack::start().await;
    let (id, _, newer) = older_and_newer();
    let (_, first) = stack.run(&json!({"Records": [newer.clone()]})).await;
    let (response, again) = stack.run(&json!({"Records": [newer]})).await;
    assert!(failures(&response).is_empty());
    assert_eq!((&first[0].1, &again[0].1), (&Outcome::Synced, &Outcome::Synced), "the same version is not older");
    let call = stack.emulator().voice_call(&id).expect("VoiceCall");
    assert_eq!(call.update_count, 2);
    assert_eq!(call.fields["totalHoldDuration"], 22);
    assert_eq!(backed_up_hold(&stack, &id).await, 22);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Issue 13 item 1: a ContactId of `..` once sent `PATCH /telephony/v1/` and wrote the S3 keys `..`
/// and `quarantine/../<seq>.json`; `quarantine/forged/1` wrote a backup inside the quarantine
/// prefix. Every hostile ContactId is quarantined with the reason under `quarantine/unknown/`,
/// never sent nor backed up, and the good records of the batch still sync.
#[tokio::test]
async fn hostile_contact_ids_are_quarantined_never_sent_nor_written_elsewhere() {
    let stack = Stack::start().await;
    let batch = event("batch-100.json");
    let records = batch["Records"].as_array().unwrap();
    let hostile = scv_shared::ids::hostile_ids();
    let mut mutated = Vec::new();
    let mut hostile_seqs = HashSet::new();
    for (record, id) in records.iter().zip(&hostile) {
        let mut ctr = ctr_of(record);
        ctr["ContactId"] = json!(id);
        mutated.push(local_stack::records::with_data(record, &ctr));
        hostile_seqs.insert(seq_of(record));
    }
    let good: Vec<String> = records[hostile.len()..hostile.len() + 3]
        .iter()
        .map(|r| ctr_of(r)["ContactId"].as_str().unwrap().to_string())
        .collect();
    mutated.extend(records[hostile.len()..hostile.len() + 3].iter().cloned());
    let (response, outcomes) = stack.run(&json!({ "Records": mutated })).await;
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    for (seq, outcome) in &outcomes {
        if hostile_seqs.contains(seq) {
            match outcome {
                Outcome::Quarantined(reason) => assert!(reason.contains("ContactId"), "{reason}"),
                // An empty ContactId is no contact at all: skipped as the sync always did.
                Outcome::Skipped(_) => {}
                other => panic!("record {seq} with a hostile ContactId: {other:?}"),
            }
        } else {
            assert_eq!(*outcome, Outcome::Synced, "{seq}");
        }
    }
    let mut keys = stack.keys_under("").await;
    keys.sort();
    let mut expected: Vec<String> = good.clone();
    for (seq, outcome) in &outcomes {
        if matches!(outcome, Outcome::Quarantined(_)) {
            expected.push(format!("quarantine/unknown/{seq}.json"));
        }
    }
    expected.sort();
    assert_eq!(keys, expected, "backups of the good contacts and quarantined records only");
    let paths: Vec<String> = stack.emulator().requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let allowed: Vec<String> = good.iter().map(|id| format!("PATCH /telephony/v1/voiceCalls/{id}")).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths.iter().all(|p| allowed.contains(p)), "only the good contacts' paths: {paths:?}");
}

/// Issue 13 item 3: with SSM hanging (no SDK timeout at all), a 16-record batch under a 20 s
/// deadline answers before it, every record reported for retry, after a single SSM call: the key
/// cache remembers the failure instead of letting each record wait again.
#[tokio::test]
async fn hanging_ssm_fails_a_batch_within_its_deadline_with_one_ssm_call() {
    let stack = Stack::start().await;
    let ssm = local_stack::faults::FaultEndpoint::hanging().await.expect("fault endpoint");
    let hanging = local_stack::moto::aws_sdk_config(ssm.endpoint()).await;
    let deps = deps_for(&stack.env, &hanging, stack.s3.clone());
    let mut batch = event("batch-100.json");
    batch["Records"].as_array_mut().expect("Records").truncate(16);
    let started = std::time::Instant::now();
    let run = ctr_data_sync::handle(
        batch.clone(),
        scv_shared::retry::Deadline::after(std::time::Duration::from_secs(20)),
        &deps,
    );
    let (response, outcomes) = tokio::time::timeout(std::time::Duration::from_secs(40), run)
        .await
        .expect("an answer before the deadline")
        .expect("a Kinesis event");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "answered after {took:?}");
    let seqs: HashSet<String> = batch["Records"].as_array().unwrap().iter().map(seq_of).collect();
    assert_eq!(failures(&response).into_iter().collect::<HashSet<_>>(), seqs, "every record reported");
    assert!(outcomes.iter().all(|(_, o)| matches!(o, Outcome::Failed(_))), "{outcomes:?}");
    assert!(ssm.count("AmazonSSM.GetParameter") <= 2, "{:?}", ssm.requests());
    assert!(stack.emulator().requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The official wiring (issue 14): only INVOKE_TELEPHONY_INTEGRATION_API_ARN and LOG_LEVEL.

fn first_records(n: usize) -> Value {
    let mut batch = event("batch-100.json");
    let records = batch["Records"].as_array_mut().unwrap();
    records.truncate(n);
    batch
}

#[tokio::test]
async fn with_the_official_environment_ctrs_sync_through_invoke_telephony_integration_api() {
    let stack = Stack::official(|_| None).await;
    let batch = first_records(5);
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{:?}", failures(&response));
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Synced), "{outcomes:?}");
    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 5);
    for (record, invoke) in batch["Records"].as_array().unwrap().iter().zip(&invokes) {
        let ctr = ctr_of(record);
        let id = ctr["ContactId"].as_str().unwrap();
        assert_eq!(invoke.function, ITIA_ARN);
        assert_eq!(invoke.invocation_type, "RequestResponse");
        let params = &invoke.payload["Details"]["Parameters"];
        assert_eq!(params["methodName"], "updateVoiceCall");
        assert_eq!(params["contactId"], id);
        assert_eq!(params["fieldValues"]["startTime"], ctr["InitiationTimestamp"]);
        let call = stack.emulator().voice_call(id).expect("the VoiceCall, updated through the invoked function");
        assert_eq!(call.fields["totalHoldDuration"], ctr["Agent"]["CustomerHoldDuration"]);
    }
    assert!(stack.keys_under("").await.is_empty(), "no backup bucket in the official environment");
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_function_error_or_an_error_answer_is_reported_for_retry_never_lost() {
    use local_stack::invoke_recorder::Answer;
    let batch = first_records(4);
    let ids: Vec<String> =
        batch["Records"].as_array().unwrap().iter().map(|r| ctr_of(r)["ContactId"].as_str().unwrap().into()).collect();
    let (failing, limited, refused) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    // As this suite's template wires a mapping with ReportBatchItemFailures.
    let item_failures = [("REPORT_BATCH_ITEM_FAILURES", "true")];
    let stack = Stack::official_with(&item_failures, move |payload| {
        let id = payload["Details"]["Parameters"]["contactId"].as_str().unwrap_or_default();
        // The official function's failure: a plain Error thrown, reported as Unhandled.
        (id == failing)
            .then(|| Answer::error("Error", "Error updating VoiceCall record."))
            .or_else(|| {
                (id == limited).then(|| Answer::Ok(json!({"statusCode": "429", "errorType": "SCV_LIMITS_ERROR"})))
            })
            .or_else(|| (id == refused).then(|| Answer::error("InvalidEvent", "fieldValues is malformed")))
    })
    .await;
    let (response, outcomes) = stack.run(&batch).await;
    let seqs: Vec<String> = batch["Records"].as_array().unwrap().iter().map(seq_of).collect();
    assert_eq!(failures(&response), vec![seqs[0].clone(), seqs[1].clone()], "{outcomes:?}");
    assert!(matches!(&outcomes[0].1, Outcome::Failed(m) if m.contains("Error updating VoiceCall record.")));
    assert!(matches!(&outcomes[1].1, Outcome::Failed(m) if m.contains("SCV_LIMITS_ERROR")));
    assert!(
        matches!(&outcomes[2].1, Outcome::Quarantined(m) if m.contains("fieldValues is malformed")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3].1, Outcome::Synced);
    assert!(stack.emulator().voice_call(&ids[0]).is_none(), "the failed update never reached Salesforce");
}

#[tokio::test]
async fn cold_start_names_what_is_missing_when_neither_wiring_is_complete() {
    let stack = Stack::start().await;
    let mut env = stack.env.clone();
    env.remove("SCRT_ENDPOINT_BASE");
    let lookup = |name: &str| env.get(name).cloned();
    let err = ctr_data_sync::Deps::new(&lookup, &stack.sdk, stack.s3.clone()).unwrap_err().to_string();
    assert!(err.contains("SCRT_ENDPOINT_BASE") && err.contains("INVOKE_TELEPHONY_INTEGRATION_API_ARN"), "{err}");
}

/// Issue 14 item 2: under the official mapping (no ReportBatchItemFailures, no
/// REPORT_BATCH_ITEM_FAILURES) a record to retry fails the whole batch, after the record that can
/// never succeed was settled; Lambda's redelivery then finishes the batch.
#[tokio::test]
async fn without_item_failure_reporting_a_retry_fails_the_whole_batch_and_the_redelivery_finishes_it() {
    use local_stack::invoke_recorder::Answer;
    use std::sync::atomic::{AtomicBool, Ordering};
    let batch = first_records(3);
    let ids: Vec<String> =
        batch["Records"].as_array().unwrap().iter().map(|r| ctr_of(r)["ContactId"].as_str().unwrap().into()).collect();
    let seqs: Vec<String> = batch["Records"].as_array().unwrap().iter().map(seq_of).collect();
    let (busy, refused) = (ids[1].clone(), ids[2].clone());
    let first_delivery = std::sync::Arc::new(AtomicBool::new(true));
    let first = first_delivery.clone();
    let stack = Stack::official(move |payload| {
        let id = payload["Details"]["Parameters"]["contactId"].as_str().unwrap_or_default();
        if id == refused {
            return Some(Answer::error("InvalidEvent", "fieldValues is malformed"));
        }
        (id == busy && first.load(Ordering::SeqCst)).then(|| Answer::error("Error", "Error updating VoiceCall record."))
    })
    .await;
    let err = stack.try_run(&batch).await.expect_err("the whole batch fails");
    assert!(
        matches!(&err, ctr_data_sync::SyncError::RetryBatch(r) if r.retried == 1 && r.first_sequence_number == seqs[1]),
        "{err}"
    );
    assert_eq!(err.kind(), scv_shared::error::ErrorKind::SalesforceUnavailable);
    let text = err.to_string();
    assert!(text.contains("Error updating VoiceCall record.") && text.contains("REPORT_BATCH_ITEM_FAILURES"), "{text}");
    let settled = lines_with(stack.logs(), &format!("CTR record {} can never succeed", seqs[2]));
    // (The capture is per process and other tests use the same sample records: at least this one.)
    assert!(!settled.is_empty(), "the record that can never succeed was settled before the batch failed");
    assert!(settled.iter().all(|l| l["level"] == "ERROR"));

    // Lambda delivers the same batch again: now it passes; the refused record stays settled.
    first_delivery.store(false, Ordering::SeqCst);
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty());
    assert_eq!(outcomes[0].1, Outcome::Synced, "applied again (idempotent)");
    assert_eq!(outcomes[1].1, Outcome::Synced);
    assert!(matches!(&outcomes[2].1, Outcome::Quarantined(_)), "{outcomes:?}");
    assert!(stack.emulator().voice_call(&ids[1]).is_some());
}

/// Issue 14 item 3: the guide's example (Implementation Guide ch. 6, "Customize Synced CTR Fields
/// Using CTRDataSyncFunction") as configuration, on the sample event that carries its fields.
const GUIDE_MAPPING: &str =
    r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "DisconnectReason__c": "DisconnectReason"}"#;

async fn stack_with(extra: &[(&str, &str)]) -> Stack {
    let mut builder = local_stack::stack::Stack::builder("ctr-data-sync").capture_logs(ctr_data_sync::CATEGORY);
    for (name, value) in extra {
        builder = builder.with_env(*name, *value);
    }
    let local = builder.start().await.expect("the local stack");
    let deps = deps_for(&local.env, &local.sdk, local.s3.clone());
    Stack { local, deps }
}

#[tokio::test]
async fn the_guide_s_custom_fields_are_synced_from_configuration() {
    let stack = stack_with(&[("CTR_CUSTOM_FIELDS", GUIDE_MAPPING)]).await;
    let sample = event("custom-fields-guide-example.json");
    let (response, outcomes) = stack.run(&sample).await;
    assert!(failures(&response).is_empty());
    assert_eq!(outcomes[0].1, Outcome::Synced);
    let id = ctr_of(&sample["Records"][0])["ContactId"].as_str().unwrap().to_string();
    let update =
        stack.emulator().requests_to("PATCH", &format!("/telephony/v1/voiceCalls/{id}")).pop().expect("update");
    assert_eq!(
        update.body["callAttributes"],
        r#"{"SourceType":"Service","ConnectionAttempts__c":"3","DisconnectReason__c":"CUSTOMER_DISCONNECT"}"#
    );

    // The same mapping from an SSM parameter (CTR_CUSTOM_FIELDS_PARAM_NAME), as cold start reads it.
    let param = format!("test-{}-ctr-custom-fields", uuid::Uuid::new_v4().simple());
    local_stack::moto::put_secure_parameter(&stack.sdk, &param, GUIDE_MAPPING).await.expect("parameter");
    let env = [("CTR_CUSTOM_FIELDS_PARAM_NAME", param.as_str())];
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let ssm = scv_shared::keys::SsmClient::new(&stack.sdk);
    let from_ssm = scv_shared::ctr::custom_fields_from_env(&lookup, &ssm).await.expect("read and valid");
    assert_eq!(from_ssm, stack.deps.custom_fields);
}

#[tokio::test]
async fn without_custom_fields_the_sample_syncs_only_the_sfdc_attributes() {
    let stack = stack_with(&[]).await;
    let sample = event("custom-fields-guide-example.json");
    stack.run(&sample).await;
    let id = ctr_of(&sample["Records"][0])["ContactId"].as_str().unwrap().to_string();
    let update =
        stack.emulator().requests_to("PATCH", &format!("/telephony/v1/voiceCalls/{id}")).pop().expect("update");
    assert_eq!(update.body["callAttributes"], r#"{"SourceType":"Service"}"#);
}

#[tokio::test]
async fn an_invalid_custom_field_mapping_stops_the_cold_start_naming_the_entry() {
    let stack = Stack::start().await;
    let mut env = stack.env.clone();
    env.insert(
        "CTR_CUSTOM_FIELDS".into(),
        r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "Disconnect Reason": "DisconnectReason"}"#.into(),
    );
    let lookup = |name: &str| env.get(name).cloned();
    let err = ctr_data_sync::Deps::new(&lookup, &stack.sdk, stack.s3.clone()).unwrap_err().to_string();
    assert!(err.contains("CTR_CUSTOM_FIELDS") && err.contains("\"Disconnect Reason\""), "{err}");

    // From SSM: the parameter is named, and so is the entry.
    let param = format!("test-{}-ctr-custom-fields", uuid::Uuid::new_v4().simple());
    local_stack::moto::put_secure_parameter(&stack.sdk, &param, r#"{"X__c": {"path": "A", "type": "date"}}"#)
        .await
        .expect("parameter");
    let env = [("CTR_CUSTOM_FIELDS_PARAM_NAME", param.as_str())];
    let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let ssm = scv_shared::keys::SsmClient::new(&stack.sdk);
    let err = scv_shared::ctr::custom_fields_from_env(&lookup, &ssm).await.unwrap_err().to_string();
    assert!(err.contains(&param) && err.contains("X__c") && err.contains("date"), "{err}");
}

/// Salesforce refusing every request beyond 4 in flight (429, its concurrent request limit) while
/// the function starts at its ceiling of 10: the adaptive concurrency halves, nothing is lost (every
/// record is synced or reported for retry), and the replays of what was reported finish the batch
/// with each VoiceCall updated once.
#[tokio::test]
async fn under_a_concurrency_429_storm_the_limit_adapts_and_nothing_is_lost() {
    let stack = Stack::start().await;
    assert_eq!(stack.deps.limiter.limit(), 10, "starts wide, at CTR_SYNC_CONCURRENCY");
    stack.emulator().limit_concurrency(Some(4));
    // Each answer takes 30 ms, so requests overlap as they do against Salesforce.
    stack.emulator().inject(Fault::delay(30, 100_000));
    let batch = event("batch-100.json");
    let records = batch["Records"].as_array().unwrap().clone();
    let mut pending = batch.clone();
    for round in 0..10 {
        let (response, outcomes) = stack.run(&pending).await;
        assert!(outcomes.iter().all(|(_, o)| matches!(o, Outcome::Synced | Outcome::Failed(_))), "{outcomes:?}");
        let failed: HashSet<String> = failures(&response).into_iter().collect();
        let reported: HashSet<String> =
            outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Failed(_))).map(|(s, _)| s.clone()).collect();
        assert_eq!(failed, reported, "every record not synced is reported for retry (round {round})");
        if failed.is_empty() {
            break;
        }
        pending =
            json!({"Records": records.iter().filter(|r| failed.contains(&seq_of(r))).cloned().collect::<Vec<_>>()});
    }
    let throttled = stack.emulator().requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "the storm happened");
    assert!(stack.deps.limiter.cuts() > 0, "429s halved the limit");
    let calls = stack.emulator().voice_calls();
    assert_eq!(calls.len(), 100, "none lost");
    assert!(calls.iter().all(|c| c.update_count == 1), "none applied twice");
}

/// Issue 14: the real binary, started with exactly the official template's environment
/// (`INVOKE_TELEPHONY_INTEGRATION_API_ARN`, `LOG_LEVEL`, plus the local AWS settings), syncs CTRs
/// through InvokeTelephonyIntegrationApi; an invoke answered with a `FunctionError` fails the whole
/// batch (the official mapping ignores item failures), and Lambda's redelivery finishes it.
#[tokio::test]
async fn the_binary_started_with_the_official_environment_syncs_through_the_invoke_and_reports_a_function_error() {
    use local_stack::invoke_recorder::Answer;
    use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};
    use std::sync::atomic::{AtomicBool, Ordering};

    let batch = first_records(3);
    let ids: Vec<String> =
        batch["Records"].as_array().unwrap().iter().map(|r| ctr_of(r)["ContactId"].as_str().unwrap().into()).collect();
    let busy = ids[1].clone();
    let first_delivery = std::sync::Arc::new(AtomicBool::new(true));
    let first = first_delivery.clone();
    let stack = Stack::official(move |payload| {
        let id = payload["Details"]["Parameters"]["contactId"].as_str().unwrap_or_default();
        (id == busy && first.load(Ordering::SeqCst)).then(|| Answer::error("Error", "Error updating VoiceCall record."))
    })
    .await;
    let mut env = local_stack::moto::aws_env(&stack.moto_endpoint);
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), stack.recorder().endpoint().to_string()));
    env.extend(official_env());
    let spec = FunctionSpec::new(stack.name.clone(), binary_path("ctr-data-sync"))
        .with_envs(env)
        .with_timeout(std::time::Duration::from_secs(30));
    let function = FunctionProcess::spawn(spec).await.expect("spawn");
    function
        .wait_ready(std::time::Duration::from_secs(10))
        .await
        .expect("ready: the official configuration is accepted");

    let failed = function.invoke(batch.clone()).await.expect("invoked");
    let error = failed.result.expect_err("the FunctionError fails the batch: reported, not checkpointed");
    assert_eq!(error.error_type, "SalesforceUnavailable", "{error}");
    assert!(error.error_message.contains("Error updating VoiceCall record."), "{error}");
    assert!(stack.emulator().voice_call(&ids[1]).is_none(), "the failed update never reached Salesforce");
    assert_eq!(stack.recorder().invokes().len(), 3, "every record went through the invoke");

    first_delivery.store(false, Ordering::SeqCst);
    let done = function.invoke(batch).await.expect("invoked");
    let response = done.result.expect("the redelivered batch passes");
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    for id in &ids {
        assert!(stack.emulator().voice_call(id).is_some(), "{id} synced through the invoked function");
    }
    assert!(
        stack
            .recorder()
            .invokes()
            .iter()
            .all(|i| i.function == ITIA_ARN && i.payload["Details"]["Parameters"]["methodName"] == "updateVoiceCall")
    );
    function.shutdown().await.expect("shutdown");
}
