//! AuthKeysSSMUtil: Salesforce's provisioning ("Bring your own AWS account" set-up, "Update Key")
//! invokes it directly to create the contact center's signing key and to store parameters in SSM
//! Parameter Store (docs/keys.md#authkeysssmutil).
//!
//! The event is `{"ResourceProperties": {"Parameters": {"RequestType": ..., "Details": {...}}}}`:
//!
//! - `GeneratePrivatePublicKeyPair` (`SSMParamName`, `OrganizationalUnitName`, `ExpiresIn` days):
//!   a new RSA-2048 key stored as a SecureString (PKCS#8 PEM), answered with
//!   `{"Success": true, "Certificate": "<PEM>"}`, a self-signed SHA-256 certificate of its public key;
//! - `CreateSSMParameter` (`SSMParamName`, `SSMParamValue`): the value stored as a SecureString,
//!   answered with `{"Success": true, "Message": ...}`;
//! - any other request type: `{"Success": false, "Message": "Unsupported requestType ..."}`.
//!
//! A malformed event fails the invocation with an error naming the field. Neither a private key
//! nor a stored value ever reaches a log line, an answer other than the certificate, or an error.

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, Env, KeyStoreConfig, ProcessEnv};
use scv_shared::error::{ErrorKind, describe_json};
use scv_shared::keygen::{self, KeygenError};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "authKeysSSMUtil";

pub const GENERATE: &str = "GeneratePrivatePublicKeyPair";
pub const CREATE: &str = "CreateSSMParameter";

/// Built once at cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub ssm: aws_sdk_ssm::Client,
    pub store: KeyStoreConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Ok(Self::new(&ProcessEnv, aws_sdk_ssm::Client::new(&sdk)))
    }

    pub fn new(env: &dyn Env, ssm: aws_sdk_ssm::Client) -> Self {
        Self { ssm, store: KeyStoreConfig::from_env(env) }
    }
}

#[derive(Debug, Error)]
pub enum KeysError {
    #[error(
        "the event has no {field}: expected {{\"ResourceProperties\":{{\"Parameters\":{{\"RequestType\":..., \"Details\":{{...}}}}}}}}"
    )]
    Missing { field: &'static str },
    #[error("{field} is {found}, expected {expected}")]
    Malformed { field: &'static str, found: String, expected: &'static str },
    #[error("{request_type} for parameter {param}: {source}")]
    Generate { request_type: &'static str, param: String, source: KeygenError },
    #[error("{request_type}: writing SSM parameter {param} failed: {message}")]
    Put { request_type: &'static str, param: String, message: String, retryable: bool },
}

impl KeysError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeysError::Missing { .. } => ErrorKind::MissingField,
            KeysError::Malformed { .. } | KeysError::Generate { .. } => ErrorKind::InvalidEvent,
            KeysError::Put { retryable, .. } => ErrorKind::aws(*retryable),
        }
    }
}

scv_shared::diagnostic!(KeysError);

/// The answer, in the official function's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    #[serde(rename = "Success")]
    pub success: bool,
    #[serde(rename = "Certificate", skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(rename = "Message", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Output, KeysError> {
    let (payload, context) = event.into_parts();
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(&payload, deps)
        .instrument(span)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the request was not carried out"))
}

/// The testable handler.
pub async fn handle(event: &Value, deps: &Deps) -> Result<Output, KeysError> {
    let parameters = event
        .get("ResourceProperties")
        .ok_or(KeysError::Missing { field: "ResourceProperties" })?
        .get("Parameters")
        .ok_or(KeysError::Missing { field: "ResourceProperties.Parameters" })?;
    let request_type = text(parameters.get("RequestType"), "ResourceProperties.Parameters.RequestType")?
        .ok_or(KeysError::Missing { field: "ResourceProperties.Parameters.RequestType" })?;
    let details = match parameters.get("Details") {
        None | Some(Value::Null) => &Value::Null,
        Some(details @ Value::Object(_)) => details,
        Some(other) => {
            return Err(KeysError::Malformed {
                field: "ResourceProperties.Parameters.Details",
                found: describe_json(other),
                expected: "an object",
            });
        }
    };
    let param = text(details.get("SSMParamName"), "Details.SSMParamName")?;
    tracing::info!(requestType = request_type, param = param.unwrap_or(""), "request received");
    match request_type {
        GENERATE => generate(details, required(param, "Details.SSMParamName")?, deps).await,
        CREATE => {
            let param = required(param, "Details.SSMParamName")?;
            // The value is a secret: its type may be named, never its content.
            let value = match details.get("SSMParamValue") {
                Some(Value::String(v)) if !v.is_empty() => v.as_str(),
                None | Some(Value::Null) => return Err(KeysError::Missing { field: "Details.SSMParamValue" }),
                Some(other) => {
                    return Err(KeysError::Malformed {
                        field: "Details.SSMParamValue",
                        found: describe_json(other),
                        expected: "a non-empty string",
                    });
                }
            };
            put(deps, CREATE, param, value).await?;
            Ok(Output {
                success: true,
                certificate: None,
                message: Some(format!("The SSM parameter {param} is put successfully.")),
            })
        }
        other => {
            tracing::warn!(requestType = other, "unsupported request type");
            Ok(Output {
                success: false,
                certificate: None,
                message: Some(format!(
                    "Unsupported requestType along with parameter {} (requestType {other:?}; supported: {GENERATE}, {CREATE})",
                    param.unwrap_or("(none)")
                )),
            })
        }
    }
}

async fn generate(details: &Value, param: &str, deps: &Deps) -> Result<Output, KeysError> {
    let unit = text(details.get("OrganizationalUnitName"), "Details.OrganizationalUnitName")?
        .ok_or(KeysError::Missing { field: "Details.OrganizationalUnitName" })?;
    let days = expires_in(details.get("ExpiresIn"))?;
    let failed = |source| KeysError::Generate { request_type: GENERATE, param: param.to_string(), source };
    let days = keygen::validity_days(days).map_err(failed)?;
    let made = keygen::generate(unit, days, chrono::Utc::now().timestamp()).map_err(failed)?;
    put(deps, GENERATE, param, made.private_key.expose()).await?;
    tracing::info!(param, organizationalUnit = unit, expiresInDays = days, "key pair generated and stored");
    Ok(Output { success: true, certificate: Some(made.certificate_pem), message: None })
}

/// `ExpiresIn`: a whole number of days, as a number or a numeric string; absent, null, 0 or ""
/// mean the official default (365).
fn expires_in(value: Option<&Value>) -> Result<u64, KeysError> {
    let malformed = |found: String| KeysError::Malformed {
        field: "Details.ExpiresIn",
        found,
        expected: "a whole number of days (1 to 36500)",
    };
    let days = match value {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| malformed(format!("the number {n}")))?),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            Some(s.trim().parse::<u64>().map_err(|_| malformed(format!("the string {:?}", s.trim())))?)
        }
        Some(other) => return Err(malformed(describe_json(other))),
    };
    Ok(days.filter(|d| *d != 0).unwrap_or(u64::from(keygen::DEFAULT_VALIDITY_DAYS)))
}

/// A string field (not a secret): `None` when absent, null or blank.
fn text<'a>(value: Option<&'a Value>, field: &'static str) -> Result<Option<&'a str>, KeysError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(KeysError::Malformed { field, found: describe_json(other), expected: "a string" }),
    }
}

fn required<'a>(value: Option<&'a str>, field: &'static str) -> Result<&'a str, KeysError> {
    let value = value.ok_or(KeysError::Missing { field })?;
    // SSM's own rule for names: letters, digits, _ . - and / as path separator.
    let valid =
        value.len() <= 1011 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    if !valid {
        return Err(KeysError::Malformed {
            field,
            found: format!("{value:?}"),
            expected: "an SSM parameter name (letters, digits, _ . - /)",
        });
    }
    Ok(value)
}

/// Writes `value` as a SecureString (overwriting), with the configured KMS key if any. The error
/// names the parameter and the SDK's reason, never the value.
async fn put(deps: &Deps, request_type: &'static str, param: &str, value: &str) -> Result<(), KeysError> {
    scv_shared::keys::put_secure_parameter(&deps.ssm, param, value, deps.store.kms_key_id.as_deref()).await.map_err(
        |e| KeysError::Put { request_type, param: param.to_string(), message: e.message, retryable: e.retryable },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_reads_numbers_and_strings_and_defaults_like_the_official_function() {
        assert_eq!(expires_in(None).unwrap(), 365);
        assert_eq!(expires_in(Some(&json!(0))).unwrap(), 365);
        assert_eq!(expires_in(Some(&json!(""))).unwrap(), 365);
        assert_eq!(expires_in(Some(&json!(30))).unwrap(), 30);
        assert_eq!(expires_in(Some(&json!(" 730 "))).unwrap(), 730);
        for bad in [json!(-1), json!(1.5), json!("soon"), json!([1])] {
            let err = expires_in(Some(&bad)).unwrap_err();
            assert!(err.to_string().starts_with("Details.ExpiresIn is"), "{err}");
        }
    }

    #[test]
    fn parameter_names_follow_ssm_rules() {
        assert_eq!(required(Some("ACME-scrt-jwt-auth-private-key"), "f").unwrap(), "ACME-scrt-jwt-auth-private-key");
        assert!(required(Some("/cc/key_1.pem"), "f").is_ok());
        assert!(matches!(required(Some("a b"), "f"), Err(KeysError::Malformed { .. })));
        assert!(matches!(required(None, "f"), Err(KeysError::Missing { .. })));
    }
}
