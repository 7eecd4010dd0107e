//! From Kinesis records to the work of one invocation: per contact (first-seen order), the
//! transcript messages in arrival order and the real-time events ascending by time.
//!
//! Timestamps. Segment offsets are milliseconds from the start of the contact's analysis session.
//! The anchor (epoch milliseconds of offset 0) is, per contact, the earliest of: the arrival time
//! of the session's `STARTED` record, and `arrival - EndOffsetMillis` of each record's latest
//! utterance or transcript. Kinesis stamps `approximateArrivalTimestamp` when Contact Lens writes the
//! record, after the words were spoken, so this anchor is never later than the truth: a message
//! never ends after the record carrying it reached Kinesis (so never after the call ended), the
//! offsets keep their exact spacing and order, and the call's start (the VoiceCall's startTime is
//! the contact's initiation, before analysis starts) stays before every message. With no arrival
//! time at all the processing time is used, as the official function does.

use std::collections::{HashMap, HashSet};

use scv_shared::contact_lens::{
    EventType, Segment, SegmentRecord, participant_id, sender_type, sentiment_score, signal_participant,
};
use scv_shared::kinesis::{KinesisRecord, decode_data};
use scv_shared::scrt::{ConversationEvent, TranscriptMessage};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const CATEGORY_SIGNAL: &str = "IntelligenceSignal__Category";
pub const SENTIMENT_SIGNAL: &str = "IntelligenceSignal__Sentiment";

/// What one invocation sends (also the payload of a retry invocation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Work {
    pub contacts: Vec<ContactWork>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactWork {
    pub contact_id: String,
    #[serde(default)]
    pub messages: Vec<TranscriptMessage>,
    #[serde(default)]
    pub events: Vec<ConversationEvent>,
}

impl Work {
    pub fn is_empty(&self) -> bool {
        self.contacts.iter().all(|c| c.messages.is_empty() && c.events.is_empty())
    }
    pub fn message_count(&self) -> usize {
        self.contacts.iter().map(|c| c.messages.len()).sum()
    }
    pub fn event_count(&self) -> usize {
        self.contacts.iter().map(|c| c.events.len()).sum()
    }
    pub fn contact_list(&self) -> String {
        self.contacts.iter().map(|c| c.contact_id.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// The work of a batch, and how many records could not be read (logged, never retried: they
/// cannot succeed later).
#[derive(Debug, Default)]
pub struct Built {
    pub work: Work,
    pub skipped_records: usize,
}

struct Decoded {
    contact_id: String,
    arrival_ms: i64,
    record: SegmentRecord,
}

fn arrival_ms(record: &KinesisRecord, now_ms: i64) -> Option<i64> {
    let _ = now_ms;
    record.approximate_arrival_timestamp.filter(|t| t.is_finite() && *t > 0.0).map(|t| (t * 1000.0).round() as i64)
}

/// Reads every record; builds the work.
pub fn build(records: &[KinesisRecord], now_ms: i64) -> Built {
    let mut built = Built::default();
    let mut decoded = Vec::with_capacity(records.len());
    for record in records {
        let parsed = decode_data(&record.data)
            .map_err(|e| e.to_string())
            .and_then(|text| SegmentRecord::parse(&text).map_err(|e| e.to_string()));
        let parsed = match parsed {
            Ok(p) => p,
            Err(reason) => {
                built.skipped_records += 1;
                tracing::error!(
                    contactId = record.partition_key.as_deref().unwrap_or(""),
                    sequenceNumber = %record.sequence_number,
                    reason = %reason,
                    "Contact Lens record {} cannot be read and is skipped (it cannot succeed on retry): {reason}",
                    record.sequence_number
                );
                continue;
            }
        };
        let contact_id = Some(parsed.contact_id.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| record.partition_key.clone().filter(|k| !k.trim().is_empty()));
        let Some(contact_id) = contact_id else {
            built.skipped_records += 1;
            tracing::error!(
                sequenceNumber = %record.sequence_number,
                "Contact Lens record {} names no contact (no ContactId, no partition key) and is skipped",
                record.sequence_number
            );
            continue;
        };
        // The contact id is the path of the Salesforce calls: a forged one (`..`, `a/b`) is never
        // sent (issue 13 item 1).
        if let Err(e) = scv_shared::ids::PathId::parse("ContactId", &contact_id) {
            built.skipped_records += 1;
            tracing::error!(
                sequenceNumber = %record.sequence_number,
                reason = %e,
                "Contact Lens record {} is skipped (it cannot succeed on retry): {e}",
                record.sequence_number
            );
            continue;
        }
        let arrival = arrival_ms(record, now_ms);
        log_lifecycle(&parsed, &contact_id, &record.sequence_number);
        decoded.push((arrival, Decoded { contact_id, arrival_ms: arrival.unwrap_or(now_ms), record: parsed }));
    }

    let anchors = anchors(&decoded);
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut seen_ids: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut sentiment_transcripts: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut transcript_sentiments: Vec<(usize, String, ConversationEvent)> = Vec::new();
    let mut unknown_kinds: HashSet<String> = HashSet::new();
    for (_, d) in &decoded {
        if d.record.event_type != EventType::Segments {
            continue;
        }
        let index = *index_of.entry(d.contact_id.clone()).or_insert_with(|| {
            built.work.contacts.push(ContactWork { contact_id: d.contact_id.clone(), ..ContactWork::default() });
            built.work.contacts.len() - 1
        });
        let anchor = anchors.get(&d.contact_id).copied();
        let contact = &d.contact_id;
        for segment in &d.record.segments {
            match segment {
                Segment::Utterance(u) => {
                    if !seen_ids.entry(index).or_default().insert(u.id.clone()) {
                        tracing::debug!(contactId = %contact, messageId = %u.id, "utterance already in this batch");
                        continue;
                    }
                    let (start, end) = times(anchor, d.arrival_ms, u.begin_offset_millis, u.end_offset_millis);
                    if let Some(score) = u.sentiment.as_deref().and_then(sentiment_score)
                        && let Some(participant) = signal_participant(&u.participant_role)
                    {
                        built.work.contacts[index].events.push(sentiment_event(score, start, participant));
                        if let Some(t) = &u.transcript_id {
                            sentiment_transcripts.entry(index).or_default().insert(t.clone());
                        }
                    }
                    if u.id.trim().is_empty() || u.partial_content.trim().is_empty() {
                        tracing::warn!(
                            contactId = %contact,
                            field = if u.id.trim().is_empty() { "Utterance.Id" } else { "Utterance.PartialContent" },
                            "an utterance without id or content cannot become a transcript message; skipped"
                        );
                        continue;
                    }
                    let sender = sender_type(&u.participant_role);
                    built.work.contacts[index].messages.push(TranscriptMessage {
                        participant_id: participant_id(contact, sender),
                        message_id: u.id.clone(),
                        start_time: start,
                        end_time: end,
                        content: u.partial_content.clone(),
                        sender_type: sender.to_string(),
                    });
                }
                Segment::Transcript(t) => {
                    if let Some(score) = t.sentiment.as_deref().and_then(sentiment_score)
                        && let Some(participant) = signal_participant(&t.participant_role)
                    {
                        let (start, _) = times(anchor, d.arrival_ms, t.begin_offset_millis, t.end_offset_millis);
                        transcript_sentiments.push((index, t.id.clone(), sentiment_event(score, start, participant)));
                    }
                }
                Segment::Categories(c) => {
                    for name in &c.matched_categories {
                        let points = c.points_of_interest(name);
                        let start = match (anchor, points.first()) {
                            (Some(anchor), Some(p)) => anchor + p.begin_offset_millis.max(0),
                            _ => d.arrival_ms,
                        };
                        let details = points.first().map(|first| {
                            json!({
                                "BeginOffsetMillis": first.begin_offset_millis,
                                "EndOffsetMillis": first.end_offset_millis,
                                "PointsOfInterest": points,
                            })
                        });
                        built.work.contacts[index].events.push(ConversationEvent {
                            kind: CATEGORY_SIGNAL.into(),
                            value: name.clone(),
                            start_time: start,
                            end_time: None,
                            score: None,
                            participant: None,
                            details,
                        });
                    }
                }
                Segment::PostContactSummary(_) => {
                    tracing::debug!(contactId = %contact, "post-contact summary segment: not sent in real time");
                }
                Segment::Unknown(kind) => {
                    if unknown_kinds.insert(kind.clone()) {
                        tracing::warn!(contactId = %contact, kind = %kind, "unknown Contact Lens segment kind {kind}: skipped");
                    }
                }
            }
        }
    }
    // A transcript's sentiment, unless its utterances already carried one (no double signal).
    for (index, transcript_id, event) in transcript_sentiments {
        if !sentiment_transcripts.get(&index).is_some_and(|ids| ids.contains(&transcript_id)) {
            built.work.contacts[index].events.push(event);
        }
    }
    for contact in &mut built.work.contacts {
        contact.events.sort_by_key(|e| e.start_time);
    }
    built.work.contacts.retain(|c| !c.messages.is_empty() || !c.events.is_empty());
    built
}

fn sentiment_event(score: i32, start: i64, participant: &str) -> ConversationEvent {
    ConversationEvent {
        kind: SENTIMENT_SIGNAL.into(),
        value: score.to_string(),
        start_time: start,
        end_time: None,
        score: None,
        participant: Some(participant.into()),
        details: None,
    }
}

/// Start and end in epoch milliseconds: anchored offsets, else (no anchor) the official rule of
/// ending at the record's arrival.
pub fn times(anchor: Option<i64>, arrival_ms: i64, begin: i64, end: i64) -> (i64, i64) {
    let (begin, end) = (begin.max(0), end.max(0));
    let (begin, end) = if begin <= end { (begin, end) } else { (end, begin) };
    match anchor {
        Some(anchor) => (anchor + begin, anchor + end),
        None => (arrival_ms - (end - begin), arrival_ms),
    }
}

/// The anchor of each contact (see the module documentation). Contacts with no arrival time at all
/// have none.
fn anchors(decoded: &[(Option<i64>, Decoded)]) -> HashMap<String, i64> {
    let mut anchors: HashMap<String, i64> = HashMap::new();
    let mut offer = |contact: &str, candidate: i64| {
        anchors.entry(contact.to_string()).and_modify(|a| *a = (*a).min(candidate)).or_insert(candidate);
    };
    for (arrival, d) in decoded {
        let Some(arrival) = arrival else { continue };
        match d.record.event_type {
            EventType::Started => offer(&d.contact_id, *arrival),
            EventType::Segments => {
                let latest = d
                    .record
                    .segments
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Utterance(u) => Some(u.end_offset_millis.max(u.begin_offset_millis)),
                        Segment::Transcript(t) => Some(t.end_offset_millis.max(t.begin_offset_millis)),
                        _ => None,
                    })
                    .max();
                if let Some(latest) = latest {
                    offer(&d.contact_id, arrival - latest.max(0));
                }
            }
            _ => {}
        }
    }
    anchors
}

/// STARTED and COMPLETED at INFO, FAILED at ERROR, anything unknown at WARN, each with the contact.
fn log_lifecycle(record: &SegmentRecord, contact_id: &str, sequence_number: &str) {
    match &record.event_type {
        EventType::Started => {
            tracing::info!(contactId = %contact_id, eventType = "STARTED", "Contact Lens analysis started for {contact_id}");
        }
        EventType::Completed => {
            tracing::info!(contactId = %contact_id, eventType = "COMPLETED", "Contact Lens analysis completed for {contact_id}");
        }
        EventType::Failed => tracing::error!(
            contactId = %contact_id,
            eventType = "FAILED",
            sequenceNumber = %sequence_number,
            "Contact Lens real-time analysis FAILED for {contact_id}: no further transcript for this contact"
        ),
        EventType::Segments => {
            tracing::debug!(contactId = %contact_id, eventType = "SEGMENTS", segments = record.segments.len(), "segments received");
        }
        EventType::Other(other) => tracing::warn!(
            contactId = %contact_id,
            eventType = %other,
            sequenceNumber = %sequence_number,
            "received unknown Contact Lens event type {other}: skipped"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::{Value, json};

    fn record(seq: &str, arrival: Option<f64>, body: Value) -> KinesisRecord {
        KinesisRecord {
            sequence_number: seq.into(),
            partition_key: Some("pk".into()),
            data: base64::engine::general_purpose::STANDARD.encode(body.to_string()),
            approximate_arrival_timestamp: arrival,
            event_source_arn: None,
            event_id: None,
        }
    }

    fn utterance(id: &str, role: &str, begin: i64, end: i64) -> Value {
        json!({"Utterance": {"Id": id, "TranscriptId": format!("t-{id}"), "ParticipantId": role, "ParticipantRole": role, "PartialContent": format!("text {id}"), "BeginOffsetMillis": begin, "EndOffsetMillis": end}})
    }

    fn segments(contact: &str, segments: Vec<Value>) -> Value {
        json!({"Version": "1.0.0", "Channel": "VOICE", "ContactId": contact, "EventType": "SEGMENTS", "Segments": segments})
    }

    #[test]
    fn the_official_fixture_maps_to_the_documented_message() {
        let fixture: Value = serde_json::from_str(r#"{"Version":"1.0.0","Channel":"VOICE","AccountId":"698414421362","InstanceId":"4defbdc5-3029-456e-9bf3-a0d168cf409c","ContactId":"d5187cb8-f83f-471d-b724-bfb242b34b59","LanguageCode":"en-US","EventType":"SEGMENTS","Segments":[{"Utterance":{"ParticipantId":"AGENT","ParticipantRole":"AGENT","PartialContent":"Testing.","BeginOffsetMillis":19230,"EndOffsetMillis":19855,"Id":"5a859b25-e047-454f-b47f-c78ee2a33f08","Sentiment":"NEUTRAL","IssuesDetected":[]}}]}"#).unwrap();
        let t = 1_795_252_530.0;
        let built = build(&[record("1", Some(t), fixture)], 0);
        let contact = &built.work.contacts[0];
        let c = "d5187cb8-f83f-471d-b724-bfb242b34b59";
        // One record: the anchor is arrival - EndOffsetMillis, so the message ends at arrival and
        // starts 625 ms before, exactly the official timing for a lone utterance.
        assert_eq!(
            contact.messages,
            vec![TranscriptMessage {
                participant_id: format!("{c}VIRTUAL_AGENT"),
                message_id: "5a859b25-e047-454f-b47f-c78ee2a33f08".into(),
                start_time: 1_795_252_530_000 - 625,
                end_time: 1_795_252_530_000,
                content: "Testing.".into(),
                sender_type: "VIRTUAL_AGENT".into(),
            }]
        );
        assert_eq!(contact.events.len(), 1);
        assert_eq!(contact.events[0].kind, SENTIMENT_SIGNAL);
        assert_eq!((contact.events[0].value.as_str(), contact.events[0].participant.as_deref()), ("0", Some("AGENT")));
    }

    #[test]
    fn offsets_keep_their_spacing_under_one_anchor_per_contact() {
        // Two records; the second arrived late (slow), the first fixes the anchor.
        let records = vec![
            record("1", Some(1000.0), segments("A", vec![utterance("u1", "CUSTOMER", 1000, 2000)])),
            record("2", Some(1010.0), segments("A", vec![utterance("u2", "AGENT", 2500, 3000)])),
        ];
        let built = build(&records, 0);
        let m = &built.work.contacts[0].messages;
        let anchor = 1_000_000 - 2000;
        assert_eq!((m[0].start_time, m[0].end_time), (anchor + 1000, anchor + 2000));
        assert_eq!((m[1].start_time, m[1].end_time), (anchor + 2500, anchor + 3000));
        assert_eq!(m[0].sender_type, "END_USER");
        assert_eq!(m[0].participant_id, "AEND_USER");
        for (message, arrival) in m.iter().zip([1_000_000, 1_010_000]) {
            assert!(message.end_time <= arrival, "never after the record reached Kinesis");
        }
    }

    #[test]
    fn a_started_record_anchors_the_session() {
        let records = vec![
            record("1", Some(500.0), json!({"ContactId": "A", "EventType": "STARTED"})),
            record("2", Some(520.0), segments("A", vec![utterance("u1", "AGENT", 15000, 16000)])),
        ];
        let m = &build(&records, 0).work.contacts[0].messages;
        assert_eq!(m[0].start_time, 500_000 + 15000);
    }

    #[test]
    fn categories_and_sentiment_become_sorted_events() {
        let records = vec![record(
            "1",
            Some(2000.0),
            segments(
                "A",
                vec![
                    utterance("u1", "AGENT", 9000, 10000),
                    json!({"Transcript": {"Id": "t9", "ParticipantId": "CUSTOMER", "ParticipantRole": "CUSTOMER", "Content": "bad", "BeginOffsetMillis": 3000, "EndOffsetMillis": 4000, "Sentiment": "NEGATIVE"}}),
                    json!({"Categories": {"MatchedCategories": ["Escalation", "NoDetails"], "MatchedDetails": {"Escalation": {"PointsOfInterest": [{"BeginOffsetMillis": 5000, "EndOffsetMillis": 6000}, {"BeginOffsetMillis": 7000, "EndOffsetMillis": 8000}]}}}}),
                    json!({"Issues": {"IssuesDetected": []}}),
                ],
            ),
        )];
        let built = build(&records, 0);
        let events = &built.work.contacts[0].events;
        let anchor = 2_000_000 - 10000;
        let summary: Vec<(&str, &str, i64)> =
            events.iter().map(|e| (e.kind.as_str(), e.value.as_str(), e.start_time)).collect();
        assert_eq!(
            summary,
            vec![
                (SENTIMENT_SIGNAL, "-1000", anchor + 3000),
                (CATEGORY_SIGNAL, "Escalation", anchor + 5000),
                (CATEGORY_SIGNAL, "NoDetails", 2_000_000),
            ]
        );
        assert_eq!(events[0].participant.as_deref(), Some("CUSTOMER"));
        assert_eq!(events[1].details.as_ref().unwrap()["PointsOfInterest"].as_array().unwrap().len(), 2);
        assert_eq!(events[1].details.as_ref().unwrap()["BeginOffsetMillis"], 5000);
        assert!(events[2].details.is_none());
        assert!(events.windows(2).all(|w| w[0].start_time <= w[1].start_time));
    }

    #[test]
    fn bad_records_are_skipped_and_lifecycle_records_send_nothing() {
        let records = vec![
            KinesisRecord { data: "not base64!".into(), ..record("1", Some(1.0), json!({})) },
            record("2", Some(1.0), json!({"no": "event type"})),
            record("3", Some(1.0), json!({"ContactId": "A", "EventType": "COMPLETED"})),
            record("4", Some(1.0), json!({"ContactId": "A", "EventType": "FAILED"})),
            record("5", Some(1.0), segments("A", vec![json!({"Mystery": {}})])),
            record("6", Some(1.0), segments("", vec![utterance("u1", "AGENT", 0, 10)])),
        ];
        let built = build(&records, 0);
        assert_eq!(built.skipped_records, 2);
        assert_eq!(built.work.contact_list(), "pk", "a record without ContactId falls back to the partition key");
        assert_eq!(built.work.message_count(), 1);
    }

    #[test]
    fn duplicate_utterances_in_a_batch_are_sent_once_and_times_fallback_without_arrival() {
        let records = vec![
            record("1", None, segments("A", vec![utterance("u1", "AGENT", 100, 300)])),
            record("2", None, segments("A", vec![utterance("u1", "AGENT", 100, 300)])),
        ];
        let built = build(&records, 50_000);
        let m = &built.work.contacts[0].messages;
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].start_time, m[0].end_time), (50_000 - 200, 50_000));
        assert_eq!(times(Some(10), 0, 7, 3), (13, 17), "reversed offsets are put right");
    }
}
