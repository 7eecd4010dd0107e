//! The stack every end-to-end test of this function runs against: the Salesforce emulator (in
//! process), moto (SSM for the key, S3 for the analysis file), the local Amazon Connect endpoint
//! (DescribeContact) and a fresh RSA key pair whose private half lives in SSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};

use local_stack::connect::{LocalConnect, epoch_seconds};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use post_call_analysis_trigger::{CATEGORY, Deps, TriggerError};
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{CreateVoiceCall, Participant};
use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";
pub const CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
pub const INSTANCE: &str = "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a";
pub const ANALYSIS_KEY: &str =
    "Analysis/Voice/2026/11/21/6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21_analysis_2026-11-21T09:23:14Z.json";

pub struct Stack {
    pub emulator: Emulator,
    pub connect: LocalConnect,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub s3: aws_sdk_s3::Client,
    /// A bucket of this test only.
    pub bucket: String,
    pub param: String,
    pub cfg: ScrtConfig,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

/// Every log line of this test binary, at DEBUG (the most a production admin can turn on).
pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["post_call_analysis_trigger"], LogLevel::Debug)
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![keys.public_pem.clone()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let connect = LocalConnect::start().await.expect("local connect");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let param = format!("test-{unique}-scrt-jwt-auth-private-key");
        put_secure_parameter(&sdk, &param, &keys.private_pkcs1_pem).await.expect("put key");
        let s3 = scv_shared::aws::s3_client(&sdk);
        let bucket = format!("test-{}-recordings", &unique[..16]);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let cfg = ScrtConfig {
            org_id: ORG_ID.into(),
            call_center_api_name: CALL_CENTER.into(),
            endpoint_base: emulator.scrt_base(),
            private_key_param_name: param.clone(),
            use_ssm_extension: false,
            key_cache_ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(6),
        };
        let connect_config = aws_sdk_connect::config::Builder::from(&sdk).endpoint_url(connect.endpoint()).build();
        let deps = Deps::new(
            &cfg,
            SsmClient::new(&sdk),
            s3.clone(),
            aws_sdk_connect::Client::from_conf(connect_config),
            &|_: &str| None,
        );
        Stack { emulator, connect, keys, sdk, s3, bucket, param, cfg, deps, logs }
    }

    /// The sample call as Salesforce and Connect know it: its VoiceCall, the contact DescribeContact
    /// answers (the fixture) and the analysis file in S3 (the fixture).
    pub async fn with_sample_call() -> Stack {
        let stack = Stack::start().await;
        stack.voice_call(CONTACT).await;
        stack.put_contact(sample_contact());
        stack.put_object(ANALYSIS_KEY, &serde_json::to_vec(&analysis_fixture()).expect("json")).await;
        stack
    }

    /// Creates the VoiceCall of `contact_id` (as InvokeTelephonyIntegrationApi's createVoiceCall does).
    pub async fn voice_call(&self, contact_id: &str) {
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
        self.deps
            .telephony
            .create_voice_call(&create, Deadline::after(Duration::from_secs(5)))
            .await
            .expect("voice call created");
    }

    /// Seeds a contact given in the fixture's readable shape (RFC 3339 times).
    pub fn put_contact(&self, contact: Value) {
        self.connect.put_contact(INSTANCE, api_shape(contact)).expect("contact seeded");
    }

    pub async fn put_object(&self, key: &str, body: &[u8]) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .expect("object stored");
    }

    /// A sample event, pointed at this test's bucket.
    pub fn event(&self, name: &str) -> Value {
        let mut event = event(name);
        event["detail"]["bucket"]["name"] = json!(self.bucket);
        event
    }

    /// An Object Created event for `key` in this test's bucket.
    pub fn event_for_key(&self, key: &str) -> Value {
        let mut event = self.event("01-analysis-file-created.json");
        event["detail"]["object"]["key"] = json!(key);
        event
    }

    /// Through the Lambda entry point (`handler`), as the runtime calls it: a 60 s invocation.
    pub async fn invoke(&self, event: Value) -> Result<Value, TriggerError> {
        let mut context = Context::default();
        context.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
        let deadline = SystemTime::now() + Duration::from_secs(60);
        context.deadline = deadline.duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
        post_call_analysis_trigger::handler(LambdaEvent::new(event, context), &self.deps).await
    }

    /// The Store a Post-Call Conversation Event requests Salesforce received, oldest first.
    pub fn posts(&self) -> Vec<sf_emulator::RecordedRequest> {
        self.emulator.requests().into_iter().filter(|r| r.path.ends_with("/postConversationEvents")).collect()
    }

    pub fn assert_logs_clean(&self) {
        assert_logs_clean(&self.logs.lines(), &self.keys);
    }
}

/// Fails if any log line holds key material or a JWT.
pub fn assert_logs_clean(lines: &[String], keys: &TestKeyPair) {
    local_stack::secrets::assert_no_secrets(lines, &[keys], &[]);
}

/// The Contact as the Connect API answers it: every `…Timestamp` as epoch seconds.
pub fn api_shape(mut contact: Value) -> Value {
    fn walk(value: &mut Value) {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => {
                        *v = json!(epoch_seconds(text).unwrap_or_else(|e| panic!("{key}: {e}")));
                    }
                    other => walk(other),
                }
            }
        }
    }
    walk(&mut contact);
    contact
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/post-call-analysis-trigger")
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn event(name: &str) -> Value {
    read_json(events_dir().join(name))
}

/// Every sample event file, sorted by name (fixtures live in a subfolder).
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

/// The sample analysis file (reference section 5).
pub fn analysis_fixture() -> Value {
    read_json(events_dir().join("fixtures/s3").join(ANALYSIS_KEY))
}

/// The sample contact (DescribeContact's `Contact`, with RFC 3339 times).
pub fn sample_contact() -> Value {
    read_json(events_dir().join("fixtures/describe-contact.json"))["Contact"].clone()
}

/// Epoch milliseconds of an RFC 3339 UTC time.
pub fn ms(rfc3339: &str) -> i64 {
    (epoch_seconds(rfc3339).expect("time") * 1000.0).round() as i64
}

/// The log lines (parsed) that mention `needle`.
pub fn lines_with(logs: &CapturedLogs, needle: &str) -> Vec<Value> {
    logs.lines()
        .iter()
        .filter(|l| l.contains(needle))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect()
}
