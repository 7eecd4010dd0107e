//! ContactDataSync: back-fills Contact Lens transcripts into Salesforce with the Connect REST API
//! conversation upload (Service Cloud Voice Implementation Guide, ch. 6 "ContactDataSync Lambda
//! Function" and ch. 5; docs/contact-data-sync.md). Invoked by hand (console, CLI) with the
//! documented payloads:
//!
//! - `{"operation": "uploadTranscript", "payload": [{"contactId", "relatedRecords": ["<VoiceCall id>"]}, ...]}`
//!   answers `{"conversationBulkUploadsResults": [...]}`, one result per contact in request order
//!   (`status` `SUCCESS` with its `uploadId`, or `FAILED` with the reason in `errorDetail`);
//! - `{"operation": "fetchUploadIdsStatus", "uploadIds": [...]}` answers
//!   `{"conversationBulkUploadStatuses": [...]}`.
//!
//! A request the function cannot take answers as the official one does, `{"statusCode": 400,
//! "body": "{\"error\": ...}"}`, with the official texts (a limit names its value). The work itself is
//! [`scv_shared::conversation`], shared with InvokeSalesforceRestApi.
//!
//! Beyond the official function: one contact's failure (unknown contact, no agent, no file, a
//! malformed file, a refused conversation) is reported on that contact while the others go through;
//! the file is read as UTF-8; every analysis file of the day is listed (pagination) and the day after
//! the call is looked at too; entries carry the contact's real times; Salesforce is called directly
//! (the official goes through InvokeSalesforceRestApi, whose role lacks the permission to invoke it).

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::concurrency::Aimd;
use scv_shared::config::transcripts::account_of_function_arn;
use scv_shared::config::{ConfigError, Env, ProcessEnv, RestConfig, TranscriptConfig};
use scv_shared::conversation::{self, ContactRequest, TranscriptBackfill};
use scv_shared::error::ErrorKind;
use scv_shared::ids::PathId;
use scv_shared::keys::SsmClient;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::{RestError, SalesforceRest};
use scv_shared::retry::Deadline;
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "ContactDataSync";
/// The operations, as documented.
pub const UPLOAD_TRANSCRIPT: &str = "uploadTranscript";
pub const FETCH_UPLOAD_IDS_STATUS: &str = "fetchUploadIdsStatus";
/// The longest an invocation works (the official BYOA timeout), within the Lambda's own deadline.
const INVOCATION_BUDGET: Duration = Duration::from_secs(900);

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub rest: SalesforceRest,
    pub s3: aws_sdk_s3::Client,
    pub connect: aws_sdk_connect::Client,
    pub cfg: TranscriptConfig,
    /// Upload requests in flight, adapted to Salesforce's answers (AIMD, ceiling
    /// [`conversation::UPLOAD_CONCURRENCY`]), kept for the container's life.
    pub limiter: Arc<Aimd>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        let s3 = scv_shared::aws::s3_client(&sdk);
        // AWS_ENDPOINT_URL_CONNECT (the local stack) is honoured by the SDK itself.
        let connect = aws_sdk_connect::Client::new(&sdk);
        Self::new(&ProcessEnv, SsmClient::new(&sdk), s3, connect)
    }

    pub fn new(
        env: &dyn Env,
        ssm: SsmClient,
        s3: aws_sdk_s3::Client,
        connect: aws_sdk_connect::Client,
    ) -> Result<Self, ConfigError> {
        let rest_cfg = RestConfig::from_env(env)?;
        let cfg = TranscriptConfig::from_env(env)?;
        let http = scv_shared::aws::http_client();
        let auth = std::sync::Arc::new(SalesforceAuth::new(&rest_cfg, ssm, http.clone()));
        let limiter = Arc::new(Aimd::new(conversation::UPLOAD_CONCURRENCY));
        Ok(Self { rest: SalesforceRest::new(&rest_cfg, http, auth), s3, connect, cfg, limiter })
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(
        "the analysis bucket is unknown: CONTACT_LENS_ANALYSIS_BUCKET is not set and the invoked function ARN {arn:?} names no account id"
    )]
    NoBucket { arn: String },
    #[error("fetchUploadIdsStatus: {0}")]
    Status(#[from] RestError),
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::NoBucket { .. } => ErrorKind::NotConfigured,
            SyncError::Status(e) if e.error_code() == Some("REQUEST_LIMIT_EXCEEDED") => ErrorKind::LimitExceeded,
            SyncError::Status(e) => ErrorKind::salesforce(e.is_retryable()),
        }
    }
}

scv_shared::diagnostic!(SyncError);

/// The official answer to a request it cannot take.
pub fn bad_request(error: impl Into<String>) -> Value {
    json!({"statusCode": 400, "body": json!({"error": error.into()}).to_string()})
}

/// The Lambda entry point: a span carrying `requestId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, SyncError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), INVOCATION_BUDGET);
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, &context.invoked_function_arn, deadline, deps).instrument(span).await
}

/// The testable handler. `function_arn` is the invoked function's ARN (its account names the
/// default bucket); `deadline` bounds the whole invocation.
pub async fn handle(payload: Value, function_arn: &str, deadline: Deadline, deps: &Deps) -> Result<Value, SyncError> {
    let operation = payload.get("operation").and_then(Value::as_str).unwrap_or_default();
    let budget = conversation::request_budget(deps.rest.budget(), deadline);
    match operation {
        UPLOAD_TRANSCRIPT => {
            let contacts = match contacts(&payload, deps.cfg.max_contact_ids) {
                Ok(contacts) => contacts,
                Err(answer) => return Ok(refuse(answer)),
            };
            let bucket = match (&deps.cfg.bucket, account_of_function_arn(function_arn)) {
                (Some(bucket), _) => bucket.clone(),
                (None, Some(account)) => deps.cfg.bucket_for_account(account),
                (None, None) => return Err(SyncError::NoBucket { arn: function_arn.into() }),
            };
            tracing::info!(contacts = contacts.len(), bucket = %bucket, "uploadTranscript for {} contact(s)", contacts.len());
            let backfill = TranscriptBackfill {
                s3: &deps.s3,
                connect: &deps.connect,
                rest: &deps.rest,
                bucket,
                instance_id: deps.cfg.instance_id.clone(),
                batch_size: deps.cfg.batch_size,
                limiter: &deps.limiter,
            };
            let results = backfill.upload(&contacts, budget).await;
            let uploaded = results.iter().filter(|r| r.uploaded()).count();
            let failed = results.len() - uploaded;
            if failed > 0 {
                tracing::error!(uploaded, failed, "uploadTranscript: {uploaded} uploaded, {failed} not uploaded");
            } else {
                tracing::info!(uploaded, failed, "uploadTranscript: {uploaded} uploaded");
            }
            Ok(conversation::upload_answer(&results))
        }
        FETCH_UPLOAD_IDS_STATUS => {
            let ids = match upload_ids(&payload) {
                Ok(ids) => ids,
                Err(answer) => return Ok(refuse(answer)),
            };
            let answer = conversation::fetch_statuses(&deps.rest, &ids, budget).await.inspect_err(|e| {
                tracing::error!(error = %e, "fetchUploadIdsStatus failed");
            })?;
            tracing::info!(uploadIds = ids.len(), "fetchUploadIdsStatus for {} upload id(s)", ids.len());
            Ok(answer)
        }
        _ => {
            let shown = match payload.get("operation") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "undefined".into(),
            };
            Ok(refuse(format!(
                "Unsupported operation:{shown}.Supported operations:{UPLOAD_TRANSCRIPT},{FETCH_UPLOAD_IDS_STATUS}"
            )))
        }
    }
}

fn refuse(error: String) -> Value {
    tracing::warn!(error = %error, "request refused: {error}");
    bad_request(error)
}

/// The `payload` of an uploadTranscript request; the refusal text otherwise.
fn contacts(payload: &Value, max: usize) -> Result<Vec<ContactRequest>, String> {
    let items = match payload.get("payload") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err("Malformed request missing payload or empty payload in the request.".into()),
    };
    if items.len() > max {
        return Err(format!(
            "Max supported contactIds in a request is {max} (MAX_CONTACT_IDS); this request has {}",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<ContactRequest>(item.clone()).map_err(|e| {
                format!("Malformed request: payload[{i}] must be {{\"contactId\": string, \"relatedRecords\": [string]}}: {e}")
            })
        })
        .collect()
}

/// The `uploadIds` of a fetchUploadIdsStatus request; the refusal text otherwise.
fn upload_ids(payload: &Value) -> Result<Vec<String>, String> {
    let items = match payload.get("uploadIds") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err("Malformed request missing uploadIds or empty uploadIds in the request.".into()),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = item.as_str().unwrap_or_default();
            PathId::parse("uploadIds", text)
                .map(|id| id.to_string())
                .map_err(|e| format!("Malformed request: uploadIds[{i}]: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_official_texts() {
        let e = contacts(&json!({"operation": "uploadTranscript"}), 100).unwrap_err();
        assert_eq!(e, "Malformed request missing payload or empty payload in the request.");
        let e = contacts(&json!({"payload": []}), 100).unwrap_err();
        assert_eq!(e, "Malformed request missing payload or empty payload in the request.");
        let many: Vec<Value> = (0..3).map(|i| json!({"contactId": format!("c-{i}"), "relatedRecords": []})).collect();
        let e = contacts(&json!({"payload": many}), 2).unwrap_err();
        assert!(e.starts_with("Max supported contactIds in a request is 2"), "{e}");
        let e = contacts(&json!({"payload": [{"relatedRecords": []}]}), 2).unwrap_err();
        assert!(e.contains("payload[0]") && e.contains("contactId"), "{e}");
        assert_eq!(
            upload_ids(&json!({"uploadIds": []})).unwrap_err(),
            "Malformed request missing uploadIds or empty uploadIds in the request."
        );
        assert!(upload_ids(&json!({"uploadIds": ["ok-1", "../x"]})).unwrap_err().contains("uploadIds[1]"));
        let answer = bad_request("x");
        assert_eq!(answer, json!({"statusCode": 400, "body": "{\"error\":\"x\"}"}));
    }
}
