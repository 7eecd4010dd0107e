//! A local Lambda Invoke API that records what it is asked to invoke and runs nothing: for tests of
//! a function that invokes another (or itself) asynchronously, so the test can inspect each payload
//! and feed it on. Point the caller's Lambda client at [`InvokeRecorder::endpoint`].
//! [`InvokeRecorder::fail_next`] makes the next invokes answer 500 (`ServiceException`).

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One recorded invoke.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedInvoke {
    /// The function name or ARN from the path.
    pub function: String,
    /// `X-Amz-Invocation-Type` (`RequestResponse` when absent).
    pub invocation_type: String,
    pub payload: Value,
    /// The payload size in bytes, as sent.
    pub size: usize,
}

#[derive(Default)]
struct Shared {
    invokes: Vec<RecordedInvoke>,
    failures_left: u32,
}

/// A running recorder; stops when dropped.
pub struct InvokeRecorder {
    endpoint: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl InvokeRecorder {
    pub async fn start() -> Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { endpoint, shared, task })
    }

    /// `http://127.0.0.1:PORT`: the Lambda endpoint (`AWS_ENDPOINT_URL_LAMBDA`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every invoke so far, oldest first.
    pub fn invokes(&self) -> Vec<RecordedInvoke> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).invokes.clone()
    }

    /// The next `count` invokes answer HTTP 500 and are not recorded.
    pub fn fail_next(&self, count: u32) {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).failures_left = count;
    }
}

impl Drop for InvokeRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn invoke(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
    if shared.failures_left > 0 {
        shared.failures_left -= 1;
        let mut response = (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"__type": "ServiceException", "Message": "injected by the invoke recorder"})),
        )
            .into_response();
        response.headers_mut().insert("X-Amzn-ErrorType", axum::http::HeaderValue::from_static("ServiceException"));
        return response;
    }
    let invocation_type =
        headers.get("X-Amz-Invocation-Type").and_then(|v| v.to_str().ok()).unwrap_or("RequestResponse").to_string();
    let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.invokes.push(RecordedInvoke {
        function,
        invocation_type: invocation_type.clone(),
        payload,
        size: body.len(),
    });
    if invocation_type == "Event" {
        StatusCode::ACCEPTED.into_response()
    } else {
        (StatusCode::OK, axum::Json(json!({}))).into_response()
    }
}
