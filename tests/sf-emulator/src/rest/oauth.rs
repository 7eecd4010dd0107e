//! `POST /services/oauth2/token` with the OAuth 2.0 JWT bearer flow
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`), and the access tokens it
//! issues. Tokens and assertions are never logged, recorded or served by the control API.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::config::RestConfig;

/// The only grant type accepted.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// "The expiration time of the assertion within 3 minutes".
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 180;
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: i64 = 5;

/// An OAuth error answer: `{"error": ..., "error_description": ...}` (400), with the emulator's precise
/// reason in `emulator_detail` (never containing the assertion).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: &'static str,
    pub detail: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: &'static str, detail: impl Into<String>) -> Self {
        OAuthError { status: 400, error, description, detail: detail.into() }
    }

    fn invalid_assertion(detail: impl Into<String>) -> Self {
        Self::new("invalid_grant", "invalid assertion", detail)
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description, "emulator_detail": self.detail})
    }
}

/// One issued access token (the token text is only the map key).
#[derive(Debug, Clone)]
pub struct Session {
    /// 1-based issue order.
    pub index: usize,
    pub username: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
    pub revoked: bool,
}

/// Issued access tokens.
#[derive(Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
    issued: usize,
}

impl Sessions {
    /// How many tokens were issued so far.
    pub fn issued(&self) -> usize {
        self.issued
    }

    /// Every token issued so far answers 401 from now on.
    pub fn expire_all(&mut self) {
        for session in self.by_token.values_mut() {
            session.revoked = true;
        }
    }

    /// The live session of a token.
    pub fn check(&self, token: &str, now_ms: i64) -> Option<&Session> {
        self.by_token.get(token).filter(|s| !s.revoked && now_ms < s.expires_ms)
    }

    fn insert(&mut self, token: String, username: String, now_ms: i64, lifetime_secs: u64) -> usize {
        self.issued += 1;
        let lifetime_ms = i64::try_from(lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.by_token.insert(
            token,
            Session {
                index: self.issued,
                username,
                issued_ms: now_ms,
                expires_ms: now_ms.saturating_add(lifetime_ms),
                revoked: false,
            },
        );
        self.issued
    }
}

/// Decodes `application/x-www-form-urlencoded` text.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// The decoded (unverified) claims of an assertion, for the request record.
pub fn assertion_claims(assertion: &str) -> Option<Value> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn random_token_body() -> String {
    const CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut bytes = [0u8; 96];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // Fall back to UUIDs (still random) if the system RNG is unavailable.
        let mut i = 0;
        while i < bytes.len() {
            for b in uuid::Uuid::new_v4().as_bytes() {
                if i < bytes.len() {
                    bytes[i] = *b;
                    i += 1;
                }
            }
        }
    }
    bytes.iter().map(|b| CHARS[usize::from(b & 63)] as char).collect()
}

/// What the token endpoint needs to know.
pub struct Issuer<'a> {
    pub config: &'a RestConfig,
    pub keys: &'a [DecodingKey],
    pub org_id: &'a str,
    pub base_url: &'a str,
    pub now_ms: i64,
}

fn string_claim<'a>(claims: &'a Value, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// Checks an assertion; returns the username (`sub`) it authorises.
pub fn verify_assertion(assertion: &str, issuer: &Issuer<'_>) -> Result<String, OAuthError> {
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return Err(OAuthError::invalid_assertion(format!(
            "the assertion is not a JWT ({} segments instead of 3)",
            parts.len()
        )));
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(parts[0].trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| OAuthError::invalid_assertion("the JWT header is not base64url JSON"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("<missing>");
    if alg != "RS256" {
        return Err(OAuthError::invalid_assertion(format!("JWT alg '{alg}' is not allowed: only RS256 is accepted")));
    }
    let claims = assertion_claims(assertion)
        .ok_or_else(|| OAuthError::invalid_assertion("the JWT claims are not base64url JSON"))?;
    // The connected app is found by its consumer key before its certificate is used.
    let iss = string_claim(&claims, "iss").unwrap_or_default();
    if iss != issuer.config.consumer_key {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
            format!("iss '{iss}' is not the consumer key of the connected app"),
        ));
    }
    if issuer.keys.is_empty() {
        return Err(OAuthError::invalid_assertion("no connected app certificate (public key) is configured"));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let verified = issuer.keys.iter().any(|key| jsonwebtoken::decode::<Value>(assertion, key, &validation).is_ok());
    if !verified {
        return Err(OAuthError::invalid_assertion(
            "the JWT signature does not verify with the connected app certificate (bad signature)",
        ));
    }
    let base = issuer.base_url.trim_end_matches('/');
    let accepted = |aud: &str| issuer.config.audiences.iter().any(|a| a == aud) || aud.trim_end_matches('/') == base;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::new(
            "invalid_grant",
            "audience is invalid",
            format!(
                "aud {} is not one of {:?} or {base}",
                claims.get("aud").map_or("<missing>".into(), Value::to_string),
                issuer.config.audiences
            ),
        ));
    }
    let now = issuer.now_ms / 1000;
    let exp = claims.get("exp").and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
    let Some(exp) = exp else {
        return Err(OAuthError::invalid_assertion("the JWT exp claim is missing or not a number"));
    };
    if now > exp + LEEWAY_SECS {
        return Err(OAuthError::new(
            "invalid_grant",
            "expired authorization code",
            format!("the assertion expired: exp {exp} is before now {now}"),
        ));
    }
    if exp - now > MAX_ASSERTION_LIFETIME_SECS + LEEWAY_SECS {
        return Err(OAuthError::invalid_assertion(format!(
            "exp {exp} is more than {MAX_ASSERTION_LIFETIME_SECS} s after now {now}"
        )));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && nbf > now + LEEWAY_SECS
    {
        return Err(OAuthError::invalid_assertion(format!("nbf {nbf} is in the future (now {now})")));
    }
    let sub = string_claim(&claims, "sub").unwrap_or_default();
    let known = issuer.config.usernames.iter().find(|u| u.eq_ignore_ascii_case(sub));
    match known {
        Some(username) => Ok(username.clone()),
        None => Err(OAuthError::new(
            "invalid_grant",
            "user hasn't approved this consumer",
            format!("sub '{sub}' is not a pre-authorized user of the connected app"),
        )),
    }
}

/// Issues a token for a verified user; answers the token response.
pub fn issue(
    sessions: &mut Sessions,
    issuer: &Issuer<'_>,
    username: String,
    user_id: &str,
    signing_key: &[u8],
) -> Value {
    let token = format!("{}!{}", issuer.org_id, random_token_body());
    sessions.insert(token.clone(), username, issuer.now_ms, issuer.config.token_lifetime_secs);
    let id = format!("{}/id/{}/{user_id}", issuer.base_url, issuer.org_id);
    let issued_at = issuer.now_ms.to_string();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, signing_key);
    let signature = STANDARD.encode(aws_lc_rs::hmac::sign(&key, format!("{id}{issued_at}").as_bytes()));
    json!({
        "access_token": token,
        "scope": "api",
        "instance_url": issuer.base_url,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c&x=1+2&flag"),
            vec![
                ("grant_type".into(), JWT_BEARER.into()),
                ("assertion".into(), "a.b.c".into()),
                ("x".into(), "1 2".into()),
                ("flag".into(), String::new()),
            ]
        );
    }

    #[test]
    fn tokens_look_like_salesforce_and_expire() {
        let body = random_token_body();
        assert_eq!(body.len(), 96);
        assert!(body.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_'));
        let mut sessions = Sessions::default();
        sessions.insert("t1".into(), "u".into(), 1000, 1);
        assert!(sessions.check("t1", 1999).is_some());
        assert!(sessions.check("t1", 2000).is_none());
        assert!(sessions.check("t2", 1000).is_none());
        sessions.insert("t3".into(), "u".into(), 1000, 60);
        sessions.expire_all();
        assert!(sessions.check("t3", 1001).is_none());
        assert_eq!(sessions.issued(), 2);
    }
}
