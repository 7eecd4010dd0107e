//! RealtimeAlert: CloudWatch alarm notifications, delivered by the SNS topic the alarms notify
//! (Implementation Guide ch. 8 "Customer Alerts Alarms"), published to Salesforce as `RealtimeAlertEvent` platform
//! events through the shared REST client (docs/functions.md#realtimealert).
//!
//! Fields, as the official function fills them: `Name` = AlarmName, `Description` =
//! AlarmDescription, `Source` = `Cloudwatch Alarm from account <AWSAccountId>`, `Severity` =
//! `Critical` for ALARM, `Informational` for OK, `Warning` otherwise, `Payload` =
//! `<NewStateReason> Trigger condition: <Trigger as JSON>`, `EventDateTime` = StateChangeTime in
//! ISO-8601 UTC (`2021-10-18T10:34:24.000+0000` becomes `2021-10-18T10:34:24.000Z`).
//!
//! Beyond the official function: every SNS record is published, not only the first; input that is
//! not an alarm notification is an error naming what was wrong (the official publishes an empty or
//! placeholder event); a failed publish fails the invocation so SNS and Lambda retry it (the
//! official ignores the failure); no Lambda-to-Lambda hop through InvokeSalesforceRestApi, unless
//! only the official `INVOKE_SALESFORCE_REST_API_ARN` is set: then InvokeSalesforceRestApi is invoked
//! with `realtimeAlertEvent` and its `FunctionError` or `success: false` fails the record
//! (docs/migrating.md#two-wirings).
//!
//! A redelivered event publishes only what was not published: a platform event carries no id
//! Salesforce deduplicates on, so with `PROGRESS_S3_BUCKET` set each published SNS message leaves a
//! marker `alert_progress/<MessageId>` and a record whose marker exists is not published again
//! (issue 13 item 2; docs/functions.md#realtimealert).

use std::sync::Arc;

use aws_lambda_events::sns::SnsRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, Env, ProcessEnv, Wiring};
use scv_shared::error::ErrorKind;
use scv_shared::ids::PathId;
use scv_shared::invoke::FunctionClient;
use scv_shared::keys::SsmClient;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::{RestError, SalesforceRest};
use scv_shared::retry::Deadline;
use scv_shared::wiring::Rest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "RealTimeAlert";
/// The platform event this function publishes.
pub const PLATFORM_EVENT: &str = "RealtimeAlertEvent";

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    /// Salesforce directly, or InvokeSalesforceRestApi (the official wiring).
    pub rest: Rest,
    /// Where each published SNS message is marked (`PROGRESS_S3_BUCKET`), when set.
    pub markers: Option<Markers>,
}

/// The published-message markers: `s3://<bucket>/alert_progress/<MessageId>`.
#[derive(Debug, Clone)]
pub struct Markers {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

/// Where the markers live in [`Markers::bucket`].
pub const MARKER_PREFIX: &str = "alert_progress/";

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = scv_shared::aws::load().await;
        Self::new(&ProcessEnv, &sdk)
    }

    pub fn new(env: &dyn Env, sdk: &scv_shared::aws::SdkConfig) -> Result<Self, ConfigError> {
        let rest = match scv_shared::config::invoke::rest(env)? {
            Wiring::Direct(cfg) => {
                let http = scv_shared::aws::http_client();
                let auth = Arc::new(SalesforceAuth::new(&cfg, SsmClient::new(sdk), http.clone()));
                Rest::Direct(SalesforceRest::new(&cfg, http, auth))
            }
            Wiring::Invoke(cfg) => {
                tracing::info!(function = %cfg.function, "the Salesforce REST API is reached through {}", cfg.function);
                Rest::Function(FunctionClient::from_sdk(sdk, &cfg))
            }
        };
        let markers = scv_shared::config::progress::progress_bucket(env)
            .map(|bucket| Markers { s3: scv_shared::aws::s3_client(sdk), bucket });
        Ok(Self { rest, markers })
    }
}

/// Why an invocation failed. Messages name the record (its position and SNS message id), the
/// alarm and the field.
#[derive(Debug, Error)]
pub enum AlertError {
    #[error("the event is not an SNS notification: {0}")]
    NotSns(String),
    #[error("the SNS event has no records")]
    NoRecords,
    #[error("SNS record {record} (message {message_id}) is not a CloudWatch alarm notification: {reason}")]
    NotAnAlarm { record: usize, message_id: String, reason: String },
    #[error("SNS record {record}: publishing the alarm {alarm:?} as {PLATFORM_EVENT} failed: {source}")]
    Publish { record: usize, alarm: String, source: Box<RestError> },
    #[error("SNS record {record} (message {message_id}): reading its marker s3://{bucket}/{key} failed: {message}")]
    Marker { record: usize, message_id: String, bucket: String, key: String, message: String },
    #[error("{failed} of {total} SNS records failed (the others were published): {}", join(.errors))]
    Several { failed: usize, total: usize, errors: Vec<AlertError> },
}

fn join(errors: &[AlertError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl AlertError {
    /// A short name for the Lambda error type (`errorType`), by kind of failure. With several
    /// failures, a retryable one wins (a retry may then publish it).
    pub fn kind(&self) -> ErrorKind {
        match self {
            AlertError::NotSns(_) | AlertError::NoRecords | AlertError::NotAnAlarm { .. } => ErrorKind::InvalidEvent,
            AlertError::Publish { source, .. } if source.is_retryable() => ErrorKind::SalesforceUnavailable,
            AlertError::Publish { .. } => ErrorKind::SalesforceError,
            AlertError::Marker { .. } => ErrorKind::AwsUnavailable,
            AlertError::Several { errors, .. } => errors
                .iter()
                .map(AlertError::kind)
                .find(|k| *k == ErrorKind::SalesforceUnavailable)
                .or_else(|| errors.first().map(AlertError::kind))
                .unwrap_or(ErrorKind::InvalidEvent),
        }
    }
}

scv_shared::diagnostic!(AlertError);

/// The CloudWatch alarm notification SNS carries in `Message` (the fields this function reads).
///
/// Not `aws_lambda_events::sns::CloudWatchAlarmPayload`: that type requires every field as a
/// string, and CloudWatch sends `"AlarmDescription": null` for an alarm without a description
/// (and composite alarms carry no `Trigger`), so real notifications would be rejected. `Trigger`
/// is kept as JSON, as the official function prints it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmNotification {
    #[serde(default)]
    pub alarm_name: Option<String>,
    #[serde(default)]
    pub alarm_description: Option<String>,
    #[serde(default, rename = "AWSAccountId")]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub new_state_value: Option<String>,
    #[serde(default)]
    pub new_state_reason: Option<String>,
    #[serde(default)]
    pub state_change_time: Option<String>,
    #[serde(default)]
    pub old_state_value: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub alarm_arn: Option<String>,
    #[serde(default)]
    pub trigger: Option<Value>,
    /// Composite alarms: the rule instead of a trigger.
    #[serde(default)]
    pub alarm_rule: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Critical` for ALARM, `Informational` for OK, `Warning` otherwise (INSUFFICIENT_DATA).
pub fn severity(state: &str) -> &'static str {
    match state {
        "ALARM" => "Critical",
        "OK" => "Informational",
        _ => "Warning",
    }
}

/// CloudWatch's `2021-10-18T10:34:24.000+0000` (or any RFC 3339 time) as ISO-8601 UTC with
/// milliseconds and `Z`, what JavaScript's `toISOString` gives.
pub fn event_date_time(state_change_time: &str) -> Option<String> {
    let text = state_change_time.trim();
    let parsed = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()?;
    Some(parsed.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `JSON.stringify` of a parsed value: compact, keys in their original order, and whole
/// floating-point numbers without a fraction (`3.0` prints as `3`), as JavaScript prints them.
pub fn js_stringify(value: &Value) -> String {
    fn normalise(value: &Value) -> Value {
        match value {
            Value::Number(n) if n.is_f64() => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Value::from(f as i64),
                _ => value.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
            other => other.clone(),
        }
    }
    normalise(value).to_string()
}

/// The account of an SNS topic ARN (`arn:aws:sns:us-east-1:123456789012:topic`).
fn topic_account(topic_arn: &str) -> Option<&str> {
    topic_arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The `RealtimeAlertEvent` fields for one alarm notification. `now` is used when the
/// notification has no usable StateChangeTime.
pub fn alert_fields(
    alarm: &AlarmNotification,
    topic_arn: &str,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, String> {
    let name = alarm.alarm_name.as_deref().filter(|n| !n.trim().is_empty()).ok_or("AlarmName is missing")?;
    let state = alarm.new_state_value.as_deref().filter(|s| !s.trim().is_empty()).ok_or("NewStateValue is missing")?;
    let account = alarm.aws_account_id.as_deref().filter(|a| !a.is_empty()).or_else(|| topic_account(topic_arn));
    let reason = alarm.new_state_reason.clone().unwrap_or_default();
    let payload = match (&alarm.trigger, &alarm.alarm_rule) {
        (Some(trigger), _) if !trigger.is_null() => format!("{reason} Trigger condition: {}", js_stringify(trigger)),
        (_, Some(rule)) => format!("{reason} Alarm rule: {rule}"),
        _ => reason,
    };
    let when = match alarm.state_change_time.as_deref() {
        Some(text) => event_date_time(text).unwrap_or_else(|| {
            tracing::warn!(
                alarm = name,
                field = "StateChangeTime",
                "StateChangeTime {text:?} is not a timestamp; using the current time"
            );
            now.to_rfc3339_opts(SecondsFormat::Millis, true)
        }),
        None => now.to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    let mut fields = Map::new();
    fields.insert("Name".into(), json!(name));
    if let Some(description) = alarm.alarm_description.as_deref() {
        fields.insert("Description".into(), json!(description));
    }
    let source = match account {
        Some(account) => format!("Cloudwatch Alarm from account {account}"),
        None => "Cloudwatch Alarm".to_string(),
    };
    fields.insert("Source".into(), json!(source));
    fields.insert("Severity".into(), json!(severity(state)));
    fields.insert("Payload".into(), json!(payload));
    fields.insert("EventDateTime".into(), json!(when));
    Ok(fields)
}

/// The SNS envelope; records are read one by one so one malformed record does not hide the others.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "Records")]
    records: Vec<Value>,
}

/// The Lambda entry point: a span carrying `requestId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, AlertError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), deps.rest.budget());
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await
}

/// The testable handler: publishes one platform event per SNS record, and answers
/// `{"published": [{"alarm", "severity", "id"}]}`. Every record is tried; if any failed, the
/// invocation fails naming each failed record.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<Value, AlertError> {
    let envelope = scv_shared::error::decode_json::<Envelope>(&payload).map_err(|e| {
        let source = payload.get("source").and_then(Value::as_str);
        let e = AlertError::NotSns(match source {
            Some(source) => format!("an event from {source}, not an SNS notification ({e})"),
            None => e,
        });
        tracing::error!(error = %e, "alarm notification rejected");
        e
    })?;
    if envelope.records.is_empty() {
        return Err(AlertError::NoRecords);
    }
    let total = envelope.records.len();
    let mut published = Vec::new();
    let mut errors = Vec::new();
    for (index, record) in envelope.records.iter().enumerate() {
        match publish_record(index, record, deadline, deps).await {
            Ok(done) => published.push(done),
            Err(e) => {
                tracing::error!(record = index, error = %e, "alarm notification not published");
                errors.push(e);
            }
        }
    }
    match errors.len() {
        0 => Ok(json!({"published": published})),
        1 if total == 1 => Err(errors.remove(0)),
        failed => Err(AlertError::Several { failed, total, errors }),
    }
}

async fn publish_record(index: usize, record: &Value, deadline: Deadline, deps: &Deps) -> Result<Value, AlertError> {
    let not_an_alarm = |message_id: &str, reason: String| AlertError::NotAnAlarm {
        record: index,
        message_id: message_id.to_string(),
        reason,
    };
    // Errors name the JSON path of the bad field (issue 13 item 4).
    let record: SnsRecord = scv_shared::error::decode_json_at(record, &format!("Records[{index}]")).map_err(|e| {
        let id = record.pointer("/Sns/MessageId").and_then(Value::as_str).unwrap_or("unknown");
        not_an_alarm(id, format!("not an SNS record: {e}"))
    })?;
    let sns = &record.sns;
    let alarm: AlarmNotification = match serde_json::from_str::<Value>(&sns.message) {
        Ok(value @ Value::Object(_)) => {
            scv_shared::error::decode_json_at::<AlarmNotification>(&value, &format!("Records[{index}].Sns.Message"))
                .map_err(|e| not_an_alarm(&sns.message_id, e))?
        }
        Ok(_) | Err(_) => {
            return Err(not_an_alarm(&sns.message_id, "Sns.Message is not a JSON object".into()));
        }
    };
    let fields = alert_fields(&alarm, &sns.topic_arn, Utc::now()).map_err(|reason| {
        not_an_alarm(&sns.message_id, format!("{reason} (SNS subject {:?})", sns.subject.as_deref().unwrap_or("")))
    })?;
    let name = alarm.alarm_name.clone().unwrap_or_default();
    let severity = fields.get("Severity").and_then(Value::as_str).unwrap_or_default().to_string();
    let marker = match &deps.markers {
        Some(markers) => {
            let id = PathId::parse("Sns.MessageId", &sns.message_id)
                .map_err(|e| not_an_alarm(&sns.message_id, e.to_string()))?;
            let key = format!("{MARKER_PREFIX}{}", id.as_str());
            if let Some(published) = markers.published(index, &sns.message_id, &key).await? {
                tracing::info!(alarm = %name, messageId = %sns.message_id, "SNS message {} was published by an earlier delivery", sns.message_id);
                return Ok(json!({"alarm": name, "severity": severity, "id": published, "alreadyPublished": true}));
            }
            Some((markers, key))
        }
        None => None,
    };
    tracing::info!(alarm = %name, severity = %severity, state = ?alarm.new_state_value, "publishing {PLATFORM_EVENT} for alarm {name}");
    let saved = deps.rest.publish(PLATFORM_EVENT, &fields, deadline).await.map_err(|e| AlertError::Publish {
        record: index,
        alarm: name.clone(),
        source: Box::new(e),
    })?;
    if !saved.success {
        // A 2xx answer that says it failed: Salesforce did not take the event.
        let source = RestError::Decode {
            operation: "publish",
            object: PLATFORM_EVENT.into(),
            message: format!("success false: {}", Value::Array(saved.errors.clone())),
        };
        return Err(AlertError::Publish { record: index, alarm: name, source: Box::new(source) });
    }
    tracing::info!(alarm = %name, id = %saved.id, "{PLATFORM_EVENT} published for alarm {name}");
    if let Some((markers, key)) = marker {
        // The event is published: a marker that cannot be written only means a redelivery of
        // this message would publish it again, so it is logged, not an error.
        if let Err(message) = markers.mark(&key, &sns.message_id, &saved.id).await {
            tracing::warn!(messageId = %sns.message_id, "marking SNS message {} as published in s3://{}/{key} failed ({message}); a redelivery would publish it again", sns.message_id, markers.bucket);
        }
    }
    Ok(json!({"alarm": name, "severity": severity, "id": saved.id}))
}

impl Markers {
    /// The platform event id an earlier delivery published message `message_id` as, if any. A
    /// marker that cannot be read fails the record (retryable) rather than risk a duplicate.
    async fn published(&self, record: usize, message_id: &str, key: &str) -> Result<Option<String>, AlertError> {
        let error = |message: String| AlertError::Marker {
            record,
            message_id: message_id.into(),
            bucket: self.bucket.clone(),
            key: key.into(),
            message,
        };
        match self.s3.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| error(e.to_string()))?.into_bytes();
                let marker: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                Ok(Some(marker["id"].as_str().unwrap_or_default().to_string()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
            {
                Ok(None)
            }
            Err(e) => Err(error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())),
        }
    }

    async fn mark(&self, key: &str, message_id: &str, event_id: &str) -> Result<(), String> {
        let body = json!({"messageId": message_id, "id": event_id, "publishedAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)});
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_by_state() {
        for (state, expected) in
            [("ALARM", "Critical"), ("OK", "Informational"), ("INSUFFICIENT_DATA", "Warning"), ("", "Warning")]
        {
            assert_eq!(severity(state), expected, "{state}");
        }
    }

    #[test]
    fn state_change_times_become_iso_utc() {
        let cases = [
            ("2021-10-18T10:34:24.000+0000", Some("2021-10-18T10:34:24.000Z")),
            ("2021-10-18T12:34:24.123+0200", Some("2021-10-18T10:34:24.123Z")),
            ("2026-11-21T09:21:00.5Z", Some("2026-11-21T09:21:00.500Z")),
            ("2026-11-21T09:21:00+00:00", Some("2026-11-21T09:21:00.000Z")),
            ("yesterday", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(event_date_time(input).as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn triggers_print_as_javascript_does() {
        let trigger: Value = serde_json::from_str(
            r#"{"MetricName":"Errors","Namespace":"AWS/Lambda","Threshold":3.0,"Period":60,"Ratio":0.8,"Dimensions":[{"value":"fn","name":"FunctionName"}],"Unit":null}"#,
        )
        .unwrap();
        assert_eq!(
            js_stringify(&trigger),
            r#"{"MetricName":"Errors","Namespace":"AWS/Lambda","Threshold":3,"Period":60,"Ratio":0.8,"Dimensions":[{"value":"fn","name":"FunctionName"}],"Unit":null}"#
        );
    }

    fn alarm(v: Value) -> AlarmNotification {
        serde_json::from_value(v).expect("alarm")
    }

    #[test]
    fn fields_follow_the_official_mapping() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let topic = "arn:aws:sns:us-east-1:123456789012:ACME_CC-RealtimeAlertTopic";
        let full = alarm(json!({
            "AlarmName": "ConcurrentCalls", "AlarmDescription": "80% of concurrent calls", "AWSAccountId": "111122223333",
            "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed", "StateChangeTime": "2021-10-18T10:34:24.000+0000",
            "Trigger": {"MetricName": "ConcurrentCallsPercentage", "Threshold": 0.8}
        }));
        assert_eq!(
            Value::Object(alert_fields(&full, topic, now).unwrap()),
            json!({
                "Name": "ConcurrentCalls", "Description": "80% of concurrent calls",
                "Source": "Cloudwatch Alarm from account 111122223333", "Severity": "Critical",
                "Payload": "Threshold Crossed Trigger condition: {\"MetricName\":\"ConcurrentCallsPercentage\",\"Threshold\":0.8}",
                "EventDateTime": "2021-10-18T10:34:24.000Z"
            })
        );
        // No description (null), no account, no time, a composite alarm's rule, OK state.
        let sparse = alarm(json!({
            "AlarmName": "Composite", "AlarmDescription": null, "NewStateValue": "OK",
            "NewStateReason": "All children OK", "AlarmRule": "ALARM(a) OR ALARM(b)"
        }));
        assert_eq!(
            Value::Object(alert_fields(&sparse, topic, now).unwrap()),
            json!({
                "Name": "Composite", "Source": "Cloudwatch Alarm from account 123456789012", "Severity": "Informational",
                "Payload": "All children OK Alarm rule: ALARM(a) OR ALARM(b)", "EventDateTime": "2026-01-01T00:00:00.000Z"
            })
        );
        let bad_time =
            alarm(json!({"AlarmName": "A", "NewStateValue": "INSUFFICIENT_DATA", "StateChangeTime": "soon"}));
        let fields = alert_fields(&bad_time, "", now).unwrap();
        assert_eq!(
            (fields["EventDateTime"].as_str(), fields["Severity"].as_str()),
            (Some("2026-01-01T00:00:00.000Z"), Some("Warning"))
        );
        assert_eq!(fields["Source"], "Cloudwatch Alarm");
        assert_eq!(
            alert_fields(&alarm(json!({"NewStateValue": "ALARM"})), topic, now),
            Err("AlarmName is missing".into())
        );
        assert_eq!(alert_fields(&alarm(json!({"AlarmName": "A"})), topic, now), Err("NewStateValue is missing".into()));
    }

    #[test]
    fn the_crate_type_rejects_real_notifications_without_a_description() {
        // Why this function does not use aws_lambda_events' CloudWatchAlarmPayload.
        let message = json!({
            "AlarmName": "A", "AlarmDescription": null, "AWSAccountId": "1", "NewStateValue": "ALARM",
            "NewStateReason": "r", "StateChangeTime": "2021-10-18T10:34:24.000+0000", "Region": "US East (N. Virginia)",
            "AlarmArn": "arn", "OldStateValue": "OK",
            "Trigger": {"Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                        "Threshold": 3.0, "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": "",
                        "MetricName": "Errors", "Namespace": "AWS/Lambda", "StatisticType": "Statistic", "Statistic": "SUM",
                        "Unit": null, "Dimensions": []}
        });
        assert!(serde_json::from_value::<aws_lambda_events::sns::CloudWatchAlarmPayload>(message.clone()).is_err());
        assert!(serde_json::from_value::<AlarmNotification>(message).is_ok());
    }
}
