//! Keys in both PEM forms, JWTs verified with the public key, and the SSM key cache against a
//! real local SSM (moto): one fetch per cold start, shared by concurrent callers, refreshed once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::jwt::{Claims, SCRT_AUDIENCE, sign};
use scv_shared::keys::{KeyCache, KeyError, KeySource, SsmClient, parse_private_key};
use sf_emulator::keys::TestKeyPair;

fn verify(token: &str, public_pem: &str) -> jsonwebtoken::errors::Result<Claims> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[SCRT_AUDIENCE]);
    validation.set_issuer(&["00DXX0000000001"]);
    validation.sub = Some("ACME_CC".into());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let key = DecodingKey::from_rsa_pem(public_pem.as_bytes())?;
    jsonwebtoken::decode::<Claims>(token, &key, &validation).map(|d| d.claims)
}

#[test]
fn both_pem_forms_sign_tokens_the_public_key_verifies() {
    let pair = TestKeyPair::generate().unwrap();
    let now = chrono::Utc::now().timestamp();
    for pem in [&pair.private_pkcs1_pem, &pair.private_pkcs8_pem] {
        let key = parse_private_key(pem, "p").expect("parses");
        let claims = Claims::scrt("00DXX0000000001", "ACME_CC", now);
        let token = sign(&claims, key.encoding_key()).unwrap();
        let verified = verify(token.expose(), &pair.public_pem).expect("verifies");
        assert_eq!(verified, claims);
        assert!(verified.exp - verified.iat <= 180);
    }
    // Literal "\n" sequences (a key pasted into a single-line console field) are accepted too.
    let one_line = pair.private_pkcs1_pem.trim().replace('\n', "\\n");
    assert!(parse_private_key(&one_line, "p").is_ok());
}

#[test]
fn a_token_signed_with_another_key_does_not_verify() {
    let (pair, other) = (TestKeyPair::generate().unwrap(), TestKeyPair::generate().unwrap());
    let key = parse_private_key(&other.private_pkcs8_pem, "p").unwrap();
    let token =
        sign(&Claims::scrt("00DXX0000000001", "ACME_CC", chrono::Utc::now().timestamp()), key.encoding_key()).unwrap();
    assert!(verify(token.expose(), &pair.public_pem).is_err());
}

async fn cache_for(param: &str, ttl: Duration) -> (KeyCache, scv_shared::aws::SdkConfig) {
    let moto = Moto::shared().expect("moto server (run `make test`, which installs it)");
    let sdk = aws_sdk_config(&moto.endpoint()).await;
    let source = KeySource::Ssm { client: SsmClient::new(&sdk), param: param.to_string() };
    (KeyCache::new(source, ttl), sdk)
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn concurrent_callers_share_one_ssm_fetch() {
    let param = unique("cache");
    let (cache, sdk) = cache_for(&param, Duration::from_secs(300)).await;
    let pair = TestKeyPair::generate().unwrap();
    put_secure_parameter(&sdk, &param, &pair.private_pkcs1_pem).await.unwrap();
    let cache = Arc::new(cache);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.get().await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(cache.fetch_count(), 1);
}

#[tokio::test]
async fn the_ttl_expires_and_a_refresh_is_shared() {
    let param = unique("ttl");
    let (cache, sdk) = cache_for(&param, Duration::from_millis(200)).await;
    let pair = TestKeyPair::generate().unwrap();
    put_secure_parameter(&sdk, &param, &pair.private_pkcs8_pem).await.unwrap();
    let first = cache.get().await.unwrap();
    cache.get().await.unwrap();
    assert_eq!(cache.fetch_count(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    cache.get().await.unwrap();
    assert_eq!(cache.fetch_count(), 2, "stale after the TTL");

    // Two callers both saw `first` rejected: only one of them fetches again.
    let second = cache.get().await.unwrap();
    let refreshed = cache.refresh(&second).await.unwrap();
    assert_eq!(cache.fetch_count(), 3);
    cache.refresh(&second).await.unwrap();
    assert_eq!(cache.fetch_count(), 3, "the second refresh of the same stale key reuses the first");
    drop((first, refreshed));
}

#[tokio::test]
async fn missing_and_malformed_parameters_are_named() {
    let param = unique("missing");
    let (cache, sdk) = cache_for(&param, Duration::from_secs(300)).await;
    let err = cache.get().await.unwrap_err();
    assert!(matches!(err, KeyError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&param));
    assert!(!err.is_retryable());

    put_secure_parameter(&sdk, &param, "hunter2-not-a-key").await.unwrap();
    let err = cache.get().await.unwrap_err();
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
