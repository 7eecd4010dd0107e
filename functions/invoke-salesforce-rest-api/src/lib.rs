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
use scv_shared::conversation;
use scv_shared::error::ErrorKind;
use scv_shared::flow::{FlowEvent, FlowOutput, contact_label};
use scv_shared::keys::SsmClient;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::{RestError, SalesforceRest};
use scv_shared::resync::{ResyncClients, ResyncError};
use scv_shared::retry::Deadline;
use scv_shared::soql::{SoqlError, escape_literal, is_valid_object_name, is_valid_record_id, render};
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
    /// `CALL_CENTER_API_NAME`: the contact center `fetchOutboundPhoneNumber` looks in.
    pub call_center_api_name: Option<String>,
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
        let call_center_api_name = scv_shared::config::telephony::call_center_api_name(&ProcessEnv);
        Ok(Self { resync, call_center_api_name, ..deps })
    }

    pub fn new(cfg: &RestConfig, ssm: SsmClient) -> Self {
        let http = scv_shared::aws::http_client();
        let auth = Arc::new(SalesforceAuth::new(cfg, ssm, http.clone()));
        Self { rest: SalesforceRest::new(cfg, http, auth), resync: None, call_center_api_name: None }
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
    let customer = event.contact_data().and_then(scv_shared::flow::ContactData::customer_address);
    let call = Call { params: event.parameters(), method: &method, contact: &contact, deadline, deps };
    let flat = |output: FlowOutput| Value::Object(output.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    let result = match method.as_str() {
        "createRecord" => call.create().await.map(flat),
        "updateRecord" => call.update().await.map(flat),
        "queryRecord" => call.query().await.map(flat),
        "searchRecord" => call.search().await.map(flat),
        "realtimeAlertEvent" => call.publish_alert().await.map(flat),
        "retryCTRSync" => call.retry_ctr_sync().await.map(flat),
        "uploadTranscript" => call.upload_transcript().await,
        "fetchUploadIdsStatus" => call.fetch_upload_ids_status().await,
        "SFSPhoneCallFlowQuery" => Ok(flat(call.sfs_phone_call_flow_query(customer.as_deref()).await)),
        "fetchOutboundPhoneNumber" => Ok(flat(call.fetch_outbound_phone_number().await)),
        other => {
            tracing::warn!(method = other, "Unsupported method {other}");
            return Err(InvokeError::UnsupportedMethod { method: other.to_string(), contact: contact.clone() });
        }
    };
    match result {
        Ok(output) => {
            let fields = output.as_object().map_or(0, Map::len);
            tracing::info!(method = %method, fields, "{method} succeeded");
            Ok(output)
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

/// The official answers of the two flow look-ups.
const ANONYMOUS: &str = "ANONYMOUS";
const PHONE_NOT_FOUND: &str = "PHONE_NOT_FOUND";
const TRANSFER_CALL: &str = "TRANSFER_CALL";
const NO_ASSIGNED_RESOURCE: &str = "Assign resource not found or no phone in AssignedResource record";
/// The appointment assistant's status when the org sets none (the official default).
const DEFAULT_APPT_ASSISTANT_STATUS: &str = "En Route";

/// A caller number worth looking up: an optional `+` then 7 to 19 digits (8 to 20 characters).
/// The official check has a character-class slip that refuses `4155551234` and accepts `{1415…`
/// (docs/differences.md#sfsphonecallflowquery).
pub fn is_lookup_number(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    (8..=20).contains(&phone.len()) && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Call<'_> {
    /// `uploadTranscript`: `contactIdsPayloadMap` is `[[conversationId, ndjson], ...]` (a JSON string,
    /// as ContactDataSync sends it, or the array itself), uploaded through the shared conversation
    /// upload; answers the documented `conversationBulkUploadsResults`, one per conversation.
    async fn upload_transcript(&self) -> Result<Value, InvokeError> {
        let raw = self.params.get("contactIdsPayloadMap").cloned().unwrap_or(Value::Null);
        let pairs: Value = match raw {
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|e| self.malformed("contactIdsPayloadMap", format!("it is not JSON: {e}")))?,
            Value::Null => {
                return Err(InvokeError::MissingParameter {
                    method: self.method.into(),
                    parameter: "contactIdsPayloadMap",
                    contact: self.contact.into(),
                });
            }
            other => other,
        };
        let shape = || "expected [[conversationId, ndjson], ...]".to_string();
        let items = pairs
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| self.malformed("contactIdsPayloadMap", shape()))?;
        let mut files = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let (Some(id), Some(ndjson)) = (item.get(0).and_then(Value::as_str), item.get(1).and_then(Value::as_str))
            else {
                return Err(self.malformed("contactIdsPayloadMap", format!("item {i}: {}", shape())));
            };
            let conversation_id = scv_shared::ids::PathId::parse("conversationId", id)
                .map_err(|e| self.malformed("contactIdsPayloadMap", format!("item {i}: {e}")))?;
            files.push(conversation::ConversationFile { conversation_id, ndjson: ndjson.to_string() });
        }
        let deadline = self.deadline;
        let outcomes = conversation::upload_files(
            &self.deps.rest,
            &files,
            scv_shared::config::transcripts::MAX_BATCH_SIZE,
            // A flow's payload holds a handful of conversations: one request after the other.
            None,
            move || deadline,
        )
        .await;
        let results: Vec<Value> = outcomes
            .into_iter()
            .map(|(id, outcome, retryable)| match outcome {
                Ok(upload_id) => serde_json::json!({"conversationIdentifier": id, "errorDetail": null, "status": conversation::SUCCESS, "uploadId": upload_id}),
                Err(reason) => {
                    tracing::warn!(conversationId = %id, reason = %reason, "conversation {id} not uploaded: {reason}");
                    serde_json::json!({"conversationIdentifier": id, "errorDetail": reason, "status": conversation::FAILED, "uploadId": null, "retryable": retryable})
                }
            })
            .collect();
        Ok(serde_json::json!({"conversationBulkUploadsResults": results}))
    }

    /// `fetchUploadIdsStatus`: `uploadIds` is a comma-separated list; answers the documented
    /// `conversationBulkUploadStatuses`.
    async fn fetch_upload_ids_status(&self) -> Result<Value, InvokeError> {
        let list = self.required("uploadIds")?;
        let mut ids = Vec::new();
        for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = scv_shared::ids::PathId::parse("uploadIds", id)
                .map_err(|e| self.malformed("uploadIds", e.to_string()))?;
            ids.push(id.to_string());
        }
        if ids.is_empty() {
            return Err(self.malformed("uploadIds", "it lists no upload id".into()));
        }
        let deadline = self.deadline;
        conversation::fetch_statuses(&self.deps.rest, &ids, move || deadline).await.map_err(|e| self.salesforce(e))
    }

    /// `SFSPhoneCallFlowQuery` (Field Service appointment assistant): the phone of the resource on its
    /// way to the caller's appointment, so the flow can transfer the call. Answers as the official
    /// function: `ANONYMOUS` for a withheld or malformed number (no query), `TRANSFER_CALL` with
    /// `engPhone`, or `PHONE_NOT_FOUND` (also when Salesforce fails: the flow goes on as usual).
    async fn sfs_phone_call_flow_query(&self, caller: Option<&str>) -> FlowOutput {
        let answer = |status: &str| {
            FlowOutput::from([
                ("success".into(), "true".into()),
                ("statusCode".into(), "200".into()),
                ("status".into(), status.to_string()),
            ])
        };
        let phone = caller.map_or("anonymous", str::trim);
        if phone.eq_ignore_ascii_case("anonymous") || !is_lookup_number(phone) {
            tracing::info!(
                "SFSPhoneCallFlowQuery: the caller number is withheld or not a phone number; answering ANONYMOUS"
            );
            return answer(ANONYMOUS);
        }
        match self.assigned_resource_phone(phone).await {
            Ok(Some(eng_phone)) => {
                let mut out = answer(TRANSFER_CALL);
                out.insert("engPhone".into(), eng_phone);
                out
            }
            Ok(None) => {
                let mut out = answer(PHONE_NOT_FOUND);
                out.insert("msg".into(), NO_ASSIGNED_RESOURCE.into());
                out
            }
            Err(e) => {
                tracing::error!(error = %e, "SFSPhoneCallFlowQuery failed; answering PHONE_NOT_FOUND");
                let mut out = answer(PHONE_NOT_FOUND);
                out.insert("msg".into(), "getInfo() exception".into());
                out
            }
        }
    }

    async fn assigned_resource_phone(&self, phone: &str) -> Result<Option<String>, RestError> {
        let settings =
            self.deps.rest.query("SELECT ApptAssistantStatus FROM FieldServiceOrgSettings", self.deadline).await?;
        let status = settings
            .records
            .first()
            .and_then(|r| r.get("ApptAssistantStatus"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(DEFAULT_APPT_ASSISTANT_STATUS)
            .to_string();
        let soql = format!(
            "SELECT ServiceResource.RelatedRecord.Phone FROM AssignedResource WHERE LocationStatus in ('EnRoute','LastMile') AND ServiceAppointment.Status='{}' AND ServiceAppointment.Contact.Phone='{}' ORDER BY AssignedResourceNumber DESC LIMIT 1",
            escape_literal(&status),
            escape_literal(phone)
        );
        let page = self.deps.rest.query(&soql, self.deadline).await?;
        Ok(page
            .records
            .first()
            .and_then(|r| r.pointer("/ServiceResource/RelatedRecord/Phone"))
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
            .map(str::to_string))
    }

    /// `fetchOutboundPhoneNumber`: the number of the active voice messaging channel of this contact
    /// center routed to the agent `agentARN`. Answers `{success: "true", outboundPhoneNumber}`, or
    /// `{success: "true"}` alone when there is none or the look-up failed (logged), as the official.
    async fn fetch_outbound_phone_number(&self) -> FlowOutput {
        let mut out = FlowOutput::from([("success".into(), "true".into())]);
        let Some(agent_arn) = scv_shared::flow::value_text(self.params.get("agentARN").unwrap_or(&Value::Null)) else {
            tracing::error!("fetchOutboundPhoneNumber: Details.Parameters.agentARN is missing; no outbound number");
            return out;
        };
        let Some(call_center) = self.deps.call_center_api_name.as_deref() else {
            tracing::error!("fetchOutboundPhoneNumber: CALL_CENTER_API_NAME is not set; no outbound number");
            return out;
        };
        let soql = format!(
            "SELECT MessagingPlatformKey FROM MessagingChannel WHERE MessageType='Voice' AND IsActive = true AND Id in (SELECT ChannelId FROM ContactCenterChannel WHERE ContactCenterChannel.ContactCenter.InternalName='{}') AND SessionHandlerId in (SELECT ReferenceRecordId FROM CallCenterRoutingMap WHERE ExternalId='{}') LIMIT 1",
            escape_literal(call_center),
            escape_literal(&agent_arn)
        );
        match self.deps.rest.query(&soql, self.deadline).await {
            Ok(page) => {
                match page.records.first().and_then(|r| r.get("MessagingPlatformKey")).and_then(Value::as_str) {
                    Some(number) if !number.trim().is_empty() => {
                        out.insert("outboundPhoneNumber".into(), number.to_string());
                    }
                    _ => tracing::info!("fetchOutboundPhoneNumber: no active voice channel is routed to this agent"),
                }
            }
            Err(e) => tracing::error!(error = %e, "fetchOutboundPhoneNumber failed; no outbound number"),
        }
        out
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
