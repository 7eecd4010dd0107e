//! `scv` end to end: the real binary against moto and the Salesforce emulator, with the caller's AWS
//! settings as environment variables (and `--endpoint-url`), the functions' settings as their own
//! variable names. Every subcommand, each doctor check seen failing on a broken set-up, exit codes,
//! and no private key in any output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::time::Duration;

use local_stack::moto::{Moto, aws_env, aws_sdk_config};
use scv_shared::resync::ResyncClients;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

async fn scv(env: &[(String, String)], args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scv"))
        .env_clear()
        .envs(env.iter().cloned())
        .args(args)
        .output()
        .await
        .expect("scv runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// No PEM private key header and no line of `keys` in `run`'s output.
fn assert_no_private_key(run: &Run, keys: &[&str]) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        for key in keys {
            for line in key.lines().filter(|l| !l.starts_with("-----") && l.len() > 20) {
                assert!(!text.contains(line), "a private key line in the output: {text}");
            }
        }
    }
}

async fn value(sdk: &aws_config::SdkConfig, name: &str) -> Option<String> {
    let out = aws_sdk_ssm::Client::new(sdk).get_parameter().name(name).with_decryption(true).send().await.ok()?;
    out.parameter?.value
}

/// AWS settings without AWS_ENDPOINT_URL: the endpoint is given with `--endpoint-url`.
fn caller_env(endpoint: &str) -> Vec<(String, String)> {
    aws_env(endpoint).into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL").collect()
}

#[tokio::test]
async fn keys_generate_stage_promote_show_print_certificates_never_keys() {
    let moto = Moto::shared().expect("moto");
    let endpoint = moto.endpoint();
    let sdk = aws_sdk_config(&endpoint).await;
    let env = caller_env(&endpoint);
    let param = format!("cli-{}-scrt-jwt-auth-private-key", uuid::Uuid::new_v4().simple());
    let base = ["--endpoint-url", endpoint.as_str(), "keys"];
    let with = |extra: &[&str]| base.iter().chain(extra.iter()).copied().map(str::to_string).collect::<Vec<_>>();
    let run = |extra: Vec<String>| {
        let env = env.clone();
        async move { scv(&env, &extra.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    let missing = run(with(&["show", "--param", &param])).await;
    assert_eq!(missing.code, 3, "not found: {}", missing.stderr);
    assert!(missing.stderr.contains("scv keys generate"), "{}", missing.stderr);

    let generated = run(with(&["generate", "--param", &param, "--unit", "ACME_CC", "--days", "30", "--json"])).await;
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let out = generated.json();
    let first_key = value(&sdk, &param).await.expect("the key is stored");
    scv_shared::keys::parse_private_key(&first_key, &param).expect("the functions read it");
    let certificate = out["certificate"].as_str().unwrap().to_string();
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(value(&sdk, &format!("{param}-certificate")).await.as_deref(), Some(certificate.as_str()));
    assert_no_private_key(&generated, &[&first_key]);

    let staged = run(with(&["stage", "--param", &param, "--unit", "ACME_CC"])).await;
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    assert!(staged.stdout.contains("-----BEGIN CERTIFICATE-----"), "{}", staged.stdout);
    assert!(staged.stdout.contains(&format!("scv keys promote --param {param}")), "the next step: {}", staged.stdout);
    let staged_key = value(&sdk, &format!("{param}-next")).await.expect("staged");
    assert_ne!(staged_key, first_key);
    assert_eq!(value(&sdk, &param).await.as_deref(), Some(first_key.as_str()), "the key in use is untouched");

    let shown = run(with(&["show", "--param", &param, "--json"])).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let shown_json = shown.json();
    assert_eq!(shown_json["certificate"], json!(certificate));
    assert_eq!(shown_json["promoted"], json!(false));
    assert_eq!(shown_json["certificateDetails"]["organizationalUnit"], json!("ACME_CC"));
    assert!(shown_json["staged"].is_object());
    assert_no_private_key(&shown, &[&first_key, &staged_key]);

    let promoted = run(with(&["promote", "--param", &param])).await;
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(value(&sdk, &param).await.as_deref(), Some(staged_key.as_str()), "the staged key is in use");
    let shown = run(with(&["show", "--param", &param])).await;
    assert!(shown.stdout.contains("promoted"), "{}", shown.stdout);
    assert_no_private_key(&shown, &[&first_key, &staged_key]);
    assert_no_private_key(&promoted, &[&first_key, &staged_key]);

    let other = format!("{param}-other");
    let nothing = run(with(&["promote", "--param", &other])).await;
    assert_eq!(nothing.code, 3, "nothing staged: {}", nothing.stderr);
    assert!(nothing.stderr.contains("nothing is staged"), "{}", nothing.stderr);

    let usage = run(with(&["stage", "--param", &param])).await;
    assert_eq!(usage.code, 2, "--unit is required: {}", usage.stderr);
    let bad_days = run(with(&["stage", "--param", &param, "--unit", "X", "--days", "0"])).await;
    assert_eq!(bad_days.code, 2, "{}", bad_days.stderr);
}

/// The CTR resync's local stack (both sides of the emulator, moto with both keys, a bucket) and the
/// environment `scv` gets: the caller's AWS settings and the functions' variables.
async fn resync_stack() -> (local_stack::stack::Stack, Vec<(String, String)>) {
    let stack = local_stack::stack::Stack::builder("ctr-sync-retry").start().await.expect("the local stack");
    let env = stack.process_env();
    (stack, env)
}

fn ctr(contact: &str) -> Value {
    json!({
        "ContactId": contact, "Channel": "VOICE", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-11-21T09:15:02Z", "DisconnectTimestamp": "2026-11-21T09:21:05Z",
        "Agent": {"ConnectedToAgentTimestamp": "2026-11-21T09:15:40Z", "CustomerHoldDuration": 7, "LongestHoldDuration": 7, "AgentInteractionDuration": 300, "NumberOfHolds": 1},
        "SystemEndpoint": {"Address": "+15555550100"}, "CustomerEndpoint": {"Address": "+15555550123"}
    })
}

#[tokio::test]
async fn ctr_resync_replays_backups_of_the_window_and_reports_the_counts() {
    let (stack, env) = resync_stack().await;
    let clients = ResyncClients::from_env(
        &stack.env(),
        aws_sdk_ssm::Client::new(&stack.sdk),
        stack.s3.clone(),
        reqwest::Client::new(),
    )
    .unwrap();
    let missed = format!("cli-missed-{}", uuid::Uuid::new_v4().simple());
    let lost = format!("cli-lost-{}", uuid::Uuid::new_v4().simple());
    for contact in [&missed, &lost] {
        let call = local_stack::stack::inbound_call(contact, "2026-11-21T09:15:02Z");
        clients.telephony.create_voice_call(&call, Deadline::after(Duration::from_secs(5))).await.unwrap();
    }
    stack.put_object(&missed, ctr(&missed).to_string()).await.unwrap();

    let run = scv(&env, &["ctr", "resync", "--since", "2h", "--grace", "0m", "--json"]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let out = run.json();
    assert_eq!(out["counts"], json!({"found": 2, "resynced": 1, "noBackup": 1, "failed": 0}), "{out}");
    let call = stack.emulator().voice_call(&missed).expect("the call");
    assert_eq!(call.fields["totalHoldDuration"], json!(7), "updated from the backup");

    let human = scv(&env, &["ctr", "resync", "--since", "2h", "--grace", "0m"]).await;
    assert!(human.stdout.contains("found 1, resynced 0, noBackup 1, failed 0"), "{}", human.stdout);
    assert!(human.stdout.contains("noBackup:"), "the hint: {}", human.stdout);

    // A Salesforce that refuses the updates: failed calls are counted and the exit code says so.
    let missed_again = format!("cli-again-{}", uuid::Uuid::new_v4().simple());
    let call = local_stack::stack::inbound_call(&missed_again, "2026-11-21T09:15:02Z");
    clients.telephony.create_voice_call(&call, Deadline::after(Duration::from_secs(5))).await.unwrap();
    stack.put_object(&missed_again, ctr(&missed_again).to_string()).await.unwrap();
    let other = scv_shared::keygen::generate("X", 1, chrono::Utc::now().timestamp()).unwrap();
    stack.emulator().set_scrt_public_keys(vec![other.certificate_pem]);
    let failing = scv(&env, &["ctr", "resync", "--since", "2h", "--grace", "0m", "--json"]).await;
    assert_eq!(failing.code, 4, "{} {}", failing.stdout, failing.stderr);
    assert_eq!(failing.json()["counts"]["failed"], json!(1));

    let usage = scv(&env, &["ctr", "resync", "--since", "soon"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let unset: Vec<_> = env.iter().filter(|(k, _)| k != "SALESFORCE_ORG_ID").cloned().collect();
    let unconfigured = scv(&unset, &["ctr", "resync", "--since", "1h"]).await;
    assert_eq!(unconfigured.code, 2, "{}", unconfigured.stderr);
    assert!(unconfigured.stderr.contains("SALESFORCE_ORG_ID"), "{}", unconfigured.stderr);
}

#[tokio::test]
async fn ctr_quarantine_list_and_show() {
    let (stack, env) = resync_stack().await;
    let contact = format!("cli-q-{}", uuid::Uuid::new_v4().simple());
    let key = format!("quarantine/{contact}/49590338271490256608559692538361571095921575989136588898.json");
    let record = json!({"reason": "ContactId: not a valid id", "contactId": contact, "quarantinedAt": "2026-12-04T10:00:00.000Z",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898", "record": {"ContactId": contact}});
    stack.put_object(&key, record.to_string()).await.unwrap();

    let list = scv(&env, &["ctr", "quarantine", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("1 quarantined CTR(s)"), "{}", list.stdout);
    assert!(
        list.stdout.contains(&contact) && list.stdout.contains("reason: ContactId: not a valid id"),
        "{}",
        list.stdout
    );
    let json = scv(&env, &["ctr", "quarantine", "list", "--json"]).await.json();
    assert_eq!(json["quarantined"][0]["key"], json!(key));

    let show = scv(&env, &["ctr", "quarantine", "show", &key, "--json"]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.json(), record);
    let missing = scv(&env, &["ctr", "quarantine", "show", "quarantine/nope.json"]).await;
    assert_eq!(missing.code, 3, "{}", missing.stderr);
}

#[tokio::test]
async fn ctr_quarantine_replay_runs_the_sync_steps_and_empties_the_quarantine() {
    let (stack, env) = resync_stack().await;
    let good = format!("cli-r-{}", uuid::Uuid::new_v4().simple());
    let quarantined = |contact: &str, record: Value| {
        json!({"reason": "VoiceCall update refused: HTTP 400", "contactId": contact, "sequenceNumber": "1",
            "quarantinedAt": "2026-12-04T10:00:00.000Z", "record": record, "data": null})
    };
    let good_key = format!("quarantine/{good}/1.json");
    stack.put_object(&good_key, quarantined(&good, ctr(&good)).to_string()).await.unwrap();
    let raw_key = format!("quarantine/unknown/{}.json", uuid::Uuid::new_v4().simple());
    let raw =
        json!({"reason": "not JSON", "contactId": null, "sequenceNumber": "2", "record": null, "data": "bm90IGpzb24="});
    stack.put_object(&raw_key, raw.to_string()).await.unwrap();

    let run = scv(&env, &["ctr", "quarantine", "replay", "--all", "--json"]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let out = run.json();
    assert_eq!(out["counts"], json!({"replayed": 1, "superseded": 0, "skipped": 1, "failed": 0}), "{out}");
    let call = stack.emulator().voice_call(&good).expect("the update made the call");
    assert_eq!(call.fields["totalHoldDuration"], json!(7), "the CTR mapping reached Salesforce");
    assert_eq!(stack.object(&good).await, Some(ctr(&good).to_string()), "backed up as the sync does");
    assert!(stack.object(&good_key).await.is_none(), "a replayed record leaves the quarantine");
    assert!(stack.object(&raw_key).await.is_some(), "an undecodable one stays");

    // A replay Salesforce refuses stays in the quarantine; the exit code says so.
    let other = scv_shared::keygen::generate("X", 1, chrono::Utc::now().timestamp()).unwrap();
    stack.emulator().set_scrt_public_keys(vec![other.certificate_pem]);
    let refused = format!("cli-refused-{}", uuid::Uuid::new_v4().simple());
    let refused_key = format!("quarantine/{refused}/3.json");
    stack.put_object(&refused_key, quarantined(&refused, ctr(&refused)).to_string()).await.unwrap();
    let run = scv(&env, &["ctr", "quarantine", "replay", &refused_key]).await;
    assert_eq!(run.code, 4, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("failed") && run.stdout.contains("401"), "{}", run.stdout);
    assert!(stack.object(&refused_key).await.is_some(), "it stays quarantined");
    let usage = scv(&env, &["ctr", "quarantine", "replay"]).await;
    assert_eq!(usage.code, 2, "keys or --all: {}", usage.stderr);
}

fn status<'a>(report: &'a Value, check: &str) -> &'a str {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == check).unwrap()["status"].as_str().unwrap()
}

#[tokio::test]
async fn doctor_passes_a_healthy_deployment_and_names_each_broken_part_with_its_fix() {
    let (stack, env) = resync_stack().await;
    let healthy = scv(&env, &["doctor", "--json"]).await;
    assert_eq!(healthy.code, 0, "{} {}", healthy.stdout, healthy.stderr);
    let report = healthy.json();
    for check in ["key", "token", "oauth", "backup"] {
        assert_eq!(status(&report, check), "pass", "{check}: {report}");
    }
    let text = scv(&env, &["doctor"]).await;
    assert!(text.stdout.contains("Every check that ran passed."), "{}", text.stdout);
    assert_no_private_key(&text, &stack.key_pairs().iter().map(|k| k.private_pkcs8_pem.as_str()).collect::<Vec<_>>());

    // Each broken set-up fails its check, with the fix, and exit code 4.
    let cases: [(&str, &str, String, &str); 3] = [
        ("key", "SCRT_PRIVATE_KEY_PARAM_NAME", "no-such-key-parameter".to_string(), "scv keys generate"),
        ("backup", "CTR_BACKUP_S3_BUCKET", "no-such-bucket-for-doctor".to_string(), "CTR_BACKUP_S3_BUCKET"),
        ("oauth", "SUBJECT", "nobody@example.com".to_string(), "pre-authorized"),
    ];
    for (check, name, value, fix) in cases {
        let set = format!("{name}={value}");
        let run = scv(&env, &["doctor", "--set", &set]).await;
        assert_eq!(run.code, 4, "{check}: {} {}", run.stdout, run.stderr);
        let line = run.stdout.lines().find(|l| l.starts_with("[FAIL]")).unwrap_or_default();
        assert!(line.contains(check), "{check}: {}", run.stdout);
        assert!(run.stdout.contains(fix), "{check}: the fix: {}", run.stdout);
        let report = scv(&env, &["doctor", "--json", "--set", &set]).await.json();
        assert_eq!(status(&report, check), "fail", "{report}");
    }

    // The org no longer accepts the key's certificate: the token check fails (and only it).
    let other = scv_shared::keygen::generate("X", 1, chrono::Utc::now().timestamp()).unwrap();
    stack.emulator().set_scrt_public_keys(vec![other.certificate_pem]);
    let refused = scv(&env, &["doctor", "--json"]).await;
    assert_eq!(refused.code, 4);
    let report = refused.json();
    assert_eq!(status(&report, "token"), "fail", "{report}");
    assert_eq!(status(&report, "key"), "pass");
    let text = scv(&env, &["doctor"]).await.stdout;
    assert!(text.contains("upload its certificate"), "{text}");

    // Mid-rotation (staged, certificate uploaded, not promoted): a warning with the next step.
    let param = stack.scrt_param.clone().unwrap();
    let staged = scv(&env, &["keys", "stage", "--param", &param, "--unit", "ACME_CC", "--json"]).await;
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    let certificate = staged.json()["certificate"].as_str().unwrap().to_string();
    stack.emulator().set_scrt_public_keys(vec![certificate]);
    let mid = scv(&env, &["doctor", "--json"]).await;
    assert_eq!(mid.code, 0, "a warning is not a failure: {}", mid.stdout);
    assert_eq!(status(&mid.json(), "token"), "warn", "{}", mid.stdout);
    assert!(scv(&env, &["doctor"]).await.stdout.contains("scv keys promote"));
    assert_eq!(scv(&env, &["keys", "promote", "--param", &param]).await.code, 0);
    assert_eq!(status(&scv(&env, &["doctor", "--json"]).await.json(), "token"), "pass");

    // Without Salesforce settings the checks that need them are skipped, not failed.
    let bare: Vec<_> = env.iter().filter(|(k, _)| k.starts_with("AWS_")).cloned().collect();
    let skipped = scv(&bare, &["doctor", "--json"]).await;
    assert_eq!(skipped.code, 0, "{}", skipped.stdout);
    assert_eq!(status(&skipped.json(), "key"), "skip");
}

/// The replay runs CTRDataSync's own steps (scv_shared::ctr_sync): this deployment's custom field
/// mapping (Implementation Guide ch. 6, "Customize Synced CTR Fields Using CTRDataSyncFunction"),
/// from CTR_CUSTOM_FIELDS or the SSM parameter CTR_CUSTOM_FIELDS_PARAM_NAME names, reaches the
/// VoiceCall; a record kept as raw data is decoded again; an invalid mapping is a usage error.
#[tokio::test]
async fn ctr_quarantine_replay_applies_the_custom_field_mapping() {
    let (stack, env) = resync_stack().await;
    let mapping =
        r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts", "DisconnectReason__c": "DisconnectReason"}"#;
    let quarantine = |contact: &str| {
        let mut record = ctr(contact);
        record["Attributes"] = json!({"ConnectionAttempts": "3"});
        record["DisconnectReason"] = json!("CUSTOMER_DISCONNECT");
        record
    };
    let expected = r#"{"ConnectionAttempts__c":"3","DisconnectReason__c":"CUSTOMER_DISCONNECT"}"#;
    let update_of = |contact: &str| {
        let path = format!("/telephony/v1/voiceCalls/{contact}");
        stack.emulator().requests_to("PATCH", &path).pop().unwrap_or_else(|| panic!("no update of {contact}"))
    };

    // CTR_CUSTOM_FIELDS itself.
    let direct = format!("cli-cf-{}", uuid::Uuid::new_v4().simple());
    let key = format!("quarantine/{direct}/1.json");
    let entry = json!({"reason": "VoiceCall update refused: HTTP 400", "contactId": direct, "sequenceNumber": "1",
        "record": quarantine(&direct), "data": null});
    stack.put_object(&key, entry.to_string()).await.unwrap();
    let set = format!("CTR_CUSTOM_FIELDS={mapping}");
    let run = scv(&env, &["ctr", "quarantine", "replay", &key, "--set", &set, "--json"]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert_eq!(run.json()["counts"]["replayed"], json!(1), "{}", run.stdout);
    assert_eq!(update_of(&direct).body["callAttributes"], json!(expected));

    // The SSM parameter, and a record quarantined as raw data (base64 of the CTR) decoded again.
    let param = format!("/scv/cli-{}/ctr-custom-fields", uuid::Uuid::new_v4().simple());
    aws_sdk_ssm::Client::new(&stack.sdk)
        .put_parameter()
        .name(&param)
        .value(mapping)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let raw = format!("cli-cf-raw-{}", uuid::Uuid::new_v4().simple());
    let raw_key = format!("quarantine/{raw}/2.json");
    let data = base64_of(&quarantine(&raw).to_string());
    let entry = json!({"reason": "not JSON", "contactId": null, "sequenceNumber": "2", "record": null, "data": data});
    stack.put_object(&raw_key, entry.to_string()).await.unwrap();
    let set = format!("CTR_CUSTOM_FIELDS_PARAM_NAME={param}");
    let run = scv(&env, &["ctr", "quarantine", "replay", &raw_key, "--set", &set]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("replayed 1"), "{}", run.stdout);
    assert_eq!(update_of(&raw).body["callAttributes"], json!(expected));
    assert!(stack.object(&raw_key).await.is_none(), "replayed: out of the quarantine");
    assert_eq!(stack.object(&raw).await, Some(quarantine(&raw).to_string()), "backed up as the sync does");

    // Without a mapping, no custom field (the default the functions have).
    let plain = format!("cli-cf-plain-{}", uuid::Uuid::new_v4().simple());
    let plain_key = format!("quarantine/{plain}/3.json");
    let entry = json!({"reason": "x", "contactId": plain, "sequenceNumber": "3", "record": quarantine(&plain)});
    stack.put_object(&plain_key, entry.to_string()).await.unwrap();
    assert_eq!(scv(&env, &["ctr", "quarantine", "replay", &plain_key]).await.code, 0);
    assert!(update_of(&plain).body.get("callAttributes").is_none_or(|a| !a.to_string().contains("__c")));

    // An invalid mapping stops before anything is replayed, naming the variable and the entry.
    let bad =
        scv(&env, &["ctr", "quarantine", "replay", &key, "--set", r#"CTR_CUSTOM_FIELDS={"bad name": "X"}"#]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("CTR_CUSTOM_FIELDS") && bad.stderr.contains("bad name"), "{}", bad.stderr);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// ContactDataSync's stack: the emulator's REST side, moto with the connected app's parameters and
/// the bucket, the local Amazon Connect endpoint (AWS_ENDPOINT_URL_CONNECT in the process env).
async fn transcripts_stack() -> (local_stack::stack::Stack, Vec<(String, String)>) {
    let stack = local_stack::stack::Stack::builder("contact-data-sync").start().await.expect("the local stack");
    let env = stack.process_env();
    (stack, env)
}

const SAMPLE_ANALYSIS: &str =
    "fixtures/s3/Analysis/Voice/2026/11/21/6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21_analysis_2026-11-21T09:23:14Z.json";

/// A call Connect and Salesforce know (the sample contact's times), with its analysis file written
/// on `day` (the call's day, or the next) unless `day` is None. Returns the VoiceCall id.
async fn seed_transcript_call(stack: &local_stack::stack::Stack, contact: &str, day: Option<&str>) -> String {
    use local_stack::connect::epoch_seconds;
    let (start, agent, end) = ("2026-11-21T09:15:02.481Z", "2026-11-21T09:15:48.210Z", "2026-11-21T09:21:05.000Z");
    let described = json!({"Id": contact, "InitialContactId": contact, "InitiationMethod": "INBOUND", "Channel": "VOICE",
        "AgentInfo": {"Id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "ConnectedToAgentTimestamp": epoch_seconds(agent).unwrap()},
        "InitiationTimestamp": epoch_seconds(start).unwrap(), "DisconnectTimestamp": epoch_seconds(end).unwrap()});
    stack.connect().put_contact(local_stack::stack::CONNECT_INSTANCE_ID, described).unwrap();
    let call = stack.emulator().seed_voice_call(contact, start, Some(end)).unwrap();
    if let Some(day) = day {
        let path = local_stack::stack::events_dir("post-call-analysis-trigger").join(SAMPLE_ANALYSIS);
        let mut analysis: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        analysis["CustomerMetadata"]["ContactId"] = json!(contact);
        let key = format!("Analysis/Voice/{day}/{contact}_analysis_2026-11-21T09:23:14Z.json");
        stack.put_object(&key, analysis.to_string()).await.unwrap();
    }
    call
}

/// A customer's words in the sample analysis file: never in the tool's output.
const TRANSCRIPT_WORDS: &str = "I was charged twice for my November invoice";

#[tokio::test]
async fn transcripts_backfill_and_status_run_contact_data_sync_s_code() {
    let (stack, env) = transcripts_stack().await;
    let id = || uuid::Uuid::new_v4().to_string();
    let (a, b, missing) = (id(), id(), id());
    let call_a = seed_transcript_call(&stack, &a, Some("2026/11/21")).await;
    seed_transcript_call(&stack, &b, Some("2026/11/21")).await;
    seed_transcript_call(&stack, &missing, None).await;

    // --contacts: A with its VoiceCall id, B looked up by VendorCallKey, one with no analysis file.
    let dir = std::env::temp_dir().join(format!("scv-transcripts-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("contacts.txt");
    std::fs::write(&file, format!("# contactId,voiceCallId\n{a},{call_a}\n{b}\n{missing}\n")).unwrap();
    let run = scv(&env, &["transcripts", "backfill", "--contacts", file.to_str().unwrap(), "--json"]).await;
    assert_eq!(run.code, 4, "one contact has no file: {} {}", run.stdout, run.stderr);
    let out = run.json();
    assert_eq!(out["counts"], json!({"uploaded": 2, "failed": 1, "retryable": 0}), "{out}");
    let results = out["conversationBulkUploadsResults"].as_array().unwrap();
    assert_eq!(
        results.iter().map(|r| r["conversationIdentifier"].clone()).collect::<Vec<_>>(),
        vec![json!(a), json!(b), json!(missing)]
    );
    assert_eq!(results[0]["status"], json!("SUCCESS"));
    assert!(results[2]["errorDetail"].as_str().unwrap().contains("no Contact Lens analysis file"), "{out}");
    let uploads = stack.emulator().requests_to("POST", "/services/data/v62.0/connect/conversations/upload");
    assert!(!uploads.is_empty(), "the conversations reached Salesforce");
    assert_no_secret(&run, &stack);

    // status: the first read is PENDING (exit 5), then SUCCESS (exit 0); an unknown id fails (exit 4).
    let upload_a = results[0]["uploadId"].as_str().unwrap().to_string();
    let upload_b = results[1]["uploadId"].as_str().unwrap().to_string();
    let pending = scv(&env, &["transcripts", "status", &upload_a, &upload_b]).await;
    assert_eq!(pending.code, 5, "{} {}", pending.stdout, pending.stderr);
    assert!(pending.stdout.contains("PENDING") && pending.stdout.contains("ask again"), "{}", pending.stdout);
    let done = scv(&env, &["transcripts", "status", &upload_a, &upload_b, "--json"]).await;
    assert_eq!(done.code, 0, "{} {}", done.stdout, done.stderr);
    let statuses = done.json()["conversationBulkUploadStatuses"].as_array().unwrap().clone();
    assert_eq!(
        statuses.iter().map(|s| s["status"].clone()).collect::<Vec<_>>(),
        vec![json!("SUCCESS"), json!("SUCCESS")]
    );
    let unknown = scv(&env, &["transcripts", "status", &upload_a, "0Lz000000000unknown"]).await;
    assert_eq!(unknown.code, 4, "{} {}", unknown.stdout, unknown.stderr);
    assert!(unknown.stdout.contains("NOT_FOUND"), "{}", unknown.stdout);

    // --date: the analysis files of that day (here written the day after the call), VoiceCalls looked up.
    let (c, d) = (id(), id());
    seed_transcript_call(&stack, &c, Some("2026/11/22")).await;
    seed_transcript_call(&stack, &d, Some("2026/11/22")).await;
    let run = scv(&env, &["transcripts", "backfill", "--date", "2026-11-22"]).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("uploaded 2, failed 0"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&c) && run.stdout.contains(&d) && run.stdout.contains("scv transcripts status"),
        "{}",
        run.stdout
    );
    assert_no_secret(&run, &stack);
    let none = scv(&env, &["transcripts", "backfill", "--date", "2026-11-30"]).await;
    assert_eq!(none.code, 3, "no file that day: {}", none.stderr);
    assert!(none.stderr.contains("Analysis/Voice/2026/11/30/"), "{}", none.stderr);

    // Usage errors.
    for args in [
        vec!["transcripts", "backfill"],
        vec!["transcripts", "backfill", "--date", "21/11/2026"],
        vec!["transcripts", "backfill", "--contacts", "/nonexistent/contacts.txt"],
        vec!["transcripts", "status"],
        vec!["transcripts", "status", "../x"],
    ] {
        let run = scv(&env, &args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    let unset: Vec<_> = env.iter().filter(|(k, _)| k != "CONNECT_INSTANCE_ID").cloned().collect();
    let run = scv(&unset, &["transcripts", "backfill", "--date", "2026-11-22"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("CONNECT_INSTANCE_ID"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

/// No key material, no access token, no transcript text in the tool's output.
fn assert_no_secret(run: &Run, stack: &local_stack::stack::Stack) {
    assert_no_private_key(run, &stack.key_pairs().iter().map(|k| k.private_pkcs8_pem.as_str()).collect::<Vec<_>>());
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TRANSCRIPT_WORDS), "transcript text in the output: {text}");
        assert!(!text.contains(&format!("{}!", local_stack::stack::ORG_ID)), "an access token in the output: {text}");
    }
}

/// A raw call to moto for the services the workspace has no SDK client for (IAM's query protocol,
/// Kinesis' JSON protocol): moto reads the service from the credential scope.
async fn moto_call(endpoint: &str, service: &str, target: Option<&str>, body: String) -> Value {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut request = reqwest::Client::new().post(format!("{endpoint}/")).header("Authorization", auth).body(body);
    request = match target {
        Some(target) => request.header("X-Amz-Target", target).header("Content-Type", "application/x-amz-json-1.1"),
        None => request.header("Content-Type", "application/x-www-form-urlencoded"),
    };
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert!(status.is_success(), "{service}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// An IAM role Lambda may assume, in moto (its functions are never run); its ARN.
async fn lambda_role(endpoint: &str, name: &str) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let encoded: String = policy
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let form = format!("Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={encoded}");
    moto_call(endpoint, "iam", None, form).await;
    format!("arn:aws:iam::123456789012:role/{name}")
}

/// A Kinesis stream in moto; its ARN.
async fn kinesis_stream(endpoint: &str, name: &str) -> String {
    let body = json!({"StreamName": name, "ShardCount": 1}).to_string();
    moto_call(endpoint, "kinesis", Some("Kinesis_20131202.CreateStream"), body).await;
    let described = moto_call(
        endpoint,
        "kinesis",
        Some("Kinesis_20131202.DescribeStreamSummary"),
        json!({"StreamName": name}).to_string(),
    )
    .await;
    described["StreamDescriptionSummary"]["StreamARN"].as_str().unwrap().to_string()
}

/// A function in moto (an empty zip; never run) whose Kinesis mapping reads `stream`, with or
/// without ReportBatchItemFailures and an on-failure destination.
async fn mapped_function(
    lambda: &aws_sdk_lambda::Client,
    role: &str,
    name: &str,
    stream: Option<&str>,
    reports: bool,
    destination: bool,
) {
    use aws_sdk_lambda::types::{DestinationConfig, FunctionCode, FunctionResponseType, OnFailure, Runtime};
    let empty_zip = [b"PK\x05\x06".as_slice(), &[0u8; 18]].concat();
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(FunctionCode::builder().zip_file(empty_zip.into()).build())
        .send()
        .await
        .unwrap();
    let Some(stream) = stream else { return };
    let mut mapping = lambda
        .create_event_source_mapping()
        .function_name(name)
        .event_source_arn(stream)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon);
    if reports {
        mapping = mapping.function_response_types(FunctionResponseType::ReportBatchItemFailures);
    }
    if destination {
        let queue = format!("arn:aws:sqs:us-east-1:123456789012:{name}-failures");
        mapping = mapping.destination_config(
            DestinationConfig::builder().on_failure(OnFailure::builder().destination(queue).build()).build(),
        );
    }
    mapping.send().await.unwrap();
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {report}"))
}

/// Issue 17 item 3: the Kinesis mappings (batch item failures reported, an on-failure destination),
/// the Contact Lens stream's association with the instance (ListInstanceStorageConfigs, served by
/// the local Connect endpoint): each passing on a healthy set-up and failing, with its fix, on a
/// broken one.
#[tokio::test]
async fn doctor_checks_the_kinesis_mappings_and_the_contact_lens_stream() {
    let (stack, env) = transcripts_stack().await;
    let endpoint = env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").unwrap().1.clone();
    let u = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let role = lambda_role(&endpoint, &format!("scv-doctor-{u}")).await;
    let ctr_stream = kinesis_stream(&endpoint, &format!("ctr-{u}")).await;
    let cl_stream = kinesis_stream(&endpoint, &format!("cl-{u}")).await;
    let other_stream = kinesis_stream(&endpoint, &format!("other-{u}")).await;
    let lambda = aws_sdk_lambda::Client::new(&stack.sdk);
    let (ctr_fn, cl_fn) = (format!("CtrDataSync-{u}"), format!("ContactLensConsumer-{u}"));
    mapped_function(&lambda, &role, &ctr_fn, Some(&ctr_stream), true, true).await;
    mapped_function(&lambda, &role, &cl_fn, Some(&cl_stream), true, true).await;
    let instance = local_stack::stack::CONNECT_INSTANCE_ID;
    stack.connect().associate_stream(instance, "REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS", &cl_stream);
    let healthy = [
        "doctor",
        "--json",
        "--ctr-function",
        ctr_fn.as_str(),
        "--ctr-stream",
        &ctr_stream,
        "--contact-lens-function",
        &cl_fn,
        "--contact-lens-stream",
        &cl_stream,
        "--instance-id",
        instance,
    ];
    let run = scv(&env, &healthy).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let report = run.json();
    for name in ["ctr-mapping", "contact-lens-mapping", "contact-lens-stream"] {
        assert_eq!(check(&report, name)["status"], json!("pass"), "{name}: {report}");
    }
    // CONNECT_INSTANCE_ID (the functions' variable) stands in for --instance-id.
    let with_env = scv(&env, &["doctor", "--json", "--contact-lens-stream", &cl_stream]).await;
    assert_eq!(check(&with_env.json(), "contact-lens-stream")["status"], json!("pass"), "{}", with_env.stdout);

    // Broken set-ups: each check fails with its fix line, exit code 4.
    let (no_report, no_dest, unmapped) = (format!("NoReport-{u}"), format!("NoDest-{u}"), format!("Unmapped-{u}"));
    mapped_function(&lambda, &role, &no_report, Some(&other_stream), false, true).await;
    mapped_function(&lambda, &role, &no_dest, Some(&other_stream), true, false).await;
    mapped_function(&lambda, &role, &unmapped, None, false, false).await;
    let cases: [(Vec<&str>, &str, &str, &str); 5] = [
        (
            vec!["--ctr-function", &no_report],
            "ctr-mapping",
            "does not report batch item failures",
            "--function-response-types ReportBatchItemFailures",
        ),
        (vec!["--ctr-function", &no_dest], "ctr-mapping", "no on-failure destination", "--destination-config"),
        (
            vec!["--contact-lens-function", &unmapped],
            "contact-lens-mapping",
            "has no Kinesis event source mapping",
            "create-event-source-mapping",
        ),
        (
            vec!["--ctr-function", &ctr_fn, "--ctr-stream", &other_stream],
            "ctr-mapping",
            "reading",
            "CtrDataSyncStreamMapping",
        ),
        (
            vec!["--contact-lens-stream", &other_stream, "--instance-id", instance],
            "contact-lens-stream",
            "does not send real-time contact analysis segments",
            "associate-instance-storage-config",
        ),
    ];
    for (flags, name, says, fix) in cases {
        let mut args = vec!["doctor"];
        args.extend(flags.iter().copied());
        let run = scv(&env, &args).await;
        assert_eq!(run.code, 4, "{name}: {} {}", run.stdout, run.stderr);
        let line = run.stdout.lines().find(|l| l.starts_with("[FAIL]")).unwrap_or_default();
        assert!(line.contains(name) && line.contains(says), "{name}: {}", run.stdout);
        let fix_line = run.stdout.lines().find(|l| l.trim_start().starts_with("fix:")).unwrap_or_default();
        assert!(fix_line.contains(fix), "{name}: the fix: {}", run.stdout);
        args.push("--json");
        assert_eq!(check(&scv(&env, &args).await.json(), name)["status"], json!("fail"));
    }

    // The broken association fixed as the fix line says: the check passes.
    stack.connect().associate_stream(instance, "REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS", &other_stream);
    let fixed = scv(&env, &["doctor", "--json", "--contact-lens-stream", &other_stream]).await;
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    assert!(stack.connect().requests().iter().any(|r| r.operation == "ListInstanceStorageConfigs"));
}

/// A reduced template.yaml for moto's CloudFormation: the parameters, outputs and resources
/// `scv doctor --stack` reads, under the template's logical ids (the functions, their Kinesis
/// mappings), and a role (the real template creates its own).
fn reduced_template() -> String {
    let function = json!({"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "provided.al2023", "Handler": "bootstrap",
        "Role": {"Ref": "RoleArn"}, "Code": {"ZipFile": "never run"}}});
    let mapping = |function: &str, stream: &str| {
        json!({"Type": "AWS::Lambda::EventSourceMapping", "Properties": {"FunctionName": {"Ref": function},
            "EventSourceArn": {"Ref": stream}, "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::Sub": format!("arn:aws:sqs:us-east-1:123456789012:{function}-failures")}}}}})
    };
    let parameters: serde_json::Map<String, Value> = [
        "CallCenterApiName",
        "ConnectInstanceId",
        "SalesforceAuthEndpoint",
        "SalesforceRestApiEndpointBase",
        "SalesforceRestApiSubjectSSMParamName",
        "SalesforceRestApiAuthConsumerKeySSMParamName",
        "SalesforceRestApiAuthPrivateKeySSMParamName",
        "SalesforceRestApiAccessTokenSSMParamName",
        "SalesforceRestApiAudienceSSMParamName",
        "CtrStreamArn",
        "ContactLensStreamArn",
        "CtrBackupBucketName",
        "RoleArn",
    ]
    .iter()
    .map(|p| (p.to_string(), json!({"Type": "String"})))
    .collect();
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": parameters,
        "Resources": {
            "CtrDataSyncFunction": function, "ContactLensConsumerFunction": function,
            "CtrDataSyncStreamMapping": mapping("CtrDataSyncFunction", "CtrStreamArn"),
            "ContactLensStreamMapping": mapping("ContactLensConsumerFunction", "ContactLensStreamArn"),
        },
        "Outputs": {
            "CtrBackupBucketName": {"Value": {"Ref": "CtrBackupBucketName"}},
            "CtrStreamArn": {"Value": {"Ref": "CtrStreamArn"}},
            "ContactLensStreamArn": {"Value": {"Ref": "ContactLensStreamArn"}},
        }
    })
    .to_string()
}

/// Issue 17 item 4: `scv doctor --stack <name>` takes the settings, the functions and the streams
/// from the CloudFormation stack (moto), with nothing but the AWS settings in the environment.
#[tokio::test]
async fn doctor_reads_the_deployment_from_its_cloudformation_stack() {
    let (stack, env) = transcripts_stack().await;
    let endpoint = env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").unwrap().1.clone();
    let value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let u = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let role = lambda_role(&endpoint, &format!("scv-stack-{u}")).await;
    let ctr_stream = kinesis_stream(&endpoint, &format!("stack-ctr-{u}")).await;
    let cl_stream = kinesis_stream(&endpoint, &format!("stack-cl-{u}")).await;
    let instance = local_stack::stack::CONNECT_INSTANCE_ID;
    stack.connect().associate_stream(instance, "REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS", &cl_stream);
    let parameters = [
        ("CallCenterApiName", value("CALL_CENTER_API_NAME").unwrap()),
        ("ConnectInstanceId", instance.to_string()),
        ("SalesforceAuthEndpoint", value("SALESFORCE_AUTH_ENDPOINT").unwrap()),
        ("SalesforceRestApiEndpointBase", value("SALESFORCE_REST_API_ENDPOINT_BASE").unwrap()),
        ("SalesforceRestApiSubjectSSMParamName", value("SUBJECT").unwrap()),
        ("SalesforceRestApiAuthConsumerKeySSMParamName", value("CONSUMER_KEY_PARAM_NAME").unwrap()),
        (
            "SalesforceRestApiAuthPrivateKeySSMParamName",
            value("REST_PRIVATE_KEY_PARAM_NAME").or_else(|| value("PRIVATE_KEY_PARAM_NAME")).unwrap(),
        ),
        ("SalesforceRestApiAccessTokenSSMParamName", value("ACCESS_TOKEN_PARAM_NAME").unwrap()),
        ("SalesforceRestApiAudienceSSMParamName", value("AUDIENCE").unwrap()),
        ("CtrStreamArn", ctr_stream.clone()),
        ("ContactLensStreamArn", cl_stream.clone()),
        ("CtrBackupBucketName", stack.bucket().to_string()),
        ("RoleArn", role),
    ];
    let cfn = aws_sdk_cloudformation::Client::new(&stack.sdk);
    let name = format!("scv-doctor-{u}");
    let mut create = cfn.create_stack().stack_name(&name).template_body(reduced_template());
    for (key, value) in &parameters {
        create = create.parameters(
            aws_sdk_cloudformation::types::Parameter::builder().parameter_key(*key).parameter_value(value).build(),
        );
    }
    create.send().await.unwrap();

    // moto's CloudFormation creates no alarms: the local CloudWatch holds the template's.
    let cloudwatch = local_stack::cloudwatch::LocalCloudWatch::start().await.unwrap();
    let created = cloudwatch.create_template_alarms(&stack.resolved).unwrap();

    // Only the AWS settings (and the local Connect and CloudWatch endpoints) in the environment: the
    // connected app's parameter names come from the stack's parameters, as the template wires them.
    let mut aws_only: Vec<_> = env.iter().filter(|(k, _)| k.starts_with("AWS_")).cloned().collect();
    aws_only.extend(cloudwatch.env());
    let args = vec!["doctor".to_string(), "--stack".to_string(), name.clone()];
    let run = scv(&aws_only, &args.iter().map(String::as_str).chain(["--json"]).collect::<Vec<_>>()).await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let report = run.json();
    let detail = |c: &str| check(&report, c)["detail"].as_str().unwrap().to_string();
    for check_name in ["oauth", "backup", "ctr-mapping", "contact-lens-mapping", "contact-lens-stream", "alarms"] {
        assert_eq!(check(&report, check_name)["status"], json!("pass"), "{check_name}: {report}");
    }
    let cc = value("CALL_CENTER_API_NAME").unwrap();
    assert!(
        detail("alarms").contains(&format!("the {} alarms of template.yaml for {cc}", created.len())),
        "the stack's call center: {report}"
    );
    assert!(detail("ctr-mapping").contains(&ctr_stream), "the stack's CTR stream: {report}");
    assert!(detail("contact-lens-stream").contains(instance), "the stack's instance: {report}");
    assert!(detail("backup").contains(stack.bucket()), "the stack's bucket output: {report}");
    assert_no_secret(&run, &stack);

    // Explicit flags still win over the stack: another stream is not read by the stack's mapping.
    let other = kinesis_stream(&endpoint, &format!("stack-other-{u}")).await;
    let mut overridden = args.clone();
    overridden.extend(["--ctr-stream".to_string(), other]);
    let run = scv(&aws_only, &overridden.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(run.stdout.contains("[FAIL] ctr-mapping"), "{}", run.stdout);

    // A stack that does not exist: not found.
    let missing = scv(&aws_only, &["doctor", "--stack", "no-such-stack"]).await;
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(missing.stderr.contains("no-such-stack"), "{}", missing.stderr);
}

/// Issue 17: the alarms exist (Implementation Guide ch. 8 and the failure queues'), as DescribeAlarms
/// answers in RPC v2 CBOR (the local CloudWatch endpoint): passing when template.yaml's alarms are
/// there, failing with the names and the fix when one is gone or notifies no one, a warning for one
/// in ALARM, skipped unless asked.
#[tokio::test]
async fn doctor_checks_that_the_alarms_exist() {
    let moto = Moto::shared().expect("moto");
    let cloudwatch = local_stack::cloudwatch::LocalCloudWatch::start().await.unwrap();
    let template = local_stack::template::Template::load().unwrap();
    let parameters = local_stack::stack::local_parameters(None, "bucket", "");
    let created = cloudwatch.create_template_alarms(&template.resolve(&parameters).unwrap()).unwrap();
    let cc = local_stack::stack::CALL_CENTER;
    let mut env = aws_env(&moto.endpoint());
    env.extend(cloudwatch.env());
    env.push(("CALL_CENTER_API_NAME".into(), cc.into()));
    let alarms = |run: &Run| check(&run.json(), "alarms").clone();

    let skipped = scv(&env, &["doctor", "--json"]).await;
    assert_eq!(alarms(&skipped)["status"], json!("skip"), "not asked: {}", skipped.stdout);
    assert!(cloudwatch.requests().is_empty());

    let healthy = scv(&env, &["doctor", "--json", "--alarms"]).await;
    assert_eq!(alarms(&healthy)["status"], json!("pass"), "{}", healthy.stdout);
    assert!(created.len() > 40, "{created:?}");
    let asked: usize = cloudwatch.requests().iter().map(|r| r.input["AlarmNames"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(asked, created.len(), "every alarm asked for by name");

    // One in ALARM: a warning naming it, not a failure.
    let firing = format!("SCV Queue - {cc} CTR sync failures");
    cloudwatch.set_state(&firing, "ALARM", "Threshold Crossed: 1 datapoint [3.0]").unwrap();
    let run = scv(&env, &["doctor", "--alarms"]).await;
    assert_eq!(run.code, 0, "a warning is not a failure: {}", run.stdout);
    assert!(run.stdout.contains("[warn] alarms") && run.stdout.contains(&firing), "{}", run.stdout);

    // Gone: a failure naming it, with the fix.
    let gone = format!("SCV Lambda CTRDataSyncFunction Errors ({cc})");
    assert!(cloudwatch.delete_alarm(&gone));
    let run = scv(&env, &["doctor", "--alarms"]).await;
    assert_eq!(run.code, 4, "{}", run.stdout);
    let line = run.stdout.lines().find(|l| l.starts_with("[FAIL] alarms")).unwrap_or_default();
    assert!(line.contains(&gone) && line.contains(&format!("1 of the {}", created.len())), "{}", run.stdout);
    assert!(run.stdout.contains("put-metric-alarm"), "the fix: {}", run.stdout);

    // Back, but notifying no one: a failure naming it.
    cloudwatch
        .put_alarm(json!({"AlarmName": gone, "Namespace": "AWS/Lambda", "MetricName": "Errors", "Threshold": 3}))
        .unwrap();
    let run = scv(&env, &["doctor", "--json", "--alarms"]).await;
    assert_eq!(run.code, 4, "{}", run.stdout);
    let report = alarms(&run);
    assert_eq!(report["status"], json!("fail"));
    assert!(report["detail"].as_str().unwrap().contains("notify no one"), "{report}");

    // Without the contact center, nothing to look for.
    let without: Vec<_> = env.iter().filter(|(k, _)| k != "CALL_CENTER_API_NAME").cloned().collect();
    let run = scv(&without, &["doctor", "--json", "--alarms"]).await;
    assert_eq!(alarms(&run)["status"], json!("skip"), "{}", run.stdout);
    assert!(alarms(&run)["detail"].as_str().unwrap().contains("CALL_CENTER_API_NAME"));
}
