//! A local Amazon CloudWatch endpoint for `DescribeAlarms`, which the AWS SDK for Rust sends in the
//! Smithy RPC v2 CBOR protocol (`POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms`,
//! header `smithy-protocol: rpc-v2-cbor`, CBOR bodies) that moto does not serve; and moto's
//! CloudFormation does not create `AWS::CloudWatch::Alarm` resources either. Point a client at it
//! with `AWS_ENDPOINT_URL_CLOUDWATCH` (see [`LocalCloudWatch::env`]).
//!
//! Alarms are kept in the API's own shape (`AlarmName`, `AlarmActions`, `StateValue`, `Threshold`,
//! timestamps as epoch seconds) and put either one at a time ([`LocalCloudWatch::put_alarm`]) or as
//! CloudFormation would create a resolved template's ([`LocalCloudWatch::create_template_alarms`]).
//! DescribeAlarms filters as CloudWatch does (`AlarmNames` exactly, or `AlarmNamePrefix`, then
//! `StateValue`), pages with `MaxRecords` (1 to 100, default 50) and `NextToken`, and refuses what
//! CloudWatch refuses (more than 100 names, names with a prefix, an unknown token) with a CBOR
//! error body. Every request is recorded ([`LocalCloudWatch::requests`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ciborium::Value as Cbor;
use serde_json::{Map, Value, json};

use crate::serve::{LocalServer, lock};
use crate::template::Resolved;

/// The path prefix of CloudWatch's operations in RPC v2 CBOR (its Smithy service name).
const SERVICE_PATH: &str = "/service/GraniteServiceVersion20100801/operation";
/// The members of a MetricAlarm that are Smithy doubles: CBOR floats even when whole.
const DOUBLE_MEMBERS: &[&str] = &["Threshold"];
/// The members that are Smithy timestamps: CBOR tag 1 (epoch seconds).
const TIMESTAMP_MEMBERS: &[&str] =
    &["AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp", "StateTransitionedTimestamp"];

/// One request the endpoint received.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchRequest {
    pub operation: String,
    /// The decoded CBOR input, as JSON.
    pub input: Value,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    /// Alarm name -> the MetricAlarm object DescribeAlarms answers.
    alarms: BTreeMap<String, Value>,
    requests: Vec<CloudWatchRequest>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running local CloudWatch endpoint on 127.0.0.1; stops when dropped.
pub struct LocalCloudWatch {
    server: LocalServer,
    shared: Shared,
}

impl LocalCloudWatch {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self> {
        let shared: Shared = Arc::default();
        let app =
            Router::new().route(&format!("{SERVICE_PATH}/{{operation}}"), post(operation)).with_state(shared.clone());
        Ok(Self { server: LocalServer::start(app, "the local CloudWatch").await?, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// The environment a process needs to reach this endpoint through the SDK's own settings.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("AWS_ENDPOINT_URL_CLOUDWATCH".to_string(), self.endpoint().to_string())]
    }

    /// Puts (or replaces) a metric alarm given in the API's shape; it must carry its `AlarmName`.
    /// `AlarmArn` and `StateValue` (`INSUFFICIENT_DATA`, as a new alarm starts) are filled in
    /// when absent, `ActionsEnabled` defaults to true as in PutMetricAlarm. Returns its name.
    pub fn put_alarm(&self, mut alarm: Value) -> Result<String> {
        let name = alarm
            .get("AlarmName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| anyhow!("the alarm has no AlarmName"))?
            .to_string();
        let object = alarm.as_object_mut().ok_or_else(|| anyhow!("the alarm {name} is not an object"))?;
        let arn = format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", crate::moto::REGION, crate::runtime::ACCOUNT_ID);
        object.entry("AlarmArn").or_insert_with(|| json!(arn));
        object.entry("StateValue").or_insert_with(|| json!("INSUFFICIENT_DATA"));
        object.entry("ActionsEnabled").or_insert(json!(true));
        object.entry("StateUpdatedTimestamp").or_insert_with(|| json!(now_seconds()));
        lock(&self.shared).alarms.insert(name.clone(), alarm);
        Ok(name)
    }

    /// Creates every `AWS::CloudWatch::Alarm` of a resolved template, as CloudFormation would: its
    /// properties as the alarm. Returns the names created.
    pub fn create_template_alarms(&self, resolved: &Resolved) -> Result<Vec<String>> {
        resolved
            .resources
            .iter()
            .filter(|(_, resource)| resource.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
            .map(|(id, resource)| {
                let properties = resource.get("Properties").cloned().unwrap_or_else(|| json!({}));
                self.put_alarm(properties).with_context(|| format!("alarm {id}"))
            })
            .collect()
    }

    /// Sets an alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`), as SetAlarmState does.
    pub fn set_state(&self, name: &str, state: &str, reason: &str) -> Result<()> {
        let mut inner = lock(&self.shared);
        let alarm = inner.alarms.get_mut(name).ok_or_else(|| anyhow!("no alarm {name}"))?;
        alarm["StateValue"] = json!(state);
        alarm["StateReason"] = json!(reason);
        alarm["StateUpdatedTimestamp"] = json!(now_seconds());
        Ok(())
    }

    /// Deletes an alarm (DeleteAlarms); true when it existed.
    pub fn delete_alarm(&self, name: &str) -> bool {
        lock(&self.shared).alarms.remove(name).is_some()
    }

    /// The alarm as DescribeAlarms would answer it now.
    pub fn alarm(&self, name: &str) -> Option<Value> {
        lock(&self.shared).alarms.get(name).cloned()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<CloudWatchRequest> {
        lock(&self.shared).requests.clone()
    }
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// A JSON value as CBOR, members named in [`DOUBLE_MEMBERS`] as floats and [`TIMESTAMP_MEMBERS`]
/// as tag 1, as the SDK's decoder expects them.
fn to_cbor(value: &Value, member: &str) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) if TIMESTAMP_MEMBERS.contains(&member) => {
            Cbor::Tag(1, Box::new(Cbor::Float(n.as_f64().unwrap_or_default())))
        }
        Value::Number(n) if DOUBLE_MEMBERS.contains(&member) => Cbor::Float(n.as_f64().unwrap_or_default()),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Cbor::Integer(i.into()),
            (None, f) => Cbor::Float(f.unwrap_or_default()),
        },
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(|v| to_cbor(v, member)).collect()),
        Value::Object(map) => Cbor::Map(map.iter().map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v, k))).collect()),
    }
}

/// CBOR input as JSON (text keys; what DescribeAlarms takes).
fn to_json(value: &Cbor) -> Value {
    match value {
        Cbor::Integer(i) => i128::from(*i).try_into().map(|i: i64| json!(i)).unwrap_or(Value::Null),
        Cbor::Float(f) => json!(f),
        Cbor::Text(s) => json!(s),
        Cbor::Bool(b) => json!(b),
        Cbor::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Cbor::Map(pairs) => Value::Object(
            pairs.iter().filter_map(|(k, v)| Some((k.as_text()?.to_string(), to_json(v)))).collect::<Map<_, _>>(),
        ),
        Cbor::Tag(_, inner) => to_json(inner),
        _ => Value::Null,
    }
}

fn cbor_response(status: StatusCode, body: &Cbor) -> Response {
    let mut bytes = Vec::new();
    if ciborium::into_writer(body, &mut bytes).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/cbor"));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    response
}

/// An error as RPC v2 CBOR carries it: `__type` (shape id) and `message`.
fn error(status: u16, code: &str, message: &str) -> Response {
    let body = Cbor::Map(vec![
        (Cbor::Text("__type".into()), Cbor::Text(format!("com.amazonaws.cloudwatch#{code}"))),
        (Cbor::Text("message".into()), Cbor::Text(message.into())),
    ]);
    cbor_response(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), &body)
}

async fn operation(
    State(shared): State<Shared>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let input = if body.is_empty() {
        Ok(json!({}))
    } else {
        ciborium::from_reader::<Cbor, _>(&body[..]).map(|v| to_json(&v)).map_err(|e| e.to_string())
    };
    let protocol = headers.get("smithy-protocol").and_then(|v| v.to_str().ok());
    let (status, response) = match (protocol, input.clone()) {
        (Some("rpc-v2-cbor"), Ok(input)) => match operation.as_str() {
            "DescribeAlarms" => describe_alarms(&lock(&shared).alarms, &input),
            other => (404, error(404, "UnknownOperationException", &format!("{other} is not served here"))),
        },
        (_, Err(e)) => (400, error(400, "SerializationException", &format!("the body is not CBOR: {e}"))),
        (_, Ok(_)) => (400, error(400, "InvalidRequest", "the smithy-protocol header must be rpc-v2-cbor")),
    };
    lock(&shared).requests.push(CloudWatchRequest { operation, input: input.unwrap_or(Value::Null), status });
    response
}

fn describe_alarms(alarms: &BTreeMap<String, Value>, input: &Value) -> (u16, Response) {
    let invalid = |code: &str, message: &str| (400, error(400, code, message));
    let names: Option<Vec<&str>> =
        input.get("AlarmNames").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect());
    let prefix = input.get("AlarmNamePrefix").and_then(Value::as_str);
    if names.as_ref().is_some_and(|n| n.len() > 100) {
        return invalid("InvalidParameterValue", "AlarmNames: at most 100 names");
    }
    if names.is_some() && prefix.is_some() {
        return invalid("InvalidParameterCombination", "AlarmNames and AlarmNamePrefix cannot be given together");
    }
    let max = input.get("MaxRecords").and_then(Value::as_i64).unwrap_or(50);
    if !(1..=100).contains(&max) {
        return invalid("InvalidParameterValue", "MaxRecords must be between 1 and 100");
    }
    let start = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return invalid("InvalidNextToken", "the token is not one this endpoint gave"),
        },
    };
    let state = input.get("StateValue").and_then(Value::as_str);
    let matching: Vec<&Value> = alarms
        .iter()
        .filter(|(name, _)| names.as_ref().is_none_or(|n| n.contains(&name.as_str())))
        .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
        .filter(|(_, alarm)| state.is_none_or(|s| alarm.get("StateValue").and_then(Value::as_str) == Some(s)))
        .map(|(_, alarm)| alarm)
        .collect();
    let end = (start + max as usize).min(matching.len());
    let page: Vec<Value> = matching.get(start..end).unwrap_or_default().iter().map(|a| (*a).clone()).collect();
    let mut output = json!({"MetricAlarms": page, "CompositeAlarms": []});
    if end < matching.len() {
        output["NextToken"] = json!(format!("page-{end}"));
    }
    (200, cbor_response(StatusCode::OK, &to_cbor(&output, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client(cloudwatch: &LocalCloudWatch) -> aws_sdk_cloudwatch::Client {
        let sdk = crate::moto::aws_sdk_config(cloudwatch.endpoint()).await;
        aws_sdk_cloudwatch::Client::new(&sdk)
    }

    /// The real SDK client reads what the endpoint answers: names, actions, the double threshold,
    /// the timestamp, states; pages; and CloudWatch's refusals as the SDK's errors.
    #[tokio::test]
    async fn the_sdk_describes_alarms_in_rpc_v2_cbor() {
        let cloudwatch = LocalCloudWatch::start().await.expect("start");
        for i in 0..7 {
            cloudwatch
                .put_alarm(json!({"AlarmName": format!("SCV Lambda F{i} Errors (ACME)"), "Namespace": "AWS/Lambda",
                    "MetricName": "Errors", "Threshold": 3, "Period": 60, "EvaluationPeriods": 1,
                    "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
                    "Dimensions": [{"Name": "FunctionName", "Value": format!("F{i}")}]}))
                .expect("put");
        }
        cloudwatch.put_alarm(json!({"AlarmName": "Other"})).expect("put");
        cloudwatch.set_state("SCV Lambda F2 Errors (ACME)", "ALARM", "Threshold crossed").expect("state");
        let cw = client(&cloudwatch).await;

        let named = cw
            .describe_alarms()
            .alarm_names("SCV Lambda F1 Errors (ACME)")
            .alarm_names("missing")
            .send()
            .await
            .expect("DescribeAlarms");
        let alarm = &named.metric_alarms()[0];
        assert_eq!(named.metric_alarms().len(), 1);
        assert_eq!(alarm.alarm_name(), Some("SCV Lambda F1 Errors (ACME)"));
        assert_eq!(alarm.threshold(), Some(3.0));
        assert_eq!(alarm.period(), Some(60));
        assert_eq!(alarm.alarm_actions(), ["arn:aws:sns:us-east-1:123456789012:alerts"]);
        assert_eq!(alarm.actions_enabled(), Some(true));
        assert_eq!(alarm.dimensions()[0].value(), Some("F1"));
        assert!(alarm.state_updated_timestamp().is_some_and(|t| t.secs() > 1_700_000_000));
        assert_eq!(alarm.alarm_arn().map(|a| a.ends_with(":alarm:SCV Lambda F1 Errors (ACME)")), Some(true));

        let mut pages = cw.describe_alarms().alarm_name_prefix("SCV ").max_records(3).into_paginator().send();
        let mut seen = Vec::new();
        while let Some(page) = pages.next().await {
            seen.extend(page.expect("page").metric_alarms().iter().filter_map(|a| a.alarm_name().map(str::to_string)));
        }
        assert_eq!(seen.len(), 7, "{seen:?}");

        let alarming = cw
            .describe_alarms()
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .send()
            .await
            .expect("by state");
        assert_eq!(alarming.metric_alarms().len(), 1);
        assert_eq!(alarming.metric_alarms()[0].state_reason(), Some("Threshold crossed"));

        let refused = cw.describe_alarms().alarm_names("a").alarm_name_prefix("b").send().await.unwrap_err();
        let meta = aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&refused).map(str::to_string);
        assert_eq!(meta.as_deref(), Some("InvalidParameterCombination"), "{refused:?}");
        let bad_token = cw.describe_alarms().next_token("forged").send().await.unwrap_err();
        assert!(bad_token.as_service_error().is_some_and(|e| e.is_invalid_next_token()), "{bad_token:?}");

        assert!(cloudwatch.delete_alarm("Other"));
        assert!(cloudwatch.requests().iter().all(|r| r.operation == "DescribeAlarms"));
        assert_eq!(cloudwatch.requests().iter().filter(|r| r.status == 400).count(), 2);
    }

    /// The template's alarms, as CloudFormation would create them.
    #[test]
    fn creates_the_template_s_alarms() {
        let template = crate::template::Template::load().expect("template.yaml");
        let parameters = crate::stack::local_parameters(None, "bucket", "");
        let resolved = template.resolve(&parameters).expect("resolves");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let cloudwatch = runtime.block_on(LocalCloudWatch::start()).expect("start");
        let names = cloudwatch.create_template_alarms(&resolved).expect("created");
        assert_eq!(names.len(), template.resources_of_type("AWS::CloudWatch::Alarm").len());
        let cc = crate::stack::CALL_CENTER;
        let errors = cloudwatch.alarm(&format!("SCV Lambda CTRDataSyncFunction Errors ({cc})")).expect("created");
        assert_eq!(errors["MetricName"], json!("Errors"));
        assert!(errors["AlarmActions"][0].as_str().is_some_and(|a| a.starts_with("arn:aws:sns:")), "{errors}");
    }
}
