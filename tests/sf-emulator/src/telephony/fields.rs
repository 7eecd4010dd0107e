//! Typed access to JSON request fields; every error names the field and the problem.

use chrono::{DateTime, Offset};
use serde_json::{Map, Value};

use crate::errors::ApiError;

/// A JSON object being validated; `at` prefixes field names in messages (e.g. `entries[0].messages[1].`).
pub struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    at: String,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    /// The request body, which must be a JSON object.
    pub fn body(body: Option<&'a Value>) -> Result<Obj<'a>, ApiError> {
        match body {
            None => Err(ApiError::json_parser("The request body is required and must be a JSON object")),
            Some(value) => Obj::of(value, ""),
        }
    }

    /// A nested object; `at` is its path including the trailing dot.
    pub fn of(value: &'a Value, at: &str) -> Result<Obj<'a>, ApiError> {
        match value {
            Value::Object(map) => Ok(Obj { map, at: at.to_owned() }),
            other => {
                let what = if at.is_empty() {
                    "The request body".to_owned()
                } else {
                    format!("'{}'", at.trim_end_matches('.'))
                };
                Err(ApiError::json_parser(format!("{what} must be a JSON object but was {}", kind(other))))
            }
        }
    }

    /// The qualified field name used in messages.
    pub fn name(&self, field: &str) -> String {
        format!("{}{field}", self.at)
    }

    /// The value of a field; JSON null counts as absent.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn missing(&self, field: &str) -> ApiError {
        ApiError::invalid_input(format!("Required field '{}' is missing", self.name(field)))
    }

    fn wrong_type(&self, field: &str, expected: &str, value: &Value) -> ApiError {
        ApiError::invalid_input(format!("Field '{}' must be {expected} but was {}", self.name(field), kind(value)))
    }

    /// A required, non-empty string.
    pub fn req_str(&self, field: &str) -> Result<&'a str, ApiError> {
        let s = self.opt_str(field)?.ok_or_else(|| self.missing(field))?;
        if s.trim().is_empty() {
            return Err(ApiError::invalid_input(format!("Field '{}' must not be empty", self.name(field))));
        }
        Ok(s)
    }

    /// An optional string.
    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(field, "a string", other)),
        }
    }

    /// A required int64.
    pub fn req_i64(&self, field: &str) -> Result<i64, ApiError> {
        match self.get(field) {
            None => Err(self.missing(field)),
            Some(v) => v.as_i64().ok_or_else(|| self.wrong_type(field, "an integer (int64)", v)),
        }
    }

    /// An optional integer >= 0 (int32 in the documentation).
    pub fn opt_non_negative_int(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n)),
                Some(n) => Err(ApiError::invalid_input(format!(
                    "Field '{}' must be an integer between 0 and {} but was {n}",
                    self.name(field),
                    i32::MAX
                ))),
                None => Err(self.wrong_type(field, "an integer", v)),
            },
        }
    }

    /// An optional boolean.
    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(field, "a boolean", other)),
        }
    }

    /// A required, non-empty array.
    pub fn req_array(&self, field: &str) -> Result<&'a Vec<Value>, ApiError> {
        match self.get(field) {
            None => Err(self.missing(field)),
            Some(Value::Array(items)) if items.is_empty() => {
                Err(ApiError::invalid_input(format!("Field '{}' must not be an empty array", self.name(field))))
            }
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong_type(field, "an array", other)),
        }
    }

    /// An optional ISO-8601 UTC date-time string; returns (text, epoch ms).
    pub fn opt_utc_time(&self, field: &str) -> Result<Option<(&'a str, i64)>, ApiError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(text) => parse_utc(text, &self.name(field)).map(|ms| Some((text, ms))),
        }
    }

    /// An optional string that must be one of `allowed` (case-insensitive); returns the canonical spelling.
    pub fn opt_enum(&self, field: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, ApiError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(value) => one_of(value, allowed, &self.name(field)).map(Some),
        }
    }
}

/// Parses an ISO-8601 (RFC 3339) date-time that must be in UTC (`Z` or `+00:00`); returns epoch ms.
pub fn parse_utc(text: &str, field: &str) -> Result<i64, ApiError> {
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| {
        ApiError::invalid_input(format!(
            "Field '{field}' must be an ISO-8601 date-time in UTC such as 2019-07-02T17:32:28Z but was '{text}' ({e})"
        ))
    })?;
    if parsed.offset().fix().local_minus_utc() != 0 {
        return Err(ApiError::invalid_input(format!("Field '{field}' must be in UTC (Z) but was '{text}'")));
    }
    Ok(parsed.timestamp_millis())
}

/// Case-insensitive membership; returns the canonical spelling.
pub fn one_of(value: &str, allowed: &[&'static str], field: &str) -> Result<&'static str, ApiError> {
    allowed.iter().copied().find(|a| a.eq_ignore_ascii_case(value)).ok_or_else(|| {
        ApiError::invalid_input(format!(
            "Field '{field}' has the invalid value '{value}'; allowed values: {}",
            allowed.join(", ")
        ))
    })
}

/// Case-sensitive membership.
pub fn exactly_one_of(value: &str, allowed: &[&'static str], field: &str) -> Result<&'static str, ApiError> {
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| {
        ApiError::invalid_input(format!(
            "Field '{field}' has the invalid value '{value}'; allowed values: {}",
            allowed.join(", ")
        ))
    })
}

/// `callAttributes`: a string holding a JSON object.
pub fn json_object_string(text: &str, field: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_input(format!("Field '{field}' must be a string holding a JSON object"))),
        Err(e) => Err(ApiError::invalid_input(format!("Field '{field}' is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utc_times() {
        assert_eq!(parse_utc("1970-01-01T00:00:01Z", "t"), Ok(1000));
        assert_eq!(parse_utc("1970-01-01T00:00:01.500+00:00", "t"), Ok(1500));
        assert!(parse_utc("1970-01-01T02:00:01+02:00", "t").is_err());
        assert!(parse_utc("2020-07-13 11:43:01", "t").is_err());
        assert!(parse_utc("2020-07-13T11:43:01", "t").is_err());
    }

    #[test]
    fn typed_access_names_fields() {
        let v = json!({"s": "x", "n": 5, "neg": -1, "b": true, "e": "", "null": null, "arr": [], "f": 1.5});
        let o = Obj::of(&v, "entries[0].").expect("object");
        assert_eq!(o.req_str("s"), Ok("x"));
        assert!(o.req_str("e").is_err_and(|e| e.message.contains("entries[0].e")));
        assert!(o.req_str("null").is_err_and(|e| e.message.contains("missing")));
        assert!(o.req_str("n").is_err_and(|e| e.message.contains("must be a string but was a number")));
        assert_eq!(o.opt_non_negative_int("n"), Ok(Some(5)));
        assert!(o.opt_non_negative_int("neg").is_err());
        assert!(o.opt_non_negative_int("f").is_err());
        assert!(o.req_i64("f").is_err());
        assert_eq!(o.opt_bool("b"), Ok(Some(true)));
        assert!(o.opt_bool("s").is_err());
        assert!(o.req_array("arr").is_err());
        assert!(Obj::of(&json!([1]), "").is_err_and(|e| e.error_code == "JSON_PARSER_ERROR"));
        assert_eq!(one_of("pstn", &["PSTN", "WebRTC"], "x"), Ok("PSTN"));
        assert!(exactly_one_of("end_user", &["END_USER"], "x").is_err());
        assert!(json_object_string("[1]", "c").is_err());
        assert!(json_object_string("{", "c").is_err());
        assert!(json_object_string(r#"{"a":1}"#, "c").is_ok());
    }
}
