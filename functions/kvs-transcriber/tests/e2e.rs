//! End to end: the transcriber's handler on the sample requests, through the real Kinesis Video,
//! Transcribe streaming, Connect and Lambda SDK clients against the local endpoints, posting to the
//! Salesforce emulator. The local Transcribe endpoint plays each track's known text (the live call
//! fixture's script) aligned to the audio it receives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use std::time::Duration;

use kvs_transcriber::{TRANSCRIPTION_LIMIT_VALUE, TRANSCRIPTION_STATUS_ATTRIBUTE, handle};
use local_stack::kvs::KvsFault;
use local_stack::transcribe_streaming::{ExceptionKind, Fault, Operation};
use serde_json::{Value, json};
use support::*;

/// A functional bound on one invocation (a hang fails the test instead of blocking it).
async fn run(stack: &Stack, event: Value, invocation: &kvs_transcriber::Invocation) -> Value {
    tokio::time::timeout(Duration::from_secs(60), handle(event, invocation, &stack.deps))
        .await
        .expect("the invocation ends")
        .expect("the invocation succeeds")
}

#[tokio::test]
async fn both_tracks_final_results_are_posted_once_in_order_with_exact_times_and_senders() {
    let stack = Stack::start().await;
    let summary = run(&stack, stack.event("01-both-tracks.json"), &stack.invocation()).await;
    assert_eq!(summary["result"], "Success", "{summary}");
    assert_eq!(summary["customer"], json!({"messages": 3, "end": "callEnded"}));
    assert_eq!(summary["agent"], json!({"messages": 3, "end": "callEnded"}));

    let customer = stack.messages("END_USER");
    let agent = stack.messages("VIRTUAL_AGENT");
    assert_eq!(texts(&customer), stack.expected(CUSTOMER), "the customer's finals, in order, exact times");
    assert_eq!(texts(&agent), stack.expected(AGENT), "the agent's finals, in order, exact times");
    assert_eq!(customer[0].start_time, 1_795_252_503_881, "audio start 1795252503481 + 0.4 s");
    assert!(customer.iter().all(|m| m.participant_id == format!("{CONTACT}END_USER")));
    assert!(agent.iter().all(|m| m.participant_id == format!("{CONTACT}VIRTUAL_AGENT")));
    let call = stack.emulator().voice_call(CONTACT).unwrap();
    assert_eq!(call.messages.len(), 6, "nothing else: no partial result was posted");
    assert_eq!(call.duplicate_messages, 0);

    // Each message is its session's final result (messageId = ResultId); the partials were sent but not posted.
    let sessions = stack.transcribe().sessions();
    assert_eq!(sessions.len(), 2, "one session per track");
    for session in &sessions {
        assert_eq!(session.operation, Some(Operation::StartStreamTranscription));
        assert_eq!(session.header("x-amzn-transcribe-language-code"), Some("en-US"));
        assert_eq!(session.header("x-amzn-transcribe-sample-rate"), Some("8000"));
        assert_eq!(session.header("x-amzn-transcribe-media-encoding"), Some("pcm"));
        assert!(!session.partials().is_empty(), "the endpoint sent partial results");
        let finals: Vec<&str> = session.finals().iter().map(|r| r.result_id.as_str()).collect();
        let (track, _) = session_track_and_offset(&session.session_id).expect("a session id naming the track");
        let posted = if track == CUSTOMER { &customer } else { &agent };
        let ids: Vec<&str> = posted.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, finals, "{track}: one message per final result, by its ResultId");
    }
    // Both reads started at the contact's start fragment.
    for read in stack.kvs().media_reads() {
        assert_eq!(read.start_selector["AfterFragmentNumber"], stack.fixture.fragment_start_number.as_str());
    }
    stack.assert_logs_clean_of(&["Hi, I am calling about my order."]);
}

#[tokio::test]
async fn a_disabled_track_is_not_read_nor_transcribed() {
    let stack = Stack::start().await;
    let event = event_with("01-both-tracks.json", |e| e["streamAudioToCustomer"] = json!(false));
    let summary = run(&stack, event, &stack.invocation()).await;
    assert!(summary.get("agent").is_none(), "{summary}");
    assert_eq!(texts(&stack.messages("END_USER")), stack.expected(CUSTOMER));
    assert!(stack.messages("VIRTUAL_AGENT").is_empty());
    assert_eq!(stack.transcribe().sessions().len(), 1);
    assert_eq!(stack.kvs().media_reads().len(), 1);
}

#[tokio::test]
async fn vocabulary_filter_and_medical_settings_reach_transcribe() {
    let stack = Stack::start().await;
    stack.transcribe().add_vocabulary("acme-products");
    stack.transcribe().add_vocabulary_filter("acme-profanity");
    let event = event_with("02-vocabulary.json", |e| e["streamAudioToCustomer"] = json!(false));
    run(&stack, event, &stack.invocation()).await;
    let session = &stack.transcribe().sessions()[0];
    assert_eq!(session.header("x-amzn-transcribe-vocabulary-name"), Some("acme-products"));
    assert_eq!(session.header("x-amzn-transcribe-vocabulary-filter-name"), Some("acme-profanity"));
    assert_eq!(session.header("x-amzn-transcribe-vocabulary-filter-method"), Some("mask"));

    let stack = Stack::start().await;
    run(&stack, stack.event("03-medical.json"), &stack.invocation()).await;
    let session = &stack.transcribe().sessions()[0];
    assert_eq!(session.operation, Some(Operation::StartMedicalStreamTranscription));
    assert_eq!(session.header("x-amzn-transcribe-specialty"), Some("ONCOLOGY"));
    assert_eq!(session.header("x-amzn-transcribe-type"), Some("CONVERSATION"));
    assert_eq!(texts(&stack.messages("END_USER")), stack.expected(CUSTOMER), "medical results are posted alike");
}

#[tokio::test]
async fn a_salesforce_limit_sets_the_attribute_logs_scv_limits_error_and_stops_the_call() {
    let stack = Stack::start().await;
    stack.emulator().inject(sf_emulator::Fault::status(429, 1000).on("POST", "/messages"));
    let summary = run(&stack, stack.event("01-both-tracks.json"), &stack.invocation()).await;
    assert_eq!(summary["result"], "Success", "a clean stop: {summary}");
    let ends = [summary["customer"]["end"].as_str().unwrap(), summary["agent"]["end"].as_str().unwrap()];
    assert!(ends.contains(&"SCV_LIMITS_ERROR"), "{summary}");
    assert!(ends.iter().all(|e| *e == "SCV_LIMITS_ERROR" || *e == "stopped"), "both tracks stop: {summary}");

    let updates = stack.connect().updates();
    assert_eq!(updates.len(), 1, "the attribute is set once: {updates:?}");
    assert_eq!(updates[0].initial_contact_id, CONTACT);
    assert_eq!(updates[0].instance_id, "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a");
    assert_eq!(updates[0].attributes[TRANSCRIPTION_STATUS_ATTRIBUTE], TRANSCRIPTION_LIMIT_VALUE);
    let limit_lines = local_stack::stack::lines_with(stack.logs(), "SCV_LIMITS_ERROR");
    assert!(!limit_lines.is_empty());
    assert!(limit_lines.iter().all(|l| l["contactId"] == CONTACT));
    // No hammering: at most the first message of each track, with the shared client's few retries.
    let posts = stack.emulator().requests_to("POST", &format!("/telephony/v1/voiceCalls/{CONTACT}/messages"));
    assert!(!posts.is_empty() && posts.len() <= 2 * 4, "{} message requests", posts.len());
    assert!(stack.messages("END_USER").is_empty());
    stack.assert_logs_clean();
}

/// A failure of the first session after `results` result events; the second session resumes.
async fn resumed_after(fault: impl FnOnce(&Stack)) {
    let stack = Stack::start().await;
    fault(&stack);
    let event = event_with("01-both-tracks.json", |e| e["streamAudioToCustomer"] = json!(false));
    let summary = run(&stack, event, &stack.invocation()).await;
    assert_eq!(summary["customer"]["end"], "callEnded", "{summary}");
    assert_eq!(
        texts(&stack.messages("END_USER")),
        stack.expected(CUSTOMER),
        "every utterance once, in order, exact times"
    );
    assert_eq!(stack.emulator().voice_call(CONTACT).unwrap().duplicate_messages, 0);
    let reads = stack.kvs().media_reads();
    assert!(reads.len() >= 2, "read again after the failure: {reads:?}");
    // The first session posted "Hi, I am calling about my order." (ends at 2.1 s): the next read
    // starts with the fragment holding 2.1 s, the third.
    let resumed = reads.last().unwrap().start_selector["AfterFragmentNumber"].as_str().unwrap().to_string();
    assert_eq!(resumed, stack.fixture.fragments[2].number, "resumed from the fragment of the last posted result");
    // (The capture holds the lines of every test of this process.)
    let resuming = format!("resuming from fragment {}", stack.fixture.fragments[2].number);
    let lines = local_stack::stack::lines_with(stack.logs(), &resuming);
    assert!(lines.iter().any(|l| l["level"] == "WARN" && l["contactId"] == CONTACT), "{lines:?}");
}

#[tokio::test]
async fn a_transcribe_exception_mid_stream_resumes_without_duplicate_or_loss() {
    // Results: the first utterance's two partials and final, then a partial of the second.
    resumed_after(|s| {
        s.transcribe().inject(Fault::ExceptionAfter { results: 4, exception: ExceptionKind::InternalFailure });
    })
    .await;
}

#[tokio::test]
async fn a_limit_exceeded_exception_and_a_dropped_connection_resume_too() {
    resumed_after(|s| {
        s.transcribe().inject(Fault::ExceptionAfter { results: 4, exception: ExceptionKind::LimitExceeded });
    })
    .await;
    resumed_after(|s| s.transcribe().inject(Fault::DropConnectionAfter { results: 4 })).await;
}

#[tokio::test]
async fn a_kinesis_video_cut_resumes_from_the_last_fragment() {
    let stack = Stack::start().await;
    // Cut within the sixth fragment (each is 32795 bytes): well after the second utterance's end.
    stack.kvs().inject(KvsFault::CutMedia { bytes: 5 * 32_795 + 10_000, count: 1 });
    let event = event_with("01-both-tracks.json", |e| e["streamAudioToCustomer"] = json!(false));
    run(&stack, event, &stack.invocation()).await;
    assert_eq!(texts(&stack.messages("END_USER")), stack.expected(CUSTOMER));
    let reads = stack.kvs().media_reads();
    assert_eq!(reads.len(), 2);
    assert!(reads[0].cut);
    // Last posted before the cut: "It was supposed to arrive on Monday." ending at 4.3 s.
    assert_eq!(reads[1].start_selector["AfterFragmentNumber"], stack.fixture.fragments[4].number.as_str());
}

#[tokio::test]
async fn at_the_deadline_the_call_continues_in_a_new_invocation_that_picks_up_exactly() {
    let stack = Stack::start().await;
    // Slow results: the invocation's time runs out mid-call.
    stack.transcribe().inject(Fault::Slow(Duration::from_millis(400)));
    let event = event_with("01-both-tracks.json", |e| e["streamAudioToCustomer"] = json!(false));
    let summary = run(&stack, event, &stack.invocation_until(Duration::from_millis(2000))).await;
    assert_eq!(summary["result"], "Continued", "{summary}");
    assert_eq!(summary["customer"]["end"], "continued");

    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 1);
    assert_eq!(invokes[0].invocation_type, "Event");
    assert_eq!(invokes[0].function, "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-kvsTranscriber:active");
    let payload = invokes[0].payload.clone();
    assert_eq!(payload["voiceCallId"], CONTACT, "the official request is carried on");
    assert_eq!(payload["scvContinuation"]["invocation"], 1);
    assert!(payload["scvContinuation"].get("agent").is_none(), "a disabled track stays off");
    let resume = &payload["scvContinuation"]["customer"];
    let posted_until = resume["postedUntilMs"].as_u64().unwrap();
    let first = stack.messages("END_USER");
    let expected = stack.expected(CUSTOMER);
    assert!(first.len() < 3, "the deadline came before the call's end: {first:?}");
    assert_eq!(texts(&first), expected[..first.len()].to_vec());
    let start = stack.fixture.audio_start_timestamp_ms;
    let last_end = first.last().map_or(0, |m| u64::try_from(m.end_time - start).unwrap());
    assert_eq!(posted_until, last_end, "the continuation knows what was posted");
    // The fragment holding the end of the last posted result (1 s fragments).
    let index = usize::try_from(posted_until / 1000).unwrap();
    assert_eq!(resume["fragment"], stack.fixture.fragments[index].number.as_str());
    assert_eq!(resume["fragmentOffsetMs"].as_u64(), Some(1000 * index as u64));

    // The continuation: every remaining utterance once, nothing repeated.
    let summary = run(&stack, payload, &stack.invocation()).await;
    assert_eq!(summary["result"], "Success", "{summary}");
    assert_eq!(summary["invocation"], 1);
    assert_eq!(texts(&stack.messages("END_USER")), expected, "all of the call, once, in order");
    assert_eq!(stack.emulator().voice_call(CONTACT).unwrap().duplicate_messages, 0);
    assert_eq!(stack.recorder().invokes().len(), 1, "the call ended in the continuation");
}

#[tokio::test]
async fn a_stalled_stream_ends_the_call_after_a_bounded_wait() {
    let fixture = local_stack::kvs::KvsFixture::live_call().unwrap();
    // The stream ends with the call's last fragment and stays open: nothing tells the call ended.
    let stalled = fixture.ending_at_stop(&fixture.stream_arn);
    let stack = Stack::start_with(stalled).await;
    let summary = run(&stack, stack.event("01-both-tracks.json"), &stack.invocation()).await;
    assert_eq!(summary["customer"]["end"], "callEnded", "{summary}");
    assert_eq!(summary["agent"]["end"], "callEnded", "{summary}");
    assert_eq!(texts(&stack.messages("END_USER")), stack.expected(CUSTOMER));
    assert_eq!(texts(&stack.messages("VIRTUAL_AGENT")), stack.expected(AGENT));
    let lines = local_stack::stack::lines_with(stack.logs(), "no audio arrived for the stall timeout");
    assert!(lines.len() >= 2, "each track stopped waiting: {lines:?}");
}

#[tokio::test]
async fn bad_requests_fail_naming_the_field_and_the_contact() {
    let stack = Stack::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (event_with("01-both-tracks.json", |e| e["languageCode"] = json!("xx-XX")), "languageCode \"xx-XX\""),
        (event_with("01-both-tracks.json", |e| e["audioStartTimestamp"] = json!("soon")), "audioStartTimestamp"),
        (event_with("01-both-tracks.json", |e| e["voiceCallId"] = json!("../x")), "voiceCallId"),
        (
            event_with("01-both-tracks.json", |e| e.as_object_mut().unwrap().remove("streamARN").map(|_| ()).unwrap()),
            "streamARN",
        ),
    ];
    for (event, needle) in cases {
        let err = handle(event, &stack.invocation(), &stack.deps).await.expect_err(needle);
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(stack.transcribe().sessions().is_empty());
}

/// Issue 15, through the real binaries: the first `kvs-transcriber` process runs out of time
/// mid-call and invokes itself through the Lambda Invoke API (the local recorder); the payload it
/// sent is delivered, as Lambda would, to a second `kvs-transcriber` process, which picks up where
/// the first stopped: every utterance once, in order, with its exact times.
#[tokio::test]
async fn a_continuation_between_two_real_processes_picks_up_exactly() {
    use local_stack::runtime::FunctionProcess;
    use scv_shared::config::transcription::TRANSCRIBER_CONTINUATION_MARGIN_MS;

    let stack = Stack::start().await;
    // Slow results: the first invocation's time (4 s, 2 s kept for the handover) runs out mid-call.
    stack.transcribe().inject(Fault::Slow(Duration::from_millis(400)));
    let spec = |timeout: Duration| {
        stack.function_spec().with_env(TRANSCRIBER_CONTINUATION_MARGIN_MS, "2000").with_timeout(timeout)
    };
    let first = FunctionProcess::spawn(spec(Duration::from_secs(4))).await.expect("the first process");
    first.wait_ready(Duration::from_secs(10)).await.expect("init");
    let second = FunctionProcess::spawn(spec(Duration::from_secs(60))).await.expect("the second process");
    second.wait_ready(Duration::from_secs(10)).await.expect("init");

    let event = event_with("01-both-tracks.json", |e| e["streamAudioToCustomer"] = json!(false));
    let summary = first.invoke(event).await.expect("answered").result.expect("the first invocation succeeds");
    assert_eq!(summary["result"], "Continued", "{summary}");
    let before = stack.messages("END_USER");
    let expected = stack.expected(CUSTOMER);
    assert!(before.len() < expected.len(), "the time ran out before the call's end: {before:?}");
    assert_eq!(texts(&before), expected[..before.len()].to_vec());

    let invokes = stack.recorder().invokes();
    assert_eq!(invokes.len(), 1, "{invokes:?}");
    assert_eq!(invokes[0].invocation_type, "Event");
    assert_eq!(invokes[0].function, first.arn(), "the function continues in itself");
    let payload = invokes[0].payload.clone();
    let resume = payload["scvContinuation"]["customer"].clone();
    let start = stack.fixture.audio_start_timestamp_ms;
    let posted_until = before.last().map_or(0, |m| u64::try_from(m.end_time - start).unwrap());
    assert_eq!(resume["postedUntilMs"].as_u64(), Some(posted_until), "{payload}");
    let index = usize::try_from(posted_until / 1000).unwrap();
    assert_eq!(resume["fragment"], stack.fixture.fragments[index].number.as_str(), "{payload}");

    // Lambda delivers the asynchronous invoke to another execution environment.
    let summary = second.invoke(payload).await.expect("answered").result.expect("the continuation succeeds");
    assert_eq!(summary["result"], "Success", "{summary}");
    assert_eq!(summary["invocation"], 1);
    assert_eq!(texts(&stack.messages("END_USER")), expected, "all of the call, once, in order, exact times");
    assert_eq!(stack.emulator().voice_call(CONTACT).unwrap().duplicate_messages, 0);
    assert_eq!(stack.recorder().invokes().len(), 1, "the call ended in the continuation");
    let reads = stack.kvs().media_reads();
    assert_eq!(reads.last().unwrap().start_selector["AfterFragmentNumber"], resume["fragment"]);
    first.shutdown().await.expect("shutdown");
    second.shutdown().await.expect("shutdown");
}
