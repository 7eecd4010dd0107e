//! ContactLensConsumer: the Kinesis trigger on the Contact Lens real-time segment stream (Implementation Guide
//! ch. 6 "ContactLensConsumerFunction"; docs/functions.md#contactlensconsumer). It reads and validates every record, groups
//! the records by contact (arrival order kept within a contact) and hands them to the
//! ContactLensProcessor with asynchronous invocations (`InvocationType` `Event`) of the same shape
//! the official consumer sends (a Kinesis event whose `Records` are a subset of the batch), as few as
//! the 256 KB asynchronous payload limit allows, whatever the batch size.
//!
//! The answer is a partial batch response: a record whose hand-over failed is reported by sequence
//! number (Lambda retries it); a record that cannot be read is logged with its sequence number and
//! reason and counted as handled, since no retry can make it readable.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use scv_shared::config::{ConfigError, ConsumerConfig, ProcessEnv};
use scv_shared::contact_lens::SegmentRecord;
use scv_shared::error::ErrorKind;
use scv_shared::kinesis::{
    FailureReporting, KinesisEventResponse, ReadRecords, Record, RetryWholeBatch, Runner, SendInParts, Settle,
};
use scv_shared::retry::Deadline;
use serde_json::{Value, json};
use thiserror::Error;
use tracing::Instrument;

/// The `category` of every log line, as the official function names it.
pub const CATEGORY: &str = "ContactLensConsumer";
/// Invocations of the processor in flight at once (for different contacts).
pub const INVOKE_CONCURRENCY: usize = 8;
/// Lambda's limit on an asynchronous invocation payload (256 KB).
pub const ASYNC_PAYLOAD_LIMIT: usize = 256 * 1024;

/// Built once at cold start.
#[derive(Debug)]
pub struct Deps {
    pub lambda: aws_sdk_lambda::Client,
    /// `CONTACT_LENS_PROCESSOR_FUNCTION_ARN`: the processor (alias) ARN.
    pub processor: String,
    /// Payload limit of one invocation (tests lower it).
    pub max_payload_bytes: usize,
    /// Hand-overs in flight at once, each for different contacts ([`INVOKE_CONCURRENCY`]).
    pub invoke_concurrency: usize,
    /// `REPORT_BATCH_ITEM_FAILURES`: whether the mapping reads `batchItemFailures`
    /// ([`Deps::new`]: it does, as this suite's template wires it).
    pub reporting: FailureReporting,
}

impl Deps {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let processor = ConsumerConfig::from_env(&ProcessEnv)?.processor_function_arn;
        let reporting = FailureReporting::from_env(&ProcessEnv)?;
        let sdk = scv_shared::aws::load().await;
        Ok(Self { reporting, ..Self::new(aws_sdk_lambda::Client::new(&sdk), processor) })
    }

    pub fn new(lambda: aws_sdk_lambda::Client, processor: String) -> Self {
        Self {
            lambda,
            processor,
            max_payload_bytes: ASYNC_PAYLOAD_LIMIT,
            invoke_concurrency: INVOKE_CONCURRENCY,
            reporting: FailureReporting::ItemFailures,
        }
    }
}

#[derive(Debug, Error)]
pub enum ConsumerError {
    #[error("the event is not a Kinesis event: {0}")]
    BadEvent(String),
    /// A record must be retried and the mapping does not read `batchItemFailures`.
    #[error(transparent)]
    RetryBatch(#[from] RetryWholeBatch),
}

impl ConsumerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConsumerError::BadEvent(_) => ErrorKind::InvalidEvent,
            ConsumerError::RetryBatch(_) => ErrorKind::AwsUnavailable,
        }
    }
}

scv_shared::diagnostic!(ConsumerError);

/// The Lambda entry point: a span with `requestId` around [`handle`].
pub async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<KinesisEventResponse, ConsumerError> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::for_invocation(context.deadline(), Duration::from_secs(15 * 60));
    let span = tracing::info_span!("invocation", requestId = %context.request_id);
    handle(payload, deadline, deps).instrument(span).await
}

/// A readable record, by contact.
#[derive(Debug, Clone)]
pub struct Forward {
    pub contact_id: String,
    pub sequence_number: String,
    /// The record exactly as Lambda delivered it.
    pub raw: Value,
}

/// The testable handler: every invocation of the processor is made by `deadline`; invocations
/// for different contacts go at once (at most [`INVOKE_CONCURRENCY`]), a contact's in order.
pub async fn handle(payload: Value, deadline: Deadline, deps: &Deps) -> Result<KinesisEventResponse, ConsumerError> {
    let runner = Runner { name: "Contact Lens", concurrency: deps.invoke_concurrency };
    let result = runner
        .run_in_parts(&payload, &HandOver { deps, deadline })
        .await
        .map_err(|e| ConsumerError::BadEvent(e.to_string()))?;
    result.check(runner.name, deps.reporting)?;
    Ok(result.response)
}

/// One batch's hand-over: readable records packed by contact into invocations of the processor.
struct HandOver<'a> {
    deps: &'a Deps,
    deadline: Deadline,
}

impl ReadRecords for HandOver<'_> {
    type Item = Forward;

    /// A record names its contact by the segment's `ContactId`, else by its partition key.
    fn parse(&self, record: &Record<'_>) -> Result<Forward, Settle> {
        // A record that alone exceeds the asynchronous payload limit can never be handed over:
        // kept (logged at ERROR with the reason) and reported done, not retried until it expires.
        let size = serde_json::to_vec(record.raw).map_or(0, |b| b.len());
        if payload_size(&[size]) > self.deps.max_payload_bytes {
            return Err(Settle::Quarantine(format!(
                "the record is {size} bytes: it can never fit the {} byte payload of an asynchronous invocation",
                self.deps.max_payload_bytes
            )));
        }
        let unreadable = |reason: String| Settle::Quarantine(format!("the record cannot be read: {reason}"));
        let text = record.text.as_ref().map_err(|e| unreadable(e.to_string()))?;
        let segment = SegmentRecord::parse(text).map_err(|e| unreadable(e.to_string()))?;
        let contact_id = Some(segment.contact_id)
            .filter(|c| !c.is_empty())
            .or_else(|| record.partition_key().map(str::to_string))
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Settle::Quarantine("the record names no contact (no ContactId, no partition key)".into()))?;
        Ok(Forward { contact_id, sequence_number: record.sequence_number().to_string(), raw: record.raw.clone() })
    }

    fn key<'i>(&self, forward: &'i Forward) -> Option<&'i str> {
        Some(&forward.contact_id)
    }
}

impl SendInParts for HandOver<'_> {
    fn pack(&self, items: &[(&Record<'_>, &Forward)]) -> Vec<Vec<usize>> {
        let forwards: Vec<&Forward> = items.iter().map(|(_, forward)| *forward).collect();
        pack(&forwards, self.deps.max_payload_bytes)
    }

    async fn send(&self, part: &[(&Record<'_>, &Forward)]) -> Result<(), String> {
        let body = json!({"Records": part.iter().map(|(_, f)| f.raw.clone()).collect::<Vec<_>>()});
        let contacts: Vec<&str> = {
            let mut seen = HashSet::new();
            part.iter().map(|(_, f)| f.contact_id.as_str()).filter(|c| seen.insert(*c)).collect()
        };
        match invoke(self.deps, &body, self.deadline).await {
            Ok(()) => {
                tracing::info!(
                    records = part.len(),
                    contacts = %contacts.join(","),
                    "handed {} record(s) for {} contact(s) to the processor",
                    part.len(),
                    contacts.len()
                );
                Ok(())
            }
            Err(reason) => {
                for (_, f) in part {
                    tracing::error!(
                        contactId = %f.contact_id,
                        sequenceNumber = %f.sequence_number,
                        reason = %reason,
                        "could not hand record {} to the processor; reported for retry",
                        f.sequence_number
                    );
                }
                Err(reason)
            }
        }
    }
}

async fn invoke(deps: &Deps, body: &Value, deadline: Deadline) -> Result<(), String> {
    let bytes = serde_json::to_vec(body).map_err(|e| format!("the payload cannot be encoded: {e}"))?;
    if bytes.len() > deps.max_payload_bytes {
        return Err(format!(
            "one record is {} bytes, over the {} byte limit of an asynchronous invocation",
            bytes.len(),
            deps.max_payload_bytes
        ));
    }
    scv_shared::invoke::invoke_async_bytes(&deps.lambda, &deps.processor, bytes, deadline)
        .await
        .map_err(|e| e.to_string())
}

/// The size `{"Records":[...]}` takes with these records.
fn payload_size(sizes: &[usize]) -> usize {
    r#"{"Records":[]}"#.len() + sizes.iter().sum::<usize>() + sizes.len().saturating_sub(1)
}

/// Groups records by contact (first-seen order, arrival order within a contact) into invocations of
/// at most `limit` bytes: a contact's records share an invocation unless they alone exceed the
/// limit, in which case they fill consecutive invocations in order. Returns indexes into `forwards`.
pub fn pack<F: Borrow<Forward>>(forwards: &[F], limit: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (i, f) in forwards.iter().enumerate() {
        let g = *group_of.entry(f.borrow().contact_id.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let size_of: Vec<usize> =
        forwards.iter().map(|f| serde_json::to_vec(&f.borrow().raw).map_or(0, |b| b.len())).collect();
    let mut invocations: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let sizes = |items: &[usize]| items.iter().map(|&i| size_of[i]).collect::<Vec<_>>();
    for group in groups {
        let mut candidate = current.clone();
        candidate.extend(&group);
        if payload_size(&sizes(&candidate)) <= limit {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            invocations.push(std::mem::take(&mut current));
        }
        if payload_size(&sizes(&group)) <= limit {
            current = group;
            continue;
        }
        for i in group {
            let mut grown = current.clone();
            grown.push(i);
            if current.is_empty() || payload_size(&sizes(&grown)) <= limit {
                current = grown;
            } else {
                invocations.push(std::mem::replace(&mut current, vec![i]));
            }
        }
    }
    if !current.is_empty() {
        invocations.push(current);
    }
    invocations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(contact: &str, seq: usize, bytes: usize) -> Forward {
        Forward {
            contact_id: contact.into(),
            sequence_number: seq.to_string(),
            raw: json!({"kinesis": {"sequenceNumber": seq.to_string(), "data": "x".repeat(bytes)}}),
        }
    }

    fn check(forwards: &[Forward], invocations: &[Vec<usize>], limit: usize) {
        let mut all: Vec<usize> = invocations.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..forwards.len()).collect::<Vec<_>>(), "every record exactly once");
        for invocation in invocations {
            let body = json!({"Records": invocation.iter().map(|&i| forwards[i].raw.clone()).collect::<Vec<_>>()});
            let size = serde_json::to_vec(&body).unwrap().len();
            assert!(size <= limit || invocation.len() == 1, "{size} > {limit}");
        }
        // Within a contact, arrival order across and inside invocations.
        let order: Vec<usize> = invocations.iter().flatten().copied().collect();
        for contact in forwards.iter().map(|f| &f.contact_id).collect::<HashSet<_>>() {
            let mine: Vec<usize> = order.iter().copied().filter(|&i| &forwards[i].contact_id == contact).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "{contact}: {mine:?}");
        }
    }

    #[test]
    fn packing_table() {
        // (records as (contact, bytes), limit, expected invocation count, contacts never split)
        type Case<'a> = (Vec<(&'a str, usize)>, usize, usize, bool);
        let cases: Vec<Case> = vec![
            (vec![("a", 100); 40], ASYNC_PAYLOAD_LIMIT, 1, true),
            (
                (0..40).map(|i| (["a", "b", "c", "d", "e", "f", "g"][i % 7], 1000)).collect(),
                ASYNC_PAYLOAD_LIMIT,
                1,
                true,
            ),
            (vec![("a", 900), ("b", 900), ("a", 900), ("c", 900)], 2_000, 2, true),
            (vec![("a", 500), ("a", 500), ("b", 500), ("b", 500)], 1_500, 2, true),
            (vec![("a", 3_000)], 1_000, 1, true),
            (vec![], 1_000, 0, true),
        ];
        for (records, limit, expected, together) in cases {
            let forwards: Vec<Forward> = records.iter().enumerate().map(|(i, (c, b))| forward(c, i, *b)).collect();
            let invocations = pack(&forwards, limit);
            check(&forwards, &invocations, limit);
            assert_eq!(invocations.len(), expected, "{records:?}");
            if together {
                for contact in forwards.iter().map(|f| &f.contact_id).collect::<HashSet<_>>() {
                    let holding = invocations
                        .iter()
                        .filter(|inv| inv.iter().any(|&i| &forwards[i].contact_id == contact))
                        .count();
                    assert_eq!(holding, 1, "{contact} stays in one invocation");
                }
            }
        }
    }

    #[test]
    fn a_large_contact_fills_consecutive_invocations_in_order() {
        let mut forwards: Vec<Forward> = (0..10).map(|i| forward("big", i, 1_000)).collect();
        forwards.push(forward("small", 10, 100));
        let invocations = pack(&forwards, 3_500);
        check(&forwards, &invocations, 3_500);
        assert!(invocations.len() >= 4);
        let small: Vec<_> = invocations.iter().filter(|inv| inv.contains(&10)).collect();
        assert_eq!(small.len(), 1);
    }
}
