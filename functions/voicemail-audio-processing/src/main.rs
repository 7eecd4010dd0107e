use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use scv_shared::config::{ProcessEnv, log_level};
use serde_json::Value;
use voicemail_audio_processing::{CATEGORY, Deps, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    scv_shared::logging::init(CATEGORY, env!("CARGO_CRATE_NAME"), log_level(&ProcessEnv)?);
    let deps = Deps::from_env().await.inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    run(service_fn(|event: LambdaEvent<Value>| handler(event, &deps))).await
}
