//! Inspection and control: the record of every API request, and the `/__emulator` HTTP API (no auth).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::parse_public_keys;
use crate::config::RoutingConfig;
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
}

/// The body as recorded.
pub fn body_for_record(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeys {
    public_keys: Vec<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(ApiError::json_parser(format!(
            "Invalid control request body: {e}"
        ))))
    })
}

fn error(err: ApiError) -> Response {
    (
        StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(err.body()),
    )
        .into_response()
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
