//! The Runtime API harness against a real function binary, `echo-lambda` (src/bin/echo_lambda.rs).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use local_stack::runtime::{FunctionError, FunctionProcess, FunctionSpec};
use serde_json::{Value, json};

const ECHO: &str = env!("CARGO_BIN_EXE_echo-lambda");
const LOG_WAIT: Duration = Duration::from_secs(5);

fn echo_spec() -> FunctionSpec {
    FunctionSpec::new("echo", ECHO)
}

#[tokio::test]
async fn invokes_events_in_a_row_and_captures_logs() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    assert!(function.pid().is_some());
    let events = [json!({ "n": 1 }), json!({ "n": 2, "text": "été" }), json!([1, 2, 3]), json!("plain")];
    let mut request_ids = Vec::new();
    for event in &events {
        let invocation = function.invoke(event.clone()).await?;
        assert_eq!(invocation.result.as_ref().ok(), Some(event), "echoed {event}");
        assert!(!request_ids.contains(&invocation.request_id), "request ids are unique");
        request_ids.push(invocation.request_id);
    }
    let init = function.init_duration().context("init duration set after an invocation")?;
    assert!(init > Duration::ZERO && init < Duration::from_secs(10), "init took {init:?}");
    assert_eq!(function.wait_ready(Duration::from_secs(1)).await?, init);

    for (id, event) in request_ids.iter().zip(&events) {
        let line = function.wait_for_log(&format!("echo-lambda: request {id}"), LOG_WAIT).await?;
        assert!(line.ends_with(&event.to_string()), "log line {line:?}");
    }
    function.invoke(json!({ "stderr": "to stderr" })).await?;
    function.wait_for_log("to stderr", LOG_WAIT).await?;
    let logs = function.logs();
    assert_eq!(logs.first().map(String::as_str), Some("echo-lambda: init"));
    let positions: Vec<usize> =
        request_ids.iter().filter_map(|id| logs.iter().position(|line| line.contains(id.as_str()))).collect();
    assert_eq!(positions.len(), events.len());
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "logs in order: {logs:#?}");
    function.shutdown().await
}

#[tokio::test]
async fn maps_function_errors_and_keeps_serving() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    let failed = function.invoke(json!({ "fail": "boom" })).await?;
    assert_eq!(failed.result, Err(FunctionError { error_type: "EchoFailure".into(), error_message: "boom".into() }));
    // An event the handler cannot deserialise is impossible with Value; an ordinary one still works.
    let after = function.invoke(json!({ "ok": true })).await?;
    assert_eq!(after.result, Ok(json!({ "ok": true })));
    assert!(function.exit_status().is_none());
    function.shutdown().await
}

#[tokio::test]
async fn gives_the_lambda_environment_and_invocation_headers() -> Result<()> {
    let spec = echo_spec()
        .with_env("CUSTOM", "yes")
        .with_env("AWS_REGION", "eu-west-3")
        .with_memory_mb(256)
        .with_timeout(Duration::from_secs(7));
    let function = FunctionProcess::spawn(spec).await?;
    let before_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let invocation = function.invoke(json!({ "context": true })).await?;
    let context = invocation.result.map_err(anyhow::Error::from)?;

    assert_eq!(context["requestId"], json!(invocation.request_id));
    assert_eq!(context["functionArn"], json!("arn:aws:lambda:us-east-1:000000000000:function:echo"));
    assert_eq!(context["functionArn"], json!(function.arn()));
    assert_eq!(context["functionName"], json!("echo"));
    assert_eq!(context["memory"], json!(256));
    assert_eq!(context["version"], json!("$LATEST"));
    assert_eq!(context["logGroup"], json!("/aws/lambda/echo"));
    assert!(context["traceId"].as_str().is_some_and(|trace| trace.starts_with("Root=1-")));
    let deadline = context["deadlineMs"].as_u64().context("deadline")?;
    assert!(
        deadline >= before_ms + 6_000 && deadline <= before_ms + 8_000,
        "deadline {deadline} is about 7 s after {before_ms}"
    );

    let env = context["env"].as_object().context("env")?;
    assert_eq!(env.get("CUSTOM"), Some(&json!("yes")));
    assert_eq!(env.get("AWS_REGION"), Some(&json!("eu-west-3")), "spec.env overrides AWS_REGION");
    assert_eq!(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some(&json!("256")));
    let runtime_api = function.endpoint().trim_start_matches("http://");
    assert_eq!(env.get("AWS_LAMBDA_RUNTIME_API"), Some(&json!(runtime_api)));
    // The parent's environment (cargo sets CARGO_* for tests) does not leak into the function.
    let leaked: Vec<&String> = env.keys().filter(|name| name.starts_with("CARGO") || *name == "RUST_LOG").collect();
    assert!(leaked.is_empty(), "inherited variables: {leaked:?}");
    function.shutdown().await
}

#[tokio::test]
async fn reports_the_exit_of_the_process() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    function.invoke(json!({ "warm": true })).await?;
    let error = function.invoke(json!({ "exit": 3 })).await.expect_err("the process exited");
    let message = format!("{error:#}");
    assert!(message.contains("exited (exit status: 3)"), "{message}");
    assert!(message.contains("echo-lambda: request"), "the error ends with the logs: {message}");
    assert_eq!(function.exit_status().and_then(|status| status.code()), Some(3));
    let again = function.invoke(json!({})).await.expect_err("still dead");
    assert!(format!("{again:#}").contains("exit status: 3"), "{again:#}");
    function.shutdown().await
}

#[tokio::test]
async fn reports_an_init_failure_with_its_logs() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec().with_env("ECHO_INIT_EXIT", "7")).await?;
    let ready = function.wait_ready(Duration::from_secs(10)).await.expect_err("never ready");
    assert!(format!("{ready:#}").contains("exit status: 7"), "{ready:#}");
    let error = function.invoke(json!({})).await.expect_err("init failed");
    let message = format!("{error:#}");
    assert!(message.contains("exit status: 7"), "{message}");
    assert!(message.contains("echo-lambda: init failure requested"), "{message}");
    assert_eq!(function.init_duration(), None);
    Ok(())
}

#[tokio::test]
async fn honours_the_timeout() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec().with_timeout(Duration::from_millis(300))).await?;
    function.wait_ready(Duration::from_secs(10)).await?;
    let fast = function.invoke(json!({ "sleep_ms": 10 })).await?;
    assert!(fast.result.is_ok());
    let started = Instant::now();
    let error = function.invoke(json!({ "sleep_ms": 5_000 })).await.expect_err("timed out");
    let waited = started.elapsed();
    assert!(format!("{error:#}").contains("timed out after 300ms"), "{error:#}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "waited {waited:?}");
    // Like Lambda, the timed-out environment is killed.
    let after = function.invoke(json!({})).await.expect_err("killed");
    assert!(format!("{after:#}").contains("exited"), "{after:#}");
    Ok(())
}

#[tokio::test]
async fn serves_the_lambda_invoke_api() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    let http = reqwest::Client::new();
    let url = |name: &str| format!("{}/2015-03-31/functions/{name}/invocations", function.endpoint());

    for name in ["echo", "arn:aws:lambda:us-east-1:000000000000:function:echo", "echo:$LATEST"] {
        let response = http.post(url(name)).json(&json!({ "via": name })).send().await?;
        assert_eq!(response.status(), 200, "{name}");
        assert!(response.headers().get("X-Amz-Function-Error").is_none());
        assert_eq!(response.json::<Value>().await?, json!({ "via": name }));
    }

    let failed = http.post(url("echo")).json(&json!({ "fail": "nope" })).send().await?;
    assert_eq!(failed.status(), 200);
    assert_eq!(failed.headers().get("X-Amz-Function-Error").map(|v| v.as_bytes()), Some(&b"Unhandled"[..]));
    assert_eq!(failed.json::<Value>().await?, json!({ "errorType": "EchoFailure", "errorMessage": "nope" }));

    let unknown = http.post(url("other")).json(&json!({})).send().await?;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers().get("X-Amzn-ErrorType").map(|v| v.as_bytes()),
        Some(&b"ResourceNotFoundException"[..])
    );
    let body: Value = unknown.json().await?;
    assert_eq!(body["__type"], json!("ResourceNotFoundException"));

    let not_json = http.post(url("echo")).body("{not json").send().await?;
    assert_eq!(not_json.status(), 400);

    let queued =
        http.post(url("echo")).header("X-Amz-Invocation-Type", "Event").json(&json!({ "async": 1 })).send().await?;
    assert_eq!(queued.status(), 202);
    function.wait_for_log(r#"event {"async":1}"#, LOG_WAIT).await?;
    function.shutdown().await
}

#[tokio::test]
async fn spawn_names_a_missing_binary() {
    let error =
        FunctionProcess::spawn(FunctionSpec::new("missing", "/nonexistent/bootstrap")).await.expect_err("no binary");
    assert!(format!("{error:#}").contains("/nonexistent/bootstrap"), "{error:#}");
}

#[tokio::test]
async fn dropping_the_handle_kills_the_process() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    function.wait_ready(Duration::from_secs(10)).await?;
    let pid = function.pid().context("pid")?;
    drop(function);
    let proc_dir = format!("/proc/{pid}");
    let deadline = Instant::now() + Duration::from_secs(5);
    // Gone, or a zombie until tokio reaps it.
    while std::fs::read_to_string(format!("{proc_dir}/stat")).is_ok_and(|stat| !stat.contains(") Z")) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[test]
fn binary_paths_follow_the_target_dir() {
    let debug = local_stack::runtime::binary_path("echo-lambda");
    assert!(debug.ends_with("debug/echo-lambda"), "{}", debug.display());
    let release = local_stack::runtime::binary_path_in("release", "echo-lambda");
    assert!(release.ends_with("release/echo-lambda"));
    assert_eq!(local_stack::runtime::binary_path_in("dev", "x"), local_stack::runtime::binary_path("x"));
}

#[tokio::test]
async fn runs_concurrent_invocations_one_at_a_time() -> Result<()> {
    let function = FunctionProcess::spawn(echo_spec()).await?;
    let (first, second) = tokio::join!(
        function.invoke(json!({ "sleep_ms": 200, "n": 1 })),
        function.invoke(json!({ "sleep_ms": 200, "n": 2 })),
    );
    let (first, second) = (first?, second?);
    assert_eq!(first.result.ok().map(|v| v["n"].clone()), Some(json!(1)));
    assert_eq!(second.result.ok().map(|v| v["n"].clone()), Some(json!(2)));
    assert!(first.duration >= Duration::from_millis(200) && second.duration >= Duration::from_millis(200));
    let logs = function.logs();
    let starts: Vec<usize> = [&first.request_id, &second.request_id]
        .iter()
        .filter_map(|id| logs.iter().position(|line| line.contains(id.as_str())))
        .collect();
    assert_eq!(starts.len(), 2, "{logs:#?}");
    function.shutdown().await
}
