//! The AWS event-stream messages both ways, and the HTTP answer of an exception.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};

use super::{ExceptionKind, ResponseBody};

pub(super) fn exception_payload(message: &str) -> Bytes {
    Bytes::from(json!({ "Message": message }).to_string())
}

pub(super) fn http_error(exception: ExceptionKind, message: &str) -> Response<ResponseBody> {
    let body = Full::new(exception_payload(message)).map_err(|never| match never {}).boxed();
    let mut response = Response::new(body);
    *response.status_mut() = exception.status();
    let headers = response.headers_mut();
    headers.insert("x-amzn-errortype", hyper::header::HeaderValue::from_static(exception.name()));
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

pub(super) enum Unwrapped {
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
pub(super) fn unwrap_envelope(envelope: &Message) -> Result<Unwrapped, String> {
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

pub(super) fn exception_message(kind: ExceptionKind, message: &str) -> Message {
    Message::new(exception_payload(message))
        .add_header(Header::new(":message-type", HeaderValue::String("exception".into())))
        .add_header(Header::new(":exception-type", HeaderValue::String(kind.name().into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
}

pub(super) fn event_message(payload: &Value) -> Message {
    Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
        .add_header(Header::new(":event-type", HeaderValue::String("TranscriptEvent".into())))
        .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
}

pub(super) fn frame(message: &Message) -> Result<Frame<Bytes>, std::io::Error> {
    let mut buffer = Vec::new();
    write_message_to(message, &mut buffer).map_err(std::io::Error::other)?;
    Ok(Frame::data(Bytes::from(buffer)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
