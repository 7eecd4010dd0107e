//! The Contact Lens post-call analysis file and its mapping to post-call conversation events.
//! Transcript lines are kept as JSON and read one by one, so a malformed line is skipped and
//! counted instead of failing the file.

use aws_sdk_connect::types::Contact;
use scv_shared::scrt::ConversationEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{OVERALL_SENTIMENT, PARTICIPANTS, SENTIMENT};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnalysisFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_metadata: Option<CustomerMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_characteristics: Option<ConversationCharacteristics>,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<ParticipantInfo>,
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_s3_uri: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConversationCharacteristics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_conversation_duration_millis: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<SentimentCharacteristics>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentimentCharacteristics {
    /// Participant role -> score (−5…5). Kept as JSON: a non-number is skipped, not fatal.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub overall_sentiment: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParticipantInfo {
    #[serde(default)]
    pub participant_id: String,
    #[serde(default)]
    pub participant_role: String,
}

/// One transcript line (the fields this function reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscriptLine {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub participant_id: Option<String>,
    #[serde(default)]
    pub begin_offset_millis: Option<i64>,
    #[serde(default)]
    pub end_offset_millis: Option<i64>,
    #[serde(default)]
    pub sentiment: Option<String>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses the file (UTF-8 JSON, a byte-order mark tolerated).
pub fn parse_analysis(bytes: &[u8]) -> Result<AnalysisFile, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => AnalysisFile::deserialize(&value).map_err(|e| format!("unexpected shape: {e}")),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// The per-utterance score of a Contact Lens sentiment (case-insensitive).
pub fn sentiment_score(sentiment: &str) -> Option<&'static str> {
    match sentiment.to_ascii_uppercase().as_str() {
        "POSITIVE" => Some("1000"),
        "NEUTRAL" | "MIXED" => Some("0"),
        "NEGATIVE" => Some("-1000"),
        _ => None,
    }
}

/// A number as JavaScript's `String(n)` prints it (`0`, `0.8`, `-2.5`, `5`).
pub fn js_number(n: f64) -> String {
    if n == 0.0 {
        "0".into()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// When the analysed conversation happened, from DescribeContact, in epoch milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactTimes {
    pub connected_to_agent: Option<i64>,
    pub connected_to_system: Option<i64>,
    pub initiation: Option<i64>,
    pub disconnect: Option<i64>,
    pub initial_contact_id: Option<String>,
}

impl ContactTimes {
    pub fn from_contact(contact: &Contact) -> Self {
        // Rounded to the nearest millisecond: Connect sends epoch seconds as a decimal number, which
        // a binary float cannot always hold exactly (…03.020 would truncate to …03.019).
        let ms = |t: Option<&aws_sdk_connect::primitives::DateTime>| {
            t.map(|t| t.secs() * 1000 + (i64::from(t.subsec_nanos()) + 500_000) / 1_000_000)
        };
        Self {
            connected_to_agent: ms(contact.agent_info().and_then(|a| a.connected_to_agent_timestamp())),
            connected_to_system: ms(contact.connected_to_system_timestamp()),
            initiation: ms(contact.initiation_timestamp()),
            disconnect: ms(contact.disconnect_timestamp()),
            initial_contact_id: contact.initial_contact_id().filter(|i| !i.trim().is_empty()).map(str::to_string),
        }
    }

    /// Where the analysed recording starts, and which timestamp said so.
    pub fn base(&self) -> Option<(i64, &'static str)> {
        self.connected_to_agent
            .map(|t| (t, "AgentInfo.ConnectedToAgentTimestamp"))
            .or_else(|| self.connected_to_system.map(|t| (t, "ConnectedToSystemTimestamp")))
            .or_else(|| self.initiation.map(|t| (t, "InitiationTimestamp")))
    }
}

/// The signals of one file, sorted ascending by start time, and the lines that were skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub events: Vec<ConversationEvent>,
    /// Why each skipped transcript line or overall score was skipped.
    pub skipped: Vec<String>,
}

/// The post-call events of a file whose recording starts at `base_ms`; `end_ms` is the
/// contact's disconnect, if known.
pub fn signals(file: &AnalysisFile, base_ms: i64, end_ms: Option<i64>) -> Signals {
    let mut out = Signals::default();
    let role_of = |id: &str| -> Option<String> {
        let id = id.trim();
        if PARTICIPANTS.contains(&id) {
            return Some(id.to_string());
        }
        file.participants
            .iter()
            .find(|p| p.participant_id == id)
            .map(|p| p.participant_role.clone())
            .filter(|r| PARTICIPANTS.contains(&r.as_str()))
    };

    let mut lines = Vec::new();
    let mut last_end = 0;
    for (i, raw) in file.transcript.iter().enumerate() {
        let line = match TranscriptLine::deserialize(raw) {
            Ok(line) => line,
            Err(e) => {
                out.skipped.push(format!("Transcript[{i}]: malformed: {e}"));
                continue;
            }
        };
        let label = format!("Transcript[{i}] ({})", line.id.as_deref().unwrap_or("no Id"));
        let Some(sentiment) = line.sentiment.as_deref() else {
            out.skipped.push(format!("{label}: Sentiment is missing"));
            continue;
        };
        let Some(value) = sentiment_score(sentiment) else {
            out.skipped.push(format!("{label}: Sentiment {sentiment:?} is not POSITIVE, NEUTRAL, MIXED or NEGATIVE"));
            continue;
        };
        let (begin, end) = match (line.begin_offset_millis, line.end_offset_millis) {
            (Some(b), Some(e)) if b >= 0 && e >= b => (b, e),
            _ => {
                out.skipped.push(format!("{label}: BeginOffsetMillis/EndOffsetMillis missing or out of order"));
                continue;
            }
        };
        let Some(participant) = line.participant_id.as_deref().and_then(role_of) else {
            out.skipped.push(format!(
                "{label}: ParticipantId {:?} is neither AGENT nor CUSTOMER",
                line.participant_id.as_deref().unwrap_or("")
            ));
            continue;
        };
        last_end = last_end.max(end);
        lines.push(ConversationEvent {
            kind: SENTIMENT.into(),
            value: value.into(),
            start_time: base_ms + begin,
            end_time: Some(base_ms + end),
            score: None,
            participant: Some(participant),
            details: None,
        });
    }

    let characteristics = file.conversation_characteristics.as_ref();
    let duration = characteristics.and_then(|c| c.total_conversation_duration_millis).unwrap_or(0);
    let overall_end = end_ms.unwrap_or(base_ms + duration.max(last_end)).max(base_ms);
    let overall = characteristics.and_then(|c| c.sentiment.as_ref()).map(|s| &s.overall_sentiment);
    for participant in PARTICIPANTS {
        let Some(score) = overall.and_then(|o| o.get(*participant)) else {
            continue;
        };
        match score.as_f64() {
            Some(n) if n.is_finite() && (-5.0..=5.0).contains(&n) => out.events.push(ConversationEvent {
                kind: OVERALL_SENTIMENT.into(),
                value: js_number(n),
                start_time: base_ms,
                end_time: Some(overall_end),
                score: None,
                participant: Some(participant.to_string()),
                details: None,
            }),
            _ => out.skipped.push(format!(
                "ConversationCharacteristics.Sentiment.OverallSentiment.{participant}: {score} is not a score between -5 and 5"
            )),
        }
    }
    out.events.extend(lines);
    // Stable: the overall scores stay ahead of an utterance starting at the same moment.
    out.events.sort_by_key(|e| e.start_time);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sentiments_and_numbers() {
        let cases = [
            ("POSITIVE", Some("1000")),
            ("NEUTRAL", Some("0")),
            ("MIXED", Some("0")),
            ("NEGATIVE", Some("-1000")),
            ("negative", Some("-1000")),
            ("ANGRY", None),
            ("", None),
        ];
        for (sentiment, expected) in cases {
            assert_eq!(sentiment_score(sentiment), expected, "{sentiment}");
        }
        for (n, text) in [(0.0, "0"), (-0.0, "0"), (0.8, "0.8"), (-2.5, "-2.5"), (5.0, "5"), (-4.0, "-4")] {
            assert_eq!(js_number(n), text, "{n}");
        }
    }

    fn file(v: Value) -> AnalysisFile {
        AnalysisFile::deserialize(&v).expect("file")
    }

    #[test]
    fn signals_are_scored_sorted_and_bad_lines_counted() {
        let f = file(json!({
            "Participants": [{"ParticipantId": "AGENT", "ParticipantRole": "AGENT"}, {"ParticipantId": "C1", "ParticipantRole": "CUSTOMER"}],
            "ConversationCharacteristics": {"TotalConversationDurationMillis": 9000, "Sentiment": {"OverallSentiment": {"AGENT": 0, "CUSTOMER": -2.5}}},
            "Transcript": [
                {"Id": "t1", "ParticipantId": "C1", "BeginOffsetMillis": 3000, "EndOffsetMillis": 4000, "Sentiment": "NEGATIVE"},
                {"Id": "t0", "ParticipantId": "AGENT", "BeginOffsetMillis": 100, "EndOffsetMillis": 2000, "Sentiment": "POSITIVE"},
                {"Id": "t2", "ParticipantId": "AGENT", "BeginOffsetMillis": 5000, "EndOffsetMillis": 6000},
                {"Id": "t3", "ParticipantId": "AGENT", "BeginOffsetMillis": 6000, "EndOffsetMillis": 7000, "Sentiment": "SARCASTIC"},
                {"Id": "t4", "ParticipantId": "SUPERVISOR", "BeginOffsetMillis": 7000, "EndOffsetMillis": 7500, "Sentiment": "NEUTRAL"},
                {"Id": "t5", "ParticipantId": "AGENT", "BeginOffsetMillis": 8000, "EndOffsetMillis": 7900, "Sentiment": "MIXED"},
                {"Id": "t6", "ParticipantId": "AGENT", "BeginOffsetMillis": "8000", "Sentiment": "MIXED"},
                {"Id": "t7", "ParticipantId": "AGENT", "BeginOffsetMillis": 8500, "EndOffsetMillis": 8900, "Sentiment": "MIXED"}
            ]
        }));
        let s = signals(&f, 1_000_000, Some(1_010_000));
        let summary: Vec<(String, String, i64, Option<i64>, String)> = s
            .events
            .iter()
            .map(|e| (e.kind.clone(), e.value.clone(), e.start_time, e.end_time, e.participant.clone().unwrap()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (OVERALL_SENTIMENT.into(), "0".into(), 1_000_000, Some(1_010_000), "AGENT".into()),
                (OVERALL_SENTIMENT.into(), "-2.5".into(), 1_000_000, Some(1_010_000), "CUSTOMER".into()),
                (SENTIMENT.into(), "1000".into(), 1_000_100, Some(1_002_000), "AGENT".into()),
                (SENTIMENT.into(), "-1000".into(), 1_003_000, Some(1_004_000), "CUSTOMER".into()),
                (SENTIMENT.into(), "0".into(), 1_008_500, Some(1_008_900), "AGENT".into()),
            ]
        );
        assert_eq!(s.skipped.len(), 5, "{:#?}", s.skipped);
        assert!(s.skipped[0].contains("Transcript[2] (t2): Sentiment is missing"), "{}", s.skipped[0]);
        assert!(s.skipped[1].contains("\"SARCASTIC\""));
        assert!(s.skipped[2].contains("SUPERVISOR"));
        assert!(s.skipped[3].contains("out of order"));
        assert!(s.skipped[4].contains("Transcript[6]: malformed"), "{}", s.skipped[4]);
    }

    #[test]
    fn the_overall_window_falls_back_when_the_disconnect_is_unknown() {
        let f = file(json!({
            "ConversationCharacteristics": {"TotalConversationDurationMillis": 9000, "Sentiment": {"OverallSentiment": {"AGENT": 1.2, "CUSTOMER": "high", "SYSTEM": 3}}},
            "Transcript": [{"ParticipantId": "CUSTOMER", "BeginOffsetMillis": 100, "EndOffsetMillis": 12000, "Sentiment": "NEUTRAL"}]
        }));
        let s = signals(&f, 1000, None);
        assert_eq!(s.events[0].end_time, Some(13_000), "the latest utterance end beats the duration");
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
        assert!(s.skipped[0].contains("OverallSentiment.CUSTOMER"));
        let empty = signals(&file(json!({"Transcript": null})), 0, None);
        assert!(empty.events.is_empty() && empty.skipped.is_empty());
    }

    #[test]
    fn timing_prefers_the_agent_then_the_contact_itself() {
        use aws_sdk_connect::primitives::DateTime;
        use aws_sdk_connect::types::AgentInfo;
        let agent = Contact::builder()
            .id("c")
            .initial_contact_id("first")
            .initiation_timestamp(DateTime::from_secs_f64(100.0))
            .disconnect_timestamp(DateTime::from_secs_f64(400.5))
            .agent_info(AgentInfo::builder().connected_to_agent_timestamp(DateTime::from_secs_f64(130.25)).build())
            .build();
        let t = ContactTimes::from_contact(&agent);
        assert_eq!(t.base(), Some((130_250, "AgentInfo.ConnectedToAgentTimestamp")));
        assert_eq!((t.disconnect, t.initial_contact_id.as_deref()), (Some(400_500), Some("first")));
        let no_agent = Contact::builder()
            .initiation_timestamp(DateTime::from_secs_f64(100.0))
            .connected_to_system_timestamp(DateTime::from_secs_f64(101.0))
            .initial_contact_id("")
            .build();
        let t = ContactTimes::from_contact(&no_agent);
        assert_eq!(t.base(), Some((101_000, "ConnectedToSystemTimestamp")));
        assert_eq!(t.initial_contact_id, None);
        let bare = Contact::builder().initiation_timestamp(DateTime::from_secs_f64(100.0)).build();
        assert_eq!(ContactTimes::from_contact(&bare).base(), Some((100_000, "InitiationTimestamp")));
        assert_eq!(ContactTimes::from_contact(&Contact::builder().build()).base(), None);
        // Epoch seconds with milliseconds that a float cannot hold exactly still round to the ms.
        let fraction = Contact::builder().initiation_timestamp(DateTime::from_secs_f64(1_795_252_503.020)).build();
        assert_eq!(ContactTimes::from_contact(&fraction).initiation, Some(1_795_252_503_020));
    }

    #[test]
    fn files_that_are_not_analysis_files_are_named() {
        assert!(parse_analysis(b"\xEF\xBB\xBF{\"Transcript\": []}").is_ok());
        assert!(parse_analysis(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse_analysis(b"{\"Transcript\": ").unwrap_err().starts_with("not JSON"));
        assert!(parse_analysis(b"{\"a\": \"\xff\"}").unwrap_err().starts_with("not UTF-8"));
        assert!(parse_analysis(b"{\"Transcript\": 5}").unwrap_err().starts_with("unexpected shape"));
        let accents =
            parse_analysis("{\"Transcript\": [{\"Content\": \"Ça marche, merci beaucoup\"}]}".as_bytes()).unwrap();
        assert_eq!(accents.transcript[0]["Content"], "Ça marche, merci beaucoup");
    }
}
