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
        Self::new(&ProcessEnv, SsmClient::new(&sdk), scv_shared::aws::s3_client(&sdk))
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
    #[error("retryCTRSync: {0}")]
    Query(#[from] SoqlError),
    #[error(transparent)]
    Resync(#[from] ResyncError),
}

impl RetryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RetryError::Query(_) => ErrorKind::InvalidEvent,
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
/// (with `{key}` placeholders filled from the other parameters, escaped).
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<ResyncCounts, RetryError> {
    let params = payload.pointer("/Details/Parameters").and_then(Value::as_object);
    let soql = match params.and_then(|p| p.get("soql")).and_then(Value::as_str) {
        Some(template) => Some(render(template, params.unwrap_or(&serde_json::Map::new()))?),
        None => None,
    };
    Ok(deps.resync.run(&deps.rest, soql.as_deref(), deadline).await?)
}
