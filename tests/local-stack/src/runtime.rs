//! A local AWS Lambda execution environment: runs a real function binary (built with `lambda_runtime`)
//! as a child process behind a local implementation of the
//! [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), so tests, the
//! demo and benchmarks invoke the very binary that is deployed.
//!
//! Like one Lambda execution environment, a [`FunctionProcess`] runs one invocation at a time, measures
//! the init phase (spawn to the first `GET /next`), gives each invocation its deadline and kills the
//! process when an invocation times out (later invocations then fail: nothing restarts it). The same
//! server also answers the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), so
//! another function can invoke this one with `AWS_ENDPOINT_URL_LAMBDA` set to [`FunctionProcess::endpoint`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The account id of every local ARN.
pub const ACCOUNT_ID: &str = "000000000000";
/// The default per-invocation timeout of a [`FunctionSpec`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default memory size of a [`FunctionSpec`].
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// How long the init phase may take before the first invocation fails (Lambda's limit too).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many log lines end the error of a failed invocation.
const LOG_TAIL_LINES: usize = 20;

/// What to run: the function binary, its name and configuration.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`, the end of its ARN): letters, digits, `-`, `_`.
    pub name: String,
    /// The function binary, see [`binary_path`].
    pub binary: PathBuf,
    /// The function's own environment, added after (so overriding) the Lambda-provided variables.
    pub env: Vec<(String, String)>,
    /// The timeout of each invocation.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (informative: memory is not limited).
    pub memory_mb: u32,
}

impl FunctionSpec {
    /// A spec with no extra environment, [`DEFAULT_TIMEOUT`] and [`DEFAULT_MEMORY_MB`].
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> FunctionSpec {
        FunctionSpec {
            name: name.into(),
            binary: binary.into(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            memory_mb: DEFAULT_MEMORY_MB,
        }
    }

    /// Adds one environment variable.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> FunctionSpec {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds environment variables, e.g. [`crate::moto::aws_env`].
    pub fn with_envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> FunctionSpec {
        self.env.extend(vars);
        self
    }

    /// Sets the per-invocation timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> FunctionSpec {
        self.timeout = timeout;
        self
    }

    /// Sets the memory size.
    pub fn with_memory_mb(mut self, memory_mb: u32) -> FunctionSpec {
        self.memory_mb = memory_mb;
        self
    }
}

/// The result of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The request id given to the function (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The function's response, or the error it reported.
    pub result: Result<serde_json::Value, FunctionError>,
    /// From the moment the function received the event to its response or error.
    pub duration: Duration,
}

/// An error a function reported (the body of `POST .../error` or `.../init/error`, in the format Lambda
/// returns to invokers).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionError {
    /// `errorType`, e.g. the error's type name.
    pub error_type: String,
    /// `errorMessage`.
    pub error_message: String,
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for FunctionError {}

/// `<target dir>/debug/<name>`: where `cargo build` puts a function binary (see [`crate::target_dir`]).
/// Integration tests of the crate owning the binary should prefer `env!("CARGO_BIN_EXE_<name>")`.
pub fn binary_path(name: &str) -> PathBuf {
    binary_path_in("debug", name)
}

/// `<target dir>/<profile dir>/<name>`; profiles `dev` and `test` live in `debug`, `bench` in `release`,
/// any other in the directory of its name.
pub fn binary_path_in(profile: &str, name: &str) -> PathBuf {
    let dir = match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    };
    crate::target_dir().join(dir).join(name)
}

/// A function binary running as a child process behind a local Runtime API server. Dropping it kills the
/// child; [`FunctionProcess::shutdown`] also waits for it.
pub struct FunctionProcess {
    api: Arc<Api>,
    endpoint: String,
    pid: Option<u32>,
    server: JoinHandle<()>,
}

impl fmt::Debug for FunctionProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionProcess")
            .field("name", &self.api.name)
            .field("endpoint", &self.endpoint)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl FunctionProcess {
    /// Starts the Runtime API server on a free port of 127.0.0.1 and the function binary with a clean
    /// Lambda environment: `PATH`, `HOME`, the variables Lambda sets (`AWS_LAMBDA_RUNTIME_API`,
    /// `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_REGION`...) and `spec.env`; nothing
    /// else of this process's environment (no `RUST_LOG`, no `AWS_*`). Returns without waiting for the
    /// init phase: see [`FunctionProcess::wait_ready`].
    pub async fn spawn(spec: FunctionSpec) -> Result<FunctionProcess> {
        let valid_name = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            bail!("invalid function name {:?}: use 1 to 64 letters, digits, '-' or '_'", spec.name);
        }
        if !spec.binary.is_file() {
            bail!("function binary {} of {} not found: build it first (cargo build)", spec.binary.display(), spec.name);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the Runtime API server on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (exit_tx, exit_rx) = watch::channel(None);
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (kill_tx, kill_rx) = oneshot::channel();
        let api = Arc::new(Api {
            arn: format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}", crate::moto::REGION, spec.name),
            name: spec.name.clone(),
            timeout: spec.timeout,
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            turn: tokio::sync::Mutex::new(()),
            started: Instant::now(),
            ready: watch::Sender::new(None),
            init_error: watch::Sender::new(None),
            exit: exit_rx,
            kill: Mutex::new(Some(kill_tx)),
            closed: watch::Sender::new(false),
            logs: Arc::new(Mutex::new(Vec::new())),
        });
        let router = routes(api.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!("the Runtime API server stopped: {e}");
            }
        });

        let mut command = tokio::process::Command::new(&spec.binary);
        command.env_clear();
        for name in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let log_stream = format!("local/[$LATEST]{}", uuid::Uuid::new_v4().simple());
        command
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream)
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", crate::moto::REGION)
            .env("TZ", ":UTC")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match crate::spawn::spawn_tokio(command).await {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(e.context(format!("cannot start function {} ({})", spec.name, spec.binary.display())));
            }
        };
        let pid = child.id();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(capture(stdout, api.logs.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(capture(stderr, api.logs.clone()));
        }
        tokio::spawn(async move {
            let result = tokio::select! {
                status = child.wait() => status,
                // Killed on request, or because the FunctionProcess is gone.
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let exit = match result {
                Ok(status) => Exit::Status(status),
                Err(e) => Exit::Unknown(format!("cannot wait for the process: {e}")),
            };
            exit_tx.send_replace(Some(exit));
        });
        Ok(FunctionProcess { api, endpoint: format!("http://{addr}"), pid, server })
    }

    /// Invokes the function with `payload` and waits for its response or error (one invocation at a
    /// time: concurrent calls queue). Fails if the function does not finish its init phase within
    /// [`INIT_TIMEOUT`], times out (the process is then killed, as Lambda does), exits, or reports an init
    /// error; the error names the exit status and ends with the function's last log lines.
    pub async fn invoke(&self, payload: serde_json::Value) -> Result<Invocation> {
        let body = serde_json::to_vec(&payload).context("cannot serialise the event")?;
        let raw = self.api.invoke(Bytes::from(body)).await;
        let request_id = raw.request_id;
        match raw.outcome {
            Ok(Outcome::Response(body)) => {
                let value = if body.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_slice(&body).with_context(|| {
                        format!(
                            "function {} answered request {request_id} with a body that is not JSON: {}",
                            self.api.name,
                            String::from_utf8_lossy(&body)
                        )
                    })?
                };
                Ok(Invocation { request_id, result: Ok(value), duration: raw.duration })
            }
            Ok(Outcome::Error(error)) => Ok(Invocation { request_id, result: Err(error), duration: raw.duration }),
            Err(failure) => {
                Err(anyhow!("function {}, request {request_id}: {failure}{}", self.api.name, self.api.log_tail()))
            }
        }
    }

    /// Waits until the function finished its init phase (its first `GET /next`), up to `timeout`, and
    /// returns the init duration. Fails if the process exits or reports an init error first.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration> {
        let mut ready = self.api.ready.subscribe();
        let mut exit = self.api.exit.clone();
        let mut init_error = self.api.init_error.subscribe();
        let failure = tokio::select! {
            biased;
            Ok(duration) = ready.wait_for(Option::is_some) => match *duration {
                Some(duration) => return Ok(duration),
                None => Failure::Internal("init duration lost".into()),
            },
            error = wait_init_error(&mut init_error) => Failure::InitError(error),
            exit = wait_exit(&mut exit) => Failure::Exited(exit),
            () = tokio::time::sleep(timeout) => Failure::InitTimeout(timeout),
        };
        Err(anyhow!("function {}: {failure}{}", self.api.name, self.api.log_tail()))
    }

    /// Every line the process wrote to stdout and stderr so far, in the order they were read. Lines arrive
    /// asynchronously: one printed just before a response may show up a moment after it (see
    /// [`FunctionProcess::wait_for_log`]).
    pub fn logs(&self) -> Vec<String> {
        self.api.logs.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits up to `timeout` for a log line containing `needle` and returns it.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = {
                let logs = self.api.logs.lock().unwrap_or_else(PoisonError::into_inner);
                logs.iter().find(|line| line.contains(needle)).cloned()
            };
            if let Some(line) = found {
                return Ok(line);
            }
            if Instant::now() >= deadline {
                bail!("function {} logged no line containing {needle:?}{}", self.api.name, self.api.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id of the function (`None` if it had already exited when spawned).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// From spawn to the function's first `GET /next`; `None` while it is still initialising.
    pub fn init_duration(&self) -> Option<Duration> {
        *self.api.ready.borrow()
    }

    /// The init error the function reported (`POST /runtime/init/error`), if any.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.api.init_error.borrow().clone()
    }

    /// How the process ended, once it has (`None` while it runs or if it could not be waited for).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match &*self.api.exit.borrow() {
            Some(Exit::Status(status)) => Some(*status),
            _ => None,
        }
    }

    /// The Runtime API and Invoke API endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.api.name
    }

    /// The function ARN, `arn:aws:lambda:us-east-1:000000000000:function:<name>`.
    pub fn arn(&self) -> &str {
        &self.api.arn
    }

    /// Kills the process, waits (up to 5 s) until it is gone and stops the server.
    pub async fn shutdown(self) -> Result<()> {
        self.api.stop();
        let mut exit = self.api.exit.clone();
        let waited = tokio::time::timeout(Duration::from_secs(5), wait_exit(&mut exit)).await;
        self.server.abort();
        if waited.is_err() {
            bail!("function {} (pid {:?}) did not exit within 5 s of being killed", self.api.name, self.pid);
        }
        Ok(())
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        self.api.stop();
        self.server.abort();
    }
}

/// The state of one execution environment, shared by the handle and the Runtime API handlers.
struct Api {
    name: String,
    arn: String,
    timeout: Duration,
    /// Events waiting for the function's `GET /next`.
    queue_tx: mpsc::UnboundedSender<Event>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    /// Where to send the outcome of the events the function received, by request id.
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Held for the whole of an invocation: one at a time.
    turn: tokio::sync::Mutex<()>,
    started: Instant,
    /// The init duration, set at the first `GET /next`.
    ready: watch::Sender<Option<Duration>>,
    init_error: watch::Sender<Option<FunctionError>>,
    /// Set when the process has ended.
    exit: watch::Receiver<Option<Exit>>,
    /// Asks the task owning the child to kill it (once).
    kill: Mutex<Option<oneshot::Sender<()>>>,
    /// Set on shutdown: pending `GET /next` requests give up.
    closed: watch::Sender<bool>,
    logs: Arc<Mutex<Vec<String>>>,
}

/// An invocation waiting for the function.
struct Event {
    request_id: String,
    payload: Bytes,
    /// Told when the function received the event.
    delivered: oneshot::Sender<Instant>,
    outcome: oneshot::Sender<Outcome>,
}

/// What the function answered.
enum Outcome {
    Response(Bytes),
    Error(FunctionError),
}

/// Why an invocation got no answer.
enum Failure {
    InitTimeout(Duration),
    InitError(FunctionError),
    Timeout(Duration),
    Exited(Exit),
    Internal(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::InitTimeout(limit) => write!(f, "init phase not finished within {limit:?}"),
            Failure::InitError(error) => write!(f, "init failed: {error}"),
            Failure::Timeout(limit) => write!(f, "timed out after {limit:?} (process killed)"),
            Failure::Exited(exit) => write!(f, "function process exited ({exit})"),
            Failure::Internal(what) => write!(f, "runtime harness failure: {what}"),
        }
    }
}

/// How the process ended.
#[derive(Debug, Clone)]
enum Exit {
    Status(ExitStatus),
    Unknown(String),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Status(status) => write!(f, "{status}"),
            Exit::Unknown(why) => f.write_str(why),
        }
    }
}

/// An invocation's outcome before it is mapped for [`FunctionProcess::invoke`] or the Invoke API.
struct RawInvocation {
    request_id: String,
    outcome: Result<Outcome, Failure>,
    duration: Duration,
}

impl Api {
    async fn invoke(&self, payload: Bytes) -> RawInvocation {
        let _turn = self.turn.lock().await;
        let request_id = uuid::Uuid::new_v4().to_string();
        let fail =
            |failure| RawInvocation { request_id: request_id.clone(), outcome: Err(failure), duration: Duration::ZERO };
        if let Some(exit) = self.exit.borrow().clone() {
            return fail(Failure::Exited(exit));
        }
        if let Some(error) = self.init_error.borrow().clone() {
            return fail(Failure::InitError(error));
        }
        let (delivered_tx, delivered_rx) = oneshot::channel();
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let event = Event { request_id: request_id.clone(), payload, delivered: delivered_tx, outcome: outcome_tx };
        if self.queue_tx.send(event).is_err() {
            return fail(Failure::Internal("the event queue is closed".into()));
        }
        let mut exit = self.exit.clone();
        let mut init_error = self.init_error.subscribe();
        // Until the function takes the event (after its init phase on the first invocation). Returning
        // drops `outcome_rx`, so `GET /next` will skip the abandoned event.
        let delivered = tokio::select! {
            biased;
            at = delivered_rx => match at {
                Ok(at) => at,
                Err(_) => return fail(Failure::Internal("the event was dropped".into())),
            },
            exit = wait_exit(&mut exit) => return fail(Failure::Exited(exit)),
            error = wait_init_error(&mut init_error) => return fail(Failure::InitError(error)),
            () = tokio::time::sleep(INIT_TIMEOUT) => return fail(Failure::InitTimeout(INIT_TIMEOUT)),
        };
        let outcome = tokio::select! {
            biased;
            outcome = outcome_rx => outcome.map_err(|_| Failure::Internal("the outcome was dropped".into())),
            exit = wait_exit(&mut exit) => Err(Failure::Exited(exit)),
            () = tokio::time::sleep_until((delivered + self.timeout).into()) => {
                self.take_in_flight(&request_id);
                self.kill();
                Err(Failure::Timeout(self.timeout))
            }
        };
        RawInvocation { request_id, outcome, duration: delivered.elapsed() }
    }

    fn take_in_flight(&self, request_id: &str) -> Option<oneshot::Sender<Outcome>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(request_id)
    }

    fn kill(&self) {
        if let Some(kill) = self.kill.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = kill.send(());
        }
    }

    /// Kills the process and makes pending `GET /next` requests give up.
    fn stop(&self) {
        self.closed.send_replace(true);
        self.kill();
    }

    /// Whether `requested` (a name, ARN or partial ARN, optionally qualified with `$LATEST`) is this
    /// function.
    fn is_named(&self, requested: &str) -> bool {
        let requested = requested.strip_suffix(":$LATEST").unwrap_or(requested);
        requested == self.name
            || requested.strip_suffix(self.name.as_str()).is_some_and(|prefix| prefix.ends_with(":function:"))
    }

    /// The last log lines, formatted to end an error message.
    fn log_tail(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        if logs.is_empty() {
            return "; the function logged nothing".into();
        }
        let tail = logs[logs.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        format!("; its last log lines:\n{tail}")
    }
}

/// Waits until the process has ended.
async fn wait_exit(exit: &mut watch::Receiver<Option<Exit>>) -> Exit {
    match exit.wait_for(Option::is_some).await {
        Ok(exit) => exit.clone().unwrap_or_else(|| Exit::Unknown("unknown".into())),
        Err(_) => Exit::Unknown("the task watching the process stopped".into()),
    }
}

/// Waits until the function reported an init error.
async fn wait_init_error(init_error: &mut watch::Receiver<Option<FunctionError>>) -> FunctionError {
    let error = match init_error.wait_for(Option::is_some).await {
        Ok(error) => error.clone(),
        Err(_) => None,
    };
    match error {
        Some(error) => error,
        // The sender lives as long as the Api: never resolve.
        None => std::future::pending().await,
    }
}

fn internal_error(message: &str) -> FunctionError {
    FunctionError { error_type: "LocalStack.Internal".into(), error_message: message.into() }
}

/// Appends every line `output` yields to `logs` until it closes.
async fn capture(output: impl AsyncRead + Unpin, logs: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']).to_owned();
                logs.lock().unwrap_or_else(PoisonError::into_inner).push(text);
            }
        }
    }
}

fn routes(api: Arc<Api>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_event))
        .route("/2018-06-01/runtime/invocation/{request_id}/response", post(invocation_response))
        .route("/2018-06-01/runtime/invocation/{request_id}/error", post(invocation_error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route("/2015-03-31/functions/{function}/invocations", post(invoke_api))
        .with_state(api)
}

/// `GET /runtime/invocation/next`: long-polls until an event is queued.
async fn next_event(State(api): State<Arc<Api>>) -> Response {
    api.ready.send_if_modified(|ready| {
        if ready.is_none() {
            *ready = Some(api.started.elapsed());
            true
        } else {
            false
        }
    });
    let mut closed = api.closed.subscribe();
    let event = {
        let mut queue = api.queue_rx.lock().await;
        loop {
            let event = tokio::select! {
                event = queue.recv() => event,
                _ = closed.wait_for(|closed| *closed) => None,
            };
            match event {
                // The invoker gave up (dropped its future): skip the event.
                Some(event) if event.outcome.is_closed() => continue,
                Some(event) => break event,
                None => {
                    return runtime_error(StatusCode::GONE, "ShuttingDown", "the execution environment is stopping");
                }
            }
        }
    };
    let deadline_ms =
        (SystemTime::now() + api.timeout).duration_since(UNIX_EPOCH).map(|since| since.as_millis()).unwrap_or_default();
    let trace_id = {
        let root = uuid::Uuid::new_v4().simple().to_string();
        let parent = uuid::Uuid::new_v4().simple().to_string();
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        format!("Root=1-{epoch:08x}-{};Parent={};Sampled=0", &root[..24], &parent[..16])
    };
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &event.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", &api.arn)
        .header("Lambda-Runtime-Trace-Id", trace_id)
        .body(axum::body::Body::from(event.payload));
    match response {
        Ok(response) => {
            let _ = event.delivered.send(Instant::now());
            api.in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(event.request_id, event.outcome);
            response
        }
        Err(e) => {
            let _ = event.outcome.send(Outcome::Error(internal_error(&format!("cannot build the event: {e}"))));
            runtime_error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", &e.to_string())
        }
    }
}

/// `POST /runtime/invocation/{id}/response`.
async fn invocation_response(State(api): State<Arc<Api>>, Path(request_id): Path<String>, body: Bytes) -> Response {
    match api.take_in_flight(&request_id) {
        Some(outcome) => {
            let _ = outcome.send(Outcome::Response(body));
            accepted()
        }
        None => unknown_request(&request_id),
    }
}

/// `POST /runtime/invocation/{id}/error`.
async fn invocation_error(
    State(api): State<Arc<Api>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match api.take_in_flight(&request_id) {
        Some(outcome) => {
            let _ = outcome.send(Outcome::Error(function_error(&headers, &body)));
            accepted()
        }
        None => unknown_request(&request_id),
    }
}

/// `POST /runtime/init/error`.
async fn init_error(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    api.init_error.send_replace(Some(function_error(&headers, &body)));
    accepted()
}

/// The error a runtime posted: its JSON body, else the `Lambda-Runtime-Function-Error-Type` header and
/// the raw body.
fn function_error(headers: &HeaderMap, body: &[u8]) -> FunctionError {
    serde_json::from_slice(body).unwrap_or_else(|_| FunctionError {
        error_type: headers
            .get("Lambda-Runtime-Function-Error-Type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("Unknown")
            .to_owned(),
        error_message: String::from_utf8_lossy(body).into_owned(),
    })
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn unknown_request(request_id: &str) -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("no invocation {request_id} is waiting for an answer"),
    )
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "errorType": error_type, "errorMessage": message }))).into_response()
}

/// `POST /2015-03-31/functions/{function}/invocations`: the Lambda Invoke API, `RequestResponse` (the
/// default), `Event` (answers 202 at once) and `DryRun` (204).
async fn invoke_api(
    State(api): State<Arc<Api>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !api.is_named(&function) {
        let message =
            format!("Function not found: arn:aws:lambda:{}:{ACCOUNT_ID}:function:{function}", crate::moto::REGION);
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message);
    }
    let payload = if body.is_empty() { Bytes::from_static(b"{}") } else { body };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        );
    }
    let invocation_type =
        headers.get("X-Amz-Invocation-Type").and_then(|value| value.to_str().ok()).unwrap_or("RequestResponse");
    match invocation_type {
        "RequestResponse" => {}
        "Event" => {
            tokio::spawn(async move {
                let raw = api.invoke(payload).await;
                if let Err(failure) = raw.outcome {
                    tracing::warn!("asynchronous invocation {} of {} failed: {failure}", raw.request_id, api.name);
                }
            });
            return StatusCode::ACCEPTED.into_response();
        }
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        other => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("unsupported X-Amz-Invocation-Type {other}"),
            );
        }
    }
    let raw = api.invoke(payload).await;
    let error = match raw.outcome {
        Ok(Outcome::Response(body)) => return invoke_answer(body, None),
        Ok(Outcome::Error(error)) => error,
        Err(Failure::InitError(error)) => error,
        Err(Failure::Timeout(limit) | Failure::InitTimeout(limit)) => FunctionError {
            error_type: "Sandbox.Timedout".into(),
            error_message: format!(
                "RequestId: {} Error: Task timed out after {:.2} seconds",
                raw.request_id,
                limit.as_secs_f64()
            ),
        },
        Err(Failure::Exited(exit)) => FunctionError {
            error_type: "Runtime.ExitError".into(),
            error_message: format!("RequestId: {} Error: Runtime exited with error: {exit}", raw.request_id),
        },
        Err(Failure::Internal(what)) => {
            return aws_error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", &what);
        }
    };
    match serde_json::to_vec(&error) {
        Ok(body) => invoke_answer(Bytes::from(body), Some("Unhandled")),
        Err(e) => aws_error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", &e.to_string()),
    }
}

/// A 200 answer of the Invoke API, with `X-Amz-Function-Error` when the function failed.
fn invoke_answer(body: Bytes, function_error: Option<&'static str>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("X-Amz-Executed-Version", HeaderValue::from_static("$LATEST"));
    if let Some(kind) = function_error {
        headers.insert("X-Amz-Function-Error", HeaderValue::from_static(kind));
    }
    response
}

/// An AWS REST-JSON error: the type in `X-Amzn-ErrorType` and in the body, as the SDK reads it.
fn aws_error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let mut response =
        (status, axum::Json(json!({ "__type": error_type, "Type": "User", "Message": message }))).into_response();
    response.headers_mut().insert("X-Amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}
