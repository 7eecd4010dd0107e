//! The one `errorType` vocabulary of every function.
//!
//! Lambda reports a failed invocation as `{"errorType": ..., "errorMessage": ...}`. Every
//! function's error enum maps each of its variants onto one [`ErrorKind`] (inherent `kind()` plus
//! [`Classify`]), and [`crate::diagnostic!`] writes the `Diagnostic` conversion for it, so alarms,
//! metric filters and the flow's error branches see the same few strings whatever the function.
//!
//! ```ignore
//! impl MyError {
//!     pub fn kind(&self) -> ErrorKind { ... }
//! }
//! scv_shared::diagnostic!(MyError);
//! ```

use std::fmt;

/// What kind of failure an invocation ended with: the `errorType` Lambda reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The event is not what the function accepts (wrong shape, malformed field, unusable file).
    InvalidEvent,
    /// The event lacks a field the function needs.
    MissingField,
    /// The event asks for a method the function does not implement.
    UnsupportedMethod,
    /// The request needs configuration this deployment does not have.
    NotConfigured,
    /// Salesforce could not be reached or answered with a transient failure: retrying may succeed.
    SalesforceUnavailable,
    /// Salesforce answered and refused (or answered with errors): retrying the same request will not help.
    SalesforceError,
    /// An AWS service could not be reached or answered with a transient failure (throttling, 5xx).
    AwsUnavailable,
    /// An AWS service answered and refused (a client error other than throttling).
    AwsError,
    /// A Salesforce Service Cloud Voice limit was exceeded: errorType `SCV_LIMITS_ERROR`
    /// (Service Cloud Voice Implementation Guide, ch. 9, limits). Retryable once the limit clears.
    LimitExceeded,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidEvent,
        ErrorKind::MissingField,
        ErrorKind::UnsupportedMethod,
        ErrorKind::NotConfigured,
        ErrorKind::SalesforceUnavailable,
        ErrorKind::SalesforceError,
        ErrorKind::AwsUnavailable,
        ErrorKind::AwsError,
        ErrorKind::LimitExceeded,
    ];

    /// The `errorType` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "InvalidEvent",
            ErrorKind::MissingField => "MissingField",
            ErrorKind::UnsupportedMethod => "UnsupportedMethod",
            ErrorKind::NotConfigured => "NotConfigured",
            ErrorKind::SalesforceUnavailable => "SalesforceUnavailable",
            ErrorKind::SalesforceError => "SalesforceError",
            ErrorKind::AwsUnavailable => "AwsUnavailable",
            ErrorKind::AwsError => "AwsError",
            ErrorKind::LimitExceeded => "SCV_LIMITS_ERROR",
        }
    }

    /// Whether the same invocation may succeed later (a transient failure of a dependency).
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::SalesforceUnavailable | ErrorKind::AwsUnavailable | ErrorKind::LimitExceeded)
    }

    /// `SalesforceUnavailable` or `SalesforceError` by retryability.
    pub const fn salesforce(retryable: bool) -> Self {
        if retryable { ErrorKind::SalesforceUnavailable } else { ErrorKind::SalesforceError }
    }

    /// `AwsUnavailable` or `AwsError` by retryability.
    pub const fn aws(retryable: bool) -> Self {
        if retryable { ErrorKind::AwsUnavailable } else { ErrorKind::AwsError }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ErrorKind> for &str {
    fn eq(&self, other: &ErrorKind) -> bool {
        *self == other.as_str()
    }
}

/// What a JSON value is, for error messages about an event: its type and, for scalars, the value
/// (a string's content is never shown: it may be long or private).
pub fn describe_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.trim().is_empty() => "a blank string".into(),
        Value::String(_) => "a string".into(),
        Value::Array(items) => format!("an array of {} item(s)", items.len()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(5).map(String::as_str).collect();
            if keys.is_empty() { "an empty object".into() } else { format!("an object with keys {}", keys.join(", ")) }
        }
    }
}

/// Decodes `value` as `T`; the error starts with the JSON path of the field that failed
/// (`detail.channel: invalid type: integer `12345`, expected a string`), `the event` at the root.
pub fn decode_json<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "the event".to_string() } else { path };
        format!("{path}: {}", e.into_inner())
    })
}

/// [`decode_json`] for a value found at `at` inside the event (`Records[0]`, `Records[0].Sns.Message`
/// for a JSON document held in a string): the error's path starts there.
pub fn decode_json_at<T: serde::de::DeserializeOwned>(value: &serde_json::Value, at: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = match path.as_str() {
            "." => at.to_string(),
            p if p.starts_with('[') => format!("{at}{p}"),
            p => format!("{at}.{p}"),
        };
        format!("{path}: {}", e.into_inner())
    })
}

/// An error that knows its [`ErrorKind`].
pub trait Classify: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

/// The Lambda `Diagnostic` of a classified error: its kind and its message.
pub fn diagnostic<E: Classify + ?Sized>(error: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic { error_type: error.kind().as_str().to_string(), error_message: error.to_string() }
}

/// Implements [`Classify`] (through the type's inherent `fn kind(&self) -> ErrorKind`) and
/// `From<T> for lambda_runtime::Diagnostic` for an error type. Orphan rules forbid one blanket
/// conversion, so each function writes `scv_shared::diagnostic!(MyError);` once.
#[macro_export]
macro_rules! diagnostic {
    ($error:ty) => {
        impl $crate::error::Classify for $error {
            fn kind(&self) -> $crate::error::ErrorKind {
                <$error>::kind(self)
            }
        }

        impl ::core::convert::From<$error> for $crate::lambda_runtime::Diagnostic {
            fn from(error: $error) -> Self {
                $crate::error::diagnostic(&error)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_inside_the_event_names_the_whole_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            name: String,
            tags: Vec<String>,
        }
        let at = "Records[0].Sns.Message";
        let err = decode_json_at::<Inner>(&serde_json::json!({"name": 1, "tags": []}), at).unwrap_err();
        assert!(err.starts_with("Records[0].Sns.Message.name: invalid type: integer"), "{err}");
        let err = decode_json_at::<Inner>(&serde_json::json!({"name": "a", "tags": [2]}), at).unwrap_err();
        assert!(err.starts_with("Records[0].Sns.Message.tags[0]: invalid type"), "{err}");
        let err = decode_json_at::<Inner>(&serde_json::json!(null), at).unwrap_err();
        assert!(err.starts_with("Records[0].Sns.Message: invalid type: null"), "{err}");
    }

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("bad field {0}")]
        Bad(&'static str),
        #[error("salesforce down")]
        Down,
    }

    impl Sample {
        fn kind(&self) -> ErrorKind {
            match self {
                Sample::Bad(_) => ErrorKind::InvalidEvent,
                Sample::Down => ErrorKind::salesforce(true),
            }
        }
    }

    crate::diagnostic!(Sample);

    #[test]
    fn strings_are_the_documented_vocabulary() {
        let strings: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            strings,
            [
                "InvalidEvent",
                "MissingField",
                "UnsupportedMethod",
                "NotConfigured",
                "SalesforceUnavailable",
                "SalesforceError",
                "AwsUnavailable",
                "AwsError",
                "SCV_LIMITS_ERROR",
            ]
        );
        for kind in ErrorKind::ALL {
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(kind, kind.as_str());
            assert!(kind.as_str() == kind);
        }
        assert_ne!(ErrorKind::AwsError, "AwsUnavailable");
    }

    #[test]
    fn decoding_names_the_json_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            channel: Option<String>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            detail: Inner,
        }
        let err = decode_json::<Outer>(&serde_json::json!({"detail": {"channel": 12345}})).unwrap_err();
        assert_eq!(err, "detail.channel: invalid type: integer `12345`, expected a string");
        let err = decode_json::<Outer>(&serde_json::json!(null)).unwrap_err();
        assert!(err.starts_with("the event: invalid type: null"), "{err}");
        assert_eq!(describe_json(&serde_json::json!({"a": 1})), "an object with keys a");
    }

    #[test]
    fn only_transient_kinds_are_retryable() {
        let retryable: Vec<ErrorKind> = ErrorKind::ALL.into_iter().filter(|k| k.is_retryable()).collect();
        assert_eq!(retryable, [ErrorKind::SalesforceUnavailable, ErrorKind::AwsUnavailable, ErrorKind::LimitExceeded]);
        assert_eq!(ErrorKind::aws(true), ErrorKind::AwsUnavailable);
        assert_eq!(ErrorKind::aws(false), ErrorKind::AwsError);
        assert_eq!(ErrorKind::salesforce(false), ErrorKind::SalesforceError);
    }

    #[test]
    fn the_macro_writes_classify_and_the_diagnostic() {
        assert_eq!(Classify::kind(&Sample::Down), ErrorKind::SalesforceUnavailable);
        let d = lambda_runtime::Diagnostic::from(Sample::Bad("x"));
        assert_eq!(d.error_type, "InvalidEvent");
        assert_eq!(d.error_message, "bad field x");
        assert_eq!(lambda_runtime::Diagnostic::from(Sample::Down).error_type, "SalesforceUnavailable");
    }
}
