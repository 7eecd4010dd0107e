//! AuthKeysSSMUtil end to end against moto's SSM: each request type of the sample events through the
//! handler, what SSM then holds, the certificate read back with an X.509 parser, bad events, an
//! unreachable SSM, and no secret in a log line or an error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

mod support;

use auth_keys_ssm_util::{Deps, KeysError, Output, handle};
use rcgen::PublicKeyData;
use scv_shared::error::ErrorKind;
use serde_json::json;
use support::*;
use x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA;
use x509_parser::prelude::*;

/// The private key lines (no header) and the certificate a generation answered, parsed.
fn read_certificate(pem: &str) -> (Vec<u8>, Vec<String>, i64, i64, String, usize, bool) {
    let (_, block) = parse_x509_pem(pem.as_bytes()).expect("a PEM certificate");
    let cert = block.parse_x509().expect("an X.509 certificate");
    let units: Vec<String> =
        cert.subject().iter_organizational_unit().map(|a| a.as_str().expect("text").to_string()).collect();
    let bits = match cert.public_key().parsed().expect("a public key") {
        x509_parser::public_key::PublicKey::RSA(rsa) => rsa.key_size(),
        other => panic!("not an RSA key: {other:?}"),
    };
    let self_signed = cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok();
    let algorithm = if cert.signature_algorithm.algorithm == OID_PKCS1_SHA256WITHRSA {
        "sha256WithRSAEncryption".to_string()
    } else {
        cert.signature_algorithm.algorithm.to_id_string()
    };
    (
        cert.public_key().raw.to_vec(),
        units,
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
        algorithm,
        bits,
        self_signed,
    )
}

fn key_lines(pem: &str) -> Vec<String> {
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).map(str::to_string).collect()
}

#[tokio::test]
async fn generate_stores_a_securestring_key_whose_certificate_matches_it() {
    let stack = Stack::start().await;
    let param = stack.param("scrt-jwt-auth-private-key");
    let mut event = stack.event_for("01-generate-key-pair.json", &param);
    event["ResourceProperties"]["Parameters"]["Details"]["ExpiresIn"] = json!(30);
    let before = chrono::Utc::now().timestamp();
    let out = handle(&event, &stack.deps).await.expect("generated");
    let after = chrono::Utc::now().timestamp();
    assert!(out.success);
    assert_eq!(out.message, None);
    let certificate = out.certificate.clone().expect("a certificate");

    let (kind, private_pem) = stack.stored(&param).await.expect("the key is stored");
    assert_eq!(kind, "SecureString");
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    scv_shared::keys::parse_private_key(&private_pem, &param).expect("the functions read it");

    let (spki, units, not_before, not_after, algorithm, bits, self_signed) = read_certificate(&certificate);
    let stored_public = rcgen::KeyPair::from_pem(&private_pem).expect("the stored key").subject_public_key_info();
    assert_eq!(spki, stored_public, "the certificate's public key is the stored private key's");
    assert_eq!(units, ["ACME_CC"], "the subject carries the OrganizationalUnitName");
    assert!((before..=after).contains(&not_before), "valid from now: {not_before} not in {before}..={after}");
    assert_eq!(not_after - not_before, 30 * 86_400, "valid ExpiresIn days");
    assert_eq!(algorithm, "sha256WithRSAEncryption");
    assert_eq!(bits, 2048);
    assert!(self_signed, "self-signed: issuer is the subject and the signature verifies with its own key");

    // The answer is exactly the official shape.
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"Success": true, "Certificate": certificate}),
        "no other field"
    );
    stack.assert_logs_clean_of(&key_lines(&private_pem).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stack.logs().lines().iter().any(|l| l.contains("BEGIN CERTIFICATE")), "nor the certificate");
}

#[tokio::test]
async fn generating_again_replaces_the_key_and_expires_in_may_be_a_string_or_absent() {
    let stack = Stack::start().await;
    let param = stack.param("scrt-jwt-auth-private-key");
    let mut event = stack.event_for("01-generate-key-pair.json", &param);
    event["ResourceProperties"]["Parameters"]["Details"]["ExpiresIn"] = json!("730");
    let first = handle(&event, &stack.deps).await.unwrap().certificate.unwrap();
    let (_, first_key) = stack.stored(&param).await.unwrap();
    let (_, _, nb, na, ..) = read_certificate(&first);
    assert_eq!(na - nb, 730 * 86_400);

    event["ResourceProperties"]["Parameters"]["Details"].as_object_mut().unwrap().remove("ExpiresIn");
    let second = handle(&event, &stack.deps).await.unwrap().certificate.unwrap();
    let (_, second_key) = stack.stored(&param).await.unwrap();
    assert_ne!(first_key, second_key, "a new key overwrites the old one");
    let (spki, _, nb, na, ..) = read_certificate(&second);
    assert_eq!(na - nb, 365 * 86_400, "the official default");
    assert_eq!(spki, rcgen::KeyPair::from_pem(&second_key).unwrap().subject_public_key_info());
}

#[tokio::test]
async fn create_ssm_parameter_stores_the_value_as_a_securestring() {
    let stack = Stack::start().await;
    let param = stack.param("salesforce-rest-api-auth-consumer-key");
    let event = stack.event_for("02-create-ssm-parameter.json", &param);
    let out = handle(&event, &stack.deps).await.expect("stored");
    assert_eq!(
        out,
        Output {
            success: true,
            certificate: None,
            message: Some(format!("The SSM parameter {param} is put successfully."))
        }
    );
    let (kind, value) = stack.stored(&param).await.unwrap();
    assert_eq!(kind, "SecureString");
    assert_eq!(value, "3MVG9example.consumer.key.value");
    stack.assert_logs_clean_of(&["3MVG9example.consumer.key.value"]);
}

#[tokio::test]
async fn an_unsupported_request_type_answers_success_false_and_writes_nothing() {
    let stack = Stack::start().await;
    let param = stack.param("scrt-jwt-auth-private-key");
    let out = handle(&stack.event_for("03-unsupported-request-type.json", &param), &stack.deps).await.unwrap();
    assert!(!out.success);
    let message = out.message.unwrap();
    assert!(message.starts_with(&format!("Unsupported requestType along with parameter {param}")), "{message}");
    assert!(message.contains("DeletePrivatePublicKeyPair"), "{message}");
    assert!(stack.stored(&param).await.is_none(), "nothing written");
}

#[tokio::test]
async fn a_malformed_event_fails_naming_the_field_and_never_the_value() {
    let stack = Stack::start().await;
    let secret = "super-secret-value-123456";
    let cases = [
        (json!({}), ErrorKind::MissingField, "ResourceProperties"),
        (json!({"ResourceProperties": {}}), ErrorKind::MissingField, "ResourceProperties.Parameters"),
        (json!({"ResourceProperties": {"Parameters": {}}}), ErrorKind::MissingField, "RequestType"),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": 7}}}),
            ErrorKind::InvalidEvent,
            "RequestType is the number 7",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "CreateSSMParameter", "Details": {"SSMParamValue": secret}}}}),
            ErrorKind::MissingField,
            "Details.SSMParamName",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "CreateSSMParameter", "Details": {"SSMParamName": "x"}}}}),
            ErrorKind::MissingField,
            "Details.SSMParamValue",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "CreateSSMParameter", "Details": {"SSMParamName": "x", "SSMParamValue": {"v": secret}}}}}),
            ErrorKind::InvalidEvent,
            "Details.SSMParamValue is an object",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "GeneratePrivatePublicKeyPair", "Details": {"SSMParamName": "x"}}}}),
            ErrorKind::MissingField,
            "Details.OrganizationalUnitName",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "GeneratePrivatePublicKeyPair", "Details": {"SSMParamName": "x", "OrganizationalUnitName": "CC", "ExpiresIn": -3}}}}),
            ErrorKind::InvalidEvent,
            "Details.ExpiresIn is the number -3",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "GeneratePrivatePublicKeyPair", "Details": {"SSMParamName": "x", "OrganizationalUnitName": "CC", "ExpiresIn": 99999}}}}),
            ErrorKind::InvalidEvent,
            "ExpiresIn 99999 is out of range",
        ),
        (
            json!({"ResourceProperties": {"Parameters": {"RequestType": "CreateSSMParameter", "Details": {"SSMParamName": "bad name", "SSMParamValue": secret}}}}),
            ErrorKind::InvalidEvent,
            "Details.SSMParamName is \"bad name\"",
        ),
    ];
    for (event, kind, needle) in cases {
        let err = handle(&event, &stack.deps).await.expect_err(&event.to_string());
        let message = err.to_string();
        assert_eq!(err.kind(), kind, "{message}");
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
        assert!(!message.contains(secret), "{message}");
    }
    stack.assert_logs_clean_of(&[secret]);
}

#[tokio::test]
async fn an_unreachable_ssm_is_a_retryable_aws_error_naming_the_parameter_not_the_value() {
    let stack = Stack::start().await;
    let config = aws_sdk_ssm::config::Builder::from(&stack.sdk)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
        .build();
    let deps = Deps::new(&stack.env(), aws_sdk_ssm::Client::from_conf(config));
    let secret = "unreachable-secret-value-987";
    let event = json!({"ResourceProperties": {"Parameters": {"RequestType": "CreateSSMParameter",
        "Details": {"SSMParamName": "ACME_CC-x", "SSMParamValue": secret}}}});
    let err = handle(&event, &deps).await.unwrap_err();
    assert!(matches!(err, KeysError::Put { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::AwsUnavailable);
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "AwsUnavailable");
    assert!(diagnostic.error_message.contains("ACME_CC-x"), "{}", diagnostic.error_message);
    assert!(!diagnostic.error_message.contains(secret));

    // A key generated for an unreachable SSM is lost, never shown.
    let event = json!({"ResourceProperties": {"Parameters": {"RequestType": "GeneratePrivatePublicKeyPair",
        "Details": {"SSMParamName": "ACME_CC-y", "OrganizationalUnitName": "CC"}}}});
    let message = handle(&event, &deps).await.unwrap_err().to_string();
    assert!(message.contains("ACME_CC-y") && !message.contains("PRIVATE KEY"), "{message}");
    stack.assert_logs_clean_of(&[secret]);
}
