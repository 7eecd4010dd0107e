//! Ids that reach a URL path or an S3 key: contact ids, VoiceCall ids, vendor call keys, record ids.
//!
//! An id from an event is untrusted. `..` percent-encoded is still `..`, and a URL parser resolves
//! it, so `PATCH /voiceCalls/../clearRouting` reaches `/clearRouting`; a `/` in an S3 key writes
//! into another prefix. [`PathId`] is the one way an id reaches a path or a key: it accepts what
//! Amazon Connect and Salesforce issue (Connect contact ids are UUIDs; VoiceCall and other record
//! ids are 15 or 18 letters and digits; the emulator and the tests use short keys such as `c-1`)
//! and nothing that could change the path: only ASCII letters, digits, `-` and `_`, at most
//! [`PathId::MAX_LEN`] characters. So no id can be a dot segment, hold a separator or a control
//! character, or be empty, whatever encoding is applied after.

use std::fmt;

use thiserror::Error;

use crate::error::ErrorKind;

/// An id refused: it names the field and shows the value (clipped, control characters escaped).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{field} {shown} is not a valid id: {reason}")]
pub struct IdError {
    /// The field the id came from (`contactId`, `ContactId`, `voiceCallId`, ...).
    pub field: &'static str,
    /// The value as shown in the message: quoted, escaped, at most 64 characters.
    pub shown: String,
    pub reason: &'static str,
}

impl IdError {
    /// An empty id is a missing field; anything else is a malformed one.
    pub fn kind(&self) -> ErrorKind {
        if self.reason == EMPTY { ErrorKind::MissingField } else { ErrorKind::InvalidEvent }
    }
}

const EMPTY: &str = "it is empty";

/// A validated id, safe as one URL path segment and one S3 key segment as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathId(String);

impl PathId {
    /// Longer than any id Connect or Salesforce issues (a UUID is 36, a record id 18).
    pub const MAX_LEN: usize = 128;

    /// Accepts a contact id, VoiceCall id or vendor call key read from `field`.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, IdError> {
        let refuse = |reason: &'static str| IdError { field, shown: shown(value), reason };
        if value.is_empty() {
            return Err(refuse(EMPTY));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(refuse("it is longer than 128 characters"));
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(refuse(
                "only letters, digits, '-' and '_' are allowed (no '.', '/', '\\', '%' or control characters)",
            ));
        }
        Ok(Self(value.to_string()))
    }

    /// Accepts a Salesforce record id: 15 or 18 letters and digits.
    pub fn record_id(field: &'static str, value: &str) -> Result<Self, IdError> {
        let id = Self::parse(field, value)?;
        if matches!(value.len(), 15 | 18) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(id)
        } else {
            Err(IdError { field, shown: shown(value), reason: "a Salesforce record id is 15 or 18 letters and digits" })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PathId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An S3 bucket name read from an event (`detail.bucket.name`): with path-style addressing it is a
/// URL path segment, so `..` would reach another resource. Accepted: 1 to 63 lowercase letters,
/// digits, `.` and `-`, starting and ending with a letter or digit (the bucket naming rules of the
/// Amazon S3 User Guide, "General purpose bucket naming rules", without their 3-character minimum).
pub fn bucket_name<'a>(field: &'static str, value: &'a str) -> Result<&'a str, IdError> {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid = (1..=63).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge(value.as_bytes().first())
        && edge(value.as_bytes().last())
        && !value.contains("..");
    if valid {
        Ok(value)
    } else {
        Err(IdError {
            field,
            shown: shown(value),
            reason: "an S3 bucket name is 1 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
        })
    }
}

/// Ids no path or key may take, for the hostile-input tests of every function (issue 13 item 1);
/// add a 10 KB id to these.
pub const HOSTILE: [&str; 12] =
    [".", "..", "../x", "a/b", "quarantine/forged/1", "%2e%2e", "\u{0}", "a\\b", "", " ", "a.b", "c-1\n"];

/// [`HOSTILE`] and a 10 KB id: what every hostile-input test feeds each id field.
pub fn hostile_ids() -> Vec<String> {
    HOSTILE.iter().map(|s| (*s).to_string()).chain(std::iter::once("a".repeat(10 * 1024))).collect()
}

/// The value for a message: quoted with control characters escaped, clipped to 64 characters.
fn shown(value: &str) -> String {
    let count = value.chars().count();
    if count <= 64 {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(64).collect();
        format!("{head:?}... ({count} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_connect_and_salesforce_issue_is_accepted() {
        for id in ["6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21", "0LQ5g000000abcD", "0LQ5g000000abcDEAQ", "c-1", "k_2", "A"] {
            assert_eq!(PathId::parse("contactId", id).unwrap().as_str(), id);
        }
        assert!(PathId::record_id("voiceCallId", "0LQ5g000000abcDEAQ").is_ok());
        assert!(PathId::record_id("voiceCallId", "0LQ5g000000abcD").is_ok());
    }

    #[test]
    fn bucket_names_are_checked_where_they_enter() {
        for name in ["acme-cc-123456789012", "b", "my.bucket-2"] {
            assert_eq!(bucket_name("detail.bucket.name", name), Ok(name));
        }
        // `a.b` is a hostile id but a valid bucket name.
        let hostile = hostile_ids().into_iter().filter(|id| id != "a.b").collect::<Vec<_>>();
        for name in hostile.iter().map(String::as_str).chain(["Upper", "-a", "a-", "' OR 1=1", "a..b"]) {
            let e = bucket_name("detail.bucket.name", name).unwrap_err();
            assert!(e.to_string().starts_with(&format!("detail.bucket.name {}", shown(name))), "{e}");
        }
    }

    #[test]
    fn ugly_ids_are_refused_naming_field_and_value() {
        for id in HOSTILE {
            let e = PathId::parse("contactId", id).unwrap_err();
            assert_eq!(e.field, "contactId");
            let text = e.to_string();
            assert!(text.starts_with(&format!("contactId {id:?} is not a valid id")), "{text}");
        }
        assert_eq!(PathId::parse("contactId", "").unwrap_err().kind(), ErrorKind::MissingField);
        assert_eq!(PathId::parse("contactId", "..").unwrap_err().kind(), ErrorKind::InvalidEvent);
        assert!(PathId::parse("contactId", "\u{0}").unwrap_err().to_string().contains("\\0"));
    }

    #[test]
    fn over_long_ids_are_refused_with_a_clipped_value() {
        let long = "a".repeat(10 * 1024);
        let e = PathId::parse("ContactId", &long).unwrap_err();
        assert!(e.to_string().contains("(10240 characters)"));
        assert!(e.to_string().len() < 200);
        assert!(PathId::parse("ContactId", &"a".repeat(128)).is_ok());
        assert!(PathId::parse("ContactId", &"a".repeat(129)).is_err());
    }

    #[test]
    fn record_ids_are_15_or_18_characters() {
        assert!(PathId::record_id("recordId", "c-1").is_err());
        assert!(PathId::record_id("recordId", "0LQ5g000000abc").is_err());
        assert!(PathId::record_id("recordId", "0LQ5g000000ab-DEAQ").is_err());
    }
}
