//! End to end through the handler against the emulator's REST side and moto (SSM): every method
//! with its sample event, query templating and escaping on the wire, token expiry mid-run, a
//! repeated 401, concurrent invocations sharing one refresh, the token shared through SSM, and no
//! token or assertion in any log line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::sync::Arc;

use invoke_salesforce_rest_api::InvokeError;
use serde_json::json;
use sf_emulator::Fault;
use support::*;

async fn seed_contact(stack: &Stack) -> (String, String) {
    let account = stack
        .emulator()
        .insert_record("Account", json!({"Name": "Acme Corporation", "Phone": "+15555550123"}))
        .expect("account");
    let contact = stack
        .emulator()
        .insert_record(
            "Contact",
            json!({"FirstName": "Jane", "LastName": "Doe", "Phone": "+15555550123", "AccountId": account}),
        )
        .expect("contact");
    (account, contact)
}

#[tokio::test]
async fn every_sample_event_works_against_the_emulator() {
    let stack = Stack::start(false).await;
    let (account, contact) = seed_contact(&stack).await;

    // queryRecord: the first record, flattened, strings only.
    let out = stack.invoke(event("01-query-record.json")).await.expect("query");
    assert_eq!(
        out,
        json!({"Id": contact, "FirstName": "Jane", "LastName": "Doe", "Account.Name": "Acme Corporation", "Account.attributes.type": "Account", "Account.attributes.url": out["Account.attributes.url"].clone()})
    );
    let query = stack.emulator().requests().into_iter().find(|r| r.path.ends_with("/query")).expect("a query request");
    assert!(query.query.as_deref().unwrap_or_default().contains("Phone"), "{:?}", query.query);

    // createRecord.
    let out = stack.invoke(event("02-create-record.json")).await.expect("create");
    let case_id = out["recordId"].as_str().expect("recordId").to_string();
    assert!(case_id.starts_with("500"));
    assert_eq!(out["success"], "true");
    let case = stack.emulator().record("Case", &case_id).expect("stored");
    assert_eq!(case["Subject"], "Billing question from the IVR");
    assert_eq!(case["Origin"], "Phone");

    // updateRecord (the sample's id replaced by the case just created).
    let update = with_params(event("03-update-record.json"), |p| {
        p.insert("recordId".into(), json!(case_id));
    });
    assert_eq!(stack.invoke(update).await.expect("update"), json!({"success": "true"}));
    assert_eq!(stack.emulator().record("Case", &case_id).expect("stored")["Status"], "Working");

    // searchRecord.
    let out = stack.invoke(event("04-search-record.json")).await.expect("search");
    assert_eq!(out["Id"], account);
    assert_eq!(out["Name"], "Acme Corporation");
    assert_eq!(out["attributes.type"], "Account");

    // realtimeAlertEvent: a RealtimeAlertEvent platform event.
    let out = stack.invoke(event("05-realtime-alert-event.json")).await.expect("publish");
    assert_eq!(out["success"], "true");
    let events = stack.emulator().platform_events("RealtimeAlertEvent");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Severity"], "Critical");

    // retryCTRSync without the backup bucket configured says what is missing.
    let err = stack.invoke(event("06-retry-ctr-sync.json")).await.expect_err("not configured");
    assert!(
        matches!(err, InvokeError::ResyncNotAvailable) && err.to_string().contains("CTR_BACKUP_S3_BUCKET"),
        "{err}"
    );

    // One grant for the whole run, shared through SSM.
    assert_eq!(stack.deps.rest.auth().grant_count(), 1);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn the_subject_can_be_an_ssm_parameter_as_in_the_official_set_up() {
    let stack = Stack::start(true).await;
    seed_contact(&stack).await;
    stack.invoke(event("01-query-record.json")).await.expect("query with the username from SSM");
    assert_eq!(stack.deps.rest.auth().grant_count(), 1);
}

#[tokio::test]
async fn injection_attempts_reach_salesforce_as_one_literal() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    let attack = with_params(event("01-query-record.json"), |p| {
        p.insert("phone".into(), json!("x' OR Name != '"));
    });
    let out = stack.invoke(attack).await.expect("a query that matches nothing");
    assert_eq!(out, json!({}), "the injected OR must not match every contact");
    let query = stack.emulator().requests().into_iter().rev().find(|r| r.path.ends_with("/query")).expect("query");
    assert_eq!(query.status, 200, "the escaped query is valid SOQL: {}", query.response);
    assert_eq!(query.response["totalSize"], 0, "and matches nothing");
}

#[tokio::test]
async fn query_and_search_failures_fail_the_invocation() {
    let stack = Stack::start(false).await;
    let bad = with_params(event("01-query-record.json"), |p| {
        p.insert("soql".into(), json!("SELECT Id FROM Contact WHERE NoSuchField__x = '{phone}'"));
    });
    let err = stack.invoke(bad).await.expect_err("invalid field");
    assert!(err.to_string().contains("queryRecord") && err.to_string().contains("INVALID_FIELD"), "{err}");
    let bad = with_params(event("04-search-record.json"), |p| {
        p.insert("sosl".into(), json!("FIND Acme RETURNING"));
    });
    let err = stack.invoke(bad).await.expect_err("malformed search");
    assert!(err.to_string().contains("searchRecord"), "{err}");
}

#[tokio::test]
async fn bad_names_and_missing_parameters_never_reach_salesforce() {
    let stack = Stack::start(false).await;
    let cases = [
        (
            with_params(event("02-create-record.json"), |p| {
                p.insert("objectApiName".into(), json!("Case/../../x"));
            }),
            "objectApiName is malformed",
        ),
        (
            with_params(event("02-create-record.json"), |p| {
                p.remove("objectApiName");
            }),
            "createRecord for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.Parameters.objectApiName is missing",
        ),
        (
            with_params(event("03-update-record.json"), |p| {
                p.insert("recordId".into(), json!("500/../001"));
            }),
            "recordId is malformed",
        ),
        (
            with_params(event("02-create-record.json"), |p| {
                p.insert("objectApiName".into(), json!({"name": "Case"}));
            }),
            "createRecord for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.Parameters.objectApiName is malformed: it is an object with keys name, expected text",
        ),
        (
            with_params(event("02-create-record.json"), |p| {
                p.remove("methodName");
            }),
            "Details.Parameters.methodName is missing (contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21)",
        ),
        (
            with_params(event("01-query-record.json"), |p| {
                p.remove("phone");
            }),
            // issue 13 item 4: the contact too
            "queryRecord for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.Parameters.soql: query placeholder {phone} has no parameter",
        ),
        (
            with_params(event("01-query-record.json"), |p| {
                p.insert("methodName".into(), json!("deleteRecord"));
            }),
            "Unsupported method: deleteRecord (Details.Parameters.methodName, contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21)",
        ),
        // A statement no request could carry is refused by name, not retried (the mutation test).
        (
            with_params(event("01-query-record.json"), |p| {
                p.insert(
                    "soql".into(),
                    json!(format!("SELECT Id FROM Case WHERE Subject = '{}'", "a".repeat(300_000))),
                );
            }),
            "queryRecord for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.Parameters.soql: the query is 300038 characters long",
        ),
        (
            with_params(event("04-search-record.json"), |p| {
                p.insert("sosl".into(), json!("a".repeat(300_000)));
            }),
            "searchRecord for contact 6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21: Details.Parameters.sosl is malformed: it is 300000 characters long",
        ),
    ];
    for (event, expected) in cases {
        let err = stack.invoke(event).await.expect_err(expected);
        assert!(err.to_string().contains(expected), "got {err}, want {expected}");
    }
    assert!(stack.emulator().requests().is_empty(), "nothing sent, not even a token request");
}

#[tokio::test]
async fn salesforce_errors_name_the_object_and_the_operation() {
    let stack = Stack::start(false).await;
    let missing_name =
        json!({"Details": {"Parameters": {"methodName": "createRecord", "objectApiName": "Account", "Phone": "+1"}}});
    let err = stack.invoke(missing_name).await.expect_err("Name is required");
    let text = err.to_string();
    assert!(text.contains("create Account") && text.contains("REQUIRED_FIELD_MISSING"), "{text}");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_mid_run() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    stack.invoke(event("01-query-record.json")).await.expect("first");
    assert_eq!(stack.deps.rest.auth().grant_count(), 1);
    stack.emulator().expire_access_tokens();
    stack.invoke(event("01-query-record.json")).await.expect("after one refresh");
    assert_eq!(stack.deps.rest.auth().grant_count(), 2, "exactly one refresh");
    let statuses: Vec<u16> =
        stack.emulator().requests().iter().filter(|r| r.path.ends_with("/query")).map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 401, 200]);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn a_second_401_is_a_clear_error_not_a_loop() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    stack.emulator().inject(Fault::status(401, 5).on("GET", "/services/data"));
    let err = stack.invoke(event("01-query-record.json")).await.expect_err("still refused");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert_eq!(stack.deps.rest.auth().grant_count(), 2, "one refresh, no more");
    let queries = stack.emulator().requests().iter().filter(|r| r.path.ends_with("/query")).count();
    assert_eq!(queries, 2);
}

#[tokio::test]
async fn concurrent_invocations_share_one_refresh() {
    let stack = Arc::new(Stack::start(false).await);
    seed_contact(&stack).await;
    stack.invoke(event("01-query-record.json")).await.expect("warm");
    stack.emulator().expire_access_tokens();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let stack = stack.clone();
            tokio::spawn(async move { stack.invoke(event("01-query-record.json")).await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.expect("joined").expect("query");
    }
    assert_eq!(stack.deps.rest.auth().grant_count(), 2, "one grant at start, one shared refresh");
}

#[tokio::test]
async fn another_container_reuses_the_token_shared_in_ssm() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    stack.invoke(event("01-query-record.json")).await.expect("first container");
    let second = stack.another_container();
    invoke_salesforce_rest_api::handle(
        event("01-query-record.json"),
        scv_shared::retry::Deadline::after(std::time::Duration::from_secs(5)),
        &second,
    )
    .await
    .expect("second container");
    assert_eq!(second.rest.auth().grant_count(), 0, "the token came from SSM");
    assert_eq!(stack.emulator().issued_token_count(), 1);
}

#[tokio::test]
async fn transient_errors_are_retried_and_limits_surface_as_such() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    stack.emulator().inject(Fault::status(503, 1).on("GET", "/services/data"));
    stack.invoke(event("01-query-record.json")).await.expect("retried past one 503");
    stack.emulator().inject(Fault::status(403, 10).on("GET", "/services/data"));
    let err = stack.invoke(event("01-query-record.json")).await.expect_err("limit");
    // An injected 403 carries REQUEST_LIMIT_EXCEEDED, which is retried and then reported as a limit.
    assert!(err.to_string().contains("REQUEST_LIMIT_EXCEEDED") && err.to_string().contains("queryRecord"), "{err}");
}

#[tokio::test]
async fn oauth_refusals_are_reported_with_salesforce_error_and_description() {
    let stack = Stack::start(false).await;
    local_stack::moto::put_secure_parameter(&stack.sdk, &stack.cfg.consumer_key_param, "3MVG9-not-our-app")
        .await
        .expect("put");
    let err = stack.invoke(event("01-query-record.json")).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("invalid_client_id") && text.contains("client identifier invalid"), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
    assert_eq!(stack.emulator().requests().iter().filter(|r| r.path.contains("/services/data")).count(), 0);
    stack.assert_logs_clean();
}

#[tokio::test]
async fn the_client_follows_next_records_url_pages() {
    let stack = Stack::start(false).await;
    let mut rest = stack.emulator().rest_config();
    rest.query_batch_size = 2;
    stack.emulator().set_rest_config(rest);
    for n in 0..5 {
        stack.emulator().insert_record("Account", json!({"Name": format!("Paged {n}")})).expect("seed");
    }
    let deadline = scv_shared::retry::Deadline::after(std::time::Duration::from_secs(5));
    let records = stack
        .deps
        .rest
        .query_all("SELECT Id, Name FROM Account WHERE Name LIKE 'Paged%' ORDER BY Name", 100, deadline)
        .await
        .expect("all pages");
    let names: Vec<&str> = records.iter().filter_map(|r| r["Name"].as_str()).collect();
    assert_eq!(names, vec!["Paged 0", "Paged 1", "Paged 2", "Paged 3", "Paged 4"]);
    let capped = stack
        .deps
        .rest
        .query_all("SELECT Id FROM Account WHERE Name LIKE 'Paged%'", 3, deadline)
        .await
        .expect("capped");
    assert_eq!(capped.len(), 3);
    let pages = stack.emulator().requests().iter().filter(|r| r.path.contains("/query")).count();
    assert_eq!(pages, 3 + 2, "three pages for the first query, two for the capped one");
}

#[tokio::test]
async fn retry_ctr_sync_replays_unsynced_calls_from_the_backup_bucket() {
    let mut stack = Stack::start(false).await;
    let scrt_keys = sf_emulator::keys::TestKeyPair::generate().expect("keys");
    stack.emulator().set_scrt_public_keys(vec![scrt_keys.public_pem.clone()]);
    let scrt_param = unique("scrt-key");
    local_stack::moto::put_secure_parameter(&stack.sdk, &scrt_param, &scrt_keys.private_pkcs1_pem).await.expect("key");
    let s3 = scv_shared::aws::s3_client(&stack.sdk);
    let bucket = format!("ctr-backup-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let env = std::collections::HashMap::from([
        ("CTR_BACKUP_S3_BUCKET".to_string(), bucket.clone()),
        ("SCRT_PRIVATE_KEY_PARAM_NAME".to_string(), scrt_param),
        ("SALESFORCE_ORG_ID".to_string(), ORG_ID.to_string()),
        ("CALL_CENTER_API_NAME".to_string(), "ACME_CC".to_string()),
        ("SCRT_ENDPOINT_BASE".to_string(), stack.emulator().scrt_base()),
    ]);
    let lookup = |k: &str| env.get(k).cloned();
    stack.deps.resync =
        invoke_salesforce_rest_api::resync_from_env(&lookup, scv_shared::keys::SsmClient::new(&stack.sdk), s3.clone())
            .expect("config");
    let resync = stack.deps.resync.as_ref().expect("configured");

    // A call whose CTR sync was missed, and its backup.
    let request = scv_shared::scrt::CreateVoiceCall {
        call_center_api_name: "ACME_CC".into(),
        vendor_call_key: "c-missed".into(),
        to: "+15555550100".into(),
        from: "+15555550123".into(),
        initiation_method: "Inbound".into(),
        start_time: "2026-11-21T09:15:02Z".into(),
        call_subtype: None,
        parent_voice_call_id: None,
        queue: None,
        call_origin: None,
        call_attributes: None,
        participants: vec![scv_shared::scrt::Participant::end_user("+15555550123")],
    };
    let deadline = scv_shared::retry::Deadline::after(std::time::Duration::from_secs(5));
    resync.telephony.create_voice_call(&request, deadline).await.expect("created");
    let ctr = json!({"ContactId": "c-missed", "InitiationMethod": "INBOUND", "Agent": {"CustomerHoldDuration": 42, "NumberOfHolds": 2}});
    s3.put_object()
        .bucket(&bucket)
        .key("c-missed")
        .body(ctr.to_string().into_bytes().into())
        .send()
        .await
        .expect("backup");

    let out = stack.invoke(event("06-retry-ctr-sync.json")).await.expect("resync");
    assert_eq!(out, json!({"found": "1", "resynced": "1", "noBackup": "0", "failed": "0"}));
    assert_eq!(stack.emulator().voice_call("c-missed").expect("call").fields["totalHoldDuration"], 42);
}

#[tokio::test]
async fn a_200_without_the_documented_answer_is_an_error_not_no_match() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    let create = event("02-create-record.json");
    for (name, event, missing) in [
        ("query", event("01-query-record.json"), "missing field `done`"),
        ("search", event("04-search-record.json"), "missing field `searchRecords`"),
        ("create", create, "missing field `id`"),
    ] {
        stack.emulator().inject(Fault::body(json!({"foo": 1}), 1).on("", "/services/data"));
        let err = stack.invoke(event).await.expect_err(name);
        assert_eq!(err.kind(), scv_shared::error::ErrorKind::SalesforceError, "{name}: {err}");
        assert!(err.to_string().contains(missing), "{name}: {err}");
    }
}

#[tokio::test]
async fn a_wrong_type_the_method_does_not_read_is_no_error() {
    let stack = Stack::start(false).await;
    seed_contact(&stack).await;
    let mut odd = event("01-query-record.json");
    odd["Details"]["ContactData"]["Channel"] = json!(12345);
    odd["Details"]["ContactData"]["CustomerEndpoint"] = json!(7);
    odd["Details"]["ContactData"]["Attributes"] = json!("x");
    let out = stack.invoke(odd).await.expect("queryRecord reads none of these");
    assert_eq!(out["LastName"], "Doe", "{out}");
    let err = stack.invoke(json!({"Details": {"Parameters": [1]}})).await.expect_err("Parameters");
    assert!(err.to_string().contains("Details.Parameters: invalid type: sequence"), "{err}");
}

/// Issue 13 item 2: a create that may have reached Salesforce is never sent again.
#[tokio::test]
async fn a_create_that_may_have_succeeded_is_not_sent_again() {
    let stack = Stack::start(false).await;
    let posts = |stack: &Stack| {
        stack.emulator().requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/sobjects/Case")).count()
    };

    // Salesforce creates the Case, then answers 502.
    stack.emulator().inject(Fault::applied_then_status(502, 1).on("POST", "/sobjects/Case"));
    let err = stack.invoke(event("02-create-record.json")).await.expect_err("the 502 reaches the flow");
    assert!(err.to_string().contains("createRecord") || err.to_string().contains("Case"), "{err}");
    assert_eq!(posts(&stack), 1, "sent once");
    assert_eq!(stack.emulator().records("Case").len(), 1, "exactly one Case");

    // Salesforce creates the Case, then answers after the 3 s attempt timeout.
    stack.emulator().inject(Fault::applied_then_delay(3_500, 1).on("POST", "/sobjects/Case"));
    let err = stack.invoke(event("02-create-record.json")).await.expect_err("timed out");
    assert!(err.to_string().contains("timed out"), "{err}");
    // (The timed-out exchange is never recorded as a request: its answer was not waited for.)
    assert_eq!(stack.emulator().records("Case").len(), 2, "one Case per invocation: not retried");

    // A limit answer is refused before any work: retried, one Case.
    stack.emulator().inject(Fault::status(429, 1).with_retry_after(0).on("POST", "/sobjects/Case"));
    stack.invoke(event("02-create-record.json")).await.expect("retried past a 429");
    assert_eq!(stack.emulator().records("Case").len(), 3);
}

/// The same for a platform event publish (`realtimeAlertEvent`).
#[tokio::test]
async fn a_publish_answered_502_after_publishing_is_not_sent_again() {
    let stack = Stack::start(false).await;
    stack.emulator().inject(Fault::applied_then_status(502, 1).on("POST", "/sobjects/"));
    stack.invoke(event("05-realtime-alert-event.json")).await.expect_err("the 502 reaches the flow");
    let posts =
        stack.emulator().requests().iter().filter(|r| r.method == "POST" && r.path.contains("/sobjects/")).count();
    assert_eq!(posts, 1, "published once");
}

/// Issue 13 item 3: with only the token-sharing `PutParameter` hanging (reads answered by moto),
/// the flow still gets its result, well inside Connect's 8 s.
#[tokio::test]
async fn a_hanging_token_share_does_not_delay_the_answer() {
    let stack = Stack::start(false).await;
    let (_account, contact) = seed_contact(&stack).await;
    let moto = stack.sdk.endpoint_url().expect("the local stack's endpoint").to_string();
    let ssm = local_stack::faults::FaultEndpoint::forwarding(
        &moto,
        &[("AmazonSSM.PutParameter", local_stack::faults::Fault::Hang)],
    )
    .await
    .expect("fault endpoint");
    let sdk = local_stack::moto::aws_sdk_config(ssm.endpoint()).await;
    let deps = invoke_salesforce_rest_api::Deps::new(&stack.cfg, scv_shared::keys::SsmClient::new(&sdk));
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        invoke_salesforce_rest_api::handle(
            event("01-query-record.json"),
            scv_shared::retry::Deadline::after(std::time::Duration::from_secs(20)),
            &deps,
        ),
    )
    .await
    .expect("an answer before Connect gives up");
    let took = started.elapsed();
    let out = answer.expect("the query result");
    assert_eq!(out["Id"], json!(contact));
    assert!(took < std::time::Duration::from_secs(4), "answered after {took:?}");
    assert_eq!(ssm.count("AmazonSSM.PutParameter"), 1, "the token was offered to SSM: {:?}", ssm.requests());
}
