//! A counting, timing reverse proxy for the benchmarks: put it in front of moto (point a function's
//! `AWS_ENDPOINT_URL` at [`CountingProxy::endpoint`]) or the Salesforce emulator, and it forwards every
//! request unchanged and records what it was (`X-Amz-Target` such as `AmazonSSM.GetParameter` when
//! the client sent one, else the method and the first path segment), its status and when the
//! upstream was busy with it. `make bench` counts the SSM calls of each function this way, and
//! subtracts the time the emulators spent answering from the function's cold start.
//!
//! Bodies are buffered whole, so do not put it in front of a streaming endpoint (Kinesis Video
//! GetMedia holds its connection open).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::serve::LocalServer;

/// How long one forwarded request may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// One forwarded request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxiedRequest {
    /// `X-Amz-Target` (e.g. `AmazonSSM.GetParameter`), else `METHOD /first-segment`.
    pub operation: String,
    /// The upstream's status; 502 when the upstream could not be reached.
    pub status: u16,
    /// When the request reached the proxy, since the proxy's epoch.
    pub start: Duration,
    /// When the upstream's whole answer was read, since the proxy's epoch.
    pub end: Duration,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    started: Instant,
    requests: Mutex<Vec<ProxiedRequest>>,
}

/// A running proxy on 127.0.0.1; stops when dropped.
pub struct CountingProxy {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl CountingProxy {
    /// Forwards to `upstream` (`http://host:port`, no trailing slash) from a free port of 127.0.0.1.
    pub async fn start(upstream: &str) -> Result<CountingProxy> {
        Self::start_with_epoch(upstream, Instant::now()).await
    }

    /// As [`CountingProxy::start`], with request times measured from `epoch`, so that several proxies
    /// share one clock.
    pub async fn start_with_epoch(upstream: &str, epoch: Instant) -> Result<CountingProxy> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .context("cannot build the proxy's HTTP client")?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            started: epoch,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        Ok(CountingProxy { server: LocalServer::start(app, "the counting proxy").await?, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// Now, on the clock of [`ProxiedRequest::start`] and [`ProxiedRequest::end`].
    pub fn now(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The requests that arrived in `[from, to)` (instants of [`CountingProxy::now`]).
    pub fn requests_between(&self, from: Duration, to: Duration) -> Vec<ProxiedRequest> {
        self.requests().into_iter().filter(|r| r.start >= from && r.start < to).collect()
    }
}

/// How many of `requests` are SSM parameter reads (`GetParameter`, `GetParameters`,
/// `GetParametersByPath`).
pub fn ssm_reads(requests: &[ProxiedRequest]) -> usize {
    requests.iter().filter(|r| is_ssm_read(&r.operation)).count()
}

/// Whether an operation name is an SSM parameter read.
pub fn is_ssm_read(operation: &str) -> bool {
    matches!(operation, "AmazonSSM.GetParameter" | "AmazonSSM.GetParameters" | "AmazonSSM.GetParametersByPath")
}

/// The total time covered by at least one of `intervals` (overlaps counted once).
pub fn busy_time(intervals: &[(Duration, Duration)]) -> Duration {
    let mut sorted: Vec<(Duration, Duration)> = intervals.iter().copied().filter(|(s, e)| e > s).collect();
    sorted.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (start, end) in sorted {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// The name a request is counted under.
fn operation(method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.to_owned();
    }
    let first = uri.path().trim_start_matches('/').split('/').next().unwrap_or("");
    format!("{method} /{first}")
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let start = shared.started.elapsed();
    let op = operation(&method, &uri, &headers);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared.client.request(method.clone(), format!("{}{path}", shared.upstream)).body(body);
    for (name, value) in &headers {
        let hop = [header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING];
        if !hop.contains(name) {
            request = request.header(name, value);
        }
    }
    let (status, response) = match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let answer_headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    for (name, value) in &answer_headers {
                        if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
                            response.headers_mut().append(name, value.clone());
                        }
                    }
                    (status.as_u16(), response)
                }
                Err(e) => (502, bad_gateway(&e)),
            }
        }
        Err(e) => (502, bad_gateway(&e)),
    };
    let end = shared.started.elapsed();
    shared.requests.lock().unwrap_or_else(PoisonError::into_inner).push(ProxiedRequest {
        operation: op,
        status,
        start,
        end,
    });
    response
}

fn bad_gateway(e: &reqwest::Error) -> Response {
    (StatusCode::BAD_GATEWAY, format!("counting proxy: the upstream failed: {e}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn busy_time_counts_overlaps_once() {
        let cases: &[(&[(u64, u64)], u64)] = &[
            (&[], 0),
            (&[(0, 10)], 10),
            (&[(0, 10), (5, 15)], 15),
            (&[(0, 10), (20, 30)], 20),
            (&[(20, 30), (0, 10), (2, 4)], 20),
            (&[(0, 10), (10, 20)], 20),
            (&[(5, 5)], 0),
        ];
        for (intervals, want) in cases {
            let intervals: Vec<_> = intervals.iter().map(|(s, e)| (ms(*s), ms(*e))).collect();
            assert_eq!(busy_time(&intervals), ms(*want), "{intervals:?}");
        }
    }

    #[test]
    fn ssm_reads_are_the_parameter_reads() {
        for (op, read) in [
            ("AmazonSSM.GetParameter", true),
            ("AmazonSSM.GetParameters", true),
            ("AmazonSSM.GetParametersByPath", true),
            ("AmazonSSM.PutParameter", false),
            ("Transcribe.StartTranscriptionJob", false),
            ("GET /bucket", false),
        ] {
            assert_eq!(is_ssm_read(op), read, "{op}");
        }
    }

    #[test]
    fn operations_are_named_by_target_else_method_and_first_segment() {
        let mut headers = HeaderMap::new();
        let uri: Uri = "/ctr-backup/abc?x=1".parse().unwrap();
        assert_eq!(operation(&Method::PUT, &uri, &headers), "PUT /ctr-backup");
        headers.insert("x-amz-target", "AmazonSSM.GetParameter".parse().unwrap());
        assert_eq!(operation(&Method::POST, &"/".parse().unwrap(), &headers), "AmazonSSM.GetParameter");
    }

    #[tokio::test]
    async fn forwards_and_counts() {
        let upstream = Router::new().fallback(|headers: HeaderMap, body: Bytes| async move {
            let target = headers.get("x-amz-target").map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default();
            (StatusCode::CREATED, format!("{target}:{}", String::from_utf8_lossy(&body)))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, upstream).await.unwrap() });
        let proxy = CountingProxy::start(&format!("http://{addr}")).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let answer = client
            .post(format!("{}/", proxy.endpoint()))
            .header("X-Amz-Target", "AmazonSSM.GetParameter")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        assert_eq!(answer.text().await.unwrap(), "AmazonSSM.GetParameter:hello");
        client.get(format!("{}/bucket/key", proxy.endpoint())).send().await.unwrap();
        let requests = proxy.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(ssm_reads(&requests), 1);
        assert_eq!(requests[1].operation, "GET /bucket");
        assert_eq!(requests[1].status, 201);
        assert!(requests.iter().all(|r| r.end >= r.start));
    }
}
