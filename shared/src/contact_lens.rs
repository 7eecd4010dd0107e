//! Contact Lens real-time contact analysis segment records: what Amazon Connect writes to the
//! real-time segment Kinesis stream, read by the ContactLensConsumer and ContactLensProcessor
//! (docs/events.md#contact-lens-real-time-segments; Amazon Connect Administrator Guide, "Data model for conversational
//! analytics segment streams to analyze voice contacts").
//!
//! An envelope (`Version`, `Channel`, `AccountId`, `InstanceId`, `ContactId`, `LanguageCode`,
//! `EventType`) and, for `SEGMENTS` events, a list of segments. Each segment is an object with
//! exactly one key naming its kind: `Utterance`, `Transcript`, `Categories`, `PostContactSummary`.
//! Kinds this code does not know are kept by name ([`Segment::Unknown`]) so callers can log and
//! skip them instead of failing the record.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// Why a record cannot be read. Never contains the record's text (transcripts are customer data).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SegmentError {
    #[error("the record data is not JSON: {0}")]
    NotJson(String),
    #[error("the record data is not a JSON object")]
    NotAnObject,
    #[error("field {field} is malformed: {reason}")]
    Malformed { field: String, reason: String },
    #[error("field {0} is missing")]
    Missing(&'static str),
}

/// `EventType` of the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventType {
    Started,
    Segments,
    Completed,
    Failed,
    /// Anything else, kept as sent.
    Other(String),
}

impl EventType {
    pub fn parse(value: &str) -> Self {
        match value {
            "STARTED" => EventType::Started,
            "SEGMENTS" => EventType::Segments,
            "COMPLETED" => EventType::Completed,
            "FAILED" => EventType::Failed,
            other => EventType::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            EventType::Started => "STARTED",
            EventType::Segments => "SEGMENTS",
            EventType::Completed => "COMPLETED",
            EventType::Failed => "FAILED",
            EventType::Other(other) => other,
        }
    }
}

/// A partial transcript (the Kinesis stream's low-latency segment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Utterance {
    pub id: String,
    #[serde(default)]
    pub transcript_id: Option<String>,
    #[serde(default)]
    pub participant_id: Option<String>,
    pub participant_role: String,
    pub partial_content: String,
    pub begin_offset_millis: i64,
    pub end_offset_millis: i64,
    /// Not in Amazon's data model for utterances, but in the official functions' fixture.
    #[serde(default)]
    pub sentiment: Option<String>,
}

/// A finished transcript piece (one or more utterances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transcript {
    pub id: String,
    #[serde(default)]
    pub participant_id: Option<String>,
    pub participant_role: String,
    #[serde(default)]
    pub content: String,
    pub begin_offset_millis: i64,
    pub end_offset_millis: i64,
    #[serde(default)]
    pub sentiment: Option<String>,
}

/// A stretch of the conversation where a category matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PointOfInterest {
    pub begin_offset_millis: i64,
    pub end_offset_millis: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CategoryDetails {
    /// Empty when the rule is sentiment-based.
    #[serde(default)]
    pub points_of_interest: Vec<PointOfInterest>,
}

/// Contact Lens rules that matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Categories {
    #[serde(default)]
    pub matched_categories: Vec<String>,
    #[serde(default)]
    pub matched_details: serde_json::Map<String, Value>,
}

impl Categories {
    /// The points of interest of one matched category (none when absent or malformed).
    pub fn points_of_interest(&self, category: &str) -> Vec<PointOfInterest> {
        self.matched_details
            .get(category)
            .and_then(|d| serde_json::from_value::<CategoryDetails>(d.clone()).ok())
            .map(|d| d.points_of_interest)
            .unwrap_or_default()
    }
}

/// One segment of a `SEGMENTS` event.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Utterance(Utterance),
    Transcript(Transcript),
    Categories(Categories),
    /// Generative post-contact summary: not sent to Salesforce in real time.
    PostContactSummary(Value),
    /// A kind this code does not know, by name.
    Unknown(String),
}

impl Segment {
    pub fn kind(&self) -> &str {
        match self {
            Segment::Utterance(_) => "Utterance",
            Segment::Transcript(_) => "Transcript",
            Segment::Categories(_) => "Categories",
            Segment::PostContactSummary(_) => "PostContactSummary",
            Segment::Unknown(kind) => kind,
        }
    }

    /// Reads segment `index` (for error messages).
    pub fn from_value(value: &Value, index: usize) -> Result<Segment, SegmentError> {
        let field = |k: &str| format!("Segments[{index}].{k}");
        let object = value.as_object().ok_or_else(|| SegmentError::Malformed {
            field: format!("Segments[{index}]"),
            reason: "expected an object with one key naming the segment kind".into(),
        })?;
        let Some((kind, body)) = object.iter().next() else {
            return Err(SegmentError::Malformed {
                field: format!("Segments[{index}]"),
                reason: "the segment is empty".into(),
            });
        };
        let typed =
            |reason: serde_json::Error| SegmentError::Malformed { field: field(kind), reason: reason.to_string() };
        Ok(match kind.as_str() {
            "Utterance" => Segment::Utterance(serde_json::from_value(body.clone()).map_err(typed)?),
            "Transcript" => Segment::Transcript(serde_json::from_value(body.clone()).map_err(typed)?),
            "Categories" => Segment::Categories(serde_json::from_value(body.clone()).map_err(typed)?),
            "PostContactSummary" => Segment::PostContactSummary(body.clone()),
            other => Segment::Unknown(other.to_string()),
        })
    }
}

/// One decoded Kinesis record of the real-time segment stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub version: Option<String>,
    pub channel: Option<String>,
    pub account_id: Option<String>,
    pub instance_id: Option<String>,
    /// Empty when the record does not say (callers fall back to the partition key).
    pub contact_id: String,
    pub language_code: Option<String>,
    pub event_type: EventType,
    pub segments: Vec<Segment>,
}

impl SegmentRecord {
    /// Parses the decoded record text. A record whose envelope is unreadable is an error; an unknown
    /// segment kind is not (see [`Segment::Unknown`]), a known segment with a malformed body is.
    pub fn parse(text: &str) -> Result<SegmentRecord, SegmentError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SegmentError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<SegmentRecord, SegmentError> {
        let object = value.as_object().ok_or(SegmentError::NotAnObject)?;
        let text = |name: &'static str| -> Result<Option<String>, SegmentError> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(SegmentError::Malformed { field: name.into(), reason: "expected a string".into() }),
            }
        };
        let event_type = text("EventType")?.ok_or(SegmentError::Missing("EventType"))?;
        let event_type = EventType::parse(&event_type);
        let segments = match object.get("Segments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, s)| Segment::from_value(s, i)).collect::<Result<Vec<_>, _>>()?
            }
            Some(_) => {
                return Err(SegmentError::Malformed { field: "Segments".into(), reason: "expected an array".into() });
            }
        };
        if event_type == EventType::Segments && object.get("Segments").is_none() {
            return Err(SegmentError::Missing("Segments"));
        }
        Ok(SegmentRecord {
            version: text("Version")?,
            channel: text("Channel")?,
            account_id: text("AccountId")?,
            instance_id: text("InstanceId")?,
            contact_id: text("ContactId")?.map(|c| c.trim().to_string()).unwrap_or_default(),
            language_code: text("LanguageCode")?,
            event_type,
            segments,
        })
    }
}

/// The SCRT `senderType` of a Contact Lens `ParticipantRole` (Implementation Guide ch. 3, Create Transcripts in
/// Bulk): the rep side (`AGENT`, and the contact center's own `SYSTEM` prompts and `CUSTOM_BOT`) is
/// `VIRTUAL_AGENT` (one rep for every agent-side voice, as documented for Contact Lens audio),
/// `SUPERVISOR` is `SUPERVISOR`, everything else (`CUSTOMER`) is `END_USER`, as the official
/// processor does.
pub fn sender_type(participant_role: &str) -> &'static str {
    match participant_role.trim().to_ascii_uppercase().as_str() {
        "AGENT" | "SYSTEM" | "CUSTOM_BOT" => "VIRTUAL_AGENT",
        "SUPERVISOR" => "SUPERVISOR",
        _ => "END_USER",
    }
}

/// `{vendorCallKey}{senderType}`: the documented participantId for END_USER, VIRTUAL_AGENT and
/// SUPERVISOR senders.
pub fn participant_id(vendor_call_key: &str, sender_type: &str) -> String {
    format!("{vendor_call_key}{sender_type}")
}

/// The real-time sentiment signal value on the documented -1000..1000 scale (Implementation Guide ch. 3, "Send
/// a Real-Time Conversation Event"): POSITIVE 1000, NEUTRAL 0, NEGATIVE -1000; MIXED (positive and
/// negative at once, possible in Amazon's analytics) 0. Unknown labels have no score.
pub fn sentiment_score(sentiment: &str) -> Option<i32> {
    match sentiment.trim().to_ascii_uppercase().as_str() {
        "POSITIVE" => Some(1000),
        "NEUTRAL" | "MIXED" => Some(0),
        "NEGATIVE" => Some(-1000),
        _ => None,
    }
}

/// The real-time event `participant` of a `ParticipantRole`: only `AGENT` and `CUSTOMER` exist.
pub fn signal_participant(participant_role: &str) -> Option<&'static str> {
    match participant_role.trim().to_ascii_uppercase().as_str() {
        "AGENT" => Some("AGENT"),
        "CUSTOMER" => Some("CUSTOMER"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The official functions' fixtures (from their unit tests; docs/events.md#contact-lens-real-time-segments).
    const OFFICIAL_UTTERANCE: &str = r#"{"Version":"1.0.0","Channel":"VOICE","AccountId":"698414421362","InstanceId":"4defbdc5-3029-456e-9bf3-a0d168cf409c","ContactId":"d5187cb8-f83f-471d-b724-bfb242b34b59","LanguageCode":"en-US","EventType":"SEGMENTS","Segments":[{"Utterance":{"ParticipantId":"AGENT","ParticipantRole":"AGENT","PartialContent":"Testing.","BeginOffsetMillis":19230,"EndOffsetMillis":19855,"Id":"5a859b25-e047-454f-b47f-c78ee2a33f08","Sentiment":"NEUTRAL","IssuesDetected":[]}}]}"#;
    const OFFICIAL_CATEGORIES: &str = r#"{"Categories":{"MatchedCategories":["keyWord"],"MatchedDetails":{"keyWord":{"PointsOfInterest":[{"BeginOffsetMillis":5120,"EndOffsetMillis":15495}]}}}}"#;

    #[test]
    fn the_official_utterance_fixture_parses() {
        let record = SegmentRecord::parse(OFFICIAL_UTTERANCE).expect("fixture");
        assert_eq!(record.contact_id, "d5187cb8-f83f-471d-b724-bfb242b34b59");
        assert_eq!(record.instance_id.as_deref(), Some("4defbdc5-3029-456e-9bf3-a0d168cf409c"));
        assert_eq!(record.event_type, EventType::Segments);
        let [Segment::Utterance(u)] = record.segments.as_slice() else { panic!("{:?}", record.segments) };
        assert_eq!(u.id, "5a859b25-e047-454f-b47f-c78ee2a33f08");
        assert_eq!((u.begin_offset_millis, u.end_offset_millis), (19230, 19855));
        assert_eq!(u.partial_content, "Testing.");
        assert_eq!(u.sentiment.as_deref(), Some("NEUTRAL"));
        assert_eq!(u.transcript_id, None);
    }

    #[test]
    fn the_official_categories_fixture_parses() {
        let segment = Segment::from_value(&serde_json::from_str(OFFICIAL_CATEGORIES).unwrap(), 0).expect("fixture");
        let Segment::Categories(c) = segment else { panic!("{segment:?}") };
        assert_eq!(c.matched_categories, vec!["keyWord".to_string()]);
        assert_eq!(
            c.points_of_interest("keyWord"),
            vec![PointOfInterest { begin_offset_millis: 5120, end_offset_millis: 15495 }]
        );
        assert!(c.points_of_interest("absent").is_empty(), "a missing detail is no crash");
    }

    #[test]
    fn every_segment_kind_and_event_type() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"Utterance": {"Id": "u", "TranscriptId": "t", "ParticipantId": "CUSTOMER", "ParticipantRole": "CUSTOMER", "PartialContent": "Hi", "BeginOffsetMillis": 1, "EndOffsetMillis": 2}}),
                "Utterance",
            ),
            (
                json!({"Transcript": {"Id": "t", "ParticipantId": "AGENT", "ParticipantRole": "AGENT", "Content": "Hello", "BeginOffsetMillis": 1, "EndOffsetMillis": 9, "Sentiment": "POSITIVE", "IssuesDetected": [{"CharacterOffsets": {"BeginOffsetChar": 0, "EndOffsetChar": 4}}]}}),
                "Transcript",
            ),
            (json!({"Categories": {"MatchedCategories": [], "MatchedDetails": {}}}), "Categories"),
            (json!({"PostContactSummary": {"Content": "Summary", "Status": "COMPLETED"}}), "PostContactSummary"),
            (json!({"Issues": {"IssuesDetected": []}}), "Issues"),
        ];
        for (segment, kind) in cases {
            let record = json!({"ContactId": "c", "EventType": "SEGMENTS", "Segments": [segment]});
            let parsed = SegmentRecord::from_value(&record).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(parsed.segments[0].kind(), kind);
        }
        assert!(matches!(
            Segment::from_value(&json!({"Issues": {}}), 0),
            Ok(Segment::Unknown(k)) if k == "Issues"
        ));
        for (name, expected) in [
            ("STARTED", EventType::Started),
            ("COMPLETED", EventType::Completed),
            ("FAILED", EventType::Failed),
            ("PAUSED", EventType::Other("PAUSED".into())),
        ] {
            let record = SegmentRecord::from_value(&json!({"ContactId": "c", "EventType": name})).expect(name);
            assert_eq!(record.event_type, expected);
            assert_eq!(record.event_type.as_str(), name);
            assert!(record.segments.is_empty());
        }
    }

    #[test]
    fn bad_records_are_errors_naming_the_field() {
        let cases: Vec<(&str, SegmentError)> = vec![
            ("not json", SegmentError::NotJson(String::new())),
            ("[1]", SegmentError::NotAnObject),
            (r#"{"ContactId":"c"}"#, SegmentError::Missing("EventType")),
            (r#"{"ContactId":"c","EventType":"SEGMENTS"}"#, SegmentError::Missing("Segments")),
            (
                r#"{"ContactId":"c","EventType":"SEGMENTS","Segments":{}}"#,
                SegmentError::Malformed { field: "Segments".into(), reason: String::new() },
            ),
            (
                r#"{"ContactId":7,"EventType":"STARTED"}"#,
                SegmentError::Malformed { field: "ContactId".into(), reason: String::new() },
            ),
            (
                r#"{"ContactId":"c","EventType":"SEGMENTS","Segments":[{"Utterance":{"Id":"u","ParticipantRole":"AGENT","BeginOffsetMillis":1,"EndOffsetMillis":2}}]}"#,
                SegmentError::Malformed { field: "Segments[0].Utterance".into(), reason: String::new() },
            ),
            (
                r#"{"ContactId":"c","EventType":"SEGMENTS","Segments":[{}]}"#,
                SegmentError::Malformed { field: "Segments[0]".into(), reason: String::new() },
            ),
        ];
        for (text, expected) in cases {
            let err = SegmentRecord::parse(text).expect_err(text);
            match (&err, &expected) {
                (SegmentError::NotJson(_), SegmentError::NotJson(_)) => {}
                (SegmentError::Malformed { field, .. }, SegmentError::Malformed { field: want, .. }) => {
                    assert_eq!(field, want, "{text}");
                }
                _ => assert_eq!(err, expected, "{text}"),
            }
        }
        let missing_contact = SegmentRecord::parse(r#"{"EventType":"STARTED"}"#).expect("contact id is optional here");
        assert_eq!(missing_contact.contact_id, "");
    }

    #[test]
    fn roles_map_to_documented_senders_and_participants() {
        let cases = [
            ("AGENT", "VIRTUAL_AGENT", Some("AGENT")),
            ("CUSTOMER", "END_USER", Some("CUSTOMER")),
            ("SYSTEM", "VIRTUAL_AGENT", None),
            ("CUSTOM_BOT", "VIRTUAL_AGENT", None),
            ("SUPERVISOR", "SUPERVISOR", None),
            ("agent", "VIRTUAL_AGENT", Some("AGENT")),
            ("", "END_USER", None),
        ];
        for (role, sender, participant) in cases {
            assert_eq!(sender_type(role), sender, "{role}");
            assert_eq!(signal_participant(role), participant, "{role}");
        }
        assert_eq!(participant_id("abc", "END_USER"), "abcEND_USER");
    }

    #[test]
    fn sentiment_maps_onto_the_documented_scale() {
        let cases = [
            ("POSITIVE", Some(1000)),
            ("NEUTRAL", Some(0)),
            ("NEGATIVE", Some(-1000)),
            ("MIXED", Some(0)),
            ("negative", Some(-1000)),
            ("HAPPY", None),
            ("", None),
        ];
        for (label, score) in cases {
            assert_eq!(sentiment_score(label), score, "{label}");
            if let Some(s) = score {
                assert!((-1000..=1000).contains(&s));
            }
        }
    }
}
