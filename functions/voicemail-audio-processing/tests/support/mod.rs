//! The stack for VoiceMailAudioProcessing's end-to-end tests: the local Kinesis Video endpoint
//! serving the fixture stream, moto (S3) with a fresh recordings bucket, and the function's Deps
//! built from an environment map.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use local_stack::kvs::{KvsFixture, KvsServer};
use local_stack::moto::{Moto, aws_sdk_config};
use scv_shared::kinesis::KinesisEventResponse;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use serde_json::Value;
use voicemail_audio_processing::{CATEGORY, Deps, Outcome, handle};

pub struct Stack {
    pub kvs: KvsServer,
    pub fixture: KvsFixture,
    pub sdk: scv_shared::aws::SdkConfig,
    pub kvs_sdk: scv_shared::aws::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub env: HashMap<String, String>,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

/// What S3 holds for one object.
#[derive(Debug)]
pub struct Stored {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = scv_shared::logging::capture(CATEGORY, &["voicemail_audio_processing"], LogLevel::Debug);
        let fixture = KvsFixture::voicemail().expect("the voicemail fixture");
        let kvs = KvsServer::start(vec![fixture.clone()]).await.expect("local Kinesis Video");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let kvs_sdk = aws_sdk_config(&kvs.endpoint()).await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bucket = format!("acme-cc-{}", &id[..12]);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let env: HashMap<String, String> = [("s3_recordings_bucket".to_string(), bucket.clone())].into_iter().collect();
        let deps = deps_for(&env, &kvs_sdk, s3.clone());
        Stack { kvs, fixture, sdk, kvs_sdk, s3, bucket, env, deps, logs }
    }

    pub async fn run(&self, event: &Value) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        self.run_with(event, &self.deps).await
    }

    pub async fn run_with(&self, event: &Value, deps: &Deps) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        handle(event.clone(), Deadline::after(Duration::from_secs(60)), deps).await.expect("a Kinesis event")
    }

    pub async fn stored(&self, key: &str) -> Option<Stored> {
        let out = self.s3.get_object().bucket(&self.bucket).key(key).send().await.ok()?;
        let content_type = out.content_type().map(str::to_string);
        let body = out.body.collect().await.ok()?.into_bytes().to_vec();
        let tagging = self.s3.get_object_tagging().bucket(&self.bucket).key(key).send().await.ok()?;
        let tags = tagging.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        Some(Stored { body, content_type, tags })
    }

    /// Whether the function closed GetMedia connection `index` (the server notices it shortly after;
    /// it would otherwise hold the connection open for a minute).
    pub async fn client_closed_media(&self, index: usize) -> bool {
        for _ in 0..100 {
            if self.kvs.media_reads().get(index).is_some_and(|r| r.closed_by_client) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub async fn keys(&self) -> Vec<String> {
        let out = self.s3.list_objects_v2().bucket(&self.bucket).send().await.expect("list");
        out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
    }
}

pub fn deps_for(env: &HashMap<String, String>, kvs_sdk: &scv_shared::aws::SdkConfig, s3: aws_sdk_s3::Client) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, kvs_sdk, s3).expect("configuration")
}

pub fn event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/voicemail-audio-processing").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("JSON")
}

/// The CTR inside a Kinesis record of a sample batch.
pub fn ctr_of(record: &Value) -> Value {
    let data = record["kinesis"]["data"].as_str().expect("data");
    serde_json::from_str(&scv_shared::kinesis::decode_data(data).expect("decodable")).expect("a CTR")
}

/// The record with its CTR replaced.
pub fn with_ctr(record: &Value, ctr: &Value) -> Value {
    use base64::Engine;
    let mut record = record.clone();
    record["kinesis"]["data"] = Value::String(base64::engine::general_purpose::STANDARD.encode(ctr.to_string()));
    record
}

pub fn seq_of(record: &Value) -> String {
    record["kinesis"]["sequenceNumber"].as_str().expect("seq").to_string()
}

pub fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect()
}
