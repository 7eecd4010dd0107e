//! The stack every end-to-end test of this function runs against: the Salesforce emulator (in
//! process), moto (SSM) and a fresh RSA key pair whose private half lives in SSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use invoke_telephony_integration_api::{CATEGORY, Deps};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::config::ScrtConfig;
use scv_shared::jwt::Clock;
use scv_shared::keys::SsmClient;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig, RoutingAnswer, RoutingConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";
pub const FLOW_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub param: String,
    pub cfg: ScrtConfig,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

/// Every log line of this test binary, at DEBUG (the most a production admin can turn on).
pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["invoke_telephony_integration_api"], LogLevel::Debug)
}

pub fn routing() -> RoutingConfig {
    let mut routing = RoutingConfig::default();
    routing.by_flow.insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(FLOW_AGENT.into()), queue: None });
    routing
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ScrtConfig)) -> Stack {
        Self::start_with_env(tweak, Vec::new()).await
    }

    /// `env` is what the function would read besides `ScrtConfig` (extension port, session token).
    pub async fn start_with_env(tweak: impl FnOnce(&mut ScrtConfig), env: Vec<(String, String)>) -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![keys.public_pem.clone()];
        config.routing = routing();
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let param = format!("test-{}-scrt-jwt-auth-private-key", uuid_like());
        put_secure_parameter(&sdk, &param, &keys.private_pkcs1_pem).await.expect("put key");
        let mut cfg = ScrtConfig {
            org_id: ORG_ID.into(),
            call_center_api_name: CALL_CENTER.into(),
            endpoint_base: emulator.scrt_base(),
            private_key_param_name: param.clone(),
            use_ssm_extension: false,
            key_cache_ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(6),
        };
        tweak(&mut cfg);
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let deps = Deps::new(&cfg, SsmClient::new(&sdk), &lookup);
        Stack { emulator, keys, sdk, param, cfg, deps, logs }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let deps = Deps::new(&self.cfg, SsmClient::new(&self.sdk), &|_: &str| None);
        self.deps = Deps { telephony: deps.telephony.with_clock(clock), budget: deps.budget };
        self
    }

    pub async fn invoke(&self, event: Value) -> Result<Value, invoke_telephony_integration_api::InvokeError> {
        invoke_telephony_integration_api::handle(event, Deadline::after(self.deps.budget), &self.deps).await
    }

    /// Fails if any log line written so far by this test binary holds key material or a JWT.
    pub fn assert_logs_clean(&self) {
        assert_logs_clean(&self.logs.lines(), &self.keys);
    }
}

/// Fails if any log line holds key material or a JWT.
pub fn assert_logs_clean(lines: &[String], keys: &TestKeyPair) {
    local_stack::secrets::assert_no_secrets(lines, &[keys], &[]);
}

pub fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/invoke-telephony-integration-api")
}

pub fn event(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every sample event file, sorted by name.
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
