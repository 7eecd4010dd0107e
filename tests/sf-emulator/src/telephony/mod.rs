//! The Telephony Integration REST API (chapter 3, base path `/telephony/v1`): routing of a request to
//! its handler, body parsing, and the handlers themselves (one module per documented page).

pub mod events;
pub mod fields;
pub mod messages;
pub mod routing;
pub mod voice_calls;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::config::RoutingConfig;
use crate::errors::ApiError;
use crate::faults::FaultQueue;
use crate::state::OrgState;

/// Base path of the API.
pub const BASE_PATH: &str = "/telephony/v1";

/// A documented endpoint, with its decoded path parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    CreateVoiceCall,
    UpdateVoiceCall(String),
    CreateTranscript(String),
    CreateTranscriptsInBulk,
    ExecuteOmniFlow(String),
    ClearRouting(String),
    Reroute(String),
    RealtimeConversationEvents(String),
    PostConversationEvents(String),
}

/// What a handler needs: the org, the call center it belongs to, routing answers, pending faults.
pub struct Context<'a> {
    pub org: &'a mut OrgState,
    pub call_center_api_name: &'a str,
    pub routing: &'a RoutingConfig,
    pub faults: &'a mut FaultQueue,
}

fn decode_segment(raw: &str) -> Result<String, ApiError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::invalid_input(format!("Path segment '{raw}' is not valid percent-encoded UTF-8")))?;
    if decoded.trim().is_empty() {
        return Err(ApiError::not_found("The call id in the path is empty"));
    }
    Ok(decoded.into_owned())
}

/// Maps method + path to an endpoint: 404 for unknown paths, 405 for a known path with the wrong method.
/// A single trailing slash is tolerated (the official kvsTranscriber sends `/messages/`).
pub fn endpoint(method: &str, path: &str) -> Result<Endpoint, ApiError> {
    let not_found = || ApiError::not_found(format!("No Telephony Integration API resource at {path}"));
    let rest = path.strip_prefix(BASE_PATH).ok_or_else(not_found)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let rest = rest.strip_prefix("/voiceCalls").ok_or_else(not_found)?;
    let segments: Vec<&str> =
        if rest.is_empty() { Vec::new() } else { rest.strip_prefix('/').ok_or_else(not_found)?.split('/').collect() };
    let allow = |allowed: &'static str, endpoint: Endpoint| {
        if allowed.split(", ").any(|m| m == method) {
            Ok(endpoint)
        } else {
            Err(ApiError::method_not_allowed(method, path, allowed))
        }
    };
    match segments.as_slice() {
        [] => allow("POST", Endpoint::CreateVoiceCall),
        ["messages"] => allow("POST", Endpoint::CreateTranscriptsInBulk),
        [id] => allow("PATCH", Endpoint::UpdateVoiceCall(decode_segment(id)?)),
        [id, "messages"] => allow("POST", Endpoint::CreateTranscript(decode_segment(id)?)),
        [id, "omniFlow"] => allow("PATCH", Endpoint::ExecuteOmniFlow(decode_segment(id)?)),
        [id, "clearRouting"] => allow("PATCH", Endpoint::ClearRouting(decode_segment(id)?)),
        // Documented as POST; production accepts the official function's PATCH (docs/differences.md#reroute-method).
        [id, "reroute"] => allow("POST, PATCH", Endpoint::Reroute(decode_segment(id)?)),
        [id, "realtimeConversationEvents"] => allow("POST", Endpoint::RealtimeConversationEvents(decode_segment(id)?)),
        [id, "postConversationEvents"] => allow("POST", Endpoint::PostConversationEvents(decode_segment(id)?)),
        _ => Err(not_found()),
    }
}

/// Parses a JSON body: `None` when empty. A non-empty body must be declared `application/json`.
pub fn parse_body(body: &[u8], content_type: Option<&str>) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let declared_json = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !declared_json {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type must be application/json but was '{}'",
            content_type.unwrap_or("<missing>")
        )));
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::json_parser(format!("The request body is not valid JSON: {e}")))
}

/// Runs an endpoint; returns the status and JSON answer.
pub fn handle(ctx: Context<'_>, endpoint: Endpoint, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
    let Context { org, call_center_api_name, routing, faults } = ctx;
    match endpoint {
        Endpoint::CreateVoiceCall => voice_calls::create(org, call_center_api_name, body).map(|v| (200, v)),
        Endpoint::UpdateVoiceCall(id) => voice_calls::update(org, call_center_api_name, &id, body).map(|v| (200, v)),
        Endpoint::CreateTranscript(key) => messages::create_one(org, &key, body),
        Endpoint::CreateTranscriptsInBulk => messages::create_bulk(org, faults, body),
        Endpoint::ExecuteOmniFlow(id) => routing::omni_flow(org, routing, &id, body).map(|v| (200, v)),
        Endpoint::ClearRouting(id) => routing::clear_routing(org, &id).map(|v| (200, v)),
        Endpoint::Reroute(id) => routing::reroute(org, &id).map(|v| (200, v)),
        Endpoint::RealtimeConversationEvents(key) => events::realtime(org, &key, body),
        Endpoint::PostConversationEvents(key) => events::post_call(org, &key, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_table() {
        let ok = [
            ("POST", "/telephony/v1/voiceCalls", Endpoint::CreateVoiceCall),
            ("POST", "/telephony/v1/voiceCalls/messages", Endpoint::CreateTranscriptsInBulk),
            ("PATCH", "/telephony/v1/voiceCalls/0LQ1", Endpoint::UpdateVoiceCall("0LQ1".into())),
            ("PATCH", "/telephony/v1/voiceCalls/a%2Fb", Endpoint::UpdateVoiceCall("a/b".into())),
            ("POST", "/telephony/v1/voiceCalls/k/messages", Endpoint::CreateTranscript("k".into())),
            ("POST", "/telephony/v1/voiceCalls/k/messages/", Endpoint::CreateTranscript("k".into())),
            ("PATCH", "/telephony/v1/voiceCalls/k/omniFlow", Endpoint::ExecuteOmniFlow("k".into())),
            ("PATCH", "/telephony/v1/voiceCalls/k/clearRouting", Endpoint::ClearRouting("k".into())),
            ("POST", "/telephony/v1/voiceCalls/k/reroute", Endpoint::Reroute("k".into())),
            ("PATCH", "/telephony/v1/voiceCalls/k/reroute", Endpoint::Reroute("k".into())),
            (
                "POST",
                "/telephony/v1/voiceCalls/k/realtimeConversationEvents",
                Endpoint::RealtimeConversationEvents("k".into()),
            ),
            ("POST", "/telephony/v1/voiceCalls/k/postConversationEvents", Endpoint::PostConversationEvents("k".into())),
        ];
        for (method, path, expected) in ok {
            assert_eq!(endpoint(method, path), Ok(expected), "{method} {path}");
        }
        let errors = [
            ("GET", "/telephony/v1/voiceCalls", 405),
            ("PATCH", "/telephony/v1/voiceCalls/messages", 405),
            ("POST", "/telephony/v1/voiceCalls/k", 405),
            ("POST", "/telephony/v1/voiceCalls/k/omniFlow", 405),
            ("POST", "/telephony/v1/voiceCalls/k/clearRouting", 405),
            ("PUT", "/telephony/v1/voiceCalls/k/reroute", 405),
            ("PATCH", "/telephony/v1/voiceCalls/k/messages", 405),
            ("POST", "/telephony/v1/voiceCalls/k/other", 404),
            ("POST", "/telephony/v1/other", 404),
            ("POST", "/telephony/v1/voiceCallsX", 404),
            ("POST", "/telephony/v2/voiceCalls", 404),
            ("PATCH", "/telephony/v1/voiceCalls/%20", 404),
            ("PATCH", "/telephony/v1/voiceCalls/%FF", 400),
        ];
        for (method, path, status) in errors {
            assert_eq!(endpoint(method, path).map_err(|e| e.status), Err(status), "{method} {path}");
        }
        assert_eq!(endpoint("GET", "/telephony/v1/voiceCalls").err().and_then(|e| e.allow), Some("POST"));
    }

    #[test]
    fn body_parsing() {
        assert_eq!(parse_body(b"", None), Ok(None));
        assert_eq!(parse_body(b" \n", Some("text/plain")), Ok(None));
        assert_eq!(parse_body(b"{}", Some("application/json; charset=utf-8")), Ok(Some(serde_json::json!({}))));
        assert_eq!(parse_body(b"{}", Some("application/json; utf-8")), Ok(Some(serde_json::json!({}))));
        assert!(parse_body(b"{}", None).is_err_and(|e| e.status == 415));
        assert!(parse_body(b"<a/>", Some("application/xml")).is_err_and(|e| e.status == 415));
        assert!(parse_body(b"{oops", Some("application/json")).is_err_and(|e| e.error_code == "JSON_PARSER_ERROR"));
    }
}
