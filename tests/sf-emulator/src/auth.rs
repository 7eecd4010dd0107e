//! JWT verification, as documented in "Telephony Integration REST API Authorization" (chapter 3):
//! RS256 only, signed with the private key whose public key is on the CallCenter record, `iss` = org id,
//! `sub` = call center API name, `aud` = `https://scrt.salesforce.com`, `exp` within 3 minutes, and a `jti`
//! (optional) that must not have been sent before.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::keys::SCRT_AUDIENCE;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 5;
/// "The expiration time of the assertion within 3 minutes".
pub const MAX_LIFETIME_SECS: i64 = 180;

/// Why a bearer token was refused. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization header is missing")]
    MissingHeader,
    #[error("Authorization header must be 'Bearer <JWT>'")]
    NotBearer,
    #[error("bearer token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("JWT alg '{0}' is not allowed: only RS256 is accepted")]
    Algorithm(String),
    #[error("no SCRT public key is configured for this call center")]
    NoKeys,
    #[error("JWT signature does not verify with any public key configured for this call center (bad signature)")]
    BadSignature,
    #[error("JWT claim '{0}' is missing")]
    MissingClaim(&'static str),
    #[error("JWT claim '{claim}' has the wrong type: {expected} expected")]
    ClaimType { claim: &'static str, expected: &'static str },
    #[error("JWT iss '{got}' does not match the org id '{expected}' (wrong iss)")]
    WrongIssuer { expected: String, got: String },
    #[error("JWT sub '{got}' does not match the call center API name '{expected}' (wrong sub)")]
    WrongSubject { expected: String, got: String },
    #[error("JWT aud {got} is not '{SCRT_AUDIENCE}' (wrong aud)")]
    WrongAudience { got: String },
    #[error("JWT expired: exp {exp} is before now {now}")]
    Expired { exp: i64, now: i64 },
    #[error("JWT lifetime too long: exp - iat = {lifetime} s, at most {MAX_LIFETIME_SECS} s allowed")]
    LifetimeTooLong { lifetime: i64 },
    #[error("JWT lifetime too long: exp {exp} is more than {MAX_LIFETIME_SECS} s after now {now}")]
    ExpiresTooLate { exp: i64, now: i64 },
    #[error("JWT iat {iat} is in the future (now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    #[error("JWT jti has already been used (replayed jti)")]
    Replayed,
}

/// What is checked against a token.
pub struct Expectations<'a> {
    pub org_id: &'a str,
    pub call_center_api_name: &'a str,
    pub keys: &'a [DecodingKey],
    pub now: i64,
}

/// `jti` values already seen, each kept until its `exp` (plus leeway) has passed.
#[derive(Debug, Default, Clone)]
pub struct JtiCache {
    seen: HashMap<String, i64>,
}

impl JtiCache {
    /// Forgets every jti.
    pub fn clear(&mut self) {
        self.seen.clear();
    }

    fn check_and_insert(&mut self, jti: &str, exp: i64, now: i64) -> Result<(), AuthError> {
        self.seen.retain(|_, until| *until + LEEWAY_SECS >= now);
        if self.seen.contains_key(jti) {
            return Err(AuthError::Replayed);
        }
        self.seen.insert(jti.to_owned(), exp);
        Ok(())
    }
}

/// Parses PEM public keys (SPKI or PKCS#1) or X.509 certificates (`-----BEGIN CERTIFICATE-----`,
/// what an admin uploads to the contact center: its public key is the one accepted).
pub fn parse_public_keys(pems: &[String]) -> Result<Vec<DecodingKey>, String> {
    pems.iter()
        .enumerate()
        .map(|(i, pem)| {
            if pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
                return certificate_key(pem).map_err(|e| format!("public key #{i} is not an RSA certificate: {e}"));
            }
            DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("public key #{i} is not an RSA PEM public key: {e}"))
        })
        .collect()
}

/// The RSA public key of a PEM certificate.
fn certificate_key(pem: &str) -> Result<DecodingKey, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = block.parse_x509().map_err(|e| e.to_string())?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(format!("the certificate's key is not RSA ({})", spki.algorithm.algorithm.to_id_string()));
    }
    // The BIT STRING of an RSA SubjectPublicKeyInfo is the PKCS#1 RSAPublicKey.
    Ok(DecodingKey::from_rsa_der(&spki.subject_public_key.data))
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::MissingHeader)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

/// Decodes the claims of a token WITHOUT verifying it (for inspection only).
pub fn insecure_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let _header = parts.next()?;
    decode_part(parts.next()?).ok()
}

fn decode_part(part: &str) -> Result<Value, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("a segment is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("a segment is not JSON".into()))
}

/// Verifies a bearer token and returns its claims.
pub fn verify(token: &str, expect: &Expectations<'_>, jtis: &mut JtiCache) -> Result<Value, AuthError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(AuthError::Malformed(format!("{} segments instead of 3", parts.len())));
    }
    let header = decode_part(parts[0])?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("<missing>");
    if alg != "RS256" {
        return Err(AuthError::Algorithm(alg.to_owned()));
    }
    if expect.keys.is_empty() {
        return Err(AuthError::NoKeys);
    }
    let claims = verify_signature(token, expect.keys)?;
    check_claims(&claims, expect)?;
    if let Some(jti) = claims.get("jti") {
        let jti = jti.as_str().ok_or(AuthError::ClaimType { claim: "jti", expected: "string" })?;
        jtis.check_and_insert(jti, numeric(&claims, "exp")?.unwrap_or(expect.now), expect.now)?;
    }
    Ok(claims)
}

/// Signature only: every claim check is done by `check_claims` so that each refusal names its reason.
fn verify_signature(token: &str, keys: &[DecodingKey]) -> Result<Value, AuthError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for key in keys {
        match jsonwebtoken::decode::<Value>(token, key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                continue;
            }
            Err(e) => return Err(AuthError::Malformed(e.to_string())),
        }
    }
    Err(AuthError::BadSignature)
}

fn numeric(claims: &Value, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(AuthError::ClaimType { claim, expected: "NumericDate (seconds)" }),
    }
}

fn string_claim<'a>(claims: &'a Value, claim: &'static str) -> Result<&'a str, AuthError> {
    claims
        .get(claim)
        .ok_or(AuthError::MissingClaim(claim))?
        .as_str()
        .ok_or(AuthError::ClaimType { claim, expected: "string" })
}

fn check_claims(claims: &Value, expect: &Expectations<'_>) -> Result<(), AuthError> {
    let iss = string_claim(claims, "iss")?;
    if iss != expect.org_id {
        return Err(AuthError::WrongIssuer { expected: expect.org_id.into(), got: iss.into() });
    }
    let sub = string_claim(claims, "sub")?;
    if sub != expect.call_center_api_name {
        return Err(AuthError::WrongSubject { expected: expect.call_center_api_name.into(), got: sub.into() });
    }
    let aud_ok = match claims.get("aud") {
        None => return Err(AuthError::MissingClaim("aud")),
        Some(Value::String(s)) => s == SCRT_AUDIENCE,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(SCRT_AUDIENCE)),
        Some(_) => false,
    };
    if !aud_ok {
        return Err(AuthError::WrongAudience { got: claims.get("aud").map(Value::to_string).unwrap_or_default() });
    }
    let now = expect.now;
    let exp = numeric(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    if now > exp + LEEWAY_SECS {
        return Err(AuthError::Expired { exp, now });
    }
    if let Some(iat) = numeric(claims, "iat")? {
        if iat > now + LEEWAY_SECS {
            return Err(AuthError::IssuedInFuture { iat, now });
        }
        if exp - iat > MAX_LIFETIME_SECS {
            return Err(AuthError::LifetimeTooLong { lifetime: exp - iat });
        }
    }
    if exp - now > MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AuthError::ExpiresTooLate { exp, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{TestKeyPair, scrt_claims};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const ORG: &str = "00DXX0000000001";
    const CC: &str = "HVCC";

    fn setup() -> (TestKeyPair, Vec<DecodingKey>) {
        let pair = TestKeyPair::generate().expect("keygen");
        let keys = parse_public_keys(std::slice::from_ref(&pair.public_pem)).expect("parse");
        (pair, keys)
    }

    fn check(token: &str, keys: &[DecodingKey], jtis: &mut JtiCache) -> Result<Value, AuthError> {
        check_at(token, keys, jtis, chrono::Utc::now().timestamp())
    }

    /// Checked at a given second, so a table built around `now` never straddles a clock tick.
    fn check_at(token: &str, keys: &[DecodingKey], jtis: &mut JtiCache, now: i64) -> Result<Value, AuthError> {
        verify(token, &Expectations { org_id: ORG, call_center_api_name: CC, keys, now }, jtis)
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        if value.is_null() {
            claims.as_object_mut().map(|m| m.remove(key));
        } else {
            claims[key] = value;
        }
        claims
    }

    #[test]
    fn claim_rules_table() {
        let (pair, keys) = setup();
        let now = chrono::Utc::now().timestamp();
        let good = scrt_claims(ORG, CC, 120);
        let cases: Vec<(&str, Value, Option<AuthError>)> = vec![
            ("good", good.clone(), None),
            ("no jti is fine", with(good.clone(), "jti", Value::Null), None),
            ("aud as array", with(good.clone(), "aud", json!([SCRT_AUDIENCE])), None),
            (
                "wrong iss",
                with(good.clone(), "iss", json!("00DOTHER")),
                Some(AuthError::WrongIssuer { expected: ORG.into(), got: "00DOTHER".into() }),
            ),
            (
                "wrong sub",
                with(good.clone(), "sub", json!("X")),
                Some(AuthError::WrongSubject { expected: CC.into(), got: "X".into() }),
            ),
            (
                "wrong aud",
                with(good.clone(), "aud", json!("https://login.salesforce.com")),
                Some(AuthError::WrongAudience { got: "\"https://login.salesforce.com\"".into() }),
            ),
            ("missing aud", with(good.clone(), "aud", Value::Null), Some(AuthError::MissingClaim("aud"))),
            ("missing exp", with(good.clone(), "exp", Value::Null), Some(AuthError::MissingClaim("exp"))),
            ("missing iss", with(good.clone(), "iss", Value::Null), Some(AuthError::MissingClaim("iss"))),
            (
                "expired",
                with(with(good.clone(), "exp", json!(now - 10)), "iat", json!(now - 60)),
                Some(AuthError::Expired { exp: now - 10, now }),
            ),
            (
                "lifetime 5 min",
                with(with(good.clone(), "iat", json!(now)), "exp", json!(now + 300)),
                Some(AuthError::LifetimeTooLong { lifetime: 300 }),
            ),
            (
                "exp too late without iat",
                with(with(good.clone(), "iat", Value::Null), "exp", json!(now + 600)),
                Some(AuthError::ExpiresTooLate { exp: now + 600, now }),
            ),
            (
                "iat in future",
                with(with(good.clone(), "iat", json!(now + 60)), "exp", json!(now + 120)),
                Some(AuthError::IssuedInFuture { iat: now + 60, now }),
            ),
            (
                "exp string",
                with(good.clone(), "exp", json!("soon")),
                Some(AuthError::ClaimType { claim: "exp", expected: "NumericDate (seconds)" }),
            ),
        ];
        for (name, claims, expected) in cases {
            let token = pair.sign(&claims).expect("sign");
            let got = check_at(&token, &keys, &mut JtiCache::default(), now);
            match expected {
                None => assert!(got.is_ok(), "{name}: {got:?}"),
                Some(err) => assert_eq!(got, Err(err), "{name}"),
            }
        }
    }

    #[test]
    fn replayed_jti_is_refused() {
        let (pair, keys) = setup();
        let token = pair.scrt_token(ORG, CC, 60).expect("sign");
        let mut jtis = JtiCache::default();
        assert!(check(&token, &keys, &mut jtis).is_ok());
        assert_eq!(check(&token, &keys, &mut jtis), Err(AuthError::Replayed));
        jtis.clear();
        assert!(check(&token, &keys, &mut jtis).is_ok());
    }

    #[test]
    fn signature_algorithm_and_shape_rules() {
        let (pair, keys) = setup();
        let (other, _) = setup();
        let mut jtis = JtiCache::default();
        let claims = scrt_claims(ORG, CC, 60);
        let foreign = other.sign(&claims).expect("sign");
        assert_eq!(check(&foreign, &keys, &mut jtis), Err(AuthError::BadSignature));

        let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"secret"))
            .expect("hs256");
        assert_eq!(check(&hs, &keys, &mut jtis), Err(AuthError::Algorithm("HS256".into())));

        let none =
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(claims.to_string()));
        assert_eq!(check(&none, &keys, &mut jtis), Err(AuthError::Algorithm("none".into())));
        assert!(matches!(check("abc", &keys, &mut jtis), Err(AuthError::Malformed(_))));
        assert!(matches!(check("a.b.c", &keys, &mut jtis), Err(AuthError::Malformed(_))));

        let good = pair.sign(&claims).expect("sign");
        assert_eq!(check(&good, &[], &mut jtis), Err(AuthError::NoKeys));
        // A token signed by a second configured key is accepted (rotation).
        let both = parse_public_keys(&[other.public_pem.clone(), pair.public_pem.clone()]).expect("parse");
        assert!(check(&good, &both, &mut jtis).is_ok());
        assert_eq!(insecure_claims(&good), Some(claims));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(None), Err(AuthError::MissingHeader));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(Some("Bearer  x.y.z ")), Ok("x.y.z"));
        assert_eq!(bearer_token(Some("bearer x")), Ok("x"));
    }

    #[test]
    fn a_certificate_is_accepted_as_its_public_key() {
        let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).expect("key");
        let cert = rcgen::CertificateParams::default().self_signed(&key).expect("certificate").pem();
        let keys = parse_public_keys(&[cert]).expect("a certificate parses");
        let signer = jsonwebtoken::EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).expect("private key");
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"iss": ORG, "sub": CC, "aud": crate::keys::SCRT_AUDIENCE,
            "iat": now, "exp": now + 120, "jti": uuid::Uuid::new_v4().to_string()});
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), &claims, &signer).expect("sign");
        let mut jtis = JtiCache::default();
        assert!(check(&token, &keys, &mut jtis).is_ok());
        let other = TestKeyPair::generate().expect("keys");
        assert!(check(&other.sign(&claims).expect("sign"), &keys, &mut jtis).is_err(), "only that key");
        let err = parse_public_keys(&["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into()])
            .err()
            .unwrap_or_default();
        assert!(err.contains("not an RSA certificate"), "{err}");
    }

    #[test]
    fn bad_pem_is_named() {
        let err = parse_public_keys(&["nope".to_owned()]).err().unwrap_or_default();
        assert!(err.contains("public key #0"), "{err}");
    }
}
