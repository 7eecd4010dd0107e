//! Hostile input, systematically (issue 13's "done when"): every sample event under `events/` is
//! mutated field by field and run through the function's real binary (its real SDK clients, under the
//! local Lambda runtime) against the function's local [`local_stack::stack::Stack`], asserting for each mutation:
//!
//! - no panic, and an answer within the template's `Timeout` (the process is neither killed nor crashed);
//! - a result, or an error that names the field: the mutated one, or another by its JSON path (a field
//!   the mutation made necessary); and the event's contact when it carries one and the mutation did not
//!   touch the contact id itself. Two answers count as correct results too: the unmutated event's own
//!   error (the mutation changed nothing), and Salesforce refusing what the flow asked for
//!   (`SalesforceError`, e.g. a malformed query: the caller's value was sent and the answer reported);
//! - nothing reached Salesforce on a path the function's method does not document ([`Target::allowed`]);
//! - for Kinesis functions, every record accounted for: the runner's summary of that invocation adds up
//!   to the batch, and every `batchItemFailures` entry is an identifier of a record of the batch (an
//!   invocation error has Lambda deliver the whole batch again).
//!
//! Mutations: remove, null, wrong type, a 300 KB string, and the ugly ids `..`, `.`, `a/b`, `%2e%2e`,
//! control characters, `' OR 1=1`. Fields inside a Kinesis record's base64 `data` and inside a string
//! holding a JSON object (an SNS `Message`) are fields too. Sampling is deterministic (an FNV hash of
//! the field path, no random seed): a field path with array indices blanked out
//! (`Records[].kinesis.sequenceNumber`) is one field, mutated in one record the hash picks and, for
//! batch events (`Records`), only in the smallest sample event that has it; an id field (a string whose
//! name ends in `Id`, `Key`, `ARN` or `key`, or a bucket's `name`) gets every mutation kind, any other
//! field one kind the hash picks.
//!
//! A mutated batch of more than ten records keeps the mutated record and its neighbours, ten in all.
//!
//! Each function gets one stack, seeded with what its unmutated events need (the VoiceCalls they act
//! on, the objects and contacts they read), runs its unmutated events first, then its mutations on
//! [`Target::workers`] binaries; functions run concurrently. `make test` builds the binaries first.
//! kvsTranscriber's stack serves the live call fixture on the stream its sample requests name (so an
//! unmutated field finds real media and Transcribe's results reach the VoiceCall), with the waits of
//! a live call shortened through its configuration ([`local_stack::samples::stack_builder`]); a mutated request that can
//! never be served fails at once by itself (the function's own checks, not the test's settings).
//! `MUTATIONS_ONLY=<function>[:<text>]` narrows a run to one function (and mutations whose description
//! contains the text) and prints every run's time and outcome.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use local_stack::runtime::FunctionProcess;
use local_stack::samples::{batch_records, batch_summary, localise, seed, stack_builder, timeout_of};
use serde_json::{Value, json};

/// The ugly ids every id field receives.
const UGLY: [&str; 6] = ["..", ".", "a/b", "%2e%2e", "ctl\u{0}\u{7}\n\u{1b}[0m", "' OR 1=1"];
/// The size of the huge string.
const HUGE: usize = 300 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
    /// The string here is base64 of a JSON document (a Kinesis record's `data`).
    Base64Json,
    /// The string here is a JSON document (an SNS `Message`).
    JsonText,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Remove,
    Null,
    WrongType,
    Huge,
    Ugly(&'static str),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Remove => f.write_str("remove"),
            Kind::Null => f.write_str("null"),
            Kind::WrongType => f.write_str("wrong type"),
            Kind::Huge => f.write_str("300 KB string"),
            Kind::Ugly(id) => write!(f, "ugly id {id:?}"),
        }
    }
}

fn show(path: &[Seg], blank: bool) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(_) if blank => out.push_str("[]"),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Base64Json => out.push_str("<base64 JSON>"),
            Seg::JsonText => out.push_str("<JSON>"),
        }
    }
    out
}

/// FNV-1a: the deterministic choices of the sample.
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn embedded(key: Option<&str>, text: &str) -> Option<(Seg, Value)> {
    if key == Some("data")
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
        && let Ok(doc @ Value::Object(_)) = serde_json::from_slice::<Value>(&bytes)
    {
        return Some((Seg::Base64Json, doc));
    }
    if text.trim_start().starts_with('{')
        && let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(text)
    {
        return Some((Seg::JsonText, doc));
    }
    None
}

/// Every field path of `value` (objects' members and arrays' elements, embedded documents included).
fn fields(value: &Value, key: Option<&str>, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Seg::Key(k.clone()));
                out.push((path.clone(), v.clone()));
                fields(v, Some(k), path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                out.push((path.clone(), v.clone()));
                fields(v, key, path, out);
                path.pop();
            }
        }
        Value::String(text) => {
            if let Some((seg, doc)) = embedded(key, text) {
                path.push(seg);
                fields(&doc, None, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn wrong_type(value: &Value) -> Value {
    match value {
        Value::String(_) | Value::Null => json!(12345),
        Value::Number(_) => json!("12345x"),
        Value::Bool(_) => json!("yes"),
        Value::Object(_) => json!([1, 2]),
        Value::Array(_) => json!({ "a": 1 }),
    }
}

fn replacement(kind: &Kind, old: &Value) -> Option<Value> {
    match kind {
        Kind::Remove => None,
        Kind::Null => Some(Value::Null),
        Kind::WrongType => Some(wrong_type(old)),
        Kind::Huge => Some(Value::String("A".repeat(HUGE))),
        Kind::Ugly(id) => Some(json!(id)),
    }
}

/// `value` with the field at `path` mutated; `false` when the path does not exist.
fn apply(value: &mut Value, path: &[Seg], kind: &Kind) -> bool {
    match path {
        [] => false,
        [Seg::Key(k)] => {
            let Value::Object(map) = value else { return false };
            let Some(old) = map.get(k).cloned() else { return false };
            match replacement(kind, &old) {
                None => {
                    map.shift_remove(k);
                }
                Some(new) => {
                    map.insert(k.clone(), new);
                }
            }
            true
        }
        [Seg::Index(i)] => {
            let Value::Array(items) = value else { return false };
            if *i >= items.len() {
                return false;
            }
            match replacement(kind, &items[*i]) {
                None => {
                    items.remove(*i);
                }
                Some(new) => items[*i] = new,
            }
            true
        }
        [Seg::Key(k), rest @ ..] => value.get_mut(k.as_str()).is_some_and(|v| apply(v, rest, kind)),
        [Seg::Index(i), rest @ ..] => value.get_mut(*i).is_some_and(|v| apply(v, rest, kind)),
        [seg @ (Seg::Base64Json | Seg::JsonText), rest @ ..] => {
            let Some(text) = value.as_str() else { return false };
            let Some((_, mut doc)) = embedded(if *seg == Seg::Base64Json { Some("data") } else { None }, text) else {
                return false;
            };
            if !apply(&mut doc, rest, kind) {
                return false;
            }
            let text = doc.to_string();
            *value = match seg {
                Seg::Base64Json => json!(base64::engine::general_purpose::STANDARD.encode(text)),
                _ => json!(text),
            };
            true
        }
    }
}

fn last_key(path: &[Seg]) -> Option<&str> {
    path.iter().rev().find_map(|s| if let Seg::Key(k) = s { Some(k.as_str()) } else { None })
}

fn is_id_field(path: &[Seg], value: &Value) -> bool {
    if !value.is_string() {
        return false;
    }
    let Some(key) = last_key(path) else { return false };
    if !matches!(path.last(), Some(Seg::Key(_))) {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    let parent = path.iter().rev().nth(1).and_then(|s| if let Seg::Key(k) = s { Some(k.as_str()) } else { None });
    lower.ends_with("id")
        || lower.ends_with("key")
        || lower.ends_with("arn")
        || (lower == "name" && parent == Some("bucket"))
}

/// One mutation of one sample event.
#[derive(Debug, Clone)]
struct Mutation {
    event: String,
    path: Vec<Seg>,
    kind: Kind,
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} <- {}", self.event, show(&self.path, false), self.kind)
    }
}

/// The deterministic sample of mutations of one event (see the module documentation).
fn sample(event_name: &str, event: &Value) -> Vec<Mutation> {
    let mut all = Vec::new();
    fields(event, None, &mut Vec::new(), &mut all);
    let mut chosen: Vec<(String, Vec<Seg>, Value)> = Vec::new();
    let mut seen = BTreeSet::new();
    // One concrete instance per blanked path: the one the path's hash picks among its instances.
    let mut by_blank: std::collections::BTreeMap<String, Vec<(Vec<Seg>, Value)>> = std::collections::BTreeMap::new();
    for (path, value) in all {
        by_blank.entry(show(&path, true)).or_default().push((path, value));
    }
    for (blank, instances) in by_blank {
        let pick = usize::try_from(hash(&blank) % instances.len() as u64).unwrap();
        let (path, value) = instances[pick].clone();
        if seen.insert(blank.clone()) {
            chosen.push((blank, path, value));
        }
    }
    let basic = [Kind::Remove, Kind::Null, Kind::WrongType, Kind::Huge];
    let mut out = Vec::new();
    for (blank, path, value) in chosen {
        let kinds: Vec<Kind> = if is_id_field(&path, &value) {
            basic.iter().cloned().chain(UGLY.iter().map(|u| Kind::Ugly(u))).collect()
        } else {
            // One kind, chosen by the hash among all of them (ugly values only for strings).
            let h = usize::try_from(hash(&format!("{event_name}/{blank}")) % 1_000_003).unwrap();
            let all: Vec<Kind> = if value.is_string() {
                basic.iter().cloned().chain(UGLY.iter().map(|u| Kind::Ugly(u))).collect()
            } else {
                basic.to_vec()
            };
            vec![all[h % all.len()].clone()]
        };
        for kind in kinds {
            out.push(Mutation { event: event_name.to_string(), path: path.clone(), kind });
        }
    }
    out
}

/// What the test knows about one function.
struct Target {
    function: &'static str,
    /// `METHOD /path` patterns of every Salesforce request the function may send, per method
    /// (`Details.Parameters.methodName` of the unmutated event; `*` for every event of the function);
    /// `{}` stands for one path segment of letters, digits, `-`, `_` (an id as `scv_shared::ids` admits
    /// it), a name in capitals (`Case`) included. From the Service Cloud Voice Implementation Guide
    /// (the functions of ch. 6) and the Telephony Integration REST API reference.
    allowed: &'static [(&'static str, &'static [&'static str])],
    /// A Kinesis function (its answer is `batchItemFailures`, its runner logs a batch summary).
    kinesis: bool,
    /// Where the event carries its contact id (a JSON pointer), when it does.
    contact: Option<&'static str>,
    /// Binaries (execution environments) running its mutations at once on its one stack: more than one
    /// only when every request is judged by the same paths (no per-method rule) and invocations share
    /// no state a neighbour could change under them.
    workers: usize,
}

const TOKEN: &str = "POST /services/oauth2/token";
const QUERY: &[&str] = &[TOKEN, "GET /services/data/v62.0/query", "GET /services/data/v62.0/query/{}"];
const RESYNC: &[&str] = &[
    TOKEN,
    "GET /services/data/v62.0/query",
    "GET /services/data/v62.0/query/{}",
    "PATCH /telephony/v1/voiceCalls/{}",
];
const CONVERSATIONS: &[&str] = &[
    TOKEN,
    "POST /services/data/v62.0/connect/conversations/upload",
    "GET /services/data/v62.0/connect/conversations/upload",
];
const FLOW_CONTACT: Option<&str> = Some("/Details/ContactData/ContactId");

const TARGETS: &[Target] = &[
    Target {
        function: "invoke-telephony-integration-api",
        allowed: &[
            ("createVoiceCall", &["POST /telephony/v1/voiceCalls"]),
            ("createTransferVC", &["POST /telephony/v1/voiceCalls"]),
            ("executeOmniFlow", &["PATCH /telephony/v1/voiceCalls/{}/omniFlow"]),
            ("sendMessage", &["POST /telephony/v1/voiceCalls/{}/messages"]),
            ("rerouteFlowExecution", &["PATCH /telephony/v1/voiceCalls/{}/reroute"]),
            ("cancelOmniFlowExecution", &["PATCH /telephony/v1/voiceCalls/{}/clearRouting"]),
            ("updateVoiceCall", &["PATCH /telephony/v1/voiceCalls/{}"]),
        ],
        kinesis: false,
        contact: FLOW_CONTACT,
        workers: 1,
    },
    Target {
        function: "invoke-salesforce-rest-api",
        allowed: &[
            ("queryRecord", QUERY),
            ("searchRecord", &[TOKEN, "GET /services/data/v62.0/search"]),
            ("createRecord", &[TOKEN, "POST /services/data/v62.0/sobjects/{}"]),
            ("updateRecord", &[TOKEN, "PATCH /services/data/v62.0/sobjects/{}/{}"]),
            ("realtimeAlertEvent", &[TOKEN, "POST /services/data/v62.0/sobjects/RealtimeAlertEvent"]),
            ("retryCTRSync", RESYNC),
            ("uploadTranscript", CONVERSATIONS),
            ("fetchUploadIdsStatus", CONVERSATIONS),
            ("SFSPhoneCallFlowQuery", QUERY),
            ("fetchOutboundPhoneNumber", QUERY),
        ],
        kinesis: false,
        contact: FLOW_CONTACT,
        workers: 1,
    },
    Target {
        function: "ctr-data-sync",
        allowed: &[("*", &["PATCH /telephony/v1/voiceCalls/{}"])],
        kinesis: true,
        contact: None,
        workers: 3,
    },
    Target { function: "auth-keys-ssm-util", allowed: &[], kinesis: false, contact: None, workers: 2 },
    Target { function: "kvs-consumer-trigger", allowed: &[], kinesis: false, contact: FLOW_CONTACT, workers: 2 },
    Target {
        function: "kvs-transcriber",
        allowed: &[("*", &["POST /telephony/v1/voiceCalls/{}/messages"])],
        kinesis: false,
        contact: Some("/voiceCallId"),
        workers: 2,
    },
    Target {
        function: "contact-data-sync",
        allowed: &[("*", CONVERSATIONS)],
        kinesis: false,
        contact: None,
        workers: 1,
    },
    Target { function: "ctr-sync-retry", allowed: &[("*", RESYNC)], kinesis: false, contact: None, workers: 1 },
    Target { function: "contact-lens-consumer", allowed: &[], kinesis: true, contact: None, workers: 2 },
    Target {
        function: "contact-lens-processor",
        allowed: &[(
            "*",
            &[
                "POST /telephony/v1/voiceCalls/messages",
                "POST /telephony/v1/voiceCalls/{}/messages",
                "POST /telephony/v1/voiceCalls/{}/realtimeConversationEvents",
            ],
        )],
        kinesis: false,
        contact: None,
        workers: 3,
    },
    Target {
        function: "handle-contact-events",
        allowed: &[(
            "*",
            &["PATCH /telephony/v1/voiceCalls/{}/clearRouting", "PATCH /telephony/v1/voiceCalls/{}/reroute"],
        )],
        kinesis: false,
        contact: Some("/detail/contactId"),
        workers: 1,
    },
    Target {
        function: "realtime-alert",
        allowed: &[("*", &[TOKEN, "POST /services/data/v62.0/sobjects/RealtimeAlertEvent"])],
        kinesis: false,
        contact: None,
        workers: 2,
    },
    Target {
        function: "post-call-analysis-trigger",
        allowed: &[("*", &["POST /telephony/v1/voiceCalls/{}/postConversationEvents"])],
        kinesis: false,
        contact: None,
        workers: 1,
    },
    Target { function: "voicemail-audio-processing", allowed: &[], kinesis: true, contact: None, workers: 2 },
    Target { function: "voicemail-transcribe", allowed: &[], kinesis: false, contact: None, workers: 1 },
    Target {
        function: "voicemail-packaging",
        allowed: &[(
            "*",
            &[
                "POST /telephony/v1/voiceCalls",
                "PATCH /telephony/v1/voiceCalls/{}",
                "PATCH /telephony/v1/voiceCalls/{}/omniFlow",
                "POST /telephony/v1/voiceCalls/{}/messages",
            ],
        )],
        kinesis: false,
        contact: None,
        workers: 1,
    },
];

fn method_of(event: &Value) -> String {
    event.pointer("/Details/Parameters/methodName").and_then(Value::as_str).unwrap_or("*").to_string()
}

/// Whether `segment` is what `{}` stands for.
fn id_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn path_allowed(patterns: &[&str], method: &str, path: &str) -> bool {
    patterns.iter().any(|pattern| {
        let Some((m, p)) = pattern.split_once(' ') else { return false };
        let (want, got): (Vec<&str>, Vec<&str>) = (p.split('/').collect(), path.split('/').collect());
        m == method
            && want.len() == got.len()
            && want.iter().zip(&got).all(|(w, g)| if *w == "{}" { id_segment(g) } else { w == g })
    })
}

/// What one mutation came to, when it broke a rule.
struct Finding {
    mutation: String,
    problem: String,
}

/// Whether `message` names a field by its JSON path in one of the shapes the functions receive.
fn names_a_path(message: &str) -> bool {
    message.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',').any(|token| {
        let token = token.trim_end_matches([':', '.', ';']);
        ["Details.", "detail.", "Records["].iter().any(|p| token.starts_with(p)) && token.matches('.').count() >= 1
    })
}

/// Checks one answered mutation against the rules of the module documentation.
#[allow(clippy::too_many_arguments)] // what one run saw, each part named
fn check(
    target: &Target,
    mutation: &Mutation,
    original: &Value,
    mutated: &Value,
    invocation: &local_stack::runtime::Invocation,
    baseline: Option<&Result<Value, local_stack::runtime::FunctionError>>,
    requests: &[sf_emulator::RecordedRequest],
    logs: &[String],
) -> Vec<String> {
    let result = &invocation.result;
    let mut problems = Vec::new();
    if let Some(line) = logs.iter().find(|l| l.contains("panicked")) {
        problems.push(format!("panicked: {line}"));
    }
    let method = method_of(original);
    let patterns: Vec<&str> =
        target.allowed.iter().filter(|(m, _)| *m == "*" || *m == method).flat_map(|(_, p)| p.iter().copied()).collect();
    for request in requests {
        if !path_allowed(&patterns, &request.method, &request.path) {
            problems.push(format!("sent {} {} (not a path of {method})", request.method, request.path));
        }
    }
    match result {
        // The same error as the unmutated event's: the mutation changed nothing.
        Err(error) if baseline.is_some_and(|b| b.as_ref().err() == Some(error)) => {}
        Err(error) => {
            let message = error.to_string();
            let key = last_key(&mutation.path).unwrap_or_default();
            // The mutated field, or another field of the event by its whole path (a field the mutation
            // made necessary, e.g. a PSTN caller's address once the WebRTC subtype is gone).
            // Salesforce refusing what the flow asked for (a malformed query) is the correct result:
            // the function sent the caller's value and reports Salesforce's answer.
            let names_a_field = message.contains(key)
                || dotted_paths(original).iter().any(|p| message.contains(p.as_str()))
                || names_a_path(&message)
                || error.error_type == "SalesforceError";
            if !names_a_field {
                problems.push(format!("the error does not name field {key}: {message}"));
            }
            if let Some(pointer) = target.contact
                && let Some(contact) = original.pointer(pointer).and_then(Value::as_str)
                && !pointer_under(pointer, &mutation.path)
                && !message.contains(contact)
            {
                problems.push(format!("the error does not name contact {contact}: {message}"));
            }
        }
        Ok(answer) if target.kinesis => {
            let (count, sequences) = batch_records(mutated);
            match answer.get("batchItemFailures").and_then(Value::as_array) {
                None => problems.push(format!("a Kinesis answer without batchItemFailures: {answer}")),
                Some(failures) => {
                    for failure in failures {
                        let id = failure.get("itemIdentifier").and_then(Value::as_str).unwrap_or_default();
                        if !sequences.iter().any(|s| s == id) {
                            problems.push(format!("batchItemFailures names {id:?}, not a record of the batch"));
                        }
                    }
                    match batch_summary(logs, &invocation.request_id) {
                        None => problems.push(format!(
                            "no batch summary logged: {:?}",
                            logs.iter().rev().take(3).collect::<Vec<_>>()
                        )),
                        Some((records, accounted, retried)) => {
                            if records != count as u64 || accounted != records {
                                problems.push(format!(
                                    "{count} record(s) in the batch, the summary counts {records} and accounts for {accounted}"
                                ));
                            }
                            if retried != failures.len() as u64 {
                                problems.push(format!(
                                    "the summary retries {retried}, batchItemFailures has {}",
                                    failures.len()
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(_) => {}
    }
    problems
}

/// The most records a mutated batch keeps (see [`trim_batch`]).
const MAX_BATCH: usize = 10;

/// A mutated batch of more than [`MAX_BATCH`] records (the 100-record CTR sample) keeps the mutated
/// record and its neighbours, [`MAX_BATCH`] records in all: a mutation then costs what a small batch
/// costs, and the record still travels with others of its batch.
fn trim_batch(event: &mut Value, path: &[Seg]) {
    let Some(Value::Array(records)) = event.get_mut("Records") else { return };
    if records.len() <= MAX_BATCH {
        return;
    }
    let index = match path {
        [Seg::Key(k), Seg::Index(i), ..] if k == "Records" => (*i).min(records.len() - 1),
        _ => 0,
    };
    let start = index.saturating_sub(MAX_BATCH / 2).min(records.len() - MAX_BATCH);
    *records = records[start..start + MAX_BATCH].to_vec();
}

/// Every field path of `event` with at least two names, dotted (`Details.ContactData.Channel`).
fn dotted_paths(event: &Value) -> Vec<String> {
    let mut all = Vec::new();
    fields(event, None, &mut Vec::new(), &mut all);
    all.iter()
        .filter(|(path, _)| path.iter().all(|s| matches!(s, Seg::Key(_))) && path.len() >= 2)
        .map(|(path, _)| show(path, false))
        .collect()
}

/// Whether the field at JSON pointer `pointer` is `path` or inside it.
fn pointer_under(pointer: &str, path: &[Seg]) -> bool {
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    path.len() <= parts.len()
        && path.iter().zip(&parts).all(|(seg, part)| match seg {
            Seg::Key(k) => k == part,
            Seg::Index(i) => i.to_string() == *part,
            _ => false,
        })
}

/// Every mutation of `target`'s sample events; a field of a batch event (one with `Records`: Kinesis,
/// SNS) is mutated in the smallest event that has it, its batches sharing one record shape.
fn mutations(events: &[(String, Value)]) -> Vec<Mutation> {
    let mut by_size: Vec<&(String, Value)> = events.iter().collect();
    by_size.sort_by_key(|(name, event)| (event.to_string().len(), name.clone()));
    let mut covered = BTreeSet::new();
    let mut out = Vec::new();
    for (name, event) in by_size {
        for mutation in sample(name, event) {
            let key = format!("{}|{}|{}", method_of(event), show(&mutation.path, true), mutation.kind);
            if event.get("Records").is_none() || covered.insert(key) {
                out.push(mutation);
            }
        }
    }
    out
}

struct Report {
    function: &'static str,
    runs: usize,
    findings: Vec<Finding>,
    elapsed: Duration,
}

/// `verbose` (a `MUTATIONS_ONLY` run) prints every run: its time and how it ended.
async fn run_target(target: &'static Target, filter: Option<String>, verbose: bool) -> Report {
    let started = std::time::Instant::now();
    let stack = stack_builder(target.function).expect("the stack").start().await.expect("the local stack");
    seed(&stack).await.expect("the sample events' data");
    let timeout = timeout_of(&stack);
    let events: Vec<(String, Value)> =
        stack.event_names().into_iter().map(|name| (name.clone(), localise(&stack, stack.event(&name)))).collect();
    let mut plan = mutations(&events);
    let per_event: Vec<String> = events
        .iter()
        .map(|(name, _)| format!("{name}: {}", plan.iter().filter(|m| m.event == *name).count()))
        .collect();
    eprintln!("{}: {}", target.function, per_event.join(", "));
    if let Some(filter) = &filter {
        plan.retain(|m| m.to_string().contains(filter.as_str()));
    }
    let spawn = || async {
        let process = stack.spawn(timeout).await.expect("the binary starts");
        // Sixteen stacks start at once: a loaded machine may take a while to start one more binary.
        process.wait_ready(Duration::from_secs(30)).await.expect("init");
        process
    };
    let first = spawn().await;
    // The unmutated events first, in name order (createVoiceCall before the methods that need its call).
    let mut baselines = std::collections::BTreeMap::new();
    for (name, event) in &events {
        let invocation = first.invoke(event.clone()).await.expect("the unmutated event is answered");
        if verbose {
            let outcome = format!("{:?}", invocation.result);
            eprintln!(
                "  {name} (unmutated): {:.2} s {}",
                invocation.duration.as_secs_f64(),
                &outcome[..outcome.len().min(300)]
            );
        }
        baselines.insert(name.clone(), invocation.result);
    }
    // Several binaries (execution environments) on the one stack when every request of the function
    // is checked against the same paths, so a concurrent neighbour's request is judged alike.
    let workers = target.workers;
    assert!(workers == 1 || target.allowed.iter().all(|(method, _)| *method == "*"), "one worker per method rule");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = |first: Option<FunctionProcess>| async {
        let mut process = match first {
            Some(process) => process,
            None => spawn().await,
        };
        let mut findings = Vec::new();
        let mut runs = 0;
        let mut slowest: Vec<(Duration, String)> = Vec::new();
        while let Some(mutation) = plan.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
            let original = &events.iter().find(|(name, _)| *name == mutation.event).unwrap().1;
            let mut mutated = original.clone();
            assert!(apply(&mut mutated, &mutation.path, &mutation.kind), "{mutation}: the path exists");
            trim_batch(&mut mutated, &mutation.path);
            let before = stack.emulator.as_ref().map_or(0, |e| e.requests().len());
            let logs_before = process.logs().len();
            let invocation = process.invoke(mutated.clone()).await;
            runs += 1;
            let requests: Vec<_> =
                stack.emulator.as_ref().map_or_else(Vec::new, |e| e.requests().into_iter().skip(before).collect());
            match invocation {
                Err(error) => {
                    findings.push(Finding { mutation: mutation.to_string(), problem: format!("no answer: {error:#}") });
                    process = spawn().await;
                }
                Ok(invocation) => {
                    if verbose {
                        let outcome = format!("{:?}", invocation.result);
                        let shown: String = mutation.to_string().chars().take(120).collect();
                        eprintln!(
                            "  {:.2} s {shown}: {}",
                            invocation.duration.as_secs_f64(),
                            outcome.chars().take(200).collect::<String>()
                        );
                    }
                    slowest.push((invocation.duration, mutation.to_string()));
                    // stdout is read apart from the answer: wait for the invocation's summary line.
                    if target.kinesis && invocation.result.is_ok() {
                        for _ in 0..40 {
                            if batch_summary(&process.logs(), &invocation.request_id).is_some() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    let logs: Vec<String> = process.logs().into_iter().skip(logs_before).collect();
                    let baseline = baselines.get(&mutation.event);
                    for problem in check(target, mutation, original, &mutated, &invocation, baseline, &requests, &logs)
                    {
                        findings.push(Finding { mutation: mutation.to_string(), problem });
                    }
                }
            }
        }
        let _ = process.shutdown().await;
        slowest.sort_by_key(|(duration, _)| std::cmp::Reverse(*duration));
        slowest.truncate(3);
        (runs, findings, slowest)
    };
    let mut pool = vec![worker(Some(first))];
    pool.extend((1..workers).map(|_| worker(None)));
    let mut findings = Vec::new();
    let mut runs = 0;
    let mut slowest = Vec::new();
    for (n, mut found, mut slow) in futures_util::future::join_all(pool).await {
        runs += n;
        findings.append(&mut found);
        slowest.append(&mut slow);
    }
    slowest.sort_by_key(|(duration, _)| std::cmp::Reverse(*duration));
    for (duration, mutation) in slowest.iter().take(3) {
        eprintln!("  slowest: {:.1} s {}", duration.as_secs_f64(), mutation.chars().take(160).collect::<String>());
    }
    eprintln!(
        "{}: {runs} mutation(s), {} problem(s) in {:.1} s",
        target.function,
        findings.len(),
        started.elapsed().as_secs_f64()
    );
    Report { function: target.function, runs, findings, elapsed: started.elapsed() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_field_of_every_sample_event_mutated() {
    for function in local_stack::stack::functions().expect("template.yaml") {
        let binary = local_stack::runtime::binary_path(&function);
        assert!(binary.exists(), "{} is missing: run `make test` (it builds the binaries first)", binary.display());
        assert!(TARGETS.iter().any(|t| t.function == function), "{function} has no mutation target");
    }
    // MUTATIONS_ONLY=<function>[:<text>] narrows the run when investigating.
    let only = std::env::var("MUTATIONS_ONLY").ok();
    let (only_function, filter) = match only.as_deref().map(|o| o.split_once(':').unwrap_or((o, ""))) {
        Some((f, t)) => (Some(f.to_string()), (!t.is_empty()).then(|| t.to_string())),
        None => (None, None),
    };
    let mut tasks = Vec::new();
    for target in TARGETS {
        if only_function.as_ref().is_some_and(|f| f != target.function) {
            continue;
        }
        tasks.push(tokio::spawn(run_target(target, filter.clone(), only_function.is_some())));
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for task in tasks {
        let report = task.await.unwrap();
        total += report.runs;
        println!(
            "{}: {} mutation(s) in {:.1} s, {} problem(s)",
            report.function,
            report.runs,
            report.elapsed.as_secs_f64(),
            report.findings.len()
        );
        for finding in report.findings {
            failures.push(format!("{} {}: {}", report.function, finding.mutation, finding.problem));
        }
    }
    for failure in &failures {
        println!("{}", failure.chars().take(600).collect::<String>());
    }
    assert!(failures.is_empty(), "{} of {total} mutation runs broke a rule (listed above)", failures.len());
}
