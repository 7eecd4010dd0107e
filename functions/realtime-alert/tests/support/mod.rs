//! RealtimeAlert's stack: the local stack of its template resource (the Salesforce emulator's REST
//! side, moto with the connected app's credentials) and its Deps built from that environment.

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use realtime_alert::{AlertError, CATEGORY, Deps};
use scv_shared::config::RestConfig;
use scv_shared::keys::SsmClient;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;

const FUNCTION: &str = "realtime-alert";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local =
            local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY).start().await.expect("the local stack");
        let cfg = RestConfig::from_env(&local.env()).expect("configuration");
        let deps = Deps::new(&cfg, SsmClient::new(&local.sdk));
        Stack { local, deps }
    }

    /// The connected app's key pair.
    pub fn keys(&self) -> &TestKeyPair {
        self.local.rest_keys.as_ref().expect("the connected app's key pair")
    }

    /// Through the Lambda entry point (`handler`), as the runtime calls it: a 15 s invocation.
    pub async fn invoke(&self, event: Value) -> Result<Value, AlertError> {
        let context = local_stack::stack::context(Duration::from_secs(15));
        realtime_alert::handler(LambdaEvent::new(event, context), &self.deps).await
    }

    /// The published RealtimeAlertEvents, oldest first.
    pub fn alerts(&self) -> Vec<Value> {
        self.emulator().platform_events("RealtimeAlertEvent")
    }
}

pub use local_stack::secrets::assert_clean as assert_logs_clean;

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

pub fn event_names() -> Vec<String> {
    local_stack::stack::event_names(FUNCTION).expect("sample events")
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
