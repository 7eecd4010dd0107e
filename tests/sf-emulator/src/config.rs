//! Configuration of an emulated org: who may call it (JWT issuer, subject, public keys) and how the
//! emulated Omni-Channel routing answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the emulator needs to know about the org it pretends to be.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The Salesforce org id; expected as the JWT `iss` claim ("Telephony Integration REST API Authorization").
    pub org_id: String,
    /// The call center API name; expected as the JWT `sub` claim and as `callCenterApiName` in bodies.
    pub call_center_api_name: String,
    /// PEM public keys (`PUBLIC KEY` SPKI or `RSA PUBLIC KEY` PKCS#1). A JWT verifying with any one is accepted.
    pub scrt_public_keys: Vec<String>,
    /// What the emulated Omni-Channel flows answer.
    pub routing: RoutingConfig,
    /// The Salesforce REST side (`/services/oauth2/token`, `/services/data/vNN.N/...`).
    pub rest: RestConfig,
}

impl EmulatorConfig {
    /// A configuration with no public key (every call is then refused until a key is set) and no routing.
    pub fn new(org_id: impl Into<String>, call_center_api_name: impl Into<String>) -> Self {
        EmulatorConfig {
            org_id: org_id.into(),
            call_center_api_name: call_center_api_name.into(),
            scrt_public_keys: Vec::new(),
            routing: RoutingConfig::default(),
            rest: RestConfig::default(),
        }
    }

    /// Adds a PEM public key (builder style).
    pub fn with_public_key(mut self, pem: impl Into<String>) -> Self {
        self.scrt_public_keys.push(pem.into());
        self
    }

    /// Replaces the routing configuration (builder style).
    pub fn with_routing(mut self, routing: RoutingConfig) -> Self {
        self.routing = routing;
        self
    }
}

/// The connected app and REST API settings of the org (OAuth 2.0 JWT bearer flow, query paging).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RestConfig {
    /// The connected app's consumer key: the expected JWT `iss`.
    pub consumer_key: String,
    /// PEM public keys of the connected app certificate ("Use digital signatures"); an assertion verifying
    /// with any one is accepted.
    pub connected_app_public_keys: Vec<String>,
    /// Accepted `aud` values. The emulator's own base URL (with or without a trailing slash) is always
    /// accepted in addition.
    pub audiences: Vec<String>,
    /// Pre-authorised users ("Admin approved users are pre-authorized"): accepted JWT `sub` values.
    pub usernames: Vec<String>,
    /// Access token lifetime (the org's session timeout), in seconds.
    pub token_lifetime_secs: u64,
    /// Records per query page before `nextRecordsUrl` (Salesforce's default batch size is 2000).
    pub query_batch_size: usize,
}

/// Default consumer key of the emulated connected app.
pub const DEFAULT_CONSUMER_KEY: &str = "3MVG9-emulator-consumer-key";
/// Default pre-authorised user.
pub const DEFAULT_USERNAME: &str = "integration@acme.example";

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            consumer_key: DEFAULT_CONSUMER_KEY.to_owned(),
            connected_app_public_keys: Vec::new(),
            audiences: [
                "https://login.salesforce.com",
                "https://login.salesforce.com/",
                "https://test.salesforce.com",
                "https://test.salesforce.com/",
            ]
            .map(str::to_owned)
            .to_vec(),
            usernames: vec![DEFAULT_USERNAME.to_owned()],
            token_lifetime_secs: 7200,
            query_batch_size: 2000,
        }
    }
}

impl RestConfig {
    /// Adds a connected app public key (builder style).
    pub fn with_public_key(mut self, pem: impl Into<String>) -> Self {
        self.connected_app_public_keys.push(pem.into());
        self
    }
}

/// The routing answers of "Execute an Omni-Channel Flow".
///
/// Documented precedence: the phone channel that matches the dialed number first (`by_dialed_number`),
/// then the `flowDevName` given in the request (`by_flow`), then the request's `fallbackQueue`.
#[derive(Serialize, Deserialize, Clone, Default, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoutingConfig {
    /// Phone channel configured for a dialed number (takes precedence, as documented).
    #[serde(default)]
    pub by_dialed_number: BTreeMap<String, RoutingAnswer>,
    /// Omni-Channel flow developer name -> what that flow routes to.
    #[serde(default)]
    pub by_flow: BTreeMap<String, RoutingAnswer>,
}

impl RoutingConfig {
    /// Adds a phone channel answer for a dialed number (builder style).
    pub fn dialed_number(mut self, number: impl Into<String>, answer: RoutingAnswer) -> Self {
        self.by_dialed_number.insert(number.into(), answer);
        self
    }

    /// Adds an answer for a flow developer name (builder style).
    pub fn flow(mut self, flow_dev_name: impl Into<String>, answer: RoutingAnswer) -> Self {
        self.by_flow.insert(flow_dev_name.into(), answer);
        self
    }
}

/// The `agent` / `queue` external ids an Omni-Channel flow answers (`CallCenterRoutingMap.ExternalId`).
#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
pub struct RoutingAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl RoutingAnswer {
    /// Routes to a queue.
    pub fn queue(queue: impl Into<String>) -> Self {
        RoutingAnswer { agent: None, queue: Some(queue.into()) }
    }

    /// Routes to an agent.
    pub fn agent(agent: impl Into<String>) -> Self {
        RoutingAnswer { agent: Some(agent.into()), queue: None }
    }

    /// True when the answer routes nowhere.
    pub fn is_empty(&self) -> bool {
        self.agent.is_none() && self.queue.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_config_round_trips_in_camel_case() {
        let routing = RoutingConfig::default()
            .dialed_number("+15550100", RoutingAnswer::queue("Q1"))
            .flow("Route_VoiceCall", RoutingAnswer::agent("A1"));
        let json = serde_json::to_value(&routing).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "byDialedNumber": {"+15550100": {"queue": "Q1"}},
                "byFlow": {"Route_VoiceCall": {"agent": "A1"}}
            })
        );
        let back: RoutingConfig = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, routing);
        let empty: RoutingConfig = serde_json::from_str("{}").expect("empty object");
        assert_eq!(empty, RoutingConfig::default());
    }

    #[test]
    fn rest_config_defaults_and_camel_case() {
        let config = EmulatorConfig::new("00D", "CC");
        assert_eq!(config.rest.consumer_key, DEFAULT_CONSUMER_KEY);
        assert_eq!(config.rest.token_lifetime_secs, 7200);
        assert_eq!(config.rest.query_batch_size, 2000);
        let parsed: RestConfig =
            serde_json::from_str(r#"{"queryBatchSize": 2, "usernames": ["a@b.c"]}"#).expect("json");
        assert_eq!(parsed.query_batch_size, 2);
        assert_eq!(parsed.usernames, vec!["a@b.c".to_owned()]);
        assert_eq!(parsed.consumer_key, DEFAULT_CONSUMER_KEY);
        let json = serde_json::to_value(RestConfig::default()).expect("ser");
        assert!(json.get("connectedAppPublicKeys").is_some());
    }
}
