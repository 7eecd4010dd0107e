//! VoiceMailAudioProcessing's stack: the local stack of its template resource (the local Kinesis
//! Video endpoint serving the fixture stream, moto with a fresh recordings bucket) and its Deps
//! built from that environment.

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::kvs::KvsFixture;
use local_stack::moto::aws_sdk_config;
use scv_shared::kinesis::KinesisEventResponse;
use scv_shared::retry::Deadline;
use serde_json::Value;
use voicemail_audio_processing::{CATEGORY, Deps, Outcome, handle};

pub use local_stack::records::{ctr_of, seq_of};

local_stack::function_stack! {
    pub struct Stack {
        pub fixture: KvsFixture,
        pub kvs_sdk: scv_shared::aws::SdkConfig,
        pub deps: Deps,
    }
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
        let fixture = KvsFixture::voicemail().expect("the voicemail fixture");
        let local = local_stack::stack::Stack::builder("voicemail-audio-processing")
            .capture_logs(CATEGORY)
            .kvs_fixtures(vec![fixture.clone()])
            .start()
            .await
            .expect("the local stack");
        let kvs_sdk = aws_sdk_config(&local.kvs().endpoint()).await;
        let deps = deps_for(&local.env, &kvs_sdk, local.s3.clone());
        Stack { local, fixture, kvs_sdk, deps }
    }

    pub async fn run(&self, event: &Value) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        self.run_with(event, &self.deps).await
    }

    pub async fn run_with(&self, event: &Value, deps: &Deps) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        handle(event.clone(), Deadline::after(Duration::from_secs(60)), deps).await.expect("a Kinesis event")
    }

    pub async fn stored(&self, key: &str) -> Option<Stored> {
        let out = self.s3.get_object().bucket(self.bucket()).key(key).send().await.ok()?;
        let content_type = out.content_type().map(str::to_string);
        let body = out.body.collect().await.ok()?.into_bytes().to_vec();
        let tagging = self.s3.get_object_tagging().bucket(self.bucket()).key(key).send().await.ok()?;
        let tags = tagging.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        Some(Stored { body, content_type, tags })
    }

    /// Whether the function closed GetMedia connection `index` (the server notices it shortly after;
    /// it would otherwise hold the connection open for a minute).
    pub async fn client_closed_media(&self, index: usize) -> bool {
        for _ in 0..100 {
            if self.kvs().media_reads().get(index).is_some_and(|r| r.closed_by_client) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub async fn keys(&self) -> Vec<String> {
        self.keys_under("").await
    }
}

pub fn deps_for(env: &BTreeMap<String, String>, kvs_sdk: &scv_shared::aws::SdkConfig, s3: aws_sdk_s3::Client) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, kvs_sdk, s3).expect("configuration")
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event("voicemail-audio-processing", name).expect("sample event")
}

/// The record with its CTR replaced.
pub fn with_ctr(record: &Value, ctr: &Value) -> Value {
    local_stack::records::with_data(record, ctr)
}

pub fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect()
}
