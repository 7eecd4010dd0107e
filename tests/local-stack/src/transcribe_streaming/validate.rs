//! The request's parameters, checked as the service checks them.

use aws_sdk_transcribestreaming::types::{
    LanguageCode, MediaEncoding, MedicalContentIdentificationType, Specialty, Type, VocabularyFilterMethod,
};

use super::{EndpointConfig, Operation, Session};

/// Checks the request parameters; the error names the offending value.
pub(super) fn validate(operation: Operation, session: &Session, config: &EndpointConfig) -> Result<(), String> {
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

    if let Some(id) = header("session-id") {
        // The API documents the session id as a UUID in its hyphenated form.
        if id.len() != 36 || uuid::Uuid::try_parse(id).is_err() {
            return Err(format!("session id {id:?} is not a UUID"));
        }
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
    if let Some(name) = header("vocabulary-name")
        && !config.vocabularies.contains(name)
    {
        return Err(format!("the requested vocabulary {name:?} couldn't be found"));
    }
    if let Some(name) = header("vocabulary-filter-name")
        && !config.vocabulary_filters.contains(name)
    {
        return Err(format!("the requested vocabulary filter {name:?} couldn't be found"));
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
        if let Some(identification) = header("content-identification-type")
            && !MedicalContentIdentificationType::values().contains(&identification)
        {
            return Err(format!("content identification type {identification:?} is not PHI"));
        }
    }
    Ok(())
}
