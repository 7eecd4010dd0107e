//! The resync's stack: the local stack of its template resource (both sides of the Salesforce
//! emulator, moto with both keys and a fresh backup bucket) and its Deps built from that environment.

use std::ops::Deref;

use ctr_sync_retry::Deps;
use scv_shared::keys::SsmClient;

pub struct Stack {
    pub local: local_stack::stack::Stack,
    pub deps: Deps,
}

impl Deref for Stack {
    type Target = local_stack::stack::Stack;
    fn deref(&self) -> &Self::Target {
        &self.local
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let local = local_stack::stack::Stack::builder("ctr-sync-retry")
            .with_env("CTR_RESYNC_GRACE_MINUTES", "0")
            .start()
            .await
            .expect("the local stack");
        let deps = Deps::new(&local.env(), SsmClient::new(&local.sdk), local.s3.clone()).expect("configuration");
        Stack { local, deps }
    }

    pub async fn back_up(&self, contact_id: &str, ctr: &serde_json::Value) {
        self.put_object(contact_id, ctr.to_string()).await.expect("backup");
    }
}
