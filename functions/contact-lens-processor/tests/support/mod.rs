//! The stack the processor's end-to-end tests run against: the Salesforce emulator, moto (SSM holds
//! the private key), a recording Lambda Invoke API (the processor's retry invocations land there)
//! and a local Amazon Connect endpoint (UpdateContactAttributes).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use contact_lens_processor::{CATEGORY, ConnectTarget, Deps, Invocation, ProcessorError, Summary, handle};
use local_stack::connect::LocalConnect;
use local_stack::invoke_recorder::InvokeRecorder;
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::config::ScrtConfig;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{CreateVoiceCall, Participant};
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";
pub const FUNCTION: &str = "contact-lens-processor";
pub const INSTANCE_ID: &str = "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a";
/// The sample events' arrival times are around this moment (2026-11-21T09:16:00Z).
pub const BASE_MS: i64 = 1_795_252_560_000;

pub const OFFICIAL_CONTACT: &str = "d5187cb8-f83f-471d-b724-bfb242b34b59";
pub fn contact(n: usize) -> String {
    format!("7c1e{n:04}-2d4a-4c8e-9b1f-3a5d7e9c0b2{n}")
}

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub recorder: InvokeRecorder,
    pub connect: LocalConnect,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["contact_lens_processor"], LogLevel::Debug)
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with_env(Vec::new()).await
    }

    /// `env`: what the function reads besides `ScrtConfig` (extension port, session token...).
    pub async fn start_with_env(env: Vec<(String, String)>) -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![keys.public_pem.clone()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let param = format!("test-{}-scrt-jwt-auth-private-key", uuid::Uuid::new_v4().simple());
        put_secure_parameter(&sdk, &param, &keys.private_pkcs1_pem).await.expect("put key");
        let cfg = ScrtConfig {
            org_id: ORG_ID.into(),
            call_center_api_name: CALL_CENTER.into(),
            endpoint_base: emulator.scrt_base(),
            private_key_param_name: param,
            use_ssm_extension: env.iter().any(|(k, v)| k == "USE_SSM_LAMBDA_EXTENSION" && v == "true"),
            key_cache_ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(6),
        };
        let recorder = InvokeRecorder::start().await.expect("invoke recorder");
        let connect = LocalConnect::start().await.expect("local connect");
        let mut env = env;
        env.push(("CONNECT_INSTANCE_ID".into(), INSTANCE_ID.into()));
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut deps = Deps::new(&cfg, &sdk, &lookup).expect("deps");
        deps.lambda = aws_sdk_lambda::Client::new(&aws_sdk_config(recorder.endpoint()).await);
        let connect_sdk = aws_sdk_config(connect.endpoint()).await;
        deps.connect =
            Some(ConnectTarget { client: aws_sdk_connect::Client::new(&connect_sdk), instance_id: INSTANCE_ID.into() });
        deps.settings.retry_base_delay = Duration::from_millis(200);
        Stack { emulator, keys, sdk, recorder, connect, deps, logs }
    }

    /// Creates the VoiceCall of a contact (inbound, started a minute before the samples' first record).
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
        self.deps.telephony.create_voice_call(&request, Deadline::after(Duration::from_secs(5))).await.expect("create");
    }

    pub async fn invoke(&self, payload: Value) -> Result<Summary, ProcessorError> {
        let invocation =
            Invocation { deadline: Deadline::after(Duration::from_secs(60)), self_function: Some(FUNCTION.into()) };
        handle(payload, invocation, &self.deps).await
    }

    /// The bulk transcript requests so far.
    pub fn bulk_requests(&self) -> Vec<sf_emulator::RecordedRequest> {
        self.emulator.requests_to("POST", "/telephony/v1/voiceCalls/messages")
    }

    pub fn message_ids(&self, contact_id: &str) -> Vec<String> {
        self.emulator
            .voice_call(contact_id)
            .map(|c| c.messages.iter().map(|m| m.message_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Queues a failing bulk entry with this status through the emulator's control API.
    pub async fn fail_bulk_entry_with(&self, vendor_call_key: &str, status: u16) {
        let answer = reqwest::Client::new()
            .post(format!("{}/__emulator/bulk-entry-faults", self.emulator.base_url()))
            .json(&serde_json::json!({"vendorCallKey": vendor_call_key, "count": 1, "status": status}))
            .send()
            .await
            .expect("control API");
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    pub fn assert_logs_clean(&self) {
        local_stack::secrets::assert_no_secrets(&self.logs.lines(), &[&self.keys], &[]);
    }
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/contact-lens-processor")
}

pub fn event(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn event_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}
