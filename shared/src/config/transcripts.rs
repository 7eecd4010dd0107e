//! The Contact Lens transcript back-fill (ContactDataSync; Service Cloud Voice Implementation Guide,
//! ch. 6 "ContactDataSync Lambda Function").

use super::connect::CONNECT_INSTANCE_ID;
use super::telephony::CALL_CENTER_API_NAME;
use super::{ConfigError, Env, Var, number, optional, required};

pub const MAX_CONTACT_IDS: &str = "MAX_CONTACT_IDS";
pub const BATCH_SIZE: &str = "BATCH_SIZE";
pub const CONTACT_LENS_ANALYSIS_BUCKET: &str = "CONTACT_LENS_ANALYSIS_BUCKET";

pub const VARS: &[Var] = &[
    Var { name: MAX_CONTACT_IDS, meaning: "most contacts one uploadTranscript request may name (default 100)" },
    Var { name: BATCH_SIZE, meaning: "conversations per Connect API upload request, 1 to 10 (default 10)" },
    Var {
        name: CONTACT_LENS_ANALYSIS_BUCKET,
        meaning: "bucket of the Contact Lens Analysis/Voice/ files (default <call center api name lower case>-<account id>)",
    },
];

/// The most conversations one upload request carries (the official function's limit).
pub const MAX_BATCH_SIZE: usize = 10;

/// Settings of the transcript back-fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptConfig {
    /// `CALL_CENTER_API_NAME`: names the default bucket.
    pub call_center_api_name: String,
    /// `CONNECT_INSTANCE_ID`: the instance DescribeContact asks.
    pub instance_id: String,
    /// `CONTACT_LENS_ANALYSIS_BUCKET`, when set.
    pub bucket: Option<String>,
    /// `MAX_CONTACT_IDS` (default 100, the guide's "up to 100 voice calls at a time").
    pub max_contact_ids: usize,
    /// `BATCH_SIZE` (default 10, at most [`MAX_BATCH_SIZE`]).
    pub batch_size: usize,
}

impl TranscriptConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let max_contact_ids = usize::try_from(number(env, MAX_CONTACT_IDS, 100)?)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ConfigError::Malformed { name: MAX_CONTACT_IDS, reason: "expected at least 1".into() })?;
        let batch_size = usize::try_from(number(env, BATCH_SIZE, MAX_BATCH_SIZE as u64)?)
            .ok()
            .filter(|n| (1..=MAX_BATCH_SIZE).contains(n))
            .ok_or_else(|| ConfigError::Malformed {
                name: BATCH_SIZE,
                reason: format!("expected 1 to {MAX_BATCH_SIZE} (conversations per upload request)"),
            })?;
        Ok(Self {
            call_center_api_name: required(env, CALL_CENTER_API_NAME)?,
            instance_id: required(env, CONNECT_INSTANCE_ID)?,
            bucket: optional(env, CONTACT_LENS_ANALYSIS_BUCKET),
            max_contact_ids,
            batch_size,
        })
    }

    /// The analysis bucket: the variable, else the official stack's name
    /// `<call center api name in lower case>-<account id>`.
    pub fn bucket_for_account(&self, account_id: &str) -> String {
        self.bucket.clone().unwrap_or_else(|| format!("{}-{account_id}", self.call_center_api_name.to_lowercase()))
    }
}

/// The account id of a Lambda function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`).
pub fn account_of_function_arn(arn: &str) -> Option<&str> {
    let mut fields = arn.split(':');
    let (arn_word, _partition, service, _region, account) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    (arn_word == "arn" && service == "lambda" && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[("CALL_CENTER_API_NAME", "ACME_CC"), ("CONNECT_INSTANCE_ID", "inst-1")];

    #[test]
    fn defaults_and_the_official_bucket_name() {
        let cfg = TranscriptConfig::from_env(&env(GOOD)).expect("valid");
        assert_eq!((cfg.max_contact_ids, cfg.batch_size, cfg.bucket.clone()), (100, 10, None));
        assert_eq!(cfg.bucket_for_account("123456789012"), "acme_cc-123456789012");
        let mut pairs = GOOD.to_vec();
        pairs.push(("CONTACT_LENS_ANALYSIS_BUCKET", "acme-recordings"));
        let cfg = TranscriptConfig::from_env(&env(&pairs)).expect("valid");
        assert_eq!(cfg.bucket_for_account("123456789012"), "acme-recordings");
    }

    #[test]
    fn batch_size_is_one_to_ten_and_limits_are_named() {
        for (name, value) in [("BATCH_SIZE", "11"), ("BATCH_SIZE", "0"), ("MAX_CONTACT_IDS", "0"), ("BATCH_SIZE", "x")]
        {
            let mut pairs = GOOD.to_vec();
            pairs.push((name, value));
            let err = TranscriptConfig::from_env(&env(&pairs)).unwrap_err();
            assert!(matches!(&err, ConfigError::Malformed { name: n, .. } if *n == name), "{err:?}");
        }
        for missing in ["CALL_CENTER_API_NAME", "CONNECT_INSTANCE_ID"] {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != missing).collect();
            assert_eq!(
                TranscriptConfig::from_env(&env(&pairs)).unwrap_err().to_string(),
                format!("environment variable {missing} is not set")
            );
        }
    }

    #[test]
    fn account_from_function_arn() {
        assert_eq!(account_of_function_arn("arn:aws:lambda:us-east-1:123456789012:function:f"), Some("123456789012"));
        assert_eq!(
            account_of_function_arn("arn:aws:lambda:us-east-1:123456789012:function:f:live"),
            Some("123456789012")
        );
        assert_eq!(account_of_function_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of_function_arn(""), None);
    }
}
