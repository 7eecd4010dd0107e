//! The resync against both sides of the Salesforce emulator and moto S3: VoiceCalls left unsynced
//! are found by SOQL and brought up to date from their backups; a call without a backup is counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use ctr_sync_retry::handle;
use scv_shared::resync::ResyncCounts;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};
use support::*;

fn ctr(contact: &str, hold: u64) -> Value {
    json!({
        "ContactId": contact, "Channel": "VOICE", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-11-21T09:15:02Z", "DisconnectTimestamp": "2026-11-21T09:21:05Z",
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "Agent": {"ConnectedToAgentTimestamp": "2026-11-21T09:15:40Z", "CustomerHoldDuration": hold, "LongestHoldDuration": hold, "AgentInteractionDuration": 300, "NumberOfHolds": 1},
        "Queue": {"EnqueueTimestamp": "2026-11-21T09:15:10Z", "Name": "Billing"},
        "SystemEndpoint": {"Address": "+15555550100"}, "CustomerEndpoint": {"Address": "+15555550123"},
        "Attributes": {"sfdc-SourceType": "Service"}
    })
}

/// Creates a VoiceCall through the Telephony API, as a flow would.
async fn create_call(stack: &Stack, contact: &str) {
    let request = scv_shared::scrt::CreateVoiceCall {
        call_center_api_name: "ACME_CC".into(),
        vendor_call_key: contact.into(),
        to: "+15555550100".into(),
        from: "+15555550123".into(),
        initiation_method: "Inbound".into(),
        start_time: "2026-11-21T09:15:02Z".into(),
        call_subtype: Some("PSTN".into()),
        parent_voice_call_id: None,
        queue: None,
        call_origin: None,
        call_attributes: None,
        participants: vec![scv_shared::scrt::Participant::end_user("+15555550123")],
    };
    stack
        .deps
        .resync
        .telephony
        .create_voice_call(&request, Deadline::after(Duration::from_secs(5)))
        .await
        .expect("created");
}

#[tokio::test]
async fn unsynced_calls_are_found_and_replayed_from_their_backups() {
    let stack = Stack::start().await;
    for contact in ["c-synced", "c-missed-1", "c-missed-2", "c-no-backup", "c-too-old"] {
        create_call(&stack, contact).await;
    }
    // c-synced got its CTR in time; the others did not.
    stack.back_up("c-synced", &ctr("c-synced", 5)).await;
    stack.back_up("c-missed-1", &ctr("c-missed-1", 12)).await;
    stack.back_up("c-missed-2", &ctr("c-missed-2", 0)).await;
    stack.back_up("c-too-old", &ctr("c-too-old", 7)).await;
    let synced = scv_shared::ctr::to_voice_call_fields(&scv_shared::ctr::Ctr::from_value(ctr("c-synced", 5)).unwrap());
    stack
        .deps
        .resync
        .telephony
        .update_voice_call("c-synced", &synced, Deadline::after(Duration::from_secs(5)))
        .await
        .expect("synced");
    assert!(stack.emulator().set_voice_call_created_date("c-too-old", chrono::Utc::now() - chrono::Duration::days(3)));

    let scheduled = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let counts = handle(scheduled, Deadline::after(Duration::from_secs(60)), &stack.deps).await.expect("a run");
    assert_eq!(counts, ResyncCounts { found: 3, resynced: 2, no_backup: 1, failed: 0 });
    for (contact, hold) in [("c-missed-1", 12), ("c-missed-2", 0)] {
        let call = stack.emulator().voice_call(contact).expect("call");
        assert_eq!(call.fields["totalHoldDuration"], hold, "{contact} brought up to date");
        assert_eq!(call.fields["endTime"], "2026-11-21T09:21:05Z");
    }
    assert!(
        stack.emulator().voice_call("c-too-old").unwrap().fields.get("totalHoldDuration").is_none(),
        "outside the window"
    );
    assert!(stack.emulator().voice_call("c-no-backup").unwrap().fields.get("totalHoldDuration").is_none());

    // A second run finds only the call that has no backup.
    let again =
        handle(json!({"detail-type": "Scheduled Event"}), Deadline::after(Duration::from_secs(60)), &stack.deps)
            .await
            .expect("run");
    assert_eq!(again, ResyncCounts { found: 1, resynced: 0, no_backup: 1, failed: 0 });
}

#[tokio::test]
async fn the_documented_retry_ctr_sync_event_runs_its_query() {
    let stack = Stack::start().await;
    create_call(&stack, "c-old-call").await;
    stack.back_up("c-old-call", &ctr("c-old-call", 9)).await;
    assert!(
        stack.emulator().set_voice_call_created_date("c-old-call", chrono::Utc::now() - chrono::Duration::days(30))
    );
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/ctr-sync-retry/retry-ctr-sync.json");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
    let counts = handle(event, Deadline::after(Duration::from_secs(60)), &stack.deps).await.expect("run");
    assert_eq!(
        counts,
        ResyncCounts { found: 1, resynced: 1, no_backup: 0, failed: 0 },
        "the documented query has no window"
    );
}

#[tokio::test]
async fn a_failed_query_fails_the_run_and_update_failures_are_counted() {
    let stack = Stack::start().await;
    let bad = json!({"Details": {"Parameters": {"methodName": "retryCTRSync", "soql": "SELECT Id FROM VoiceCall WHERE Nope__x = 1"}}});
    let err = handle(bad, Deadline::after(Duration::from_secs(30)), &stack.deps).await.expect_err("bad query");
    assert!(err.to_string().contains("INVALID_FIELD"), "{err}");

    create_call(&stack, "c-refused").await;
    stack.back_up("c-refused", &ctr("c-refused", 3)).await;
    stack.emulator().inject(sf_emulator::Fault::status(500, 100).on("PATCH", "/voiceCalls/c-refused"));
    let counts =
        handle(json!({"detail-type": "Scheduled Event"}), Deadline::after(Duration::from_secs(60)), &stack.deps)
            .await
            .expect("run");
    assert_eq!(counts, ResyncCounts { found: 1, resynced: 0, no_backup: 0, failed: 1 });
}

/// Issue 13 item 1: a VoiceCall whose VendorCallKey is a dot segment, holds a separator or a
/// control character, or is over-long is counted as failed: its backup is not read and no update
/// is sent (`..` once reached `PATCH /telephony/v1/`).
#[tokio::test]
async fn hostile_vendor_call_keys_reach_no_endpoint() {
    let stack = Stack::start().await;
    let mut created = 0;
    for id in scv_shared::ids::hostile_ids().into_iter().filter(|id| !id.trim().is_empty()) {
        let mut request = local_stack::stack::inbound_call(&id, "2026-11-21T09:15:02Z");
        request.call_center_api_name = stack.deps.resync.telephony.call_center_api_name().to_string();
        let deadline = Deadline::after(Duration::from_secs(5));
        if stack.deps.resync.telephony.create_voice_call(&request, deadline).await.is_ok() {
            created += 1;
            // A backup where S3 takes the key: without the check, the update would be replayed.
            let _ = stack.put_object(&id, ctr(&id, 4).to_string()).await;
        }
    }
    assert!(created >= 8, "the emulator keeps most hostile keys ({created})");
    let counts =
        handle(json!({"detail-type": "Scheduled Event"}), Deadline::after(Duration::from_secs(60)), &stack.deps)
            .await
            .expect("run");
    assert_eq!(counts, ResyncCounts { found: created, resynced: 0, no_backup: 0, failed: created });
    let patches: Vec<String> =
        stack.emulator().requests().iter().filter(|r| r.method == "PATCH").map(|r| r.path.clone()).collect();
    assert!(patches.is_empty(), "no update may be sent: {patches:?}");
}

#[tokio::test]
async fn any_other_event_fails_with_invalid_event_and_runs_no_resync() {
    let stack = Stack::start().await;
    create_call(&stack, "c-missed").await;
    stack.back_up("c-missed", &ctr("c-missed", 12)).await;
    let before = stack.emulator().requests().len();
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]});
    for event in [json!(null), json!([]), json!(42), json!({}), sns] {
        let err = handle(event.clone(), Deadline::after(Duration::from_secs(10)), &stack.deps)
            .await
            .expect_err(&event.to_string());
        assert_eq!(err.kind(), scv_shared::error::ErrorKind::InvalidEvent, "{event}: {err}");
    }
    assert_eq!(stack.emulator().requests().len(), before, "nothing reached Salesforce");
    assert!(stack.emulator().voice_call("c-missed").unwrap().fields.get("totalHoldDuration").is_none());
}

/// Issue 14 item 3: the guide's custom fields (Implementation Guide ch. 6, "Customize Synced CTR
/// Fields Using CTRDataSyncFunction") are applied by the resync as CTRDataSync applies them.
#[tokio::test]
async fn the_resync_applies_the_configured_custom_fields() {
    let mapping =
        r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "DisconnectReason__c": "DisconnectReason"}"#;
    let stack = Stack::start_with(&[("CTR_CUSTOM_FIELDS", mapping)]).await;
    create_call(&stack, "c-custom").await;
    let mut backup = ctr("c-custom", 4);
    backup["Attributes"]["ConnectionAttempts"] = json!("3");
    stack.back_up("c-custom", &backup).await;
    let scheduled = json!({"detail-type": "Scheduled Event"});
    let counts = handle(scheduled, Deadline::after(Duration::from_secs(60)), &stack.deps).await.expect("a run");
    assert_eq!(counts, ResyncCounts { found: 1, resynced: 1, no_backup: 0, failed: 0 });
    let update =
        stack.emulator().requests_to("PATCH", "/telephony/v1/voiceCalls/c-custom").pop().expect("the resync's update");
    assert_eq!(
        update.body["callAttributes"],
        r#"{"SourceType":"Service","ConnectionAttempts__c":"3","DisconnectReason__c":"CUSTOMER_DISCONNECT"}"#
    );
}

#[tokio::test]
async fn an_invalid_custom_field_mapping_stops_the_cold_start_naming_the_entry() {
    let stack = Stack::start().await;
    let mut env = stack.env.clone();
    env.insert(
        "CTR_CUSTOM_FIELDS".into(),
        r#"{"ConnectionAttempts__c": {"path": "Attributes.ConnectionAttempts", "type": "integer"}}"#.into(),
    );
    let lookup = |name: &str| env.get(name).cloned();
    let err = ctr_sync_retry::Deps::new(&lookup, scv_shared::keys::SsmClient::new(&stack.sdk), stack.s3.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CTR_CUSTOM_FIELDS") && err.contains("ConnectionAttempts__c") && err.contains("integer"),
        "{err}"
    );
}
