//! A tiny Lambda function for the tests of the local Runtime API harness ([`local_stack::runtime`]).
//!
//! It prints `echo-lambda: request <id> event <json>` to stdout per invocation and returns the event,
//! except for these events:
//! - `{"fail": "message"}`: returns an `EchoFailure` error with that message;
//! - `{"exit": 3}`: the process exits with that code;
//! - `{"sleep_ms": 500}`: sleeps that long first;
//! - `{"stderr": "text"}`: also prints `text` to stderr;
//! - `{"context": true}`: returns the invocation context and the process environment.
//!
//! With `ECHO_INIT_EXIT=<code>` set, it exits with that code during init instead of serving events.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    if let Ok(code) = std::env::var("ECHO_INIT_EXIT") {
        eprintln!("echo-lambda: init failure requested");
        std::process::exit(code.parse().unwrap_or(1));
    }
    println!("echo-lambda: init");
    lambda_runtime::run(service_fn(handle)).await
}

/// The error `{"fail": "message"}` asks for.
#[derive(Debug)]
struct EchoFailure(String);

impl fmt::Display for EchoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<EchoFailure> for Diagnostic {
    fn from(failure: EchoFailure) -> Diagnostic {
        Diagnostic { error_type: "EchoFailure".into(), error_message: failure.0 }
    }
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, EchoFailure> {
    let (payload, context) = event.into_parts();
    println!("echo-lambda: request {} event {payload}", context.request_id);
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(text) = payload.get("stderr").and_then(Value::as_str) {
        eprintln!("{text}");
    }
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(EchoFailure(message.to_owned()));
    }
    if payload.get("context") == Some(&Value::Bool(true)) {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        return Ok(json!({
            "requestId": context.request_id,
            "deadlineMs": context.deadline,
            "functionArn": context.invoked_function_arn,
            "traceId": context.xray_trace_id,
            "functionName": context.env_config.function_name,
            "memory": context.env_config.memory,
            "version": context.env_config.version,
            "logGroup": context.env_config.log_group,
            "logStream": context.env_config.log_stream,
            "env": env,
        }));
    }
    Ok(payload)
}
