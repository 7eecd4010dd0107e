//! "Execute an Omni-Channel Flow" (PATCH /omniFlow), "Clear Routing" (PATCH /clearRouting) and
//! "Reroute a Voice Call" (POST, and PATCH as production accepts from the official function, /reroute).

use serde_json::{Map, Value, json};

use super::fields::{Obj, json_object_string};
use crate::config::{RoutingAnswer, RoutingConfig};
use crate::errors::ApiError;
use crate::state::{OrgState, PendingServiceRouting, VoiceCall};

fn call_mut<'a>(org: &'a mut OrgState, call_id: &str) -> Result<&'a mut VoiceCall, ApiError> {
    org.find_call_mut(call_id)
        .ok_or_else(|| ApiError::not_found(format!("No voice call with id or vendorCallKey {call_id}")))
}

/// The documented precedence: (1) the phone channel matching the dialed number, (2) the request's
/// `flowDevName`, then its `fallbackQueue`. "If none of this criteria is satisfied ... the call fails."
fn resolve(
    routing: &RoutingConfig,
    dialed_number: &str,
    flow: Option<&str>,
    fallback_queue: Option<&str>,
) -> Result<RoutingAnswer, String> {
    if let Some(answer) = routing.by_dialed_number.get(dialed_number).filter(|a| !a.is_empty()) {
        return Ok(answer.clone());
    }
    if let Some(answer) = flow.and_then(|f| routing.by_flow.get(f)).filter(|a| !a.is_empty()) {
        return Ok(answer.clone());
    }
    if let Some(queue) = fallback_queue {
        return Ok(RoutingAnswer::queue(queue));
    }
    Err(match flow {
        Some(flow) => format!(
            "No phone channel matches the dialed number {dialed_number}, the Omni-Channel flow {flow} routed nowhere and no fallbackQueue was given"
        ),
        None => format!(
            "No phone channel matches the dialed number {dialed_number} and neither flowDevName nor fallbackQueue was given"
        ),
    })
}

/// Execute an Omni-Channel Flow: 200 `{"agent":..,"queue":..}` (keys that are set), or 200 `{"errors":[..]}`.
pub fn omni_flow(
    org: &mut OrgState,
    routing: &RoutingConfig,
    call_id: &str,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let obj = Obj::body(body)?;
    let dialed_number = obj.req_str("dialedNumber")?;
    let flow = obj.opt_str("flowDevName")?.filter(|s| !s.is_empty());
    let fallback = obj.opt_str("fallbackQueue")?.filter(|s| !s.is_empty());
    // Documented as a string, sent as an object by the official function: accept both.
    let inputs: Map<String, Value> = match obj.get("flowInputParameters") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) => json_object_string(text, "flowInputParameters")?,
        Some(_) => {
            return Err(ApiError::invalid_input(
                "Field 'flowInputParameters' must be a JSON object (or a string holding one)",
            ));
        }
    };
    let call = call_mut(org, call_id)?;
    call.routing.execute_count += 1;
    match resolve(routing, dialed_number, flow, fallback) {
        Ok(answer) => {
            let answer = serde_json::to_value(&answer).unwrap_or_else(|_| json!({}));
            call.routing.pending_service_routing = Some(PendingServiceRouting {
                flow_dev_name: flow.map(str::to_owned),
                fallback_queue: fallback.map(str::to_owned),
                dialed_number: dialed_number.to_owned(),
                flow_input_parameters: inputs,
                answer: answer.clone(),
            });
            Ok(answer)
        }
        Err(why) => Ok(json!({"errors": [why]})),
    }
}

/// Clear Routing: deletes the PendingServiceRouting; 200 `{"status":"Success"}`.
pub fn clear_routing(org: &mut OrgState, call_id: &str) -> Result<Value, ApiError> {
    let call = call_mut(org, call_id)?;
    call.routing.pending_service_routing = None;
    call.routing.clear_count += 1;
    Ok(json!({"status": "Success"}))
}

/// Reroute a Voice Call: 200 `{"status":"Success"}`.
pub fn reroute(org: &mut OrgState, call_id: &str) -> Result<Value, ApiError> {
    let call = call_mut(org, call_id)?;
    call.routing.reroute_count += 1;
    Ok(json!({"status": "Success"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgState {
        let mut org = OrgState::default();
        org.voice_calls.push(VoiceCall {
            id: "0LQEM0000000001".into(),
            vendor_call_key: "k1".into(),
            ..VoiceCall::default()
        });
        org
    }

    #[test]
    fn precedence_table() {
        let routing = RoutingConfig::default()
            .dialed_number("+1800", RoutingAnswer::queue("PhoneChannelQueue"))
            .flow("Route_VoiceCall", RoutingAnswer { agent: Some("agent-1".into()), queue: Some("FlowQueue".into()) })
            .flow("Empty_Flow", RoutingAnswer::default());
        let cases = [
            (
                "phone channel wins",
                json!({"dialedNumber": "+1800", "flowDevName": "Route_VoiceCall", "fallbackQueue": "FB"}),
                json!({"queue": "PhoneChannelQueue"}),
            ),
            (
                "flow next",
                json!({"dialedNumber": "+1999", "flowDevName": "Route_VoiceCall", "fallbackQueue": "FB"}),
                json!({"agent": "agent-1", "queue": "FlowQueue"}),
            ),
            (
                "fallback queue",
                json!({"dialedNumber": "+1999", "flowDevName": "Unknown", "fallbackQueue": "FB"}),
                json!({"queue": "FB"}),
            ),
            (
                "empty flow answer falls back",
                json!({"dialedNumber": "+1999", "flowDevName": "Empty_Flow", "fallbackQueue": "FB"}),
                json!({"queue": "FB"}),
            ),
        ];
        for (name, body, expected) in cases {
            let mut org = org();
            assert_eq!(omni_flow(&mut org, &routing, "k1", Some(&body)), Ok(expected.clone()), "{name}");
            let psr = org.voice_calls[0].routing.pending_service_routing.clone().expect("psr");
            assert_eq!(psr.answer, expected, "{name}");
        }
        let mut org = org();
        let answer =
            omni_flow(&mut org, &routing, "0LQEM0000000001", Some(&json!({"dialedNumber": "+1999"}))).expect("200");
        assert!(answer["errors"][0].as_str().is_some_and(|e| e.contains("+1999")), "{answer}");
        assert!(org.voice_calls[0].routing.pending_service_routing.is_none());
        assert_eq!(org.voice_calls[0].routing.execute_count, 1);
    }

    #[test]
    fn validation_and_unknown_calls() {
        let routing = RoutingConfig::default();
        let mut org = org();
        let missing = omni_flow(&mut org, &routing, "k1", Some(&json!({"fallbackQueue": "Q"}))).expect_err("400");
        assert!(missing.message.contains("'dialedNumber' is missing"));
        assert!(
            omni_flow(&mut org, &routing, "k1", Some(&json!({"dialedNumber": "+1", "flowInputParameters": 5})))
                .is_err()
        );
        let ok = omni_flow(
            &mut org,
            &routing,
            "k1",
            Some(&json!({"dialedNumber": "+1", "fallbackQueue": "Q", "flowInputParameters": "{\"a\":1}"})),
        );
        assert_eq!(ok, Ok(json!({"queue": "Q"})));
        assert!(
            omni_flow(&mut org, &routing, "ghost", Some(&json!({"dialedNumber": "+1"})))
                .is_err_and(|e| e.status == 404)
        );

        assert_eq!(clear_routing(&mut org, "k1"), Ok(json!({"status": "Success"})));
        assert!(org.voice_calls[0].routing.pending_service_routing.is_none());
        assert_eq!(reroute(&mut org, "k1"), Ok(json!({"status": "Success"})));
        assert_eq!((org.voice_calls[0].routing.clear_count, org.voice_calls[0].routing.reroute_count), (1, 1));
        assert!(clear_routing(&mut org, "ghost").is_err_and(|e| e.status == 404));
        assert!(reroute(&mut org, "ghost").is_err_and(|e| e.status == 404));
    }
}
