//! CTRDataSync's stack: the local stack of its template resource (the Salesforce emulator, moto with
//! its key and a fresh backup bucket) and its Deps built from that environment.

use std::collections::BTreeMap;
use std::time::Duration;

use ctr_data_sync::{CATEGORY, Deps, Outcome, handle};
use scv_shared::keys::SsmClient;
use scv_shared::kinesis::KinesisEventResponse;
use scv_shared::retry::Deadline;
use serde_json::Value;

pub use local_stack::records::{ctr_of, seq_of};
pub use local_stack::stack::CALL_CENTER;

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
        handle(event.clone(), Deadline::after(Duration::from_secs(60)), &self.deps).await.expect("a Kinesis event")
    }
}

pub fn deps_for(env: &BTreeMap<String, String>, sdk: &scv_shared::aws::SdkConfig, s3: aws_sdk_s3::Client) -> Deps {
    let lookup = |name: &str| env.get(name).cloned();
    Deps::new(&lookup, SsmClient::new(sdk), s3).expect("configuration")
}

pub fn event(name: &str) -> Value {
    local_stack::stack::load_event("ctr-data-sync", name).expect("sample event")
}

pub fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).collect()
}
