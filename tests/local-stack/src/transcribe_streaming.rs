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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result};
use aws_sdk_transcribestreaming::types::{
    LanguageCode, MediaEncoding, MedicalContentIdentificationType, Specialty, Type, VocabularyFilterMethod,
};
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, stream};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};

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

/// One utterance of a script: its text and where it lies in the audio (seconds from the start of the
/// session's audio).
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

impl Utterance {
    pub fn new(text: impl Into<String>, start: f64, end: f64) -> Utterance {
        Utterance { text: text.into(), start, end }
    }
}

/// What a session "recognises": utterances in audio order, and how many partial results precede each
/// final one (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub utterances: Vec<Utterance>,
    pub partials: usize,
}

impl Script {
    /// A script with two partial results per utterance.
    pub fn new(utterances: Vec<Utterance>) -> Script {
        Script { utterances, partials: 2 }
    }

    pub fn with_partials(mut self, partials: usize) -> Script {
        self.partials = partials.max(1);
        self
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
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            sample_rate: 8000,
            media_encoding: "pcm".to_string(),
            vocabularies: HashSet::new(),
            vocabulary_filters: HashSet::new(),
            script: Script::new(Vec::new()),
        }
    }
}

impl EndpointConfig {
    pub fn with_script(mut self, script: Script) -> Self {
        self.script = script;
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

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve_connection(tcp, acceptor.clone(), accept_shared.clone()));
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

fn exception_payload(message: &str) -> Bytes {
    Bytes::from(json!({ "Message": message }).to_string())
}

fn http_error(exception: ExceptionKind, message: &str) -> Response<ResponseBody> {
    let body = Full::new(exception_payload(message)).map_err(|never| match never {}).boxed();
    let mut response = Response::new(body);
    *response.status_mut() = exception.status();
    let headers = response.headers_mut();
    headers.insert("x-amzn-errortype", hyper::header::HeaderValue::from_static(exception.name()));
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
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

    let (index, fault, script, sample_rate) = {
        let mut inner = lock(&conn.shared);
        let index = inner.sessions.len();
        session.index = index;
        // A request that fails validation consumes no fault: it never starts a session.
        let mut refusal = match operation {
            None => Some((
                ExceptionKind::BadRequest,
                format!("unknown operation {} {}", request.method(), request.uri().path()),
            )),
            Some(operation) => {
                validate(operation, &session, &inner.config).err().map(|message| (ExceptionKind::BadRequest, message))
            }
        };
        let fault = if refusal.is_none() { inner.faults.pop_front() } else { None };
        if let Some(Fault::RejectAtStart(kind)) = fault {
            let message = format!("{} injected at the start of session {}", kind.name(), session.session_id);
            refusal = Some((kind, message));
        }
        if let Some((exception, message)) = refusal {
            session.outcome = Outcome::Rejected { exception, message: message.clone() };
            inner.sessions.push(session);
            return http_error(exception, &message);
        }
        let script =
            inner.selector.clone().and_then(|select| select(&session)).unwrap_or_else(|| inner.config.script.clone());
        let sample_rate = inner.config.sample_rate;
        inner.sessions.push(session);
        (index, fault, script, sample_rate)
    };

    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let (body_tx, body_rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
    tokio::spawn(read_audio(request.into_body(), conn.shared.clone(), index, progress_tx));
    let medical = operation == Some(Operation::StartMedicalStreamTranscription);
    tokio::spawn(write_results(
        Writer { conn: conn.clone(), index, script, fault, bytes_per_second: f64::from(sample_rate) * 2.0, medical },
        progress_rx,
        body_tx,
    ));

    let frames = stream::unfold(body_rx, |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) });
    let body = StreamBody::new(frames.fuse());
    let mut response = Response::new(BodyExt::boxed(body));
    let inner = lock(&conn.shared);
    let session = &inner.sessions[index];
    let headers = response.headers_mut();
    for (name, value) in echo_headers(session) {
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

/// Checks the request parameters; the error names the offending value.
fn validate(operation: Operation, session: &Session, config: &EndpointConfig) -> Result<(), String> {
    let header = |name: &str| session.header(&format!("x-amzn-transcribe-{name}"));
    let required =
        |name: &str| header(name).ok_or_else(|| format!("missing required parameter x-amzn-transcribe-{name}"));
    if !session.header("authorization").is_some_and(|auth| auth.starts_with("AWS4-HMAC-SHA256 ")) {
        return Err("the request is not signed with AWS Signature Version 4".to_string());
    }
    let content_type = session.header("content-type").unwrap_or_default();
    if content_type != "application/vnd.amazon.eventstream" {
        return Err(format!("content type {content_type:?} is not application/vnd.amazon.eventstream"));
    }

    let language = required("language-code")?;
    let known = match operation {
        Operation::StartStreamTranscription => LanguageCode::values().contains(&language),
        // Medical transcription is documented for US English only.
        Operation::StartMedicalStreamTranscription => language == "en-US",
    };
    if !known {
        return Err(format!("language code {language:?} is not supported by {operation:?}"));
    }
    let rate = required("sample-rate")?;
    if rate.parse::<u32>().ok() != Some(config.sample_rate) {
        return Err(format!(
            "sample rate {rate:?} does not match the audio this endpoint accepts ({} Hz)",
            config.sample_rate
        ));
    }
    let encoding = required("media-encoding")?;
    if !MediaEncoding::values().contains(&encoding) || encoding != config.media_encoding {
        return Err(format!(
            "media encoding {encoding:?} is not supported here (expected {:?})",
            config.media_encoding
        ));
    }
    if let Some(name) = header("vocabulary-name") {
        if !config.vocabularies.contains(name) {
            return Err(format!("the requested vocabulary {name:?} couldn't be found"));
        }
    }
    if let Some(name) = header("vocabulary-filter-name") {
        if !config.vocabulary_filters.contains(name) {
            return Err(format!("the requested vocabulary filter {name:?} couldn't be found"));
        }
    }
    if let Some(method) = header("vocabulary-filter-method") {
        if !VocabularyFilterMethod::values().contains(&method) {
            return Err(format!("vocabulary filter method {method:?} is not one of mask, remove, tag"));
        }
        if header("vocabulary-filter-name").is_none() {
            return Err(format!("vocabulary filter method {method:?} needs a vocabulary filter name"));
        }
    }
    if operation == Operation::StartMedicalStreamTranscription {
        let specialty = required("specialty")?;
        if !Specialty::values().contains(&specialty) {
            return Err(format!("specialty {specialty:?} is not a medical specialty Transcribe supports"));
        }
        let kind = required("type")?;
        if !Type::values().contains(&kind) {
            return Err(format!("type {kind:?} is not CONVERSATION or DICTATION"));
        }
        if let Some(identification) = header("content-identification-type") {
            if !MedicalContentIdentificationType::values().contains(&identification) {
                return Err(format!("content identification type {identification:?} is not PHI"));
            }
        }
    }
    Ok(())
}

/// The audio stream as the writer sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Progress {
    bytes: usize,
    ended: bool,
    /// A malformed event: the message to answer with.
    failed: bool,
}

fn record<T>(shared: &Shared, index: usize, update: impl FnOnce(&mut Session) -> T) -> Option<T> {
    lock(shared).sessions.get_mut(index).map(update)
}

/// Reads the request's event stream: unwraps each signed envelope, counts the audio and publishes the
/// progress.
async fn read_audio(mut body: Incoming, shared: Shared, index: usize, progress: watch::Sender<Progress>) {
    let mut buffer = BytesMut::new();
    let mut decoder = MessageFrameDecoder::new();
    let mut state = Progress::default();
    loop {
        match decoder.decode_frame(&mut buffer) {
            Ok(DecodedFrame::Complete(envelope)) => match unwrap_envelope(&envelope) {
                Ok(Unwrapped::End) => {
                    state.ended = true;
                    record(&shared, index, |s| {
                        s.signed_events += 1;
                        s.audio_ended = true;
                    });
                    let _ = progress.send(state);
                    return;
                }
                Ok(Unwrapped::Audio { bytes, signed }) => {
                    state.bytes += bytes;
                    record(&shared, index, |s| {
                        s.audio_events += 1;
                        s.audio_bytes += bytes;
                        s.signed_events += usize::from(signed);
                    });
                    let _ = progress.send(state);
                    continue;
                }
                Ok(Unwrapped::Other { signed }) => {
                    record(&shared, index, |s| s.signed_events += usize::from(signed));
                    continue;
                }
                Err(_) => {
                    state.failed = true;
                    let _ = progress.send(state);
                    return;
                }
            },
            Ok(DecodedFrame::Incomplete) => {}
            Err(_) => {
                state.failed = true;
                let _ = progress.send(state);
                return;
            }
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
            // The request body ended without the end-of-stream message, or broke.
            None | Some(Err(_)) => {
                state.ended = true;
                let _ = progress.send(state);
                return;
            }
        }
    }
}

enum Unwrapped {
    Audio { bytes: usize, signed: bool },
    Other { signed: bool },
    End,
}

fn string_header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// A signed envelope carries `:chunk-signature` and the inner message as payload; an empty one ends the
/// stream. An unsigned event is taken as it is.
fn unwrap_envelope(envelope: &Message) -> Result<Unwrapped, String> {
    let signed = envelope.headers().iter().any(|h| h.name().as_str() == ":chunk-signature");
    let inner = if signed {
        if envelope.payload().is_empty() {
            return Ok(Unwrapped::End);
        }
        read_message_from(envelope.payload().clone()).map_err(|e| format!("malformed signed event: {e}"))?
    } else {
        envelope.clone()
    };
    match (string_header(&inner, ":message-type"), string_header(&inner, ":event-type")) {
        (Some("event"), Some("AudioEvent")) => Ok(Unwrapped::Audio { bytes: inner.payload().len(), signed }),
        (Some("event"), Some(_)) => Ok(Unwrapped::Other { signed }),
        (kind, event) => Err(format!("unexpected message type {kind:?} / event {event:?}")),
    }
}

struct Writer {
    conn: Connection,
    index: usize,
    script: Script,
    fault: Option<Fault>,
    bytes_per_second: f64,
    medical: bool,
}

/// One planned result: an utterance's partial (`words` of its words, due at `due` seconds) or final.
#[derive(Debug, Clone)]
struct Planned {
    utterance: usize,
    due: f64,
    words: usize,
    is_final: bool,
}

fn plan(script: &Script) -> Vec<Planned> {
    let mut planned = Vec::new();
    for (utterance, u) in script.utterances.iter().enumerate() {
        let total = u.text.split_whitespace().count().max(1);
        let partials = script.partials.max(1);
        for k in 1..=partials {
            let fraction = k as f64 / (partials + 1) as f64;
            let words = ((total as f64 * fraction).ceil() as usize).clamp(1, total);
            planned.push(Planned { utterance, due: u.start + (u.end - u.start) * fraction, words, is_final: false });
        }
        planned.push(Planned { utterance, due: u.end, words: total, is_final: true });
    }
    planned.sort_by(|a, b| a.due.total_cmp(&b.due).then(a.utterance.cmp(&b.utterance)));
    planned
}

fn exception_message(kind: ExceptionKind, message: &str) -> Message {
    Message::new(exception_payload(message))
        .add_header(Header::new(":message-type", HeaderValue::String("exception".into())))
        .add_header(Header::new(":exception-type", HeaderValue::String(kind.name().into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
}

fn event_message(payload: &Value) -> Message {
    Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
        .add_header(Header::new(":event-type", HeaderValue::String("TranscriptEvent".into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
}

fn frame(message: &Message) -> Result<Frame<Bytes>, std::io::Error> {
    let mut buffer = Vec::new();
    write_message_to(message, &mut buffer).map_err(std::io::Error::other)?;
    Ok(Frame::data(Bytes::from(buffer)))
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The `TranscriptEvent` JSON of one result. Word items are spread evenly over the utterance.
fn transcript_event(u: &Utterance, p: &Planned, result_id: &str, medical: bool) -> (Value, SentResult) {
    let words: Vec<&str> = u.text.split_whitespace().collect();
    let per_word = (u.end - u.start) / words.len().max(1) as f64;
    let shown = &words[..p.words.min(words.len())];
    let transcript = shown.join(" ");
    let end_time = if p.is_final { u.end } else { p.due };
    let items: Vec<Value> = shown
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let mut item = json!({
                "StartTime": round_ms(u.start + per_word * i as f64),
                "EndTime": round_ms(u.start + per_word * (i + 1) as f64),
                "Type": "pronunciation",
                "Content": word,
            });
            if p.is_final {
                item["Confidence"] = json!(1.0);
            }
            if !medical {
                item["VocabularyFilterMatch"] = json!(false);
                item["Stable"] = json!(p.is_final);
            }
            item
        })
        .collect();
    let mut alternative = json!({ "Transcript": transcript, "Items": items });
    if medical {
        alternative["Entities"] = json!([]);
    }
    let payload = json!({ "Transcript": { "Results": [{
        "ResultId": result_id,
        "StartTime": round_ms(u.start),
        "EndTime": round_ms(end_time),
        "IsPartial": !p.is_final,
        "Alternatives": [alternative],
        "ChannelId": "ch_0",
    }]}});
    let sent = SentResult {
        result_id: result_id.to_string(),
        transcript,
        is_partial: !p.is_final,
        start_time: round_ms(u.start),
        end_time: round_ms(end_time),
        audio_seconds: 0.0,
    };
    (payload, sent)
}

/// Waits until the connection has taken every frame queued so far and had a moment to write them, so
/// that a reset or a dropped connection comes after the results before it rather than overtaking them.
async fn flushed(body: &mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>) {
    while body.capacity() < body.max_capacity() && !body.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Sends the results as the audio arrives, applies the session's fault and ends the stream.
async fn write_results(
    writer: Writer,
    mut progress: watch::Receiver<Progress>,
    body: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
) {
    let Writer { conn, index, script, fault, bytes_per_second, medical } = writer;
    let shared = &conn.shared;
    let result_ids: Vec<String> = script.utterances.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut planned: VecDeque<Planned> = plan(&script).into();
    let mut sent = 0usize;
    let finish = |outcome: Outcome| {
        record(shared, index, |s| s.outcome = outcome);
    };
    loop {
        let state = *progress.borrow_and_update();
        let seconds = state.bytes as f64 / bytes_per_second;
        if state.failed {
            let message = format!("session {index}: the audio stream is not a valid event stream of AudioEvents");
            let _ = body.send(frame(&exception_message(ExceptionKind::BadRequest, &message))).await;
            finish(Outcome::Exception { exception: ExceptionKind::BadRequest, message });
            return;
        }
        while let Some(next) = planned.front() {
            let u = &script.utterances[next.utterance];
            let due = next.due <= seconds + 1e-9;
            let flush_at_end = state.ended && next.is_final && u.start < seconds;
            if !(due || flush_at_end) {
                if state.ended {
                    planned.pop_front();
                    continue;
                }
                break;
            }
            let Some(next) = planned.pop_front() else { break };
            match &fault {
                Some(Fault::Slow(delay)) => tokio::time::sleep(*delay).await,
                Some(Fault::ExceptionAfter { results, exception }) if *results == sent => {
                    let message = format!("{} injected after {sent} results of session {index}", exception.name());
                    let _ = body.send(frame(&exception_message(*exception, &message))).await;
                    finish(Outcome::Exception { exception: *exception, message });
                    return;
                }
                Some(Fault::ResetAfter { results }) if *results == sent => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), flushed(&body)).await;
                    finish(Outcome::Reset);
                    let _ = body.send(Err(std::io::Error::other("injected stream reset"))).await;
                    return;
                }
                Some(Fault::DropConnectionAfter { results }) if *results == sent => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), flushed(&body)).await;
                    finish(Outcome::ConnectionDropped);
                    conn.kill.notify_one();
                    return;
                }
                _ => {}
            }
            let (payload, mut result) = transcript_event(u, &next, &result_ids[next.utterance], medical);
            result.audio_seconds = round_ms(seconds);
            if body.send(frame(&event_message(&payload))).await.is_err() {
                finish(Outcome::ClientGone);
                return;
            }
            record(shared, index, |s| s.results.push(result));
            sent += 1;
        }
        if state.ended {
            finish(Outcome::Completed);
            return;
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    // The reader is gone without an end: treat what arrived as the whole audio.
                    continue;
                }
            }
            () = body.closed() => {
                finish(Outcome::ClientGone);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_precede_each_final_and_follow_the_audio() {
        let script =
            Script::new(vec![Utterance::new("one two three four", 1.0, 3.0), Utterance::new("five", 3.5, 4.0)]);
        let planned = plan(&script);
        let summary: Vec<(usize, f64, usize, bool)> =
            planned.iter().map(|p| (p.utterance, (p.due * 1000.0).round() / 1000.0, p.words, p.is_final)).collect();
        assert_eq!(
            summary,
            vec![
                (0, 1.667, 2, false),
                (0, 2.333, 3, false),
                (0, 3.0, 4, true),
                (1, 3.667, 1, false),
                (1, 3.833, 1, false),
                (1, 4.0, 1, true),
            ]
        );
    }

    #[test]
    fn a_signed_envelope_is_unwrapped_and_an_empty_one_ends_the_stream() {
        let audio = Message::new(Bytes::from_static(&[0u8; 320]))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
            .add_header(Header::new(":event-type", HeaderValue::String("AudioEvent".into())));
        let mut inner = Vec::new();
        write_message_to(&audio, &mut inner).unwrap();
        let signed = |payload: Vec<u8>| {
            Message::new(Bytes::from(payload))
                .add_header(Header::new(":chunk-signature", HeaderValue::ByteArray(Bytes::from_static(b"sig"))))
        };
        assert!(matches!(unwrap_envelope(&signed(inner)), Ok(Unwrapped::Audio { bytes: 320, signed: true })));
        assert!(matches!(unwrap_envelope(&signed(Vec::new())), Ok(Unwrapped::End)));
        assert!(matches!(unwrap_envelope(&audio), Ok(Unwrapped::Audio { bytes: 320, signed: false })));
        let garbage = signed(b"not a frame".to_vec());
        assert!(unwrap_envelope(&garbage).is_err());
    }
}
