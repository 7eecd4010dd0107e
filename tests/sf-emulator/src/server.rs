//! The HTTP server: shared state, the accept loop (with connections a fault can kill), and the entry point
//! of every non-control request (record, fault, authorize, dispatch).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::auth::{self, Expectations, JtiCache};
use crate::config::RoutingConfig;
use crate::console;
use crate::errors::ApiError;
use crate::faults::FaultQueue;
use crate::inspect::{self, RecordedRequest, body_for_record};
use crate::rest::{self, RestRequest, RestState};
use crate::state::OrgState;
use crate::telephony;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Everything the emulator keeps; one instance per `Emulator`, behind `Shared`.
pub struct Inner {
    pub org_id: String,
    pub call_center_api_name: String,
    pub keys: Vec<DecodingKey>,
    pub key_count: usize,
    pub routing: RoutingConfig,
    pub org: OrgState,
    pub requests: Vec<RecordedRequest>,
    pub next_seq: u64,
    pub faults: FaultQueue,
    pub jtis: JtiCache,
    /// `http://host:port` once bound (token `instance_url`, accepted `aud`).
    pub base_url: String,
    /// REST side: configuration, connected app keys, sessions, query cursors.
    pub rest: RestState,
    /// Set when the emulator stops: the console's live-update streams end.
    pub closing: bool,
    /// At most this many API requests in flight: the others are answered 429 at once, as Salesforce
    /// refuses requests beyond its concurrent request limit (a 429 storm that a client sending fewer
    /// requests at once escapes). `None`: no limit.
    pub concurrency_limit: Option<usize>,
    /// API requests being handled now.
    pub in_flight: usize,
}

/// The state shared by the server and the `Emulator` handle.
pub type Shared = Arc<Mutex<Inner>>;

/// Locks the state (a poisoned lock is still usable: handlers never leave it half-written).
pub fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    pub fn new(org_id: String, call_center_api_name: String, keys: Vec<DecodingKey>, routing: RoutingConfig) -> Self {
        Inner {
            org_id,
            call_center_api_name,
            key_count: keys.len(),
            keys,
            routing,
            org: OrgState::default(),
            requests: Vec::new(),
            next_seq: 0,
            faults: FaultQueue::default(),
            jtis: JtiCache::default(),
            base_url: String::new(),
            rest: RestState::default(),
            closing: false,
            concurrency_limit: None,
            in_flight: 0,
        }
    }

    /// Clears org data (REST records and platform events included), recorded requests, faults, seen jtis
    /// and query cursors; keeps keys, routing, REST configuration and issued access tokens.
    pub fn reset(&mut self) {
        self.org = OrgState::default();
        self.rest.clear_cursors();
        self.requests.clear();
        self.next_seq = 0;
        self.faults.clear();
        self.jtis.clear();
    }

    /// The inspection view of the org.
    pub fn state_json(&self) -> Value {
        json!({
            "orgId": self.org_id,
            "callCenterApiName": self.call_center_api_name,
            "scrtPublicKeys": self.key_count,
            "routing": self.routing,
            "voiceCalls": self.org.voice_calls,
            "pendingFaults": self.faults,
            "rest": self.rest.state_json(),
            "records": self.org.rest.tables.values().map(|t| (t.name.clone(), t.records.len())).collect::<std::collections::BTreeMap<_, _>>(),
            "platformEvents": self.org.rest.platform_events.len(),
            "conversationUploads": self.org.rest.conversations.uploads,
            "conversations": self.org.rest.conversations.conversations,
        })
    }

    fn record(&mut self, mut request: RecordedRequest) {
        if request.received_us > 0 {
            request.latency_ms = (chrono::Utc::now().timestamp_micros() - request.received_us).max(0) as f64 / 1000.0;
        }
        self.next_seq += 1;
        request.seq = self.next_seq;
        self.requests.push(request);
    }

    /// Authorizes, routes and handles one Telephony Integration API request.
    fn process(
        &mut self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Value), ApiError> {
        if !path.starts_with("/telephony/") {
            return Err(ApiError::not_found(format!("No resource at {path}")));
        }
        let token = auth::bearer_token(authorization).map_err(|e| ApiError::invalid_auth(e.to_string()))?;
        let expect = Expectations {
            org_id: &self.org_id,
            call_center_api_name: &self.call_center_api_name,
            keys: &self.keys,
            now: chrono::Utc::now().timestamp(),
        };
        auth::verify(token, &expect, &mut self.jtis).map_err(|e| ApiError::invalid_auth(e.to_string()))?;
        let endpoint = telephony::endpoint(method, path)?;
        let body = telephony::parse_body(body, content_type)?;
        let ctx = telephony::Context {
            org: &mut self.org,
            call_center_api_name: &self.call_center_api_name,
            routing: &self.routing,
            faults: &mut self.faults,
        };
        let outcome = telephony::handle(ctx, endpoint, body.as_ref());
        self.org.rest.stamp_voice_calls(&self.org.voice_calls);
        outcome
    }
}

/// A TCP connection that a fault can kill: once killed, every read and write fails, so hyper closes the
/// connection without writing a response.
pub struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped by an injected fault")
}

impl AsyncRead for KillableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP listener whose connections are `KillableStream`s.
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (KillableStream { inner: stream, killed: Arc::new(AtomicBool::new(false)) }, addr);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Given to handlers (as connect info) so that a fault can kill the connection carrying the request.
#[derive(Clone)]
pub struct ConnectionHandle {
    killed: Arc<AtomicBool>,
}

impl ConnectionHandle {
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnectionHandle { killed: stream.io().killed.clone() }
    }
}

/// The whole application: control API under `/__emulator`, everything else is the emulated Salesforce.
pub fn app(shared: Shared) -> Router {
    Router::new()
        .nest("/__emulator", inspect::router().merge(console::control_router()))
        .merge(console::router())
        .fallback(api_entry)
        .with_state(shared)
}

fn json_response(status: u16, body: &Value, extra: &[(header::HeaderName, String)]) -> Response {
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response();
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}

/// Counts a request out of [`Inner::in_flight`] however its handling ends.
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = lock(&self.0);
        inner.in_flight = inner.in_flight.saturating_sub(1);
    }
}

/// Every non-control request: read, fault, authorize, handle, record, log (never the token).
async fn api_entry(State(shared): State<Shared>, request: Request) -> Response {
    let received_us = chrono::Utc::now().timestamp_micros();
    let connection = request.extensions().get::<ConnectInfo<ConnectionHandle>>().map(|c| c.0.clone());
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let header_value = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let authorization = header_value("authorization");
    let content_type = header_value("content-type");
    let is_rest = path.starts_with("/services/");
    let is_oauth = path.starts_with("/services/oauth2/");
    let mut record = RecordedRequest {
        seq: 0,
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        telephony_provider_name: header_value("telephony-provider-name"),
        content_type: content_type.clone(),
        // REST access tokens are opaque and secret: never decoded nor kept.
        jwt_claims: if is_rest {
            None
        } else {
            auth::bearer_token(authorization.as_deref()).ok().and_then(auth::insecure_claims)
        },
        body: Value::Null,
        status: 0,
        response: Value::Null,
        faulted: false,
        at_ms: received_us / 1000,
        latency_ms: 0.0,
        received_us,
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let err = ApiError::invalid_input(format!(
                "The request body is unreadable or larger than {MAX_BODY_BYTES} bytes"
            ));
            return finish(&shared, record, err.status, err.body(), Vec::new());
        }
    };
    // The token endpoint's body holds the assertion: recorded only after redaction (below).
    record.body = if is_oauth { Value::Null } else { body_for_record(&bytes) };
    if is_oauth {
        record.query = None;
    }

    // Beyond the concurrency limit: 429 at once (REQUEST_LIMIT_EXCEEDED), nothing handled.
    let admitted = {
        let mut inner = lock(&shared);
        inner.in_flight += 1;
        inner.concurrency_limit.is_none_or(|limit| inner.in_flight <= limit)
    };
    let _in_flight = InFlight(shared.clone());
    if !admitted {
        record.faulted = true;
        let body = if is_oauth {
            rest::injected_oauth(429)
        } else if is_rest {
            rest::RestError::injected(429).body()
        } else {
            ApiError::injected(429).body()
        };
        return finish(&shared, record, 429, body, Vec::new());
    }

    let fault = lock(&shared).faults.take(&method, &path);
    // A fault "after applying" acts once the request has changed the org state.
    let (late, fault) = match fault {
        Some(f) if f.after_applying => (Some(f), None),
        other => (None, other),
    };
    if let Some(fault) = fault {
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if fault.drop_connection {
            record.faulted = true;
            tracing::info!("{method} {path} -> connection dropped (injected)");
            lock(&shared).record(record);
            if let Some(connection) = connection {
                connection.kill();
            }
            // Never written: the connection fails the write and closes.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        if let Some(body) = fault.body {
            record.faulted = true;
            let status = fault.status.unwrap_or(200);
            let extra = fault.retry_after_secs.map(|s| (header::RETRY_AFTER, s.to_string())).into_iter().collect();
            return finish(&shared, record, status, body, extra);
        }
        if let Some(status) = fault.status {
            record.faulted = true;
            let body = if is_oauth {
                rest::injected_oauth(status)
            } else if is_rest {
                rest::RestError::injected(status).body()
            } else {
                ApiError::injected(status).body()
            };
            let extra = fault.retry_after_secs.map(|s| (header::RETRY_AFTER, s.to_string())).into_iter().collect();
            return finish(&shared, record, status, body, extra);
        }
    }

    if is_rest {
        let answer = {
            let mut inner = lock(&shared);
            rest::handle(
                &mut inner,
                &RestRequest {
                    method: &method,
                    path: &path,
                    query: parts.uri.query(),
                    authorization: authorization.as_deref(),
                    content_type: content_type.as_deref(),
                    body: &bytes,
                },
            )
        };
        if let Some(body) = answer.recorded_body {
            record.body = body;
        }
        if let Some(query) = answer.recorded_query {
            record.query = query;
        }
        if answer.claims.is_some() {
            record.jwt_claims = answer.claims;
        }
        if let Some(late) = late {
            if let Some(ms) = late.delay_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Some(status) = late.status {
                record.faulted = true;
                return finish(&shared, record, status, rest::RestError::injected(status).body(), Vec::new());
            }
        }
        return finish_rest(&shared, record, answer.status, answer.body, answer.recorded_response, answer.headers);
    }

    let outcome = lock(&shared).process(&method, &path, authorization.as_deref(), content_type.as_deref(), &bytes);
    if let Some(late) = late {
        if let Some(ms) = late.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(status) = late.status {
            record.faulted = true;
            return finish(&shared, record, status, ApiError::injected(status).body(), Vec::new());
        }
    }
    match outcome {
        Ok((status, body)) => finish(&shared, record, status, body, Vec::new()),
        Err(err) => {
            let extra = err.allow.map(|a| (header::ALLOW, a.to_owned())).into_iter().collect();
            finish(&shared, record, err.status, err.body(), extra)
        }
    }
}

fn finish(
    shared: &Shared,
    mut record: RecordedRequest,
    status: u16,
    body: Value,
    extra: Vec<(header::HeaderName, String)>,
) -> Response {
    tracing::info!("{} {} -> {status}", record.method, record.path);
    let response = json_response(status, &body, &extra);
    record.status = status;
    record.response = body;
    lock(shared).record(record);
    response
}

/// Like `finish`, for REST answers: an empty body for 204, and a redacted copy of the answer recorded.
fn finish_rest(
    shared: &Shared,
    mut record: RecordedRequest,
    status: u16,
    body: Option<Value>,
    recorded: Option<Value>,
    extra: Vec<(header::HeaderName, String)>,
) -> Response {
    tracing::info!("{} {} -> {status}", record.method, record.path);
    let mut response = match &body {
        Some(body) => json_response(status, body, &extra),
        None => {
            let mut response = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT).into_response();
            for (name, value) in &extra {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.headers_mut().insert(name.clone(), value);
                }
            }
            response
        }
    };
    if status == 200 || status == 201 {
        response.headers_mut().insert(
            header::HeaderName::from_static("sforce-limit-info"),
            HeaderValue::from_static("api-usage=1/15000"),
        );
    }
    record.status = status;
    record.response = recorded.or(body).unwrap_or(Value::Null);
    lock(shared).record(record);
    response
}
