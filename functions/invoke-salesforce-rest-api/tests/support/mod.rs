//! The stack the end-to-end tests run against: the Salesforce emulator (REST side) in process,
//! moto for SSM, and a connected-app key pair whose private half and consumer key live in SSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use invoke_salesforce_rest_api::{CATEGORY, Deps};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::config::RestConfig;
use scv_shared::keys::SsmClient;
use scv_shared::logging::{CapturedLogs, LogLevel};
use scv_shared::retry::Deadline;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
pub const USERNAME: &str = "integration@acme.example";

pub struct Stack {
    pub emulator: Emulator,
    pub keys: TestKeyPair,
    pub sdk: scv_shared::aws::SdkConfig,
    pub cfg: RestConfig,
    pub deps: Deps,
    pub logs: CapturedLogs,
}

pub fn logs() -> CapturedLogs {
    scv_shared::logging::capture(CATEGORY, &["invoke_salesforce_rest_api"], LogLevel::Debug)
}

pub fn unique(name: &str) -> String {
    format!("test-{}-{name}", uuid::Uuid::new_v4().simple())
}

impl Stack {
    /// `subject_as_parameter`: SUBJECT names an SSM parameter holding the username (the official
    /// set-up) instead of being the username itself (what the documentation tells admins to type).
    pub async fn start(subject_as_parameter: bool) -> Stack {
        let logs = logs();
        let keys = TestKeyPair::generate().expect("key pair");
        let mut config = EmulatorConfig::new(ORG_ID, "ACME_CC");
        config.rest.consumer_key = CONSUMER_KEY.into();
        config.rest.connected_app_public_keys = vec![keys.public_pem.clone()];
        config.rest.usernames = vec![USERNAME.into()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;

        let cfg = RestConfig {
            auth_endpoint: emulator.token_url(),
            rest_base: emulator.rest_base(),
            consumer_key_param: unique("consumer-key"),
            private_key_param: unique("rest-private-key"),
            access_token_param: unique("access-token"),
            audience: unique("audience"),
            subject: if subject_as_parameter { unique("subject") } else { USERNAME.into() },
            deadline: Duration::from_secs(6),
        };
        put_secure_parameter(&sdk, &cfg.consumer_key_param, CONSUMER_KEY).await.expect("consumer key");
        put_secure_parameter(&sdk, &cfg.private_key_param, &keys.private_pkcs1_pem).await.expect("private key");
        put_secure_parameter(&sdk, &cfg.access_token_param, "salesforce-rest-api-access-token")
            .await
            .expect("token placeholder");
        put_secure_parameter(&sdk, &cfg.audience, "https://login.salesforce.com/").await.expect("audience");
        if subject_as_parameter {
            put_secure_parameter(&sdk, &cfg.subject, USERNAME).await.expect("subject");
        }
        let deps = Deps::new(&cfg, SsmClient::new(&sdk));
        Stack { emulator, keys, sdk, cfg, deps, logs }
    }

    /// Another container of the same function: same configuration, its own memory.
    pub fn another_container(&self) -> Deps {
        Deps::new(&self.cfg, SsmClient::new(&self.sdk))
    }

    pub async fn invoke(&self, event: Value) -> Result<Value, invoke_salesforce_rest_api::InvokeError> {
        invoke_salesforce_rest_api::handle(event, Deadline::after(Duration::from_secs(6)), &self.deps).await
    }

    /// No log line of this test binary holds key material, a JWT or an access token.
    pub fn assert_logs_clean(&self) {
        local_stack::secrets::assert_no_secrets(&self.logs.lines(), &[&self.keys], &[&format!("{ORG_ID}!")]);
    }
}

pub fn event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/invoke-salesforce-rest-api").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn with_params(mut event: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(event["Details"]["Parameters"].as_object_mut().expect("Parameters"));
    event
}
