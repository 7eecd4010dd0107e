//! One track of a call: Kinesis Video `GetMedia` → Transcribe streaming → transcript messages, with
//! resumption after a failed session and a clean stop at the deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_kinesisvideo::types::ApiName;
use aws_sdk_kinesisvideomedia::types::{StartSelector, StartSelectorType};
use aws_sdk_transcribestreaming::operation::start_medical_stream_transcription::StartMedicalStreamTranscriptionError;
use aws_sdk_transcribestreaming::operation::start_stream_transcription::StartStreamTranscriptionError;
use aws_sdk_transcribestreaming::primitives::Blob;
use aws_sdk_transcribestreaming::primitives::event_stream::EventStreamSender;
use aws_sdk_transcribestreaming::types::error::AudioStreamError;
use aws_sdk_transcribestreaming::types::{
    AudioEvent, AudioStream, LanguageCode, MediaEncoding, MedicalTranscriptResultStream, Specialty,
    TranscriptResultStream, Type, VocabularyFilterMethod,
};
use futures_util::StreamExt as _;
use scv_shared::matroska::{AGENT_TRACK, CUSTOMER_TRACK, FragmentNumber, LiveEvent, LiveTrack};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{LIMITS_ERROR_PREFIX, TranscriptMessage};
use scv_shared::transcription::{ENGINE_MEDICAL, TranscriptionRequest};
use tokio::sync::{mpsc, watch};

use crate::{Deps, TRANSCRIPTION_LIMIT_VALUE, TRANSCRIPTION_STATUS_ATTRIBUTE, TrackResume};

/// 8 kHz, 16-bit mono PCM: bytes per millisecond.
const BYTES_PER_MS: u64 = 16;
/// Fragments remembered for resumption (far more than the audio between two final results).
const MAX_REMEMBERED_FRAGMENTS: usize = 4096;

/// A track of an Amazon Connect call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// `AUDIO_FROM_CUSTOMER`: the customer's voice.
    Customer,
    /// `AUDIO_TO_CUSTOMER`: what the customer hears (the rep, several reps in a conference, prompts).
    Agent,
}

impl TrackKind {
    pub fn track(self) -> &'static str {
        match self {
            TrackKind::Customer => CUSTOMER_TRACK,
            TrackKind::Agent => AGENT_TRACK,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            TrackKind::Customer => "customer",
            TrackKind::Agent => "agent",
        }
    }

    /// The Telephony Integration API sender (docs/telephony-integration-api.md#create-a-transcript): the
    /// agent track may hold several reps, prompts and hold music, and no rep's user id is known
    /// here, so it is the conversation's one `VIRTUAL_AGENT`.
    pub fn sender_type(self) -> &'static str {
        match self {
            TrackKind::Customer => "END_USER",
            TrackKind::Agent => "VIRTUAL_AGENT",
        }
    }

    /// `{vendorCallKey}END_USER` / `{vendorCallKey}VIRTUAL_AGENT`, the documented participant ids.
    pub fn participant_id(self, contact: &str) -> String {
        format!("{contact}{}", self.sender_type())
    }

    fn code(self) -> u16 {
        match self {
            TrackKind::Customer => 1,
            TrackKind::Agent => 2,
        }
    }
}

/// The Transcribe session id of `contact`'s `kind` track starting `offset_ms` into the audio: the
/// contact id's first, second and fourth groups, the track (`0001` customer, `0002` agent) and the
/// offset in milliseconds as the last group, so a session of a call is recognisable in Amazon
/// Transcribe's own records. A contact id that is not a UUID gets a random session id.
pub fn session_id(contact: &str, kind: TrackKind, offset_ms: u64) -> String {
    let groups: Vec<&str> = contact.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if groups.len() == 5 && hex(groups[0], 8) && hex(groups[1], 4) && hex(groups[3], 4) {
        format!("{}-{}-{:04x}-{}-{:012x}", groups[0], groups[1], kind.code(), groups[3], offset_ms & 0xFFFF_FFFF_FFFF)
    } else {
        uuid::Uuid::new_v4().to_string()
    }
}

/// A final result of a transcript event, offsets in seconds from the session's first audio.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalResult {
    pub result_id: String,
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// Every final result of a standard transcript event (partials and empty ones left out).
pub fn finals_of_standard(event: &TranscriptResultStream) -> Vec<FinalResult> {
    let TranscriptResultStream::TranscriptEvent(event) = event else { return Vec::new() };
    let results = event.transcript.as_ref().and_then(|t| t.results.as_deref()).unwrap_or_default();
    results
        .iter()
        .filter(|r| !r.is_partial)
        .filter_map(|r| {
            let text = r.alternatives.as_deref()?.first()?.transcript.clone()?;
            final_result(r.result_id.as_deref(), text, r.start_time, r.end_time)
        })
        .collect()
}

/// Every final result of a Transcribe Medical transcript event.
pub fn finals_of_medical(event: &MedicalTranscriptResultStream) -> Vec<FinalResult> {
    let MedicalTranscriptResultStream::TranscriptEvent(event) = event else { return Vec::new() };
    let results = event.transcript.as_ref().and_then(|t| t.results.as_deref()).unwrap_or_default();
    results
        .iter()
        .filter(|r| !r.is_partial)
        .filter_map(|r| {
            let text = r.alternatives.as_deref()?.first()?.transcript.clone()?;
            final_result(r.result_id.as_deref(), text, r.start_time, r.end_time)
        })
        .collect()
}

fn final_result(id: Option<&str>, text: String, start: f64, end: f64) -> Option<FinalResult> {
    let id = id.filter(|i| !i.is_empty())?;
    (!text.trim().is_empty()).then(|| FinalResult { result_id: id.to_string(), text, start, end })
}

/// How a track ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackEnd {
    /// The call ended (the stream moved on to another contact, stopped, went quiet, or Transcribe
    /// closed the stream).
    CallEnded,
    /// Salesforce refused more messages (HTTP 429): transcription of the call stopped.
    Limit,
    /// The other track hit the limit.
    Stopped,
    /// The invocation's time is up: the call continues from here.
    Continue(TrackResume),
    /// Sessions kept failing.
    Failed(String),
}

impl TrackEnd {
    pub fn label(&self) -> &'static str {
        match self {
            TrackEnd::CallEnded => "callEnded",
            TrackEnd::Limit => "SCV_LIMITS_ERROR",
            TrackEnd::Stopped => "stopped",
            TrackEnd::Continue(_) => "continued",
            TrackEnd::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOutcome {
    pub posted: usize,
    pub end: TrackEnd,
}

/// What both tracks of an invocation share.
pub(crate) struct Context<'a> {
    pub deps: &'a Deps,
    pub request: &'a TranscriptionRequest,
    pub audio_start_ms: i64,
    pub continue_at: Deadline,
    /// Set when a track hits the Salesforce limit: every track stops.
    pub stop: watch::Sender<bool>,
}

/// How one session ended.
enum SessionEnd {
    CallEnded,
    Limit,
    Stopped,
    Deadline,
    /// A failure worth resuming after (a dropped connection, a throttle, a service error).
    Failed(String),
    /// A refusal no resumption can change (the stream or fragment does not exist, access is denied,
    /// Transcribe refuses the request's settings): the track fails at once.
    Refused(String),
}

/// Why a call to Kinesis Video or Transcribe failed, and whether trying again could change it.
struct CallError {
    reason: String,
    permanent: bool,
}

impl CallError {
    fn transient(reason: String) -> Self {
        Self { reason, permanent: false }
    }

    fn session_end(self) -> SessionEnd {
        if self.permanent { SessionEnd::Refused(self.reason) } else { SessionEnd::Failed(self.reason) }
    }
}

/// A track's progress across sessions.
struct State {
    kind: TrackKind,
    /// Where the current session started.
    resume: TrackResume,
    /// The session's fragments so far with their offsets (ms from the audio start), oldest first.
    fragments: Arc<Mutex<VecDeque<(FragmentNumber, u64)>>>,
    posted_until_ms: u64,
    posted: usize,
}

impl State {
    /// The latest fragment starting at or before the end of the last posted result (at the latest
    /// the last fragment read): resuming there loses no utterance, and results ending at or before
    /// `posted_until_ms` are skipped, so none is posted twice.
    fn resume_point(&self) -> TrackResume {
        let fragments = self.fragments.lock().unwrap_or_else(PoisonError::into_inner);
        let at = fragments.iter().rev().find(|(_, offset)| *offset <= self.posted_until_ms);
        match at {
            Some((fragment, offset)) => TrackResume {
                fragment: fragment.to_string(),
                fragment_offset_ms: *offset,
                posted_until_ms: self.posted_until_ms,
            },
            None => TrackResume { posted_until_ms: self.posted_until_ms, ..self.resume.clone() },
        }
    }
}

/// Runs one track until the call ends, the limit, the deadline or too many failed sessions.
pub(crate) async fn run(
    ctx: &Context<'_>,
    kind: TrackKind,
    resume: TrackResume,
    stop: watch::Receiver<bool>,
) -> TrackOutcome {
    let contact = ctx.request.voice_call_id.as_str();
    let mut state = State {
        kind,
        posted_until_ms: resume.posted_until_ms,
        resume,
        fragments: Arc::new(Mutex::new(VecDeque::new())),
        posted: 0,
    };
    let policy = ctx.deps.settings.session_retry;
    let mut failures = 0u32;
    loop {
        let before = (state.posted, state.posted_until_ms);
        let end = session(ctx, &mut state, stop.clone()).await;
        let progressed = (state.posted, state.posted_until_ms) != before;
        let end = match end {
            SessionEnd::CallEnded => TrackEnd::CallEnded,
            SessionEnd::Limit => TrackEnd::Limit,
            SessionEnd::Stopped => TrackEnd::Stopped,
            SessionEnd::Deadline => TrackEnd::Continue(state.resume_point()),
            SessionEnd::Refused(reason) => TrackEnd::Failed(reason),
            SessionEnd::Failed(reason) => {
                failures = if progressed { 1 } else { failures + 1 };
                let next = state.resume_point();
                if failures >= policy.max_attempts {
                    TrackEnd::Failed(format!("{failures} sessions failed in a row, the last: {reason}"))
                } else {
                    let wait = policy.next_delay(failures, None);
                    tracing::warn!(
                        contactId = %contact,
                        track = kind.track(),
                        failures,
                        resumeFragment = %next.fragment,
                        waitMs = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "the session failed: {reason}; resuming from fragment {}",
                        next.fragment
                    );
                    if !ctx.continue_at.allows(wait, Duration::from_millis(100)) {
                        TrackEnd::Continue(next)
                    } else {
                        tokio::time::sleep(wait).await;
                        state.resume = next;
                        state.fragments.lock().unwrap_or_else(PoisonError::into_inner).clear();
                        continue;
                    }
                }
            }
        };
        tracing::info!(contactId = %contact, track = kind.track(), messages = state.posted, end = end.label(), "track ended");
        return TrackOutcome { posted: state.posted, end };
    }
}

/// The results of a session, standard or medical.
enum Results {
    Standard(
        aws_sdk_transcribestreaming::primitives::event_stream::EventReceiver<
            TranscriptResultStream,
            aws_sdk_transcribestreaming::types::error::TranscriptResultStreamError,
        >,
    ),
    Medical(
        aws_sdk_transcribestreaming::primitives::event_stream::EventReceiver<
            MedicalTranscriptResultStream,
            aws_sdk_transcribestreaming::types::error::MedicalTranscriptResultStreamError,
        >,
    ),
}

impl Results {
    /// The final results of the next event; `None` when Transcribe has closed the stream.
    async fn next(&mut self) -> Result<Option<Vec<FinalResult>>, String> {
        match self {
            Results::Standard(rx) => match rx.recv().await {
                Ok(Some(event)) => Ok(Some(finals_of_standard(&event))),
                Ok(None) => Ok(None),
                Err(e) => Err(transcribe_error(&e)),
            },
            Results::Medical(rx) => match rx.recv().await {
                Ok(Some(event)) => Ok(Some(finals_of_medical(&event))),
                Ok(None) => Ok(None),
                Err(e) => Err(transcribe_error(&e)),
            },
        }
    }
}

fn transcribe_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: &aws_sdk_transcribestreaming::error::SdkError<E, R>,
) -> String {
    match e.as_service_error() {
        Some(service) => format!("Amazon Transcribe: {service}"),
        None => format!("Amazon Transcribe: {}", aws_sdk_transcribestreaming::error::DisplayErrorContext(e)),
    }
}

/// Audio blocks as the Transcribe request's event stream.
fn audio_stream(rx: mpsc::Receiver<Vec<u8>>) -> EventStreamSender<AudioStream, AudioStreamError> {
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        let event = AudioStream::AudioEvent(AudioEvent::builder().audio_chunk(Blob::new(chunk)).build());
        Some((Ok(event), rx))
    });
    // Fused: the SDK may poll the audio stream again after its end.
    events.fuse().into()
}

async fn start_session(
    ctx: &Context<'_>,
    kind: TrackKind,
    offset_ms: u64,
    audio: EventStreamSender<AudioStream, AudioStreamError>,
) -> Result<Results, CallError> {
    let r = ctx.request;
    let client = &ctx.deps.transcribe;
    let session = session_id(&r.voice_call_id, kind, offset_ms);
    if r.engine == ENGINE_MEDICAL {
        let output = client
            .start_medical_stream_transcription()
            .language_code(LanguageCode::from(r.language_code.as_str()))
            .media_sample_rate_hertz(8000)
            .media_encoding(MediaEncoding::Pcm)
            .specialty(Specialty::from(r.specialty.as_deref().unwrap_or("PRIMARYCARE")))
            .r#type(Type::Conversation)
            .set_vocabulary_name(r.vocabulary_name.clone())
            .session_id(session)
            .audio_stream(audio)
            .send()
            .await
            .map_err(|e| {
                refused_at_start(
                    r,
                    e.as_service_error().is_some_and(StartMedicalStreamTranscriptionError::is_bad_request_exception),
                    transcribe_error(&e),
                )
            })?;
        return Ok(Results::Medical(output.transcript_result_stream));
    }
    let filter_method = r
        .vocabulary_filter_name
        .as_ref()
        .map(|_| VocabularyFilterMethod::from(r.vocabulary_filter_method.as_deref().unwrap_or("mask")));
    let output = client
        .start_stream_transcription()
        .language_code(LanguageCode::from(r.language_code.as_str()))
        .media_sample_rate_hertz(8000)
        .media_encoding(MediaEncoding::Pcm)
        .set_vocabulary_name(r.vocabulary_name.clone())
        .set_vocabulary_filter_name(r.vocabulary_filter_name.clone())
        .set_vocabulary_filter_method(filter_method)
        .session_id(session)
        .audio_stream(audio)
        .send()
        .await
        .map_err(|e| {
            refused_at_start(
                r,
                e.as_service_error().is_some_and(StartStreamTranscriptionError::is_bad_request_exception),
                transcribe_error(&e),
            )
        })?;
    Ok(Results::Standard(output.transcript_result_stream))
}

/// A session Transcribe did not start. A `BadRequestException` answering the request refuses its
/// settings (a language, vocabulary or filter it does not serve): permanent, and the error names them.
fn refused_at_start(r: &TranscriptionRequest, bad_request: bool, reason: String) -> CallError {
    if !bad_request {
        return CallError::transient(reason);
    }
    let mut settings = vec![format!("engine {:?}", r.engine), format!("languageCode {:?}", r.language_code)];
    let optional = [
        ("vocabularyName", &r.vocabulary_name),
        ("vocabularyFilterName", &r.vocabulary_filter_name),
        ("vocabularyFilterMethod", &r.vocabulary_filter_method),
        ("specialty", &r.specialty),
    ];
    settings.extend(optional.iter().filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v:?}"))));
    CallError { reason: format!("{reason} (the session's settings: {})", settings.join(", ")), permanent: true }
}

/// How the audio feed of a session ended.
enum FeedEnd {
    /// The call's audio is over: the audio stream is closed, Transcribe finishes its results.
    CallEnded(&'static str),
    Failed(String),
}

type MediaBody = aws_sdk_kinesisvideomedia::primitives::ByteStream;

async fn get_media(ctx: &Context<'_>, fragment: &str) -> Result<MediaBody, CallError> {
    let stream = ctx.request.stream_arn.as_str();
    let endpoint =
        ctx.deps.kvs.get_data_endpoint().api_name(ApiName::GetMedia).stream_arn(stream).send().await.map_err(|e| {
            CallError {
                // The stream does not exist, or may not be read: no retry changes that.
                permanent: e.as_service_error().is_some_and(|s| {
                    s.is_resource_not_found_exception()
                        || s.is_invalid_argument_exception()
                        || s.is_not_authorized_exception()
                }),
                reason: format!(
                    "Kinesis Video GetDataEndpoint for stream {stream}: {}",
                    aws_sdk_kinesisvideo::error::DisplayErrorContext(&e)
                ),
            }
        })?;
    let Some(data_endpoint) = endpoint.data_endpoint().filter(|e| !e.is_empty()) else {
        return Err(CallError::transient("Kinesis Video GetDataEndpoint: no DataEndpoint in the answer".into()));
    };
    let media =
        aws_sdk_kinesisvideomedia::Client::from_conf(ctx.deps.media.clone().endpoint_url(data_endpoint).build());
    let selector = StartSelector::builder()
        .start_selector_type(StartSelectorType::FragmentNumber)
        .after_fragment_number(fragment)
        .build()
        .map_err(|e| CallError { reason: e.to_string(), permanent: true })?;
    let output = media.get_media().stream_arn(stream).start_selector(selector).send().await.map_err(|e| CallError {
        // No such stream or fragment, or no access: the same request would be refused again.
        permanent: e.as_service_error().is_some_and(|s| {
            s.is_resource_not_found_exception() || s.is_invalid_argument_exception() || s.is_not_authorized_exception()
        }),
        reason: format!(
            "Kinesis Video GetMedia of stream {stream} from fragment {fragment}: {}",
            aws_sdk_kinesisvideomedia::error::DisplayErrorContext(&e)
        ),
    })?;
    Ok(output.payload)
}

/// Reads the track's audio and forwards each block as it is read; records each fragment's offset.
async fn feed(
    mut body: MediaBody,
    kind: TrackKind,
    contact: &str,
    start_offset_ms: u64,
    stall: Duration,
    fragments: Arc<Mutex<VecDeque<(FragmentNumber, u64)>>>,
    audio: mpsc::Sender<Vec<u8>>,
) -> FeedEnd {
    let mut reader = LiveTrack::new(kind.track());
    let mut bytes_sent: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(stall, body.next()).await {
            Err(_) => return FeedEnd::CallEnded("no audio arrived for the stall timeout"),
            Ok(None) => return FeedEnd::CallEnded("the media stream ended"),
            Ok(Some(Err(e))) => {
                return FeedEnd::Failed(format!(
                    "the Kinesis Video media stream failed after {} bytes: {e}",
                    reader.position()
                ));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = match reader.push(&chunk) {
            Ok(events) => events,
            Err(e) => return FeedEnd::Failed(format!("the Kinesis Video media cannot be read: {e}")),
        };
        for event in events {
            match event {
                LiveEvent::Fragment { number, contact_id } => {
                    if contact_id.as_deref().is_some_and(|c| c != contact) {
                        return FeedEnd::CallEnded("the stream moved on to another contact");
                    }
                    let offset = start_offset_ms + bytes_sent / BYTES_PER_MS;
                    let mut remembered = fragments.lock().unwrap_or_else(PoisonError::into_inner);
                    remembered.push_back((number, offset));
                    if remembered.len() > MAX_REMEMBERED_FRAGMENTS {
                        remembered.pop_front();
                    }
                }
                LiveEvent::Audio(pcm) => {
                    bytes_sent += pcm.len() as u64;
                    if audio.send(pcm).await.is_err() {
                        return FeedEnd::Failed("Amazon Transcribe stopped reading the audio".into());
                    }
                }
                LiveEvent::Stop => return FeedEnd::CallEnded("the stream is tagged STOP_STREAMING"),
            }
        }
    }
}

/// One Transcribe session from `state.resume`.
async fn session(ctx: &Context<'_>, state: &mut State, mut stop: watch::Receiver<bool>) -> SessionEnd {
    let contact = ctx.request.voice_call_id.as_str();
    let kind = state.kind;
    let base_ms = state.resume.fragment_offset_ms;
    let body = tokio::select! {
        body = get_media(ctx, &state.resume.fragment) => match body {
            Ok(body) => body,
            Err(error) => return error.session_end(),
        },
        () = tokio::time::sleep_until(ctx.continue_at.instant().into()) => return SessionEnd::Deadline,
    };
    let (audio_tx, audio_rx) = mpsc::channel::<Vec<u8>>(ctx.deps.settings.audio_buffer_blocks.max(1));
    let feeder = feed(body, kind, contact, base_ms, ctx.deps.settings.stall_timeout, state.fragments.clone(), audio_tx);
    tokio::pin!(feeder);
    let start = start_session(ctx, kind, base_ms, audio_stream(audio_rx));
    tokio::pin!(start);
    // The feeder runs while the session starts: the first audio is waiting when it is up.
    let mut feed_end: Option<FeedEnd> = None;
    let mut results = loop {
        tokio::select! {
            started = &mut start => match started {
                Ok(results) => break results,
                Err(error) => return error.session_end(),
            },
            end = &mut feeder, if feed_end.is_none() => feed_end = Some(end),
            () = tokio::time::sleep_until(ctx.continue_at.instant().into()) => return SessionEnd::Deadline,
        }
    };
    if let Some(FeedEnd::Failed(reason)) = &feed_end {
        return SessionEnd::Failed(reason.clone());
    }
    tracing::debug!(contactId = %contact, track = kind.track(), fragment = %state.resume.fragment, "session started");
    loop {
        tokio::select! {
            end = &mut feeder, if feed_end.is_none() => {
                match end {
                    FeedEnd::Failed(reason) => return SessionEnd::Failed(reason),
                    FeedEnd::CallEnded(why) => {
                        tracing::info!(contactId = %contact, track = kind.track(), "the call's audio ended: {why}");
                        feed_end = Some(FeedEnd::CallEnded(why));
                    }
                }
            }
            next = results.next() => match next {
                Err(reason) => return SessionEnd::Failed(reason),
                // Transcribe closed the stream: after the end of the audio, or by itself.
                Ok(None) => return SessionEnd::CallEnded,
                Ok(Some(finals)) => {
                    for result in finals {
                        if let Some(end) = post(ctx, state, base_ms, &result).await {
                            return end;
                        }
                    }
                }
            },
            changed = stop.changed() => {
                if changed.is_ok() && *stop.borrow() {
                    return SessionEnd::Stopped;
                }
            }
            () = tokio::time::sleep_until(ctx.continue_at.instant().into()) => return SessionEnd::Deadline,
        }
    }
}

/// Posts one final result unless it was posted before; `Some` ends the session (the limit).
async fn post(ctx: &Context<'_>, state: &mut State, base_ms: u64, result: &FinalResult) -> Option<SessionEnd> {
    let contact = ctx.request.voice_call_id.as_str();
    let ms = |seconds: f64| base_ms.saturating_add((seconds.max(0.0) * 1000.0).round() as u64);
    let (start, end) = (ms(result.start), ms(result.end));
    if end <= state.posted_until_ms {
        tracing::debug!(contactId = %contact, messageId = %result.result_id, "already posted before the resumption");
        return None;
    }
    let at = |offset: u64| ctx.audio_start_ms.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX));
    let message = TranscriptMessage {
        participant_id: state.kind.participant_id(contact),
        message_id: result.result_id.clone(),
        start_time: at(start),
        end_time: at(end),
        content: result.text.clone(),
        sender_type: state.kind.sender_type().to_string(),
    };
    let deadline = Deadline::after(ctx.deps.settings.post_budget);
    match ctx.deps.telephony.create_transcript(contact, &message, deadline).await {
        Ok(_) => {
            state.posted += 1;
            state.posted_until_ms = end;
            tracing::debug!(
                contactId = %contact,
                track = state.kind.track(),
                messageId = %message.message_id,
                startTime = message.start_time,
                "transcript message posted"
            );
            None
        }
        Err(e) if e.is_limit() => {
            record_limit(ctx, contact, &e.to_string()).await;
            Some(SessionEnd::Limit)
        }
        Err(e) => {
            // Not posted and not retried again: later results still go (the shared client has
            // retried what could succeed).
            state.posted_until_ms = end;
            tracing::error!(
                contactId = %contact,
                track = state.kind.track(),
                messageId = %message.message_id,
                error = %e,
                "a transcript message could not be posted"
            );
            None
        }
    }
}

/// `SCV_LIMITS_ERROR`: logs it, sets `sf_realtime_transcription_status` on the contact (once) and
/// stops every track (Implementation Guide ch. 9 "Monitor Transcription-Related Limit Errors").
async fn record_limit(ctx: &Context<'_>, contact: &str, reason: &str) {
    let already = ctx.stop.send_replace(true);
    tracing::error!(
        contactId = %contact,
        "{LIMITS_ERROR_PREFIX}: Salesforce refused a transcript message (HTTP 429); real-time transcription of contact {contact} stops: {reason}"
    );
    if already {
        return;
    }
    let instance = ctx.request.instance_arn.rsplit('/').next().unwrap_or_default();
    let call = ctx
        .deps
        .connect
        .update_contact_attributes()
        .instance_id(instance)
        .initial_contact_id(contact)
        .attributes(TRANSCRIPTION_STATUS_ATTRIBUTE, TRANSCRIPTION_LIMIT_VALUE)
        .send();
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(_)) => tracing::info!(contactId = %contact, "recorded {TRANSCRIPTION_STATUS_ATTRIBUTE} on the contact"),
        Ok(Err(e)) => tracing::error!(
            contactId = %contact,
            error = %aws_sdk_connect::error::DisplayErrorContext(&e),
            "{LIMITS_ERROR_PREFIX}: could not record {TRANSCRIPTION_STATUS_ATTRIBUTE} on the contact"
        ),
        Err(_) => tracing::error!(
            contactId = %contact,
            "{LIMITS_ERROR_PREFIX}: Amazon Connect did not answer UpdateContactAttributes within 10 s"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_transcribestreaming::types::{Alternative, Result as TranscribeResult, Transcript, TranscriptEvent};

    fn result(id: &str, text: &str, partial: bool, start: f64, end: f64) -> TranscribeResult {
        TranscribeResult::builder()
            .result_id(id)
            .is_partial(partial)
            .start_time(start)
            .end_time(end)
            .alternatives(Alternative::builder().transcript(text).build())
            .build()
    }

    #[test]
    fn every_final_result_of_an_event_is_kept_and_partials_are_not() {
        let event = TranscriptResultStream::TranscriptEvent(
            TranscriptEvent::builder()
                .transcript(
                    Transcript::builder()
                        .results(result("r-1", "Hello there.", false, 0.5, 1.2))
                        .results(result("r-2", "How are", true, 1.3, 1.9))
                        .results(result("r-3", "I need help.", false, 2.0, 3.1))
                        .results(result("r-4", " ", false, 3.2, 3.3))
                        .build(),
                )
                .build(),
        );
        let finals = finals_of_standard(&event);
        let ids: Vec<&str> = finals.iter().map(|f| f.result_id.as_str()).collect();
        assert_eq!(ids, ["r-1", "r-3"], "both finals, in order; the partial and the blank one left out");
        assert_eq!(finals[1].text, "I need help.");
        assert_eq!((finals[1].start, finals[1].end), (2.0, 3.1));
    }

    #[test]
    fn session_ids_are_uuids_naming_the_track_and_the_offset() {
        let id = session_id("6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21", TrackKind::Agent, 3000);
        assert_eq!(id, "6f1b7c1e-2d4a-0002-9b1f-000000000bb8");
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        let random = session_id("c-1", TrackKind::Customer, 0);
        assert!(uuid::Uuid::parse_str(&random).is_ok());
    }

    #[test]
    fn senders_follow_the_telephony_integration_api() {
        assert_eq!(TrackKind::Customer.participant_id("c-1"), "c-1END_USER");
        assert_eq!(TrackKind::Agent.participant_id("c-1"), "c-1VIRTUAL_AGENT");
        assert_eq!(TrackKind::Agent.sender_type(), "VIRTUAL_AGENT");
    }
}
