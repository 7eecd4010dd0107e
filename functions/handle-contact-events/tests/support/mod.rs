//! The stack every end-to-end test of this function runs against: the Salesforce emulator (in
//! process), moto (SSM) and a fresh RSA key pair whose private half lives in SSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use handle_contact_events::{CATEGORY, Deps, HandleError};
use lambda_runtime::{Context, LambdaEvent};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{CreateVoiceCall, ExecuteOmniFlow, Participant};
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";

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
    scv_shared::logging::capture(CATEGORY, &["handle_contact_events"], LogLevel::Debug)
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
        let cfg = ScrtConfig {
            org_id: ORG_ID.into(),
            call_center_api_name: CALL_CENTER.into(),
            endpoint_base: emulator.scrt_base(),
            private_key_param_name: param.clone(),
            use_ssm_extension: false,
            key_cache_ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(6),
        };
        let deps = Deps::new(&cfg, SsmClient::new(&sdk), &|_: &str| None);
        Stack { emulator, keys, sdk, param, cfg, deps, logs }
    }

    /// Through the Lambda entry point (`handler`), as the runtime calls it: a 30 s invocation.
    pub async fn invoke(&self, event: Value) -> Result<Value, HandleError> {
        let mut context = Context::default();
        context.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
        let deadline = SystemTime::now() + Duration::from_secs(30);
        context.deadline = deadline.duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
        handle_contact_events::handler(LambdaEvent::new(event, context), &self.deps).await
    }

    /// The handler with an explicit deadline.
    pub async fn handle_within(&self, event: Value, budget: Duration) -> Result<Value, HandleError> {
        handle_contact_events::handle(event, Deadline::after(budget), &self.deps).await
    }

    /// A VoiceCall for `contact_id`, routed by Omni-Channel (so it has a PendingServiceRouting), as
    /// InvokeTelephonyIntegrationApi leaves it when the flow ran createVoiceCall and executeOmniFlow.
    pub async fn routed_call(&self, contact_id: &str) {
        let telephony = &self.deps.telephony;
        let create = CreateVoiceCall {
            call_center_api_name: CALL_CENTER.into(),
            vendor_call_key: contact_id.into(),
            to: "+15555550100".into(),
            from: "+15555550123".into(),
            initiation_method: "Inbound".into(),
            start_time: "2026-11-21T09:15:02.481Z".into(),
            call_subtype: Some("PSTN".into()),
            parent_voice_call_id: None,
            queue: None,
            call_origin: None,
            call_attributes: Some("{}".into()),
            participants: vec![Participant::end_user("+15555550123")],
        };
        let deadline = Deadline::after(Duration::from_secs(5));
        telephony.create_voice_call(&create, deadline).await.expect("voice call created");
        let flow = ExecuteOmniFlow {
            dialed_number: Some("+15555550100".into()),
            fallback_queue: Some("Billing_Queue".into()),
            ..ExecuteOmniFlow::default()
        };
        telephony.execute_omni_flow(contact_id, &flow, deadline).await.expect("routed");
        let call = self.emulator.voice_call(contact_id).expect("call");
        assert!(call.routing.pending_service_routing.is_some(), "the seeded call is being routed");
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

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/handle-contact-events")
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

/// The log lines (parsed) that mention `needle`.
pub fn lines_with(logs: &CapturedLogs, needle: &str) -> Vec<Value> {
    logs.lines()
        .iter()
        .filter(|l| l.contains(needle))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect()
}
