//! The processor's stack: the local stack of its template resource (the Salesforce emulator, moto
//! with the key, the Invoke recorder where its retry invocations land, the local Amazon Connect
//! endpoint for UpdateContactAttributes) and its Deps built from that environment.

use std::time::Duration;

use contact_lens_processor::{CATEGORY, ConnectTarget, Deps, Invocation, ProcessorError, Summary, handle};
use local_stack::moto::aws_sdk_config;
use scv_shared::config::ScrtConfig;
use scv_shared::retry::Deadline;
use serde_json::Value;

pub use local_stack::stack::CONNECT_INSTANCE_ID as INSTANCE_ID;

pub const FUNCTION: &str = "contact-lens-processor";

pub const OFFICIAL_CONTACT: &str = "d5187cb8-f83f-471d-b724-bfb242b34b59";
pub fn contact(n: usize) -> String {
    format!("7c1e{n:04}-2d4a-4c8e-9b1f-3a5d7e9c0b2{n}")
}

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with_env(Vec::new()).await
    }

    /// `env`: changes to the template's environment (extension port, session token...).
    pub async fn start_with_env(env: Vec<(String, String)>) -> Stack {
        let mut builder = local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY);
        for (name, value) in env {
            builder = builder.with_env(name, value);
        }
        let local = builder.start().await.expect("the local stack");
        let cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        let mut deps = Deps::new(&cfg, &local.sdk, &local.env()).expect("deps");
        deps.lambda = aws_sdk_lambda::Client::new(&aws_sdk_config(local.recorder().endpoint()).await);
        let connect_sdk = aws_sdk_config(local.connect().endpoint()).await;
        deps.connect =
            Some(ConnectTarget { client: aws_sdk_connect::Client::new(&connect_sdk), instance_id: INSTANCE_ID.into() });
        deps.settings.retry_base_delay = Duration::from_millis(200);
        Stack { local, deps }
    }

    /// Creates the VoiceCall of a contact (inbound, started a minute before the samples' first record).
    pub async fn create_call(&self, contact_id: &str) {
        let request = local_stack::stack::inbound_call(contact_id, "2026-11-21T09:14:00.000Z");
        self.deps.telephony.create_voice_call(&request, Deadline::after(Duration::from_secs(5))).await.expect("create");
    }

    pub async fn invoke(&self, payload: Value) -> Result<Summary, ProcessorError> {
        let invocation =
            Invocation { deadline: Deadline::after(Duration::from_secs(60)), self_function: Some(FUNCTION.into()) };
        handle(payload, invocation, &self.deps).await
    }

    /// The bulk transcript requests so far.
    pub fn bulk_requests(&self) -> Vec<sf_emulator::RecordedRequest> {
        self.emulator().requests_to("POST", "/telephony/v1/voiceCalls/messages")
    }

    pub fn message_ids(&self, contact_id: &str) -> Vec<String> {
        self.emulator()
            .voice_call(contact_id)
            .map(|c| c.messages.iter().map(|m| m.message_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Queues a failing bulk entry with this status through the emulator's control API.
    pub async fn fail_bulk_entry_with(&self, vendor_call_key: &str, status: u16) {
        let answer = reqwest::Client::new()
            .post(format!("{}/__emulator/bulk-entry-faults", self.emulator().base_url()))
            .json(&serde_json::json!({"vendorCallKey": vendor_call_key, "count": 1, "status": status}))
            .send()
            .await
            .expect("control API");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

pub fn event_names() -> Vec<String> {
    local_stack::stack::event_names(FUNCTION).expect("sample events")
}
