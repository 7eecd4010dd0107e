//! The trigger's stack: its template environment, the Invoke recorder in place of Lambda (so every
//! asynchronous invocation of the transcriber is inspected), and its log lines.

use kvs_consumer_trigger::{CATEGORY, Deps};
use scv_shared::config::TriggerConfig;
use serde_json::Value;

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local = local_stack::stack::Stack::builder("kvs-consumer-trigger")
            .capture_logs(CATEGORY)
            .start()
            .await
            .expect("the local stack");
        let cfg = TriggerConfig::from_env(&local.env()).expect("configuration");
        let sdk = local.sdk_for(local.recorder().endpoint()).await;
        let deps = Deps::new(&sdk, &cfg);
        Stack { local, deps }
    }
}

/// `events/kvs-consumer-trigger/<name>`, changed by `edit`.
pub fn event_with(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut event = local_stack::stack::load_event("kvs-consumer-trigger", name).expect("sample event");
    edit(&mut event);
    event
}
