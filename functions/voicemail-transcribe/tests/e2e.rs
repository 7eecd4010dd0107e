//! VoiceMailTranscribe end to end against moto's S3 and Transcribe: the sample S3 event through the
//! handler, the job's settings as Transcribe holds them, duplicates, conflicts and failures.
//!
//! moto's Transcribe advances a job one state per GetTranscriptionJob and never writes the
//! transcript file; these tests read the job it holds, not a transcript.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use aws_sdk_transcribe::types::{LanguageCode, Media, MediaFormat, TranscriptionJobStatus};
use serde_json::json;
use support::*;
use voicemail_transcribe::{Status, TranscribeError, handle};

const TAGS: &str = "vm_lang=es-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp=2024-01-04T19%3A49%3A19Z\
                    &vm_endTimestamp=2024-01-04T19%3A50%3A07Z&vm_duration=5";

#[tokio::test]
async fn a_recording_starts_one_job_with_the_documented_settings() {
    let stack = Stack::start(TAGS).await;
    let out = handle(&stack.event(), &stack.deps).await.expect("started");
    assert_eq!(out.status, Status::Started);
    assert_eq!(out.job_name.as_deref(), Some(stack.contact_id.as_str()), "the job is named after the contact");
    let job = stack.job().await;
    assert_eq!(job.language_code(), Some(&LanguageCode::EsUs), "vm_lang from the recording's tags");
    assert_eq!(job.media_format(), Some(&MediaFormat::Wav));
    assert_eq!(job.media_sample_rate_hertz(), Some(8000));
    let uri = format!("s3://{}/voicemail_recordings/{}.wav", stack.bucket(), stack.contact_id);
    assert_eq!(job.media().and_then(|m| m.media_file_uri()), Some(uri.as_str()));
    // moto reveals the output location once the job has completed (one state per read).
    let mut job = job;
    for _ in 0..5 {
        if job.transcription_job_status() == Some(&TranscriptionJobStatus::Completed) {
            break;
        }
        job = stack.job().await;
    }
    let output = job.transcript().and_then(|t| t.transcript_file_uri()).expect("output location");
    assert!(
        output.ends_with(&format!("/{}/voicemail_transcripts/{}.json", stack.bucket(), stack.contact_id)),
        "{output}"
    );
}

#[tokio::test]
async fn without_vm_lang_the_language_is_en_us() {
    let stack = Stack::start("vm_duration=5").await;
    let out = handle(&stack.event(), &stack.deps).await.expect("started");
    assert_eq!(out.language_code.as_deref(), Some("en-US"));
    assert_eq!(stack.job().await.language_code(), Some(&LanguageCode::EnUs));
}

#[tokio::test]
async fn a_duplicate_event_starts_no_second_job() {
    let stack = Stack::start(TAGS).await;
    let event = stack.event();
    assert_eq!(handle(&event, &stack.deps).await.unwrap().status, Status::Started);
    assert_eq!(handle(&event, &stack.deps).await.unwrap().status, Status::AlreadyStarted);
    assert_eq!(stack.jobs_of_this_contact().await, 1);
}

#[tokio::test]
async fn a_job_of_that_name_for_another_recording_fails_the_invocation() {
    let stack = Stack::start(TAGS).await;
    stack
        .transcribe
        .start_transcription_job()
        .transcription_job_name(&stack.contact_id)
        .language_code(LanguageCode::EnUs)
        .media(Media::builder().media_file_uri("s3://elsewhere/other.wav").build())
        .send()
        .await
        .expect("a job of the same name");
    let err = handle(&stack.event(), &stack.deps).await.unwrap_err();
    assert!(matches!(err, TranscribeError::OtherMedia { .. }), "{err}");
    assert!(err.to_string().contains(&stack.contact_id) && err.to_string().contains("s3://elsewhere/other.wav"));
}

#[tokio::test]
async fn failures_fail_the_invocation_and_the_retry_starts_the_job() {
    let stack = Stack::start(TAGS).await;
    // Transcribe unreachable: the invocation fails (Lambda retries it), naming the contact and job.
    let dead = local_stack::moto::aws_sdk_config("http://127.0.0.1:9").await;
    let broken = voicemail_transcribe::Deps::new(stack.s3.clone(), aws_sdk_transcribe::Client::new(&dead));
    let err = handle(&stack.event(), &broken).await.unwrap_err();
    assert!(matches!(err, TranscribeError::Start { .. }), "{err}");
    assert!(err.to_string().contains(&stack.contact_id));
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "AwsUnavailable");
    // The retry.
    assert_eq!(handle(&stack.event(), &stack.deps).await.unwrap().status, Status::Started);

    // The recording is gone: fails, naming the object.
    let mut missing = stack.event();
    missing["detail"]["object"]["key"] = json!("voicemail_recordings/0b9f2c1e-0000-4000-8000-000000000000.wav");
    let err = handle(&missing, &stack.deps).await.unwrap_err();
    assert!(matches!(err, TranscribeError::Tags { .. }), "{err}");
}

#[tokio::test]
async fn other_objects_and_other_events_are_not_transcribed() {
    let stack = Stack::start(TAGS).await;
    let mut other = stack.event();
    other["detail"]["object"]["key"] = json!("voicemail_recordings/readme.txt");
    assert_eq!(handle(&other, &stack.deps).await.unwrap().status, Status::Ignored);
    other["detail"]["object"]["key"] = json!("voicemail_recordings/nested/x.wav");
    assert_eq!(handle(&other, &stack.deps).await.unwrap().status, Status::Ignored);
    let err = handle(&json!({"source": "aws.connect", "detail": {}}), &stack.deps).await.unwrap_err();
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "InvalidEvent");
    assert_eq!(stack.jobs_of_this_contact().await, 0);
}

/// Issue 13 item 8: `vm_lang` is checked against the Amazon Transcribe batch language codes; an
/// unknown one fails naming the contact and the value, and no job is started.
#[tokio::test]
async fn an_unknown_vm_lang_is_refused_naming_the_contact_and_the_value() {
    let stack = Stack::start("vm_lang=xx-NOPE&vm_dialedNumber=%2B15555550100").await;
    let err = handle(&stack.event(), &stack.deps).await.expect_err("an unknown language");
    assert!(matches!(err, TranscribeError::Language { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&stack.contact_id) && text.contains("\"xx-NOPE\""), "{text}");
    assert_eq!(err.kind(), "InvalidEvent");
    assert_eq!(stack.jobs_of_this_contact().await, 0, "no job started");
}
