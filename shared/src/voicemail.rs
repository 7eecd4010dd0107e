//! What the three voicemail functions share (Implementation Guide ch. 2 "Enable Voicemail Support";
//! docs/functions.md#voicemail): the S3 layout, the recording's tags, the EventBridge "Object Created" event, the
//! Transcribe job name and the Amazon Transcribe output.
//!
//! S3 layout, as the official functions and the documented EventBridge patterns have it:
//! `voicemail_recordings/<ContactId>.wav` (tagged), `voicemail_transcripts/<ContactId>.json`
//! (written by Amazon Transcribe). The packaging keeps its progress in
//! `voicemail_packaged/<ContactId>.json`, a prefix no rule listens to.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use thiserror::Error;

pub const RECORDINGS_PREFIX: &str = "voicemail_recordings/";
pub const TRANSCRIPTS_PREFIX: &str = "voicemail_transcripts/";
pub const PACKAGED_PREFIX: &str = "voicemail_packaged/";
pub const RECORDING_CONTENT_TYPE: &str = "audio/x-wav";
/// `vm_lang` when the contact set none (the official default).
pub const DEFAULT_LANGUAGE: &str = "en-US";

pub fn recording_key(contact_id: &str) -> String {
    format!("{RECORDINGS_PREFIX}{contact_id}.wav")
}

pub fn transcript_key(contact_id: &str) -> String {
    format!("{TRANSCRIPTS_PREFIX}{contact_id}.json")
}

pub fn packaged_key(contact_id: &str) -> String {
    format!("{PACKAGED_PREFIX}{contact_id}.json")
}

/// A contact id that can be used as it is in an S3 key and as a Transcribe job name: a
/// [`crate::ids::PathId`] (letters, digits, `-`, `_`; within Transcribe's `^[0-9a-zA-Z._-]+$`,
/// 200 characters). Amazon Connect contact ids are UUIDs.
pub fn is_safe_contact_id(contact_id: &str) -> bool {
    crate::ids::PathId::parse("ContactId", contact_id).is_ok()
}

/// The contact of `prefix<ContactId><extension>`, when the key has that shape.
pub fn contact_of<'a>(key: &'a str, prefix: &str, extension: &str) -> Option<&'a str> {
    key.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(extension)).filter(|id| is_safe_contact_id(id))
}

/// The deterministic Transcribe job of a contact: a second start for the same recording conflicts
/// instead of transcribing it twice (the official name, so the packaging can delete it).
pub fn transcription_job_name(contact_id: &str) -> String {
    contact_id.to_string()
}

pub mod tag {
    pub const LANG: &str = "vm_lang";
    pub const DIALED_NUMBER: &str = "vm_dialedNumber";
    pub const INIT_TIMESTAMP: &str = "vm_initTimestamp";
    pub const END_TIMESTAMP: &str = "vm_endTimestamp";
    pub const DURATION: &str = "vm_duration";
    pub const RECORDING_URL: &str = "vm_recordingUrl";
    /// The caller's number (the CTR's `CustomerEndpoint.Address`): this suite's tag, which the
    /// packaging sends as the VoiceCall's `fromNumber` (the official functions set no caller).
    pub const CALLER: &str = "vm_from";
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TagError {
    #[error("tag {tag} of the recording of contact {contact_id} is missing")]
    Missing { tag: &'static str, contact_id: String },
    #[error("tag {tag} of the recording of contact {contact_id} is invalid ({value:?}): {reason}")]
    Invalid { tag: &'static str, contact_id: String, value: String, reason: String },
}

/// The tags the official VoiceMailAudioProcessing sets on a recording (docs/events.md#voicemail-objects), values as
/// stored (S3 decodes the `Tagging` header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingTags {
    pub lang: Option<String>,
    pub dialed_number: Option<String>,
    /// The CTR's `InitiationTimestamp` (ISO-8601).
    pub init_timestamp: Option<String>,
    /// The CTR's `DisconnectTimestamp` (ISO-8601).
    pub end_timestamp: Option<String>,
    /// Whole seconds, rounded up.
    pub duration_secs: Option<u64>,
    /// `<bucket>/voicemail_recordings/<ContactId>.wav`, no scheme (as the official function).
    pub recording_url: Option<String>,
    /// The caller's number (`vm_from`; absent on a recording the official function tagged).
    pub caller: Option<String>,
}

const TAG_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl RecordingTags {
    /// The tags in the official order, empty values left out.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.push((k, v));
            }
        };
        put(tag::LANG, self.lang.clone());
        put(tag::DIALED_NUMBER, self.dialed_number.clone());
        put(tag::INIT_TIMESTAMP, self.init_timestamp.clone());
        put(tag::END_TIMESTAMP, self.end_timestamp.clone());
        put(tag::DURATION, self.duration_secs.map(|d| d.to_string()));
        put(tag::RECORDING_URL, self.recording_url.clone());
        put(tag::CALLER, self.caller.clone());
        out
    }

    /// The S3 `Tagging` header: URL-encoded `key=value` pairs joined by `&`.
    pub fn tagging_header(&self) -> String {
        self.pairs()
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, TAG_VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Reads the tags of the recording of `contact_id`; other tags are ignored.
    pub fn from_pairs<'a>(
        contact_id: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, TagError> {
        let map: BTreeMap<&str, &str> = pairs.into_iter().collect();
        let get = |k: &str| map.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let duration_secs = match get(tag::DURATION) {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| TagError::Invalid {
                tag: tag::DURATION,
                contact_id: contact_id.to_string(),
                value: text.clone(),
                reason: "expected whole seconds".into(),
            })?),
        };
        Ok(Self {
            lang: get(tag::LANG),
            dialed_number: get(tag::DIALED_NUMBER),
            init_timestamp: get(tag::INIT_TIMESTAMP),
            end_timestamp: get(tag::END_TIMESTAMP),
            duration_secs,
            recording_url: get(tag::RECORDING_URL),
            caller: get(tag::CALLER),
        })
    }

    /// `vm_lang`, or en-US when the contact set none.
    pub fn language(&self) -> &str {
        self.lang.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or(DEFAULT_LANGUAGE)
    }

    /// A required tag's value.
    pub fn require<'s>(&'s self, contact_id: &str, tag: &'static str) -> Result<&'s str, TagError> {
        let value = match tag {
            tag::LANG => self.lang.as_deref(),
            tag::DIALED_NUMBER => self.dialed_number.as_deref(),
            tag::INIT_TIMESTAMP => self.init_timestamp.as_deref(),
            tag::END_TIMESTAMP => self.end_timestamp.as_deref(),
            tag::RECORDING_URL => self.recording_url.as_deref(),
            tag::CALLER => self.caller.as_deref(),
            _ => None,
        };
        value.ok_or_else(|| TagError::Missing { tag, contact_id: contact_id.to_string() })
    }

    /// A timestamp tag in epoch milliseconds.
    pub fn epoch_millis(&self, contact_id: &str, tag: &'static str) -> Result<i64, TagError> {
        let text = self.require(contact_id, tag)?;
        epoch_millis(text).map_err(|reason| TagError::Invalid {
            tag,
            contact_id: contact_id.to_string(),
            value: text.to_string(),
            reason,
        })
    }
}

/// An ISO-8601 / RFC 3339 timestamp (as in CTRs) in epoch milliseconds.
pub fn epoch_millis(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("not an ISO-8601 timestamp with a time zone: {e}"))
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error("not an Amazon S3 \"Object Created\" EventBridge event: {0}")]
    NotObjectCreated(String),
    #[error("the event has no {0}")]
    Missing(&'static str),
    /// A bucket name that could change the request's path (issue 13 item 1).
    #[error("{0}")]
    BadBucket(crate::ids::IdError),
}

/// The object of an EventBridge S3 "Object Created" event (source `aws.s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
}

/// Reads `detail.bucket.name` and `detail.object.key`; `source` and `detail-type`, when present,
/// must be `aws.s3` and `Object Created`.
pub fn created_object(event: &Value) -> Result<CreatedObject, EventError> {
    if let Some(source) = event.get("source").and_then(Value::as_str).filter(|s| *s != "aws.s3") {
        return Err(EventError::NotObjectCreated(format!("source is {source}")));
    }
    if let Some(kind) = event.get("detail-type").and_then(Value::as_str).filter(|s| *s != "Object Created") {
        return Err(EventError::NotObjectCreated(format!("detail-type is {kind}")));
    }
    let detail = event.get("detail").filter(|d| d.is_object()).ok_or(EventError::Missing("detail"))?;
    let text = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    let bucket = detail.pointer("/bucket/name").and_then(text).ok_or(EventError::Missing("detail.bucket.name"))?;
    crate::ids::bucket_name("detail.bucket.name", &bucket).map_err(EventError::BadBucket)?;
    let key = detail.pointer("/object/key").and_then(text).ok_or(EventError::Missing("detail.object.key"))?;
    let size = detail.pointer("/object/size").and_then(Value::as_u64);
    Ok(CreatedObject { bucket, key, size })
}

/// The text of an Amazon Transcribe output file: `results.transcripts[].transcript`, joined.
pub fn transcript_text(output: &Value) -> Result<String, String> {
    let transcripts = output
        .pointer("/results/transcripts")
        .and_then(Value::as_array)
        .ok_or("results.transcripts is missing: not an Amazon Transcribe output file")?;
    let parts: Vec<&str> = transcripts
        .iter()
        .map(|t| t.get("transcript").and_then(Value::as_str).ok_or("a transcript without its text"))
        .collect::<Result<_, _>>()?;
    Ok(parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_contacts() {
        let id = "6e3a1c55-4c3b-4d7e-9a43-2b0e9c1a7f10";
        assert_eq!(recording_key(id), format!("voicemail_recordings/{id}.wav"));
        assert_eq!(transcript_key(id), format!("voicemail_transcripts/{id}.json"));
        let cases = [
            (format!("voicemail_recordings/{id}.wav"), RECORDINGS_PREFIX, ".wav", Some(id)),
            (format!("voicemail_transcripts/{id}.json"), TRANSCRIPTS_PREFIX, ".json", Some(id)),
            ("voicemail_transcripts/.write_access_check_file.temp".into(), TRANSCRIPTS_PREFIX, ".json", None),
            ("voicemail_recordings/a/b.wav".into(), RECORDINGS_PREFIX, ".wav", None),
            ("voicemail_recordings/.wav".into(), RECORDINGS_PREFIX, ".wav", None),
            (format!("other/{id}.wav"), RECORDINGS_PREFIX, ".wav", None),
        ];
        for (key, prefix, ext, expected) in cases {
            assert_eq!(contact_of(&key, prefix, ext), expected, "{key}");
        }
    }

    #[test]
    fn tags_are_encoded_in_the_official_order_and_read_back() {
        let tags = RecordingTags {
            lang: Some("en-US".into()),
            dialed_number: Some("+15555550100".into()),
            init_timestamp: Some("2024-01-04T19:49:19Z".into()),
            end_timestamp: Some("2024-01-04T19:50:02Z".into()),
            duration_secs: Some(5),
            recording_url: Some("bucket/voicemail_recordings/c.wav".into()),
            caller: Some("+15555550123".into()),
        };
        assert_eq!(
            tags.tagging_header(),
            "vm_lang=en-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp=2024-01-04T19%3A49%3A19Z\
             &vm_endTimestamp=2024-01-04T19%3A50%3A02Z&vm_duration=5\
             &vm_recordingUrl=bucket%2Fvoicemail_recordings%2Fc.wav&vm_from=%2B15555550123"
        );
        let pairs: Vec<(String, String)> = tags.pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let back = RecordingTags::from_pairs("c", pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        assert_eq!(back, tags);
        assert_eq!(back.epoch_millis("c", tag::INIT_TIMESTAMP), Ok(1_704_397_759_000));
        let sparse = RecordingTags { lang: Some(String::new()), ..Default::default() };
        assert_eq!(sparse.tagging_header(), "", "empty values are left out");
        assert_eq!(sparse.language(), "en-US");
    }

    #[test]
    fn bad_tags_name_the_tag_and_the_contact() {
        let err = RecordingTags::from_pairs("c-9", [("vm_duration", "2.5")]).unwrap_err();
        assert!(err.to_string().contains("vm_duration") && err.to_string().contains("c-9"), "{err}");
        let tags = RecordingTags::from_pairs("c-9", [("vm_initTimestamp", "2024")]).unwrap();
        let err = tags.epoch_millis("c-9", tag::INIT_TIMESTAMP).unwrap_err();
        assert!(err.to_string().contains("vm_initTimestamp"), "{err}");
        assert_eq!(
            tags.require("c-9", tag::DIALED_NUMBER).unwrap_err(),
            TagError::Missing { tag: "vm_dialedNumber", contact_id: "c-9".into() }
        );
    }

    #[test]
    fn epoch_millis_is_never_the_year() {
        let cases = [
            ("2024-01-04T19:49:19Z", Ok(1_704_397_759_000)),
            ("2024-01-04T19:49:19.250Z", Ok(1_704_397_759_250)),
            ("2024-01-04T20:49:19+01:00", Ok(1_704_397_759_000)),
        ];
        for (text, expected) in cases {
            assert_eq!(epoch_millis(text), expected, "{text}");
        }
        for bad in ["2024", "", "yesterday", "2024-01-04 19:49:19"] {
            assert!(epoch_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_created_events() {
        let good = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "voicemail_recordings/c.wav", "size": 10}}});
        assert_eq!(
            created_object(&good),
            Ok(CreatedObject { bucket: "b".into(), key: "voicemail_recordings/c.wav".into(), size: Some(10) })
        );
        let cases = [
            (json!({"source": "aws.connect", "detail": {}}), "source is aws.connect"),
            (json!({"detail-type": "Object Deleted", "detail": {}}), "detail-type is Object Deleted"),
            (json!({}), "no detail"),
            (json!({"detail": {"object": {"key": "k"}}}), "detail.bucket.name"),
            (json!({"detail": {"bucket": {"name": "b"}}}), "detail.object.key"),
            (
                json!({"detail": {"bucket": {"name": ".."}, "object": {"key": "k"}}}),
                "detail.bucket.name \"..\" is not a valid id",
            ),
        ];
        for (event, expected) in cases {
            let err = created_object(&event).unwrap_err().to_string();
            assert!(err.contains(expected), "{event}: {err}");
        }
    }

    #[test]
    fn transcribe_output_text() {
        let output = json!({"jobName": "c", "accountId": "1", "status": "COMPLETED",
            "results": {"transcripts": [{"transcript": "Hello, I'd like a call back."}], "items": []}});
        assert_eq!(transcript_text(&output).unwrap(), "Hello, I'd like a call back.");
        let two = json!({"results": {"transcripts": [{"transcript": "a "}, {"transcript": ""}, {"transcript": "b"}]}});
        assert_eq!(transcript_text(&two).unwrap(), "a b");
        assert!(transcript_text(&json!({"results": {}})).is_err());
        assert!(transcript_text(&json!({"results": {"transcripts": [{}]}})).is_err());
    }
}
