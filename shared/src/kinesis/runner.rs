//! The batch runner of every Kinesis-triggered function.
//!
//! A function says how to read one record ([`ReadRecords`]: parse it, name the key whose records
//! must stay in order, keep a record that can never succeed) and how to do its work: record by
//! record ([`ProcessRecords`]: CTR sync, voicemail audio) or in parts of several records
//! ([`SendInParts`]: handing Contact Lens segments on). [`Runner`] does the rest, the same way for
//! every function:
//!
//! - reads the event's records one by one and decodes their data leniently ([`Record`]): a
//!   malformed record never fails the batch;
//! - runs the records sharing a key (a contact) one after another in batch order, and different
//!   keys concurrently, at most [`Runner::concurrency`] at once;
//! - once a record is reported for retry, holds back the later records of its key: they are
//!   reported too, so Lambda delivers them again after it, still in order;
//! - gives a record that can never succeed to the quarantine hook ([`ReadRecords::quarantine`]) and
//!   logs it at ERROR with its sequence number; if keeping it fails, the record is retried instead;
//! - logs skips (DEBUG) and one summary line with the counts (INFO), and answers the partial batch
//!   response (`batchItemFailures`, never with an empty identifier) with each record's [`Outcome`].
//!
//! The function logs its own failures (it knows how serious each one is).

use std::collections::HashSet;
use std::future::Future;

use futures_util::{StreamExt, stream};

use serde_json::Value;
use tracing::Instrument;

use super::{
    BatchError, DecodeError, KinesisEventResponse, KinesisRecord, batch_response, decode_data, process_by_key,
    read_envelopes,
};

/// One record of the batch: what Lambda sent, and its data decoded.
#[derive(Debug, Clone)]
pub struct Record<'e> {
    pub kinesis: KinesisRecord,
    /// The data as text (base64 decoded leniently, UTF-8 read as Node reads it), or why not.
    pub text: Result<String, DecodeError>,
    /// The record exactly as Lambda delivered it (to hand on or keep unchanged).
    pub raw: &'e Value,
    /// What is wrong with its envelope, if anything ([`super::Envelope::malformed`]): such a
    /// record is not parsed and is reported for retry.
    pub malformed: Option<String>,
}

impl<'e> Record<'e> {
    /// Every record of a Kinesis event, in batch order (see [`super::records`]).
    pub fn read(event: &'e Value) -> Result<Vec<Self>, BatchError> {
        Ok(read_envelopes(event)?
            .into_iter()
            .map(|e| Record {
                text: decode_data(&e.record.data),
                kinesis: e.record,
                raw: e.raw,
                malformed: e.malformed,
            })
            .collect())
    }

    pub fn sequence_number(&self) -> &str {
        &self.kinesis.sequence_number
    }

    pub fn partition_key(&self) -> Option<&str> {
        self.kinesis.partition_key.as_deref()
    }

    /// The data as JSON, or why it is not JSON.
    pub fn json(&self) -> Result<Value, String> {
        let text = self.text.as_ref().map_err(ToString::to_string)?;
        serde_json::from_str(text).map_err(|e| format!("the record is not JSON: {e}"))
    }
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T = ()> {
    /// The work is done; `T` is what the function reports about it.
    Done(T),
    /// Not for this function: a success, not retried.
    Skipped(String),
    /// It can never succeed: kept by the quarantine hook, logged at ERROR, not retried.
    Quarantined(String),
    /// Reported in `batchItemFailures`: Lambda delivers it again.
    Retry(String),
}

impl<T> Outcome<T> {
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry(_))
    }
}

/// What [`ReadRecords::parse`] decides about a record that needs no work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Not for this function (a success).
    Skip(String),
    /// It can never succeed (unreadable, incomplete): quarantined, not retried.
    Quarantine(String),
}

impl<T> From<Settle> for Outcome<T> {
    fn from(settle: Settle) -> Self {
        match settle {
            Settle::Skip(reason) => Outcome::Skipped(reason),
            Settle::Quarantine(reason) => Outcome::Quarantined(reason),
        }
    }
}

/// How a function reads its records.
pub trait ReadRecords: Sync {
    /// A record once parsed (a CTR, a voicemail, a segment).
    type Item: Send + Sync;

    /// Parses one record (its decoded data is `record.text`). Runs for every record before any work
    /// starts.
    fn parse(&self, record: &Record<'_>) -> Result<Self::Item, Settle>;

    /// The key whose records run in order (the contact id); `None`: the record stands alone.
    fn key<'i>(&self, item: &'i Self::Item) -> Option<&'i str>;

    /// Keeps a record that can never succeed (`item` is `None` when it could not be parsed) and
    /// says where, for the log line. An error makes the record retried instead. By default the
    /// record is kept nowhere but in the ERROR log line.
    fn quarantine(
        &self,
        record: &Record<'_>,
        item: Option<&Self::Item>,
        reason: &str,
    ) -> impl Future<Output = Result<Option<String>, String>> + Send {
        let _ = (record, item, reason);
        async { Ok(None) }
    }
}

/// Functions that do their work record by record.
pub trait ProcessRecords: ReadRecords {
    /// What a record that succeeded reports (`()` when nothing).
    type Done: Send;

    /// Does the work of one record. Returning [`Outcome::Quarantined`] hands it to the quarantine
    /// hook.
    fn process(&self, record: &Record<'_>, item: &Self::Item) -> impl Future<Output = Outcome<Self::Done>> + Send;
}

/// Functions that hand records on in parts of several records (parts of one key in order).
pub trait SendInParts: ReadRecords {
    /// Splits the records to send into parts, as indexes into `items` (in batch order); each
    /// record should be in exactly one part. A record left out of every part is retried.
    fn pack(&self, items: &[(&Record<'_>, &Self::Item)]) -> Vec<Vec<usize>>;

    /// Sends one part; an error reports all its records for retry and holds back their keys' records
    /// in later parts.
    fn send(&self, part: &[(&Record<'_>, &Self::Item)]) -> impl Future<Output = Result<(), String>> + Send;
}

/// Runs one batch for one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runner {
    /// What the function's records are called in log lines ("CTR", "voicemail").
    pub name: &'static str,
    /// Keys processed at once (at least one); [`Runner::run_in_parts`]: parts sent at once, those
    /// sharing a key (a contact) one after another in pack order.
    pub concurrency: usize,
}

/// The counts of one batch (also the summary log line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub done: usize,
    pub skipped: usize,
    pub quarantined: usize,
    /// Reported in `batchItemFailures`.
    pub retried: usize,
    /// Parts sent ([`Runner::run_in_parts`] only).
    pub parts: usize,
}

/// What a batch came to.
#[derive(Debug, Clone)]
pub struct BatchResult<T> {
    /// The answer to Lambda.
    pub response: KinesisEventResponse,
    /// Each record's sequence number and outcome, in batch order.
    pub outcomes: Vec<(String, Outcome<T>)>,
    pub summary: Summary,
}

impl<T> BatchResult<T> {
    /// The response and the outcomes in the function's own terms.
    pub fn map_outcomes<U>(self, mut f: impl FnMut(Outcome<T>) -> U) -> (KinesisEventResponse, Vec<(String, U)>) {
        (self.response, self.outcomes.into_iter().map(|(seq, outcome)| (seq, f(outcome))).collect())
    }
}

/// Whether Lambda reads this function's `batchItemFailures`: only when its event source mapping has
/// `FunctionResponseTypes: [ReportBatchItemFailures]`. The function cannot see its mapping, so the
/// template says so (`REPORT_BATCH_ITEM_FAILURES=true`, docs/migrating.md#batch-failures). Without it
/// (an official stack's mapping) a partial answer would be ignored and the records checkpointed as
/// done, so a batch with a record to retry fails as a whole: Lambda delivers it again (the records
/// that can never succeed were quarantined first and are settled; done ones are applied again,
/// which every Kinesis function here tolerates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureReporting {
    /// The mapping reports item failures: answer `batchItemFailures`.
    ItemFailures,
    /// Unknown or not: a record to retry fails the whole batch.
    #[default]
    WholeBatch,
}

impl FailureReporting {
    /// `REPORT_BATCH_ITEM_FAILURES` (`true`/`false`, default false).
    pub fn from_env(env: &dyn crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        let reports = crate::config::flag(env, crate::config::kinesis::REPORT_BATCH_ITEM_FAILURES, false)?;
        Ok(if reports { FailureReporting::ItemFailures } else { FailureReporting::WholeBatch })
    }
}

/// A batch that fails as a whole so Lambda delivers it again ([`FailureReporting::WholeBatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{retried} of {records} {name} record(s) must be retried (first: sequence number {first_sequence_number}: {first_reason}) and this function's mapping does not report item failures (REPORT_BATCH_ITEM_FAILURES is not true): the whole batch fails so Lambda delivers it again"
)]
pub struct RetryWholeBatch {
    pub name: &'static str,
    pub records: usize,
    pub retried: usize,
    pub first_sequence_number: String,
    pub first_reason: String,
}

impl<T> BatchResult<T> {
    /// The answer to Lambda in `reporting` mode: the partial batch response, or the error that
    /// makes Lambda retry the whole batch when a record must be retried and item failures are not read.
    pub fn check(&self, name: &'static str, reporting: FailureReporting) -> Result<(), RetryWholeBatch> {
        if reporting == FailureReporting::ItemFailures {
            return Ok(());
        }
        let mut retries = self.outcomes.iter().filter_map(|(seq, o)| match o {
            Outcome::Retry(reason) => Some((seq, reason)),
            _ => None,
        });
        let Some((seq, reason)) = retries.next() else { return Ok(()) };
        let error = RetryWholeBatch {
            name,
            records: self.outcomes.len(),
            retried: 1 + retries.count(),
            first_sequence_number: seq.clone(),
            first_reason: reason.clone(),
        };
        tracing::warn!(sequenceNumber = %seq, "{error}");
        Err(error)
    }
}

/// Records sharing a key run in order; a record without one stands alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Of(String),
    Alone(usize),
}

struct Entry<'e, I> {
    record: Record<'e>,
    item: Result<I, Settle>,
    key: Key,
}

impl<I> Entry<'_, I> {
    fn span(&self) -> tracing::Span {
        let contact_id = match &self.key {
            Key::Of(key) => key.as_str(),
            Key::Alone(_) => "",
        };
        tracing::info_span!("record", contactId = contact_id, sequenceNumber = %self.record.sequence_number())
    }
}

/// Groups parts (numbers into `parts`) into chains: parts that share a key, directly or through
/// other parts, are in one chain, in pack order; chains share no key.
fn chains<'k>(parts: &[Vec<usize>], key_of: impl Fn(usize) -> &'k Key) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while parent[at] != at {
            parent[at] = parent[parent[at]];
            at = parent[at];
        }
        at
    }
    let mut parent: Vec<usize> = (0..parts.len()).collect();
    let mut first_part_of: std::collections::HashMap<&Key, usize> = std::collections::HashMap::new();
    for (number, part) in parts.iter().enumerate() {
        for &index in part {
            let first = *first_part_of.entry(key_of(index)).or_insert(number);
            let (a, b) = (root(&mut parent, first), root(&mut parent, number));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut chains: Vec<Vec<usize>> = Vec::new();
    let mut chain_of_root: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for number in 0..parts.len() {
        let r = root(&mut parent, number);
        let chain = *chain_of_root.entry(r).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[chain].push(number);
    }
    chains
}

fn held_back(key: &Key) -> String {
    match key {
        Key::Of(key) => format!("an earlier record of {key} failed; retried after it, in order"),
        Key::Alone(_) => "an earlier record failed; retried after it, in order".into(),
    }
}

impl Runner {
    /// Processes every record of `event` with `handler`, record by record.
    pub async fn run<H: ProcessRecords>(&self, event: &Value, handler: &H) -> Result<BatchResult<H::Done>, BatchError> {
        let entries = Self::entries(event, handler)?;
        let outcomes = process_by_key(
            entries,
            |entry| entry.key.clone(),
            self.concurrency,
            |entry| async move {
                let outcome = self.one(handler, &entry).instrument(entry.span()).await;
                (entry, outcome)
            },
            Outcome::is_retry,
            |entry| Outcome::Retry(held_back(&entry.key)),
        )
        .await;
        Ok(self.finish(outcomes.into_iter().map(|(entry, outcome)| (entry.record, outcome)), None))
    }

    /// [`Runner::run`] with the records worked on at once adapted by `limiter` (AIMD, at most
    /// [`Runner::concurrency`]; [`crate::concurrency`]): each record holds a permit while it is
    /// worked on, and its HTTP answers (429s, latency) tell the limiter. Records of one key still
    /// run in batch order.
    pub async fn run_adaptive<H: ProcessRecords>(
        &self,
        event: &Value,
        handler: &H,
        limiter: &std::sync::Arc<crate::concurrency::Aimd>,
    ) -> Result<BatchResult<H::Done>, BatchError> {
        let entries = Self::entries(event, handler)?;
        let outcomes = process_by_key(
            entries,
            |entry| entry.key.clone(),
            self.concurrency.min(limiter.ceiling()),
            |entry| async move {
                let _permit = limiter.acquire().await;
                let work = self.one(handler, &entry).instrument(entry.span());
                let outcome = crate::concurrency::scoped(limiter.clone(), work).await;
                (entry, outcome)
            },
            Outcome::is_retry,
            |entry| Outcome::Retry(held_back(&entry.key)),
        )
        .await;
        Ok(self.finish(outcomes.into_iter().map(|(entry, outcome)| (entry.record, outcome)), None))
    }

    /// Sends every record of `event` with `handler`, in the parts it packs: parts that share no key
    /// concurrently (at most [`Runner::concurrency`]), the parts of one key in order.
    pub async fn run_in_parts<H: SendInParts>(
        &self,
        event: &Value,
        handler: &H,
    ) -> Result<BatchResult<()>, BatchError> {
        let entries = Self::entries(event, handler)?;
        let mut outcomes: Vec<Option<Outcome>> = entries.iter().map(|_| None).collect();
        let mut ready: Vec<(usize, &Record<'_>, &H::Item)> = Vec::new();
        for (position, entry) in entries.iter().enumerate() {
            if let Some(reason) = &entry.record.malformed {
                outcomes[position] = Some(self.malformed(&entry.record, reason));
                continue;
            }
            match &entry.item {
                Ok(item) => ready.push((position, &entry.record, item)),
                Err(settle) => {
                    let outcome =
                        self.settle(handler, &entry.record, None, settle.clone().into()).instrument(entry.span()).await;
                    outcomes[position] = Some(outcome);
                }
            }
        }
        let view: Vec<(&Record<'_>, &H::Item)> = ready.iter().map(|&(_, record, item)| (record, item)).collect();
        // Each record goes in the first part that names it.
        let mut placed = vec![false; ready.len()];
        let parts: Vec<Vec<usize>> = handler
            .pack(&view)
            .into_iter()
            .map(|part| {
                part.into_iter().filter(|&i| i < ready.len() && !std::mem::replace(&mut placed[i], true)).collect()
            })
            .filter(|part: &Vec<usize>| !part.is_empty())
            .collect();
        let key_of = |index: usize| &entries[ready[index].0].key;
        let chains = chains(&parts, key_of);
        let parts = &parts;
        let view = &view;
        // Chains share no key: they go concurrently. Within one, parts go in order, and a failed
        // part holds back the later records of its keys.
        let done: Vec<(Vec<(usize, Outcome)>, usize)> = stream::iter(chains)
            .map(|chain| async move {
                let mut held: HashSet<&Key> = HashSet::new();
                let mut out = Vec::new();
                let mut sent = 0;
                for number in chain {
                    let mut go: Vec<usize> = Vec::new();
                    for &index in &parts[number] {
                        let key = key_of(index);
                        if held.contains(key) {
                            out.push((index, Outcome::Retry(held_back(key))));
                        } else {
                            go.push(index);
                        }
                    }
                    if go.is_empty() {
                        continue;
                    }
                    let part: Vec<(&Record<'_>, &H::Item)> = go.iter().map(|&i| view[i]).collect();
                    let outcome = match handler.send(&part).await {
                        Ok(()) => {
                            sent += 1;
                            Outcome::Done(())
                        }
                        Err(reason) => {
                            held.extend(go.iter().map(|&i| key_of(i)));
                            Outcome::Retry(reason)
                        }
                    };
                    out.extend(go.into_iter().map(|i| (i, outcome.clone())));
                }
                (out, sent)
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut sent = 0;
        for (chain_outcomes, chain_sent) in done {
            sent += chain_sent;
            for (index, outcome) in chain_outcomes {
                outcomes[ready[index].0] = Some(outcome);
            }
        }
        let result = entries.into_iter().zip(outcomes).map(|(entry, outcome)| {
            let outcome = outcome.unwrap_or_else(|| Outcome::Retry("the record was in no part sent".into()));
            (entry.record, outcome)
        });
        Ok(self.finish(result, Some(sent)))
    }

    fn entries<'e, H: ReadRecords>(event: &'e Value, handler: &H) -> Result<Vec<Entry<'e, H::Item>>, BatchError> {
        let records = Record::read(event)?;
        Ok(records
            .into_iter()
            .enumerate()
            .map(|(position, record)| {
                // A malformed envelope is not parsed: `one` and `run_in_parts` report it for retry.
                let item = match &record.malformed {
                    Some(reason) => Err(Settle::Quarantine(reason.clone())),
                    None => handler.parse(&record),
                };
                let key = match item.as_ref().ok().and_then(|item| handler.key(item)).filter(|k| !k.is_empty()) {
                    Some(key) => Key::Of(key.to_string()),
                    None => Key::Alone(position),
                };
                Entry { record, item, key }
            })
            .collect())
    }

    async fn one<H: ProcessRecords>(&self, handler: &H, entry: &Entry<'_, H::Item>) -> Outcome<H::Done> {
        if let Some(reason) = &entry.record.malformed {
            return self.malformed(&entry.record, reason);
        }
        let outcome = match &entry.item {
            Ok(item) => handler.process(&entry.record, item).await,
            Err(settle) => settle.clone().into(),
        };
        self.settle(handler, &entry.record, entry.item.as_ref().ok(), outcome).await
    }

    /// A record whose envelope is malformed (`kinesis: null`, no `sequenceNumber` but an `eventID`,
    /// `data` not a string) is reported in `batchItemFailures`, never dropped: Lambda delivers it
    /// again and, after the mapping's retries, hands it to the on-failure destination.
    fn malformed<T>(&self, record: &Record<'_>, reason: &str) -> Outcome<T> {
        let name = self.name;
        let seq = record.sequence_number();
        tracing::error!(sequenceNumber = seq, eventID = record.kinesis.event_id.as_deref().unwrap_or(""), reason = %reason, "{name} record {seq} cannot be read: {reason}; reported for retry");
        Outcome::Retry(reason.to_string())
    }

    /// Logs a skip; quarantines a record that can never succeed.
    async fn settle<H: ReadRecords, T>(
        &self,
        handler: &H,
        record: &Record<'_>,
        item: Option<&H::Item>,
        outcome: Outcome<T>,
    ) -> Outcome<T> {
        let name = self.name;
        let seq = record.sequence_number();
        let partition_key = record.partition_key().unwrap_or("");
        match outcome {
            Outcome::Skipped(reason) => {
                tracing::debug!(sequenceNumber = seq, reason = %reason, "{name} record {seq} skipped: {reason}");
                Outcome::Skipped(reason)
            }
            Outcome::Quarantined(reason) => {
                let (kept, what, outcome) = match handler.quarantine(record, item, &reason).await {
                    Ok(Some(kept)) if !kept.is_empty() => {
                        let what = format!("not retried, kept at {kept}");
                        (kept, what, Outcome::Quarantined(reason.clone()))
                    }
                    Ok(_) => (
                        String::new(),
                        "not retried, kept in this log line only".into(),
                        Outcome::Quarantined(reason.clone()),
                    ),
                    Err(e) => (
                        String::new(),
                        format!("quarantining it failed ({e}): it is reported for retry"),
                        Outcome::Retry(format!("{reason}; quarantine failed: {e}")),
                    ),
                };
                tracing::error!(
                    sequenceNumber = seq,
                    partitionKey = partition_key,
                    reason = %reason,
                    quarantined = %kept,
                    "{name} record {seq} can never succeed: {reason}; {what}"
                );
                outcome
            }
            other => other,
        }
    }

    fn finish<'e, T>(
        &self,
        outcomes: impl IntoIterator<Item = (Record<'e>, Outcome<T>)>,
        parts: Option<usize>,
    ) -> BatchResult<T> {
        let outcomes: Vec<(String, Outcome<T>)> =
            outcomes.into_iter().map(|(record, outcome)| (record.kinesis.sequence_number, outcome)).collect();
        let mut summary = Summary { records: outcomes.len(), parts: parts.unwrap_or(0), ..Summary::default() };
        for (_, outcome) in &outcomes {
            match outcome {
                Outcome::Done(_) => summary.done += 1,
                Outcome::Skipped(_) => summary.skipped += 1,
                Outcome::Quarantined(_) => summary.quarantined += 1,
                Outcome::Retry(_) => summary.retried += 1,
            }
        }
        let response = batch_response(outcomes.iter().filter(|(_, o)| o.is_retry()).map(|(seq, _)| seq.as_str()));
        self.log(&summary, parts.is_some());
        BatchResult { response, outcomes, summary }
    }

    fn log(&self, s: &Summary, in_parts: bool) {
        let sent = if in_parts { format!(" in {} part(s) sent", s.parts) } else { String::new() };
        tracing::info!(
            records = s.records,
            done = s.done,
            skipped = s.skipped,
            quarantined = s.quarantined,
            retried = s.retried,
            parts = s.parts,
            "{} batch of {} record(s){sent}: {} done, {} skipped, {} quarantined, {} reported for retry",
            self.name,
            s.records,
            s.done,
            s.skipped,
            s.quarantined,
            s.retried
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{CapturedLogs, JsonLayer};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    /// Records numbered 1, 2, ... whose data is the given text, base64-encoded (`None`: data that is
    /// not base64).
    fn event(data: &[Option<&str>]) -> Value {
        let records: Vec<Value> = data
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let data = text.map_or_else(|| "%%% not base64 %%%".to_string(), |t| STANDARD.encode(t));
                json!({"kinesis": {"sequenceNumber": (i + 1).to_string(), "partitionKey": "pk", "data": data}})
            })
            .collect();
        json!({"Records": records})
    }

    /// Every test here logs through its own in-memory subscriber. (A log line's interest is cached per
    /// call site for the whole process: a test thread without a subscriber reaching a call site at
    /// the moment another test installs one could otherwise leave that line disabled for both.)
    fn capture() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
        let logs = CapturedLogs::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(JsonLayer::new("t", logs.clone())));
        (logs, guard)
    }

    fn steps(texts: &[&str]) -> Value {
        event(&texts.iter().map(|t| Some(*t)).collect::<Vec<_>>())
    }

    /// A record's data is `<key>/<n>/<what>`: the record `n` of key `key` (an empty key: none), whose
    /// work ends as `what` says (ok, retry, skip, poison), or which `parse` settles (skip-early).
    #[derive(Debug)]
    struct Step {
        key: String,
        n: u64,
        what: String,
    }

    #[derive(Default)]
    struct Script {
        /// `<key><n>` as each record's work finished.
        ran: Mutex<Vec<String>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        /// What the quarantine hook was given: sequence number, parsed or not, reason.
        kept: Mutex<Vec<(String, bool, String)>>,
        hook_fails: bool,
        /// Sending in parts: records per part, in batch order.
        size: usize,
        /// The parts (numbered from 0) whose sending fails.
        fail: Vec<usize>,
        /// Leave out of every part the record at this index of what is ready to send.
        leave_out: Option<usize>,
        /// The records of each part sent, as `<key><n>`.
        attempts: Mutex<Vec<Vec<String>>>,
    }

    fn parse_step(record: &Record<'_>) -> Result<Step, Settle> {
        let text = record.text.as_ref().map_err(|e| Settle::Quarantine(e.to_string()))?;
        let mut fields = text.split('/');
        match (fields.next(), fields.next().and_then(|n| n.parse().ok()), fields.next()) {
            (_, _, Some("skip-early")) => Err(Settle::Skip("not a record for this function".into())),
            (Some(key), Some(n), Some(what)) => Ok(Step { key: key.into(), n, what: what.into() }),
            _ => Err(Settle::Quarantine(format!("not a step: {text}"))),
        }
    }

    impl ReadRecords for Script {
        type Item = Step;

        fn parse(&self, record: &Record<'_>) -> Result<Step, Settle> {
            parse_step(record)
        }

        fn key<'i>(&self, item: &'i Step) -> Option<&'i str> {
            Some(&item.key)
        }

        async fn quarantine(
            &self,
            record: &Record<'_>,
            item: Option<&Step>,
            reason: &str,
        ) -> Result<Option<String>, String> {
            self.kept.lock().unwrap().push((record.sequence_number().into(), item.is_some(), reason.into()));
            if self.hook_fails {
                Err("the store is down".into())
            } else {
                Ok(Some(format!("kept/{}", record.sequence_number())))
            }
        }
    }

    impl ProcessRecords for Script {
        type Done = u64;

        async fn process(&self, _record: &Record<'_>, step: &Step) -> Outcome<u64> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            // Later records of a key would finish first if they ever ran beside earlier ones.
            tokio::time::sleep(Duration::from_millis(40 / step.n)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.ran.lock().unwrap().push(format!("{}{}", step.key, step.n));
            match step.what.as_str() {
                "ok" => Outcome::Done(step.n),
                "retry" => Outcome::Retry("Salesforce is busy".into()),
                "skip" => Outcome::Skipped("not a call".into()),
                _ => Outcome::Quarantined("refused for good".into()),
            }
        }
    }

    const RUNNER: Runner = Runner { name: "test", concurrency: 2 };

    /// The identifiers reported for retry (an empty or missing one shows as "").
    fn failures(response: &KinesisEventResponse) -> Vec<String> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap_or_default()).collect()
    }

    #[tokio::test]
    async fn a_keys_records_run_in_order_and_keys_run_concurrently_up_to_the_bound() {
        let (_logs, _guard) = capture();
        let keys = ["a", "b", "c", "d", "e"];
        let texts: Vec<String> = (1..=3).flat_map(|n| keys.iter().map(move |k| format!("{k}/{n}/ok"))).collect();
        let script = Script::default();
        let result = RUNNER.run(&steps(&texts.iter().map(String::as_str).collect::<Vec<_>>()), &script).await.unwrap();
        let ran = script.ran.into_inner().unwrap();
        assert_eq!(ran.len(), 15);
        for key in keys {
            let mine: Vec<&String> = ran.iter().filter(|r| r.starts_with(key)).collect();
            assert_eq!(mine, [format!("{key}1"), format!("{key}2"), format!("{key}3")].iter().collect::<Vec<_>>());
        }
        assert_eq!(script.most_in_flight.load(Ordering::SeqCst), 2, "two keys at once, never more");
        let done: Vec<(String, Outcome<u64>)> =
            (1..=15).map(|i| (i.to_string(), Outcome::Done((i as u64 - 1) / 5 + 1))).collect();
        assert_eq!(result.outcomes, done, "outcomes in batch order");
        assert!(failures(&result.response).is_empty());
    }

    #[tokio::test]
    async fn without_item_failure_reporting_a_retry_fails_the_whole_batch_after_the_quarantine() {
        let (_logs, _guard) = capture();
        let script = Script::default();
        let batch = event(&[Some("a/1/ok"), Some("b/1/poison"), Some("c/1/retry"), Some("d/1/retry")]);
        let result = RUNNER.run(&batch, &script).await.unwrap();
        assert_eq!(result.check("test", FailureReporting::ItemFailures), Ok(()));
        assert_eq!(failures(&result.response), ["3", "4"]);
        let whole = result.check("test", FailureReporting::WholeBatch).unwrap_err();
        assert_eq!((whole.records, whole.retried, whole.first_sequence_number.as_str()), (4, 2, "3"));
        assert!(whole.to_string().contains("REPORT_BATCH_ITEM_FAILURES"), "{whole}");
        let kept = script.kept.into_inner().unwrap();
        assert_eq!(kept.len(), 1, "the poison record was quarantined before the batch failed: {kept:?}");
        assert_eq!(kept[0].0, "2");

        // Nothing to retry: the batch succeeds either way.
        let clean = RUNNER.run(&steps(&["a/1/ok", "b/1/skip", "c/1/poison"]), &Script::default()).await.unwrap();
        assert_eq!(clean.check("test", FailureReporting::WholeBatch), Ok(()));
    }

    #[test]
    fn the_mode_comes_from_report_batch_item_failures_and_defaults_to_the_whole_batch() {
        let env = |value: Option<&'static str>| {
            move |name: &str| (name == "REPORT_BATCH_ITEM_FAILURES").then_some(value).flatten().map(String::from)
        };
        assert_eq!(FailureReporting::from_env(&env(None)).unwrap(), FailureReporting::WholeBatch);
        assert_eq!(FailureReporting::from_env(&env(Some("true"))).unwrap(), FailureReporting::ItemFailures);
        assert_eq!(FailureReporting::from_env(&env(Some("FALSE"))).unwrap(), FailureReporting::WholeBatch);
        assert!(FailureReporting::from_env(&env(Some("yes"))).is_err());
    }

    #[tokio::test]
    async fn one_key_at_a_time_when_the_bound_is_one() {
        let (_logs, _guard) = capture();
        let script = Script::default();
        let runner = Runner { name: "test", concurrency: 0 };
        runner.run(&steps(&["a/1/ok", "b/1/ok", "c/1/ok"]), &script).await.unwrap();
        assert_eq!(script.most_in_flight.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_holds_back_the_rest_of_its_key_and_exactly_the_retries_are_reported() {
        let (_logs, _guard) = capture();
        let script = Script::default();
        let batch = steps(&["a/1/ok", "b/1/retry", "a/2/ok", "b/2/ok", "c/1/retry", "b/3/skip", "a/3/ok"]);
        let result = RUNNER.run(&batch, &script).await.unwrap();
        let ran = script.ran.into_inner().unwrap();
        assert!(!ran.iter().any(|r| r == "b2" || r == "b3"), "b's later records never ran: {ran:?}");
        assert_eq!(failures(&result.response), ["2", "4", "5", "6"]);
        let held = "an earlier record of b failed; retried after it, in order".to_string();
        assert_eq!(
            result.outcomes,
            vec![
                ("1".to_string(), Outcome::Done(1)),
                ("2".to_string(), Outcome::Retry("Salesforce is busy".into())),
                ("3".to_string(), Outcome::Done(2)),
                ("4".to_string(), Outcome::Retry(held.clone())),
                ("5".to_string(), Outcome::Retry("Salesforce is busy".into())),
                ("6".to_string(), Outcome::Retry(held)),
                ("7".to_string(), Outcome::Done(3)),
            ]
        );
    }

    #[tokio::test]
    async fn records_that_can_never_succeed_go_to_the_quarantine_hook_and_are_not_retried() {
        let (_logs, _guard) = capture();
        let script = Script::default();
        let batch = event(&[Some("a/1/poison"), None, Some("no step here"), Some("a/2/ok"), Some("x/1/skip-early")]);
        let result = RUNNER.run(&batch, &script).await.unwrap();
        assert!(failures(&result.response).is_empty());
        let mut kept = script.kept.into_inner().unwrap();
        kept.sort();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert_eq!(kept[0], ("1".into(), true, "refused for good".into()), "parsed: the hook gets the item");
        assert_eq!((kept[1].0.as_str(), kept[1].1), ("2", false), "undecodable: no item");
        assert!(kept[1].2.contains("not base64"), "{}", kept[1].2);
        assert_eq!(kept[2], ("3".into(), false, "not a step: no step here".into()));
        assert!(matches!(&result.outcomes[1].1, Outcome::Quarantined(r) if r.contains("not base64")));
        assert_eq!(result.outcomes[3].1, Outcome::Done(2), "a quarantined record does not hold its key back");
        assert_eq!(result.outcomes[4].1, Outcome::Skipped("not a record for this function".into()));
    }

    #[tokio::test]
    async fn a_failed_quarantine_is_retried_and_holds_its_key_back() {
        let (_logs, _guard) = capture();
        let script = Script { hook_fails: true, ..Script::default() };
        let result = RUNNER.run(&steps(&["a/1/poison", "a/2/ok", "b/1/ok"]), &script).await.unwrap();
        assert_eq!(failures(&result.response), ["1", "2"]);
        assert_eq!(
            result.outcomes[0].1,
            Outcome::Retry("refused for good; quarantine failed: the store is down".into())
        );
        assert_eq!(script.ran.into_inner().unwrap(), ["a1", "b1"]);
    }

    #[tokio::test]
    async fn a_record_without_any_sequence_number_fails_the_batch_instead_of_being_dropped() {
        let (_logs, _guard) = capture();
        let script = Script::default();
        let mut batch = steps(&["a/1/ok", "b/1/ok", "c/1/ok"]);
        batch["Records"][2]["kinesis"].as_object_mut().unwrap().remove("sequenceNumber");
        let err = RUNNER.run(&batch, &script).await.expect_err("unidentifiable");
        assert!(matches!(err, BatchError::Unidentifiable { index: 2, .. }), "{err:?}");
        batch["Records"][2] = json!("nonsense");
        assert!(RUNNER.run_in_parts(&batch, &script).await.is_err());
        assert!(script.ran.into_inner().unwrap().is_empty(), "nothing ran: the whole batch is delivered again");
        assert!(matches!(RUNNER.run(&json!({"detail": {}}), &Script::default()).await, Err(BatchError::NotKinesis(_))));
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]});
        let err = RUNNER.run(&sns, &Script::default()).await.expect_err("an SNS event is not empty work");
        assert_eq!(err.to_string(), "not a Kinesis event: Records[0] comes from aws:sns (its eventSource)");
    }

    #[tokio::test]
    async fn malformed_envelopes_with_a_sequence_number_are_reported_never_dropped() {
        let (logs, _guard) = capture();
        let mut batch = steps(&["a/1/ok", "b/1/ok", "c/1/ok", "d/1/ok"]);
        batch["Records"][0]["kinesis"] = json!(null);
        batch["Records"][0]["eventID"] = json!("shardId-000000000000:1");
        batch["Records"][1]["kinesis"].as_object_mut().unwrap().remove("sequenceNumber");
        batch["Records"][1]["eventID"] = json!("shardId-000000000000:2");
        batch["Records"][2]["kinesis"]["data"] = json!(42);
        let script = Script::default();
        let result = RUNNER.run(&batch, &script).await.unwrap();
        assert_eq!(failures(&result.response), ["1", "2", "3"]);
        assert_eq!(result.summary.records, 4);
        assert_eq!(script.ran.into_inner().unwrap(), ["d1"]);
        assert!(script.kept.into_inner().unwrap().is_empty(), "reported, not quarantined");
        let script = Script { size: 2, ..Script::default() };
        let result = RUNNER.run_in_parts(&batch, &script).await.unwrap();
        assert_eq!(failures(&result.response), ["1", "2", "3"]);
        assert_eq!(result.summary.done, 1);
        let errors: Vec<String> = logs.lines().into_iter().filter(|l| l.contains("\"ERROR\"")).collect();
        assert!(errors.iter().any(|l| l.contains("kinesis is null")), "{errors:?}");
    }

    #[tokio::test]
    async fn the_summary_counts_every_outcome_and_is_logged_once() {
        let (logs, _guard) = capture();
        let script = Script::default();
        let batch = event(&[Some("a/1/ok"), Some("b/1/skip"), None, Some("c/1/retry"), Some("c/2/ok"), Some("d/1/ok")]);
        let result = RUNNER.run(&batch, &script).await.unwrap();
        let expected = Summary { records: 6, done: 2, skipped: 1, quarantined: 1, retried: 2, parts: 0 };
        assert_eq!(result.summary, expected);
        let lines = logs.lines();
        let summaries: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["context"].get("records").is_some())
            .collect();
        assert_eq!(summaries.len(), 1, "{lines:?}");
        assert_eq!(summaries[0]["level"], "INFO");
        let line = &summaries[0]["context"];
        assert_eq!(
            [&line["records"], &line["done"], &line["skipped"], &line["quarantined"], &line["retried"]],
            [&json!(6), &json!(2), &json!(1), &json!(1), &json!(2)]
        );
        let quarantined = lines.iter().find(|l| l.contains("\"ERROR\"")).expect("an ERROR line");
        assert!(quarantined.contains("\"sequenceNumber\":\"3\"") && quarantined.contains("kept/3"), "{quarantined}");
    }

    impl SendInParts for Script {
        fn pack(&self, items: &[(&Record<'_>, &Step)]) -> Vec<Vec<usize>> {
            let indexes: Vec<usize> = (0..items.len()).filter(|i| Some(*i) != self.leave_out).collect();
            indexes.chunks(self.size).map(<[usize]>::to_vec).collect()
        }

        async fn send(&self, part: &[(&Record<'_>, &Step)]) -> Result<(), String> {
            let names = part.iter().map(|(_, s)| format!("{}{}", s.key, s.n)).collect();
            let number = {
                let mut attempts = self.attempts.lock().unwrap();
                attempts.push(names);
                attempts.len() - 1
            };
            if self.fail.contains(&number) { Err(format!("part {number} refused")) } else { Ok(()) }
        }
    }

    #[tokio::test]
    async fn parts_are_sent_in_order_and_a_failed_part_holds_its_keys_back() {
        let (_logs, _guard) = capture();
        let script = Script { size: 2, fail: vec![0], ..Script::default() };
        let batch =
            event(&[Some("a/1/-"), Some("b/1/-"), None, Some("c/1/-"), Some("a/2/-"), Some("d/1/-"), Some("b/2/-")]);
        let result = RUNNER.run_in_parts(&batch, &script).await.unwrap();
        let attempts = script.attempts.into_inner().unwrap();
        assert_eq!(attempts, vec![vec!["a1", "b1"], vec!["c1"], vec!["d1"]], "a2 and b2 held back after part 0 failed");
        assert_eq!(failures(&result.response), ["1", "2", "5", "7"]);
        assert_eq!(result.outcomes[0].1, Outcome::Retry("part 0 refused".into()));
        assert_eq!(
            result.outcomes[4].1,
            Outcome::Retry("an earlier record of a failed; retried after it, in order".into())
        );
        assert!(matches!(&result.outcomes[2].1, Outcome::Quarantined(r) if r.contains("not base64")));
        assert_eq!(result.summary, Summary { records: 7, done: 2, skipped: 0, quarantined: 1, retried: 4, parts: 2 });
    }

    #[tokio::test]
    async fn a_record_left_out_of_every_part_is_retried_not_lost() {
        let (_logs, _guard) = capture();
        let script = Script { size: 10, leave_out: Some(1), ..Script::default() };
        let result = RUNNER.run_in_parts(&steps(&["a/1/-", "b/1/-", "c/1/-"]), &script).await.unwrap();
        assert_eq!(script.attempts.into_inner().unwrap(), vec![vec!["a1", "c1"]]);
        assert_eq!(failures(&result.response), ["2"]);
        assert_eq!(result.summary.parts, 1);
    }
}
