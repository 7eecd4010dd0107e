//! InvokeTelephonyIntegrationApi's stack: the local stack of its template resource (the Salesforce
//! emulator routing the sample flow to an agent, moto with the key) and its Deps.

use std::sync::Arc;

use invoke_telephony_integration_api::{CATEGORY, Deps};
use scv_shared::config::ScrtConfig;
use scv_shared::jwt::Clock;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use serde_json::Value;
use sf_emulator::{RoutingAnswer, RoutingConfig};

pub use local_stack::stack::{CALL_CENTER, ORG_ID};

const FUNCTION: &str = "invoke-telephony-integration-api";
pub const FLOW_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";

local_stack::function_stack! {
    pub struct Stack {
        /// The SSM parameter holding the private key.
        pub param: String,
        pub cfg: ScrtConfig,
        pub deps: Deps,
    }
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
        let mut builder = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .emulator(|config| config.routing = routing());
        for (name, value) in env {
            builder = builder.with_env(name, value);
        }
        let local = builder.start().await.expect("the local stack");
        let mut cfg = ScrtConfig::from_env(&local.env()).expect("configuration");
        tweak(&mut cfg);
        let deps = Deps::new(&cfg, SsmClient::new(&local.sdk), &local.env());
        let param = local.scrt_param.clone().expect("the key parameter");
        Stack { local, param, cfg, deps }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let deps = Deps::new(&self.cfg, SsmClient::new(&self.local.sdk), &self.local.env());
        self.deps = Deps { telephony: deps.telephony.with_clock(clock), budget: deps.budget };
        self
    }

    pub async fn invoke(&self, event: Value) -> Result<Value, invoke_telephony_integration_api::InvokeError> {
        invoke_telephony_integration_api::handle(event, Deadline::after(self.deps.budget), &self.deps).await
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
