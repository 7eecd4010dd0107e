//! The Salesforce REST API client and its OAuth 2.0 JWT bearer flow.

use std::time::Duration;

use super::{ConfigError, Env, Var, base_url, key_param, number, required};

pub const SALESFORCE_AUTH_ENDPOINT: &str = "SALESFORCE_AUTH_ENDPOINT";
pub const SALESFORCE_REST_API_ENDPOINT_BASE: &str = "SALESFORCE_REST_API_ENDPOINT_BASE";
pub const CONSUMER_KEY_PARAM_NAME: &str = "CONSUMER_KEY_PARAM_NAME";
pub const REST_PRIVATE_KEY_PARAM_NAME: &str = "REST_PRIVATE_KEY_PARAM_NAME";
pub const ACCESS_TOKEN_PARAM_NAME: &str = "ACCESS_TOKEN_PARAM_NAME";
pub const AUDIENCE: &str = "AUDIENCE";
pub const SUBJECT: &str = "SUBJECT";
pub const SALESFORCE_REST_DEADLINE_MS: &str = "SALESFORCE_REST_DEADLINE_MS";

pub const VARS: &[Var] = &[
    Var {
        name: SALESFORCE_AUTH_ENDPOINT,
        meaning: "OAuth token URL (https://login.salesforce.com/services/oauth2/token)",
    },
    Var {
        name: SALESFORCE_REST_API_ENDPOINT_BASE,
        meaning: "REST API base URL (https://<domain>.my.salesforce.com/services/data/vNN.0)",
    },
    Var { name: CONSUMER_KEY_PARAM_NAME, meaning: "SSM parameter holding the connected app's consumer key" },
    Var {
        name: REST_PRIVATE_KEY_PARAM_NAME,
        meaning: "SSM parameter of the connected app's key when PRIVATE_KEY_PARAM_NAME names another key",
    },
    Var { name: ACCESS_TOKEN_PARAM_NAME, meaning: "SSM parameter where containers share the access token" },
    Var { name: AUDIENCE, meaning: "JWT aud, or an SSM parameter holding it" },
    Var { name: SUBJECT, meaning: "JWT sub (the Salesforce username), or an SSM parameter holding it" },
    Var {
        name: SALESFORCE_REST_DEADLINE_MS,
        meaning: "longest one REST operation may take, retries included (default 6000)",
    },
];

/// Settings of the Salesforce REST API client (OAuth 2.0 JWT bearer; Service Cloud Voice
/// Implementation Guide, ch. 6, "Set Up OAuth in the AWS Lambda Function").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// `SALESFORCE_AUTH_ENDPOINT`: the token URL, e.g. `https://login.salesforce.com/services/oauth2/token`.
    pub auth_endpoint: String,
    /// `SALESFORCE_REST_API_ENDPOINT_BASE`: e.g. `https://mydomain.my.salesforce.com/services/data/v62.0`.
    pub rest_base: String,
    /// `CONSUMER_KEY_PARAM_NAME`: SSM parameter holding the connected app's consumer key.
    pub consumer_key_param: String,
    /// `PRIVATE_KEY_PARAM_NAME`: SSM parameter holding the connected app's private key (PEM).
    pub private_key_param: String,
    /// `ACCESS_TOKEN_PARAM_NAME`: SSM parameter where the access token is shared between containers.
    pub access_token_param: String,
    /// `AUDIENCE`: an SSM parameter name whose value is the JWT `aud` (the official code), or the
    /// audience itself (what admins type); a parameter by that name wins.
    pub audience: String,
    /// `SUBJECT`: an SSM parameter name whose value is the Salesforce username (the official
    /// code), or the username itself (what the documentation tells admins to type).
    pub subject: String,
    /// `SALESFORCE_REST_DEADLINE_MS` (default 6000): longest time one REST operation may take.
    pub deadline: Duration,
}

impl RestConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            auth_endpoint: base_url(env, SALESFORCE_AUTH_ENDPOINT)?,
            rest_base: base_url(env, SALESFORCE_REST_API_ENDPOINT_BASE)?,
            consumer_key_param: required(env, CONSUMER_KEY_PARAM_NAME)?,
            private_key_param: key_param(env, REST_PRIVATE_KEY_PARAM_NAME)?,
            access_token_param: required(env, ACCESS_TOKEN_PARAM_NAME)?,
            audience: required(env, AUDIENCE)?,
            subject: required(env, SUBJECT)?,
            deadline: Duration::from_millis(number(env, SALESFORCE_REST_DEADLINE_MS, 6000)?),
        })
    }
}
