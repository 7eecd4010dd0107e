//! Inspection and control: the record of every API request, and the `/__emulator` HTTP API (no auth).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::parse_public_keys;
use crate::config::{RestConfig, RoutingConfig};
use crate::errors::ApiError;
use crate::faults::{BulkEntryFault, Fault};
use crate::server::{Shared, lock};

/// One API request as the emulator saw it. The bearer token itself is never kept, only its decoded claims.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub telephony_provider_name: Option<String>,
    pub content_type: Option<String>,
    /// Decoded (unverified) claims of the bearer token, if it had any.
    pub jwt_claims: Option<Value>,
    /// Parsed JSON body; Null when empty; a JSON string of the raw text when not JSON.
    pub body: Value,
    /// Status answered; 0 when the connection was dropped.
    pub status: u16,
    pub response: Value,
    /// True when a fault decided the answer (status, or dropped connection).
    pub faulted: bool,
    /// When the request arrived, epoch milliseconds.
    #[serde(default)]
    pub at_ms: i64,
    /// From arrival to the answer (injected delays included), milliseconds.
    #[serde(default)]
    pub latency_ms: f64,
    /// Arrival in epoch microseconds, to measure `latency_ms` (not served).
    #[serde(skip)]
    pub received_us: i64,
}

/// The body as recorded.
pub fn body_for_record(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeys {
    public_keys: Vec<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(error(ApiError::json_parser(format!("Invalid control request body: {e}")))))
}

fn error(err: ApiError) -> Response {
    (StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(err.body())).into_response()
}

fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// The control router, mounted under `/__emulator`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/health", get(|| async { ok(json!({"status": "ok"})) }))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/state", get(state))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/bulk-entry-faults", post(add_bulk_fault))
        .route("/reset", post(reset))
        .route("/scrt-public-keys", put(set_keys))
        .route("/routing", put(set_routing).get(get_routing))
        .route("/records/{object}", post(insert_record).get(list_records))
        .route("/records/{object}/{id}", get(get_record))
        .route("/expire-tokens", post(expire_tokens))
        .route("/issued-tokens", get(issued_tokens))
        .route("/rest-config", put(set_rest_config).get(get_rest_config))
        .route("/connected-app-public-keys", put(set_connected_app_keys))
        .route("/platform-events/{name}", get(platform_events))
        .route("/voice-calls/{id_or_key}/created-date", put(set_voice_call_created_date))
}

fn rest_error(err: crate::rest::RestError) -> Response {
    (StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(err.body())).into_response()
}

async fn insert_record(State(shared): State<Shared>, Path(object): Path<String>, body: Bytes) -> Response {
    let fields = match parse::<Value>(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let mut inner = lock(&shared);
    match crate::rest::insert_record(&mut inner, &object, fields) {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response(),
        Err(err) => rest_error(err),
    }
}

async fn list_records(State(shared): State<Shared>, Path(object): Path<String>) -> Response {
    ok(Value::Array(crate::rest::all_records(&lock(&shared), &object)))
}

async fn get_record(State(shared): State<Shared>, Path((object, id)): Path<(String, String)>) -> Response {
    match crate::rest::one_record(&lock(&shared), &object, &id) {
        Some(record) => ok(record),
        None => error(ApiError::not_found(format!("No {object} record with id {id}"))),
    }
}

async fn expire_tokens(State(shared): State<Shared>) -> Response {
    let mut inner = lock(&shared);
    inner.rest.sessions.expire_all();
    ok(json!({"status": "expired", "issuedTokens": inner.rest.sessions.issued()}))
}

async fn issued_tokens(State(shared): State<Shared>) -> Response {
    ok(json!({"issuedTokens": lock(&shared).rest.sessions.issued()}))
}

async fn set_rest_config(State(shared): State<Shared>, body: Bytes) -> Response {
    let config = match parse::<RestConfig>(&body) {
        Ok(config) => config,
        Err(response) => return *response,
    };
    match parse_public_keys(&config.connected_app_public_keys) {
        Ok(keys) => {
            let mut inner = lock(&shared);
            inner.rest.keys = keys;
            inner.rest.config = config;
            ok(json!({"status": "updated", "connectedAppPublicKeys": inner.rest.keys.len()}))
        }
        Err(why) => error(ApiError::invalid_input(format!("connected app {why}"))),
    }
}

async fn get_rest_config(State(shared): State<Shared>) -> Response {
    ok(serde_json::to_value(&lock(&shared).rest.config).unwrap_or(Value::Null))
}

async fn set_connected_app_keys(State(shared): State<Shared>, body: Bytes) -> Response {
    let keys = match parse::<PublicKeys>(&body) {
        Ok(keys) => keys.public_keys,
        Err(response) => return *response,
    };
    match parse_public_keys(&keys) {
        Ok(parsed) => {
            let mut inner = lock(&shared);
            inner.rest.keys = parsed;
            inner.rest.config.connected_app_public_keys = keys;
            ok(json!({"publicKeys": inner.rest.keys.len()}))
        }
        Err(why) => error(ApiError::invalid_input(format!("connected app {why}"))),
    }
}

async fn platform_events(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    let inner = lock(&shared);
    let events: Vec<Value> = inner
        .org
        .rest
        .platform_events
        .iter()
        .filter(|e| e["attributes"]["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&name)))
        .cloned()
        .collect();
    ok(Value::Array(events))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedDate {
    created_date: String,
}

async fn set_voice_call_created_date(
    State(shared): State<Shared>,
    Path(id_or_key): Path<String>,
    body: Bytes,
) -> Response {
    let text = match parse::<CreatedDate>(&body) {
        Ok(date) => date.created_date,
        Err(response) => return *response,
    };
    let Some(date) =
        crate::rest::store::parse_datetime(&text).and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
    else {
        return error(ApiError::invalid_input(format!("createdDate '{text}' is not an ISO-8601 date-time")));
    };
    if crate::rest::store::set_voice_call_created(&mut lock(&shared).org, &id_or_key, date) {
        ok(json!({"status": "updated"}))
    } else {
        error(ApiError::not_found(format!("No voice call with id or vendor call key {id_or_key}")))
    }
}

async fn requests(State(shared): State<Shared>) -> Response {
    ok(serde_json::to_value(&lock(&shared).requests).unwrap_or(Value::Null))
}

async fn clear_requests(State(shared): State<Shared>) -> Response {
    lock(&shared).requests.clear();
    ok(json!({"status": "cleared"}))
}

async fn state(State(shared): State<Shared>) -> Response {
    ok(lock(&shared).state_json())
}

async fn add_fault(State(shared): State<Shared>, body: Bytes) -> Response {
    match parse::<Fault>(&body) {
        Ok(fault) => {
            let mut inner = lock(&shared);
            inner.faults.push(fault);
            ok(json!({"pendingFaults": inner.faults.faults.len()}))
        }
        Err(response) => *response,
    }
}

async fn clear_faults(State(shared): State<Shared>) -> Response {
    lock(&shared).faults.clear();
    ok(json!({"status": "cleared"}))
}

async fn add_bulk_fault(State(shared): State<Shared>, body: Bytes) -> Response {
    match parse::<BulkEntryFault>(&body) {
        Ok(fault) => {
            let mut inner = lock(&shared);
            inner.faults.push_bulk(fault);
            ok(json!({"pendingBulkEntryFaults": inner.faults.bulk_entry_faults.len()}))
        }
        Err(response) => *response,
    }
}

async fn reset(State(shared): State<Shared>) -> Response {
    lock(&shared).reset();
    ok(json!({"status": "reset"}))
}

async fn set_keys(State(shared): State<Shared>, body: Bytes) -> Response {
    let keys = match parse::<PublicKeys>(&body) {
        Ok(keys) => keys.public_keys,
        Err(response) => return *response,
    };
    match parse_public_keys(&keys) {
        Ok(parsed) => {
            let mut inner = lock(&shared);
            inner.key_count = parsed.len();
            inner.keys = parsed;
            ok(json!({"publicKeys": inner.key_count}))
        }
        Err(why) => error(ApiError::invalid_input(why)),
    }
}

async fn set_routing(State(shared): State<Shared>, body: Bytes) -> Response {
    match parse::<RoutingConfig>(&body) {
        Ok(routing) => {
            lock(&shared).routing = routing;
            ok(json!({"status": "updated"}))
        }
        Err(response) => *response,
    }
}

async fn get_routing(State(shared): State<Shared>) -> Response {
    ok(serde_json::to_value(&lock(&shared).routing).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_recorded_as_json_null_or_text() {
        assert_eq!(body_for_record(b""), Value::Null);
        assert_eq!(body_for_record(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(body_for_record(b"a=b"), json!("a=b"));
    }
}
