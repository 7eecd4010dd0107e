//! PostCallAnalysisTrigger's stack: the local stack of its template resource (the Salesforce
//! emulator, moto with the key and a bucket for the analysis file, the local Amazon Connect
//! endpoint for DescribeContact) and its Deps built from that environment.

use std::path::PathBuf;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use local_stack::connect::epoch_seconds;
use post_call_analysis_trigger::{CATEGORY, Deps, TriggerError};
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;

pub use local_stack::stack::{CALL_CENTER, CONNECT_INSTANCE_ID as INSTANCE, ORG_ID};

const FUNCTION: &str = "post-call-analysis-trigger";
pub const CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";
pub const ANALYSIS_KEY: &str =
    "Analysis/Voice/2026/11/21/6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21_analysis_2026-11-21T09:23:14Z.json";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local =
            local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY).start().await.expect("the local stack");
        let cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        let connect_config =
            aws_sdk_connect::config::Builder::from(&local.sdk).endpoint_url(local.connect().endpoint()).build();
        let deps = Deps::new(
            &cfg,
            SsmClient::new(&local.sdk),
            local.s3.clone(),
            aws_sdk_connect::Client::from_conf(connect_config),
            &local.env(),
        );
        Stack { local, deps }
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

    /// The Telephony Integration API key pair.
    pub fn keys(&self) -> &TestKeyPair {
        self.local.scrt_keys.as_ref().expect("the SCRT key pair")
    }

    /// Creates the VoiceCall of `contact_id` (as InvokeTelephonyIntegrationApi's createVoiceCall does).
    pub async fn voice_call(&self, contact_id: &str) {
        let create = local_stack::stack::inbound_call(contact_id, "2026-11-21T09:15:02.481Z");
        self.deps
            .telephony
            .create_voice_call(&create, Deadline::after(Duration::from_secs(5)))
            .await
            .expect("voice call created");
    }

    /// Seeds a contact given in the fixture's readable shape (RFC 3339 times).
    pub fn put_contact(&self, contact: Value) {
        self.connect().put_contact(INSTANCE, api_shape(contact)).expect("contact seeded");
    }

    pub async fn put_object(&self, key: &str, body: &[u8]) {
        self.local.put_object(key, body).await.expect("object stored");
    }

    /// A sample event, pointed at this test's bucket.
    pub fn event(&self, name: &str) -> Value {
        let mut event = event(name);
        event["detail"]["bucket"]["name"] = json!(self.bucket());
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
        let context = local_stack::stack::context(Duration::from_secs(60));
        post_call_analysis_trigger::handler(LambdaEvent::new(event, context), &self.deps).await
    }

    /// The Store a Post-Call Conversation Event requests Salesforce received, oldest first.
    pub fn posts(&self) -> Vec<sf_emulator::RecordedRequest> {
        self.emulator().requests().into_iter().filter(|r| r.path.ends_with("/postConversationEvents")).collect()
    }
}

pub use local_stack::secrets::assert_clean as assert_logs_clean;

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

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

/// Every sample event file, sorted by name (fixtures live in a subfolder).
pub fn event_names() -> Vec<String> {
    local_stack::stack::event_names(FUNCTION).expect("sample events")
}

/// The sample analysis file (docs/events.md#post-call-analysis-file).
pub fn analysis_fixture() -> Value {
    read_json(local_stack::stack::events_dir(FUNCTION).join("fixtures/s3").join(ANALYSIS_KEY))
}

/// The sample contact (DescribeContact's `Contact`, with RFC 3339 times).
pub fn sample_contact() -> Value {
    read_json(local_stack::stack::events_dir(FUNCTION).join("fixtures/describe-contact.json"))["Contact"].clone()
}

/// Epoch milliseconds of an RFC 3339 UTC time.
pub fn ms(rfc3339: &str) -> i64 {
    (epoch_seconds(rfc3339).expect("time") * 1000.0).round() as i64
}

pub use local_stack::stack::lines_with;
