//! Building SOQL from caller input safely: `{key}` templates filled from flow parameters, values
//! escaped as SOQL string literals, and sObject API names checked against Salesforce's naming rules.

use serde_json::{Map, Value};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SoqlError {
    #[error("query placeholder {{{0}}} has no parameter of that name")]
    UnknownPlaceholder(String),
    #[error(
        "parameter {name} is used outside a quoted string in the query, where only a number, true/false or a field name is allowed (got {value:?}); put the placeholder in quotes: '{{{name}}}'"
    )]
    UnsafeBareValue { name: String, value: String },
    #[error("the query has an unterminated string literal")]
    UnterminatedString,
    /// Longer than Salesforce accepts: no request could carry it (issue 13, found by the mutation test).
    #[error("the query is {0} characters long; a SOQL statement is at most 100,000 characters")]
    TooLong(usize),
}

/// The longest SOQL statement Salesforce accepts (SOQL and SOSL Reference, "SOQL and SOSL Limits
/// for Search Queries": 100,000 characters by default); the same bound is applied to SOSL.
pub const MAX_STATEMENT_CHARS: usize = 100_000;

/// Escapes text for use inside a single-quoted SOQL string literal (the escape sequences of the
/// SOQL reference: `\'`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`).
pub fn escape_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the LIKE wildcards of an (already escaped) literal: `%` and `_` match themselves
/// (SOQL and SOSL Reference, "Comparison Operators", LIKE: `\%` and `\_`).
pub fn escape_like(escaped_literal: &str) -> String {
    escaped_literal.replace('%', "\\%").replace('_', "\\_")
}

/// Whether the query so far ends with the LIKE operator (a whole word, any case).
fn follows_like(query: &str) -> bool {
    let trimmed = query.trim_end();
    let Some(start) = trimmed.len().checked_sub(4) else { return false };
    trimmed.is_char_boundary(start)
        && trimmed[start..].eq_ignore_ascii_case("like")
        && !trimmed[..start].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Safe outside quotes: a number, `true`/`false`/`null`, or a (dotted) field name.
fn is_safe_bare(value: &str) -> bool {
    let v = value.trim();
    if v.parse::<f64>().is_ok() && v.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '+')) {
        return true;
    }
    matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "null")
        || (!v.is_empty() && v.split('.').all(is_identifier))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Fills every `{key}` of `template` (every occurrence) from `params`. Inside a quoted literal the
/// value is escaped, so `x' OR Name != '` stays one literal; outside quotes only numbers, booleans
/// and field names are accepted. A placeholder without a parameter is an error, not left behind.
pub fn render(template: &str, params: &Map<String, Value>) -> Result<String, SoqlError> {
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut in_like = false;
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if in_string => {
                out.push(c);
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '\'' => {
                in_string = !in_string;
                // A literal right after LIKE is a pattern: its values escape `%` and `_` too.
                in_like = in_string && follows_like(&out);
                out.push(c);
            }
            '{' => {
                let rest = &template[i + 1..];
                match rest.find('}').map(|end| &rest[..end]).filter(|name| is_identifier(name) || name.contains('-')) {
                    Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                        let value = params.get(name).ok_or_else(|| SoqlError::UnknownPlaceholder(name.to_string()))?;
                        let text = text_of(value);
                        if in_like {
                            out.push_str(&escape_like(&escape_literal(&text)));
                        } else if in_string {
                            out.push_str(&escape_literal(&text));
                        } else if is_safe_bare(&text) {
                            out.push_str(text.trim());
                        } else {
                            return Err(SoqlError::UnsafeBareValue { name: name.to_string(), value: text });
                        }
                        for _ in 0..name.chars().count() + 1 {
                            chars.next();
                        }
                    }
                    _ => out.push(c),
                }
            }
            c => out.push(c),
        }
    }
    if in_string {
        return Err(SoqlError::UnterminatedString);
    }
    let chars = out.chars().count();
    if chars > MAX_STATEMENT_CHARS {
        return Err(SoqlError::TooLong(chars));
    }
    Ok(out)
}

/// Salesforce's rules for an sObject API name: a letter first, then letters, digits and single
/// underscores, no trailing underscore; custom objects end in a `__x` suffix (`__c`, `__e`,
/// `__mdt`, `__x`, `__b`, `__kav`, `__ka`, `__Share`, `__History`, `__Feed`), optionally behind a
/// namespace (`ns__Name__c`). At most 80 characters. Case is kept as given.
pub fn is_valid_object_name(name: &str) -> bool {
    fn part_ok(part: &str) -> bool {
        !part.is_empty()
            && part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !part.ends_with('_')
            && !part.contains("__")
    }
    const SUFFIXES: &[&str] = &["c", "e", "mdt", "x", "b", "kav", "ka", "Share", "History", "Feed", "ChangeEvent"];
    if name.len() > 80 {
        return false;
    }
    let parts: Vec<&str> = name.split("__").collect();
    match parts.as_slice() {
        [standard] => part_ok(standard),
        [base, suffix] => part_ok(base) && SUFFIXES.contains(suffix),
        [namespace, base, suffix] => part_ok(namespace) && part_ok(base) && SUFFIXES.contains(suffix),
        _ => false,
    }
}

/// A Salesforce record id: 15 or 18 letters and digits.
pub fn is_valid_record_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn fills_every_placeholder_every_occurrence() {
        let p = params(json!({"phone": "+14155551234", "status": "New", "methodName": "queryRecord"}));
        let q = render(
            "SELECT Id FROM Case WHERE ContactPhone = '{phone}' AND (Status = '{status}' OR SuppliedPhone = '{phone}')",
            &p,
        )
        .unwrap();
        assert_eq!(
            q,
            "SELECT Id FROM Case WHERE ContactPhone = '+14155551234' AND (Status = 'New' OR SuppliedPhone = '+14155551234')"
        );
    }

    #[test]
    fn injection_attempts_stay_literals() {
        let p = params(json!({"name": "x' OR Name != '", "slash": "a\\' OR 1=1 --"}));
        assert_eq!(
            render("SELECT Id FROM Account WHERE Name = '{name}'", &p).unwrap(),
            r"SELECT Id FROM Account WHERE Name = 'x\' OR Name != \''"
        );
        assert_eq!(
            render("SELECT Id FROM Account WHERE Name = '{slash}'", &p).unwrap(),
            r"SELECT Id FROM Account WHERE Name = 'a\\\' OR 1=1 --'"
        );
    }

    #[test]
    fn bare_placeholders_take_numbers_booleans_and_field_names_only() {
        let p = params(json!({"n": "5", "field": "Account.Name", "flag": "true", "evil": "1 OR Name != null"}));
        assert_eq!(
            render("SELECT {field} FROM Contact WHERE IsDeleted = {flag} LIMIT {n}", &p).unwrap(),
            "SELECT Account.Name FROM Contact WHERE IsDeleted = true LIMIT 5"
        );
        assert_eq!(
            render("SELECT Id FROM Account LIMIT {evil}", &p),
            Err(SoqlError::UnsafeBareValue { name: "evil".into(), value: "1 OR Name != null".into() })
        );
    }

    #[test]
    fn unknown_placeholders_and_broken_literals_are_errors() {
        let p = params(json!({}));
        assert_eq!(
            render("SELECT Id FROM Account WHERE Name = '{who}'", &p),
            Err(SoqlError::UnknownPlaceholder("who".into()))
        );
        assert_eq!(render("SELECT Id FROM Account WHERE Name = 'abc", &p), Err(SoqlError::UnterminatedString));
        // Escaped quotes inside a literal do not end it; braces that are not placeholders stay.
        assert_eq!(
            render(r"SELECT Id FROM Account WHERE Name = 'it\'s {not a key}'", &p).unwrap(),
            r"SELECT Id FROM Account WHERE Name = 'it\'s {not a key}'"
        );
    }

    /// Issue 13 item 8: `%` and `_` in a value inside a LIKE pattern match themselves; elsewhere
    /// (and in the template's own wildcards) they are left as they are.
    #[test]
    fn like_patterns_escape_wildcards_in_values_only() {
        let p = params(json!({"name": "50%_off", "any": "%"}));
        assert_eq!(
            render("SELECT Id FROM Account WHERE Name LIKE '{name}'", &p).unwrap(),
            r"SELECT Id FROM Account WHERE Name LIKE '50\%\_off'"
        );
        assert_eq!(
            render("SELECT Id FROM Account WHERE Name like '%{any}%' AND Site = '{name}'", &p).unwrap(),
            r"SELECT Id FROM Account WHERE Name like '%\%%' AND Site = '50%_off'"
        );
        assert_eq!(
            render("SELECT Id FROM Account WHERE Unlike = '{name}'", &p).unwrap(),
            "SELECT Id FROM Account WHERE Unlike = '50%_off'"
        );
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(escape_literal("a\nb\t\"c\"\\"), r#"a\nb\t\"c\"\\"#);
    }

    #[test]
    fn object_names_follow_salesforce_rules() {
        for ok in ["Account", "VoiceCall", "My_Object__c", "RealtimeAlertEvent", "ns__Thing__c", "Alert__e", "Case"] {
            assert!(is_valid_object_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1Account",
            "Account_",
            "My__Object",
            "Bad Name",
            "Acc/ount",
            "x__c__d__e",
            "Obj___c",
            "../Account",
            "A__zz",
        ] {
            assert!(!is_valid_object_name(bad), "{bad}");
        }
    }

    #[test]
    fn record_ids_are_15_or_18_alphanumerics() {
        assert!(is_valid_record_id("001R0000005T6wD"));
        assert!(is_valid_record_id("001R0000005T6wDIAS"));
        assert!(!is_valid_record_id("001R0000005T6w/"));
        assert!(!is_valid_record_id("001"));
    }

    #[test]
    fn a_statement_longer_than_salesforce_accepts_is_refused() {
        let params = Map::new();
        let long = format!("SELECT Id FROM Case WHERE Subject = '{}'", "a".repeat(MAX_STATEMENT_CHARS));
        assert_eq!(render(&long, &params), Err(SoqlError::TooLong(long.len())));
        let fits = format!("SELECT Id FROM Case WHERE Subject = '{}'", "a".repeat(1000));
        assert_eq!(render(&fits, &params).as_deref(), Ok(fits.as_str()));
    }
}
