//! The local Transcribe streaming endpoint driven by the real `aws-sdk-transcribestreaming` client.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_sdk_transcribestreaming::Client;
use aws_sdk_transcribestreaming::error::SdkError;
use aws_sdk_transcribestreaming::operation::start_medical_stream_transcription::StartMedicalStreamTranscriptionError;
use aws_sdk_transcribestreaming::operation::start_stream_transcription::{
    StartStreamTranscriptionError, StartStreamTranscriptionOutput,
};
use aws_sdk_transcribestreaming::primitives::Blob;
use aws_sdk_transcribestreaming::primitives::event_stream::EventStreamSender;
use aws_sdk_transcribestreaming::types::error::{AudioStreamError, TranscriptResultStreamError};
use aws_sdk_transcribestreaming::types::{
    AudioEvent, AudioStream, LanguageCode, MediaEncoding, MedicalTranscriptResultStream, Specialty,
    TranscriptResultStream, Type, VocabularyFilterMethod,
};
use futures_util::{StreamExt as _, stream};
use local_stack::transcribe_streaming::{
    EndpointConfig, ExceptionKind, Fault, Outcome, Script, TranscribeStreamingServer, Utterance,
};
use tokio::sync::mpsc;

/// 8 kHz, 16-bit mono: bytes per second of audio.
const BYTES_PER_SECOND: usize = 16_000;
/// The SDK sends what it is given as one event; 100 ms per event, as a caller would.
const CHUNK: usize = BYTES_PER_SECOND / 10;

fn script() -> Script {
    Script::new(vec![
        Utterance::new("Hello, I am calling about my order.", 0.5, 2.0),
        Utterance::new("It has not arrived yet.", 3.0, 4.5),
    ])
}

async fn server() -> Result<TranscribeStreamingServer> {
    TranscribeStreamingServer::start(
        EndpointConfig::default().with_script(script()).with_vocabulary("orders").with_vocabulary_filter("rude"),
    )
    .await
}

/// Audio the test feeds as it likes: send byte counts, drop the sender to end the stream.
struct Audio {
    tx: Option<mpsc::Sender<Vec<u8>>>,
}

impl Audio {
    fn new() -> (Audio, EventStreamSender<AudioStream, AudioStreamError>) {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        let events = stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            let event = AudioStream::AudioEvent(AudioEvent::builder().audio_chunk(Blob::new(chunk)).build());
            Some((Ok(event), rx))
        });
        // Fused: over HTTP/1.1 the SDK polls the audio stream again after its end, and an unfused
        // `unfold` panics then, which breaks the request.
        (Audio { tx: Some(tx) }, events.fuse().into())
    }

    /// Sends `seconds` of silence in 100 ms events.
    async fn send_seconds(&mut self, seconds: f64) -> Result<()> {
        let mut left = (seconds * BYTES_PER_SECOND as f64).round() as usize;
        let tx = self.tx.as_ref().context("audio already ended")?;
        while left > 0 {
            let n = left.min(CHUNK);
            tx.send(vec![0u8; n]).await.context("the SDK stopped reading audio")?;
            left -= n;
        }
        Ok(())
    }

    fn end(&mut self) {
        self.tx = None;
    }
}

/// What the client saw of one result.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    id: String,
    text: String,
    partial: bool,
    start: f64,
    end: f64,
}

fn seen_of(event: TranscriptResultStream) -> Vec<Seen> {
    let TranscriptResultStream::TranscriptEvent(event) = event else { return Vec::new() };
    let results = event.transcript.and_then(|t| t.results).unwrap_or_default();
    results
        .into_iter()
        .map(|r| Seen {
            id: r.result_id.unwrap_or_default(),
            text: r.alternatives.unwrap_or_default().into_iter().next().and_then(|a| a.transcript).unwrap_or_default(),
            partial: r.is_partial,
            start: r.start_time,
            end: r.end_time,
        })
        .collect()
}

async fn start(
    client: &Client,
    audio: EventStreamSender<AudioStream, AudioStreamError>,
) -> Result<StartStreamTranscriptionOutput> {
    Ok(client
        .start_stream_transcription()
        .language_code(LanguageCode::EnUs)
        .media_sample_rate_hertz(8000)
        .media_encoding(MediaEncoding::Pcm)
        .audio_stream(audio)
        .send()
        .await?)
}

/// Receives `count` results (or fails after 5 s).
async fn receive(output: &mut StartStreamTranscriptionOutput, count: usize) -> Result<Vec<Seen>> {
    let mut got = Vec::new();
    while got.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(5), output.transcript_result_stream.recv()).await;
        match next.context("no result within 5 s")?? {
            Some(event) => got.extend(seen_of(event)),
            None => bail!("stream ended after {} of {count} results: {got:?}", got.len()),
        }
    }
    Ok(got)
}

/// Receives until the stream ends; the error of the stream, if any, is returned beside the results.
async fn receive_to_end(
    output: &mut StartStreamTranscriptionOutput,
) -> (Vec<Seen>, Option<SdkError<TranscriptResultStreamError, aws_smithy_types::event_stream::RawMessage>>) {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), output.transcript_result_stream.recv()).await {
            Err(_) => panic!("stream neither ended nor failed within 10 s; got {got:?}"),
            Ok(Ok(Some(event))) => got.extend(seen_of(event)),
            Ok(Ok(None)) => return (got, None),
            Ok(Err(error)) => return (got, Some(error)),
        }
    }
}

fn summary(seen: &[Seen]) -> Vec<(&str, bool)> {
    seen.iter().map(|s| (s.text.as_str(), s.partial)).collect()
}

#[tokio::test]
async fn partials_then_finals_follow_the_audio_over_http2() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(0.3).await?;
    let mut output = start(&client, sender).await?;
    assert!(output.session_id().is_some_and(|id| !id.is_empty()));

    // 2.2 s of audio: the first utterance (0.5-2.0 s) is complete, the second (3.0-4.5 s) not begun.
    audio.send_seconds(1.9).await?;
    let first = receive(&mut output, 3).await?;
    assert_eq!(
        summary(&first),
        vec![
            ("Hello, I am", true),
            ("Hello, I am calling about", true),
            ("Hello, I am calling about my order.", false),
        ]
    );
    assert!(first.iter().all(|s| s.id == first[0].id), "one ResultId per utterance: {first:?}");
    assert_eq!((first[2].start, first[2].end), (0.5, 2.0));
    assert_eq!((first[0].start, first[0].end), (0.5, 1.0));
    // Nothing of the second utterance is sent before its audio arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.sessions()[0].results.len(), 3);

    audio.send_seconds(2.5).await?;
    audio.end();
    let (rest, error) = receive_to_end(&mut output).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        summary(&rest),
        vec![("It has", true), ("It has not arrived", true), ("It has not arrived yet.", false)]
    );
    assert!(rest.iter().all(|s| s.id == rest[0].id));
    assert_ne!(rest[0].id, first[0].id);
    assert_eq!((rest[2].start, rest[2].end), (3.0, 4.5));

    let sessions = server.wait_for_sessions(1, Duration::from_secs(5)).await;
    let session = &sessions[0];
    assert_eq!(session.http_version, "HTTP/2.0");
    assert!(session.tls);
    assert_eq!(session.outcome, Outcome::Completed);
    assert_eq!(session.audio_bytes, (4.7 * BYTES_PER_SECOND as f64) as usize);
    assert_eq!(session.audio_events, 47);
    assert!(session.audio_ended);
    // Every audio event and the end of the stream came signed.
    assert_eq!(session.signed_events, 48);
    assert!(
        session.header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIDLOCALSTACK/"))
    );
    assert_eq!(session.header("x-amzn-transcribe-language-code"), Some("en-US"));
    assert_eq!(session.header("x-amzn-transcribe-sample-rate"), Some("8000"));
    assert_eq!(session.header("x-amzn-transcribe-media-encoding"), Some("pcm"));
    assert_eq!(output.session_id(), Some(session.session_id.as_str()));
    // Each result went out once the audio had reached its point in the utterance.
    assert_eq!(session.results.len(), 6);
    for result in &session.results {
        assert!(result.audio_seconds >= result.end_time, "{result:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_default_client_over_plain_http_speaks_http1_both_ways_at_once() -> Result<()> {
    let server = server().await?;
    let client = Client::from_conf(server.plain_http_sdk_config());
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(0.1).await?;
    let mut output = start(&client, sender).await?;
    audio.send_seconds(2.0).await?;
    // The first final arrives while the request body is still open.
    let first = receive(&mut output, 3).await?;
    assert_eq!(first[2].text, "Hello, I am calling about my order.");
    audio.end();
    let (rest, error) = receive_to_end(&mut output).await;
    assert!(error.is_none() && rest.is_empty(), "{rest:?} {error:?}");
    let session = &server.wait_for_sessions(1, Duration::from_secs(5)).await[0];
    assert_eq!(session.http_version, "HTTP/1.1");
    assert!(!session.tls);
    assert_eq!(session.outcome, Outcome::Completed);
    Ok(())
}

#[tokio::test]
async fn ending_the_audio_flushes_the_begun_utterance_only() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    let (mut audio, sender) = Audio::new();
    // 1.2 s: the first utterance has begun (first partial due at 1.0 s), the second has not.
    audio.send_seconds(1.2).await?;
    audio.end();
    let mut output = start(&client, sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(summary(&seen), vec![("Hello, I am", true), ("Hello, I am calling about my order.", false)]);
    let session = &server.wait_for_sessions(1, Duration::from_secs(5)).await[0];
    assert_eq!((session.finals().len(), session.partials().len()), (1, 1));
    assert_eq!(session.audio_bytes, 19_200);
    Ok(())
}

#[tokio::test]
async fn a_medical_session() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(5.0).await?;
    audio.end();
    let mut output = client
        .start_medical_stream_transcription()
        .language_code(LanguageCode::EnUs)
        .media_sample_rate_hertz(8000)
        .media_encoding(MediaEncoding::Pcm)
        .specialty(Specialty::Primarycare)
        .r#type(Type::Conversation)
        .vocabulary_name("orders")
        .session_id("0b7c9a1e-6a0e-4f7e-9d35-0a4c1d2e3f40")
        .audio_stream(sender)
        .send()
        .await?;
    assert_eq!(output.session_id(), Some("0b7c9a1e-6a0e-4f7e-9d35-0a4c1d2e3f40"));
    let mut finals = Vec::new();
    let mut partials = 0;
    while let Some(event) = output.transcript_result_stream.recv().await? {
        let MedicalTranscriptResultStream::TranscriptEvent(event) = event else { bail!("unexpected {event:?}") };
        for result in event.transcript.and_then(|t| t.results).unwrap_or_default() {
            let alternative = result.alternatives.unwrap_or_default().into_iter().next().context("alternative")?;
            if result.is_partial {
                partials += 1;
            } else {
                assert_eq!(
                    alternative.items.as_ref().map(Vec::len),
                    Some(alternative.transcript.as_deref().unwrap_or("").split(' ').count())
                );
                finals.push(alternative.transcript.unwrap_or_default());
            }
            assert_eq!(result.channel_id.as_deref(), Some("ch_0"));
        }
    }
    assert_eq!(finals, vec!["Hello, I am calling about my order.", "It has not arrived yet."]);
    assert_eq!(partials, 4);
    let session = &server.wait_for_sessions(1, Duration::from_secs(5)).await[0];
    assert_eq!(session.operation, Some(local_stack::transcribe_streaming::Operation::StartMedicalStreamTranscription));
    assert_eq!(session.header("x-amzn-transcribe-specialty"), Some("PRIMARYCARE"));
    assert_eq!(session.header("x-amzn-transcribe-type"), Some("CONVERSATION"));
    assert_eq!(session.header("x-amzn-transcribe-vocabulary-name"), Some("orders"));
    Ok(())
}

#[tokio::test]
async fn invalid_requests_are_refused_with_a_bad_request_naming_the_value() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    let standard = |rate: i32, encoding: MediaEncoding, language: LanguageCode| {
        let (_, sender) = Audio::new();
        client
            .start_stream_transcription()
            .language_code(language)
            .media_sample_rate_hertz(rate)
            .media_encoding(encoding)
            .audio_stream(sender)
    };
    let cases = vec![
        ("sample rate", standard(16000, MediaEncoding::Pcm, LanguageCode::EnUs), "\"16000\""),
        ("encoding", standard(8000, MediaEncoding::OggOpus, LanguageCode::EnUs), "\"ogg-opus\""),
        ("language", standard(8000, MediaEncoding::Pcm, LanguageCode::from("xx-XX")), "\"xx-XX\""),
        (
            "vocabulary",
            standard(8000, MediaEncoding::Pcm, LanguageCode::EnUs).vocabulary_name("missing-vocab"),
            "\"missing-vocab\"",
        ),
        (
            "filter",
            standard(8000, MediaEncoding::Pcm, LanguageCode::EnUs)
                .vocabulary_filter_name("missing-filter")
                .vocabulary_filter_method(VocabularyFilterMethod::Mask),
            "\"missing-filter\"",
        ),
        ("session id", standard(8000, MediaEncoding::Pcm, LanguageCode::EnUs).session_id("call-1"), "\"call-1\""),
        (
            "filter method without a filter",
            standard(8000, MediaEncoding::Pcm, LanguageCode::EnUs)
                .vocabulary_filter_method(VocabularyFilterMethod::Tag),
            "\"tag\" needs a vocabulary filter name",
        ),
        (
            "filter method",
            standard(8000, MediaEncoding::Pcm, LanguageCode::EnUs)
                .vocabulary_filter_name("rude")
                .vocabulary_filter_method(VocabularyFilterMethod::from("hide")),
            "\"hide\"",
        ),
    ];
    let count = cases.len();
    for (what, request, value) in cases {
        let error = request.send().await.err().with_context(|| format!("{what}: accepted"))?;
        match error.into_service_error() {
            StartStreamTranscriptionError::BadRequestException(e) => {
                let message = e.message().unwrap_or_default();
                assert!(message.contains(value), "{what}: {message}");
            }
            other => bail!("{what}: {other:?}"),
        }
    }

    let (_, sender) = Audio::new();
    let medical = client
        .start_medical_stream_transcription()
        .language_code(LanguageCode::EsUs)
        .media_sample_rate_hertz(8000)
        .media_encoding(MediaEncoding::Pcm)
        .specialty(Specialty::Cardiology)
        .r#type(Type::Dictation)
        .audio_stream(sender)
        .send()
        .await;
    match medical.err().context("medical Spanish accepted")?.into_service_error() {
        StartMedicalStreamTranscriptionError::BadRequestException(e) => {
            assert!(e.message().unwrap_or_default().contains("\"es-US\""), "{e:?}");
        }
        other => bail!("{other:?}"),
    }

    let sessions = server.sessions();
    assert_eq!(sessions.len(), count + 1);
    assert!(
        sessions.iter().all(|s| matches!(&s.outcome, Outcome::Rejected { exception: ExceptionKind::BadRequest, .. })),
        "{sessions:?}"
    );
    Ok(())
}

#[tokio::test]
async fn limit_exceeded_at_start_refuses_one_session() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    server.inject(Fault::RejectAtStart(ExceptionKind::LimitExceeded));
    let (_, sender) = Audio::new();
    let error = start(&client, sender).await.err().context("accepted despite the fault")?;
    let error = error.downcast::<SdkError<StartStreamTranscriptionError>>()?;
    assert!(matches!(error.into_service_error(), StartStreamTranscriptionError::LimitExceededException(_)));

    // The fault is used up: the next session streams.
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(2.0).await?;
    audio.end();
    let mut output = start(&client, sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(error.is_none());
    assert_eq!(seen.iter().filter(|s| !s.partial).count(), 1);
    let sessions = server.wait_for_sessions(2, Duration::from_secs(5)).await;
    assert!(matches!(sessions[0].outcome, Outcome::Rejected { exception: ExceptionKind::LimitExceeded, .. }));
    assert_eq!(sessions[1].outcome, Outcome::Completed);
    Ok(())
}

#[tokio::test]
async fn an_exception_mid_stream_after_n_results() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    for (kind, expected) in [
        (ExceptionKind::InternalFailure, "InternalFailureException"),
        (ExceptionKind::BadRequest, "BadRequestException"),
        (ExceptionKind::LimitExceeded, "LimitExceededException"),
        (ExceptionKind::Conflict, "ConflictException"),
        (ExceptionKind::ServiceUnavailable, "ServiceUnavailableException"),
    ] {
        server.inject(Fault::ExceptionAfter { results: 2, exception: kind });
        let (mut audio, sender) = Audio::new();
        audio.send_seconds(5.0).await?;
        let mut output = start(&client, sender).await?;
        let (seen, error) = receive_to_end(&mut output).await;
        assert_eq!(seen.len(), 2, "{kind:?}: {seen:?}");
        let error = error.with_context(|| format!("{kind:?}: the stream ended cleanly"))?;
        let service = error.into_service_error();
        let name = match &service {
            TranscriptResultStreamError::InternalFailureException(_) => "InternalFailureException",
            TranscriptResultStreamError::BadRequestException(_) => "BadRequestException",
            TranscriptResultStreamError::LimitExceededException(_) => "LimitExceededException",
            TranscriptResultStreamError::ConflictException(_) => "ConflictException",
            TranscriptResultStreamError::ServiceUnavailableException(_) => "ServiceUnavailableException",
            other => bail!("{other:?}"),
        };
        assert_eq!(name, expected);
        assert!(service.to_string().contains("after 2 results") || format!("{service:?}").contains("after 2 results"));
    }
    let sessions = server.wait_for_sessions(5, Duration::from_secs(5)).await;
    assert!(sessions.iter().all(|s| s.results.len() == 2 && matches!(s.outcome, Outcome::Exception { .. })));
    Ok(())
}

#[tokio::test]
async fn a_slow_stream_delays_every_result() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    server.inject(Fault::Slow(Duration::from_millis(250)));
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(2.0).await?;
    audio.end();
    let began = Instant::now();
    let mut output = start(&client, sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(error.is_none());
    assert_eq!(seen.len(), 3);
    assert!(began.elapsed() >= Duration::from_millis(750), "{:?}", began.elapsed());
    Ok(())
}

#[tokio::test]
async fn a_reset_stream_and_a_dropped_connection_fail_the_client_after_n_results() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    for (fault, outcome) in [
        (Fault::ResetAfter { results: 1 }, Outcome::Reset),
        (Fault::DropConnectionAfter { results: 1 }, Outcome::ConnectionDropped),
    ] {
        server.inject(fault.clone());
        let (mut audio, sender) = Audio::new();
        audio.send_seconds(5.0).await?;
        let mut output = start(&client, sender).await?;
        let (seen, error) = receive_to_end(&mut output).await;
        assert_eq!(seen.len(), 1, "{fault:?}");
        let error = error.with_context(|| format!("{fault:?}: the stream ended cleanly"))?;
        // Not one of the documented exceptions: a broken response.
        assert!(!matches!(error, SdkError::ServiceError(_)), "{fault:?}: {error:?}");
        assert_eq!(server.sessions().last().map(|s| s.outcome.clone()), Some(outcome));
    }
    // The server still serves after a dropped connection.
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(2.0).await?;
    audio.end();
    let mut output = start(&client, sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(error.is_none() && seen.len() == 3, "{seen:?} {error:?}");
    Ok(())
}

#[tokio::test]
async fn concurrent_sessions_are_told_apart_and_pick_their_script() -> Result<()> {
    let server = server().await?;
    server.set_script_selector(|session| {
        (session.header("x-amzn-transcribe-session-id") == Some("11111111-2222-3333-4444-555555555555"))
            .then(|| Script::new(vec![Utterance::new("Agent speaking.", 0.2, 1.0)]).with_partials(1))
    });
    let client = server.client()?;
    let (mut customer_audio, customer_sender) = Audio::new();
    let (mut agent_audio, agent_sender) = Audio::new();
    customer_audio.send_seconds(4.6).await?;
    customer_audio.end();
    agent_audio.send_seconds(1.0).await?;
    agent_audio.end();
    let customer = start(&client, customer_sender);
    let agent = client
        .start_stream_transcription()
        .language_code(LanguageCode::EnUs)
        .media_sample_rate_hertz(8000)
        .media_encoding(MediaEncoding::Pcm)
        .session_id("11111111-2222-3333-4444-555555555555")
        .audio_stream(agent_sender)
        .send();
    let (customer, agent) = tokio::join!(customer, agent);
    let (mut customer, mut agent) = (customer?, agent?);
    let ((customer_seen, e1), (agent_seen, e2)) =
        tokio::join!(receive_to_end(&mut customer), receive_to_end(&mut agent));
    assert!(e1.is_none() && e2.is_none());
    assert_eq!(summary(&agent_seen), vec![("Agent", true), ("Agent speaking.", false)]);
    assert_eq!(customer_seen.iter().filter(|s| !s.partial).count(), 2);

    let sessions = server.wait_for_sessions(2, Duration::from_secs(5)).await;
    let mut bytes: Vec<(usize, usize)> = sessions.iter().map(|s| (s.audio_bytes, s.results.len())).collect();
    bytes.sort_unstable();
    assert_eq!(bytes, vec![(16_000, 2), (73_600, 6)]);
    Ok(())
}

#[tokio::test]
async fn a_session_without_new_audio_times_out_with_a_bad_request() -> Result<()> {
    let server = TranscribeStreamingServer::start(
        EndpointConfig::default().with_script(script()).with_audio_idle_timeout(Duration::from_secs(1)),
    )
    .await?;
    let client = server.client()?;
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(1.2).await?;
    let began = Instant::now();
    let mut output = start(&client, sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(began.elapsed() >= Duration::from_secs(1));
    assert_eq!(summary(&seen), vec![("Hello, I am", true)]);
    match error.context("the stream ended cleanly")?.into_service_error() {
        TranscriptResultStreamError::BadRequestException(e) => {
            assert!(e.message().unwrap_or_default().contains("no new audio was received for 1 seconds"), "{e:?}");
        }
        other => bail!("{other:?}"),
    }
    drop(audio);
    Ok(())
}

/// Event-stream frames built by hand, sent over HTTP/2 with prior knowledge (h2c) on the plain port.
mod h2c {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    use bytes::{Bytes, BytesMut};
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    fn audio_event(bytes: usize) -> Result<Vec<u8>> {
        let message = Message::new(Bytes::from(vec![0u8; bytes]))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
            .add_header(Header::new(":event-type", HeaderValue::String("AudioEvent".into())))
            .add_header(Header::new(":content-type", HeaderValue::String("application/octet-stream".into())));
        let mut out = Vec::new();
        write_message_to(&message, &mut out)?;
        Ok(out)
    }

    fn string(message: &Message, name: &str) -> String {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|v| v.as_str().to_string())
            .unwrap_or_default()
    }

    async fn post(
        sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        endpoint: &str,
        body: Vec<u8>,
    ) -> Result<(hyper::http::response::Parts, Vec<Message>)> {
        let request = hyper::Request::post(format!("{endpoint}/stream-transcription"))
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/transcribe/aws4_request")
            .header("content-type", "application/vnd.amazon.eventstream")
            .header("x-amzn-transcribe-language-code", "en-GB")
            .header("x-amzn-transcribe-sample-rate", "8000")
            .header("x-amzn-transcribe-media-encoding", "pcm")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let mut buffer = BytesMut::from(&body.collect().await?.to_bytes()[..]);
        let mut decoder = MessageFrameDecoder::new();
        let mut messages = Vec::new();
        while let DecodedFrame::Complete(message) = decoder.decode_frame(&mut buffer)? {
            messages.push(message);
        }
        assert!(buffer.is_empty(), "trailing bytes after the last frame");
        Ok((parts, messages))
    }

    #[tokio::test]
    async fn unsigned_events_over_h2c_and_a_corrupt_frame() -> Result<()> {
        let server = server().await?;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await?;
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        let endpoint = server.http_endpoint();

        // 2.1 s of audio in three events, then the request body simply ends.
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend(audio_event(11_200)?);
        }
        let (parts, messages) = post(&mut sender, &endpoint, body).await?;
        assert_eq!(parts.status, 200);
        assert_eq!(parts.headers["content-type"], "application/vnd.amazon.eventstream");
        assert_eq!(parts.headers["x-amzn-transcribe-language-code"], "en-GB");
        assert!(parts.headers.contains_key("x-amzn-transcribe-session-id"));
        assert_eq!(messages.len(), 3);
        for message in &messages {
            assert_eq!(string(message, ":message-type"), "event");
            assert_eq!(string(message, ":event-type"), "TranscriptEvent");
            assert_eq!(string(message, ":content-type"), "application/json");
        }
        let last: serde_json::Value = serde_json::from_slice(messages[2].payload())?;
        let result = &last["Transcript"]["Results"][0];
        assert_eq!(result["IsPartial"], false);
        assert_eq!(result["Alternatives"][0]["Transcript"], "Hello, I am calling about my order.");
        assert_eq!(result["Alternatives"][0]["Items"].as_array().map(Vec::len), Some(7));

        // A frame whose message CRC is wrong: an exception message, on the same connection.
        let mut corrupt = audio_event(1600)?;
        let at = corrupt.len() - 1;
        corrupt[at] ^= 0xff;
        let (parts, messages) = post(&mut sender, &endpoint, corrupt).await?;
        assert_eq!(parts.status, 200);
        assert_eq!(messages.len(), 1);
        assert_eq!(string(&messages[0], ":message-type"), "exception");
        assert_eq!(string(&messages[0], ":exception-type"), "BadRequestException");
        let payload: serde_json::Value = serde_json::from_slice(messages[0].payload())?;
        assert!(payload["Message"].as_str().is_some_and(|m| m.contains("malformed event-stream frame")), "{payload}");

        let sessions = server.wait_for_sessions(2, Duration::from_secs(5)).await;
        assert!(sessions.iter().all(|s| s.http_version == "HTTP/2.0" && !s.tls));
        assert_eq!((sessions[0].audio_bytes, sessions[0].signed_events, sessions[0].audio_ended), (33_600, 0, false));
        assert_eq!(sessions[0].outcome, Outcome::Completed);
        assert!(matches!(sessions[1].outcome, Outcome::Exception { exception: ExceptionKind::BadRequest, .. }));
        Ok(())
    }
}

/// A spawned function uses the SDK's default HTTP client, which trusts the system's roots: pointing
/// `SSL_CERT_FILE` at the endpoint's certificate makes it trust the endpoint (and nothing else).
#[tokio::test]
async fn a_child_process_trusts_the_endpoint_through_ssl_cert_file() -> Result<()> {
    let server = server().await?;
    let run_child = async |cert_file: Option<&std::path::Path>| {
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .args(["--exact", "child_default_client_over_https", "--include-ignored", "--test-threads=1"])
            .env("TRANSCRIBE_STREAMING_TEST_ENDPOINT", server.https_endpoint())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("SSL_CERT_DIR");
        match cert_file {
            Some(file) => command.env("SSL_CERT_FILE", file),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        anyhow::Ok(command.output().await?)
    };
    let trusted = run_child(Some(server.certificate_file())).await?;
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stdout));
    let untrusted = run_child(None).await?;
    assert!(!untrusted.status.success(), "the system roots trusted a self-signed certificate");
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].tls && sessions[0].http_version == "HTTP/2.0");
    Ok(())
}

#[tokio::test]
#[ignore = "run in a child process by a_child_process_trusts_the_endpoint_through_ssl_cert_file"]
async fn child_default_client_over_https() -> Result<()> {
    use aws_sdk_transcribestreaming::config::{BehaviorVersion, Credentials, Region};
    let endpoint = std::env::var("TRANSCRIBE_STREAMING_TEST_ENDPOINT").context("TRANSCRIBE_STREAMING_TEST_ENDPOINT")?;
    let config = aws_sdk_transcribestreaming::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDCHILD", "child-secret", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(2.0).await?;
    audio.end();
    let mut output = start(&Client::from_conf(config), sender).await?;
    let (seen, error) = receive_to_end(&mut output).await;
    assert!(error.is_none() && seen.len() == 3, "{seen:?} {error:?}");
    Ok(())
}

#[tokio::test]
async fn dropping_the_server_closes_its_open_sessions() -> Result<()> {
    let server = server().await?;
    let client = server.client()?;
    let (mut audio, sender) = Audio::new();
    audio.send_seconds(2.0).await?;
    let mut output = start(&client, sender).await?;
    assert_eq!(receive(&mut output, 3).await?.len(), 3);
    let certificate_file = server.certificate_file().to_path_buf();
    assert!(certificate_file.exists());
    drop(server);
    let (rest, error) = receive_to_end(&mut output).await;
    assert!(rest.is_empty() && error.is_some(), "{rest:?} {error:?}");
    assert!(!certificate_file.exists());
    Ok(())
}
