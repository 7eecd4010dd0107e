//! HandleContactEvents' stack: the local stack of its template resource (the Salesforce emulator,
//! moto with the key) and its Deps built from that environment; plus the calls its tests seed.

use std::time::Duration;

use handle_contact_events::{CATEGORY, Deps, HandleError};
use lambda_runtime::LambdaEvent;
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::ExecuteOmniFlow;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;

pub use local_stack::stack::{CALL_CENTER, ORG_ID};

const FUNCTION: &str = "handle-contact-events";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .with_env("SCRT_DEADLINE_MS", "6000")
            .start()
            .await
            .expect("the local stack");
        let cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        let deps = Deps::new(&cfg, SsmClient::new(&local.sdk), &local.env());
        Stack { local, deps }
    }

    /// The Telephony Integration API key pair.
    pub fn keys(&self) -> &TestKeyPair {
        self.local.scrt_keys.as_ref().expect("the SCRT key pair")
    }

    /// Through the Lambda entry point (`handler`), as the runtime calls it: a 30 s invocation.
    pub async fn invoke(&self, event: Value) -> Result<Value, HandleError> {
        let context = local_stack::stack::context(Duration::from_secs(30));
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
        let create = local_stack::stack::inbound_call(contact_id, "2026-11-21T09:15:02.481Z");
        let deadline = Deadline::after(Duration::from_secs(5));
        telephony.create_voice_call(&create, deadline).await.expect("voice call created");
        let flow = ExecuteOmniFlow {
            dialed_number: Some("+15555550100".into()),
            fallback_queue: Some("Billing_Queue".into()),
            ..ExecuteOmniFlow::default()
        };
        telephony.execute_omni_flow(contact_id, &flow, deadline).await.expect("routed");
        let call = self.emulator().voice_call(contact_id).expect("call");
        assert!(call.routing.pending_service_routing.is_some(), "the seeded call is being routed");
    }
}

pub use local_stack::secrets::assert_clean as assert_logs_clean;

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

/// Every sample event file, sorted by name.
pub fn event_names() -> Vec<String> {
    local_stack::stack::event_names(FUNCTION).expect("sample events")
}

pub use local_stack::stack::lines_with;
