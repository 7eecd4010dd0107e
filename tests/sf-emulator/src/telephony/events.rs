//! "Send a Real-Time Conversation Event" (POST /realtimeConversationEvents) and "Store a Post-Call
//! Conversation Event" (POST /postConversationEvents).

use serde_json::{Value, json};

use super::fields::{Obj, exactly_one_of};
use crate::errors::ApiError;
use crate::state::{OrgState, VoiceCall};

pub const CATEGORY: &str = "IntelligenceSignal__Category";
pub const SENTIMENT: &str = "IntelligenceSignal__Sentiment";
/// Not documented, but sent by the official postCallAnalysisTrigger (docs/differences.md#overall-sentiment-signal).
pub const OVERALL_SENTIMENT: &str = "IntelligenceSignal__OverallSentimentScore";
/// "Possible values are: AGENT, CUSTOMER".
pub const PARTICIPANTS: &[&str] = &["AGENT", "CUSTOMER"];
/// Post-call `service`: "Possible values are: AmazonConnectContactLens".
pub const POST_CALL_SERVICES: &[&str] = &["AmazonConnectContactLens"];

fn conversation<'a>(org: &'a mut OrgState, vendor_call_key: &str) -> Result<&'a mut VoiceCall, ApiError> {
    // "This value can't be a Salesforce voiceCallId."
    org.find_by_vendor_key_mut(vendor_call_key)
        .ok_or_else(|| ApiError::not_found(format!("Conversation does not exist for vendorCallKey {vendor_call_key}")))
}

/// A number held in a string (or a JSON number), within `min..=max`.
fn numeric_in_range(e: &Obj<'_>, field: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
    let value = match e.get(field) {
        None => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    match value {
        Some(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Some(v)),
        Some(v) => Err(ApiError::invalid_input(format!(
            "Field '{}' must be between {min} and {max} but was {v}",
            e.name(field)
        ))),
        None => Err(ApiError::invalid_input(format!("Field '{}' must be a number (in a string)", e.name(field)))),
    }
}

/// "Events must be sorted in chronological ascending order by startTime."
fn check_sorted(start_times: &[i64]) -> Result<(), ApiError> {
    match start_times.windows(2).position(|w| w[1] < w[0]) {
        Some(i) => Err(ApiError::invalid_input(format!(
            "Field 'events' must be sorted by startTime in ascending order: events[{}].startTime {} is before events[{i}].startTime {}",
            i + 1,
            start_times[i + 1],
            start_times[i]
        ))),
        None => Ok(()),
    }
}

/// Send a Real-Time Conversation Event: 202 `{"status":"202 Accepted"}`.
pub fn realtime(org: &mut OrgState, vendor_call_key: &str, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
    let obj = Obj::body(body)?;
    let service = obj.req_str("service")?;
    let persist = obj.opt_bool("persist")?;
    let events = obj.req_array("events")?;
    let mut start_times = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let e = Obj::of(event, &format!("events[{i}]."))?;
        let kind = exactly_one_of(e.req_str("type")?, &[CATEGORY, SENTIMENT], &e.name("type"))?;
        e.req_str("value")?;
        start_times.push(e.req_i64("startTime")?);
        numeric_in_range(&e, "score", 0.0, 1000.0)?;
        let participant = e.opt_str("participant")?;
        if kind == SENTIMENT {
            numeric_in_range(&e, "value", -1000.0, 1000.0)?;
            if participant.is_none() {
                return Err(ApiError::invalid_input(format!(
                    "Field '{}' is required when type is {SENTIMENT}",
                    e.name("participant")
                )));
            }
        }
        if let Some(p) = participant {
            exactly_one_of(p, PARTICIPANTS, &e.name("participant"))?;
        }
    }
    check_sorted(&start_times)?;
    let call = conversation(org, vendor_call_key)?;
    for event in events {
        call.realtime_events.push(json!({"service": service, "persist": persist, "event": event}));
    }
    Ok((202, json!({"status": "202 Accepted"})))
}

/// Store a Post-Call Conversation Event: 202 `{"status":"202 Accepted"}`.
pub fn post_call(org: &mut OrgState, vendor_call_key: &str, body: Option<&Value>) -> Result<(u16, Value), ApiError> {
    let obj = Obj::body(body)?;
    let service = exactly_one_of(obj.req_str("service")?, POST_CALL_SERVICES, "service")?;
    let events = obj.req_array("events")?;
    let mut start_times = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let e = Obj::of(event, &format!("events[{i}]."))?;
        exactly_one_of(e.req_str("type")?, &[SENTIMENT, OVERALL_SENTIMENT], &e.name("type"))?;
        e.req_str("value")?;
        numeric_in_range(&e, "value", -1000.0, 1000.0)?;
        let start = e.req_i64("startTime")?;
        let end = e.req_i64("endTime")?;
        if end < start {
            return Err(ApiError::invalid_input(format!(
                "Field '{}' ({end}) must not be before '{}' ({start})",
                e.name("endTime"),
                e.name("startTime")
            )));
        }
        exactly_one_of(e.req_str("participant")?, PARTICIPANTS, &e.name("participant"))?;
        start_times.push(start);
    }
    check_sorted(&start_times)?;
    let call = conversation(org, vendor_call_key)?;
    let while_active = call.is_active_call;
    for event in events {
        call.post_call_events
            .push(json!({"service": service, "receivedWhileCallActive": while_active, "event": event}));
    }
    Ok((202, json!({"status": "202 Accepted"})))
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

    fn rt(events: Value) -> Value {
        json!({"service": "AmazonConnectContactLens", "persist": false, "events": events})
    }

    #[test]
    fn realtime_rules_table() {
        let cat = |t: i64| json!({"type": CATEGORY, "value": "CustomerAngry", "startTime": t});
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("categories", rt(json!([cat(1), cat(2), cat(2)])), None),
            (
                "category with details",
                rt(json!([{"type": CATEGORY, "value": "X", "startTime": 1, "details": {"a": 1}}])),
                None,
            ),
            (
                "sentiment",
                rt(
                    json!([{"type": SENTIMENT, "value": "400.13", "startTime": 1, "score": 10, "participant": "CUSTOMER"}]),
                ),
                None,
            ),
            (
                "sentiment bounds",
                rt(
                    json!([{"type": SENTIMENT, "value": "-1000", "startTime": 1, "score": "1000", "participant": "AGENT"}]),
                ),
                None,
            ),
            ("unsorted", rt(json!([cat(2), cat(1)])), Some("sorted by startTime")),
            ("no service", json!({"events": [cat(1)]}), Some("'service' is missing")),
            ("no events", json!({"service": "S"}), Some("'events' is missing")),
            ("empty events", json!({"service": "S", "events": []}), Some("'events' must not be an empty array")),
            (
                "bad type",
                rt(json!([{"type": "IntelligenceSignal__Other", "value": "x", "startTime": 1}])),
                Some("'events[0].type' has the invalid value"),
            ),
            ("missing value", rt(json!([{"type": CATEGORY, "startTime": 1}])), Some("'events[0].value' is missing")),
            (
                "string startTime",
                rt(json!([{"type": CATEGORY, "value": "x", "startTime": "1"}])),
                Some("'events[0].startTime' must be an integer"),
            ),
            (
                "sentiment too high",
                rt(json!([{"type": SENTIMENT, "value": "1000.5", "startTime": 1, "participant": "AGENT"}])),
                Some("'events[0].value' must be between"),
            ),
            (
                "sentiment not a number",
                rt(json!([{"type": SENTIMENT, "value": "happy", "startTime": 1, "participant": "AGENT"}])),
                Some("'events[0].value' must be a number"),
            ),
            (
                "sentiment no participant",
                rt(json!([{"type": SENTIMENT, "value": "1", "startTime": 1}])),
                Some("'events[0].participant' is required"),
            ),
            (
                "bad participant",
                rt(json!([{"type": SENTIMENT, "value": "1", "startTime": 1, "participant": "BOT"}])),
                Some("'events[0].participant' has the invalid value"),
            ),
            (
                "score too high",
                rt(json!([{"type": CATEGORY, "value": "x", "startTime": 1, "score": 1001}])),
                Some("'events[0].score' must be between"),
            ),
            (
                "negative score",
                rt(json!([{"type": CATEGORY, "value": "x", "startTime": 1, "score": -1}])),
                Some("'events[0].score' must be between"),
            ),
            (
                "persist string",
                json!({"service": "S", "persist": "no", "events": [cat(1)]}),
                Some("'persist' must be a boolean"),
            ),
        ];
        for (name, body, expected) in cases {
            let mut org = org();
            let got = realtime(&mut org, "k1", Some(&body));
            match expected {
                None => {
                    assert_eq!(got, Ok((202, json!({"status": "202 Accepted"}))), "{name}");
                    assert!(!org.voice_calls[0].realtime_events.is_empty(), "{name}");
                }
                Some(text) => {
                    let err = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                    assert!(err.message.contains(text), "{name}: {}", err.message);
                    assert!(org.voice_calls[0].realtime_events.is_empty(), "{name}");
                }
            }
        }
        assert!(realtime(&mut org(), "ghost", Some(&rt(json!([cat(1)])))).is_err_and(|e| e.status == 404));
        assert!(realtime(&mut org(), "0LQEM0000000001", Some(&rt(json!([cat(1)])))).is_err_and(|e| e.status == 404));
    }

    #[test]
    fn post_call_rules_table() {
        let ev = |t: i64, kind: &str, value: &str| json!({"type": kind, "value": value, "startTime": t, "endTime": t + 10, "participant": "AGENT"});
        let pc = |events: Value| json!({"service": "AmazonConnectContactLens", "events": events});
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("sentiments", pc(json!([ev(1, SENTIMENT, "1000"), ev(2, SENTIMENT, "-1000")])), None),
            ("overall score", pc(json!([ev(1, OVERALL_SENTIMENT, "-2.5")])), None),
            ("unsorted", pc(json!([ev(2, SENTIMENT, "1"), ev(1, SENTIMENT, "1")])), Some("sorted by startTime")),
            (
                "other service",
                json!({"service": "Vonage", "events": [ev(1, SENTIMENT, "1")]}),
                Some("'service' has the invalid value"),
            ),
            ("category not allowed", pc(json!([ev(1, CATEGORY, "x")])), Some("'events[0].type' has the invalid value")),
            ("out of range", pc(json!([ev(1, SENTIMENT, "-1001")])), Some("must be between")),
            (
                "end before start",
                pc(json!([{"type": SENTIMENT, "value": "1", "startTime": 5, "endTime": 4, "participant": "AGENT"}])),
                Some("must not be before"),
            ),
            (
                "missing endTime",
                pc(json!([{"type": SENTIMENT, "value": "1", "startTime": 5, "participant": "AGENT"}])),
                Some("'events[0].endTime' is missing"),
            ),
            (
                "missing participant",
                pc(json!([{"type": SENTIMENT, "value": "1", "startTime": 5, "endTime": 6}])),
                Some("'events[0].participant' is missing"),
            ),
        ];
        for (name, body, expected) in cases {
            let mut org = org();
            let got = post_call(&mut org, "k1", Some(&body));
            match expected {
                None => {
                    assert_eq!(got, Ok((202, json!({"status": "202 Accepted"}))), "{name}");
                    assert!(!org.voice_calls[0].post_call_events.is_empty(), "{name}");
                }
                Some(text) => {
                    let err = got.err().unwrap_or_else(|| panic!("{name}: accepted"));
                    assert!(err.message.contains(text), "{name}: {}", err.message);
                }
            }
        }
        assert!(
            post_call(&mut org(), "ghost", Some(&pc(json!([ev(1, SENTIMENT, "1")])))).is_err_and(|e| e.status == 404)
        );
    }
}
