//! VoiceMailAudioProcessing end to end: the sample CTR events through the handler, the real
//! Kinesis Video SDK against the local endpoint serving the Matroska fixture, moto's S3.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use local_stack::kvs::KvsFault;
use scv_shared::voicemail::recording_key;
use scv_shared::wav::{self, PcmFormat};
use serde_json::json;
use support::*;
use voicemail_audio_processing::Outcome;

#[tokio::test]
async fn a_voicemail_ctr_becomes_a_wav_of_the_callers_voice_only_with_the_official_tags() {
    let stack = Stack::start().await;
    let batch = event("voicemail-ctr.json");
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{outcomes:?}");
    let key = recording_key(&stack.fixture.contact_id);
    assert!(matches!(&outcomes[0].1, Outcome::Written { key: k, duration_secs: 5, .. } if *k == key), "{outcomes:?}");

    let stored = stack.stored(&key).await.expect("the recording is in S3");
    assert_eq!(stored.content_type.as_deref(), Some("audio/x-wav"));
    let (format, data) = wav::decode(&stored.body).expect("a WAV with real RIFF and data sizes");
    assert_eq!(format, PcmFormat::TELEPHONY);
    let customer = stack.fixture.customer_source_pcm().unwrap();
    assert_eq!(data.len(), customer.len(), "exactly the five voicemail fragments");
    let first_difference = data.iter().zip(&customer).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "sample for sample the customer's track");
    assert_ne!(data, &stack.fixture.agent_source_pcm().unwrap()[..]);

    let ctr = ctr_of(&batch["Records"][0]);
    let expected: Vec<(&str, String)> = vec![
        ("vm_dialedNumber", "+15555550100".into()),
        ("vm_duration", "5".into()),
        ("vm_endTimestamp", ctr["DisconnectTimestamp"].as_str().unwrap().into()),
        ("vm_from", "+15555550123".into()),
        ("vm_initTimestamp", ctr["InitiationTimestamp"].as_str().unwrap().into()),
        ("vm_lang", "en-US".into()),
        ("vm_recordingUrl", format!("{}/{key}", stack.bucket())),
    ];
    let tags: Vec<(&str, String)> = stored.tags.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(tags, expected);

    // Read from the start fragment, and not to the end of the (still open) stream.
    let media = stack.kvs().requests().into_iter().filter(|r| r.operation == "getMedia").collect::<Vec<_>>();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].body["StartSelector"]["StartSelectorType"], "FRAGMENT_NUMBER");
    assert_eq!(media[0].body["StartSelector"]["AfterFragmentNumber"], stack.fixture.fragment_start_number);
    assert_eq!(media[0].body["StreamARN"], stack.fixture.stream_arn);
    assert!(stack.client_closed_media(0).await, "the function closed the connection itself");
}

#[tokio::test]
async fn the_stop_fragment_ends_the_read_even_when_nothing_follows_it() {
    let stack = Stack::start().await;
    let arn = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/acme-connect-contact-live/1704390000001";
    stack.kvs().add_stream(stack.fixture.ending_at_stop(arn));
    let batch = event("voicemail-ctr.json");
    let mut ctr = ctr_of(&batch["Records"][0]);
    ctr["Recordings"][0]["Location"] = json!(arn);
    let batch = json!({"Records": [with_ctr(&batch["Records"][0], &ctr)]});
    // The server keeps the connection open after the last fragment, like a live stream: waiting
    // for its end would run into the idle timeout and fail the record.
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{outcomes:?}");
    let stored = stack.stored(&recording_key(&stack.fixture.contact_id)).await.expect("written");
    let (_, data) = wav::decode(&stored.body).unwrap();
    assert_eq!(data, &stack.fixture.customer_source_pcm().unwrap()[..]);
    assert!(stack.kvs().media_reads()[0].all_sent);
    assert!(stack.client_closed_media(0).await, "the function closed the connection itself");
}

#[tokio::test]
async fn reprocessing_the_same_record_overwrites_the_same_object() {
    let stack = Stack::start().await;
    let batch = event("voicemail-ctr.json");
    stack.run(&batch).await;
    let key = recording_key(&stack.fixture.contact_id);
    let first = stack.stored(&key).await.expect("written");
    let (response, _) = stack.run(&batch).await;
    assert!(failures(&response).is_empty());
    let second = stack.stored(&key).await.expect("written again");
    assert_eq!(second.body, first.body);
    assert_eq!(second.tags, first.tags, "tags are replaced, never appended to");
    assert_eq!(stack.keys().await, vec![key]);
}

#[tokio::test]
async fn the_mixed_sample_skips_other_ctrs_and_counts_the_malformed_one_as_handled() {
    let stack = Stack::start().await;
    let batch = event("mixed-batch.json");
    let (response, outcomes) = stack.run(&batch).await;
    assert!(failures(&response).is_empty(), "{outcomes:?}");
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|(_, o)| match o {
            Outcome::Written { .. } => "written",
            Outcome::Skipped(_) => "skipped",
            Outcome::Malformed(_) => "malformed",
            Outcome::Failed(_) => "failed",
        })
        .collect();
    assert_eq!(kinds, vec!["skipped", "written", "skipped", "malformed"]);
    assert!(matches!(&outcomes[2].1, Outcome::Skipped(r) if r.contains("vm_flag is 0")));
    assert_eq!(stack.keys().await, vec![recording_key(&stack.fixture.contact_id)]);
    let poison = seq_of(&batch["Records"][3]);
    let logged = stack.logs().lines().into_iter().any(|l| l.contains(&poison) && l.contains("\"ERROR\""));
    assert!(logged, "the malformed record is logged at ERROR with its sequence number");
}

#[tokio::test]
async fn kinesis_video_down_reports_the_record_and_the_retry_writes_it() {
    let stack = Stack::start().await;
    stack.kvs().inject(KvsFault::Status { operation: "getMedia", status: 500, count: 1000 });
    let batch = event("mixed-batch.json");
    let voicemail_seq = seq_of(&batch["Records"][1]);
    let (response, outcomes) = stack.run(&batch).await;
    assert_eq!(failures(&response), vec![voicemail_seq.clone()], "only the voicemail is reported");
    assert!(
        matches!(&outcomes[1].1, Outcome::Failed(m) if m.contains("GetMedia") && m.contains(&stack.fixture.contact_id)),
        "{outcomes:?}"
    );
    assert!(stack.keys().await.is_empty(), "nothing half-written");
    let error = stack.logs().lines().into_iter().find(|l| l.contains(&voicemail_seq) && l.contains("\"ERROR\""));
    assert!(error.is_some_and(|l| l.contains(&stack.fixture.contact_id)), "logged with contact and sequence number");

    stack.kvs().clear_faults();
    let retry = serde_json::json!({"Records": [batch["Records"][1].clone()]});
    let (response, outcomes) = stack.run(&retry).await;
    assert!(failures(&response).is_empty(), "{outcomes:?}");
    assert!(stack.stored(&recording_key(&stack.fixture.contact_id)).await.is_some());
}

#[tokio::test]
async fn a_media_stream_cut_halfway_is_read_again_never_stored_short() {
    let stack = Stack::start().await;
    stack.kvs().inject(KvsFault::CutMedia { bytes: 70_000, count: 1 });
    let (response, outcomes) = stack.run(&event("voicemail-ctr.json")).await;
    assert!(failures(&response).is_empty(), "{outcomes:?}");
    let reads = stack.kvs().media_reads();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads[0].cut);
    let stored = stack.stored(&recording_key(&stack.fixture.contact_id)).await.expect("written");
    let (_, data) = wav::decode(&stored.body).unwrap();
    assert_eq!(data, &stack.fixture.customer_source_pcm().unwrap()[..], "whole, from the second read");

    // Cut on every read: reported, nothing stored.
    let stack = Stack::start().await;
    stack.kvs().inject(KvsFault::CutMedia { bytes: 70_000, count: 100 });
    let (response, outcomes) = stack.run(&event("voicemail-ctr.json")).await;
    assert_eq!(failures(&response).len(), 1, "{outcomes:?}");
    assert!(stack.keys().await.is_empty());
}

#[tokio::test]
async fn s3_down_reports_the_record_and_an_unknown_stream_too() {
    let stack = Stack::start().await;
    let dead = local_stack::moto::aws_sdk_config("http://127.0.0.1:9").await;
    let deps = deps_for(&stack.env, &stack.kvs_sdk, scv_shared::aws::s3_client(&dead));
    let batch = event("voicemail-ctr.json");
    let (response, outcomes) = stack.run_with(&batch, &deps).await;
    assert_eq!(failures(&response), vec![seq_of(&batch["Records"][0])]);
    assert!(matches!(&outcomes[0].1, Outcome::Failed(m) if m.contains("writing s3://")), "{outcomes:?}");

    let mut ctr = ctr_of(&batch["Records"][0]);
    ctr["Recordings"][0]["Location"] = json!("arn:aws:kinesisvideo:us-east-1:123456789012:stream/gone/1");
    let gone = json!({"Records": [with_ctr(&batch["Records"][0], &ctr)]});
    let (response, outcomes) = stack.run(&gone).await;
    assert_eq!(failures(&response).len(), 1);
    assert!(matches!(&outcomes[0].1, Outcome::Failed(m) if m.contains("GetDataEndpoint")), "{outcomes:?}");
}

/// A stream whose GetMedia answers 500 is asked once, not read again in the invocation (nor retried
/// inside the SDK): the record is reported for retry at once and the batch's time is left to the
/// other records (issue 18, voicemail reads bounded).
#[tokio::test]
async fn a_stream_answering_500_is_reported_after_one_request() {
    let stack = Stack::start().await;
    stack.kvs().inject(KvsFault::Status { operation: "getMedia", status: 500, count: 1000 });
    let batch = event("mixed-batch.json");
    let voicemail_seq = seq_of(&batch["Records"][1]);
    let (response, outcomes) = stack.run(&batch).await;
    assert_eq!(failures(&response), vec![voicemail_seq], "the voicemail is reported for retry");
    assert!(
        matches!(&outcomes[1].1, Outcome::Failed(m) if m.contains("GetMedia") && m.contains("HTTP 500")),
        "{outcomes:?}"
    );
    let get_media = stack.kvs().requests().iter().filter(|r| r.operation == "getMedia").count();
    assert_eq!(get_media, 1, "one GetMedia request, no in-invocation retries of a 500");
}
