//! A faulty AWS endpoint for deadline tests: point an SDK client at [`FaultEndpoint::endpoint`]
//! and the operations it is told to break hang (accept, never answer) or answer SSM's throttling
//! error; every other request is forwarded unchanged to an upstream (moto), or hangs when there is
//! none. It counts what arrived, by `X-Amz-Target` (else `METHOD /first-segment`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::serve::LocalServer;

/// What a broken operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never answers.
    Hang,
    /// HTTP 400 `ThrottlingException` (the awsJson error SSM sends when throttled).
    Throttle,
    /// Answers (forwards) after this delay.
    Delay(Duration),
    /// HTTP 403 `AccessDenied` (S3's XML error) when the request body contains this text, else
    /// forwards: e.g. the one progress-record write that follows a given step.
    DenyIfBodyContains(&'static str),
}

struct Shared {
    upstream: Option<String>,
    /// `(operation prefix, fault)`: an operation starting with the prefix gets the fault.
    faults: Vec<(String, Fault)>,
    client: reqwest::Client,
    requests: Mutex<Vec<String>>,
}

/// A running endpoint on 127.0.0.1; stops when dropped.
pub struct FaultEndpoint {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl FaultEndpoint {
    /// Every request hangs.
    pub async fn hanging() -> Result<FaultEndpoint> {
        Self::start(None, vec![(String::new(), Fault::Hang)]).await
    }

    /// Every request is answered `ThrottlingException`.
    pub async fn throttling() -> Result<FaultEndpoint> {
        Self::start(None, vec![(String::new(), Fault::Throttle)]).await
    }

    /// Forwards to `upstream` (`http://host:port`), except the operations whose name starts with
    /// one of the `faults`' prefixes (e.g. `AmazonSSM.PutParameter`, `POST /2015-03-31`).
    pub async fn forwarding(upstream: &str, faults: &[(&str, Fault)]) -> Result<FaultEndpoint> {
        let faults = faults.iter().map(|(op, f)| (op.to_string(), *f)).collect();
        Self::start(Some(upstream.trim_end_matches('/').to_owned()), faults).await
    }

    async fn start(upstream: Option<String>, faults: Vec<(String, Fault)>) -> Result<FaultEndpoint> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the fault endpoint's HTTP client")?;
        let shared = Arc::new(Shared { upstream, faults, client, requests: Mutex::new(Vec::new()) });
        let app = Router::new().fallback(answer).with_state(shared.clone());
        Ok(FaultEndpoint { server: LocalServer::start(app, "the fault endpoint").await?, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// The operation of every request so far, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many requests named `operation` arrived.
    pub fn count(&self, operation: &str) -> usize {
        self.requests().iter().filter(|op| op.as_str() == operation).count()
    }
}

fn operation(method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.to_owned();
    }
    let first = uri.path().trim_start_matches('/').split('/').next().unwrap_or("");
    format!("{method} /{first}")
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&method, &uri, &headers);
    shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(op.clone());
    let fault = shared.faults.iter().find(|(prefix, _)| op.starts_with(prefix.as_str())).map(|(_, f)| *f);
    match fault {
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Throttle) => {
            let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
            return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/x-amz-json-1.1")], body)
                .into_response();
        }
        Some(Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        Some(Fault::DenyIfBodyContains(text)) if body.windows(text.len().max(1)).any(|w| w == text.as_bytes()) => {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied (fault endpoint)</Message></Error>";
            return (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
        }
        Some(Fault::DenyIfBodyContains(_)) | None => {}
    }
    let Some(upstream) = &shared.upstream else {
        return std::future::pending().await;
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared.client.request(method, format!("{upstream}{path}")).body(body);
    for (name, value) in &headers {
        let hop = [header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING];
        if !hop.contains(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let answer_headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &answer_headers {
                if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("fault endpoint: the upstream failed: {e}")).into_response(),
    }
}
