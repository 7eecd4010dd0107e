//! Keys in both PEM forms, JWTs verified with the public key, and the SSM key cache against a
//! real local SSM (moto): one fetch per cold start, shared by concurrent callers, refreshed once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use local_stack::faults::FaultEndpoint;
use local_stack::moto::{Moto, aws_sdk_config, put_secure_parameter};
use scv_shared::jwt::{Claims, SCRT_AUDIENCE, sign};
use scv_shared::keys::{KeyCache, KeyError, KeySource, SsmClient, parse_private_key};
use scv_shared::retry::Deadline;
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

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(10))
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
            tokio::spawn(async move { c.get(soon()).await.map(|_| ()) })
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
    let first = cache.get(soon()).await.unwrap();
    cache.get(soon()).await.unwrap();
    assert_eq!(cache.fetch_count(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    cache.get(soon()).await.unwrap();
    assert_eq!(cache.fetch_count(), 2, "stale after the TTL");

    // Two callers both saw `first` rejected: only one of them fetches again.
    let second = cache.get(soon()).await.unwrap();
    let refreshed = cache.refresh(&second, soon()).await.unwrap();
    assert_eq!(cache.fetch_count(), 3);
    cache.refresh(&second, soon()).await.unwrap();
    assert_eq!(cache.fetch_count(), 3, "the second refresh of the same stale key reuses the first");
    drop((first, refreshed));
}

#[tokio::test]
async fn missing_and_malformed_parameters_are_named() {
    let param = unique("missing");
    let (cache, sdk) = cache_for(&param, Duration::from_secs(300)).await;
    let err = cache.get(soon()).await.unwrap_err();
    assert!(matches!(err, KeyError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&param));
    assert!(!err.is_retryable());

    put_secure_parameter(&sdk, &param, "hunter2-not-a-key").await.unwrap();
    // A fresh cache: the first one remembers its failure for a few seconds.
    let (cache, _) = cache_for(&param, Duration::from_secs(300)).await;
    let err = cache.get(soon()).await.unwrap_err();
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

fn cache_at(sdk: &scv_shared::aws::SdkConfig) -> KeyCache {
    KeyCache::new(KeySource::Ssm { client: SsmClient::new(sdk), param: "hanging-key".into() }, Duration::from_secs(300))
}

/// Issue 13 item 3: with SSM hanging, every caller fails by its own deadline, a caller waiting for
/// another's fetch gives up at its own deadline, and the failure is remembered, so a batch makes
/// one SSM call instead of one per record.
#[tokio::test]
async fn hanging_ssm_fails_every_caller_by_its_deadline_with_one_fetch() {
    let ssm = FaultEndpoint::hanging().await.unwrap();
    // No SDK timeouts at all: only the caller's deadline bounds the fetch.
    let sdk = aws_sdk_config(ssm.endpoint()).await;
    let cache = Arc::new(cache_at(&sdk));
    let started = std::time::Instant::now();
    let run = async {
        let fetcher = {
            let c = cache.clone();
            tokio::spawn(async move { c.get(Deadline::after(Duration::from_secs(2))).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let waiter = cache.get(Deadline::after(Duration::from_millis(300))).await;
        let waited = started.elapsed();
        assert!(waiter.is_err());
        assert!(waited < Duration::from_millis(1500), "the waiter gave up at its own deadline: {waited:?}");
        let err = fetcher.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("hanging-key") && err.to_string().contains("deadline"), "{err}");
        assert!(err.is_retryable());
        // The rest of the batch: the remembered failure, at once.
        for _ in 0..16 {
            let again = cache.get(Deadline::after(Duration::from_secs(2))).await.unwrap_err();
            assert_eq!(again.to_string(), err.to_string());
        }
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("every caller answered by its deadline");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(cache.fetch_count(), 1);
    assert_eq!(ssm.count("AmazonSSM.GetParameter"), 1, "{:?}", ssm.requests());
}

/// Issue 13 item 3: throttled SSM is asked once per failure memory, not once per record (the SDK's
/// own retries of that one fetch included: at most its three attempts).
#[tokio::test]
async fn throttled_ssm_is_asked_a_bounded_number_of_times() {
    let ssm = FaultEndpoint::throttling().await.unwrap();
    let sdk = aws_sdk_config(ssm.endpoint()).await;
    let cache = cache_at(&sdk);
    let run = async {
        for _ in 0..5 {
            let err = cache.get(Deadline::after(Duration::from_secs(6))).await.unwrap_err();
            assert!(matches!(err, KeyError::Fetch { .. }), "{err:?}");
            assert!(err.to_string().contains("hanging-key"), "{err}");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), run).await.expect("answered");
    assert_eq!(cache.fetch_count(), 1);
    let calls = ssm.count("AmazonSSM.GetParameter");
    assert!((1..=3).contains(&calls), "{calls} GetParameter calls: {:?}", ssm.requests());
}
