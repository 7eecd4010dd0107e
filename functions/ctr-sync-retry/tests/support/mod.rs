//! The stack for the resync's tests: both sides of the Salesforce emulator, moto (SSM, S3).

#![allow(dead_code)]

use std::collections::HashMap;

use ctr_sync_retry::Deps;
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::keys::SsmClient;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
pub const USERNAME: &str = "integration@acme.example";

pub struct Stack {
    pub emulator: Emulator,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub env: HashMap<String, String>,
    pub deps: Deps,
}

impl Stack {
    pub async fn start() -> Stack {
        let scrt_keys = TestKeyPair::generate().expect("keys");
        let app_keys = TestKeyPair::generate().expect("keys");
        let mut config = EmulatorConfig::new(ORG_ID, "ACME_CC");
        config.scrt_public_keys = vec![scrt_keys.public_pem.clone()];
        config.rest.consumer_key = CONSUMER_KEY.into();
        config.rest.connected_app_public_keys = vec![app_keys.public_pem.clone()];
        config.rest.usernames = vec![USERNAME.into()];
        let emulator = Emulator::start(config).await.expect("emulator");
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bucket = format!("ctr-backup-{}", &id[..12]);
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let p = |name: &str| format!("test-{id}-{name}");
        for (name, value) in [
            ("scrt-key", scrt_keys.private_pkcs1_pem.as_str()),
            ("rest-key", &app_keys.private_pkcs8_pem),
            ("consumer-key", CONSUMER_KEY),
            ("token", "placeholder"),
        ] {
            put_secure_parameter(&sdk, &p(name), value).await.expect("param");
        }
        let env: HashMap<String, String> = [
            ("SALESFORCE_ORG_ID", ORG_ID.to_string()),
            ("CALL_CENTER_API_NAME", "ACME_CC".to_string()),
            ("SCRT_ENDPOINT_BASE", emulator.scrt_base()),
            ("SCRT_PRIVATE_KEY_PARAM_NAME", p("scrt-key")),
            ("REST_PRIVATE_KEY_PARAM_NAME", p("rest-key")),
            ("SALESFORCE_AUTH_ENDPOINT", emulator.token_url()),
            ("SALESFORCE_REST_API_ENDPOINT_BASE", emulator.rest_base()),
            ("CONSUMER_KEY_PARAM_NAME", p("consumer-key")),
            ("ACCESS_TOKEN_PARAM_NAME", p("token")),
            ("AUDIENCE", "https://login.salesforce.com/".to_string()),
            ("SUBJECT", USERNAME.to_string()),
            ("CTR_BACKUP_S3_BUCKET", bucket.clone()),
            ("CTR_RESYNC_GRACE_MINUTES", "0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let lookup = |name: &str| env.get(name).cloned();
        let deps = Deps::new(&lookup, SsmClient::new(&sdk), s3.clone()).expect("configuration");
        Stack { emulator, s3, bucket, env, deps }
    }

    pub async fn back_up(&self, contact_id: &str, ctr: &serde_json::Value) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(contact_id)
            .body(ctr.to_string().into_bytes().into())
            .send()
            .await
            .expect("backup");
    }
}
