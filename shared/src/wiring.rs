//! The two wirings of a function that reaches Salesforce (docs/migrating.md#two-wirings): directly
//! (this suite's default), or through InvokeTelephonyIntegrationApi / InvokeSalesforceRestApi
//! invoked by ARN with the official payloads (Service Cloud Voice Implementation Guide, ch. 6),
//! which is what an official stack's configuration gives a swapped-in function.
//!
//! Either way the caller gets the same typed answer and the same error type. Through a function,
//! the answer is read, not assumed: a `FunctionError`, a `{"result":"Error"}` (the official
//! sendMessage swallows its failures into that), an `errorType` / `statusCode` `429` answer (this
//! suite's limit answer) or `success: false` (InvokeSalesforceRestApi) is a failure.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::config::{ConfigError, Env, Wiring};
use crate::invoke::{FunctionClient, InvokeError};
use crate::keys::SsmClient;
use crate::rest::{RestError, SalesforceRest, SaveResult};
use crate::retry::Deadline;
use crate::scrt::{ExecuteOmniFlow, JsonObject, Operation, RoutingResponse, ScrtError, TelephonyClient};

/// The Telephony Integration API, reached directly or through InvokeTelephonyIntegrationApi.
#[derive(Debug)]
pub enum Telephony {
    Direct(TelephonyClient),
    Function(FunctionClient),
}

impl Telephony {
    /// From the environment: direct settings, else one of `variables` (see [`crate::config::invoke::telephony`]).
    pub fn from_env(
        env: &dyn Env,
        variables: &[&'static str],
        sdk: &aws_config::SdkConfig,
        ssm: SsmClient,
    ) -> Result<(Self, std::time::Duration), ConfigError> {
        Ok(match crate::config::invoke::telephony(env, variables)? {
            Wiring::Direct(cfg) => {
                let http = crate::aws::http_client();
                (Telephony::Direct(TelephonyClient::from_config(&cfg, ssm, http, env)), cfg.deadline)
            }
            Wiring::Invoke(cfg) => {
                tracing::info!(function = %cfg.function, variable = cfg.variable, "the Telephony Integration API is reached through {}", cfg.function);
                (Telephony::Function(FunctionClient::from_sdk(sdk, &cfg)), cfg.deadline)
            }
        })
    }

    /// `updateVoiceCall`: PATCH /voiceCalls/{id} with `fields`.
    pub async fn update_voice_call(
        &self,
        call_id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        match self {
            Telephony::Direct(client) => client.update_voice_call(call_id, fields, deadline).await,
            Telephony::Function(f) => {
                let params = json!({"methodName": "updateVoiceCall", "contactId": call_id, "fieldValues": fields});
                via(f, Operation::UpdateVoiceCall, call_id, params, deadline).await
            }
        }
    }

    /// `sendMessage`: one transcript message.
    pub async fn create_transcript<M: Serialize>(
        &self,
        vendor_call_key: &str,
        message: &M,
        deadline: Deadline,
    ) -> Result<JsonObject, ScrtError> {
        match self {
            Telephony::Direct(client) => client.create_transcript(vendor_call_key, message, deadline).await,
            Telephony::Function(f) => {
                let fields = serde_json::to_value(message).unwrap_or(Value::Null);
                let params = json!({"methodName": "sendMessage", "contactId": vendor_call_key, "fieldValues": fields});
                via(f, Operation::CreateTranscript, vendor_call_key, params, deadline).await
            }
        }
    }

    /// `executeOmniFlow`: the dialed number in `fieldValues`, the flow and queue as parameters,
    /// each flow input as a `flowInput-` parameter, as a flow passes them.
    pub async fn execute_omni_flow(
        &self,
        call_id: &str,
        request: &ExecuteOmniFlow,
        deadline: Deadline,
    ) -> Result<RoutingResponse, ScrtError> {
        match self {
            Telephony::Direct(client) => client.execute_omni_flow(call_id, request, deadline).await,
            Telephony::Function(f) => {
                let mut params = Map::new();
                params.insert("methodName".into(), json!("executeOmniFlow"));
                params.insert("contactId".into(), json!(call_id));
                let mut field_values = Map::new();
                if let Some(number) = &request.dialed_number {
                    field_values.insert("dialedNumber".into(), json!(number));
                }
                params.insert("fieldValues".into(), Value::Object(field_values));
                if let Some(flow) = &request.flow_dev_name {
                    params.insert("flowDevName".into(), json!(flow));
                }
                if let Some(queue) = &request.fallback_queue {
                    params.insert("fallbackQueue".into(), json!(queue));
                }
                for (key, value) in &request.flow_input_parameters {
                    params.insert(format!("flowInput-{key}"), value.clone());
                }
                via(f, Operation::ExecuteOmniFlow, call_id, Value::Object(params), deadline).await
            }
        }
    }

    /// `rerouteFlowExecution`.
    pub async fn reroute(&self, call_id: &str, deadline: Deadline) -> Result<JsonObject, ScrtError> {
        match self {
            Telephony::Direct(client) => client.reroute(call_id, deadline).await,
            Telephony::Function(f) => {
                let params = json!({"methodName": "rerouteFlowExecution", "contactId": call_id});
                via(f, Operation::Reroute, call_id, params, deadline).await
            }
        }
    }

    /// `cancelOmniFlowExecution`.
    pub async fn clear_routing(&self, call_id: &str, deadline: Deadline) -> Result<JsonObject, ScrtError> {
        match self {
            Telephony::Direct(client) => client.clear_routing(call_id, deadline).await,
            Telephony::Function(f) => {
                let params = json!({"methodName": "cancelOmniFlowExecution", "contactId": call_id});
                via(f, Operation::ClearRouting, call_id, params, deadline).await
            }
        }
    }
}

/// The payload a Connect-shaped internal call carries: `{"Details":{"Parameters":{...}}}`.
pub fn flow_payload(parameters: Value) -> Value {
    json!({"Details": {"Parameters": parameters}})
}

/// What an InvokeTelephonyIntegrationApi answer says went wrong, when it does.
pub fn telephony_answer_error(function: &str, answer: &Value) -> Option<InvokeError> {
    let text = |key: &str| match answer.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let limit = text("statusCode").as_deref() == Some("429")
        || text("errorType").as_deref() == Some(crate::error::ErrorKind::LimitExceeded.as_str());
    if limit || text("errorType").is_some() {
        let message = text("errorMessage").or_else(|| text("errorType")).unwrap_or_else(|| "statusCode 429".into());
        return Some(InvokeError::ErrorAnswer { function: function.into(), message, retryable: true, limit });
    }
    if text("result").as_deref() == Some("Error") {
        return Some(InvokeError::ErrorAnswer {
            function: function.into(),
            message: "result Error (the request failed in the invoked function)".into(),
            retryable: true,
            limit: false,
        });
    }
    None
}

async fn via<R: DeserializeOwned>(
    f: &FunctionClient,
    operation: Operation,
    contact_id: &str,
    parameters: Value,
    deadline: Deadline,
) -> Result<R, ScrtError> {
    let failed = |source: InvokeError| ScrtError::Function {
        operation,
        contact_id: contact_id.to_string(),
        source: Box::new(source),
    };
    let answer = f.invoke(&flow_payload(parameters), deadline).await.map_err(failed)?;
    if let Some(e) = telephony_answer_error(f.function(), &answer) {
        return Err(failed(e));
    }
    let answer = if answer.is_null() { Value::Object(Map::new()) } else { answer };
    serde_json::from_value(answer).map_err(|e| {
        failed(InvokeError::Decode {
            function: f.function().to_string(),
            message: format!("an answer of the wrong shape: {e}"),
        })
    })
}

/// The Salesforce REST API, reached directly or through InvokeSalesforceRestApi.
#[derive(Debug)]
pub enum Rest {
    Direct(SalesforceRest),
    Function(FunctionClient),
}

impl Rest {
    /// The longest one operation may take.
    pub fn budget(&self) -> std::time::Duration {
        match self {
            Rest::Direct(rest) => rest.budget(),
            Rest::Function(f) => f.budget(),
        }
    }

    /// Publishes a platform event. Through InvokeSalesforceRestApi only `RealtimeAlertEvent`
    /// exists (`methodName` `realtimeAlertEvent`, the fields as parameters).
    pub async fn publish(
        &self,
        event: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<SaveResult, RestError> {
        match self {
            Rest::Direct(rest) => rest.publish(event, fields, deadline).await,
            Rest::Function(f) => {
                let failed = |message: String, retryable: bool| {
                    if retryable {
                        RestError::Transport { operation: "publish", object: event.into(), attempts: 1, message }
                    } else {
                        RestError::Invalid { operation: "publish", object: event.into(), message }
                    }
                };
                if event != "RealtimeAlertEvent" {
                    return Err(failed(format!("{} publishes only RealtimeAlertEvent", f.function()), false));
                }
                let mut params = fields.clone();
                params.insert("methodName".into(), json!("realtimeAlertEvent"));
                let answer = f
                    .invoke(&flow_payload(Value::Object(params)), deadline)
                    .await
                    .map_err(|e| failed(e.to_string(), e.is_retryable()))?;
                // The official function answers `success` as a boolean, this suite's (a flat map for
                // Connect) as the string "true".
                let success = match answer.get("success") {
                    Some(Value::Bool(b)) => Some(*b),
                    Some(Value::String(s)) => s.parse::<bool>().ok(),
                    _ => None,
                };
                let id = answer.get("id").and_then(Value::as_str).filter(|id| !id.is_empty());
                match (success, id) {
                    (Some(true), Some(id)) => Ok(SaveResult {
                        id: id.to_string(),
                        success: true,
                        errors: answer.get("errors").and_then(Value::as_array).cloned().unwrap_or_default(),
                    }),
                    _ => {
                        let message = answer.get("errorMessage").and_then(Value::as_str).map_or_else(
                            || format!("{} answered without success true and an id", f.function()),
                            str::to_string,
                        );
                        Err(RestError::Decode { operation: "publish", object: event.into(), message })
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_failures() {
        let f = "itia";
        assert!(telephony_answer_error(f, &json!({"result": "Error"})).is_some_and(|e| e.is_retryable()));
        let limit =
            json!({"statusCode": "429", "errorType": "SCV_LIMITS_ERROR", "errorMessage": "SCV_LIMITS_ERROR: x"});
        assert!(telephony_answer_error(f, &limit).is_some_and(|e| e.is_limit()));
        assert!(telephony_answer_error(f, &json!({"statusCode": 429})).is_some_and(|e| e.is_limit()));
        for fine in [json!({"result": "Accepted"}), json!({"status": "pending"}), json!({}), Value::Null] {
            assert!(telephony_answer_error(f, &fine).is_none(), "{fine}");
        }
    }
}
