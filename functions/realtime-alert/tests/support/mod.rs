//! RealtimeAlert's stack: the local stack of its template resource (the Salesforce emulator's REST
//! side, moto with the connected app's credentials) and its Deps built from that environment.

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use realtime_alert::{AlertError, CATEGORY, Deps};
use scv_shared::config::RestConfig;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;

const FUNCTION: &str = "realtime-alert";

/// The InvokeSalesforceRestApi alias ARN an official stack gives RealtimeAlert.
pub const ISFRA_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-InvokeSalesforceRestApi:active";

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local =
            local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY).start().await.expect("the local stack");
        let deps = Deps::new(&local.env(), &local.sdk).expect("configuration");
        Stack { local, deps }
    }

    /// RealtimeAlert with exactly the official template's environment
    /// (`INVOKE_SALESFORCE_REST_API_ARN`, `LOG_LEVEL`): its invokes reach this suite's
    /// InvokeSalesforceRestApi in-process (against the emulator), unless `answer` answers first.
    pub async fn official(
        answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
    ) -> Stack {
        use local_stack::invoke_recorder::Answer;
        let local = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .with_invoke_endpoint()
            .start()
            .await
            .expect("the local stack");
        let cfg = RestConfig::from_env(&local.env()).expect("the direct settings");
        let isfra = std::sync::Arc::new(invoke_salesforce_rest_api::Deps::new(&cfg, SsmClient::new(&local.sdk)));
        local.recorder().answer_with(move |invoke| {
            let isfra = isfra.clone();
            let early = answer(&invoke.payload);
            async move {
                if let Some(early) = early {
                    return early;
                }
                let deadline = Deadline::after(Duration::from_secs(7));
                match invoke_salesforce_rest_api::handle(invoke.payload, deadline, &isfra).await {
                    Ok(value) => Answer::Ok(value),
                    Err(e) => Answer::error(e.kind().as_str(), &e.to_string()),
                }
            }
        });
        let sdk = local.sdk_for(local.recorder().endpoint()).await;
        let official = [("INVOKE_SALESFORCE_REST_API_ARN", ISFRA_ARN), ("LOG_LEVEL", "info")];
        let lookup = |name: &str| official.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let deps = Deps::new(&lookup, &sdk).expect("the official configuration");
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
