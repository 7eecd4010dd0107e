//! The CTR resync, on an EventBridge schedule (Implementation Guide ch. 2 "Retry CTR Sync for Voice Call
//! Records", step 4; docs/functions.md#ctr-resync): VoiceCalls of the look-back window without CTR data (`CustomerHoldDuration
//! = null`) are looked up in the CTRDataSync backup bucket by VendorCallKey and updated from it.
//! Also accepts the documented `retryCTRSync` event (`Details.Parameters.soql`).
//!
//! Output and log: found, resynced, noBackup, failed. A missing backup is reported, not an error
//! for the run; a failed query fails the run.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, Env, ProcessEnv, RestConfig};
use scv_shared::error::ErrorKind;
use scv_shared::keys::SsmClient;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::SalesforceRest;
use scv_shared::resync::{ResyncClients, ResyncCounts, ResyncError};
use scv_shared::retry::Deadline;
use scv_shared::soql::{SoqlError, render};
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

pub const CATEGORY: &str = "ctrSyncRetry";

#[derive(Debug)]
pub struct Deps {
    pub rest: SalesforceRest,
    pub resync: ResyncClients,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        let custom_fields = scv_shared::ctr::custom_fields_from_env(&ProcessEnv, &SsmClient::new(&sdk)).await?;
        let deps = Self::new(&ProcessEnv, SsmClient::new(&sdk), scv_shared::aws::s3_client(&sdk))?;
        Ok(Self { resync: deps.resync.with_custom_fields(custom_fields), ..deps })
    }

    pub fn new(env: &dyn Env, ssm: SsmClient, s3: scv_shared::ctr_backup::S3Client) -> Result<Self, ConfigError> {
        let http = scv_shared::aws::http_client();
        let rest_cfg = RestConfig::from_env(env)?;
        let auth = Arc::new(SalesforceAuth::new(&rest_cfg, ssm.clone(), http.clone()));
        Ok(Self {
            rest: SalesforceRest::new(&rest_cfg, http.clone(), auth),
            resync: ResyncClients::from_env(env, ssm, s3, http)?,
        })
    }
}

#[derive(Debug, Error)]
pub enum RetryError {
    /// Neither the schedule event nor the documented `retryCTRSync` shape: nothing is resynced.
    #[error(
        "not a CTR resync event: {0}; expected an EventBridge \"Scheduled Event\" (its detail-type) or {{\"Details\":{{\"Parameters\":{{\"soql\":\"SELECT ...\"}}}}}}; nothing was resynced"
    )]
    NotResyncEvent(String),
    #[error("retryCTRSync: {0}")]
    Query(#[from] SoqlError),
    #[error(transparent)]
    Resync(#[from] ResyncError),
}

impl RetryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RetryError::NotResyncEvent(_) | RetryError::Query(_) => ErrorKind::InvalidEvent,
            RetryError::Resync(_) => ErrorKind::SalesforceError,
        }
    }
}

scv_shared::diagnostic!(RetryError);

pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<ResyncCounts, RetryError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await
}

/// A scheduled event runs the window query; the documented `retryCTRSync` shape runs its `soql`
/// (with `{key}` placeholders filled from the other parameters, escaped). Anything else (`null`,
/// `[]`, `42`, `{}`, another event) fails with `InvalidEvent` before any query: a full resync is
/// never started by an event that did not ask for one.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<ResyncCounts, RetryError> {
    let soql = match resync_request(&payload)? {
        Request::Window => None,
        Request::Query { template, params } => Some(render(template, params)?),
    };
    Ok(deps.resync.run(&deps.rest, soql.as_deref(), deadline).await?)
}

/// What a resync event asks for.
#[derive(Debug, PartialEq)]
pub enum Request<'e> {
    /// The schedule: the look-back window query.
    Window,
    /// `retryCTRSync`: its `soql`, filled from the other parameters.
    Query { template: &'e str, params: &'e serde_json::Map<String, Value> },
}

/// Checks the event at the boundary: an EventBridge `Scheduled Event`, or `Details.Parameters.soql`
/// as a non-blank string (Service Cloud Voice Implementation Guide, ch. 2, "Retry CTR Sync for Voice Call Records"; docs/events.md#ctr-resync-events).
pub fn resync_request(payload: &Value) -> Result<Request<'_>, RetryError> {
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(Request::Window);
    }
    let not = |what: String| Err(RetryError::NotResyncEvent(what));
    let Some(details) = payload.get("Details") else {
        return match payload.get("detail-type") {
            Some(Value::String(kind)) => not(format!("an EventBridge {kind:?} event")),
            Some(other) => not(format!("detail-type is {}", scv_shared::kinesis::describe(other))),
            None => not(format!("the event is {}", scv_shared::kinesis::describe(payload))),
        };
    };
    let Some(params) = details.get("Parameters").and_then(Value::as_object) else {
        let got = details.get("Parameters").map_or_else(|| "missing".into(), scv_shared::kinesis::describe);
        return not(format!("Details.Parameters is {got}"));
    };
    match params.get("soql") {
        Some(Value::String(template)) if !template.trim().is_empty() => Ok(Request::Query { template, params }),
        Some(Value::String(_)) => not("Details.Parameters.soql is blank".into()),
        Some(other) => {
            not(format!("Details.Parameters.soql is {}, expected a string", scv_shared::kinesis::describe(other)))
        }
        None => not("Details.Parameters.soql is missing".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_schedule_and_the_documented_shape_are_accepted() {
        assert_eq!(
            resync_request(&json!({"detail-type": "Scheduled Event", "source": "aws.events"})).ok(),
            Some(Request::Window)
        );
        let documented =
            json!({"Details": {"Parameters": {"methodName": "retryCTRSync", "soql": "SELECT Id FROM VoiceCall"}}});
        assert!(matches!(resync_request(&documented), Ok(Request::Query { template: "SELECT Id FROM VoiceCall", .. })));
        for (event, says) in [
            (json!(null), "the event is null"),
            (json!([]), "the event is an array of 0 item(s)"),
            (json!(42), "the event is the number 42"),
            (json!({}), "the event is an empty object"),
            (json!({"detail-type": "Object Created", "source": "aws.s3"}), "an EventBridge \"Object Created\" event"),
            (json!({"Records": [{"EventSource": "aws:sns"}]}), "an object with keys Records"),
            (json!({"Details": {}}), "Details.Parameters is missing"),
            (json!({"Details": {"Parameters": {"methodName": "retryCTRSync"}}}), "Details.Parameters.soql is missing"),
            (
                json!({"Details": {"Parameters": {"soql": 12}}}),
                "Details.Parameters.soql is the number 12, expected a string",
            ),
            (json!({"Details": {"Parameters": {"soql": " "}}}), "soql is blank"),
        ] {
            let err = resync_request(&event).expect_err(says);
            assert_eq!(err.kind(), ErrorKind::InvalidEvent);
            assert!(err.to_string().contains(says), "{event}: {err}");
            assert!(err.to_string().contains("nothing was resynced"), "{err}");
        }
    }
}
