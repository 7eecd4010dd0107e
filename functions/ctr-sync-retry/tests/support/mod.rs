//! The resync's stack: the local stack of its template resource (both sides of the Salesforce
//! emulator, moto with both keys and a fresh backup bucket) and its Deps built from that environment.

use ctr_sync_retry::Deps;
use scv_shared::keys::SsmClient;

local_stack::function_stack! {
    pub struct Stack {
        pub deps: Deps,
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// With `extra` variables added to the template's environment.
    pub async fn start_with(extra: &[(&str, &str)]) -> Stack {
        let mut builder =
            local_stack::stack::Stack::builder("ctr-sync-retry").with_env("CTR_RESYNC_GRACE_MINUTES", "0");
        for (name, value) in extra {
            builder = builder.with_env(*name, *value);
        }
        let local = builder.start().await.expect("the local stack");
        let deps = Deps::new(&local.env(), SsmClient::new(&local.sdk), local.s3.clone()).expect("configuration");
        Stack { local, deps }
    }

    pub async fn back_up(&self, contact_id: &str, ctr: &serde_json::Value) {
        self.put_object(contact_id, ctr.to_string()).await.expect("backup");
    }
}
