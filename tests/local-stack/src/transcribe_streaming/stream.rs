//! One session's two halves: the audio read from the request, the results written as it arrives.

use std::collections::VecDeque;
use std::time::Duration;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, stream};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::{mpsc, watch};

use super::script::{Planned, Script, plan, round_ms, transcript_event};
use super::wire::{Unwrapped, event_message, exception_message, frame, unwrap_envelope};
use super::{Connection, ExceptionKind, Fault, Outcome, Session, Shared, lock};

/// The audio stream as the writer sees it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Progress {
    bytes: usize,
    ended: bool,
    /// The request's event stream broke: what was wrong.
    failed: Option<String>,
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
                    let _ = progress.send(state.clone());
                    return;
                }
                Ok(Unwrapped::Audio { bytes, signed }) => {
                    state.bytes += bytes;
                    record(&shared, index, |s| {
                        s.audio_events += 1;
                        s.audio_bytes += bytes;
                        s.signed_events += usize::from(signed);
                    });
                    let _ = progress.send(state.clone());
                    continue;
                }
                Ok(Unwrapped::Other { signed }) => {
                    record(&shared, index, |s| s.signed_events += usize::from(signed));
                    continue;
                }
                Err(message) => {
                    state.failed = Some(message);
                    let _ = progress.send(state.clone());
                    return;
                }
            },
            Ok(DecodedFrame::Incomplete) => {}
            Err(error) => {
                state.failed = Some(format!("malformed event-stream frame: {error}"));
                let _ = progress.send(state.clone());
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
                let _ = progress.send(state.clone());
                return;
            }
        }
    }
}

pub(super) struct Writer {
    pub conn: Connection,
    pub index: usize,
    pub script: Script,
    pub fault: Option<Fault>,
    pub bytes_per_second: f64,
    pub idle_timeout: Duration,
    pub medical: bool,
}

type FrameResult = Result<Frame<Bytes>, std::io::Error>;

/// Starts reading the audio of `body` and writing the results; returns the response's frames.
pub(super) fn start(body: Incoming, writer: Writer) -> impl futures_util::Stream<Item = FrameResult> + Send {
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let (frames_tx, frames_rx) = mpsc::channel::<FrameResult>(16);
    tokio::spawn(read_audio(body, writer.conn.shared.clone(), writer.index, progress_tx));
    tokio::spawn(write_results(writer, progress_rx, frames_tx));
    // Fused: hyper may poll a finished body once more.
    stream::unfold(frames_rx, |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) }).fuse()
}

/// Waits until the connection has taken every frame queued so far and had a moment to write them, so
/// that a reset or a dropped connection comes after the results before it rather than overtaking them.
async fn flushed(body: &mpsc::Sender<FrameResult>) {
    while body.capacity() < body.max_capacity() && !body.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Sends the results as the audio arrives, applies the session's fault and ends the stream.
async fn write_results(writer: Writer, mut progress: watch::Receiver<Progress>, body: mpsc::Sender<FrameResult>) {
    let Writer { conn, index, script, fault, bytes_per_second, idle_timeout, medical } = writer;
    let shared = &conn.shared;
    let result_ids: Vec<String> = script.utterances.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut planned: VecDeque<Planned> = plan(&script).into();
    let mut sent = 0usize;
    let mut reader_gone = false;
    let finish = |outcome: Outcome| {
        record(shared, index, |s| s.outcome = outcome);
    };
    // The outcome is recorded before the client can see it.
    let fail = |exception: ExceptionKind, message: String| {
        let frame = frame(&exception_message(exception, &message));
        finish(Outcome::Exception { exception, message });
        body.send(frame)
    };
    loop {
        let mut state = progress.borrow_and_update().clone();
        // A reader that stopped without the end of the stream (it cannot, short of a panic): what
        // arrived is the whole audio.
        state.ended |= reader_gone;
        let seconds = state.bytes as f64 / bytes_per_second;
        if let Some(problem) = state.failed {
            let _ = fail(ExceptionKind::BadRequest, format!("session {index}: {problem}")).await;
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
                    let _ = fail(*exception, message).await;
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
            record(shared, index, |s| s.results.push(result));
            if body.send(frame(&event_message(&payload))).await.is_err() {
                finish(Outcome::ClientGone);
                return;
            }
            sent += 1;
        }
        if state.ended {
            finish(Outcome::Completed);
            return;
        }
        tokio::select! {
            changed = progress.changed() => reader_gone = changed.is_err(),
            () = body.closed() => {
                finish(Outcome::ClientGone);
                return;
            }
            () = tokio::time::sleep(idle_timeout) => {
                let message = format!(
                    "Your request timed out because no new audio was received for {} seconds.",
                    idle_timeout.as_secs_f64()
                );
                let _ = fail(ExceptionKind::BadRequest, message).await;
                return;
            }
        }
    }
}
