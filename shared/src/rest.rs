//! The Salesforce REST API client: sObject create, update and get, SOQL query (with
//! `nextRecordsUrl` paging), SOSL search and platform event publish, over the OAuth token of
//! [`crate::oauth`]. Timeouts and bounded retries with jitter on 5xx, transport errors and
//! `REQUEST_LIMIT_EXCEEDED`; one token refresh on 401; Salesforce error bodies turned into typed
//! errors that name the operation and the object.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::RestConfig;
use crate::http::{Answer, Context, Exchange, Idempotency, send_with_retries_as};
use crate::ids::PathId;
use crate::oauth::{AuthError, SalesforceAuth};
use crate::retry::{Deadline, RetryPolicy};
use crate::soql::is_valid_object_name;

#[derive(Debug, Error)]
pub enum RestError {
    #[error("{operation} {object}: Salesforce answered HTTP {status} {code}: {message}")]
    Api { operation: &'static str, object: String, status: u16, code: String, message: String },
    #[error(
        "{operation} {object}: Salesforce API limit reached (REQUEST_LIMIT_EXCEEDED) after {attempts} attempt(s): {message}"
    )]
    Limit { operation: &'static str, object: String, attempts: u32, message: String },
    #[error("{operation} {object}: {source}")]
    Auth { operation: &'static str, object: String, source: AuthError },
    #[error("{operation} {object}: {message} after {attempts} attempt(s)")]
    Transport { operation: &'static str, object: String, attempts: u32, message: String },
    #[error("{operation} {object}: deadline reached after {attempts} attempt(s){last}")]
    Deadline { operation: &'static str, object: String, attempts: u32, last: String },
    #[error("{operation} {object}: {message}")]
    Invalid { operation: &'static str, object: String, message: String },
    #[error("{operation} {object}: unexpected answer from Salesforce: {message}")]
    Decode { operation: &'static str, object: String, message: String },
}

impl RestError {
    pub fn is_retryable(&self) -> bool {
        match self {
            RestError::Limit { .. } | RestError::Transport { .. } | RestError::Deadline { .. } => true,
            RestError::Api { status, .. } => *status >= 500,
            RestError::Auth { source, .. } => source.is_retryable(),
            RestError::Invalid { .. } | RestError::Decode { .. } => false,
        }
    }

    /// The Salesforce `errorCode` (or OAuth `error`), when Salesforce answered with one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            RestError::Api { code, .. } => Some(code),
            RestError::Limit { .. } => Some("REQUEST_LIMIT_EXCEEDED"),
            RestError::Auth { source: AuthError::Refused { error, .. }, .. } => Some(error),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Api { status, .. } => Some(*status),
            RestError::Auth { source: AuthError::Refused { status, .. }, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The answer to a create or a platform event publish. `id` and `success` are required: a 2xx
/// without them is an error naming the missing field, not a record without an id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SaveResult {
    pub id: String,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// One page of a SOQL query. `done` and `records` are required: a 2xx without them is an error
/// naming the missing field, never read as "no match".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    #[serde(default)]
    pub total_size: u64,
    pub done: bool,
    pub records: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_records_url: Option<String>,
}

/// The first Salesforce error of a body: `(errorCode, message)`.
pub fn first_error(body: &str) -> (String, String) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let entry = match &value {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let text = |keys: &[&str]| keys.iter().find_map(|k| entry.get(*k).and_then(Value::as_str)).map(str::to_string);
    let code = text(&["errorCode", "error"]).unwrap_or_default();
    let message = text(&["message", "error_description"]).unwrap_or_else(|| crate::scrt::error_message(body));
    (code, message)
}

fn is_limit(answer: &Answer) -> bool {
    answer.status == 429 || (answer.status == 403 && answer.body.contains("REQUEST_LIMIT_EXCEEDED"))
}

/// The client. Build once at cold start.
#[derive(Debug)]
pub struct SalesforceRest {
    http: reqwest::Client,
    base: String,
    origin: String,
    auth: Arc<SalesforceAuth>,
    policy: RetryPolicy,
    budget: Duration,
}

impl SalesforceRest {
    pub fn new(cfg: &RestConfig, http: reqwest::Client, auth: Arc<SalesforceAuth>) -> Self {
        let origin =
            cfg.rest_base.find("/services/").map_or_else(|| cfg.rest_base.clone(), |i| cfg.rest_base[..i].to_string());
        Self { http, base: cfg.rest_base.clone(), origin, auth, policy: RetryPolicy::default(), budget: cfg.deadline }
    }

    pub fn auth(&self) -> &SalesforceAuth {
        &self.auth
    }

    /// The configured budget of one operation (`SALESFORCE_REST_DEADLINE_MS`).
    pub fn budget(&self) -> Duration {
        self.budget
    }

    fn object_checked(&self, operation: &'static str, object: &str) -> Result<(), RestError> {
        if is_valid_object_name(object) {
            Ok(())
        } else {
            Err(RestError::Invalid { operation, object: object.into(), message: "not a valid sObject API name".into() })
        }
    }

    /// The one way a record id reaches a path (issue 13 item 1): 15 or 18 letters and digits.
    fn id_checked(&self, operation: &'static str, object: &str, id: &str) -> Result<PathId, RestError> {
        PathId::record_id("record id", id).map_err(|e| RestError::Invalid {
            operation,
            object: object.into(),
            message: e.to_string(),
        })
    }

    /// POST /sobjects/{object}.
    pub async fn create(
        &self,
        object: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<SaveResult, RestError> {
        self.object_checked("create", object)?;
        let answer = self
            .send(
                "create",
                object,
                Method::POST,
                format!("{}/sobjects/{object}", self.base),
                &[],
                Some(fields),
                deadline,
            )
            .await?;
        decode("create", object, &answer.body)
    }

    /// PATCH /sobjects/{object}/{id}; Salesforce answers 204.
    pub async fn update(
        &self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<(), RestError> {
        self.object_checked("update", object)?;
        let id = self.id_checked("update", object, id)?;
        self.send(
            "update",
            object,
            Method::PATCH,
            format!("{}/sobjects/{object}/{id}", self.base),
            &[],
            Some(fields),
            deadline,
        )
        .await?;
        Ok(())
    }

    /// GET /sobjects/{object}/{id}.
    pub async fn get(&self, object: &str, id: &str, deadline: Deadline) -> Result<Value, RestError> {
        self.object_checked("get", object)?;
        let id = self.id_checked("get", object, id)?;
        let answer = self
            .send(
                "get",
                object,
                Method::GET,
                format!("{}/sobjects/{object}/{id}", self.base),
                &[],
                None::<&()>,
                deadline,
            )
            .await?;
        decode("get", object, &answer.body)
    }

    /// Publishes a platform event (POST /sobjects/{event}).
    pub async fn publish(
        &self,
        event: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> Result<SaveResult, RestError> {
        self.object_checked("publish", event)?;
        let answer = self
            .send(
                "publish",
                event,
                Method::POST,
                format!("{}/sobjects/{event}", self.base),
                &[],
                Some(fields),
                deadline,
            )
            .await?;
        decode("publish", event, &answer.body)
    }

    /// GET /query?q=… (one page).
    pub async fn query(&self, soql: &str, deadline: Deadline) -> Result<QueryPage, RestError> {
        let answer = self
            .send("query", "", Method::GET, format!("{}/query", self.base), &[("q", soql)], None::<&()>, deadline)
            .await?;
        decode("query", "", &answer.body)
    }

    /// The page behind a `nextRecordsUrl`.
    pub async fn query_more(&self, next_records_url: &str, deadline: Deadline) -> Result<QueryPage, RestError> {
        if !next_records_url.starts_with("/services/data/") || next_records_url.contains("..") {
            return Err(RestError::Invalid {
                operation: "query",
                object: String::new(),
                message: format!("unexpected nextRecordsUrl {next_records_url:?}"),
            });
        }
        let answer = self
            .send("query", "", Method::GET, format!("{}{next_records_url}", self.origin), &[], None::<&()>, deadline)
            .await?;
        decode("query", "", &answer.body)
    }

    /// Every record of a query, following `nextRecordsUrl`, up to `max_records`.
    pub async fn query_all(&self, soql: &str, max_records: usize, deadline: Deadline) -> Result<Vec<Value>, RestError> {
        let mut page = self.query(soql, deadline).await?;
        let mut records = std::mem::take(&mut page.records);
        let mut followed = Followed::default();
        while records.len() < max_records {
            match page.next_records_url.take() {
                Some(next) if !page.done => {
                    followed.first_time(&next)?;
                    page = self.query_more(&next, deadline).await?;
                    records.append(&mut page.records);
                }
                _ => break,
            }
        }
        records.truncate(max_records);
        Ok(records)
    }

    /// GET /search?q=… → `searchRecords`.
    pub async fn search(&self, sosl: &str, deadline: Deadline) -> Result<Vec<Value>, RestError> {
        let answer = self
            .send("search", "", Method::GET, format!("{}/search", self.base), &[("q", sosl)], None::<&()>, deadline)
            .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SearchAnswer {
            // Required: an answer without it is an error, not "nothing found".
            search_records: Vec<Value>,
        }
        // Older API versions answer a bare array.
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&answer.body) {
            return Ok(items);
        }
        decode::<SearchAnswer>("search", "", &answer.body).map(|a| a.search_records)
    }

    /// `POST /connect/conversations/upload`: one multipart file part per conversation (see
    /// [`crate::conversation`]). Sent again after a 5xx or a timeout: Salesforce keeps an entry
    /// uploaded twice once (docs/contact-data-sync.md#re-uploads), so a repeat adds nothing.
    pub async fn upload_conversations(
        &self,
        body: Vec<u8>,
        boundary: &str,
        deadline: Deadline,
    ) -> Result<Value, RestError> {
        let answer = self
            .send_bytes(
                "conversation upload",
                "",
                Method::POST,
                format!("{}/connect/conversations/upload", self.base),
                &[],
                Some((body, format!("multipart/form-data; boundary={boundary}"))),
                Idempotency::Idempotent,
                deadline,
            )
            .await?;
        decode("conversation upload", "", &answer.body)
    }

    /// `GET /connect/conversations/upload?uploadIds=id1,id2`.
    pub async fn conversation_upload_statuses(
        &self,
        upload_ids: &[String],
        deadline: Deadline,
    ) -> Result<Value, RestError> {
        let ids = upload_ids.join(",");
        let answer = self
            .send_bytes(
                "conversation upload status",
                "",
                Method::GET,
                format!("{}/connect/conversations/upload", self.base),
                &[("uploadIds", ids.as_str())],
                None,
                Idempotency::Idempotent,
                deadline,
            )
            .await?;
        decode("conversation upload status", "", &answer.body)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send<B: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        object: &str,
        method: Method,
        url: String,
        query: &[(&str, &str)],
        body: Option<&B>,
        deadline: Deadline,
    ) -> Result<Answer, RestError> {
        let payload = match body {
            Some(b) => Some((
                serde_json::to_vec(b).map_err(|e| RestError::Invalid {
                    operation,
                    object: object.to_string(),
                    message: e.to_string(),
                })?,
                "application/json".to_string(),
            )),
            None => None,
        };
        // POST creates a record or publishes an event: sent again only if the first never arrived.
        let idempotency = if method == Method::POST { Idempotency::NotIdempotent } else { Idempotency::Idempotent };
        self.send_bytes(operation, object, method, url, query, payload, idempotency, deadline).await
    }

    /// One request with a body of the given content type, the retries its [`Idempotency`] allows,
    /// and one token refresh on 401.
    #[allow(clippy::too_many_arguments)]
    async fn send_bytes(
        &self,
        operation: &'static str,
        object: &str,
        method: Method,
        url: String,
        query: &[(&str, &str)],
        payload: Option<(Vec<u8>, String)>,
        idempotency: Idempotency,
        deadline: Deadline,
    ) -> Result<Answer, RestError> {
        let label = object.to_string();
        let auth_error = |source: AuthError| RestError::Auth { operation, object: label.clone(), source };
        let mut token = self.auth.token(deadline).await.map_err(auth_error)?;
        let context = Context { operation, contact_id: "" };
        let mut refreshed = false;
        let mut earlier = 0;
        loop {
            let bearer = token.header_value();
            let attempt = |timeout: Duration| {
                let mut request =
                    self.http.request(method.clone(), &url).header(AUTHORIZATION, &bearer).timeout(timeout);
                if !query.is_empty() {
                    request = request.query(query);
                }
                if let Some((bytes, content_type)) = &payload {
                    request = request.header(CONTENT_TYPE, content_type.as_str()).body(bytes.clone());
                }
                request.send()
            };
            match send_with_retries_as(idempotency, &self.policy, deadline, context, attempt, |a| {
                is_limit(a) || (a.status >= 500 && idempotency == Idempotency::Idempotent)
            })
            .await
            {
                Exchange::Answered { answer, .. } if answer.is_success() => return Ok(answer),
                Exchange::Answered { answer, attempts } if answer.status == 401 && !refreshed => {
                    refreshed = true;
                    earlier += attempts;
                    tracing::info!(operation, object = %label, "Salesforce rejected the access token (401); refreshing it once");
                    token = self.auth.refresh(&token, deadline).await.map_err(auth_error)?;
                }
                Exchange::Answered { answer, attempts } => {
                    let (code, message) = first_error(&answer.body);
                    return Err(if is_limit(&answer) {
                        RestError::Limit { operation, object: label, attempts: earlier + attempts, message }
                    } else {
                        RestError::Api { operation, object: label, status: answer.status, code, message }
                    });
                }
                Exchange::Failed { error, attempts } => {
                    return Err(RestError::Transport {
                        operation,
                        object: label,
                        attempts: earlier + attempts,
                        message: error,
                    });
                }
                Exchange::OutOfTime { attempts, last } => {
                    let last = last.map(|l| format!("; last: {l}")).unwrap_or_default();
                    return Err(RestError::Deadline { operation, object: label, attempts: earlier + attempts, last });
                }
            }
        }
    }
}

/// The `nextRecordsUrl`s a query has followed: Salesforce answering one again would page forever
/// (issue 13 item 8), so paging stops with an error naming the URL.
#[derive(Debug, Default)]
struct Followed(std::collections::HashSet<String>);

impl Followed {
    fn first_time(&mut self, next_records_url: &str) -> Result<(), RestError> {
        if self.0.insert(next_records_url.to_string()) {
            Ok(())
        } else {
            Err(RestError::Decode {
                operation: "query",
                object: String::new(),
                message: format!("Salesforce repeated nextRecordsUrl {next_records_url:?}; paging stopped"),
            })
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(operation: &'static str, object: &str, body: &str) -> Result<T, RestError> {
    serde_json::from_str(body).map_err(|e| RestError::Decode {
        operation,
        object: object.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_error_bodies_are_read() {
        assert_eq!(
            first_error(r#"[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]"#),
            ("NOT_FOUND".to_string(), "The requested resource does not exist".to_string())
        );
        assert_eq!(
            first_error(r#"{"error":"invalid_grant","error_description":"audience is invalid"}"#),
            ("invalid_grant".to_string(), "audience is invalid".to_string())
        );
        assert_eq!(first_error("Bad Gateway"), (String::new(), "Bad Gateway".to_string()));
    }

    #[test]
    fn a_repeated_next_records_url_stops_paging_naming_it() {
        let mut followed = Followed::default();
        assert!(followed.first_time("/services/data/v60.0/query/01g-2000").is_ok());
        assert!(followed.first_time("/services/data/v60.0/query/01g-4000").is_ok());
        let e = followed.first_time("/services/data/v60.0/query/01g-2000").unwrap_err();
        assert!(e.to_string().contains("repeated nextRecordsUrl \"/services/data/v60.0/query/01g-2000\""), "{e}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn limits_are_recognised_by_status_or_code() {
        let answer = |status, body: &str| Answer { status, retry_after: None, body: body.into() };
        assert!(is_limit(&answer(429, "")));
        assert!(is_limit(&answer(
            403,
            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#
        )));
        assert!(!is_limit(&answer(403, r#"[{"errorCode":"INSUFFICIENT_ACCESS","message":"no"}]"#)));
    }

    #[test]
    fn error_messages_name_operation_and_object() {
        let e = RestError::Api {
            operation: "create",
            object: "Account".into(),
            status: 400,
            code: "REQUIRED_FIELD_MISSING".into(),
            message: "Required fields are missing: [Name]".into(),
        };
        assert_eq!(
            e.to_string(),
            "create Account: Salesforce answered HTTP 400 REQUIRED_FIELD_MISSING: Required fields are missing: [Name]"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.error_code(), Some("REQUIRED_FIELD_MISSING"));
    }
}
