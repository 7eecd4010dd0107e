//! The request kvsConsumerTrigger hands to kvsTranscriber (Implementation Guide ch. 6
//! "kvsConsumerTrigger", "kvsTranscriber"; docs/functions.md#kvsconsumertrigger), with the official
//! field names so either side can be swapped for the official one, and the validation both sides
//! apply to it (Implementation Guide ch. 2 "Improve Amazon Transcribe's Transcription Accuracy with
//! Custom Vocabulary and Filters").

use aws_sdk_transcribestreaming::types::{LanguageCode, Specialty, VocabularyFilterMethod};
use serde::{Deserialize, Serialize};

/// The language transcribed when the flow sets no `languageCode` attribute.
pub const DEFAULT_LANGUAGE: &str = "en-US";
/// `engine` of Amazon Transcribe streaming.
pub const ENGINE_STANDARD: &str = "standard";
/// `engine` of Amazon Transcribe Medical streaming.
pub const ENGINE_MEDICAL: &str = "medical";
/// The languages of Amazon Transcribe Medical streaming.
pub const MEDICAL_LANGUAGES: &[&str] = &["en-US"];

/// The asynchronous invocation payload (the official `TranscriptionRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionRequest {
    /// `MediaStreams.Customer.Audio.StreamARN`.
    #[serde(rename = "streamARN")]
    pub stream_arn: String,
    /// `MediaStreams.Customer.Audio.StartFragmentNumber`: the first fragment of the contact's audio.
    pub start_fragment_num: String,
    /// `MediaStreams.Customer.Audio.StartTimestamp`: epoch milliseconds, as text.
    pub audio_start_timestamp: String,
    /// `CustomerEndpoint.Address`: the customer's `participantId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone_number: Option<String>,
    /// The contact id: the VoiceCall's vendor call key.
    pub voice_call_id: String,
    pub language_code: String,
    pub stream_audio_from_customer: bool,
    pub stream_audio_to_customer: bool,
    #[serde(rename = "instanceARN")]
    pub instance_arn: String,
    /// `standard` or `medical`.
    pub engine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary_filter_name: Option<String>,
    /// `mask`, `remove` or `tag` (lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary_filter_method: Option<String>,
    /// A Transcribe Medical specialty (`PRIMARYCARE`, `ONCOLOGY`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
}

/// A transcription setting that Amazon Transcribe streaming would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} is not {expected}")]
pub struct SettingError {
    pub field: &'static str,
    pub value: String,
    pub expected: String,
}

/// `engine`, case-insensitive: `standard` or `medical`, lower-cased.
pub fn engine(value: &str) -> Result<String, SettingError> {
    let lower = value.trim().to_ascii_lowercase();
    if lower == ENGINE_STANDARD || lower == ENGINE_MEDICAL {
        Ok(lower)
    } else {
        Err(SettingError { field: "engine", value: value.into(), expected: "standard or medical".into() })
    }
}

/// A language code Amazon Transcribe streaming knows (for `medical`, the Medical ones), exactly as
/// the service spells it (`en-US`).
pub fn language_code(value: &str, engine: &str) -> Result<String, SettingError> {
    let known: &[&str] = if engine == ENGINE_MEDICAL { MEDICAL_LANGUAGES } else { LanguageCode::values() };
    if known.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(SettingError {
            field: "languageCode",
            value: value.into(),
            expected: format!("a language code of Amazon Transcribe {engine} streaming ({})", known.join(", ")),
        })
    }
}

/// `vocabularyFilterMethod`, case-insensitive, lower-cased: `mask`, `remove` or `tag`.
pub fn vocabulary_filter_method(value: &str) -> Result<String, SettingError> {
    let lower = value.trim().to_ascii_lowercase();
    if VocabularyFilterMethod::values().contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(SettingError {
            field: "vocabularyFilterMethod",
            value: value.into(),
            expected: format!("one of {}", VocabularyFilterMethod::values().join(", ")),
        })
    }
}

/// `specialty`, case-insensitive, upper-cased: a Transcribe Medical specialty.
pub fn specialty(value: &str) -> Result<String, SettingError> {
    let upper = value.trim().to_ascii_uppercase();
    if Specialty::values().contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(SettingError {
            field: "specialty",
            value: value.into(),
            expected: format!("a Transcribe Medical specialty ({})", Specialty::values().join(", ")),
        })
    }
}

/// `value` as an error shows it: at most 64 characters, then how long it was.
fn clipped(value: &str) -> String {
    let count = value.chars().count();
    if count <= 64 {
        value.to_string()
    } else {
        format!("{}... ({count} characters)", value.chars().take(64).collect::<String>())
    }
}

/// `arn:<partition>:<service>:<region>:<account>:<resource>` with the given service, a region and a
/// 12-digit account; the resource part.
fn arn_resource<'a>(value: &'a str, service: &str) -> Option<&'a str> {
    let mut parts = value.splitn(6, ':');
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (parts.next()? == "arn"
        && lower(parts.next()?)
        && parts.next()? == service
        && lower(parts.next()?)
        && parts.next().is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())))
    .then(|| parts.next())
    .flatten()
}

/// `streamARN`: a Kinesis Video stream ARN as Amazon Connect reports it
/// (`arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation time>`; Kinesis Video Streams API
/// reference, `StreamARN` and `StreamName` constraints).
pub fn stream_arn(value: &str) -> Result<(), SettingError> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 256
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    let ok = value.len() <= 1024
        && arn_resource(value, "kinesisvideo").and_then(|r| r.strip_prefix("stream/")).is_some_and(|rest| {
            rest.split_once('/').is_some_and(|(name, time)| {
                name_ok(name) && !time.is_empty() && time.bytes().all(|b| b.is_ascii_digit())
            })
        });
    ok.then_some(()).ok_or_else(|| SettingError {
        field: "streamARN",
        value: clipped(value),
        expected: "a Kinesis Video stream ARN (arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<time>)".into(),
    })
}

/// `startFragmentNum` (or a continuation's fragment): a Kinesis Video fragment number, 1 to 128 decimal digits (Kinesis Video
/// Streams API reference, `StartSelector.AfterFragmentNumber`).
pub fn fragment_number(field: &'static str, value: &str) -> Result<(), SettingError> {
    let ok = (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(()).ok_or_else(|| SettingError {
        field,
        value: clipped(value),
        expected: "a Kinesis Video fragment number (1 to 128 decimal digits)".into(),
    })
}

/// `instanceARN`: an Amazon Connect instance ARN (`arn:aws:connect:<region>:<account>:instance/<id>`).
pub fn instance_arn(value: &str) -> Result<(), SettingError> {
    let ok = arn_resource(value, "connect")
        .and_then(|r| r.strip_prefix("instance/"))
        .is_some_and(|id| (1..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    ok.then_some(()).ok_or_else(|| SettingError {
        field: "instanceARN",
        value: clipped(value),
        expected: "an Amazon Connect instance ARN (arn:aws:connect:<region>:<account>:instance/<id>)".into(),
    })
}

/// `vocabularyName` / `vocabularyFilterName`: 1 to 200 letters, digits, `.`, `_`, `-` (Amazon
/// Transcribe API reference, `VocabularyName` and `VocabularyFilterName` constraints).
pub fn vocabulary_name(field: &'static str, value: &str) -> Result<(), SettingError> {
    let ok = (1..=200).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(()).ok_or_else(|| SettingError {
        field,
        value: clipped(value),
        expected: "an Amazon Transcribe vocabulary name (1 to 200 letters, digits, '.', '_', '-')".into(),
    })
}

impl TranscriptionRequest {
    /// Checks what the transcriber sends to Kinesis Video, Amazon Transcribe and Amazon Connect: the
    /// stream ARN, the start fragment number, the vocabulary names and the instance ARN. A request
    /// failing here could never be served, so it fails at once instead of waiting out retries.
    pub fn check_references(&self) -> Result<(), SettingError> {
        stream_arn(&self.stream_arn)?;
        fragment_number("startFragmentNum", &self.start_fragment_num)?;
        if let Some(name) = &self.vocabulary_name {
            vocabulary_name("vocabularyName", name)?;
        }
        if let Some(name) = &self.vocabulary_filter_name {
            vocabulary_name("vocabularyFilterName", name)?;
        }
        instance_arn(&self.instance_arn)
    }

    /// Checks (and normalises) every transcription setting; the first one refused is the error.
    pub fn validate(mut self) -> Result<Self, SettingError> {
        self.engine = engine(&self.engine)?;
        self.language_code = language_code(&self.language_code, &self.engine)?;
        self.vocabulary_filter_method =
            self.vocabulary_filter_method.as_deref().map(vocabulary_filter_method).transpose()?;
        self.specialty = self.specialty.as_deref().map(specialty).transpose()?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_normalised() {
        assert_eq!(engine("Medical").unwrap(), "medical");
        assert!(engine("turbo").unwrap_err().to_string().contains("\"turbo\""));
        assert_eq!(language_code("en-US", "standard").unwrap(), "en-US");
        assert_eq!(language_code("fr-CA", "standard").unwrap(), "fr-CA");
        assert!(language_code("fr-CA", "medical").is_err(), "Transcribe Medical streams en-US only");
        let err = language_code("en-XX", "standard").unwrap_err();
        assert_eq!(err.field, "languageCode");
        assert!(err.to_string().starts_with("languageCode \"en-XX\" is not a language code"), "{err}");
        assert_eq!(vocabulary_filter_method("MASK").unwrap(), "mask");
        assert_eq!(vocabulary_filter_method("tag").unwrap(), "tag");
        assert!(vocabulary_filter_method("blur").is_err());
        assert_eq!(specialty("oncology").unwrap(), "ONCOLOGY");
        assert!(specialty("DENTISTRY").is_err());
    }

    #[test]
    fn media_fields_are_checked_before_any_call() {
        let stream = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/acme-connect-contact-6f1b7c1e/1795252400000";
        assert!(stream_arn(stream).is_ok());
        for bad in [
            "..",
            "a/b",
            "",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/a b/1",
            "arn:aws:s3:us-east-1:123456789012:stream/x/1",
            "arn:aws:kinesisvideo:us-east-1:1234:stream/x/1",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/x/12a",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/x",
        ] {
            let err = stream_arn(bad).unwrap_err();
            assert_eq!(err.field, "streamARN", "{bad}");
        }
        assert!(fragment_number("startFragmentNum", "91343852333181432392682063124252754210132085250").is_ok());
        for bad in ["", "12345x", "..", "' OR 1=1", &"9".repeat(129)] {
            assert_eq!(fragment_number("startFragmentNum", bad).unwrap_err().field, "startFragmentNum", "{bad}");
        }
        assert!(
            instance_arn("arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a")
                .is_ok()
        );
        for bad in [
            "",
            "arn:i",
            "arn:aws:connect:us-east-1:123456789012:instance/../x",
            "arn:aws:connect:us-east-1:123456789012:queue/x",
        ] {
            assert_eq!(instance_arn(bad).unwrap_err().field, "instanceARN", "{bad}");
        }
        assert!(vocabulary_name("vocabularyName", "acme-products.v2_1").is_ok());
        for bad in ["", "a/b", "' OR 1=1", &"v".repeat(201)] {
            assert_eq!(vocabulary_name("vocabularyFilterName", bad).unwrap_err().field, "vocabularyFilterName");
        }
        let huge = "A".repeat(300 * 1024);
        let err = stream_arn(&huge).unwrap_err().to_string();
        assert!(err.len() < 400 && err.contains("307200 characters"), "a huge value is clipped: {err}");
    }

    #[test]
    fn the_payload_has_the_official_field_names() {
        let request = TranscriptionRequest {
            stream_arn: "arn".into(),
            start_fragment_num: "1".into(),
            audio_start_timestamp: "1700000000000".into(),
            customer_phone_number: Some("+15555550123".into()),
            voice_call_id: "c-1".into(),
            language_code: "en-US".into(),
            stream_audio_from_customer: true,
            stream_audio_to_customer: false,
            instance_arn: "arn:i".into(),
            engine: "standard".into(),
            vocabulary_name: None,
            vocabulary_filter_name: None,
            vocabulary_filter_method: None,
            specialty: None,
        };
        let value = serde_json::to_value(&request).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "streamARN",
                "startFragmentNum",
                "audioStartTimestamp",
                "customerPhoneNumber",
                "voiceCallId",
                "languageCode",
                "streamAudioFromCustomer",
                "streamAudioToCustomer",
                "instanceARN",
                "engine"
            ]
        );
        let back: TranscriptionRequest = serde_json::from_value(value).unwrap();
        assert_eq!(back, request);
    }
}
