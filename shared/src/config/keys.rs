//! Where the private keys come from: SSM parameter names, the Parameters and Secrets extension,
//! the parsed-key cache.

use super::{Env, Var, optional};

pub const PRIVATE_KEY_PARAM_NAME: &str = "PRIVATE_KEY_PARAM_NAME";
pub const USE_SSM_LAMBDA_EXTENSION: &str = "USE_SSM_LAMBDA_EXTENSION";
pub const PRIVATE_KEY_CACHE_TTL_SECONDS: &str = "PRIVATE_KEY_CACHE_TTL_SECONDS";
pub const PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const SSM_KMS_KEY_ID: &str = "SSM_KMS_KEY_ID";

pub const VARS: &[Var] = &[
    Var { name: PRIVATE_KEY_PARAM_NAME, meaning: "SSM parameter holding the PEM private key (the official name)" },
    Var {
        name: USE_SSM_LAMBDA_EXTENSION,
        meaning: "read the key through the Parameters and Secrets extension (default false)",
    },
    Var { name: PRIVATE_KEY_CACHE_TTL_SECONDS, meaning: "how long a parsed key is reused (default 300)" },
    Var { name: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, meaning: "the extension's port (default 2773)" },
    Var { name: AWS_SESSION_TOKEN, meaning: "set by Lambda: the session token the extension asks for" },
    Var {
        name: SSM_KMS_KEY_ID,
        meaning: "AuthKeysSSMUtil: the KMS key its SecureStrings are written with (default: aws/ssm)",
    },
];

/// Where AuthKeysSSMUtil and `scv keys` write keys: `SSM_KMS_KEY_ID` (unset: the account's
/// `aws/ssm` key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStoreConfig {
    pub kms_key_id: Option<String>,
}

impl KeyStoreConfig {
    pub fn from_env(env: &dyn Env) -> Self {
        Self { kms_key_id: optional(env, SSM_KMS_KEY_ID) }
    }
}

/// The Parameters and Secrets Lambda extension, when `USE_SSM_LAMBDA_EXTENSION` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionConfig {
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (default 2773).
    pub port: String,
    /// `AWS_SESSION_TOKEN`, sent as `X-Aws-Parameters-Secrets-Token`.
    pub session_token: Option<String>,
}

impl ExtensionConfig {
    pub fn from_env(env: &dyn Env) -> Self {
        Self {
            port: optional(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT).unwrap_or_else(|| "2773".into()),
            session_token: optional(env, AWS_SESSION_TOKEN),
        }
    }

    /// `http://localhost:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }
}
