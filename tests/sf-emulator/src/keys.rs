//! RSA key pairs for tests and demos, in every PEM form the SCV tooling meets: PKCS#8 and PKCS#1
//! private keys (the official functions accept both, docs/telephony-integration-api.md#the-private-key) and the SPKI public key
//! an admin registers on the CallCenter record.

use anyhow::{Context, bail};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The audience the SCRT API expects ("Telephony Integration REST API Authorization").
pub const SCRT_AUDIENCE: &str = "https://scrt.salesforce.com";

/// A freshly generated RSA-2048 key pair.
#[derive(Clone)]
pub struct TestKeyPair {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub private_pkcs8_pem: String,
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    pub private_pkcs1_pem: String,
    /// `-----BEGIN PUBLIC KEY-----` (SPKI).
    pub public_pem: String,
}

impl std::fmt::Debug for TestKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private keys, even test ones.
        f.debug_struct("TestKeyPair").field("public_pem", &self.public_pem).finish_non_exhaustive()
    }
}

impl TestKeyPair {
    /// Generates an RSA-2048 key pair with aws-lc-rs.
    pub fn generate() -> anyhow::Result<TestKeyPair> {
        let pair =
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("RSA-2048 key generation failed"))?;
        let pkcs8 = pair.as_der().map_err(|_| anyhow::anyhow!("PKCS#8 encoding of the RSA key failed"))?;
        let pkcs1 = pkcs8_to_pkcs1(pkcs8.as_ref()).context("extracting the PKCS#1 key from PKCS#8")?;
        let spki =
            pair.public_key().as_der().map_err(|_| anyhow::anyhow!("SPKI encoding of the RSA public key failed"))?;
        Ok(TestKeyPair {
            private_pkcs8_pem: pem_encode("PRIVATE KEY", pkcs8.as_ref()),
            private_pkcs1_pem: pem_encode("RSA PRIVATE KEY", &pkcs1),
            public_pem: pem_encode("PUBLIC KEY", spki.as_ref()),
        })
    }

    /// The public key as `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1).
    pub fn public_pkcs1_pem(&self) -> anyhow::Result<String> {
        spki_pem_to_pkcs1_pem(&self.public_pem)
    }

    /// Signs arbitrary claims with RS256 (header `{"alg":"RS256","typ":"JWT"}`).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_pkcs8_pem.as_bytes())
            .context("loading the PKCS#8 private key")?;
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), claims, &key)
            .context("signing the JWT")
    }

    /// A documented SCRT token: `iss`, `sub`, `aud`, `iat`, `exp` = now + `lifetime_secs`, a fresh `jti`.
    pub fn scrt_token(&self, org_id: &str, call_center_api_name: &str, lifetime_secs: i64) -> anyhow::Result<String> {
        self.sign(&scrt_claims(org_id, call_center_api_name, lifetime_secs))
    }
}

/// The claims of a documented SCRT token issued now.
pub fn scrt_claims(org_id: &str, call_center_api_name: &str, lifetime_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": org_id,
        "sub": call_center_api_name,
        "aud": SCRT_AUDIENCE,
        "iat": now,
        "exp": now + lifetime_secs,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// Converts a `PUBLIC KEY` (SPKI) PEM into a `RSA PUBLIC KEY` (PKCS#1) PEM.
pub fn spki_pem_to_pkcs1_pem(spki_pem: &str) -> anyhow::Result<String> {
    let der = pem_decode(spki_pem, "PUBLIC KEY")?;
    // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
    let (tag, body, _) = der_tlv(&der)?;
    if tag != 0x30 {
        bail!("SPKI is not a DER SEQUENCE");
    }
    let (tag, _, rest) = der_tlv(body)?;
    if tag != 0x30 {
        bail!("SPKI algorithm identifier is not a SEQUENCE");
    }
    let (tag, bits, _) = der_tlv(rest)?;
    match (tag, bits.split_first()) {
        (0x03, Some((0, key))) => Ok(pem_encode("RSA PUBLIC KEY", key)),
        _ => bail!("SPKI subjectPublicKey is not a byte-aligned BIT STRING"),
    }
}

/// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }`:
/// the OCTET STRING holds the PKCS#1 `RSAPrivateKey`.
fn pkcs8_to_pkcs1(der: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (tag, body, _) = der_tlv(der)?;
    if tag != 0x30 {
        bail!("PKCS#8 is not a DER SEQUENCE");
    }
    let (tag, _, rest) = der_tlv(body)?;
    if tag != 0x02 {
        bail!("PKCS#8 version is not an INTEGER");
    }
    let (tag, _, rest) = der_tlv(rest)?;
    if tag != 0x30 {
        bail!("PKCS#8 algorithm identifier is not a SEQUENCE");
    }
    let (tag, key, _) = der_tlv(rest)?;
    if tag != 0x04 {
        bail!("PKCS#8 privateKey is not an OCTET STRING");
    }
    Ok(key.to_vec())
}

/// Reads one DER TLV: returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> anyhow::Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().context("DER: missing tag")?;
    let (&first, mut rest) = rest.split_first().context("DER: missing length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            bail!("DER: unsupported length encoding");
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        bail!("DER: truncated value ({len} bytes announced, {} present)", rest.len());
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str, label: &str) -> anyhow::Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).with_context(|| format!("PEM has no {begin} line"))? + begin.len();
    let stop = pem[start..].find(&end).with_context(|| format!("PEM has no {end} line"))? + start;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).context("PEM body is not base64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

    fn verify(token: &str, public_pem: &str) -> anyhow::Result<Value> {
        let key = DecodingKey::from_rsa_pem(public_pem.as_bytes())?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[SCRT_AUDIENCE]);
        Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
    }

    #[test]
    fn both_private_forms_load_and_the_public_key_verifies_each() -> anyhow::Result<()> {
        let pair = TestKeyPair::generate()?;
        assert!(pair.private_pkcs8_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pair.private_pkcs1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let claims = scrt_claims("00DXX0000000001", "HVCC", 60);
        for private in [&pair.private_pkcs8_pem, &pair.private_pkcs1_pem] {
            let key = EncodingKey::from_rsa_pem(private.as_bytes())?;
            let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)?;
            assert_eq!(verify(&token, &pair.public_pem)?, claims);
            assert_eq!(verify(&token, &pair.public_pkcs1_pem()?)?, claims);
        }
        Ok(())
    }

    #[test]
    fn another_key_does_not_verify() -> anyhow::Result<()> {
        let (a, b) = (TestKeyPair::generate()?, TestKeyPair::generate()?);
        let token = a.scrt_token("00D", "CC", 60)?;
        assert!(verify(&token, &b.public_pem).is_err());
        Ok(())
    }

    #[test]
    fn der_walk_rejects_garbage() {
        assert!(pkcs8_to_pkcs1(&[]).is_err());
        assert!(pkcs8_to_pkcs1(&[0x30, 0x05, 0x02]).is_err());
        assert!(pkcs8_to_pkcs1(&[0x04, 0x00]).is_err());
        assert!(der_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(spki_pem_to_pkcs1_pem("not a pem").is_err());
    }

    #[test]
    fn debug_never_prints_private_keys() -> anyhow::Result<()> {
        let pair = TestKeyPair::generate()?;
        let printed = format!("{pair:?}");
        assert!(!printed.contains("PRIVATE"));
        Ok(())
    }
}
