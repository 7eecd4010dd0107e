//! The stack for CTRDataSync's end-to-end tests: the Salesforce emulator, moto (SSM, S3) with a
//! fresh backup bucket, and the function's Deps built from an environment map.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ctr_data_sync::{CATEGORY, Deps, Outcome, handle};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::keys::SsmClient;
use scv_shared::kinesis::KinesisEventResponse;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub env: HashMap<String, String>,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["ctr_data_sync"], LogLevel::Debug)
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("keys");
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![keys.public_pem.clone()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bucket = format!("ctr-backup-{}", &id[..12]);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let param = format!("test-{id}-scrt-key");
        put_secure_parameter(&sdk, &param, &keys.private_pkcs8_pem).await.expect("key");
        let env: HashMap<String, String> = [
            ("SALESFORCE_ORG_ID", ORG_ID.to_string()),
            ("CALL_CENTER_API_NAME", CALL_CENTER.to_string()),
            ("SCRT_ENDPOINT_BASE", emulator.scrt_base()),
            ("PRIVATE_KEY_PARAM_NAME", param),
            ("CTR_BACKUP_S3_BUCKET", bucket.clone()),
            ("CTR_SYNC_CONCURRENCY", "10".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let deps = deps_for(&env, &sdk, s3.clone());
        Stack { emulator, keys, sdk, s3, bucket, env, deps, logs }
    }

    pub async fn run(&self, event: &Value) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        handle(event.clone(), Deadline::after(Duration::from_secs(60)), &self.deps).await.expect("a Kinesis event")
    }

    /// Every object key in the bucket under `prefix`.
    pub async fn keys_under(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list");
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        keys
    }

    pub async fn object(&self, key: &str) -> Option<String> {
        let out = self.s3.get_object().bucket(&self.bucket).key(key).send().await.ok()?;
        let bytes = out.body.collect().await.ok()?.into_bytes();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn assert_logs_clean(&self) {
        local_stack::secrets::assert_no_secrets(&self.logs.lines(), &[&self.keys], &[]);
    }
}

pub fn deps_for(env: &HashMap<String, String>, sdk: &scv_shared::aws::SdkConfig, s3: aws_sdk_s3::Client) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, SsmClient::new(sdk), s3).expect("configuration")
}

pub fn event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/ctr-data-sync").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("JSON")
}

/// The CTR inside a Kinesis record of a sample batch.
pub fn ctr_of(record: &Value) -> Value {
    let data = record["kinesis"]["data"].as_str().expect("data");
    let text = scv_shared::kinesis::decode_data(data).expect("decodable");
    serde_json::from_str(&text).expect("a CTR")
}

pub fn seq_of(record: &Value) -> String {
    record["kinesis"]["sequenceNumber"].as_str().expect("seq").to_string()
}

pub fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect()
}
