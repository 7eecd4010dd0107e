//! A local Amazon Transcribe streaming endpoint for the real `aws-sdk-transcribestreaming` client:
//! `StartStreamTranscription` (`POST /stream-transcription`) and `StartMedicalStreamTranscription`
//! (`POST /medical-stream-transcription`). moto does not serve Transcribe streaming.
//!
//! Transport. One port serves three ways, told apart by the first bytes of a connection:
//! - TLS (a self-signed certificate for `127.0.0.1`, ALPN `h2` then `http/1.1`): HTTP/2, the way the
//!   SDK talks to AWS. Use [`TranscribeStreamingServer::https_endpoint`] with
//!   [`TranscribeStreamingServer::sdk_config`] (an HTTP client that trusts the certificate), or give a
//!   spawned function `SSL_CERT_FILE` = [`TranscribeStreamingServer::certificate_file`].
//! - plain HTTP/2 with prior knowledge (h2c), for clients that speak it;
//! - plain HTTP/1.1, which is what the SDK's default client speaks to an `http://` endpoint: it picks
//!   HTTP/2 only when TLS negotiates it through ALPN. The event streams then travel as chunked bodies in
//!   both directions at once.
//!
//! Protocol. The request parameters are the documented `x-amzn-transcribe-*` headers; the request
//! body is an AWS event stream of `AudioEvent`s, each wrapped by the SDK in a signed envelope
//! (`:chunk-signature`, `:date`, the inner message as payload) and closed by an empty signed message;
//! the response body is an event stream of `TranscriptEvent`s and, on a fault, one exception message
//! (`:message-type` `exception`, `:exception-type` the documented name, JSON `{"Message": ...}`). A
//! request that fails validation, or a fault injected at start, is answered with an HTTP error
//! (`x-amzn-ErrorType` and the same JSON body) before any event, as the SDK's `send()` then reports it.
//! Signatures are required (a SigV4 `authorization` header, signed envelopes are counted) but not
//! verified: any static test credentials will do.
//!
//! Transcripts. It cannot recognise speech: it plays a [`Script`] of utterances aligned to the audio.
//! With 16-bit mono PCM, the audio received so far lasts `bytes / (sample rate * 2)` seconds; each
//! utterance yields its partial results as the audio passes points inside it and its final result once
//! the audio reaches its end offset (one `ResultId` per utterance and session). When the client ends its
//! audio stream, every utterance that has begun gets its final result and the stream ends cleanly; an
//! utterance whose audio never arrived is not transcribed.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::serve::lock;

mod script;
mod stream;
mod validate;
mod wire;

pub use script::{Script, Utterance};

type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// The documented exceptions of the Transcribe streaming API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    BadRequest,
    LimitExceeded,
    InternalFailure,
    Conflict,
    ServiceUnavailable,
}

impl ExceptionKind {
    /// The exception's name on the wire (`:exception-type`, `x-amzn-ErrorType`).
    pub fn name(self) -> &'static str {
        match self {
            ExceptionKind::BadRequest => "BadRequestException",
            ExceptionKind::LimitExceeded => "LimitExceededException",
            ExceptionKind::InternalFailure => "InternalFailureException",
            ExceptionKind::Conflict => "ConflictException",
            ExceptionKind::ServiceUnavailable => "ServiceUnavailableException",
        }
    }

    /// The HTTP status of the exception when it answers the request itself.
    pub fn status(self) -> StatusCode {
        match self {
            ExceptionKind::BadRequest => StatusCode::BAD_REQUEST,
            ExceptionKind::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            ExceptionKind::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            ExceptionKind::Conflict => StatusCode::CONFLICT,
            ExceptionKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The operation a session was started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    StartStreamTranscription,
    StartMedicalStreamTranscription,
}

/// What the endpoint accepts. Defaults: 8000 Hz, `pcm`, no vocabularies, an empty script.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub sample_rate: u32,
    pub media_encoding: String,
    /// Custom vocabulary names that exist.
    pub vocabularies: HashSet<String>,
    /// Vocabulary filter names that exist.
    pub vocabulary_filters: HashSet<String>,
    /// The script every session plays unless a selector picks another.
    pub script: Script,
    /// A session that receives no audio for this long ends with a `BadRequestException`, as the service
    /// ends it after 15 seconds.
    pub audio_idle_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            sample_rate: 8000,
            media_encoding: "pcm".to_string(),
            vocabularies: HashSet::new(),
            vocabulary_filters: HashSet::new(),
            script: Script::new(Vec::new()),
            audio_idle_timeout: Duration::from_secs(15),
        }
    }
}

impl EndpointConfig {
    pub fn with_script(mut self, script: Script) -> Self {
        self.script = script;
        self
    }

    pub fn with_audio_idle_timeout(mut self, timeout: Duration) -> Self {
        self.audio_idle_timeout = timeout;
        self
    }

    pub fn with_vocabulary(mut self, name: impl Into<String>) -> Self {
        self.vocabularies.insert(name.into());
        self
    }

    pub fn with_vocabulary_filter(mut self, name: impl Into<String>) -> Self {
        self.vocabulary_filters.insert(name.into());
        self
    }
}

/// A fault for the next session that starts (one fault per session, in the order injected).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer the request with this exception (HTTP error) instead of starting the stream.
    RejectAtStart(ExceptionKind),
    /// After `results` result events, send this exception as an event-stream exception message and end
    /// the stream.
    ExceptionAfter { results: usize, exception: ExceptionKind },
    /// Wait this long before sending each result event.
    Slow(Duration),
    /// After `results` result events, reset the response stream (an HTTP/2 `RST_STREAM`, or an HTTP/1.1
    /// body cut short).
    ResetAfter { results: usize },
    /// After `results` result events, close the TCP connection (every session on it ends).
    DropConnectionAfter { results: usize },
}

/// One result event sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentResult {
    pub result_id: String,
    pub transcript: String,
    pub is_partial: bool,
    pub start_time: f64,
    pub end_time: f64,
    /// Seconds of audio received when it was sent.
    pub audio_seconds: f64,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still streaming.
    Open,
    /// The client ended its audio stream; every due final result was sent.
    Completed,
    /// Refused before streaming (validation or an injected fault).
    Rejected {
        exception: ExceptionKind,
        message: String,
    },
    /// Ended by an exception message mid-stream.
    Exception {
        exception: ExceptionKind,
        message: String,
    },
    Reset,
    ConnectionDropped,
    /// The client went away (its response stream was dropped) before the end.
    ClientGone,
}

/// Everything seen of one request.
#[derive(Debug, Clone)]
pub struct Session {
    /// The order the request arrived in, from 0.
    pub index: usize,
    pub operation: Option<Operation>,
    /// `HTTP/2.0` or `HTTP/1.1`.
    pub http_version: String,
    pub tls: bool,
    /// Request headers, lower-case names (the SigV4 `authorization` header included).
    pub headers: BTreeMap<String, String>,
    /// The session id answered (the request's, else a generated one).
    pub session_id: String,
    pub audio_events: usize,
    pub audio_bytes: usize,
    /// Events that came in a signed envelope.
    pub signed_events: usize,
    /// The client sent the end of its audio stream (an empty signed message).
    pub audio_ended: bool,
    pub results: Vec<SentResult>,
    pub outcome: Outcome,
}

impl Session {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn finals(&self) -> Vec<&SentResult> {
        self.results.iter().filter(|r| !r.is_partial).collect()
    }

    pub fn partials(&self) -> Vec<&SentResult> {
        self.results.iter().filter(|r| r.is_partial).collect()
    }
}

type ScriptSelector = Arc<dyn Fn(&Session) -> Option<Script> + Send + Sync>;

struct Inner {
    config: EndpointConfig,
    selector: Option<ScriptSelector>,
    faults: VecDeque<Fault>,
    sessions: Vec<Session>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running local Transcribe streaming endpoint on 127.0.0.1; stops when dropped.
pub struct TranscribeStreamingServer {
    addr: SocketAddr,
    shared: Shared,
    certificate_pem: String,
    certificate_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl TranscribeStreamingServer {
    /// Listens on a free port of 127.0.0.1 with a new self-signed certificate.
    pub async fn start(config: EndpointConfig) -> Result<TranscribeStreamingServer> {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .context("generating the endpoint's certificate")?;
        let certificate_pem = certified.cert.pem();
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key_der)
            .context("TLS configuration")?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let certificate_file =
            std::env::temp_dir().join(format!("transcribe-streaming-{}-{}.pem", std::process::id(), addr.port()));
        std::fs::write(&certificate_file, &certificate_pem)
            .with_context(|| format!("writing {}", certificate_file.display()))?;

        let shared =
            Arc::new(Mutex::new(Inner { config, selector: None, faults: VecDeque::new(), sessions: Vec::new() }));
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            // Owned here, so stopping the server (aborting this task) closes every connection too.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                while connections.try_join_next().is_some() {}
                connections.spawn(serve_connection(tcp, acceptor.clone(), accept_shared.clone()));
            }
        });
        Ok(TranscribeStreamingServer { addr, shared, certificate_pem, certificate_file, task })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:PORT`: HTTP/2 over TLS, as AWS serves it (trust [`Self::certificate_pem`]).
    pub fn https_endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT`: HTTP/1.1 for the SDK's default client, or h2c for a client with prior
    /// knowledge.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The self-signed certificate (PEM) of the TLS endpoint.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The certificate in a file, for a child process's `SSL_CERT_FILE` (the SDK's default client then
    /// trusts it, and only it); removed when the server is dropped.
    pub fn certificate_file(&self) -> &Path {
        &self.certificate_file
    }

    /// SDK configuration for the HTTPS endpoint: region `us-east-1`, static test credentials, an HTTP
    /// client trusting only this server's certificate.
    pub fn sdk_config(&self) -> Result<aws_sdk_transcribestreaming::Config> {
        use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
        let trust = TrustStore::empty().with_pem_certificate(self.certificate_pem.as_bytes());
        let tls = TlsContext::builder().with_trust_store(trust).build().context("TLS context")?;
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls)
            .build_https();
        Ok(self.config_builder(&self.https_endpoint()).http_client(http_client).build())
    }

    /// SDK configuration for the plain-HTTP endpoint with the SDK's default HTTP client (HTTP/1.1).
    pub fn plain_http_sdk_config(&self) -> aws_sdk_transcribestreaming::Config {
        self.config_builder(&self.http_endpoint()).build()
    }

    fn config_builder(&self, endpoint: &str) -> aws_sdk_transcribestreaming::config::Builder {
        use aws_sdk_transcribestreaming::config::{BehaviorVersion, Credentials, Region};
        aws_sdk_transcribestreaming::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDLOCALSTACK", "local-stack-secret", None, None, "local-stack"))
            .endpoint_url(endpoint)
    }

    /// A client of the HTTPS endpoint (HTTP/2).
    pub fn client(&self) -> Result<aws_sdk_transcribestreaming::Client> {
        Ok(aws_sdk_transcribestreaming::Client::from_conf(self.sdk_config()?))
    }

    /// Plays `script` in the sessions that start from now on (unless the selector picks another).
    pub fn set_script(&self, script: Script) {
        lock(&self.shared).config.script = script;
    }

    /// Picks a session's script from its request (headers, operation); `None` plays the default one.
    pub fn set_script_selector(&self, selector: impl Fn(&Session) -> Option<Script> + Send + Sync + 'static) {
        lock(&self.shared).selector = Some(Arc::new(selector));
    }

    pub fn add_vocabulary(&self, name: impl Into<String>) {
        lock(&self.shared).config.vocabularies.insert(name.into());
    }

    pub fn add_vocabulary_filter(&self, name: impl Into<String>) {
        lock(&self.shared).config.vocabulary_filters.insert(name.into());
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared).faults.push_back(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Every request so far, in arrival order.
    pub fn sessions(&self) -> Vec<Session> {
        lock(&self.shared).sessions.clone()
    }

    /// Waits until `count` sessions exist and none is open, or `timeout` passes; returns the sessions.
    pub async fn wait_for_sessions(&self, count: usize, timeout: Duration) -> Vec<Session> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sessions = self.sessions();
            let done = sessions.len() >= count && sessions.iter().all(|s| s.outcome != Outcome::Open);
            if done || tokio::time::Instant::now() >= deadline {
                return sessions;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TranscribeStreamingServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.certificate_file);
    }
}

/// What a connection's requests need to know about it.
#[derive(Clone)]
struct Connection {
    shared: Shared,
    tls: bool,
    /// Notified to close the connection (the `DropConnectionAfter` fault).
    kill: Arc<Notify>,
}

const H2_PREFACE_START: &[u8] = b"PRI";
const TLS_HANDSHAKE: u8 = 0x16;

async fn serve_connection(tcp: TcpStream, acceptor: tokio_rustls::TlsAcceptor, shared: Shared) {
    let mut first = [0u8; 3];
    let peeked = loop {
        match tcp.peek(&mut first).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n >= first.len() || first[0] == TLS_HANDSHAKE => break n,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    };
    let kill = Arc::new(Notify::new());
    if first[0] == TLS_HANDSHAKE {
        let Ok(tls) = acceptor.accept(tcp).await else { return };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let conn = Connection { shared, tls: true, kill };
        serve_http(TokioIo::new(tls), h2, conn).await;
    } else {
        let h2 = first[..peeked] == *H2_PREFACE_START;
        let conn = Connection { shared, tls: false, kill };
        serve_http(TokioIo::new(tcp), h2, conn).await;
    }
}

async fn serve_http<IO>(io: IO, h2: bool, conn: Connection)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let kill = conn.kill.clone();
    let service = hyper::service::service_fn(move |request| {
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(handle(request, conn).await) }
    });
    if h2 {
        let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service);
        tokio::select! {
            _ = served => {}
            () = kill.notified() => {}
        }
    } else {
        let served = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        tokio::select! {
            _ = served => {}
            () = kill.notified() => {}
        }
    }
}

async fn handle(request: Request<Incoming>, conn: Connection) -> Response<ResponseBody> {
    let operation = match (request.method().as_str(), request.uri().path().trim_end_matches('/')) {
        ("POST", "/stream-transcription") => Some(Operation::StartStreamTranscription),
        ("POST", "/medical-stream-transcription") => Some(Operation::StartMedicalStreamTranscription),
        _ => None,
    };
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let session_id =
        headers.get("x-amzn-transcribe-session-id").cloned().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut session = Session {
        index: 0,
        operation,
        http_version: format!("{:?}", request.version()),
        tls: conn.tls,
        headers,
        session_id,
        audio_events: 0,
        audio_bytes: 0,
        signed_events: 0,
        audio_ended: false,
        results: Vec::new(),
        outcome: Outcome::Open,
    };

    let (writer, echoed) = {
        let mut inner = lock(&conn.shared);
        let index = inner.sessions.len();
        session.index = index;
        // A request that fails validation consumes no fault: it never starts a session.
        let mut refusal = match operation {
            None => Some((
                ExceptionKind::BadRequest,
                format!("unknown operation {} {}", request.method(), request.uri().path()),
            )),
            Some(operation) => validate::validate(operation, &session, &inner.config)
                .err()
                .map(|message| (ExceptionKind::BadRequest, message)),
        };
        let fault = if refusal.is_none() { inner.faults.pop_front() } else { None };
        if let Some(Fault::RejectAtStart(kind)) = fault {
            let message = format!("{} injected at the start of session {}", kind.name(), session.session_id);
            refusal = Some((kind, message));
        }
        if let Some((exception, message)) = refusal {
            session.outcome = Outcome::Rejected { exception, message: message.clone() };
            inner.sessions.push(session);
            return wire::http_error(exception, &message);
        }
        let script =
            inner.selector.clone().and_then(|select| select(&session)).unwrap_or_else(|| inner.config.script.clone());
        let writer = stream::Writer {
            conn: conn.clone(),
            index,
            script,
            fault,
            bytes_per_second: f64::from(inner.config.sample_rate) * 2.0,
            idle_timeout: inner.config.audio_idle_timeout,
            medical: operation == Some(Operation::StartMedicalStreamTranscription),
        };
        let echoed = echo_headers(&session);
        inner.sessions.push(session);
        (writer, echoed)
    };

    let frames = stream::start(request.into_body(), writer);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let headers = response.headers_mut();
    for (name, value) in echoed {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(&value))
        {
            headers.insert(name, value);
        }
    }
    response
}

/// The response headers: the request id, the session id and the request's transcription parameters
/// echoed, as the API answers them.
fn echo_headers(session: &Session) -> Vec<(String, String)> {
    let mut out = vec![
        ("content-type".to_string(), "application/vnd.amazon.eventstream".to_string()),
        ("x-amzn-request-id".to_string(), format!("local-{}-{}", session.index, session.session_id)),
        ("x-amzn-transcribe-session-id".to_string(), session.session_id.clone()),
    ];
    for (name, value) in &session.headers {
        if name.starts_with("x-amzn-transcribe-") && name != "x-amzn-transcribe-session-id" {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}
