//! HandleContactEvents' stack: the local stack of its template resource (the Salesforce emulator,
//! moto with the key) and its Deps built from that environment; plus the calls its tests seed.

use std::time::Duration;

use handle_contact_events::{CATEGORY, Deps, HandleError};
use lambda_runtime::LambdaEvent;
use scv_shared::config::ScrtConfig;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{ExecuteOmniFlow, TelephonyClient};
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
        let deps = Deps::new(&local.env(), &local.sdk).expect("configuration");
        Stack { local, deps }
    }

    /// HandleContactEvents with exactly the official template's environment
    /// (`INVOKE_TELEPHONY_INTEGRATION_API_ARN`, `LOG_LEVEL`): its invokes reach this suite's
    /// InvokeTelephonyIntegrationApi in-process (against the emulator), unless `answer` answers first.
    pub async fn official(
        answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
    ) -> Stack {
        let local = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .with_invoke_endpoint()
            .start()
            .await
            .expect("the local stack");
        route_to_itia(&local, answer);
        let sdk = local.sdk_for(local.recorder().endpoint()).await;
        let official = [("INVOKE_TELEPHONY_INTEGRATION_API_ARN", ITIA_ARN), ("LOG_LEVEL", "info")];
        let lookup = |name: &str| official.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let deps = Deps::new(&lookup, &sdk).expect("the official configuration");
        Stack { local, deps }
    }

    /// A Telephony Integration API client of the stack's own (to seed calls).
    pub fn telephony(&self) -> TelephonyClient {
        let cfg = ScrtConfig::from_env(&self.local.env()).expect("configuration");
        TelephonyClient::from_config(
            &cfg,
            SsmClient::new(&self.local.sdk),
            scv_shared::aws::http_client(),
            &self.local.env(),
        )
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
        let telephony = &self.telephony();
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

/// The InvokeTelephonyIntegrationApi alias ARN an official stack gives HandleContactEvents.
pub const ITIA_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-InvokeTelephonyIntegrationApi:active";

/// Invokes reach this suite's InvokeTelephonyIntegrationApi handler (built from the stack's direct
/// settings), unless `answer` answers first.
pub fn route_to_itia(
    local: &local_stack::stack::Stack,
    answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
) {
    use local_stack::invoke_recorder::Answer;
    let lookup = |name: &str| local.env.get(name).cloned();
    let cfg = ScrtConfig::from_env(&lookup).expect("the direct settings");
    let itia =
        std::sync::Arc::new(invoke_telephony_integration_api::Deps::new(&cfg, SsmClient::new(&local.sdk), &lookup));
    local.recorder().answer_with(move |invoke| {
        let itia = itia.clone();
        let early = answer(&invoke.payload);
        async move {
            if let Some(early) = early {
                return early;
            }
            let deadline = Deadline::after(Duration::from_secs(7));
            match invoke_telephony_integration_api::handle(invoke.payload, deadline, &itia).await {
                Ok(value) => Answer::Ok(value),
                Err(e) => Answer::error(e.kind().as_str(), &e.to_string()),
            }
        }
    });
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

/// Every sample event file, sorted by name.
pub fn event_names() -> Vec<String> {
    local_stack::stack::event_names(FUNCTION).expect("sample events")
}

pub use local_stack::stack::lines_with;
