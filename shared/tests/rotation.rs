//! Key rotation with no failed call (docs/keys.md#rotation), end to end: moto's SSM holds the key
//! parameters, the Salesforce emulator accepts one certificate at a time and swaps it mid-run, and
//! several "containers" (each its own key cache and client, one call at a time, as a Lambda
//! container runs) keep calling the Telephony Integration API across stage → certificate upload →
//! promote. Not one call fails, and no container sees more than one 401.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use local_stack::moto::{Moto, aws_sdk_config};
use scv_shared::config::ScrtConfig;
use scv_shared::keygen::KeyStore;
use scv_shared::keys::{KeyCache, KeySource, SsmClient};
use scv_shared::retry::Deadline;
use scv_shared::scrt::TelephonyClient;
use serde_json::{Map, json};
use sf_emulator::{Emulator, EmulatorConfig};

const ORG: &str = "00DXX0000000001";
const CC: &str = "ACME_CC";

struct World {
    emulator: Emulator,
    store: KeyStore,
    sdk: scv_shared::aws::SdkConfig,
}

impl World {
    async fn start() -> World {
        let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let param = format!("test-{}-scrt-jwt-auth-private-key", uuid::Uuid::new_v4().simple());
        let store = KeyStore { ssm: SsmClient::new(&sdk), param, kms_key_id: None };
        let first = store.generate(CC, 30, chrono::Utc::now().timestamp()).await.expect("the first key");
        let mut config = EmulatorConfig::new(ORG, CC);
        config.scrt_public_keys = vec![first.certificate_pem.clone()];
        let emulator = Emulator::start(config).await.expect("emulator");
        World { emulator, store, sdk }
    }

    /// A container: its own key cache (TTL `ttl`) and client.
    fn container(&self, ttl: Duration) -> TelephonyClient {
        let cfg = ScrtConfig {
            org_id: ORG.into(),
            call_center_api_name: CC.into(),
            endpoint_base: self.emulator.scrt_base(),
            private_key_param_name: self.store.param.clone(),
            use_ssm_extension: false,
            key_cache_ttl: ttl,
            deadline: Duration::from_secs(6),
        };
        let source = KeySource::Ssm { client: SsmClient::new(&self.sdk), param: self.store.param.clone() };
        TelephonyClient::new(&cfg, scv_shared::aws::http_client(), Arc::new(KeyCache::new(source, ttl)))
    }

    /// The 401s and successes the emulator answered on `vendor_call_key`'s updates.
    fn statuses(&self, vendor_call_key: &str) -> Vec<u16> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/voiceCalls/{vendor_call_key}")))
            .map(|r| r.status)
            .collect()
    }
}

async fn create_call(client: &TelephonyClient, key: &str) {
    let call = local_stack::stack::inbound_call(key, "2024-01-04T19:49:19Z");
    client.create_voice_call(&call, Deadline::after(Duration::from_secs(5))).await.expect("the call is created");
}

async fn update(client: &TelephonyClient, key: &str, n: usize) -> Result<(), String> {
    let mut fields = Map::new();
    fields.insert("totalHoldDuration".into(), json!(n));
    client
        .update_voice_call(key, &fields, Deadline::after(Duration::from_secs(5)))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_rotation_under_load_fails_no_call_and_costs_each_container_at_most_one_401() {
    let world = Arc::new(World::start().await);
    let stop = Arc::new(AtomicBool::new(false));
    // A short TTL, so containers also reload on their own while the staged key is in use.
    let containers: Vec<(String, TelephonyClient)> = (0..4)
        .map(|i| {
            (format!("rotation-{i}-{}", uuid::Uuid::new_v4().simple()), world.container(Duration::from_millis(400)))
        })
        .collect();
    for (key, client) in &containers {
        create_call(client, key).await;
    }
    let tasks: Vec<_> = containers
        .into_iter()
        .map(|(key, client)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut calls = 0;
                while !stop.load(Ordering::SeqCst) {
                    calls += 1;
                    if let Err(e) = update(&client, &key, calls).await {
                        failures.push(e);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (key, client, calls, failures)
            })
        })
        .collect();

    let pause = || tokio::time::sleep(Duration::from_millis(600));
    pause().await;
    // 1. Stage: a new key in <param>-next; Salesforce still accepts the current certificate.
    let staged = world.store.stage(CC, 30, chrono::Utc::now().timestamp()).await.expect("staged");
    pause().await;
    // 2. The admin uploads the new certificate: from now on Salesforce accepts only the new key.
    world.emulator.try_set_scrt_public_keys(vec![staged.certificate_pem.clone()]).expect("certificate");
    let swapped_at = world.emulator.requests().last().map_or(0, |r| r.seq);
    pause().await;
    pause().await;
    // 3. Promote: the staged key becomes the current key.
    world.store.promote().await.expect("promoted");
    pause().await;
    stop.store(true, Ordering::SeqCst);

    let mut total_401 = 0;
    for task in tasks {
        let (key, client, calls, failures) = task.await.unwrap();
        assert!(failures.is_empty(), "{key}: {} of {calls} calls failed: {failures:?}", failures.len());
        let statuses = world.statuses(&key);
        let rejected = statuses.iter().filter(|s| **s == 401).count();
        assert!(rejected <= 1, "{key}: {rejected} 401s: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 401 || (200..300).contains(s)), "{statuses:?}");
        total_401 += rejected;
        // After the promotion the container uses the promoted key, not a leftover.
        assert!(!client.keys().using_staged() || client.keys().staged_fetch_count() > 0);
        update(&client, &key, 10_000).await.expect("still accepted after the promotion");
    }
    assert!(total_401 >= 1, "the certificate swap was noticed at least once");
    assert!(
        world.emulator.requests().iter().any(|r| r.seq > swapped_at && (200..300).contains(&r.status)),
        "calls went on after the certificate swap"
    );

    // A container started after the promotion: the current key, no 401 at all.
    let fresh = world.container(Duration::from_secs(300));
    let key = format!("rotation-fresh-{}", uuid::Uuid::new_v4().simple());
    create_call(&fresh, &key).await;
    update(&fresh, &key, 1).await.expect("accepted");
    assert_eq!(world.statuses(&key), [200], "no 401 for a container started after the promotion");
    assert_eq!(fresh.keys().staged_fetch_count(), 0);
}

#[tokio::test]
async fn a_certificate_swapped_before_anything_was_staged_still_fails_as_before() {
    // Without a staged key there is nothing to fall back to: one reload, then the 401 is the answer.
    let world = World::start().await;
    let client = world.container(Duration::from_secs(300));
    let key = format!("unstaged-{}", uuid::Uuid::new_v4().simple());
    create_call(&client, &key).await;
    let other = scv_shared::keygen::generate(CC, 30, chrono::Utc::now().timestamp()).unwrap();
    world.emulator.try_set_scrt_public_keys(vec![other.certificate_pem]).unwrap();
    let err = update(&client, &key, 1).await.expect_err("refused");
    assert!(err.contains("401"), "{err}");
    assert_eq!(world.statuses(&key), [401, 401], "the reloaded (unchanged) key is tried once");
    assert_eq!(client.keys().fetch_count(), 2);
    assert_eq!(client.keys().staged_fetch_count(), 1, "the staged parameter was looked for");
}

#[tokio::test]
async fn keys_rotated_in_place_are_still_picked_up_on_the_first_401() {
    // The old way (SSM updated, certificate uploaded, no staging) keeps working.
    let world = World::start().await;
    let client = world.container(Duration::from_secs(300));
    let key = format!("in-place-{}", uuid::Uuid::new_v4().simple());
    create_call(&client, &key).await;
    let rotated = world.store.generate(CC, 30, chrono::Utc::now().timestamp()).await.unwrap();
    world.emulator.try_set_scrt_public_keys(vec![rotated.certificate_pem]).unwrap();
    update(&client, &key, 1).await.expect("accepted after one reload");
    assert_eq!(world.statuses(&key), [401, 200]);
    assert_eq!(client.keys().staged_fetch_count(), 0, "the changed key is used without looking for a staged one");
}

#[tokio::test]
async fn a_kept_staged_key_survives_the_ttl_until_it_is_promoted() {
    let world = World::start().await;
    let ttl = Duration::from_millis(200);
    let client = world.container(ttl);
    let key = format!("ttl-{}", uuid::Uuid::new_v4().simple());
    create_call(&client, &key).await;
    let staged = world.store.stage(CC, 30, chrono::Utc::now().timestamp()).await.unwrap();
    world.emulator.try_set_scrt_public_keys(vec![staged.certificate_pem]).unwrap();
    update(&client, &key, 1).await.expect("the staged key is accepted");
    assert!(client.keys().using_staged());
    for n in 2..5 {
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        update(&client, &key, n).await.expect("still the staged key after the TTL");
    }
    assert_eq!(world.statuses(&key).iter().filter(|s| **s == 401).count(), 1, "{:?}", world.statuses(&key));
    world.store.promote().await.unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    update(&client, &key, 9).await.expect("the promoted key");
    assert!(!client.keys().using_staged(), "after the promotion the current parameter's key is used");
}
