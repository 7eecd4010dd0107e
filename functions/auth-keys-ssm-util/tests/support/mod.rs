//! AuthKeysSSMUtil's stack: the local stack of its template resource (moto's SSM), parameter names
//! unique to each test.

use auth_keys_ssm_util::{CATEGORY, Deps};
use serde_json::Value;

const FUNCTION: &str = "auth-keys-ssm-util";

local_stack::function_stack! {
    pub struct Stack {
        pub ssm: aws_sdk_ssm::Client,
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local =
            local_stack::stack::Stack::builder(FUNCTION).capture_logs(CATEGORY).start().await.expect("the local stack");
        let ssm = aws_sdk_ssm::Client::new(&local.sdk);
        let deps = Deps::new(&local.env(), ssm.clone());
        Stack { local, ssm, deps }
    }

    /// A parameter name of this test's own.
    pub fn param(&self, what: &str) -> String {
        format!("{}-{what}", self.ssm_prefix)
    }

    /// Sample event `name` with `SSMParamName` set to `param`.
    pub fn event_for(&self, name: &str, param: &str) -> Value {
        let mut event = self.event(name);
        event["ResourceProperties"]["Parameters"]["Details"]["SSMParamName"] = Value::String(param.to_string());
        event
    }

    /// The parameter's type and decrypted value.
    pub async fn stored(&self, param: &str) -> Option<(String, String)> {
        let out = self.ssm.get_parameter().name(param).with_decryption(true).send().await.ok()?;
        let p = out.parameter?;
        Some((p.r#type?.as_str().to_string(), p.value?))
    }
}
