//! Faults, systematically (issue 13's fault tests): every function of the template runs its real
//! binary (under the local Lambda runtime, against its local [`local_stack::stack::Stack`]) on a
//! representative sample event under each fault that applies to it:
//!
//! - Salesforce slow past the attempt timeout on a create (the create is applied, its answer comes
//!   late), and 502 after the create was applied: the client cannot tell whether it took effect;
//! - SSM hanging, and SSM throttling every request (`AWS_ENDPOINT_URL_SSM` pointed at a
//!   [`FaultEndpoint`]);
//! - Lambda Invoke hanging, for the functions whose sample invokes another function.
//!
//! Each cell asserts: an answer within the deadline (the process is given 7 s for a flow-facing
//! function, Amazon Connect's limit less a margin, else the template's `Timeout`: no answer by then is
//! a finding); no duplicate side effect (the emulator holds each VoiceCall, message, routing request,
//! event and record once); an error that says what failed and names the event's contact when it
//! carries one; for Kinesis functions every record accounted for (the runner's summary adds up, and
//! every `batchItemFailures` entry is a record of the batch); no secret in the logs.
//!
//! A fault that cannot apply to a function is listed with the reason in [`not_applicable`] (and printed
//! as such). Functions run concurrently ([`CONCURRENT_CELLS`] cells at once), the cells of one function
//! one after the other, each on a fresh stack and a fresh binary (no key cached from the cell before).
//! `FAULTS_ONLY=<function>` narrows a run to one function.

use std::time::Duration;

use local_stack::faults::FaultEndpoint;
use local_stack::runtime::FunctionProcess;
use local_stack::samples::{batch_records, batch_summary, localise, seed, stack_builder, timeout_of};
use local_stack::stack::Stack;
use serde_json::Value;
use sf_emulator::Fault;

/// Cells running at once.
const CONCURRENT_CELLS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    SalesforceSlowCreate,
    SalesforceAppliedThen502,
    SsmHang,
    SsmThrottle,
    InvokeHang,
}

const ALL: [FaultKind; 5] = [
    FaultKind::SalesforceSlowCreate,
    FaultKind::SalesforceAppliedThen502,
    FaultKind::SsmHang,
    FaultKind::SsmThrottle,
    FaultKind::InvokeHang,
];

impl FaultKind {
    /// Words one of which the error must hold: it says what failed.
    fn culprits(self) -> &'static [&'static str] {
        match self {
            FaultKind::SalesforceSlowCreate | FaultKind::SalesforceAppliedThen502 => {
                &["salesforce", "http 502", "timed out", "time", "deadline", "answer"]
            }
            FaultKind::SsmHang | FaultKind::SsmThrottle => &["ssm", "parameter", "key"],
            FaultKind::InvokeHang => &["invoke", "lambda", "function"],
        }
    }
}

/// One function of the template and its representative sample.
struct Subject {
    function: &'static str,
    event: &'static str,
    /// Invoked by an Amazon Connect flow (an answer within Connect's 8 s).
    flow_facing: bool,
    /// `(method, path fragment)` of the create its sample sends to Salesforce.
    create: Option<(&'static str, &'static str)>,
    /// Reads its keys from SSM.
    ssm: bool,
    /// Its sample invokes another function.
    invokes: bool,
    /// Where the event carries its contact id (a JSON pointer).
    contact: Option<&'static str>,
    kinesis: bool,
}

const FLOW_CONTACT: Option<&str> = Some("/Details/ContactData/ContactId");

const SUBJECTS: &[Subject] = &[
    Subject {
        function: "invoke-telephony-integration-api",
        event: "01-create-voice-call.json",
        flow_facing: true,
        create: Some(("POST", "/telephony/v1/voiceCalls")),
        ssm: true,
        invokes: false,
        contact: FLOW_CONTACT,
        kinesis: false,
    },
    Subject {
        function: "invoke-salesforce-rest-api",
        event: "02-create-record.json",
        flow_facing: true,
        create: Some(("POST", "/sobjects/")),
        ssm: true,
        invokes: false,
        contact: FLOW_CONTACT,
        kinesis: false,
    },
    Subject {
        function: "ctr-data-sync",
        event: "custom-fields-guide-example.json",
        flow_facing: false,
        create: None,
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: true,
    },
    Subject {
        function: "auth-keys-ssm-util",
        event: "02-create-ssm-parameter.json",
        flow_facing: false,
        create: None,
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "kvs-consumer-trigger",
        event: "01-default.json",
        flow_facing: true,
        create: None,
        ssm: false,
        invokes: true,
        contact: FLOW_CONTACT,
        kinesis: false,
    },
    Subject {
        function: "kvs-transcriber",
        event: "01-both-tracks.json",
        flow_facing: false,
        create: Some(("POST", "/messages")),
        ssm: true,
        invokes: false,
        contact: Some("/voiceCallId"),
        kinesis: false,
    },
    Subject {
        function: "contact-data-sync",
        event: "01-upload-transcript.json",
        flow_facing: false,
        create: Some(("POST", "/connect/conversations/upload")),
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "ctr-sync-retry",
        event: "retry-ctr-sync.json",
        flow_facing: false,
        create: None,
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "contact-lens-consumer",
        event: "01-official-utterance.json",
        flow_facing: false,
        create: None,
        ssm: false,
        invokes: true,
        contact: None,
        kinesis: true,
    },
    Subject {
        function: "contact-lens-processor",
        event: "01-utterances.json",
        flow_facing: false,
        create: Some(("POST", "/messages")),
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "handle-contact-events",
        event: "01-abandoned-inbound.json",
        flow_facing: false,
        create: None,
        ssm: true,
        invokes: false,
        contact: Some("/detail/contactId"),
        kinesis: false,
    },
    Subject {
        function: "realtime-alert",
        event: "01-lambda-errors-alarm.json",
        flow_facing: false,
        create: Some(("POST", "/sobjects/RealtimeAlertEvent")),
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "post-call-analysis-trigger",
        event: "01-analysis-file-created.json",
        flow_facing: false,
        create: Some(("POST", "/postConversationEvents")),
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "voicemail-audio-processing",
        event: "voicemail-ctr.json",
        flow_facing: false,
        create: None,
        ssm: false,
        invokes: false,
        contact: None,
        kinesis: true,
    },
    Subject {
        function: "voicemail-transcribe",
        event: "recording-created.json",
        flow_facing: false,
        create: None,
        ssm: false,
        invokes: false,
        contact: None,
        kinesis: false,
    },
    Subject {
        function: "voicemail-packaging",
        event: "transcript-created.json",
        flow_facing: false,
        create: Some(("POST", "/telephony/v1/voiceCalls")),
        ssm: true,
        invokes: false,
        contact: None,
        kinesis: false,
    },
];

/// Why `fault` cannot apply to `subject`, when it cannot.
fn not_applicable(subject: &Subject, fault: FaultKind) -> Option<&'static str> {
    match fault {
        FaultKind::SalesforceSlowCreate | FaultKind::SalesforceAppliedThen502 if subject.create.is_none() => {
            Some("its sample creates nothing in Salesforce (updates named fields, or no Salesforce call)")
        }
        FaultKind::SsmHang | FaultKind::SsmThrottle if !subject.ssm => Some("it reads nothing from SSM"),
        FaultKind::InvokeHang if !subject.invokes => Some("its sample invokes no function"),
        _ => None,
    }
}

/// How long the process is given: 7 s for a flow-facing function, else the template's `Timeout`.
fn deadline(subject: &Subject, stack: &Stack) -> Duration {
    if subject.flow_facing { Duration::from_secs(7) } else { timeout_of(stack) }
}

/// The duplicates the emulator holds: VoiceCalls of one vendor call key, messages stored twice,
/// routing requests repeated, events or records stored twice.
fn duplicates(stack: &Stack) -> Vec<String> {
    let Some(emulator) = stack.emulator.as_ref() else { return Vec::new() };
    let mut found = Vec::new();
    let calls = emulator.voice_calls();
    for call in &calls {
        if calls.iter().filter(|c| c.vendor_call_key == call.vendor_call_key).count() > 1 {
            found.push(format!("two VoiceCalls of vendorCallKey {}", call.vendor_call_key));
        }
        // A repeated messageId is Salesforce's own deduplication (not stored again); a duplicate is the
        // same utterance stored twice under two ids.
        for (i, m) in call.messages.iter().enumerate() {
            let same = |o: &&sf_emulator::state::Message| {
                (o.participant_id.as_str(), o.start_time, o.end_time, o.content.as_str())
                    == (m.participant_id.as_str(), m.start_time, m.end_time, m.content.as_str())
            };
            if call.messages[..i].iter().any(|o| same(&o)) {
                found.push(format!("message {:?} stored twice on {}", m.content, call.vendor_call_key));
            }
        }
        if call.routing.execute_count > 1 || call.routing.reroute_count > 1 {
            found.push(format!("{} routed more than once", call.vendor_call_key));
        }
        for events in [&call.realtime_events, &call.post_call_events] {
            for (i, event) in events.iter().enumerate() {
                if events[..i].contains(event) {
                    found.push(format!("an event stored twice on {}: {event}", call.vendor_call_key));
                }
            }
        }
    }
    for object in ["Case", "RealtimeAlertEvent", "Contact", "Task"] {
        let records: Vec<Value> = emulator
            .records(object)
            .into_iter()
            .map(|mut r| {
                if let Some(map) = r.as_object_mut() {
                    map.retain(|k, _| !matches!(k.as_str(), "Id" | "CreatedDate" | "LastModifiedDate" | "attributes"));
                }
                r
            })
            .collect();
        for (i, record) in records.iter().enumerate() {
            if records[..i].contains(record) {
                found.push(format!("a {object} created twice: {record}"));
            }
        }
    }
    found
}

/// One cell: `subject`'s binary on its sample under `fault`; the problems found.
async fn cell(subject: &Subject, fault: FaultKind) -> Vec<String> {
    let stack = stack_builder(subject.function).expect("the stack").start().await.expect("the local stack");
    seed(&stack).await.expect("the sample events' data");
    let event = localise(&stack, stack.event(subject.event));
    let limit = deadline(subject, &stack);
    let mut spec = stack.function_spec().with_timeout(limit);
    // Kept alive for the cell: the endpoint the fault lives in.
    let mut _endpoint: Option<FaultEndpoint> = None;
    match fault {
        FaultKind::SalesforceSlowCreate => {
            let (method, path) = subject.create.unwrap_or_default();
            // Past the shared client's 3 s attempt timeout: the create is applied, its answer late.
            stack.emulator().inject(Fault::applied_then_delay(4_000, 1).on(method, path));
        }
        FaultKind::SalesforceAppliedThen502 => {
            let (method, path) = subject.create.unwrap_or_default();
            stack.emulator().inject(Fault::applied_then_status(502, 1).on(method, path));
        }
        FaultKind::SsmHang | FaultKind::SsmThrottle => {
            let endpoint = if fault == FaultKind::SsmHang {
                FaultEndpoint::hanging().await
            } else {
                FaultEndpoint::throttling().await
            }
            .expect("fault endpoint");
            spec = spec.with_env("AWS_ENDPOINT_URL_SSM", endpoint.endpoint());
            _endpoint = Some(endpoint);
        }
        FaultKind::InvokeHang => {
            let endpoint = FaultEndpoint::hanging().await.expect("fault endpoint");
            spec = spec.with_env("AWS_ENDPOINT_URL_LAMBDA", endpoint.endpoint());
            _endpoint = Some(endpoint);
        }
    }
    let process = FunctionProcess::spawn(spec).await.expect("the binary starts");
    let mut problems = Vec::new();
    if let Err(e) = process.wait_ready(Duration::from_secs(10)).await {
        problems.push(format!("init: {e:#}"));
        return problems;
    }
    let contact = subject.contact.and_then(|p| event.pointer(p)).and_then(Value::as_str).map(str::to_string);
    match process.invoke(event.clone()).await {
        Err(e) => problems.push(format!("no answer within {} s: {e:#}", limit.as_secs())),
        Ok(invocation) => match &invocation.result {
            Err(error) => {
                let message = error.to_string();
                let lower = message.to_ascii_lowercase();
                if !fault.culprits().iter().any(|w| lower.contains(w)) {
                    problems.push(format!("the error does not say what failed: {message}"));
                }
                if let Some(contact) = &contact
                    && !message.contains(contact.as_str())
                {
                    problems.push(format!("the error does not name contact {contact}: {message}"));
                }
            }
            Ok(answer) if subject.kinesis => {
                let (count, sequences) = batch_records(&event);
                let failures = answer.get("batchItemFailures").and_then(Value::as_array).cloned();
                match failures {
                    None => problems.push(format!("a Kinesis answer without batchItemFailures: {answer}")),
                    Some(failures) => {
                        for failure in &failures {
                            let id = failure.get("itemIdentifier").and_then(Value::as_str).unwrap_or_default();
                            if !sequences.iter().any(|s| s == id) {
                                problems.push(format!("batchItemFailures names {id:?}, not a record of the batch"));
                            }
                        }
                        let mut summary = None;
                        for _ in 0..40 {
                            summary = batch_summary(&process.logs(), &invocation.request_id);
                            if summary.is_some() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        match summary {
                            None => problems.push("no batch summary logged".into()),
                            Some((records, accounted, retried)) => {
                                if records != count as u64 || accounted != records || retried != failures.len() as u64 {
                                    problems.push(format!(
                                            "{count} record(s), the summary counts {records}, accounts for {accounted}, retries {retried}; {} failure(s) reported",
                                            failures.len()
                                        ));
                                }
                            }
                        }
                    }
                }
            }
            Ok(_) => {}
        },
    }
    problems.extend(duplicates(&stack));
    let keys: Vec<&sf_emulator::keys::TestKeyPair> = stack.scrt_keys.iter().chain(stack.rest_keys.iter()).collect();
    problems.extend(local_stack::secrets::secret_problems(&process.logs(), &keys, &[]));
    let _ = process.shutdown().await;
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_function_under_every_fault_that_applies() {
    for function in local_stack::stack::functions().expect("template.yaml") {
        assert!(SUBJECTS.iter().any(|s| s.function == function), "{function} has no fault subject");
        let binary = local_stack::runtime::binary_path(&function);
        assert!(binary.exists(), "{} is missing: run `make test` (it builds the binaries first)", binary.display());
    }
    let only = std::env::var("FAULTS_ONLY").ok();
    // Cells at once: each starts a stack and a binary; more starve a loaded 2-core machine, and a
    // starved flow-facing binary misses its 7 s for want of CPU, not of a bound.
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CELLS));
    let mut tasks = Vec::new();
    for subject in SUBJECTS {
        if only.as_ref().is_some_and(|o| o != subject.function) {
            continue;
        }
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut findings = Vec::new();
            let mut ran = Vec::new();
            for fault in ALL {
                if let Some(reason) = not_applicable(subject, fault) {
                    eprintln!("{}: {fault:?} not applicable: {reason}", subject.function);
                    continue;
                }
                let permit = permits.acquire().await.expect("the semaphore is never closed");
                let cell_started = std::time::Instant::now();
                let problems = cell(subject, fault).await;
                drop(permit);
                eprintln!(
                    "{}: {fault:?}: {:.1} s, {} problem(s)",
                    subject.function,
                    cell_started.elapsed().as_secs_f64(),
                    problems.len()
                );
                ran.push(fault);
                findings.extend(problems.into_iter().map(|p| format!("{} {fault:?}: {p}", subject.function)));
            }
            (subject.function, ran, findings, started.elapsed())
        }));
    }
    let mut failures = Vec::new();
    let mut cells = 0;
    for task in tasks {
        let (function, ran, mut findings, elapsed) = task.await.expect("the subject's task");
        cells += ran.len();
        println!("{function}: {} cell(s) in {:.1} s, {} problem(s)", ran.len(), elapsed.as_secs_f64(), findings.len());
        failures.append(&mut findings);
    }
    for failure in &failures {
        println!("{}", failure.chars().take(600).collect::<String>());
    }
    assert!(cells > 0, "no cell ran");
    assert!(failures.is_empty(), "{} problem(s) in {cells} cell(s) (listed above)", failures.len());
}
