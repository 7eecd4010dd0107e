//! The consumer's stack: the local stack of the processor's template resource with the REAL
//! contact-lens-processor binary running under the local Lambda runtime, so the consumer's
//! asynchronous invocation is a real one.

use std::time::{Duration, Instant};

use local_stack::moto::aws_sdk_config;
use local_stack::runtime::FunctionProcess;
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::logging::CapturedLogs;
use scv_shared::retry::Deadline;
use scv_shared::scrt::TelephonyClient;
use serde_json::Value;

pub fn contact(n: usize) -> String {
    format!("7c1e{n:04}-2d4a-4c8e-9b1f-3a5d7e9c0b2{n}")
}

local_stack::function_stack! {
    pub struct Stack {
        pub telephony: TelephonyClient,
        pub processor: FunctionProcess,
        /// The consumer's log lines (this process's capture).
        pub logs: CapturedLogs,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let logs = local_stack::stack::capture_logs("contact-lens-consumer", contact_lens_consumer::CATEGORY);
        let local =
            local_stack::stack::Stack::builder("contact-lens-processor").start().await.expect("the local stack");
        let processor = local.spawn(Duration::from_secs(60)).await.expect("processor process");
        let cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        let http = scv_shared::aws::http_client();
        let telephony = TelephonyClient::from_config(&cfg, SsmClient::new(&local.sdk), http, &local.env());
        Stack { local, telephony, processor, logs }
    }

    /// A consumer whose Lambda client reaches `endpoint` (the processor's Invoke API by default).
    pub async fn consumer(&self, endpoint: Option<&str>) -> contact_lens_consumer::Deps {
        let endpoint = endpoint.map_or_else(|| self.processor.endpoint().to_string(), str::to_string);
        let lambda = aws_sdk_lambda::Client::new(&aws_sdk_config(&endpoint).await);
        contact_lens_consumer::Deps::new(lambda, self.processor.arn().to_string())
    }

    pub async fn create_call(&self, contact_id: &str) {
        let request = local_stack::stack::inbound_call(contact_id, "2026-11-21T09:14:00.000Z");
        self.telephony.create_voice_call(&request, Deadline::after(Duration::from_secs(5))).await.expect("create");
    }

    pub fn message_ids(&self, contact_id: &str) -> Vec<String> {
        self.emulator()
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
    local_stack::stack::load_event("contact-lens-consumer", name).expect("sample event")
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
