//! A local Lambda Invoke API that records what it is asked to invoke and runs nothing: for tests of
//! a function that invokes another (or itself) asynchronously, so the test can inspect each payload
//! and feed it on. Point the caller's Lambda client at [`InvokeRecorder::endpoint`].
//! [`InvokeRecorder::fail_next`] makes the next invokes answer 500 (`ServiceException`).
//!
//! A RequestResponse invoke answers `{}` unless [`InvokeRecorder::answer_with`] gave it a
//! responder: then it answers what the responder says, as Lambda would, including a function that
//! failed (HTTP 200 with `X-Amz-Function-Error: Unhandled` and the `{errorType, errorMessage}`
//! payload). A test routes InvokeTelephonyIntegrationApi or InvokeSalesforceRestApi invokes to the
//! suite's own handler in-process that way, or answers as the official function would.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::serve::LocalServer;

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

/// What an invoked function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// It returned this payload.
    Ok(Value),
    /// It failed: Lambda answers `X-Amz-Function-Error: Unhandled` and this payload
    /// (`{"errorType", "errorMessage"}`).
    FunctionError(Value),
}

impl Answer {
    /// A failure as Lambda reports an error the function returned.
    pub fn error(error_type: &str, message: &str) -> Self {
        Answer::FunctionError(json!({"errorType": error_type, "errorMessage": message}))
    }
}

type AnswerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;
type Responder = Arc<dyn Fn(RecordedInvoke) -> AnswerFuture + Send + Sync>;

#[derive(Default)]
struct Shared {
    invokes: Vec<RecordedInvoke>,
    failures_left: u32,
    responder: Option<Responder>,
}

/// A running recorder; stops when dropped.
pub struct InvokeRecorder {
    server: LocalServer,
    shared: Arc<Mutex<Shared>>,
}

impl InvokeRecorder {
    pub async fn start() -> Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(shared.clone());
        Ok(Self { server: LocalServer::start(app, "the Invoke recorder").await?, shared })
    }

    /// `http://127.0.0.1:PORT`: the Lambda endpoint (`AWS_ENDPOINT_URL_LAMBDA`).
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// Every invoke so far, oldest first.
    pub fn invokes(&self) -> Vec<RecordedInvoke> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).invokes.clone()
    }

    /// The next `count` invokes answer HTTP 500 and are not recorded.
    pub fn fail_next(&self, count: u32) {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).failures_left = count;
    }

    /// RequestResponse invokes from now on answer what `responder` says (it sees each recorded invoke).
    pub fn answer_with<F, Fut>(&self, responder: F)
    where
        F: Fn(RecordedInvoke) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let responder: Responder = Arc::new(move |invoke| Box::pin(responder(invoke)));
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).responder = Some(responder);
    }
}

async fn invoke(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (invoke, responder) = {
        let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.failures_left > 0 {
            guard.failures_left -= 1;
            return injected_failure();
        }
        let invocation_type =
            headers.get("X-Amz-Invocation-Type").and_then(|v| v.to_str().ok()).unwrap_or("RequestResponse").to_string();
        let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let invoke = RecordedInvoke { function, invocation_type, payload, size: body.len() };
        guard.invokes.push(invoke.clone());
        (invoke, guard.responder.clone())
    };
    let invocation_type = invoke.invocation_type.clone();
    if invocation_type == "Event" {
        return StatusCode::ACCEPTED.into_response();
    }
    match responder {
        None => (StatusCode::OK, axum::Json(json!({}))).into_response(),
        Some(responder) => match responder(invoke).await {
            Answer::Ok(value) => (StatusCode::OK, axum::Json(value)).into_response(),
            Answer::FunctionError(value) => {
                let mut response = (StatusCode::OK, axum::Json(value)).into_response();
                response
                    .headers_mut()
                    .insert("X-Amz-Function-Error", axum::http::HeaderValue::from_static("Unhandled"));
                response
            }
        },
    }
}

fn injected_failure() -> Response {
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"__type": "ServiceException", "Message": "injected by the invoke recorder"})),
    )
        .into_response();
    response.headers_mut().insert("X-Amzn-ErrorType", axum::http::HeaderValue::from_static("ServiceException"));
    response
}
