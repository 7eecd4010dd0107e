//! The contact center's signing key pair, made here: an RSA-2048 private key in PKCS#8 PEM (the
//! form [`crate::keys::parse_private_key`] reads) and a self-signed X.509 certificate of its public
//! key to upload to Salesforce (Implementation Guide ch. 3, "Telephony Integration REST API
//! Authorization"; docs/keys.md). Shared by AuthKeysSSMUtil and `scv keys`.
//!
//! The certificate keeps the subject the official provisioning function writes (C=US, ST=CA,
//! L=San Francisco, O=salesforce.com, CN=www.salesforce.com, OU=<given>), a random positive 128-bit
//! serial number, basicConstraints cA=true, validity from now for the given number of days, and is
//! signed with SHA-256 with RSA (the official one is signed with SHA-1: docs/keys.md#certificate).

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, PKCS_RSA_SHA256, RsaKeySize,
    SerialNumber,
};
use thiserror::Error;

/// The longest validity accepted, in days (100 years; X.509 dates end in 9999).
pub const MAX_VALIDITY_DAYS: u32 = 36_500;
/// The validity when none is given, as the official function does.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeygenError {
    #[error("OrganizationalUnitName is empty: the certificate's subject needs it")]
    EmptyUnit,
    #[error("ExpiresIn {days} is out of range: 1 to {MAX_VALIDITY_DAYS} days")]
    Validity { days: u64 },
    #[error("generating the RSA-2048 key pair failed: {0}")]
    Key(String),
    #[error("building the certificate failed: {0}")]
    Certificate(String),
}

/// A PEM private key: `Debug` and `Display` never show it; [`PrivatePem::expose`] does, for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivatePem(String);

impl PrivatePem {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivatePem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivatePem([REDACTED])")
    }
}

/// A new key pair and its certificate.
#[derive(Debug, Clone)]
pub struct Generated {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8): what goes into SSM as a SecureString.
    pub private_key: PrivatePem,
    /// `-----BEGIN CERTIFICATE-----`: what the admin uploads to Salesforce.
    pub certificate_pem: String,
    /// `-----BEGIN PUBLIC KEY-----` (SPKI) of the same key.
    pub public_key_pem: String,
    /// First and last second of validity (Unix time).
    pub not_before: i64,
    pub not_after: i64,
}

/// Checks a validity in days: 1 to [`MAX_VALIDITY_DAYS`].
pub fn validity_days(days: u64) -> Result<u32, KeygenError> {
    u32::try_from(days).ok().filter(|d| (1..=MAX_VALIDITY_DAYS).contains(d)).ok_or(KeygenError::Validity { days })
}

/// A new RSA-2048 key pair and a self-signed certificate for `unit`, valid `days` days from `now_unix`.
pub fn generate(unit: &str, days: u32, now_unix: i64) -> Result<Generated, KeygenError> {
    let unit = unit.trim();
    if unit.is_empty() {
        return Err(KeygenError::EmptyUnit);
    }
    let days = validity_days(u64::from(days))?;
    let key =
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(|e| KeygenError::Key(e.to_string()))?;
    let not_before = now_unix;
    let not_after = now_unix + i64::from(days) * 86_400;
    let time = |unix: i64| {
        time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| KeygenError::Certificate(e.to_string()))
    };
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CountryName, "US");
    subject.push(DnType::StateOrProvinceName, "CA");
    subject.push(DnType::LocalityName, "San Francisco");
    subject.push(DnType::OrganizationName, "salesforce.com");
    subject.push(DnType::OrganizationalUnitName, unit);
    subject.push(DnType::CommonName, "www.salesforce.com");
    params.distinguished_name = subject;
    params.not_before = time(not_before)?;
    params.not_after = time(not_after)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // 16 random bytes, the first one's top bit cleared: a positive serial, as RFC 5280 asks.
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    serial[0] = (serial[0] & 0x7f) | 0x01;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let certificate = params.self_signed(&key).map_err(|e| KeygenError::Certificate(e.to_string()))?;
    Ok(Generated {
        private_key: PrivatePem(key.serialize_pem()),
        certificate_pem: certificate.pem(),
        public_key_pem: key.public_key_pem(),
        not_before,
        not_after,
    })
}

// ---------------------------------------------------------------------------------------------
// The key parameters in SSM: `<param>` (the key the functions use), `<param>-next` (a staged key),
// each with its certificate in `<param>-certificate` / `<param>-next-certificate` (a String: a
// certificate is public). docs/keys.md#rotation.

/// Where a certificate of the key in `param` is kept.
pub fn certificate_param(param: &str) -> String {
    format!("{param}-certificate")
}

/// A failed step of `generate` / `stage` / `promote`: names the parameter, never a value.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Generate(#[from] KeygenError),
    #[error("SSM parameter {param} was not found{hint}")]
    NotFound { param: String, hint: &'static str },
    #[error("reading SSM parameter {param} failed: {message}")]
    Read { param: String, message: String, retryable: bool },
    #[error("writing SSM parameter {param} failed: {message}")]
    Write { param: String, message: String, retryable: bool },
    #[error("SSM parameter {param} does not hold a usable private key: {reason}")]
    Unusable { param: String, reason: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Read { retryable: true, .. } | StoreError::Write { retryable: true, .. })
    }
}

/// The key parameters of one contact center.
#[derive(Debug, Clone)]
pub struct KeyStore {
    pub ssm: aws_sdk_ssm::Client,
    /// The parameter the functions read (`PRIVATE_KEY_PARAM_NAME`).
    pub param: String,
    /// The KMS key SecureStrings are written with (`None`: `aws/ssm`).
    pub kms_key_id: Option<String>,
}

/// What `generate` and `stage` made: the certificate to upload, and its validity.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub key_param: String,
    pub certificate_param: String,
    pub certificate_pem: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl KeyStore {
    pub fn staged_param(&self) -> String {
        crate::keys::staged_param(&self.param)
    }

    /// A new key straight into `<param>` (first provisioning, as AuthKeysSSMUtil does).
    pub async fn generate(&self, unit: &str, days: u32, now_unix: i64) -> Result<Provisioned, StoreError> {
        self.make(self.param.clone(), unit, days, now_unix).await
    }

    /// A new key into `<param>-next`: the functions keep using `<param>` until Salesforce refuses it.
    pub async fn stage(&self, unit: &str, days: u32, now_unix: i64) -> Result<Provisioned, StoreError> {
        self.make(self.staged_param(), unit, days, now_unix).await
    }

    /// Copies the staged key (and its certificate) into `<param>`. The staged parameter is kept:
    /// a container that read `<param>` just before still finds the new key there.
    pub async fn promote(&self) -> Result<Provisioned, StoreError> {
        let staged = self.staged_param();
        let pem = self.read(&staged, true).await?.ok_or(StoreError::NotFound {
            param: staged.clone(),
            hint: ": nothing is staged (run `scv keys stage` first)",
        })?;
        crate::keys::parse_private_key(&pem, &staged)
            .map_err(|e| StoreError::Unusable { param: staged.clone(), reason: e.to_string() })?;
        let certificate = self.read(&certificate_param(&staged), false).await?;
        self.put(&self.param, &pem, true).await?;
        let certificate_pem = certificate.unwrap_or_default();
        if !certificate_pem.is_empty() {
            self.put(&certificate_param(&self.param), &certificate_pem, false).await?;
        }
        Ok(Provisioned {
            key_param: self.param.clone(),
            certificate_param: certificate_param(&self.param),
            certificate_pem,
            not_before: 0,
            not_after: 0,
        })
    }

    /// A parameter's value (`None`: not found). `decrypt` for SecureStrings.
    pub async fn read(&self, param: &str, decrypt: bool) -> Result<Option<String>, StoreError> {
        match self.ssm.get_parameter().name(param).with_decryption(decrypt).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_ssm::operation::get_parameter::GetParameterError::is_parameter_not_found) =>
            {
                Ok(None)
            }
            Err(e) => Err(StoreError::Read {
                param: param.to_string(),
                message: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                retryable: crate::aws::sdk_retryable(&e),
            }),
        }
    }

    async fn make(&self, key_param: String, unit: &str, days: u32, now_unix: i64) -> Result<Provisioned, StoreError> {
        let made = generate(unit, days, now_unix)?;
        self.put(&key_param, made.private_key.expose(), true).await?;
        let cert_param = certificate_param(&key_param);
        self.put(&cert_param, &made.certificate_pem, false).await?;
        Ok(Provisioned {
            key_param,
            certificate_param: cert_param,
            certificate_pem: made.certificate_pem,
            not_before: made.not_before,
            not_after: made.not_after,
        })
    }

    async fn put(&self, param: &str, value: &str, secret: bool) -> Result<(), StoreError> {
        let write_error =
            |message: String, retryable: bool| StoreError::Write { param: param.to_string(), message, retryable };
        if secret {
            crate::keys::put_secure_parameter(&self.ssm, param, value, self.kms_key_id.as_deref())
                .await
                .map_err(|e| write_error(e.message, e.retryable))
        } else {
            self.ssm
                .put_parameter()
                .name(param)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    write_error(aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(), crate::aws::sdk_retryable(&e))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_parses_where_the_functions_read_it_and_never_prints() {
        let made = generate("ACME_CC", 30, 1_700_000_000).unwrap();
        assert!(made.private_key.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(made.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        crate::keys::parse_private_key(made.private_key.expose(), "p").unwrap();
        assert_eq!(made.not_after - made.not_before, 30 * 86_400);
        let shown = format!("{made:?}");
        assert!(!shown.contains("BEGIN PRIVATE KEY") && shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(generate(" ", 30, 0).unwrap_err(), KeygenError::EmptyUnit);
        assert_eq!(generate("OU", 0, 0).unwrap_err(), KeygenError::Validity { days: 0 });
        assert_eq!(validity_days(36_501).unwrap_err(), KeygenError::Validity { days: 36_501 });
        assert_eq!(validity_days(365), Ok(365));
    }
}
