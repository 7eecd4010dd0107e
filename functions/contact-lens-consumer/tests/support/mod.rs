//! The consumer's stack: the Salesforce emulator, moto (SSM holds the key) and the REAL
//! contact-lens-processor binary behind a local Lambda runtime, so the consumer's asynchronous
//! invocation is a real one.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use local_stack::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use local_stack::runtime::{FunctionProcess, FunctionSpec, binary_path};
use scv_shared::config::ScrtConfig;
use scv_shared::keys::{KeyCache, KeySource, SsmClient};
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{CreateVoiceCall, Participant, TelephonyClient};
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";

pub fn contact(n: usize) -> String {
    format!("7c1e{n:04}-2d4a-4c8e-9b1f-3a5d7e9c0b2{n}")
}

pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(contact_lens_consumer::CATEGORY, &["contact_lens_consumer"], LogLevel::Debug)
}

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub telephony: TelephonyClient,
    pub processor: FunctionProcess,
    pub logs: CapturedLogs,
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![keys.public_pem.clone()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let param = format!("test-{}-scrt-jwt-auth-private-key", uuid::Uuid::new_v4().simple());
        put_secure_parameter(&sdk, &param, &keys.private_pkcs1_pem).await.expect("put key");
        let binary = binary_path("contact-lens-processor");
        assert!(
            binary.is_file(),
            "{} is missing: run `cargo build -p contact-lens-processor` (make test does)",
            binary.display()
        );
        let spec = FunctionSpec::new("contact-lens-processor", binary)
            .with_envs(aws_env(&moto.endpoint()))
            .with_env("SALESFORCE_ORG_ID", ORG_ID)
            .with_env("CALL_CENTER_API_NAME", CALL_CENTER)
            .with_env("SCRT_ENDPOINT_BASE", emulator.scrt_base())
            .with_env("PRIVATE_KEY_PARAM_NAME", &param)
            .with_env("LOG_LEVEL", "debug")
            .with_timeout(Duration::from_secs(60));
        let processor = FunctionProcess::spawn(spec).await.expect("processor process");
        let cfg = ScrtConfig {
            org_id: ORG_ID.into(),
            call_center_api_name: CALL_CENTER.into(),
            endpoint_base: emulator.scrt_base(),
            private_key_param_name: param.clone(),
            use_ssm_extension: false,
            key_cache_ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(6),
        };
        let http = scv_shared::aws::http_client();
        let keys_cache =
            Arc::new(KeyCache::new(KeySource::Ssm { client: SsmClient::new(&sdk), param }, Duration::from_secs(300)));
        let telephony = TelephonyClient::new(&cfg, http, keys_cache);
        Stack { emulator, keys, telephony, processor, logs }
    }

    /// A consumer whose Lambda client reaches `endpoint` (the processor's Invoke API by default).
    pub async fn consumer(&self, endpoint: Option<&str>) -> contact_lens_consumer::Deps {
        let endpoint = endpoint.map(str::to_string).unwrap_or_else(|| self.processor.endpoint().to_string());
        let lambda = aws_sdk_lambda::Client::new(&aws_sdk_config(&endpoint).await);
        contact_lens_consumer::Deps::new(lambda, self.processor.arn().to_string())
    }

    pub async fn create_call(&self, contact_id: &str) {
        let request = CreateVoiceCall {
            call_center_api_name: CALL_CENTER.into(),
            vendor_call_key: contact_id.into(),
            to: "+15555550100".into(),
            from: "+15555550123".into(),
            initiation_method: "Inbound".into(),
            start_time: "2026-11-21T09:14:00.000Z".into(),
            call_subtype: Some("PSTN".into()),
            parent_voice_call_id: None,
            queue: None,
            call_origin: None,
            call_attributes: Some("{}".into()),
            participants: vec![Participant::end_user("+15555550123")],
        };
        self.telephony.create_voice_call(&request, Deadline::after(Duration::from_secs(5))).await.expect("create");
    }

    pub fn message_ids(&self, contact_id: &str) -> Vec<String> {
        self.emulator
            .voice_call(contact_id)
            .map(|c| c.messages.iter().map(|m| m.message_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Waits (at most 30 s: a functional deadline, not a timing assertion) until `done` holds.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Stack) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < Duration::from_secs(30), "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/contact-lens-consumer").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The utterance ids of `contact_id` in a Kinesis event, in arrival order.
pub fn utterance_ids(event: &Value, contact_id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for record in event["Records"].as_array().expect("Records") {
        let Ok(text) = scv_shared::kinesis::decode_data(record["kinesis"]["data"].as_str().unwrap_or("")) else {
            continue;
        };
        let Ok(body) = serde_json::from_str::<Value>(&text) else { continue };
        if body["ContactId"] != contact_id {
            continue;
        }
        for segment in body["Segments"].as_array().into_iter().flatten() {
            if let Some(id) = segment["Utterance"]["Id"].as_str() {
                ids.push(id.to_string());
            }
        }
    }
    ids
}
