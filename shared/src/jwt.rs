//! RS256 JWTs for the Telephony Integration API (Implementation Guide ch. 3 "Telephony Integration REST API
//! Authorization"): `iss` org id, `sub` call center API name, `aud` https://scrt.salesforce.com,
//! `exp` within 3 minutes, a fresh random `jti` per token.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The audience the documentation requires for Telephony Integration API tokens.
pub const SCRT_AUDIENCE: &str = "https://scrt.salesforce.com";

/// Token lifetime. The documentation requires `exp` within 3 minutes; two leave room for a
/// clock that runs slightly ahead of Salesforce's.
pub const TOKEN_LIFETIME_SECS: i64 = 120;

/// The time source for `iat`/`exp`, injectable so tests can mint expired tokens.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// A clock that says what it is told.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(now_unix: i64) -> Self {
        Self(AtomicI64::new(now_unix))
    }
    pub fn set(&self, now_unix: i64) {
        self.0.store(now_unix, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The claims of every JWT this project signs: Telephony Integration API tokens and OAuth 2.0
/// JWT bearer assertions alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Claims {
    /// Claims issued now, expiring `lifetime_secs` later, with a fresh random `jti`.
    pub fn new(iss: &str, sub: &str, aud: &str, now_unix: i64, lifetime_secs: i64) -> Self {
        Self {
            iss: iss.to_string(),
            sub: sub.to_string(),
            aud: aud.to_string(),
            iat: now_unix,
            exp: now_unix + lifetime_secs,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// A Telephony Integration API token: `iss` the org id, `sub` the call center API name.
    pub fn scrt(org_id: &str, call_center_api_name: &str, now_unix: i64) -> Self {
        Self::new(org_id, call_center_api_name, SCRT_AUDIENCE, now_unix, TOKEN_LIFETIME_SECS)
    }
}

/// A signed token. Its `Debug` and `Display` never show it; only [`BearerToken::header_value`]
/// does, for the `Authorization` header.
#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not sign the JWT: {0}")]
pub struct SignError(String);

/// Signs any claim set with RS256. The error names the failure kind, never the key.
pub fn sign<C: Serialize>(claims: &C, key: &EncodingKey) -> Result<BearerToken, SignError> {
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, key)
        .map(BearerToken)
        .map_err(|e| SignError(format!("{:?}", e.kind())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_documentation() {
        let c = Claims::scrt("00DXX0000000001", "ACME_CC", 1_700_000_000);
        assert_eq!(c.iss, "00DXX0000000001");
        assert_eq!(c.sub, "ACME_CC");
        assert_eq!(c.aud, "https://scrt.salesforce.com");
        assert_eq!(c.iat, 1_700_000_000);
        assert!(c.exp > c.iat && c.exp - c.iat <= 180, "exp within 3 minutes");
        assert_eq!(uuid::Uuid::parse_str(&c.jti).map(|u| u.get_version_num()), Ok(4), "random v4 jti");
        let again = Claims::scrt("00DXX0000000001", "ACME_CC", 1_700_000_000);
        assert_ne!(c.jti, again.jti);
    }

    #[test]
    fn tokens_never_print() {
        let token = BearerToken("eyJhbGciOiJSUzI1NiJ9.eyJ.sig".into());
        assert_eq!(format!("{token}"), "[REDACTED]");
        assert_eq!(format!("{token:?}"), "BearerToken([REDACTED])");
        assert!(token.header_value().starts_with("Bearer eyJ"));
    }
}
