//! A local Kinesis Video Streams endpoint for the real SDK: `GetDataEndpoint` (control plane,
//! `POST /getDataEndpoint`) answers this server's own URL, and `GetMedia` (data plane,
//! `POST /getMedia`) streams a recorded stream's fragments from the requested fragment number on,
//! in small pieces, and then keeps the connection open the way a live stream does, so a reader has
//! to stop by itself after its last fragment. moto does not serve Kinesis Video media.
//!
//! Point the SDK at it with `AWS_ENDPOINT_URL_KINESIS_VIDEO` (a spawned function) or an
//! `endpoint_url` on the client's configuration (in-process tests). The recorded stream is the
//! voicemail fixture `tests/fixtures/voicemail/kvs-stream.{mkv,json}` (see its generator).
//! The live two-track call of the real-time transcription tests is `tests/fixtures/call/call-stream.{mkv,json}`
//! ([`KvsFixture::live_call`]), with each track's known text ([`KvsFixture::script`]).
//!
//! Faults: a status answered to the next requests of one operation, or a media stream cut after
//! some bytes (the connection is dropped mid-body).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::serve::{LocalServer, lock};

/// One fragment of a recorded stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureFragment {
    pub number: String,
    pub offset: usize,
    pub length: usize,
    pub producer_timestamp_ms: i64,
    pub contact_id: String,
    /// `before`, `voicemail` or `after`.
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    stream_arn: String,
    contact_id: String,
    fragment_start_number: String,
    fragment_stop_number: String,
    #[serde(default)]
    voicemail_samples: usize,
    #[serde(default)]
    customer_source: String,
    #[serde(default)]
    agent_source: String,
    customer_text: String,
    fragments: Vec<FixtureFragment>,
    #[serde(default)]
    audio_start_timestamp_ms: i64,
    #[serde(default)]
    script: BTreeMap<String, Vec<ScriptLine>>,
}

/// One utterance of a track's known text (the live call fixture), in seconds from the start of the
/// call's audio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScriptLine {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// A recorded Kinesis Video stream: the GetMedia bytes and where each fragment lies in them.
#[derive(Debug, Clone)]
pub struct KvsFixture {
    pub stream_arn: String,
    pub contact_id: String,
    pub fragment_start_number: String,
    pub fragment_stop_number: String,
    pub voicemail_samples: usize,
    /// The sentence spoken in the customer track.
    pub customer_text: String,
    pub fragments: Vec<FixtureFragment>,
    pub bytes: Arc<Vec<u8>>,
    /// The live call fixture: the producer timestamp of its first fragment (epoch ms), what Amazon
    /// Connect reports as `MediaStreams.Customer.Audio.StartTimestamp`.
    pub audio_start_timestamp_ms: i64,
    /// The live call fixture: each track's known text (`AUDIO_FROM_CUSTOMER`, `AUDIO_TO_CUSTOMER`).
    pub script: BTreeMap<String, Vec<ScriptLine>>,
    dir: PathBuf,
    customer_source: String,
    agent_source: String,
}

impl KvsFixture {
    /// The voicemail fixture of `tests/fixtures/voicemail`.
    pub fn voicemail() -> Result<KvsFixture> {
        Self::load(crate::workspace_root().join("tests").join("fixtures").join("voicemail"), "kvs-stream")
    }

    /// The live two-track call of `tests/fixtures/call` (see its generator): 8 s of call, then a
    /// fragment of the next contact.
    pub fn live_call() -> Result<KvsFixture> {
        Self::load(crate::workspace_root().join("tests").join("fixtures").join("call"), "call-stream")
    }

    pub fn load(dir: PathBuf, stem: &str) -> Result<KvsFixture> {
        let json = dir.join(format!("{stem}.json"));
        let text = std::fs::read_to_string(&json).with_context(|| format!("cannot read {}", json.display()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).with_context(|| format!("{} is not a fixture manifest", json.display()))?;
        let mkv = dir.join(format!("{stem}.mkv"));
        let bytes = std::fs::read(&mkv).with_context(|| format!("cannot read {}", mkv.display()))?;
        for f in &manifest.fragments {
            anyhow::ensure!(f.offset + f.length <= bytes.len(), "fragment {} lies outside {}", f.number, mkv.display());
        }
        Ok(KvsFixture {
            stream_arn: manifest.stream_arn,
            contact_id: manifest.contact_id,
            fragment_start_number: manifest.fragment_start_number,
            fragment_stop_number: manifest.fragment_stop_number,
            voicemail_samples: manifest.voicemail_samples,
            customer_text: manifest.customer_text,
            fragments: manifest.fragments,
            bytes: Arc::new(bytes),
            audio_start_timestamp_ms: manifest.audio_start_timestamp_ms,
            script: manifest.script,
            dir,
            customer_source: manifest.customer_source,
            agent_source: manifest.agent_source,
        })
    }

    /// The PCM data of the customer's source audio (what the voicemail WAV must hold).
    pub fn customer_source_pcm(&self) -> Result<Vec<u8>> {
        wav_data(&self.dir.join(&self.customer_source))
    }

    /// The PCM data of the other track's source audio.
    pub fn agent_source_pcm(&self) -> Result<Vec<u8>> {
        wav_data(&self.dir.join(&self.agent_source))
    }

    /// The stream name inside the ARN (`arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<time>`).
    pub fn stream_name(&self) -> String {
        self.stream_arn.split('/').nth(1).unwrap_or_default().to_string()
    }

    /// The live call `times` over, under `stream_arn`: a call `times` as long, for long-call
    /// measurements. The call's fragments are repeated with new fragment numbers of the same length,
    /// increasing (digits 22 to 27 count the fragments; the Matroska sizes are unchanged), then the
    /// next contact's fragment; each track's script is repeated alike.
    pub fn repeated_call(&self, times: usize, stream_arn: &str) -> KvsFixture {
        let call: Vec<&FixtureFragment> = self.fragments.iter().filter(|f| f.contact_id == self.contact_id).collect();
        let after: Vec<&FixtureFragment> = self.fragments.iter().filter(|f| f.contact_id != self.contact_id).collect();
        let renumber = |k: usize, original: &str| {
            if original.len() < 27 {
                original.to_string()
            } else {
                format!("{}{k:06}{}", &original[..21], &original[27..])
            }
        };
        let mut bytes = Vec::new();
        let mut fragments = Vec::new();
        let plan = (0..times).flat_map(|_| call.iter().copied()).chain(after.iter().copied());
        for (k, f) in plan.enumerate() {
            let number = renumber(k, &f.number);
            let chunk = replace_all(&self.bytes[f.offset..f.offset + f.length], f.number.as_bytes(), number.as_bytes());
            fragments.push(FixtureFragment {
                number,
                offset: bytes.len(),
                length: chunk.len(),
                producer_timestamp_ms: self.audio_start_timestamp_ms + 1000 * k as i64,
                contact_id: f.contact_id.clone(),
                kind: f.kind.clone(),
            });
            bytes.extend_from_slice(&chunk);
        }
        let seconds = call.len() as f64;
        let script = self
            .script
            .iter()
            .map(|(track, lines)| {
                let repeated = (0..times)
                    .flat_map(|r| {
                        lines.iter().map(move |l| ScriptLine {
                            text: l.text.clone(),
                            start: l.start + seconds * r as f64,
                            end: l.end + seconds * r as f64,
                        })
                    })
                    .collect();
                (track.clone(), repeated)
            })
            .collect();
        let mut copy = self.clone();
        copy.stream_arn = stream_arn.to_string();
        copy.fragment_start_number = fragments.first().map(|f| f.number.clone()).unwrap_or_default();
        copy.fragment_stop_number = fragments
            .iter()
            .rev()
            .find(|f| f.contact_id == self.contact_id)
            .map(|f| f.number.clone())
            .unwrap_or_default();
        copy.fragments = fragments;
        copy.bytes = Arc::new(bytes);
        copy.script = script;
        copy
    }

    /// What the local Transcribe endpoint plays to a kvsTranscriber session of this (live call)
    /// fixture: the track and audio offset its session id names (docs/functions.md#kvstranscriber:
    /// `0001` customer, `0002` agent, the offset in ms as the last group), the track's known text from
    /// that offset on (an utterance running at the offset is cut there). `None` for another session id.
    pub fn transcriber_script(&self, session_id: &str) -> Option<crate::transcribe_streaming::Script> {
        use crate::transcribe_streaming::{Script, Utterance};
        let groups: Vec<&str> = session_id.split('-').collect();
        let track = match *groups.get(2)? {
            "0001" => "AUDIO_FROM_CUSTOMER",
            "0002" => "AUDIO_TO_CUSTOMER",
            _ => return None,
        };
        let offset = u64::from_str_radix(groups.get(4)?, 16).ok()? as f64 / 1000.0;
        let lines = self.script.get(track)?;
        Some(Script::new(
            lines
                .iter()
                .filter(|l| l.end > offset)
                .map(|l| Utterance::new(l.text.clone(), (l.start - offset).max(0.0), l.end - offset))
                .collect(),
        ))
    }

    /// The same recording under another ARN, ending with the voicemail's stop fragment: nothing
    /// follows it (a stream whose producer has not written the next fragment yet).
    pub fn ending_at_stop(&self, stream_arn: &str) -> KvsFixture {
        let mut copy = self.clone();
        copy.stream_arn = stream_arn.to_string();
        if let Some(stop) = copy.fragments.iter().position(|f| f.number == copy.fragment_stop_number) {
            copy.fragments.truncate(stop + 1);
            let end = copy.fragments.last().map_or(0, |f| f.offset + f.length);
            copy.bytes = Arc::new(copy.bytes[..end].to_vec());
        }
        copy
    }
}

/// `haystack` with every `from` replaced by `to`.
fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if !from.is_empty() && haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The data chunk of a canonical 44-byte-header PCM WAV file.
fn wav_data(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() >= 44 && &bytes[0..4] == b"RIFF" && &bytes[36..40] == b"data",
        "{} is not a canonical WAV",
        path.display()
    );
    Ok(bytes[44..].to_vec())
}

/// A fault the server applies to its next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvsFault {
    /// Answer `status` to the next `count` requests of `operation` (`getDataEndpoint` or `getMedia`).
    Status { operation: &'static str, status: u16, count: u32 },
    /// Drop the next `count` GetMedia connections after `bytes` bytes of the body.
    CutMedia { bytes: usize, count: u32 },
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct KvsRequest {
    pub operation: String,
    pub body: Value,
    pub status: u16,
}

/// How one GetMedia body went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRead {
    pub start_selector: Value,
    pub bytes_sent: usize,
    /// Every fragment from the start was sent.
    pub all_sent: bool,
    /// The client closed the connection (it stopped reading).
    pub closed_by_client: bool,
    /// The server cut the connection (a fault).
    pub cut: bool,
}

struct Inner {
    streams: HashMap<String, Arc<KvsFixture>>,
    faults: VecDeque<KvsFault>,
    requests: Vec<KvsRequest>,
    reads: Vec<MediaRead>,
    piece: usize,
    hold_open: Duration,
    endpoint: String,
}

type Shared = Arc<Mutex<Inner>>;

/// A running local Kinesis Video endpoint; stops when dropped.
pub struct KvsServer {
    server: LocalServer,
    shared: Shared,
}

impl KvsServer {
    /// Listens on 127.0.0.1 (a free port) serving `streams` (by ARN and by name).
    pub async fn start(streams: Vec<KvsFixture>) -> Result<KvsServer> {
        let mut by_name = HashMap::new();
        for s in streams {
            let s = Arc::new(s);
            by_name.insert(s.stream_arn.clone(), s.clone());
            by_name.insert(s.stream_name(), s);
        }
        let shared = Arc::new(Mutex::new(Inner {
            streams: by_name,
            faults: VecDeque::new(),
            requests: Vec::new(),
            reads: Vec::new(),
            piece: 1000,
            hold_open: Duration::from_secs(60),
            // Known once the server listens, before anyone has its port to ask.
            endpoint: String::new(),
        }));
        let app = Router::new().route("/{operation}", post(handle)).with_state(shared.clone());
        let server = LocalServer::start(app, "the local Kinesis Video").await?;
        lock(&shared).endpoint = server.endpoint().to_string();
        Ok(KvsServer { server, shared })
    }

    /// `http://127.0.0.1:PORT`: the control-plane endpoint and the data endpoint it hands out.
    pub fn endpoint(&self) -> String {
        self.server.endpoint().to_string()
    }

    pub fn inject(&self, fault: KvsFault) {
        lock(&self.shared).faults.push_back(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Serves `stream` too (by ARN and by name), replacing a stream of the same ARN.
    pub fn add_stream(&self, stream: KvsFixture) {
        let stream = Arc::new(stream);
        let mut inner = lock(&self.shared);
        inner.streams.insert(stream.stream_arn.clone(), stream.clone());
        inner.streams.insert(stream.stream_name(), stream);
    }

    /// How long a media body stays open after its last fragment (60 s unless changed).
    pub fn set_hold_open(&self, hold: Duration) {
        lock(&self.shared).hold_open = hold;
    }

    /// The size of the pieces the media body is written in (1000 bytes unless changed).
    pub fn set_piece_size(&self, bytes: usize) {
        lock(&self.shared).piece = bytes.max(1);
    }

    pub fn requests(&self) -> Vec<KvsRequest> {
        lock(&self.shared).requests.clone()
    }

    pub fn media_reads(&self) -> Vec<MediaRead> {
        lock(&self.shared).reads.clone()
    }
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, [("x-amzn-ErrorType", kind)], axum::Json(json!({"message": message}))).into_response()
}

/// Decimal fragment numbers compared as numbers (they exceed 128 bits).
fn compare_numbers(a: &str, b: &str) -> CmpOrdering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

async fn handle(State(shared): State<Shared>, Path(operation): Path<String>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16| {
        lock(&shared).requests.push(KvsRequest { operation: operation.clone(), body: request.clone(), status });
    };
    let injected = {
        let mut inner = lock(&shared);
        let position =
            inner.faults.iter().position(|f| matches!(f, KvsFault::Status { operation: op, .. } if *op == operation));
        position.and_then(|i| {
            let fault = inner.faults.get_mut(i)?;
            let KvsFault::Status { status, count, .. } = fault else { return None };
            let status = *status;
            *count -= 1;
            if *count == 0 {
                inner.faults.remove(i);
            }
            Some(status)
        })
    };
    if let Some(status) = injected {
        record(status);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = if status == 429 { "ClientLimitExceededException" } else { "ServiceUnavailable" };
        return aws_error(code, kind, "injected fault");
    }
    let stream_id = request
        .get("StreamARN")
        .or_else(|| request.get("StreamName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let stream = lock(&shared).streams.get(&stream_id).cloned();
    let Some(stream) = stream else {
        record(404);
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("stream {stream_id} not found"));
    };
    match operation.as_str() {
        "getDataEndpoint" => {
            if request.get("APIName").and_then(Value::as_str) != Some("GET_MEDIA") {
                record(400);
                return aws_error(StatusCode::BAD_REQUEST, "InvalidArgumentException", "only GET_MEDIA is served here");
            }
            record(200);
            let endpoint = lock(&shared).endpoint.clone();
            axum::Json(json!({"DataEndpoint": endpoint})).into_response()
        }
        "getMedia" => {
            let selector = request.get("StartSelector").cloned().unwrap_or(Value::Null);
            let kind = selector.get("StartSelectorType").and_then(Value::as_str).unwrap_or_default();
            let first = match kind {
                "EARLIEST" => Some(0),
                "FRAGMENT_NUMBER" => {
                    let after = selector.get("AfterFragmentNumber").and_then(Value::as_str).unwrap_or_default();
                    // The named fragment is the first one returned.
                    stream.fragments.iter().position(|f| compare_numbers(&f.number, after) != CmpOrdering::Less)
                }
                _ => {
                    record(400);
                    return aws_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidArgumentException",
                        "unsupported StartSelectorType",
                    );
                }
            };
            let Some(first) = first else {
                record(400);
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgumentException",
                    "no fragment at or after that number",
                );
            };
            record(200);
            media_response(shared.clone(), stream, first, selector)
        }
        _ => {
            record(404);
            aws_error(StatusCode::NOT_FOUND, "UnknownOperationException", &operation)
        }
    }
}

fn media_response(shared: Shared, stream: Arc<KvsFixture>, first: usize, selector: Value) -> Response {
    let start = stream.fragments[first].offset;
    let (piece, hold, cut, index) = {
        let mut inner = lock(&shared);
        let cut = match inner.faults.iter().position(|f| matches!(f, KvsFault::CutMedia { .. })) {
            Some(i) => {
                let mut at = None;
                if let Some(KvsFault::CutMedia { bytes, count }) = inner.faults.get_mut(i) {
                    at = Some(*bytes);
                    *count -= 1;
                    if *count == 0 {
                        inner.faults.remove(i);
                    }
                }
                at
            }
            None => None,
        };
        inner.reads.push(MediaRead { start_selector: selector, ..MediaRead::default() });
        (inner.piece, inner.hold_open, cut, inner.reads.len() - 1)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let bytes = &stream.bytes[start..];
        let limit = cut.unwrap_or(usize::MAX).min(bytes.len());
        let mut sent = 0;
        let mut closed = false;
        for chunk in bytes[..limit].chunks(piece) {
            if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                closed = true;
                break;
            }
            sent += chunk.len();
            lock(&shared).reads[index].bytes_sent = sent;
        }
        {
            let mut inner = lock(&shared);
            let read = &mut inner.reads[index];
            read.all_sent = sent == bytes.len();
            read.closed_by_client = closed;
            read.cut = cut.is_some() && !closed;
        }
        if cut.is_some() && !closed {
            let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected cut"))).await;
            return;
        }
        if !closed {
            // A live stream: nothing more for now, the connection stays open.
            tokio::select! {
                _ = tx.closed() => lock(&shared).reads[index].closed_by_client = true,
                _ = tokio::time::sleep(hold) => {}
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "video/webm")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_voicemail_fixture_is_consistent() {
        let fixture = KvsFixture::voicemail().expect("fixture");
        assert_eq!(fixture.fragments.len(), 7);
        let mut end = 0;
        for f in &fixture.fragments {
            assert_eq!(f.offset, end, "fragments are back to back");
            assert_eq!(
                &fixture.bytes[f.offset..f.offset + 4],
                &[0x1A, 0x45, 0xDF, 0xA3],
                "each starts with an EBML header"
            );
            end = f.offset + f.length;
        }
        assert_eq!(end, fixture.bytes.len());
        let voicemail: Vec<_> = fixture.fragments.iter().filter(|f| f.kind == "voicemail").collect();
        assert_eq!(voicemail.first().map(|f| f.number.as_str()), Some(fixture.fragment_start_number.as_str()));
        assert_eq!(voicemail.last().map(|f| f.number.as_str()), Some(fixture.fragment_stop_number.as_str()));
        assert_eq!(fixture.customer_source_pcm().unwrap().len(), fixture.voicemail_samples * 2);
        assert_ne!(fixture.customer_source_pcm().unwrap(), fixture.agent_source_pcm().unwrap());
        assert!(fixture.bytes.len() < 300_000, "kept small");
    }

    #[test]
    fn the_live_call_fixture_is_consistent() {
        let fixture = KvsFixture::live_call().expect("fixture");
        assert_eq!(fixture.fragments.len(), 9);
        let mut end = 0;
        for (i, f) in fixture.fragments.iter().enumerate() {
            assert_eq!(f.offset, end, "fragments are back to back");
            assert_eq!(f.producer_timestamp_ms, fixture.audio_start_timestamp_ms + 1000 * i as i64);
            end = f.offset + f.length;
        }
        assert_eq!(end, fixture.bytes.len());
        assert_eq!(fixture.fragments[0].number, fixture.fragment_start_number);
        assert_eq!(fixture.fragments[7].number, fixture.fragment_stop_number);
        assert_ne!(fixture.fragments[8].contact_id, fixture.contact_id, "the last fragment is the next contact's");
        for track in ["AUDIO_FROM_CUSTOMER", "AUDIO_TO_CUSTOMER"] {
            let lines = &fixture.script[track];
            assert_eq!(lines.len(), 3, "{track}");
            assert!(lines.windows(2).all(|w| w[0].end <= w[1].start), "{track}: in order, apart");
            assert!(lines.iter().all(|l| l.end <= 8.0), "{track}: within the call");
        }
    }

    #[test]
    fn a_repeated_call_keeps_the_layout_with_increasing_fragment_numbers() {
        let fixture = KvsFixture::live_call().expect("fixture");
        let long = fixture.repeated_call(3, "arn:aws:kinesisvideo:us-east-1:123456789012:stream/long/1");
        assert_eq!(long.fragments.len(), 3 * 8 + 1);
        assert!(long.fragments.windows(2).all(|w| compare_numbers(&w[0].number, &w[1].number) == CmpOrdering::Less));
        assert_eq!(
            long.bytes.len(),
            3 * (fixture.bytes.len() - fixture.fragments[8].length) + fixture.fragments[8].length
        );
        for f in &long.fragments {
            let chunk = &long.bytes[f.offset..f.offset + f.length];
            assert!(chunk.windows(f.number.len()).any(|w| w == f.number.as_bytes()), "tagged with its number");
        }
        assert_eq!(long.script["AUDIO_FROM_CUSTOMER"].len(), 9);
        assert_eq!(long.script["AUDIO_FROM_CUSTOMER"][3].start, 8.4);
        assert_eq!(long.fragment_stop_number, long.fragments[23].number);
    }

    #[test]
    fn numbers_compare_beyond_128_bits() {
        assert_eq!(compare_numbers("99", "100"), CmpOrdering::Less);
        assert_eq!(
            compare_numbers(
                "91343852333181432392682062607743920146264440066",
                "91343852333181432392682062607743920146264440066"
            ),
            CmpOrdering::Equal
        );
    }

    #[tokio::test]
    async fn serves_the_data_endpoint_and_media_from_the_named_fragment() {
        let fixture = KvsFixture::voicemail().expect("fixture");
        let server = KvsServer::start(vec![fixture.clone()]).await.expect("server");
        server.set_hold_open(Duration::from_millis(10));
        let http = reqwest::Client::new();
        let endpoint: Value = http
            .post(format!("{}/getDataEndpoint", server.endpoint()))
            .json(&json!({"APIName": "GET_MEDIA", "StreamARN": fixture.stream_arn}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(endpoint["DataEndpoint"], server.endpoint());
        let second = &fixture.fragments[1];
        let body = http
            .post(format!("{}/getMedia", server.endpoint()))
            .json(&json!({"StreamARN": fixture.stream_arn, "StartSelector": {"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": second.number}}))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&body[..], &fixture.bytes[second.offset..]);
        let missing = http
            .post(format!("{}/getMedia", server.endpoint()))
            .json(&json!({"StreamName": "nope", "StartSelector": {"StartSelectorType": "EARLIEST"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.headers()["x-amzn-ErrorType"], "ResourceNotFoundException");
    }
}
