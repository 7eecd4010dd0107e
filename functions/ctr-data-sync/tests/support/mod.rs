//! CTRDataSync's stack: the local stack of its template resource (the Salesforce emulator, moto with
//! its key and a fresh backup bucket) and its Deps built from that environment.

use std::collections::BTreeMap;
use std::time::Duration;

use ctr_data_sync::{CATEGORY, Deps, Outcome, handle};
use scv_shared::kinesis::KinesisEventResponse;
use scv_shared::retry::Deadline;
use serde_json::Value;

pub use local_stack::records::{ctr_of, seq_of};
pub use local_stack::stack::{CALL_CENTER, lines_with};

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local = local_stack::stack::Stack::builder("ctr-data-sync")
            .capture_logs(CATEGORY)
            .with_env("CTR_SYNC_CONCURRENCY", "10")
            .start()
            .await
            .expect("the local stack");
        let deps = deps_for(&local.env, &local.sdk, local.s3.clone());
        Stack { local, deps }
    }

    pub async fn run(&self, event: &Value) -> (KinesisEventResponse, Vec<(String, Outcome)>) {
        self.try_run(event).await.expect("a Kinesis event")
    }

    pub async fn try_run(
        &self,
        event: &Value,
    ) -> Result<(KinesisEventResponse, Vec<(String, Outcome)>), ctr_data_sync::SyncError> {
        handle(event.clone(), Deadline::after(Duration::from_secs(60)), &self.deps).await
    }
}

/// The InvokeTelephonyIntegrationApi alias ARN an official stack gives CTRDataSync.
pub const ITIA_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-InvokeTelephonyIntegrationApi:active";

/// Exactly the environment the official template gives CTRDataSync.
pub fn official_env() -> BTreeMap<String, String> {
    [("INVOKE_TELEPHONY_INTEGRATION_API_ARN", ITIA_ARN), ("LOG_LEVEL", "info")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Stack {
    /// CTRDataSync with the official environment ([`official_env`]): its invokes reach the local
    /// Invoke endpoint, which runs this suite's InvokeTelephonyIntegrationApi in-process against the
    /// emulator (its own environment is the template's), unless `answer` says otherwise for an invoke.
    pub async fn official(
        answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
    ) -> Stack {
        Self::official_with(&[], answer).await
    }

    /// [`Stack::official`] with `extra` variables added to the official environment.
    pub async fn official_with(
        extra: &[(&str, &str)],
        answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
    ) -> Stack {
        let local = local_stack::stack::Stack::builder("ctr-data-sync")
            .capture_logs(CATEGORY)
            .with_invoke_endpoint()
            .start()
            .await
            .expect("the local stack");
        route_to_itia(&local, answer);
        let sdk = local.sdk_for(local.recorder().endpoint()).await;
        let mut env = official_env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let deps = deps_for(&env, &sdk, local.s3.clone());
        Stack { local, deps }
    }
}

/// Invokes reach this suite's InvokeTelephonyIntegrationApi handler (built from the stack's
/// direct settings), unless `answer` answers first.
pub fn route_to_itia(
    local: &local_stack::stack::Stack,
    answer: impl Fn(&Value) -> Option<local_stack::invoke_recorder::Answer> + Send + Sync + 'static,
) {
    use local_stack::invoke_recorder::Answer;
    let lookup = |name: &str| local.env.get(name).cloned();
    let cfg = scv_shared::config::ScrtConfig::from_env(&lookup).expect("the direct settings");
    let itia = std::sync::Arc::new(invoke_telephony_integration_api::Deps::new(
        &cfg,
        scv_shared::keys::SsmClient::new(&local.sdk),
        &lookup,
    ));
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

pub fn deps_for(env: &BTreeMap<String, String>, sdk: &scv_shared::aws::SdkConfig, s3: aws_sdk_s3::Client) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, sdk, s3).expect("configuration")
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event("ctr-data-sync", name).expect("sample event")
}

pub fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect()
}
