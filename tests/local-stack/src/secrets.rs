//! The one check every test and the demo run over captured log lines: no PEM header, no JWT, no
//! line of a private key, and none of the extra secrets a caller names (an access token prefix,
//! transcript text).

use sf_emulator::keys::TestKeyPair;

/// What is wrong with `lines`, one entry per offending line (empty when clean).
pub fn secret_problems(lines: &[String], keys: &[&TestKeyPair], extra: &[&str]) -> Vec<String> {
    let chunks: Vec<&str> = keys
        .iter()
        .flat_map(|k| [k.private_pkcs1_pem.as_str(), k.private_pkcs8_pem.as_str()])
        .flat_map(|pem| pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 20))
        .collect();
    let mut problems = Vec::new();
    for line in lines {
        let what = if line.contains("PRIVATE KEY") {
            Some("a PEM header")
        } else if line.contains("eyJ") {
            Some("a JWT")
        } else if chunks.iter().any(|c| line.contains(c)) {
            Some("private key material")
        } else if extra.iter().any(|s| !s.is_empty() && line.contains(s)) {
            Some("a secret named by the test")
        } else {
            None
        };
        if let Some(what) = what {
            problems.push(format!("a log line holds {what}: {}", line.chars().take(160).collect::<String>()));
        }
    }
    problems
}

/// Panics on the first log line holding a secret.
pub fn assert_no_secrets(lines: &[String], keys: &[&TestKeyPair], extra: &[&str]) {
    if let Some(problem) = secret_problems(lines, keys, extra).into_iter().next() {
        panic!("{problem}");
    }
}

/// Panics on the first log line holding a PEM header, a JWT or a line of `keys`' private key.
pub fn assert_clean(lines: &[String], keys: &TestKeyPair) {
    assert_no_secrets(lines, &[keys], &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_of_secret_and_passes_clean_lines() {
        let keys = TestKeyPair::generate().expect("keys");
        let chunk = keys.private_pkcs8_pem.lines().nth(3).expect("a key line").to_string();
        let lines: Vec<String> = vec![
            "ok".into(),
            "-----BEGIN PRIVATE KEY-----".into(),
            "token eyJhbGciOi".into(),
            chunk,
            "00DXX!abc".into(),
        ];
        let problems = secret_problems(&lines, &[&keys], &["00DXX!"]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(secret_problems(&["contact 6f1b7c1e".to_string()], &[&keys], &[]).is_empty());
    }
}
