//! Salesforce-shaped error answers: `[{"errorCode": "...", "message": "..."}]`.

use serde_json::{Value, json};

/// An error answer of the emulated API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {error_code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Salesforce `errorCode`.
    pub error_code: &'static str,
    /// Human message naming the field and the problem.
    pub message: String,
    /// `Allow` header value for 405 answers.
    pub allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, error_code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error_code, message: message.into(), allow: None }
    }

    /// 400 `INVALID_INPUT`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_INPUT", message)
    }

    /// 400 `JSON_PARSER_ERROR`.
    pub fn json_parser(message: impl Into<String>) -> Self {
        Self::new(400, "JSON_PARSER_ERROR", message)
    }

    /// 401 `INVALID_AUTH`.
    pub fn invalid_auth(message: impl Into<String>) -> Self {
        Self::new(401, "INVALID_AUTH", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    /// 405 `METHOD_NOT_ALLOWED`, with the allowed methods.
    pub fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..Self::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("HTTP method {method} is not allowed for {path}; allowed: {allow}"),
            )
        }
    }

    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UNSUPPORTED_MEDIA_TYPE", message)
    }

    /// The answer of an injected status (see `faults`).
    pub fn injected(status: u16) -> Self {
        let (code, message) = match status {
            429 => ("REQUEST_LIMIT_EXCEEDED", "Request limit exceeded (injected by the emulator)"),
            503 => ("SERVICE_UNAVAILABLE", "Service unavailable (injected by the emulator)"),
            500..=599 => ("SERVER_ERROR", "Internal server error (injected by the emulator)"),
            401 => ("INVALID_AUTH", "Authorization failed (injected by the emulator)"),
            404 => ("NOT_FOUND", "Not found (injected by the emulator)"),
            400 => ("INVALID_INPUT", "Invalid input (injected by the emulator)"),
            _ => ("INJECTED_FAULT", "Fault injected by the emulator"),
        };
        Self::new(status, code, message)
    }

    /// The JSON body: a one-element array.
    pub fn body(&self) -> Value {
        json!([{"errorCode": self.error_code, "message": self.message}])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_salesforce_arrays() {
        assert_eq!(ApiError::invalid_input("x").body(), json!([{"errorCode": "INVALID_INPUT", "message": "x"}]));
        assert_eq!(ApiError::injected(429).error_code, "REQUEST_LIMIT_EXCEEDED");
        assert_eq!(ApiError::injected(503).error_code, "SERVICE_UNAVAILABLE");
        assert_eq!(ApiError::injected(500).error_code, "SERVER_ERROR");
        assert_eq!(ApiError::method_not_allowed("GET", "/p", "POST").allow, Some("POST"));
    }
}
