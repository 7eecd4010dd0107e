//! The one entry point of every function binary: logging, `Deps` built once, the runtime loop.
//!
//! A function's `main.rs` is three lines:
//!
//! ```ignore
//! fn main() -> Result<(), lambda_runtime::Error> {
//!     scv_shared::lambda::main(my_function::CATEGORY, env!("CARGO_CRATE_NAME"), my_function::Deps::from_env, my_function::handler)
//! }
//! ```

use std::fmt;
use std::future::Future;

use lambda_runtime::streaming::Body;
use lambda_runtime::{Diagnostic, Error, IntoFunctionResponse, LambdaEvent, service_fn};
use serde::de::DeserializeOwned;

use crate::config::{LoggingConfig, ProcessEnv};

/// Starts a multi-threaded Tokio runtime, installs the logger ([`LoggingConfig`]:
/// `AWS_LAMBDA_LOG_LEVEL`, `LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`), builds the function's `Deps`
/// once (a failure is logged as a cold-start ERROR line and ends the process, which Lambda
/// reports as an init error), then serves invocations with `handler`.
///
/// `Deps` lives as long as the process: it is moved to the heap once and borrowed by every
/// invocation (`&'static`), which is what lets `handler` be a plain `async fn(event, &Deps)`.
/// The cold start and the invocation loop are two separate futures so that neither nests the
/// other (deeply nested handler futures otherwise need a raised `recursion_limit`).
pub fn main<A, D, DE, DF, R, E, H, HF>(
    category: &'static str,
    own_crate: &'static str,
    deps: impl FnOnce() -> DF,
    handler: H,
) -> Result<(), Error>
where
    A: DeserializeOwned,
    D: Send + Sync + 'static,
    DE: Into<Error> + fmt::Display,
    DF: Future<Output = Result<D, DE>>,
    H: Fn(LambdaEvent<A>, &'static D) -> HF,
    HF: Future<Output = Result<R, E>>,
    R: IntoFunctionResponse<R, Body> + serde::Serialize,
    E: Into<Diagnostic> + fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let deps = runtime.block_on(cold_start(category, own_crate, deps))?;
    runtime.block_on(lambda_runtime::run(service_fn(move |event: LambdaEvent<A>| handler(event, deps))))
}

/// Logging, then `Deps` (see [`main`]).
pub async fn cold_start<D, DE, DF>(
    category: &'static str,
    own_crate: &'static str,
    deps: impl FnOnce() -> DF,
) -> Result<&'static D, Error>
where
    D: 'static,
    DE: Into<Error> + fmt::Display,
    DF: Future<Output = Result<D, DE>>,
{
    let logging = LoggingConfig::from_env(&ProcessEnv);
    let settings = logging.as_ref().map_or_else(|_| LoggingConfig::default(), |c| *c);
    crate::logging::init_with_format(category, own_crate, settings.level, settings.format);
    if let Err(e) = logging {
        tracing::error!(error = %e, "cold start failed");
        return Err(e.into());
    }
    match deps().await {
        Ok(deps) => Ok(Box::leak(Box::new(deps))),
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            Err(e.into())
        }
    }
}
