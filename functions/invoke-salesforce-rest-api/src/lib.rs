//! InvokeSalesforceRestApi: called from Amazon Connect flows (docs/functions.md#invokesalesforcerestapi) to
//! create, update, query and search Salesforce records through the REST API with OAuth 2.0 JWT
//! bearer authentication.
//!
//! Beyond the official function: `{key}` query templates are filled from every flow parameter,
//! every occurrence, with values escaped as SOQL string literals; object API names are checked
//! against Salesforce's naming rules and sent as given (not case-mangled); query and search
//! failures fail the invocation instead of coming back as data; the output is a flat map of strings.

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{BackupConfig, ConfigError, Env, ProcessEnv, RestConfig};
use scv_shared::error::ErrorKind;
use scv_shared::flow::{FlowEvent, FlowOutput, contact_label};
use scv_shared::keys::SsmClient;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::{RestError, SalesforceRest};
use scv_shared::resync::{ResyncClients, ResyncError};
use scv_shared::retry::Deadline;
use scv_shared::soql::{SoqlError, is_valid_object_name, is_valid_record_id, render};
use serde_json::{Map, Value};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "invokeSfRestApi";

/// Parameters that steer the function and are never record fields.
const CONTROL_PARAMETERS: &[&str] = &["methodName", "objectApiName", "recordId"];

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub rest: SalesforceRest,
    /// The CTR resync behind `retryCTRSync`, when the backup bucket is configured.
    pub resync: Option<ResyncClients>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let cfg = RestConfig::from_env(&ProcessEnv)?;
        let sdk = scv_shared::aws::load().await;
        let deps = Self::new(&cfg, SsmClient::new(&sdk));
        let resync = match resync_from_env(&ProcessEnv, SsmClient::new(&sdk), scv_shared::aws::s3_client(&sdk))? {
            Some(resync) => {
                let custom = scv_shared::ctr::custom_fields_from_env(&ProcessEnv, &SsmClient::new(&sdk)).await?;
                Some(resync.with_custom_fields(custom))
            }
            None => None,
        };
        Ok(Self { resync, ..deps })
    }

    pub fn new(cfg: &RestConfig, ssm: SsmClient) -> Self {
        let http = scv_shared::aws::http_client();
        let auth = Arc::new(SalesforceAuth::new(cfg, ssm, http.clone()));
        Self { rest: SalesforceRest::new(cfg, http, auth), resync: None }
    }
}

/// `retryCTRSync` is served when `CTR_BACKUP_S3_BUCKET` is set. Here `PRIVATE_KEY_PARAM_NAME` is
/// the connected app's key (the official meaning), so the Telephony Integration API key must be
/// named by `SCRT_PRIVATE_KEY_PARAM_NAME`, along with `SALESFORCE_ORG_ID`, `CALL_CENTER_API_NAME`
/// and `SCRT_ENDPOINT_BASE`.
pub fn resync_from_env(
    env: &dyn Env,
    ssm: SsmClient,
    s3: scv_shared::ctr_backup::S3Client,
) -> Result<Option<ResyncClients>, ConfigError> {
    if BackupConfig::from_env_if_set(env)?.is_none() {
        return Ok(None);
    }
    scv_shared::config::telephony::specific_key_param(env)?;
    ResyncClients::from_env(env, ssm, s3, scv_shared::aws::http_client()).map(Some)
}

#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("the event is not an Amazon Connect flow event: {0}")]
    BadEvent(String),
    #[error("Details.Parameters.methodName is missing ({contact})")]
    MissingMethod { contact: String },
    /// Names the field and the contact (issue 13 item 4).
    #[error("Unsupported method: {method} (Details.Parameters.methodName, {contact})")]
    UnsupportedMethod { method: String, contact: String },
    #[error("{method} for {contact}: Details.Parameters.{parameter} is missing")]
    MissingParameter { method: String, parameter: &'static str, contact: String },
    #[error("{method} for {contact}: Details.Parameters.{parameter} is malformed: {reason}")]
    Malformed { method: String, parameter: &'static str, reason: String, contact: String },
    #[error("{method} for {contact}: Details.Parameters.soql: {source}")]
    Query { method: String, contact: String, source: SoqlError },
    #[error("{method} for {contact}: {source}")]
    Salesforce { method: String, contact: String, source: Box<RestError> },
    #[error(
        "retryCTRSync is not configured: set CTR_BACKUP_S3_BUCKET, SCRT_PRIVATE_KEY_PARAM_NAME, SALESFORCE_ORG_ID, CALL_CENTER_API_NAME and SCRT_ENDPOINT_BASE; nothing was resynced"
    )]
    ResyncNotAvailable,
    #[error("retryCTRSync: {0}")]
    Resync(#[from] ResyncError),
}

impl InvokeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InvokeError::BadEvent(_) | InvokeError::Malformed { .. } | InvokeError::Query { .. } => {
                ErrorKind::InvalidEvent
            }
            InvokeError::MissingMethod { .. } | InvokeError::MissingParameter { .. } => ErrorKind::MissingField,
            InvokeError::UnsupportedMethod { .. } => ErrorKind::UnsupportedMethod,
            InvokeError::ResyncNotAvailable => ErrorKind::NotConfigured,
            InvokeError::Salesforce { source, .. } if source.is_retryable() => ErrorKind::SalesforceUnavailable,
            InvokeError::Salesforce { .. } | InvokeError::Resync(_) => ErrorKind::SalesforceError,
        }
    }
}

scv_shared::diagnostic!(InvokeError);

/// The Lambda entry point: a span carrying `requestId` and `contactId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, InvokeError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), deps.rest.budget());
    let span = tracing::info_span!("invocation", requestId = %context.request_id, contactId = tracing::field::Empty);
    handle(payload, deadline, deps).instrument(span).await
}

/// The testable handler.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<Value, InvokeError> {
    // Connect waits 8 s: every call below, SSM included, shares one deadline within that.
    let deadline = deadline.for_flow();
    let event = FlowEvent::from_value(payload).map_err(|e| InvokeError::BadEvent(e.to_string()))?;
    let contact = contact_label(event.contact_id().as_deref());
    let Some(method) = event.parameter("methodName") else {
        return Err(match event.parameters().get("methodName").filter(|v| !v.is_null()) {
            Some(other) if !other.as_str().is_some_and(|s| s.trim().is_empty()) => InvokeError::Malformed {
                method: "the flow event".into(),
                parameter: "methodName",
                reason: format!("it is {}, expected a string", scv_shared::error::describe_json(other)),
                contact,
            },
            _ => InvokeError::MissingMethod { contact },
        });
    };
    if let Some(contact_id) = event.contact_data().and_then(|c| c.contact_id.clone()) {
        tracing::Span::current().record("contactId", contact_id.as_str());
    }
    tracing::info!(method = %method, "invoke {method}");
    let call = Call { params: event.parameters(), method: &method, contact: &contact, deadline, deps };
    let result = match method.as_str() {
        "createRecord" => call.create().await,
        "updateRecord" => call.update().await,
        "queryRecord" => call.query().await,
        "searchRecord" => call.search().await,
        "realtimeAlertEvent" => call.publish_alert().await,
        "retryCTRSync" => call.retry_ctr_sync().await,
        other => {
            tracing::warn!(method = other, "Unsupported method {other}");
            return Err(InvokeError::UnsupportedMethod { method: other.to_string(), contact: contact.clone() });
        }
    };
    match result {
        Ok(output) => {
            tracing::info!(method = %method, fields = output.len(), "{method} succeeded");
            Ok(Value::Object(output.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
        }
        Err(e) => {
            tracing::error!(method = %method, error = %e, "{method} failed");
            Err(e)
        }
    }
}

struct Call<'a> {
    params: &'a Map<String, Value>,
    method: &'a str,
    /// `contact <id>` (or that the event names none), for error messages.
    contact: &'a str,
    deadline: Deadline,
    deps: &'a Deps,
}

impl Call<'_> {
    /// A parameter as text; an object or array there is malformed, not missing.
    fn required(&self, parameter: &'static str) -> Result<String, InvokeError> {
        let value = self.params.get(parameter).unwrap_or(&Value::Null);
        if let Some(text) = scv_shared::flow::value_text(value) {
            return Ok(text);
        }
        if value.is_object() || value.is_array() {
            let reason = format!("it is {}, expected text", scv_shared::error::describe_json(value));
            return Err(self.malformed(parameter, reason));
        }
        Err(InvokeError::MissingParameter { method: self.method.into(), parameter, contact: self.contact.into() })
    }

    fn malformed(&self, parameter: &'static str, reason: String) -> InvokeError {
        InvokeError::Malformed { method: self.method.into(), parameter, reason, contact: self.contact.into() }
    }

    fn object(&self) -> Result<String, InvokeError> {
        let object = self.required("objectApiName")?;
        if is_valid_object_name(&object) {
            Ok(object)
        } else {
            Err(self.malformed("objectApiName", format!("{object:?} is not a Salesforce object API name")))
        }
    }

    fn record_id(&self) -> Result<String, InvokeError> {
        let id = self.required("recordId")?;
        if is_valid_record_id(&id) {
            Ok(id)
        } else {
            Err(self.malformed("recordId", format!("{id:?} is not a 15- or 18-character record id")))
        }
    }

    /// Every parameter but the control ones, as record fields.
    fn fields(&self, skip: &[&str]) -> Map<String, Value> {
        self.params.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn salesforce(&self, source: RestError) -> InvokeError {
        InvokeError::Salesforce { method: self.method.into(), contact: self.contact.into(), source: Box::new(source) }
    }

    async fn create(&self) -> Result<FlowOutput, InvokeError> {
        let object = self.object()?;
        let saved = self
            .deps
            .rest
            .create(&object, &self.fields(CONTROL_PARAMETERS), self.deadline)
            .await
            .map_err(|e| self.salesforce(e))?;
        Ok(FlowOutput::from([("success".into(), saved.success.to_string()), ("recordId".into(), saved.id)]))
    }

    async fn update(&self) -> Result<FlowOutput, InvokeError> {
        let object = self.object()?;
        let id = self.record_id()?;
        self.deps
            .rest
            .update(&object, &id, &self.fields(CONTROL_PARAMETERS), self.deadline)
            .await
            .map_err(|e| self.salesforce(e))?;
        Ok(FlowOutput::from([("success".into(), "true".into())]))
    }

    /// The first record, `attributes` removed, nested objects flattened to dotted keys.
    async fn query(&self) -> Result<FlowOutput, InvokeError> {
        let template = self.required("soql")?;
        let soql = render(&template, self.params).map_err(|source| InvokeError::Query {
            method: self.method.into(),
            contact: self.contact.into(),
            source,
        })?;
        tracing::debug!(soql = %soql, "query");
        let page = self.deps.rest.query(&soql, self.deadline).await.map_err(|e| self.salesforce(e))?;
        Ok(match page.records.into_iter().next() {
            Some(Value::Object(mut record)) => {
                record.remove("attributes");
                flatten(&Value::Object(record))
            }
            _ => FlowOutput::new(),
        })
    }

    /// The first search record (with its `attributes`), flattened.
    async fn search(&self) -> Result<FlowOutput, InvokeError> {
        let sosl = self.required("sosl")?;
        let chars = sosl.chars().count();
        if chars > scv_shared::soql::MAX_STATEMENT_CHARS {
            return Err(InvokeError::Malformed {
                method: self.method.into(),
                parameter: "sosl",
                reason: format!("it is {chars} characters long; a search is at most 100,000 characters"),
                contact: self.contact.into(),
            });
        }
        let records = self.deps.rest.search(&sosl, self.deadline).await.map_err(|e| self.salesforce(e))?;
        Ok(records.first().map(flatten).unwrap_or_default())
    }

    /// The documented retryCTRSync (Implementation Guide ch. 2 "Retry CTR Sync for Voice Call Records", step 6): the `soql` query
    /// (placeholders filled and escaped), backups from S3, VoiceCalls updated; counts as output.
    async fn retry_ctr_sync(&self) -> Result<FlowOutput, InvokeError> {
        let resync = self.deps.resync.as_ref().ok_or(InvokeError::ResyncNotAvailable)?;
        let template = self.required("soql")?;
        let soql = render(&template, self.params).map_err(|source| InvokeError::Query {
            method: self.method.into(),
            contact: self.contact.into(),
            source,
        })?;
        let counts = resync.run(&self.deps.rest, Some(&soql), self.deadline).await?;
        Ok(FlowOutput::from([
            ("found".into(), counts.found.to_string()),
            ("resynced".into(), counts.resynced.to_string()),
            ("noBackup".into(), counts.no_backup.to_string()),
            ("failed".into(), counts.failed.to_string()),
        ]))
    }

    /// The RealtimeAlertEvent platform event from the alert fields (docs/salesforce-rest.md#realtimealertevent).
    async fn publish_alert(&self) -> Result<FlowOutput, InvokeError> {
        let saved = self
            .deps
            .rest
            .publish("RealtimeAlertEvent", &self.fields(&["methodName"]), self.deadline)
            .await
            .map_err(|e| self.salesforce(e))?;
        Ok(FlowOutput::from([("success".into(), saved.success.to_string()), ("id".into(), saved.id)]))
    }
}

/// Nested objects and arrays become dotted keys (`Account.Name`, `Tags.0`), as the official
/// function's `flat` does; values become strings (null as the empty string).
pub fn flatten(value: &Value) -> FlowOutput {
    fn walk(prefix: &str, value: &Value, out: &mut FlowOutput) {
        let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
        match value {
            Value::Object(map) if !map.is_empty() => map.iter().for_each(|(k, v)| walk(&key(k), v, out)),
            Value::Array(items) if !items.is_empty() => {
                items.iter().enumerate().for_each(|(i, v)| walk(&key(&i.to_string()), v, out));
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Null => {
                out.insert(prefix.to_string(), String::new());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = FlowOutput::new();
    walk("", value, &mut out);
    out.remove("");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_uses_dotted_keys_and_strings() {
        let record = json!({
            "Id": "500XX0000000001", "CaseNumber": "00001026", "IsClosed": false, "Amount": 12.5, "Closed": null,
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme"}, "Tags": ["a", "b"], "Empty": {}
        });
        let out = flatten(&record);
        assert_eq!(out["Id"], "500XX0000000001");
        assert_eq!(out["IsClosed"], "false");
        assert_eq!(out["Amount"], "12.5");
        assert_eq!(out["Closed"], "");
        assert_eq!(out["Account.Name"], "Acme");
        assert_eq!(out["Account.attributes.type"], "Account");
        assert_eq!(out["Tags.1"], "b");
        assert_eq!(out["Empty"], "{}");
    }
}
