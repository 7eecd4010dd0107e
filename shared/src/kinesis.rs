//! Kinesis batches: records read one by one (a malformed record never fails the batch), data
//! decoded as leniently as Node's `Buffer.from(x, "base64")` decodes it (missing or excess padding,
//! URL-safe alphabet, whitespace: what the official functions accept), per-key ordered processing
//! with bounded concurrency, and the partial batch response (`batchItemFailures`).
//!
//! Every Kinesis-triggered function runs its batch through [`Runner`] (see [`runner`]); the pieces
//! below are what it is built from.
//!
//! `aws_lambda_events::kinesis::KinesisEvent` decodes `data` strictly while deserialising the whole
//! event, so one record with bad base64 would fail every record of the batch; records are read
//! from the raw event here instead. The response is the crate's `KinesisEventResponse`.

pub mod runner;

pub use runner::{BatchResult, Outcome, ProcessRecords, ReadRecords, Record, Runner, SendInParts, Settle, Summary};
pub use runner::{FailureReporting, RetryWholeBatch};

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

pub use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use thiserror::Error;

/// One Kinesis record as Lambda delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisRecord {
    pub sequence_number: String,
    pub partition_key: Option<String>,
    /// The record's data, still base64.
    pub data: String,
    /// Seconds since the epoch (fractional), when Kinesis received the record.
    pub approximate_arrival_timestamp: Option<f64>,
    pub event_source_arn: Option<String>,
    pub event_id: Option<String>,
}

/// Why a batch cannot be read at all: the invocation fails (and Lambda retries the whole batch).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// Anything but a Kinesis event (`null`, `[]`, `42`, `{}`, an SNS or S3 event): says what it got.
    #[error("not a Kinesis event: {0}")]
    NotKinesis(String),
    /// A record with neither `kinesis.sequenceNumber` nor an `eventID` to recover it from.
    #[error(
        "Records[{index}] ({what}) has no kinesis.sequenceNumber and no eventID: it cannot be reported in batchItemFailures, so the whole batch fails and is delivered again"
    )]
    Unidentifiable { index: usize, what: String },
}

/// One record as Lambda delivered it, read as far as its envelope allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'e> {
    /// The record exactly as delivered.
    pub raw: &'e Value,
    pub record: KinesisRecord,
    /// What is wrong with the envelope (`kinesis` not an object, no `sequenceNumber` but an
    /// `eventID`, `data` not a string): such a record is reported for retry, never dropped.
    pub malformed: Option<String>,
}

/// What a JSON value is, for error messages ([`crate::error::describe_json`]).
pub use crate::error::describe_json as describe;

/// The `eventSource` a record declares (`aws:kinesis`, `aws:sns`, `aws:s3`...), if any.
fn event_source(record: &Value) -> Option<&str> {
    record.get("eventSource").or_else(|| record.get("EventSource")).and_then(Value::as_str)
}

/// Lambda's Kinesis `eventID` is `shardId-<shard>:<sequenceNumber>`.
fn sequence_from_event_id(event_id: &str) -> Option<String> {
    let (_, seq) = event_id.rsplit_once(':')?;
    (!seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())).then(|| seq.to_string())
}

/// The records of a Kinesis event (see [`read_envelopes`]).
pub fn records(event: &Value) -> Result<Vec<KinesisRecord>, BatchError> {
    Ok(records_as_sent(event)?.into_iter().map(|(_, record)| record).collect())
}

/// [`records`], each beside the record exactly as Lambda delivered it.
pub fn records_as_sent(event: &Value) -> Result<Vec<(&Value, KinesisRecord)>, BatchError> {
    Ok(read_envelopes(event)?.into_iter().map(|e| (e.raw, e.record)).collect())
}

/// Every record of a Kinesis event, checked at the boundary: the event must be an object with a
/// `Records` array whose records are Kinesis records (a record declaring another `eventSource`
/// makes it [`BatchError::NotKinesis`]). A record whose envelope is malformed but which still has
/// a sequence number (its own, or the one its `eventID` carries) is kept, marked
/// [`Envelope::malformed`]. A record with no sequence number at all fails the whole batch
/// ([`BatchError::Unidentifiable`]): `batchItemFailures` can only name a record by its sequence
/// number, and dropping it would lose it, so the invocation fails and Lambda delivers the batch
/// again (then bisects it, and after its retries hands it to the on-failure destination).
pub fn read_envelopes(event: &Value) -> Result<Vec<Envelope<'_>>, BatchError> {
    let items = match event.get("Records") {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(BatchError::NotKinesis(format!("Records is {}", describe(other)))),
        None => return Err(BatchError::NotKinesis(format!("the event is {} (no Records)", describe(event)))),
    };
    if let Some((index, source)) =
        items.iter().enumerate().find_map(|(i, r)| event_source(r).filter(|s| *s != "aws:kinesis").map(|s| (i, s)))
    {
        // Names the field too (issue 13 item 4).
        return Err(BatchError::NotKinesis(format!("Records[{index}] comes from {source} (its eventSource)")));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let event_id = text(item, "eventID");
        let mut problems: Vec<String> = Vec::new();
        let kinesis = match item.get("kinesis") {
            Some(k @ Value::Object(_)) => k,
            Some(other) => {
                problems.push(format!("kinesis is {}", describe(other)));
                &Value::Null
            }
            None => {
                problems.push("kinesis is missing".into());
                &Value::Null
            }
        };
        let sequence_number = match text(kinesis, "sequenceNumber").filter(|s| !s.is_empty()) {
            Some(seq) => seq,
            None => {
                let recovered = event_id.as_deref().and_then(sequence_from_event_id);
                let Some(seq) = recovered else {
                    let what = if item.is_object() { problems.join(", ") } else { describe(item) };
                    let what = if what.is_empty() { "kinesis.sequenceNumber is missing".into() } else { what };
                    return Err(BatchError::Unidentifiable { index, what });
                };
                problems.push("kinesis.sequenceNumber is missing (taken from eventID)".into());
                seq
            }
        };
        match kinesis.get("data") {
            Some(Value::String(_)) => {}
            Some(other) if kinesis.is_object() => problems.push(format!("kinesis.data is {}", describe(other))),
            None if kinesis.is_object() => problems.push("kinesis.data is missing".into()),
            _ => {}
        }
        out.push(Envelope {
            raw: item,
            record: KinesisRecord {
                data: text(kinesis, "data").unwrap_or_default(),
                partition_key: text(kinesis, "partitionKey"),
                approximate_arrival_timestamp: kinesis.get("approximateArrivalTimestamp").and_then(Value::as_f64),
                event_source_arn: text(item, "eventSourceARN"),
                event_id,
                sequence_number,
            },
            malformed: (!problems.is_empty()).then(|| format!("malformed Kinesis record: {}", problems.join(", "))),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the record data is empty")]
    Empty,
    #[error("the record data is not base64 (character {0:?})")]
    NotBase64(char),
    #[error("the record data is not base64: {0}")]
    Base64(String),
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Base64 with or without (or with excess) padding, standard or URL-safe alphabet, whitespace
/// ignored; the bytes read as UTF-8 (invalid sequences replaced, as Node does).
pub fn decode_data(data: &str) -> Result<String, DecodeError> {
    let mut cleaned = String::with_capacity(data.len());
    for c in data.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '+' | '/' => cleaned.push(c),
            '-' => cleaned.push('+'),
            '_' => cleaned.push('/'),
            '=' => {}
            c if c.is_whitespace() => {}
            c => return Err(DecodeError::NotBase64(c)),
        }
    }
    // A single dangling character carries no whole byte; Node drops it.
    if cleaned.len() % 4 == 1 {
        cleaned.pop();
    }
    if cleaned.is_empty() {
        return Err(DecodeError::Empty);
    }
    let bytes = LENIENT.decode(cleaned.as_bytes()).map_err(|e| DecodeError::Base64(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The partial batch response for these failed sequence numbers (never an empty identifier).
pub fn batch_response<I, S>(failed_sequence_numbers: I) -> KinesisEventResponse
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut response = KinesisEventResponse::default();
    for seq in failed_sequence_numbers {
        let seq = seq.into();
        if !seq.is_empty() {
            response.add_failure(seq);
        }
    }
    response
}

/// Runs `work` over `items` with at most `concurrency` keys in flight; items sharing a key run one
/// after another in their original order. `work` takes the item and gives it back with its
/// outcome. Once an item's outcome `blocks` its key (a failure that will be retried), the key's
/// later items are not run: they get `blocked(item)` so they are retried after it, in order.
/// Outcomes come back in the original order.
pub async fn process_by_key<T, K, O, W, Fut>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    concurrency: usize,
    work: W,
    blocks: impl Fn(&O) -> bool,
    blocked: impl Fn(&T) -> O,
) -> Vec<(T, O)>
where
    K: Eq + Hash,
    W: Fn(T) -> Fut,
    Fut: Future<Output = (T, O)>,
{
    let mut groups: Vec<Vec<(usize, T)>> = Vec::new();
    let mut index_of: HashMap<K, usize> = HashMap::new();
    for (position, item) in items.into_iter().enumerate() {
        let k = key(&item);
        let group = *index_of.entry(k).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push((position, item));
    }
    let work = &work;
    let blocks = &blocks;
    let blocked = &blocked;
    let done: Vec<Vec<(usize, T, O)>> = stream::iter(groups)
        .map(|group| async move {
            let mut out = Vec::with_capacity(group.len());
            let mut stop = false;
            for (position, item) in group {
                let (item, outcome) = if stop {
                    let outcome = blocked(&item);
                    (item, outcome)
                } else {
                    work(item).await
                };
                stop = stop || blocks(&outcome);
                out.push((position, item, outcome));
            }
            out
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut flat: Vec<(usize, T, O)> = done.into_iter().flatten().collect();
    flat.sort_by_key(|(position, _, _)| *position);
    flat.into_iter().map(|(_, item, outcome)| (item, outcome)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    /// The official functions' 11 multilingual fixtures (docs/events.md#kinesis-records): with, without and with
    /// excess padding, multi-byte UTF-8.
    #[test]
    fn decodes_the_multilingual_fixtures() {
        let cases = [
            ("eyJsYW5nIjogIkVuZ2xpc2gifQ==", r#"{"lang": "English"}"#),
            ("eyJGcmVuY2giOiAiTCfDqXTDqSDigJlpY2kifQ==", r#"{"French": "L'été ’ici"}"#),
            ("eyJHZXJtYW4iOiAiTMOkY2hlbG4ifQ", r#"{"German": "Lächeln"}"#),
            ("eyJNYW5kYXJpbiI6ICLkvaDlpb0ifQ==", r#"{"Mandarin": "你好"}"#),
            ("eyJKYXBhbmVzZSI6ICLkuIDpg6jjga7ml6XmnKzkuroifQ===", r#"{"Japanese": "一部の日本人"}"#),
            ("eyJTd2VkaXNoIjogIsOFa2Ugw7Zsw6QifQ==", r#"{"Swedish": "Åke ölä"}"#),
            ("eyJLb3JlYW4iOiAi7JWI64WV7ZWY7IS47JqUIn0=", r#"{"Korean": "안녕하세요"}"#),
            ("eyJJdGFsaWFuIjogIkNpw7IgcGVyY2jDqSJ9", r#"{"Italian": "Ciò perché"}"#),
            ("eyJQb3J0dWd1ZXNlIjogIm5vIGNvcmHDp8OjbyJ9", r#"{"Portuguese": "no coração"}"#),
            ("eyJBcmFiaWMiOiAi2YXYsdit2KjYpyJ9", r#"{"Arabic": "مرحبا"}"#),
            ("eyJTcGFuaXNoIjogIsKhTWHDsWFuYSEifQ==", r#"{"Spanish": "¡Mañana!"}"#),
        ];
        for (encoded, expected) in cases {
            let text = decode_data(encoded).unwrap_or_else(|e| panic!("{encoded}: {e}"));
            assert_eq!(text, expected, "{encoded}");
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, serde_json::from_str::<Value>(expected).unwrap());
        }
    }

    #[test]
    fn url_safe_and_wrapped_input_decode_too() {
        assert_eq!(decode_data("eyJhIjoi-_8ifQ").unwrap(), "{\"a\":\"\u{fffd}\u{fffd}\"}");
        assert_eq!(decode_data("eyJsYW5nIjog\n  IkVuZ2xpc2gifQ==").unwrap(), r#"{"lang": "English"}"#);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode_data(""), Err(DecodeError::Empty));
        assert_eq!(decode_data("===="), Err(DecodeError::Empty));
        assert_eq!(decode_data("not base64!"), Err(DecodeError::NotBase64('!')));
        assert!(matches!(decode_data("eyJ%"), Err(DecodeError::NotBase64('%'))));
    }

    #[test]
    fn records_are_read_one_by_one() {
        let event = json!({"Records": [
            {"kinesis": {"sequenceNumber": "1", "data": "e30=", "partitionKey": "a", "approximateArrivalTimestamp": 1700000000.5}, "eventSourceARN": "arn:x"},
            {"kinesis": {"data": "e30="}, "eventID": "shardId-000000000000:2"},
            {"kinesis": {"sequenceNumber": "3", "data": 42}},
            {"kinesis": null, "eventID": "shardId-000000000001:4", "eventSource": "aws:kinesis"},
        ]});
        let envelopes = read_envelopes(&event).unwrap();
        let seqs: Vec<&str> = envelopes.iter().map(|e| e.record.sequence_number.as_str()).collect();
        assert_eq!(seqs, ["1", "2", "3", "4"], "no record is dropped");
        assert_eq!(envelopes[0].record.approximate_arrival_timestamp, Some(1700000000.5));
        assert_eq!(envelopes[0].malformed, None);
        let malformed = |i: usize| envelopes[i].malformed.clone().unwrap_or_default();
        assert!(malformed(1).contains("sequenceNumber is missing (taken from eventID)"), "{}", malformed(1));
        assert!(malformed(2).contains("kinesis.data is the number 42"), "{}", malformed(2));
        assert!(malformed(3).contains("kinesis is null"), "{}", malformed(3));
        assert_eq!(envelopes[2].record.data, "");
        assert_eq!(records(&event).unwrap().len(), 4);
    }

    #[test]
    fn anything_but_a_kinesis_event_says_what_it_got() {
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]});
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}}}]});
        for (event, got) in [
            (json!(null), "the event is null"),
            (json!([]), "the event is an array of 0 item(s)"),
            (json!(42), "the event is the number 42"),
            (json!({}), "the event is an empty object"),
            (json!({"detail": {}}), "an object with keys detail"),
            (json!({"Records": "x"}), "Records is a string"),
            (sns, "Records[0] comes from aws:sns (its eventSource)"),
            (s3, "Records[0] comes from aws:s3"),
        ] {
            let err = records(&event).expect_err(got);
            assert!(matches!(err, BatchError::NotKinesis(_)), "{event}: {err:?}");
            assert!(err.to_string().contains(got), "{event}: {err}");
        }
    }

    #[test]
    fn a_record_without_any_sequence_number_fails_the_batch() {
        for (record, what) in [
            (json!("nonsense"), "a string"),
            (json!({"kinesis": null}), "kinesis is null"),
            (json!({"kinesis": {"data": "e30="}}), "kinesis.sequenceNumber is missing"),
            (json!({"kinesis": {"data": "e30="}, "eventID": "no-sequence-here"}), "sequenceNumber is missing"),
        ] {
            let event = json!({"Records": [{"kinesis": {"sequenceNumber": "1", "data": "e30="}}, record]});
            let err = records(&event).expect_err(what);
            assert!(matches!(err, BatchError::Unidentifiable { index: 1, .. }), "{err:?}");
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[test]
    fn the_response_names_each_failure_and_never_an_empty_one() {
        let response = batch_response(vec!["2", "", "5"]);
        let value = serde_json::to_value(&response).unwrap();
        assert_eq!(value, json!({"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "5"}]}));
        assert_eq!(
            serde_json::to_value(batch_response(Vec::<String>::new())).unwrap(),
            json!({"batchItemFailures": []})
        );
    }

    #[tokio::test]
    async fn keys_run_in_order_and_a_failure_holds_back_the_rest_of_its_key() {
        let log = Mutex::new(Vec::new());
        let items = vec![("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("a", 3)];
        let outcomes = process_by_key(
            items,
            |(k, _)| *k,
            2,
            |(k, n)| {
                let log = &log;
                async move {
                    // Later items of a key finish sooner if they were ever run concurrently.
                    tokio::time::sleep(Duration::from_millis(20 / n as u64)).await;
                    log.lock().unwrap().push((k, n));
                    ((k, n), if (k, n) == ("b", 1) { Err("fail") } else { Ok(()) })
                }
            },
            |o: &Result<(), &str>| o.is_err(),
            |_| Err("blocked"),
        )
        .await;
        let log = log.into_inner().unwrap();
        let order_of = |k: &str| log.iter().filter(|(key, _)| *key == k).map(|(_, n)| *n).collect::<Vec<_>>();
        assert_eq!(order_of("a"), vec![1, 2, 3]);
        assert_eq!(order_of("b"), vec![1], "b2 is held back after b1 failed");
        let results: Vec<_> = outcomes.iter().map(|((k, n), o)| (*k, *n, *o)).collect();
        assert_eq!(
            results,
            vec![
                ("a", 1, Ok(())),
                ("b", 1, Err("fail")),
                ("a", 2, Ok(())),
                ("c", 1, Ok(())),
                ("b", 2, Err("blocked")),
                ("a", 3, Ok(()))
            ]
        );
    }
}
