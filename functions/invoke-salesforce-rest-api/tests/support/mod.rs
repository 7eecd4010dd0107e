//! InvokeSalesforceRestApi's stack: the local stack of its template resource (the Salesforce
//! emulator's REST side, moto with the connected app's consumer key, private key, token and
//! audience) and its Deps built from that environment.

use std::time::Duration;

use invoke_salesforce_rest_api::{CATEGORY, Deps};
use local_stack::moto::put_secure_parameter;
use scv_shared::config::RestConfig;
use scv_shared::keys::SsmClient;
use scv_shared::retry::Deadline;
use serde_json::Value;

pub use local_stack::stack::{ORG_ID, USERNAME};

const FUNCTION: &str = "invoke-salesforce-rest-api";

local_stack::function_stack! {
    pub struct Stack {
        pub cfg: RestConfig,
        pub deps: Deps,
    }
}

pub fn unique(name: &str) -> String {
    format!("test-{}-{name}", uuid::Uuid::new_v4().simple())
}

impl Stack {
    /// `subject_as_parameter`: SUBJECT names an SSM parameter holding the username (the official
    /// set-up) instead of being the username itself (what the documentation tells admins to type).
    pub async fn start(subject_as_parameter: bool) -> Stack {
        let subject = if subject_as_parameter { unique("subject") } else { USERNAME.into() };
        let local = local_stack::stack::Stack::builder(FUNCTION)
            .capture_logs(CATEGORY)
            .with_env("SALESFORCE_REST_DEADLINE_MS", "6000")
            .with_env("SUBJECT", subject.clone())
            .start()
            .await
            .expect("the local stack");
        if subject_as_parameter {
            put_secure_parameter(&local.sdk, &subject, USERNAME).await.expect("subject");
        }
        let cfg = RestConfig::from_env(&local.env()).expect("configuration");
        let mut deps = Deps::new(&cfg, SsmClient::new(&local.sdk));
        deps.call_center_api_name = scv_shared::config::telephony::call_center_api_name(&local.env());
        Stack { local, cfg, deps }
    }

    /// Another container of the same function: same configuration, its own memory.
    pub fn another_container(&self) -> Deps {
        Deps::new(&self.cfg, SsmClient::new(&self.local.sdk))
    }

    pub async fn invoke(&self, event: Value) -> Result<Value, invoke_salesforce_rest_api::InvokeError> {
        invoke_salesforce_rest_api::handle(event, Deadline::after(Duration::from_secs(6)), &self.deps).await
    }

    /// No log line of this test binary holds key material, a JWT or an access token.
    pub fn assert_logs_clean(&self) {
        self.local.assert_logs_clean_of(&[&format!("{ORG_ID}!")]);
    }
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event(FUNCTION, name).expect("sample event")
}

pub fn with_params(mut event: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(event["Details"]["Parameters"].as_object_mut().expect("Parameters"));
    event
}
