//! The event. `aws_lambda_events` has the EventBridge envelope but not the S3 `Object Created`
//! detail (its `s3` module is the S3 notification event), so the detail is typed here; and the
//! check of the object key.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};

/// An S3 `Object Created` event as EventBridge delivers it.
pub type ObjectCreatedEvent = EventBridgeEvent<ObjectCreatedDetail>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectCreatedDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub bucket: BucketRef,
    pub object: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketRef {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectRef {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// A post-call analysis file of this contact (the id in the key).
    Analysis { contact_id: String },
    /// Not one to read, and why.
    Skip(String),
}

/// The key as S3 names the object: `+` is a space and `%XX` an escaped byte, as the official
/// function decodes it.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| format!("the object key is not UTF-8 once decoded: {e}"))
}

/// Only `Analysis/Voice/YYYY/MM/DD/<36-character contact id>….json` is read; a key containing
/// `Redacted` anywhere (the redacted copy) is skipped, as the official PostCallAnalysisTrigger
/// function does.
pub fn check_key(key: &str) -> KeyCheck {
    if key.contains("Redacted") {
        return KeyCheck::Skip("a redacted copy".into());
    }
    let Some(rest) = key.strip_prefix("Analysis/Voice/") else {
        return KeyCheck::Skip("not under Analysis/Voice/".into());
    };
    let bytes = rest.as_bytes();
    let date_ok = bytes.len() > 11
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'/'
        && bytes[5..7].iter().all(u8::is_ascii_digit)
        && bytes[7] == b'/'
        && bytes[8..10].iter().all(u8::is_ascii_digit)
        && bytes[10] == b'/';
    if !date_ok {
        return KeyCheck::Skip("no YYYY/MM/DD/ date folder after Analysis/Voice/".into());
    }
    let name = &rest[11..];
    let id: String = name.chars().take(36).collect();
    if id.len() != 36 || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return KeyCheck::Skip("the file name does not start with a contact id".into());
    }
    if !name.ends_with(".json") {
        return KeyCheck::Skip("not a .json file".into());
    }
    KeyCheck::Analysis { contact_id: id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_table() {
        let id = "4aff0437-fda0-4f80-95a9-08b9e5924997";
        let analysis = |k: &str| (k.to_string(), Some(id));
        let cases: Vec<(String, Option<&str>)> = vec![
            analysis(&format!("Analysis/Voice/2022/03/30/{id}_analysis_2022-03-30T23:55:23Z.json")),
            analysis(&format!("Analysis/Voice/2026/11/21/{id}.json")),
            (format!("Analysis/Voice/Redacted/2022/03/30/{id}_analysis_redacted_2022-03-30T23:55:23Z.json"), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis_Redacted.json"), None),
            (format!("Analysis/Chat/2022/03/30/{id}_analysis.json"), None),
            (format!("connect/acme/Analysis/Voice/2022/03/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/22/03/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/2022/3/30/{id}_analysis.json"), None),
            (format!("Analysis/Voice/2022/03/30/{}_analysis.json", id.to_uppercase()), None),
            ("Analysis/Voice/2022/03/30/short_analysis.json".into(), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis.json.tmp"), None),
            (format!("Analysis/Voice/2022/03/30/{id}_analysis.wav"), None),
            ("".into(), None),
        ];
        for (key, expected) in cases {
            let got = check_key(&key);
            match expected {
                Some(contact) => assert_eq!(got, KeyCheck::Analysis { contact_id: contact.into() }, "{key}"),
                None => assert!(matches!(got, KeyCheck::Skip(_)), "{key}: {got:?}"),
            }
        }
    }

    #[test]
    fn keys_are_decoded_as_s3_escapes_them() {
        assert_eq!(
            decode_key("Analysis/Voice/2022/03/30/a_2022-03-30T23%3A55%3A23Z.json").unwrap(),
            "Analysis/Voice/2022/03/30/a_2022-03-30T23:55:23Z.json"
        );
        assert_eq!(decode_key("a+b%2Bc").unwrap(), "a b+c");
        assert!(decode_key("bad%FF").is_err());
    }
}
