//! The official wiring: a function that reaches Salesforce through another function of the suite,
//! invoked by ARN, as the official functions do (Service Cloud Voice Implementation Guide, ch. 6;
//! docs/migrating.md#two-wirings). With the direct settings complete a function calls Salesforce
//! itself; with only the invoke variable it invokes the named function; with neither, cold start
//! names what is missing.

use std::time::Duration;

use super::{ConfigError, Env, RestConfig, ScrtConfig, Var, number, optional};

/// CTRDataSync's and HandleContactEvents' InvokeTelephonyIntegrationApi ARN (the official name).
pub const INVOKE_TELEPHONY_INTEGRATION_API_ARN: &str = "INVOKE_TELEPHONY_INTEGRATION_API_ARN";
/// VoiceMailPackaging's InvokeTelephonyIntegrationApi ARN (the official function spells it in lower case).
pub const INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER: &str = "invoke_telephony_integration_api_arn";
/// RealtimeAlert's InvokeSalesforceRestApi ARN (the official name).
pub const INVOKE_SALESFORCE_REST_API_ARN: &str = "INVOKE_SALESFORCE_REST_API_ARN";
/// How long one invoke may take, retries included.
pub const INVOKE_DEADLINE_MS: &str = "INVOKE_DEADLINE_MS";

pub const VARS: &[Var] = &[
    Var {
        name: INVOKE_TELEPHONY_INTEGRATION_API_ARN,
        meaning: "InvokeTelephonyIntegrationApi to invoke when the Telephony Integration API settings are not set",
    },
    Var {
        name: INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER,
        meaning: "voicemail packaging: InvokeTelephonyIntegrationApi to invoke (the official lower-case name)",
    },
    Var {
        name: INVOKE_SALESFORCE_REST_API_ARN,
        meaning: "InvokeSalesforceRestApi to invoke when the Salesforce REST settings are not set",
    },
    Var {
        name: INVOKE_DEADLINE_MS,
        meaning: "longest one invoke of another function may take, retries included (default 7000)",
    },
];

/// How a function reaches Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wiring<C> {
    /// Calls Salesforce itself with these settings.
    Direct(C),
    /// Invokes the suite's function (InvokeTelephonyIntegrationApi, InvokeSalesforceRestApi).
    Invoke(InvokeConfig),
}

/// The function to invoke and how long one invoke may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeConfig {
    /// The function's name or (alias) ARN, as the variable gives it.
    pub function: String,
    /// The variable it came from (for messages).
    pub variable: &'static str,
    /// `INVOKE_DEADLINE_MS` (default 7000).
    pub deadline: Duration,
}

impl InvokeConfig {
    /// `Some` when `variable` is set.
    pub fn from_env(env: &dyn Env, variable: &'static str) -> Result<Option<Self>, ConfigError> {
        let Some(function) = optional(env, variable) else { return Ok(None) };
        Ok(Some(Self { function, variable, deadline: Duration::from_millis(number(env, INVOKE_DEADLINE_MS, 7000)?) }))
    }
}

/// Direct when the direct settings are complete, else the invoke when its variable is set, else
/// an error naming both what the direct settings lack and the invoke variable.
fn choose<C>(
    env: &dyn Env,
    direct: Result<C, ConfigError>,
    variables: &[&'static str],
) -> Result<Wiring<C>, ConfigError> {
    let problem = match direct {
        Ok(cfg) => return Ok(Wiring::Direct(cfg)),
        Err(e) => e,
    };
    for variable in variables {
        if let Some(invoke) = InvokeConfig::from_env(env, variable)? {
            return Ok(Wiring::Invoke(invoke));
        }
    }
    Err(ConfigError::NoWiring { direct: problem.to_string(), invoke: variables.join(" or ") })
}

/// The Telephony Integration API: the direct settings ([`ScrtConfig`]) or one of `variables`
/// (`INVOKE_TELEPHONY_INTEGRATION_API_ARN`, or voicemail packaging's lower-case name).
pub fn telephony(env: &dyn Env, variables: &[&'static str]) -> Result<Wiring<ScrtConfig>, ConfigError> {
    choose(env, ScrtConfig::from_env(env), variables)
}

/// The Salesforce REST API: the direct settings ([`RestConfig`]) or `INVOKE_SALESFORCE_REST_API_ARN`.
pub fn rest(env: &dyn Env) -> Result<Wiring<RestConfig>, ConfigError> {
    choose(env, RestConfig::from_env(env), &[INVOKE_SALESFORCE_REST_API_ARN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    const DIRECT: &[(&str, &str)] = &[
        ("SALESFORCE_ORG_ID", "00DXX0000000001"),
        ("CALL_CENTER_API_NAME", "ACME_CC"),
        ("SCRT_ENDPOINT_BASE", "https://acme.my.salesforce-scrt.com/telephony/v1"),
        ("PRIVATE_KEY_PARAM_NAME", "ACME_CC-scrt-jwt-auth-private-key"),
    ];
    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ACME_CC-InvokeTelephonyIntegrationApi:active";

    #[test]
    fn direct_settings_win_then_the_invoke_variable() {
        let mut both = DIRECT.to_vec();
        both.push((INVOKE_TELEPHONY_INTEGRATION_API_ARN, ARN));
        assert!(matches!(telephony(&env(&both), &[INVOKE_TELEPHONY_INTEGRATION_API_ARN]), Ok(Wiring::Direct(_))));
        let official = [(INVOKE_TELEPHONY_INTEGRATION_API_ARN, ARN), ("LOG_LEVEL", "info")];
        let wiring = telephony(&env(&official), &[INVOKE_TELEPHONY_INTEGRATION_API_ARN]).expect("invoke");
        assert_eq!(
            wiring,
            Wiring::Invoke(InvokeConfig {
                function: ARN.into(),
                variable: INVOKE_TELEPHONY_INTEGRATION_API_ARN,
                deadline: Duration::from_millis(7000)
            })
        );
        let lower = [(INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER, ARN)];
        let names = [INVOKE_TELEPHONY_INTEGRATION_API_ARN, INVOKE_TELEPHONY_INTEGRATION_API_ARN_LOWER];
        assert!(matches!(telephony(&env(&lower), &names), Ok(Wiring::Invoke(c)) if c.variable == names[1]));
    }

    #[test]
    fn neither_names_what_is_missing() {
        let partial: Vec<_> = DIRECT.iter().copied().filter(|(k, _)| *k != "SCRT_ENDPOINT_BASE").collect();
        let err = telephony(&env(&partial), &[INVOKE_TELEPHONY_INTEGRATION_API_ARN]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SCRT_ENDPOINT_BASE") && text.contains(INVOKE_TELEPHONY_INTEGRATION_API_ARN), "{text}");
        let err = rest(&env(&[])).unwrap_err().to_string();
        assert!(err.contains("SALESFORCE_AUTH_ENDPOINT") && err.contains(INVOKE_SALESFORCE_REST_API_ARN), "{err}");
        let bad = [(INVOKE_SALESFORCE_REST_API_ARN, "x"), (INVOKE_DEADLINE_MS, "soon")];
        assert!(rest(&env(&bad)).unwrap_err().to_string().contains(INVOKE_DEADLINE_MS));
    }
}
