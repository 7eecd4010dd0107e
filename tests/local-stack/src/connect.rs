//! A local Amazon Connect endpoint for the parts of the API the functions call, which moto does
//! not emulate: `DescribeContact` (`GET /contacts/{InstanceId}/{ContactId}`) and
//! `UpdateContactAttributes` (`POST /contact/attributes`), and `ListInstanceStorageConfigs`
//! (`GET /instance/{InstanceId}/storage-configs?resourceType=...`: the Kinesis streams associated
//! with an instance, seeded with [`LocalConnect::associate_stream`]), over the restJson1 wire protocol the
//! AWS SDK speaks. Point a function at it with `AWS_ENDPOINT_URL_CONNECT` (see [`LocalConnect::env`])
//! or an SDK client with `aws_sdk_connect::config::Builder::endpoint_url`.
//!
//! Contacts are seeded in the API's own shape (`Id`, `InitialContactId`, `InitiationTimestamp` as
//! epoch seconds, `AgentInfo.ConnectedToAgentTimestamp`, ...; [`epoch_seconds`] converts RFC 3339
//! times). DescribeContact of an unknown contact answers 404 `ResourceNotFoundException`, as
//! Connect does. UpdateContactAttributes is accepted for any contact (callers that only write
//! attributes need not seed one) and recorded ([`LocalConnect::updates`]); for a seeded contact the
//! attributes are also merged into what DescribeContact answers. Faults can be queued
//! ([`LocalConnect::fail_next`]); every request is recorded ([`LocalConnect::requests`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use crate::serve::{LocalServer, lock};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One request the endpoint received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectRequest {
    /// `DescribeContact` or `UpdateContactAttributes`.
    pub operation: String,
    pub instance_id: String,
    pub contact_id: String,
    /// The JSON body (Null for GET).
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

/// One accepted UpdateContactAttributes call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeUpdate {
    pub instance_id: String,
    pub initial_contact_id: String,
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone)]
struct Fault {
    status: u16,
    error_type: String,
}

#[derive(Default)]
struct Inner {
    /// (instance id, contact id) -> the `Contact` object DescribeContact answers.
    contacts: HashMap<(String, String), Value>,
    faults: VecDeque<Fault>,
    requests: Vec<ConnectRequest>,
    updates: Vec<AttributeUpdate>,
    /// (instance id, resource type) -> the stream ARNs associated.
    storage: HashMap<(String, String), Vec<String>>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running local Connect endpoint on 127.0.0.1; stops when dropped.
pub struct LocalConnect {
    server: LocalServer,
    shared: Shared,
}

impl LocalConnect {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self> {
        let shared: Shared = Arc::default();
        let app = Router::new()
            .route("/contacts/{instance_id}/{contact_id}", get(describe_contact))
            .route("/contact/attributes", post(update_contact_attributes))
            .route("/instance/{instance_id}/storage-configs", get(list_instance_storage_configs))
            .with_state(shared.clone());
        Ok(Self { server: LocalServer::start(app, "the local Connect").await?, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The environment a spawned function needs to reach this endpoint through the SDK's own
    /// settings.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("AWS_ENDPOINT_URL_CONNECT".to_string(), self.endpoint().to_string())]
    }

    /// Seeds (or replaces) a contact. `contact` is the `Contact` object in the API's shape and
    /// must carry its `Id`.
    pub fn put_contact(&self, instance_id: &str, contact: Value) -> Result<()> {
        let id = contact.get("Id").and_then(Value::as_str).ok_or_else(|| anyhow!("the contact has no Id"))?;
        lock(&self.shared).contacts.insert((instance_id.to_string(), id.to_string()), contact);
        Ok(())
    }

    /// Associates a Kinesis stream with the instance for `resource_type` (e.g.
    /// `REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS`, `CONTACT_TRACE_RECORDS`), as
    /// AssociateInstanceStorageConfig does.
    pub fn associate_stream(&self, instance_id: &str, resource_type: &str, stream_arn: &str) {
        lock(&self.shared)
            .storage
            .entry((instance_id.to_string(), resource_type.to_string()))
            .or_default()
            .push(stream_arn.to_string());
    }

    /// The contact as DescribeContact would answer it now (attributes included).
    pub fn contact(&self, instance_id: &str, contact_id: &str) -> Option<Value> {
        lock(&self.shared).contacts.get(&(instance_id.to_string(), contact_id.to_string())).cloned()
    }

    /// The next `count` requests (any operation) answer `status` with the error type `error_type`
    /// (e.g. 429 `ThrottlingException`, 500 `InternalServiceException`).
    pub fn fail_next(&self, count: u32, status: u16, error_type: &str) {
        let mut inner = lock(&self.shared);
        for _ in 0..count {
            inner.faults.push_back(Fault { status, error_type: error_type.to_string() });
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<ConnectRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Every accepted UpdateContactAttributes call, oldest first.
    pub fn updates(&self) -> Vec<AttributeUpdate> {
        lock(&self.shared).updates.clone()
    }
}

/// RFC 3339 time as the epoch seconds (with milliseconds) the Connect API uses for timestamps.
pub fn epoch_seconds(rfc3339: &str) -> Result<f64> {
    let parsed = chrono_like_parse(rfc3339).ok_or_else(|| anyhow!("{rfc3339:?} is not an RFC 3339 UTC time"))?;
    Ok(parsed as f64 / 1000.0)
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only; enough for fixtures,
/// without a date crate in this package).
fn chrono_like_parse(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + millis)
}

fn error(status: u16, error_type: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(json!({"Message": message}))).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert(HeaderName::from_static("x-amzn-errortype"), value);
    }
    response
}

fn record(inner: &mut Inner, operation: &str, instance_id: &str, contact_id: &str, body: Value, status: u16) {
    inner.requests.push(ConnectRequest {
        operation: operation.into(),
        instance_id: instance_id.into(),
        contact_id: contact_id.into(),
        body,
        status,
    });
}

async fn describe_contact(
    State(shared): State<Shared>,
    Path((instance_id, contact_id)): Path<(String, String)>,
) -> Response {
    let mut inner = lock(&shared);
    if let Some(fault) = inner.faults.pop_front() {
        record(&mut inner, "DescribeContact", &instance_id, &contact_id, Value::Null, fault.status);
        return error(fault.status, &fault.error_type, "injected fault");
    }
    match inner.contacts.get(&(instance_id.clone(), contact_id.clone())).cloned() {
        Some(contact) => {
            record(&mut inner, "DescribeContact", &instance_id, &contact_id, Value::Null, 200);
            axum::Json(json!({"Contact": contact})).into_response()
        }
        None => {
            record(&mut inner, "DescribeContact", &instance_id, &contact_id, Value::Null, 404);
            error(404, "ResourceNotFoundException", &format!("Contact not found: {contact_id}"))
        }
    }
}

/// The resource types of ListInstanceStorageConfigs (Amazon Connect API Reference, InstanceStorageResourceType).
const STORAGE_RESOURCE_TYPES: &[&str] = &[
    "CHAT_TRANSCRIPTS",
    "CALL_RECORDINGS",
    "SCHEDULED_REPORTS",
    "MEDIA_STREAMS",
    "CONTACT_TRACE_RECORDS",
    "AGENT_EVENTS",
    "REAL_TIME_CONTACT_ANALYSIS_SEGMENTS",
    "ATTACHMENTS",
    "CONTACT_EVALUATIONS",
    "SCREEN_RECORDINGS",
    "REAL_TIME_CONTACT_ANALYSIS_CHAT_SEGMENTS",
    "REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS",
    "EMAIL_MESSAGES",
];

async fn list_instance_storage_configs(
    State(shared): State<Shared>,
    Path(instance_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let resource_type = query.get("resourceType").cloned().unwrap_or_default();
    let mut inner = lock(&shared);
    if let Some(fault) = inner.faults.pop_front() {
        record(&mut inner, "ListInstanceStorageConfigs", &instance_id, "", Value::Null, fault.status);
        return error(fault.status, &fault.error_type, "injected fault");
    }
    if !STORAGE_RESOURCE_TYPES.contains(&resource_type.as_str()) {
        record(&mut inner, "ListInstanceStorageConfigs", &instance_id, "", Value::Null, 400);
        return error(400, "InvalidRequestException", &format!("resourceType {resource_type:?} is not valid"));
    }
    let streams = inner.storage.get(&(instance_id.clone(), resource_type.clone())).cloned().unwrap_or_default();
    let configs: Vec<Value> = streams
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            json!({"AssociationId": format!("{resource_type}-{i}"), "StorageType": "KINESIS_STREAM",
                "KinesisStreamConfig": {"StreamArn": arn}})
        })
        .collect();
    record(&mut inner, "ListInstanceStorageConfigs", &instance_id, "", Value::Null, 200);
    axum::Json(json!({"StorageConfigs": configs})).into_response()
}

async fn update_contact_attributes(State(shared): State<Shared>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
    let (instance_id, contact_id) = (text("InstanceId"), text("InitialContactId"));
    let mut inner = lock(&shared);
    if let Some(fault) = inner.faults.pop_front() {
        record(&mut inner, "UpdateContactAttributes", &instance_id, &contact_id, body, fault.status);
        return error(fault.status, &fault.error_type, "injected fault");
    }
    let attributes = match body.get("Attributes") {
        Some(Value::Object(map)) if map.values().all(Value::is_string) => map.clone(),
        _ => {
            record(&mut inner, "UpdateContactAttributes", &instance_id, &contact_id, body, 400);
            return error(400, "InvalidRequestException", "Attributes must be a map of strings");
        }
    };
    if instance_id.is_empty() || contact_id.is_empty() {
        record(&mut inner, "UpdateContactAttributes", &instance_id, &contact_id, body, 400);
        return error(400, "InvalidRequestException", "InstanceId and InitialContactId are required");
    }
    let key = (instance_id.clone(), contact_id.clone());
    if let Some(contact) = inner.contacts.get_mut(&key) {
        let merged = contact
            .as_object_mut()
            .map(|c| c.entry("Attributes").or_insert_with(|| Value::Object(Map::new())))
            .and_then(Value::as_object_mut);
        if let Some(merged) = merged {
            merged.extend(attributes.clone());
        }
    }
    inner.updates.push(AttributeUpdate {
        instance_id: instance_id.clone(),
        initial_contact_id: contact_id.clone(),
        attributes,
    });
    record(&mut inner, "UpdateContactAttributes", &instance_id, &contact_id, body, 200);
    axum::Json(json!({})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_of_fixture_times() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z").unwrap(), 0.0);
        assert_eq!(epoch_seconds("2022-03-31T00:03:57.439Z").unwrap(), 1_648_685_037.439);
        assert_eq!(epoch_seconds("2000-02-29T12:00:00.5Z").unwrap(), 951_825_600.5);
        assert!(epoch_seconds("2022-03-31 00:03:57").is_err());
    }

    #[tokio::test]
    async fn describes_seeded_contacts_and_merges_attributes() {
        let connect = LocalConnect::start().await.expect("start");
        connect.put_contact("i-1", json!({"Id": "c-1", "InitiationTimestamp": 1.5})).expect("seed");
        let http = reqwest::Client::new();
        let found: Value = http
            .get(format!("{}/contacts/i-1/c-1", connect.endpoint()))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(found, json!({"Contact": {"Id": "c-1", "InitiationTimestamp": 1.5}}));
        let missing = http.get(format!("{}/contacts/i-1/nope", connect.endpoint())).send().await.expect("get");
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers()["x-amzn-errortype"], "ResourceNotFoundException");

        let update = http
            .post(format!("{}/contact/attributes", connect.endpoint()))
            .json(&json!({"InstanceId": "i-1", "InitialContactId": "c-1", "Attributes": {"a": "1"}}))
            .send()
            .await
            .expect("post");
        assert_eq!(update.status(), 200);
        assert_eq!(connect.contact("i-1", "c-1").unwrap()["Attributes"], json!({"a": "1"}));
        // Unseeded contacts take attribute updates too.
        let update = http
            .post(format!("{}/contact/attributes", connect.endpoint()))
            .json(&json!({"InstanceId": "i-1", "InitialContactId": "c-2", "Attributes": {"b": "2"}}))
            .send()
            .await
            .expect("post");
        assert_eq!(update.status(), 200);
        let updates = connect.updates();
        assert_eq!(updates.len(), 2);
        assert_eq!((updates[1].instance_id.as_str(), updates[1].initial_contact_id.as_str()), ("i-1", "c-2"));
        assert_eq!(updates[1].attributes["b"], json!("2"));

        connect.fail_next(1, 429, "ThrottlingException");
        let limited = http.get(format!("{}/contacts/i-1/c-1", connect.endpoint())).send().await.expect("get");
        assert_eq!(limited.status(), 429);
        let statuses: Vec<u16> = connect.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![200, 404, 200, 200, 429]);
    }
}
