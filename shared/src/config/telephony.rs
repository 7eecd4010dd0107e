//! The Telephony Integration API (SCRT): org, call center, endpoint, key and deadline.

use std::time::Duration;

use super::{ConfigError, Env, Var, base_url, flag, key_param, keys, number, org_id, required};

pub const SALESFORCE_ORG_ID: &str = "SALESFORCE_ORG_ID";
pub const CALL_CENTER_API_NAME: &str = "CALL_CENTER_API_NAME";
pub const SCRT_ENDPOINT_BASE: &str = "SCRT_ENDPOINT_BASE";
pub const SCRT_PRIVATE_KEY_PARAM_NAME: &str = "SCRT_PRIVATE_KEY_PARAM_NAME";
pub const SCRT_DEADLINE_MS: &str = "SCRT_DEADLINE_MS";

pub const VARS: &[Var] = &[
    Var { name: SALESFORCE_ORG_ID, meaning: "Salesforce org id (00D...): the Telephony Integration API JWT iss" },
    Var { name: CALL_CENTER_API_NAME, meaning: "the contact center's API name: JWT sub and callCenterApiName" },
    Var {
        name: SCRT_ENDPOINT_BASE,
        meaning: "Telephony Integration API base URL (https://<domain>.my.salesforce-scrt.com/telephony/v1)",
    },
    Var {
        name: SCRT_PRIVATE_KEY_PARAM_NAME,
        meaning: "SSM parameter of the Telephony Integration API key when PRIVATE_KEY_PARAM_NAME names another key",
    },
    Var {
        name: SCRT_DEADLINE_MS,
        meaning: "longest one Telephony Integration API operation may take, retries included (default 6000)",
    },
];

/// Settings every function that calls the Telephony Integration API (SCRT) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrtConfig {
    /// `SALESFORCE_ORG_ID`: the JWT `iss`.
    pub org_id: String,
    /// `CALL_CENTER_API_NAME`: the JWT `sub` and the `callCenterApiName` body field.
    pub call_center_api_name: String,
    /// `SCRT_ENDPOINT_BASE`: e.g. `https://mydomain.my.salesforce-scrt.com/telephony/v1`.
    pub endpoint_base: String,
    /// `PRIVATE_KEY_PARAM_NAME`: the SSM parameter holding the PEM private key.
    pub private_key_param_name: String,
    /// `USE_SSM_LAMBDA_EXTENSION`: read the key through the Parameters and Secrets extension.
    pub use_ssm_extension: bool,
    /// `PRIVATE_KEY_CACHE_TTL_SECONDS` (default 300): how long a parsed key is reused.
    pub key_cache_ttl: Duration,
    /// `SCRT_DEADLINE_MS` (default 6000): the longest one Telephony API operation may take,
    /// retries included. Flow-facing calls are also bounded by the Lambda's own deadline.
    pub deadline: Duration,
}

impl ScrtConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            org_id: org_id(env, SALESFORCE_ORG_ID)?,
            call_center_api_name: required(env, CALL_CENTER_API_NAME)?,
            endpoint_base: base_url(env, SCRT_ENDPOINT_BASE)?,
            private_key_param_name: key_param(env, SCRT_PRIVATE_KEY_PARAM_NAME)?,
            use_ssm_extension: flag(env, keys::USE_SSM_LAMBDA_EXTENSION, false)?,
            key_cache_ttl: Duration::from_secs(number(env, keys::PRIVATE_KEY_CACHE_TTL_SECONDS, 300)?),
            deadline: Duration::from_millis(number(env, SCRT_DEADLINE_MS, 6000)?),
        })
    }
}

/// The Telephony Integration API key named by its specific variable only: a function whose
/// `PRIVATE_KEY_PARAM_NAME` is another key (the REST connected app's) needs it set.
pub fn specific_key_param(env: &dyn Env) -> Result<String, ConfigError> {
    required(env, SCRT_PRIVATE_KEY_PARAM_NAME)
}

/// `CALL_CENTER_API_NAME` alone, for a function that needs the name but not the Telephony
/// Integration API (InvokeSalesforceRestApi's `fetchOutboundPhoneNumber`).
pub fn call_center_api_name(env: &dyn Env) -> Option<String> {
    super::optional(env, CALL_CENTER_API_NAME)
}
