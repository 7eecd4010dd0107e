//! A local AWS Parameters and Secrets Lambda extension: the HTTP interface the real extension
//! serves on `localhost:2773` inside a Lambda (`GET /systemsmanager/parameters/get?name=…&withDecryption=true`
//! with the `X-Aws-Parameters-Secrets-Token` header), answered from SSM through the real SDK
//! (moto here), so the functions' extension path runs against a real server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::serve::LocalServer;

/// The token header the extension requires (the function's `AWS_SESSION_TOKEN`).
pub const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";

struct Shared {
    ssm: aws_sdk_ssm::Client,
    token: String,
    requests: AtomicU64,
}

/// A running extension; stops when dropped.
pub struct ParametersExtension {
    server: LocalServer,
    shared: Arc<Shared>,
}

#[derive(Deserialize)]
struct GetQuery {
    name: Option<String>,
    #[serde(rename = "withDecryption")]
    with_decryption: Option<String>,
}

impl ParametersExtension {
    /// Listens on 127.0.0.1 (free port); `token` is the session token callers must present.
    pub async fn start(sdk: &aws_config::SdkConfig, token: &str) -> Result<Self> {
        let shared = Arc::new(Shared {
            ssm: aws_sdk_ssm::Client::new(sdk),
            token: token.to_string(),
            requests: AtomicU64::new(0),
        });
        let app = Router::new().route("/systemsmanager/parameters/get", get(get_parameter)).with_state(shared.clone());
        Ok(Self { server: LocalServer::start(app, "the Parameters and Secrets extension").await?, shared })
    }

    /// The value for `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Requests served so far (any outcome).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

async fn get_parameter(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<GetQuery>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let presented = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    if presented != Some(shared.token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "not authorized: missing or wrong X-Aws-Parameters-Secrets-Token")
            .into_response();
    }
    let Some(name) = query.name.filter(|n| !n.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "name is required").into_response();
    };
    let decrypt = query.with_decryption.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match shared.ssm.get_parameter().name(&name).with_decryption(decrypt).send().await {
        Ok(out) => {
            let p = out.parameter;
            let body = json!({
                "Parameter": {
                    "ARN": p.as_ref().and_then(|p| p.arn.clone()),
                    "DataType": p.as_ref().and_then(|p| p.data_type.clone()),
                    "Name": p.as_ref().and_then(|p| p.name.clone()),
                    "Type": p.as_ref().and_then(|p| p.r#type.as_ref().map(|t| t.as_str().to_string())),
                    "Value": p.as_ref().and_then(|p| p.value.clone()),
                    "Version": p.as_ref().map(|p| p.version),
                },
                "ResultMetadata": {}
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => {
            let not_found = e.as_service_error().is_some_and(|s| s.is_parameter_not_found());
            if not_found {
                (StatusCode::BAD_REQUEST, format!("ParameterNotFound: parameter {name} not found")).into_response()
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, "the extension could not reach SSM").into_response()
            }
        }
    }
}
