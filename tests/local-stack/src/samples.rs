//! The sample events under `events/` ready to run against a function's local [`Stack`]: the stack
//! each function's samples need ([`stack_builder`]), what they act on seeded ([`seed`]), and the event
//! pointed at the stack's resources ([`localise`]). Shared by the systematic tests (mutations, faults).

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::stack::{Stack, StackBuilder};

/// The function's template `Timeout` (30 s when the template gives none).
pub fn timeout_of(stack: &Stack) -> Duration {
    let seconds = stack.resolved.function_property(&stack.logical_id, "Timeout").and_then(Value::as_u64).unwrap_or(30);
    Duration::from_secs(seconds)
}

/// The contact id of the voicemail sample events (in their object keys).
pub const VOICEMAIL_CONTACT: &str = "6e3a1c55-4c3b-4d7e-9a43-2b0e9c1a7f10";
/// The contact of PostCallAnalysisTrigger's sample.
pub const POST_CALL_CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";

/// The contact InvokeTelephonyIntegrationApi's rerouteFlowExecution sample reroutes.
pub const TRANSFERRED_CONTACT: &str = "d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a";
/// The Case InvokeSalesforceRestApi's updateRecord sample updates.
pub const SAMPLE_CASE: &str = "500XX0000000001";

/// A sample event ready to run against `stack`: S3 events name the stack's bucket, updateRecord the
/// Case [`seed`] inserted.
pub fn localise(stack: &Stack, mut event: Value) -> Value {
    if let (Some(bucket), Some(name)) = (stack.bucket.as_deref(), event.pointer_mut("/detail/bucket/name")) {
        *name = json!(bucket);
    }
    if let Some(record) = event.pointer_mut("/Details/Parameters/recordId")
        && record == SAMPLE_CASE
        && let Some(case) = stack.emulator.as_ref().and_then(|e| e.records("Case").into_iter().next())
    {
        *record = case["Id"].clone();
    }
    event
}

/// The stack of `function`, with the waits a test need not sit out shortened.
pub fn stack_builder(function: &str) -> Result<StackBuilder> {
    // The deliberate wait before a voicemail is routed would make every run wait it out.
    let builder = Stack::builder(function).with_parameter("DelayBeforeRoutingVmSec", "0");
    match function {
        // The live call the sample requests name, on the stream they name; the waits of a live call
        // shortened (production: a 10 s stall timeout, 5 sessions with backoff from 200 ms; see
        // scv_shared::config::TranscriberConfig). A mutated event that can never be served fails at
        // once; these bound what is left (a stream that goes quiet, a session that fails).
        "kvs-transcriber" => {
            use scv_shared::config::transcription as t;
            Ok(builder
                .kvs_fixtures(vec![crate::kvs::KvsFixture::live_call().context("the live call fixture")?])
                .with_env(t::TRANSCRIBER_STALL_TIMEOUT_MS, "1000")
                .with_env(t::TRANSCRIBER_SESSION_ATTEMPTS, "2")
                .with_env(t::TRANSCRIBER_RETRY_BASE_DELAY_MS, "50"))
        }
        _ => Ok(builder),
    }
}

/// The contact of kvsTranscriber's sample requests (the live call fixture's).
pub const LIVE_CALL_CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";

/// What the unmutated events need to do their work: the VoiceCalls they act on, the objects they read.
pub async fn seed(stack: &Stack) -> Result<()> {
    let telephony = || {
        let cfg = scv_shared::config::ScrtConfig::from_env(&stack.env()).context("configuration")?;
        anyhow::Ok(
            scv_shared::scrt::TelephonyClient::from_config(
                &cfg,
                scv_shared::keys::SsmClient::new(&stack.sdk),
                reqwest::Client::new(),
                &stack.env(),
            )
            // Twelve stacks start at once: give the seeding calls room on a loaded machine.
            .with_policy(scv_shared::retry::RetryPolicy {
                attempt_timeout: Duration::from_secs(30),
                ..scv_shared::retry::RetryPolicy::default()
            }),
        )
    };
    let deadline = || scv_shared::retry::Deadline::after(Duration::from_secs(60));
    match stack.function.as_str() {
        "invoke-telephony-integration-api" => {
            // The transferred contact rerouteFlowExecution's sample reroutes.
            let create = crate::stack::inbound_call(TRANSFERRED_CONTACT, "2026-11-21T09:20:02.481Z");
            telephony()?.create_voice_call(&create, deadline()).await.context("voice call created")?;
        }
        "kvs-transcriber" => {
            // The VoiceCall the messages go to, each track's known text, the vocabularies named.
            let create = crate::stack::inbound_call(LIVE_CALL_CONTACT, "2026-11-21T09:15:02.481Z");
            telephony()?.create_voice_call(&create, deadline()).await.context("voice call created")?;
            let fixture = crate::kvs::KvsFixture::live_call().context("the live call fixture")?;
            let transcribe = stack.transcribe();
            transcribe.set_script_selector(move |session| fixture.transcriber_script(&session.session_id));
            transcribe.add_vocabulary("acme-products");
            transcribe.add_vocabulary_filter("acme-profanity");
        }
        "invoke-salesforce-rest-api" => {
            stack
                .emulator()
                .insert_record("Case", json!({ "Subject": "Billing question", "Status": "New" }))
                .context("the sample Case")?;
        }
        "handle-contact-events" => {
            let telephony = telephony()?;
            for name in stack.event_names() {
                let event = stack.event(&name);
                if let Some(contact) = event.pointer("/detail/contactId").and_then(Value::as_str) {
                    let create = crate::stack::inbound_call(contact, "2026-11-21T09:15:02.481Z");
                    telephony.create_voice_call(&create, deadline()).await.context("voice call created")?;
                }
            }
        }
        "post-call-analysis-trigger" => {
            let create = crate::stack::inbound_call(POST_CALL_CONTACT, "2026-11-21T09:15:02.481Z");
            telephony()?.create_voice_call(&create, deadline()).await.context("voice call created")?;
            let fixtures = crate::stack::events_dir("post-call-analysis-trigger").join("fixtures");
            let described: Value = serde_json::from_slice(&std::fs::read(fixtures.join("describe-contact.json"))?)?;
            // DescribeContact answers with epoch seconds where the fixture has RFC 3339 text.
            fn api_shape(value: &mut Value) {
                if let Value::Object(map) = value {
                    for (key, v) in map.iter_mut() {
                        match v.as_str() {
                            Some(text) if key.ends_with("Timestamp") => {
                                if let Ok(ms) = scv_shared::voicemail::epoch_millis(text) {
                                    *v = json!(ms / 1000);
                                }
                            }
                            _ => api_shape(v),
                        }
                    }
                }
            }
            let mut contact = described["Contact"].clone();
            api_shape(&mut contact);
            stack.connect().put_contact(crate::stack::CONNECT_INSTANCE_ID, contact).context("the sample contact")?;
            for name in stack.event_names() {
                let event = stack.event(&name);
                let Some(key) = event.pointer("/detail/object/key").and_then(Value::as_str).map(str::to_string) else {
                    continue;
                };
                if let Ok(body) = std::fs::read(fixtures.join("s3").join(&key)) {
                    stack.put_object(&key, body).await.context("analysis file")?;
                }
            }
        }
        "voicemail-transcribe" | "voicemail-packaging" => {
            let bucket = stack.bucket.clone().context("the stack's bucket")?;
            let recording = scv_shared::voicemail::recording_key(VOICEMAIL_CONTACT);
            let tagging = format!(
                "vm_lang=en-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp=2024-01-04T19%3A50%3A00Z\
                 &vm_endTimestamp=2024-01-04T19%3A50%3A05Z&vm_duration=5&vm_recordingUrl={bucket}%2F{}",
                recording.replace('/', "%2F")
            );
            let wav = scv_shared::wav::encode(scv_shared::wav::PcmFormat::TELEPHONY, &vec![0; 8_000])
                .map_err(|e| anyhow::anyhow!("the sample recording: {e:?}"))?;
            stack
                .s3
                .put_object()
                .bucket(&bucket)
                .key(&recording)
                .content_type("audio/x-wav")
                .tagging(tagging)
                .body(wav.into())
                .send()
                .await
                .context("recording")?;
            if stack.function == "voicemail-packaging" {
                let mut output: Value = serde_json::from_slice(&std::fs::read(
                    crate::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json"),
                )?)?;
                output["jobName"] = json!(VOICEMAIL_CONTACT);
                let key = scv_shared::voicemail::transcript_key(VOICEMAIL_CONTACT);
                stack.put_object(&key, output.to_string()).await.context("transcript")?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The runner's batch summary of invocation `request_id` among `lines` (its JSON log line, fields under
/// `context`), as (records, done + skipped + quarantined + retried, retried).
pub fn batch_summary(lines: &[String], request_id: &str) -> Option<(u64, u64, u64)> {
    lines.iter().rev().find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        let fields = value.get("context")?;
        if fields.get("requestId").and_then(Value::as_str) != Some(request_id) {
            return None;
        }
        let n = |k: &str| fields.get(k).and_then(Value::as_u64);
        let (records, retried) = (n("records")?, n("retried")?);
        Some((records, n("done")? + n("skipped")? + n("quarantined")? + retried, retried))
    })
}

/// How many records the batch has, and every identifier a record of it can be reported by: its
/// `kinesis.sequenceNumber`, or the sequence number at the end of its `eventID` (`shardId-…:<seq>`),
/// which the runner uses for a record whose `kinesis` envelope is broken.
pub fn batch_records(event: &Value) -> (usize, Vec<String>) {
    let records = event.get("Records").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut ids = Vec::new();
    for record in records {
        if let Some(seq) = record.pointer("/kinesis/sequenceNumber").and_then(Value::as_str) {
            ids.push(seq.to_string());
        }
        if let Some((_, seq)) = record.get("eventID").and_then(Value::as_str).and_then(|id| id.rsplit_once(':')) {
            ids.push(seq.to_string());
        }
    }
    (records.len(), ids)
}
