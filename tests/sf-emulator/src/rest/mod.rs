//! The Salesforce REST side: `POST /services/oauth2/token` (JWT bearer flow) and
//! `/services/data/vNN.N/...` (sObjects, platform event publish, SOQL query with paging, SOSL search),
//! over the same org state as the Telephony Integration API.
//!
//! Errors use Salesforce's REST shape `[{"message": ..., "errorCode": ..., "fields"?: [...]}]`; the token
//! endpoint answers OAuth errors `{"error": ..., "error_description": ...}`.
//!
//! VoiceCall records are a read-only projection of the Telephony API's records: `POST
//! /sobjects/VoiceCall` answers 400 `INVALID_OPERATION` (calls are created through `/telephony/v1`), and
//! `PATCH /sobjects/VoiceCall/{id}` only accepts custom `__c` fields (kept as the call's `callAttributes`).
//!
//! The Connect REST API conversation upload (`/connect/conversations/upload`, POST and GET) and entries
//! (`GET /connect/conversation/{id}/entries`) are in [`conversations`].

pub mod conversations;
pub mod oauth;
pub mod query;
pub mod store;

use std::collections::HashMap;

use axum::http::header;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value, json};

use crate::config::RestConfig;
use crate::schema::{self, ObjectKind};
use crate::server::Inner;
use oauth::{Issuer, OAuthError, Sessions};

/// API version used by the emulator's own URLs (`Emulator::rest_base`).
pub const DEFAULT_VERSION: &str = "62.0";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/services/oauth2/token";
/// Prefix of the REST API.
pub const DATA_PATH: &str = "/services/data";
/// Placeholder of redacted secrets in request records.
pub const REDACTED: &str = "[REDACTED]";

/// A REST error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Option<Vec<String>>,
    pub allow: Option<&'static str>,
}

impl RestError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        RestError { status, code: code.to_owned(), message: message.into(), fields: None, allow: None }
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = Some(fields);
        self
    }

    /// `[{"message": ..., "errorCode": ...}]`.
    pub fn body(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("message".into(), json!(self.message));
        entry.insert("errorCode".into(), json!(self.code));
        if let Some(fields) = &self.fields {
            entry.insert("fields".into(), json!(fields));
        }
        Value::Array(vec![Value::Object(entry)])
    }

    fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    fn invalid_session() -> Self {
        Self::new(401, "INVALID_SESSION_ID", "Session expired or invalid")
    }

    fn method(method: &str, allow: &'static str) -> Self {
        RestError {
            allow: Some(allow),
            ..Self::new(405, "METHOD_NOT_ALLOWED", format!("HTTP Method '{method}' not allowed. Allowed are {allow}"))
        }
    }

    /// The answer of an injected fault status on a REST path: 429 and 403 are the org's API request
    /// limit (`REQUEST_LIMIT_EXCEEDED`), 401 an invalid session.
    pub fn injected(status: u16) -> Self {
        let (code, message) = match status {
            429 | 403 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded. (injected by the emulator)"),
            401 => ("INVALID_SESSION_ID", "Session expired or invalid (injected by the emulator)"),
            404 => ("NOT_FOUND", "The requested resource does not exist (injected by the emulator)"),
            503 => ("SERVER_UNAVAILABLE", "Service unavailable (injected by the emulator)"),
            500..=599 => ("UNKNOWN_EXCEPTION", "An unexpected error occurred (injected by the emulator)"),
            400 => ("INVALID_INPUT", "Invalid input (injected by the emulator)"),
            _ => ("INJECTED_FAULT", "Fault injected by the emulator"),
        };
        Self::new(status, code, message)
    }
}

/// The answer of an injected fault status on the token endpoint (OAuth shape).
pub fn injected_oauth(status: u16) -> Value {
    let error = match status {
        400 => "invalid_grant",
        401 => "invalid_client",
        429 | 403 => "rate_limit_exceeded",
        503 => "temporarily_unavailable",
        500..=599 => "server_error",
        _ => "injected_fault",
    };
    json!({"error": error, "error_description": format!("{error} (injected by the emulator)")})
}

/// A server-side query cursor (`nextRecordsUrl`).
struct Cursor {
    records: Vec<Value>,
}

/// REST runtime state (not org data): configuration, connected app keys, sessions, query cursors.
pub struct RestState {
    pub config: RestConfig,
    pub keys: Vec<DecodingKey>,
    pub sessions: Sessions,
    cursors: HashMap<String, Cursor>,
    next_cursor: u64,
    signing_key: [u8; 32],
}

impl Default for RestState {
    fn default() -> Self {
        let mut signing_key = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut signing_key).is_err() {
            signing_key.copy_from_slice(&uuid::Uuid::new_v4().as_bytes().repeat(2));
        }
        RestState {
            config: RestConfig::default(),
            keys: Vec::new(),
            sessions: Sessions::default(),
            cursors: HashMap::new(),
            next_cursor: 0,
            signing_key,
        }
    }
}

impl RestState {
    /// Forgets query cursors (on reset).
    pub fn clear_cursors(&mut self) {
        self.cursors.clear();
    }

    /// The inspection view: counts only, never tokens.
    pub fn state_json(&self) -> Value {
        json!({
            "consumerKey": self.config.consumer_key,
            "connectedAppPublicKeys": self.keys.len(),
            "audiences": self.config.audiences,
            "usernames": self.config.usernames,
            "tokenLifetimeSecs": self.config.token_lifetime_secs,
            "queryBatchSize": self.config.query_batch_size,
            "issuedTokens": self.sessions.issued(),
            "openQueryCursors": self.cursors.len(),
        })
    }
}

/// One REST request.
pub struct RestRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the server answers and records.
pub struct RestAnswer {
    pub status: u16,
    /// None: empty body (204).
    pub body: Option<Value>,
    pub headers: Vec<(header::HeaderName, String)>,
    /// Replaces the recorded request body (secrets redacted).
    pub recorded_body: Option<Value>,
    /// Replaces the recorded query string (secrets redacted).
    pub recorded_query: Option<Option<String>>,
    /// Claims of the OAuth assertion, for the record.
    pub claims: Option<Value>,
    /// Replaces the recorded response (secrets redacted).
    pub recorded_response: Option<Value>,
}

impl RestAnswer {
    fn json(status: u16, body: Value) -> Self {
        RestAnswer {
            status,
            body: Some(body),
            headers: Vec::new(),
            recorded_body: None,
            recorded_query: None,
            claims: None,
            recorded_response: None,
        }
    }

    fn empty() -> Self {
        RestAnswer { body: None, ..Self::json(204, Value::Null) }
    }

    fn error(err: RestError) -> Self {
        let mut answer = Self::json(err.status, err.body());
        if let Some(allow) = err.allow {
            answer.headers.push((header::ALLOW, allow.to_owned()));
        }
        answer
    }
}

/// Answers a request under `/services/`.
pub fn handle(inner: &mut Inner, req: &RestRequest<'_>) -> RestAnswer {
    if req.path == TOKEN_PATH || req.path == "/services/oauth2/token/" {
        return token(inner, req);
    }
    match data(inner, req) {
        Ok(answer) => answer,
        Err(err) => RestAnswer::error(err),
    }
}

fn redact_form(pairs: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for (key, value) in pairs {
        let value = if key == "assertion" || key.contains("secret") || key == "password" {
            json!(REDACTED)
        } else {
            json!(value)
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn token(inner: &mut Inner, req: &RestRequest<'_>) -> RestAnswer {
    let body_text = String::from_utf8_lossy(req.body).into_owned();
    let mut pairs = oauth::parse_form(&body_text);
    if let Some(query) = req.query {
        pairs.extend(oauth::parse_form(query));
    }
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let assertion = param("assertion");
    let claims = assertion.as_deref().and_then(oauth::assertion_claims);
    let mut answer = match token_answer(inner, req, param("grant_type"), assertion.as_deref()) {
        Ok(body) => {
            let mut recorded = body.clone();
            recorded["access_token"] = json!(REDACTED);
            recorded["signature"] = json!(REDACTED);
            let mut answer = RestAnswer::json(200, body);
            answer.recorded_response = Some(recorded);
            answer
        }
        Err(err) => RestAnswer::json(err.status, err.body()),
    };
    answer.headers.push((header::CACHE_CONTROL, "no-store".into()));
    answer.recorded_body = Some(if pairs.is_empty() { Value::Null } else { redact_form(&pairs) });
    answer.recorded_query = Some(req.query.map(|q| {
        let pairs = oauth::parse_form(q);
        redact_form(&pairs).to_string()
    }));
    answer.claims = claims;
    answer
}

fn token_answer(
    inner: &mut Inner,
    req: &RestRequest<'_>,
    grant_type: Option<String>,
    assertion: Option<&str>,
) -> Result<Value, OAuthError> {
    if req.method != "POST" {
        return Err(OAuthError::new(
            "invalid_request",
            "must use HTTP POST",
            format!("{} is not allowed on the token endpoint", req.method),
        ));
    }
    if !req.body.is_empty() {
        let form = req
            .content_type
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return Err(OAuthError::new(
                "invalid_request",
                "invalid request",
                format!(
                    "Content-Type must be application/x-www-form-urlencoded but was '{}'",
                    req.content_type.unwrap_or("<missing>")
                ),
            ));
        }
    }
    match grant_type.as_deref() {
        Some(oauth::JWT_BEARER) => {}
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
                format!(
                    "grant_type '{}' is not supported: only {} is",
                    other.unwrap_or("<missing>"),
                    oauth::JWT_BEARER
                ),
            ));
        }
    }
    let Some(assertion) = assertion.filter(|a| !a.is_empty()) else {
        return Err(OAuthError::new("invalid_grant", "invalid assertion", "the assertion parameter is missing"));
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let issuer = Issuer {
        config: &inner.rest.config,
        keys: &inner.rest.keys,
        org_id: &inner.org_id,
        base_url: &inner.base_url,
        now_ms,
    };
    let username = oauth::verify_assertion(assertion, &issuer)?;
    let user_id = store::ensure_user(&mut inner.org, &username);
    let issuer = Issuer {
        config: &inner.rest.config,
        keys: &inner.rest.keys,
        org_id: &inner.org_id,
        base_url: &inner.base_url,
        now_ms,
    };
    let key = inner.rest.signing_key;
    Ok(oauth::issue(&mut inner.rest.sessions, &issuer, username, &user_id, &key))
}

/// Parses `vNN.N` (NN >= 20).
fn version(segment: &str) -> Option<String> {
    let rest = segment.strip_prefix('v')?;
    let (major, minor) = rest.split_once('.')?;
    let major_ok =
        !major.is_empty() && major.chars().all(|c| c.is_ascii_digit()) && major.parse::<u32>().is_ok_and(|m| m >= 20);
    let minor_ok = minor.len() == 1 && minor.chars().all(|c| c.is_ascii_digit());
    (major_ok && minor_ok).then(|| rest.to_owned())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    oauth::parse_form(query?).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn parse_object_body(req: &RestRequest<'_>) -> Result<Map<String, Value>, RestError> {
    if let Some(ct) = req.content_type {
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(RestError::new(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                format!("Content type '{mime}' not supported: use application/json"),
            ));
        }
    }
    let value: Value = serde_json::from_slice(req.body)
        .map_err(|e| RestError::new(400, "JSON_PARSER_ERROR", format!("The request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RestError::new(
            400,
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of SObject from {} token: the body must be a JSON object",
                if other.is_array() { "START_ARRAY" } else { "VALUE" }
            ),
        )),
    }
}

fn data(inner: &mut Inner, req: &RestRequest<'_>) -> Result<RestAnswer, RestError> {
    let rest = req.path.strip_prefix(DATA_PATH).ok_or_else(|| {
        RestError::new(404, "NOT_FOUND", format!("The requested resource does not exist: {}", req.path))
    })?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let no_resource =
        || RestError::new(404, "NOT_FOUND", format!("The requested resource does not exist: {}", req.path));
    // Only versioned resources (vNN.N with NN >= 20) exist; `/services/data` itself is not served.
    let version = segments.first().and_then(|s| version(s)).ok_or_else(no_resource)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let username = crate::auth::bearer_token(req.authorization)
        .ok()
        .and_then(|token| inner.rest.sessions.check(token, now_ms))
        .map(|s| s.username.clone())
        .ok_or_else(RestError::invalid_session)?;
    let user_id = store::ensure_user(&mut inner.org, &username);
    let base = format!("{DATA_PATH}/v{version}");
    match segments[1..] {
        [] => only(req, "GET").map(|_| {
            RestAnswer::json(
                200,
                json!({
                    "sobjects": format!("{base}/sobjects"),
                    "query": format!("{base}/query"),
                    "search": format!("{base}/search"),
                }),
            )
        }),
        ["sobjects"] => only(req, "GET").map(|_| {
            let sobjects: Vec<Value> = schema::STANDARD_OBJECTS
                .iter()
                .filter_map(|name| schema::object(name))
                .map(|o| describe_basic(&o, &base))
                .collect();
            RestAnswer::json(200, json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}))
        }),
        ["sobjects", object] => sobject_collection(inner, req, &decode(object), &version, &user_id),
        ["sobjects", object, "describe"] => {
            only(req, "GET")?;
            let def = schema::object(&decode(object)).ok_or_else(RestError::not_found)?;
            let mut out = describe_basic(&def, &base);
            out["fields"] = def
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name, "type": format!("{:?}", f.ty).to_lowercase(),
                        "nillable": !f.required, "createable": f.writable, "updateable": f.writable,
                        "referenceTo": f.references.map(|r| vec![r]).unwrap_or_default(),
                        "relationshipName": f.relationship,
                        "picklistValues": f.restricted.unwrap_or_default().iter()
                            .map(|v| json!({"active": true, "value": v, "label": v})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(RestAnswer::json(200, out))
        }
        ["sobjects", object, id] => sobject_record(inner, req, &decode(object), &decode(id), &version, &user_id),
        ["query"] | ["queryAll"] => {
            only(req, "GET")?;
            let text = query_param(req.query, "q")
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| RestError::new(400, "MALFORMED_QUERY", "A query string has to be specified"))?;
            let result = query::run_query(&inner.org, &text, &version, chrono::Utc::now())?;
            Ok(RestAnswer::json(200, page(inner, result.records, result.total, 0, &version, None)))
        }
        ["query", locator] | ["queryAll", locator] => {
            only(req, "GET")?;
            next_page(inner, locator, &version)
        }
        ["search"] => {
            only(req, "GET")?;
            let text = query_param(req.query, "q").filter(|q| !q.trim().is_empty()).ok_or_else(|| {
                RestError::new(
                    400,
                    "MALFORMED_SEARCH",
                    "No search term found. The search term must be at least 2 characters long: use ?q=FIND {term}",
                )
            })?;
            let records = query::run_search(&inner.org, &text, &version)?;
            Ok(RestAnswer::json(200, json!({"searchRecords": records})))
        }
        ["connect", "conversations", "upload"] => match req.method {
            "POST" => conversations::upload(&mut inner.org, req, now_ms),
            "GET" => conversations::statuses(&mut inner.org, req, now_ms),
            other => Err(RestError::method(other, "GET, POST")),
        },
        ["connect", "conversation", conversation, "entries"] => {
            only(req, "GET")?;
            conversations::entries(&inner.org, &decode(conversation), req)
        }
        _ => Err(no_resource()),
    }
}

fn only(req: &RestRequest<'_>, allow: &'static str) -> Result<(), RestError> {
    if req.method == allow { Ok(()) } else { Err(RestError::method(req.method, allow)) }
}

fn describe_basic(def: &schema::ObjectDef, base: &str) -> Value {
    json!({
        "name": def.name, "label": def.name, "keyPrefix": def.key_prefix, "custom": def.custom,
        "createable": def.kind != ObjectKind::VoiceCall,
        "queryable": def.kind != ObjectKind::PlatformEvent,
        "urls": {"sobject": format!("{base}/sobjects/{}", def.name), "rowTemplate": format!("{base}/sobjects/{}/{{ID}}", def.name)},
    })
}

/// Builds one page; keeps a cursor when more records remain.
fn page(
    inner: &mut Inner,
    records: Vec<Value>,
    total: usize,
    start: usize,
    version: &str,
    locator: Option<&str>,
) -> Value {
    let batch = inner.rest.config.query_batch_size.max(1);
    let end = (start + batch).min(records.len());
    let slice: Vec<Value> = records.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut out = json!({"totalSize": total, "done": end >= records.len(), "records": slice});
    if end < records.len() {
        let locator = match locator {
            Some(l) => l.to_owned(),
            None => {
                inner.rest.next_cursor += 1;
                let id = format!("01gEM{:010}", inner.rest.next_cursor);
                inner.rest.cursors.insert(id.clone(), Cursor { records });
                id
            }
        };
        out["nextRecordsUrl"] = json!(format!("{DATA_PATH}/v{version}/query/{locator}-{end}"));
    } else if let Some(l) = locator {
        inner.rest.cursors.remove(l);
    }
    out
}

fn next_page(inner: &mut Inner, locator: &str, version: &str) -> Result<RestAnswer, RestError> {
    let invalid = || RestError::new(400, "INVALID_QUERY_LOCATOR", format!("invalid query locator: {locator}"));
    let (id, start) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let start: usize = start.parse().map_err(|_| invalid())?;
    let records = inner.rest.cursors.get(id).map(|c| c.records.clone()).ok_or_else(invalid)?;
    if start >= records.len() {
        return Err(invalid());
    }
    let total = records.len();
    Ok(RestAnswer::json(200, page(inner, records, total, start, version, Some(id))))
}

fn sobject_collection(
    inner: &mut Inner,
    req: &RestRequest<'_>,
    object: &str,
    version: &str,
    user_id: &str,
) -> Result<RestAnswer, RestError> {
    let def = schema::object(object).ok_or_else(RestError::not_found)?;
    match req.method {
        "GET" => Ok(RestAnswer::json(
            200,
            json!({"objectDescribe": describe_basic(&def, &format!("{DATA_PATH}/v{version}")), "recentItems": []}),
        )),
        "POST" => {
            let body = parse_object_body(req)?;
            match def.kind {
                ObjectKind::VoiceCall => Err(RestError::new(
                    400,
                    "INVALID_OPERATION",
                    "VoiceCall records can't be created through the REST API in this emulator: create them with the Telephony Integration API (POST /telephony/v1/voiceCalls)",
                )),
                ObjectKind::PlatformEvent => publish(inner, &def, &body, version, user_id),
                ObjectKind::Stored => {
                    let mut def = def;
                    def.name = inner.org.rest.canonical_object(&def);
                    let fields = store::validate_fields(&inner.org, &def, &body, true)?;
                    let id = store::create(&mut inner.org, &def, fields, Some(user_id));
                    let mut answer = RestAnswer::json(201, json!({"id": id, "success": true, "errors": []}));
                    answer.headers.push((header::LOCATION, store::record_url(version, &def.name, &id)));
                    Ok(answer)
                }
            }
        }
        other => Err(RestError::method(other, "GET, POST")),
    }
}

fn publish(
    inner: &mut Inner,
    def: &schema::ObjectDef,
    body: &Map<String, Value>,
    version: &str,
    user_id: &str,
) -> Result<RestAnswer, RestError> {
    let fields = store::validate_fields(&inner.org, def, body, true)?;
    let id = inner.org.new_id(def.key_prefix);
    let uuid = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let replay = inner.org.rest.platform_events.len() + 1;
    let mut event = Map::new();
    event.insert("attributes".into(), json!({"type": def.name, "url": store::record_url(version, &def.name, &id)}));
    for field in &def.fields {
        let value = match field.name.as_str() {
            "ReplayId" => json!(replay.to_string()),
            "EventUuid" => json!(uuid),
            "CreatedDate" => json!(store::format_datetime(now)),
            "CreatedById" => json!(user_id),
            name => fields.get(name).cloned().unwrap_or(Value::Null),
        };
        event.insert(field.name.clone(), value);
    }
    inner.org.rest.platform_events.push(Value::Object(event));
    Ok(RestAnswer::json(
        201,
        json!({"id": id, "success": true, "errors": [{"statusCode": "OPERATION_ENQUEUED", "message": uuid, "fields": []}]}),
    ))
}

fn sobject_record(
    inner: &mut Inner,
    req: &RestRequest<'_>,
    object: &str,
    id: &str,
    version: &str,
    user_id: &str,
) -> Result<RestAnswer, RestError> {
    let def = schema::object(object).ok_or_else(RestError::not_found)?;
    let found = store::find_row(&inner.org, id).filter(|(d, _)| {
        d.name.eq_ignore_ascii_case(&def.name) || (def.custom && d.custom && d.name.eq_ignore_ascii_case(object))
    });
    match req.method {
        "GET" => {
            let (def, row) = found.ok_or_else(RestError::not_found)?;
            let row = match query_param(req.query, "fields") {
                None => row,
                Some(list) => {
                    let mut out = Map::new();
                    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let field = def.field(name).ok_or_else(|| {
                            RestError::new(
                                400,
                                "INVALID_FIELD",
                                format!("No such column '{name}' on sobject of type {}", def.name),
                            )
                        })?;
                        out.insert(field.name.clone(), store::get(&row, &field.name).clone());
                    }
                    out.insert("Id".into(), store::get(&row, "Id").clone());
                    out
                }
            };
            Ok(RestAnswer::json(200, store::render_full(version, &def.name, &row)))
        }
        "PATCH" => {
            let body = parse_object_body(req)?;
            let (def, _) = found.ok_or_else(RestError::not_found)?;
            match def.kind {
                ObjectKind::VoiceCall => update_voice_call(inner, id, &body),
                ObjectKind::PlatformEvent => {
                    Err(RestError::new(400, "INVALID_OPERATION", "Platform events can only be published (POST)"))
                }
                ObjectKind::Stored => {
                    let fields = store::validate_fields(&inner.org, &def, &body, false)?;
                    if store::update(&mut inner.org, &def, id, fields, Some(user_id)) {
                        Ok(RestAnswer::empty())
                    } else {
                        Err(RestError::not_found())
                    }
                }
            }
        }
        "DELETE" => {
            let (def, _) = found.ok_or_else(RestError::not_found)?;
            if def.kind != ObjectKind::Stored {
                return Err(RestError::new(
                    400,
                    "INVALID_OPERATION",
                    format!("{} records can't be deleted through the REST API in this emulator", def.name),
                ));
            }
            if store::delete(&mut inner.org, &def, id) { Ok(RestAnswer::empty()) } else { Err(RestError::not_found()) }
        }
        other => Err(RestError::method(other, "GET, PATCH, DELETE")),
    }
}

/// PATCH of a VoiceCall: only custom `__c` fields, stored in the call's `callAttributes`.
fn update_voice_call(inner: &mut Inner, id: &str, body: &Map<String, Value>) -> Result<RestAnswer, RestError> {
    let mut custom = Map::new();
    let mut refused = Vec::new();
    for (key, value) in body {
        if key == "attributes" {
            continue;
        }
        if schema::is_custom_name(key) {
            if value.is_array() || value.is_object() {
                return Err(RestError::new(
                    400,
                    "JSON_PARSER_ERROR",
                    format!("Field {key} must be a string, number, boolean or null"),
                ));
            }
            custom.insert(key.clone(), value.clone());
        } else {
            refused.push(key.clone());
        }
    }
    if !refused.is_empty() {
        return Err(RestError::new(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. VoiceCall standard fields are set through the Telephony Integration API (PATCH /telephony/v1/voiceCalls/{{id}}); only custom __c fields can be updated here.",
                refused.join(", ")
            ),
        )
        .with_fields(refused));
    }
    let call = inner.org.voice_calls.iter_mut().find(|c| c.id == store::id15(id)).ok_or_else(RestError::not_found)?;
    for (key, value) in custom {
        if value.is_null() {
            let existing = call.call_attributes.keys().find(|k| k.eq_ignore_ascii_case(&key)).cloned();
            if let Some(existing) = existing {
                call.call_attributes.remove(&existing);
            }
        } else {
            call.call_attributes.insert(key, value);
        }
    }
    let id = call.id.clone();
    if let Some(dates) = inner.org.rest.voice_call_dates.get_mut(&id) {
        dates.modified_ms = chrono::Utc::now().timestamp_millis();
    }
    Ok(RestAnswer::empty())
}

/// Seeds a record (`Emulator::insert_record`): same validation as `POST /sobjects/{object}`.
pub fn insert_record(inner: &mut Inner, object: &str, fields: Value) -> Result<String, RestError> {
    let def = schema::object(object)
        .ok_or_else(|| RestError::new(404, "NOT_FOUND", format!("sObject type '{object}' is not supported")))?;
    let Value::Object(body) = fields else {
        return Err(RestError::new(400, "JSON_PARSER_ERROR", "fields must be a JSON object"));
    };
    match def.kind {
        ObjectKind::VoiceCall => Err(RestError::new(
            400,
            "INVALID_OPERATION",
            "VoiceCall records are created through the Telephony Integration API",
        )),
        ObjectKind::PlatformEvent => {
            let answer = publish(inner, &def, &body, DEFAULT_VERSION, "")?;
            Ok(answer.body.and_then(|b| b["id"].as_str().map(str::to_owned)).unwrap_or_default())
        }
        ObjectKind::Stored => {
            let mut def = def;
            def.name = inner.org.rest.canonical_object(&def);
            let fields = store::validate_fields(&inner.org, &def, &body, true)?;
            Ok(store::create(&mut inner.org, &def, fields, None))
        }
    }
}

/// Every record of an object in REST shape.
pub fn all_records(inner: &Inner, object: &str) -> Vec<Value> {
    let Ok(def) = query::queryable(&inner.org, object) else {
        return Vec::new();
    };
    store::rows(&inner.org, &def).iter().map(|row| store::render_full(DEFAULT_VERSION, &def.name, row)).collect()
}

/// One record in REST shape.
pub fn one_record(inner: &Inner, object: &str, id: &str) -> Option<Value> {
    let (def, row) = store::find_row(&inner.org, id)?;
    def.name.eq_ignore_ascii_case(object).then(|| store::render_full(DEFAULT_VERSION, &def.name, &row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version("v62.0"), Some("62.0".into()));
        assert_eq!(version("v20.0"), Some("20.0".into()));
        assert_eq!(version("v19.0"), None);
        assert_eq!(version("v62"), None);
        assert_eq!(version("62.0"), None);
        assert_eq!(version("v62.10"), None);
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            RestError::new(400, "INVALID_FIELD", "x").with_fields(vec!["A".into()]).body(),
            json!([{"message": "x", "errorCode": "INVALID_FIELD", "fields": ["A"]}])
        );
        assert_eq!(RestError::injected(429).code, "REQUEST_LIMIT_EXCEEDED");
        assert_eq!(RestError::injected(403).code, "REQUEST_LIMIT_EXCEEDED");
        assert_eq!(injected_oauth(503)["error"], "temporarily_unavailable");
    }
}
