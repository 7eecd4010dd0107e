//! RS256 JWTs for the Telephony Integration API (Implementation Guide ch. 3 "Telephony Integration REST API
//! Authorization"): `iss` org id, `sub` call center API name, `aud` https://scrt.salesforce.com,
//! `exp` within 3 minutes, a fresh random `jti` per token.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
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

/// The JOSE header of every token: `{"typ":"JWT","alg":"RS256"}` (what `jsonwebtoken::Header::new(RS256)`
/// serialises to), base64url-encoded once.
const RS256_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9";

/// An RSA private key parsed once into aws-lc's key pair, ready to sign any number of tokens.
/// `jsonwebtoken::encode` re-parses the key's DER on every call (0.7-1.0 ms per token against
/// 0.25 ms for the signature itself); this keeps the parsed pair. `Debug` never shows the key.
pub struct RsaKey {
    encoding: EncodingKey,
    pair: RsaKeyPair,
}

impl RsaKey {
    /// Parses the key's DER (PKCS#1, what `EncodingKey::from_rsa_pem` keeps of either PEM form).
    /// The error names the failure kind, never the key.
    pub fn new(encoding: EncodingKey) -> Result<Self, SignError> {
        let pair = RsaKeyPair::from_der(encoding.as_bytes())
            .map_err(|e| SignError(format!("the key is not a usable RSA private key ({e})")))?;
        Ok(Self { encoding, pair })
    }

    /// The key as `jsonwebtoken` holds it.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaKey([REDACTED])")
    }
}

/// Signs any claim set with RS256 (RSASSA-PKCS1-v1_5 with SHA-256, deterministic: the same claims
/// and key give the same token `jsonwebtoken::encode` would) with the already parsed key. The
/// error names the failure kind, never the key.
pub fn sign<C: Serialize>(claims: &C, key: &RsaKey) -> Result<BearerToken, SignError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SignError(format!("the claims do not serialise ({e})")))?;
    let mut token = String::with_capacity(RS256_HEADER_B64.len() + 2 + payload.len() * 4 / 3 + 350);
    token.push_str(RS256_HEADER_B64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let mut signature = vec![0; key.pair.public_modulus_len()];
    key.pair
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), token.as_bytes(), &mut signature)
        .map_err(|_| SignError("the RSA signature failed".into()))?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(BearerToken(token))
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
    fn the_header_constant_is_what_jsonwebtoken_writes() {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        let json = serde_json::to_vec(&header).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(json), RS256_HEADER_B64);
    }

    /// The cached key pair signs exactly what `jsonwebtoken::encode` signs (RS256 is deterministic),
    /// the public key verifies it with the documented claims, and every token has its own `jti`.
    #[test]
    fn the_parsed_key_signs_the_tokens_jsonwebtoken_would() {
        let pair = sf_emulator::keys::TestKeyPair::generate().unwrap();
        let now = chrono::Utc::now().timestamp();
        for pem in [&pair.private_pkcs1_pem, &pair.private_pkcs8_pem] {
            let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
            let key = RsaKey::new(encoding.clone()).unwrap();
            let mut jtis = std::collections::HashSet::new();
            for _ in 0..3 {
                let claims = Claims::scrt("00DXX0000000001", "ACME_CC", now);
                let token = sign(&claims, &key).unwrap();
                let reference = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
                    &claims,
                    &encoding,
                )
                .unwrap();
                assert_eq!(token.expose(), reference);
                let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                validation.set_audience(&[SCRT_AUDIENCE]);
                validation.set_issuer(&["00DXX0000000001"]);
                validation.sub = Some("ACME_CC".into());
                let public = jsonwebtoken::DecodingKey::from_rsa_pem(pair.public_pem.as_bytes()).unwrap();
                let verified = jsonwebtoken::decode::<Claims>(token.expose(), &public, &validation).unwrap().claims;
                assert_eq!(verified, claims);
                assert!(jtis.insert(verified.jti), "a fresh jti per token");
            }
        }
    }

    #[test]
    fn a_key_that_is_not_rsa_is_refused_without_echoing_it() {
        let err = RsaKey::new(EncodingKey::from_rsa_der(b"secretmaterial-not-a-key")).unwrap_err();
        assert!(!err.to_string().contains("secretmaterial"), "{err}");
    }

    #[test]
    fn tokens_never_print() {
        let token = BearerToken("eyJhbGciOiJSUzI1NiJ9.eyJ.sig".into());
        assert_eq!(format!("{token}"), "[REDACTED]");
        assert_eq!(format!("{token:?}"), "BearerToken([REDACTED])");
        assert!(token.header_value().starts_with("Bearer eyJ"));
    }
}
