//! The stack the end-to-end tests run against: the Salesforce emulator (REST side) in process,
//! moto for SSM, and a connected-app key pair whose private half and consumer key live in SSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use realtime_alert::{AlertError, CATEGORY, Deps};
use scv_shared::config::RestConfig;
use scv_shared::keys::SsmClient;
use scv_shared::logging::{CapturedLogs, LogLevel};
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
pub const USERNAME: &str = "integration@acme.example";

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub cfg: RestConfig,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["realtime_alert"], LogLevel::Debug)
}

pub fn unique(name: &str) -> String {
    format!("test-{}-{name}", uuid::Uuid::new_v4().simple())
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, "ACME_CC");
        config.rest.consumer_key = CONSUMER_KEY.into();
        config.rest.connected_app_public_keys = vec![keys.public_pem.clone()];
        config.rest.usernames = vec![USERNAME.into()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let cfg = RestConfig {
            auth_endpoint: emulator.token_url(),
            rest_base: emulator.rest_base(),
            consumer_key_param: unique("consumer-key"),
            private_key_param: unique("rest-private-key"),
            access_token_param: unique("access-token"),
            audience: unique("audience"),
            subject: USERNAME.into(),
            deadline: Duration::from_secs(6),
        };
        put_secure_parameter(&sdk, &cfg.consumer_key_param, CONSUMER_KEY).await.expect("consumer key");
        put_secure_parameter(&sdk, &cfg.private_key_param, &keys.private_pkcs1_pem).await.expect("private key");
        put_secure_parameter(&sdk, &cfg.access_token_param, "salesforce-rest-api-access-token")
            .await
            .expect("token placeholder");
        put_secure_parameter(&sdk, &cfg.audience, "https://login.salesforce.com/").await.expect("audience");
        let deps = Deps::new(&cfg, SsmClient::new(&sdk));
        Stack { emulator, keys, sdk, cfg, deps, logs }
    }

    /// Through the Lambda entry point (`handler`), as the runtime calls it: a 15 s invocation.
    pub async fn invoke(&self, event: Value) -> Result<Value, AlertError> {
        let mut context = Context::default();
        context.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
        let deadline = SystemTime::now() + Duration::from_secs(15);
        context.deadline = deadline.duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
        realtime_alert::handler(LambdaEvent::new(event, context), &self.deps).await
    }

    /// The published RealtimeAlertEvents, oldest first.
    pub fn alerts(&self) -> Vec<Value> {
        self.emulator.platform_events("RealtimeAlertEvent")
    }

    /// No log line of this test binary holds key material, a JWT or an access token.
    pub fn assert_logs_clean(&self) {
        assert_logs_clean(&self.logs.lines(), &self.keys);
    }
}

/// Fails if any log line holds key material or a JWT.
pub fn assert_logs_clean(lines: &[String], keys: &TestKeyPair) {
    local_stack::secrets::assert_no_secrets(lines, &[keys], &[]);
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/realtime-alert")
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

/// The alarm notification inside a sample event's first record, parsed.
pub fn alarm_of(event: &Value) -> Value {
    serde_json::from_str(event["Records"][0]["Sns"]["Message"].as_str().expect("Message")).expect("alarm JSON")
}

/// A sample event with its (first) record's alarm notification changed by `f`.
pub fn with_alarm(mut event: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut alarm = alarm_of(&event);
    f(alarm.as_object_mut().expect("object"));
    event["Records"][0]["Sns"]["Message"] = Value::String(alarm.to_string());
    event
}
