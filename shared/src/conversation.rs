//! Contact Lens transcripts to Salesforce through the Connect REST API conversation upload
//! (Service Cloud Voice Implementation Guide, ch. 5 "Upload or Update Transcripts with Connect REST
//! API"; ch. 6 "ContactDataSync Lambda Function"; docs/contact-data-sync.md).
//!
//! For each contact: Amazon Connect `DescribeContact` gives its agent and its times; its Contact Lens
//! post-call analysis file is found under `Analysis/Voice/YYYY/MM/DD/<contactId>_analysis_*.json`
//! (the contact's day, then the days it may have been written on); the file is read as UTF-8 and
//! becomes one NDJSON conversation file: the `conversation` line, then one `conversationEntry` per
//! transcript line. Conversations are uploaded `batch_size` at a time, one multipart file part per
//! conversation named by its conversation id. Every contact gets its own result: a contact that
//! cannot be read or that Salesforce refuses is reported with its reason while the others go
//! through (a refused batch is split and each conversation sent alone, so one bad conversation does
//! not sink its neighbours). A contact counts as uploaded only when Salesforce answered `SUCCESS`
//! for its conversation: nothing half-built is ever sent (one malformed transcript line fails the
//! contact, not just the line).
//!
//! Entry timestamps are the contact's real times: `clientSentTimestamp` = the moment the agent was
//! connected + the line's `BeginOffsetMillis`, kept increasing and inside the call;
//! `clientDuration` = the line's length. (The guide says back-filled timestamps reflect when the
//! function runs; the official code adds up the offsets from the initiation; both put entries
//! outside the call. docs/contact-data-sync.md#timestamps.)
//!
//! Re-running is safe: ids and timestamps are derived from the file, so a second upload of a
//! conversation carries the same entries, which Salesforce keeps once (docs/contact-data-sync.md#re-uploads).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_connect::types::Contact;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::aws::sdk_retryable;
use crate::concurrency::Aimd;
use crate::ids::PathId;
use crate::rest::{RestError, SalesforceRest};
use crate::retry::Deadline;

/// The analysis files' prefix (Amazon Connect Administrator Guide, "Example Contact Lens output files").
pub const ANALYSIS_PREFIX: &str = "Analysis/Voice/";
/// Upload ids per status request ("Comma-separated list of up to 100 upload IDs").
pub const MAX_STATUS_IDS: usize = 100;
/// The `appType` of every entry (the guide's mapping table: `telephony_integration`).
pub const APP_TYPE: &str = "TELEPHONY_INTEGRATION";
/// Upload status of an accepted conversation (the guide's value).
pub const SUCCESS: &str = "SUCCESS";
/// Upload status of a conversation that was not uploaded (the guide's value).
pub const FAILED: &str = "FAILED";
/// Contacts read from Amazon Connect and S3 at once while their conversations are built (AWS calls,
/// not Salesforce's: a fixed bound, not the adaptive one).
pub const PREPARE_CONCURRENCY: usize = 8;
/// The ceiling of the adaptive number of upload requests in flight ([`Aimd`]): a back-fill of
/// hundreds of contacts sends its batches this wide at most, narrower as soon as Salesforce answers
/// 429 or slows down (docs/contact-data-sync.md#concurrency).
pub const UPLOAD_CONCURRENCY: usize = 8;

/// One contact to back-fill: the documented `uploadTranscript` payload item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRequest {
    pub contact_id: String,
    #[serde(default)]
    pub related_records: Vec<String>,
}

/// What happened to one contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactResult {
    pub contact_id: String,
    /// Set when Salesforce accepted the conversation.
    pub upload_id: Option<String>,
    /// `s3://bucket/key` of the analysis file read.
    pub analysis_file: Option<String>,
    /// Conversation entries built (0 when the contact failed before).
    pub entries: usize,
    /// Why the contact was not uploaded.
    pub reason: Option<String>,
    /// Whether running the contact again may succeed (Salesforce or AWS unavailable, a limit).
    pub retryable: bool,
}

impl ContactResult {
    fn failed(contact_id: &str, failure: Failure) -> Self {
        Self {
            contact_id: contact_id.into(),
            upload_id: None,
            analysis_file: failure.file,
            entries: failure.entries,
            reason: Some(failure.reason),
            retryable: failure.retryable,
        }
    }

    pub fn uploaded(&self) -> bool {
        self.upload_id.is_some()
    }

    /// The guide's `conversationBulkUploadsResults` item, with the file, the entry count and
    /// whether a failure is retryable added.
    pub fn to_documented(&self) -> Value {
        json!({
            "conversationIdentifier": self.contact_id,
            "errorDetail": self.reason,
            "status": if self.uploaded() { SUCCESS } else { FAILED },
            "uploadId": self.upload_id,
            "analysisFile": self.analysis_file,
            "entryCount": self.entries,
            "retryable": self.retryable,
        })
    }
}

/// The documented answer of an upload: `{"conversationBulkUploadsResults": [...]}`.
pub fn upload_answer(results: &[ContactResult]) -> Value {
    json!({"conversationBulkUploadsResults": results.iter().map(ContactResult::to_documented).collect::<Vec<_>>()})
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    reason: String,
    retryable: bool,
    file: Option<String>,
    entries: usize,
}

impl Failure {
    fn new(reason: impl Into<String>, retryable: bool) -> Self {
        Self { reason: reason.into(), retryable, file: None, entries: 0 }
    }
}

/// One conversation ready to upload: its id and its NDJSON file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationFile {
    pub conversation_id: PathId,
    pub ndjson: String,
}

/// Reads transcripts from Amazon Connect and S3 and uploads them. Build it with the clients of
/// the function's `Deps` and the bucket of the invocation.
#[derive(Debug, Clone)]
pub struct TranscriptBackfill<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub connect: &'a aws_sdk_connect::Client,
    pub rest: &'a SalesforceRest,
    /// The bucket holding `Analysis/Voice/`.
    pub bucket: String,
    /// The Amazon Connect instance id.
    pub instance_id: String,
    /// Conversations per upload request (1 to 10).
    pub batch_size: usize,
    /// How many upload requests are in flight, learnt from Salesforce's answers and kept for the
    /// container's life (ceiling [`UPLOAD_CONCURRENCY`]).
    pub limiter: &'a Arc<Aimd>,
}

/// Contact Lens writes the file after the call; these days are looked at, in order.
fn candidate_days(times: &ContactTimes) -> Vec<String> {
    let mut days = Vec::new();
    let mut add = |ms: i64| {
        if let Some(t) = chrono::DateTime::from_timestamp_millis(ms) {
            let day = t.format("%Y/%m/%d").to_string();
            if !days.contains(&day) {
                days.push(day);
            }
        }
    };
    if let Some(t) = times.initiation {
        add(t);
    }
    if let Some(t) = times.disconnect {
        add(t);
    }
    // A call ending just before midnight is analysed the next day.
    if let Some(t) = times.disconnect.or(times.initiation) {
        add(t + 86_400_000);
    }
    days
}

/// The contact's times from DescribeContact, in epoch milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactTimes {
    pub initiation: Option<i64>,
    pub connected_to_agent: Option<i64>,
    pub disconnect: Option<i64>,
}

impl ContactTimes {
    pub fn from_contact(contact: &Contact) -> Self {
        let ms = |t: Option<&aws_sdk_connect::primitives::DateTime>| {
            t.map(|t| t.secs() * 1000 + (i64::from(t.subsec_nanos()) + 500_000) / 1_000_000)
        };
        Self {
            initiation: ms(contact.initiation_timestamp()),
            connected_to_agent: ms(contact.agent_info().and_then(|a| a.connected_to_agent_timestamp())),
            disconnect: ms(contact.disconnect_timestamp()),
        }
    }
}

/// Builds the NDJSON conversation file of a Contact Lens analysis file: the `conversation` line,
/// then one `conversationEntry` per transcript line (guide ch. 5, step 3). `base_ms` is when the
/// agent was connected (offsets count from there), `end_ms` the disconnect. Any malformed line
/// fails the whole file, naming the line and the field.
pub fn build_conversation(
    conversation_id: &PathId,
    analysis: &Value,
    related_records: &[String],
    base_ms: i64,
    end_ms: Option<i64>,
) -> Result<(String, usize), String> {
    if let Some(file_contact) = analysis.pointer("/CustomerMetadata/ContactId").and_then(Value::as_str)
        && file_contact != conversation_id.as_str()
    {
        return Err(format!("CustomerMetadata.ContactId is {file_contact:?}, not this contact"));
    }
    let lines = match analysis.get("Transcript") {
        Some(Value::Array(lines)) if !lines.is_empty() => lines,
        Some(Value::Array(_)) => return Err("Transcript is empty: nothing to upload".into()),
        None | Some(Value::Null) => return Err("Transcript is missing".into()),
        Some(_) => return Err("Transcript is not an array".into()),
    };
    let roles: Vec<(&str, &str)> = analysis
        .get("Participants")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| Some((p.get("ParticipantId")?.as_str()?, p.get("ParticipantRole")?.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let id = conversation_id.as_str();
    let mut out = json!({"type": "conversation", "payload": {"conversationId": id}}).to_string();
    let mut previous: Option<i64> = None;
    let mut seen = std::collections::HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("Transcript[{i}].{name}");
        let text = |name: &str| -> Result<&str, String> {
            match line.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
                Some(Value::String(_)) => Err(format!("{} is empty", field(name))),
                None | Some(Value::Null) => Err(format!("{} is missing", field(name))),
                Some(_) => Err(format!("{} is not a string", field(name))),
            }
        };
        let millis = |name: &str| -> Result<i64, String> {
            line.get(name)
                .and_then(Value::as_i64)
                .filter(|v| *v >= 0)
                .ok_or_else(|| format!("{} is missing or not a whole number of milliseconds >= 0", field(name)))
        };
        let entry_id = text("Id")?;
        if !seen.insert(entry_id) {
            return Err(format!("{} {entry_id:?} is repeated", field("Id")));
        }
        let content = text("Content")?;
        let participant = text("ParticipantId")?;
        let role = roles.iter().find(|(p, _)| *p == participant).map_or(participant, |(_, r)| *r);
        let (subject, role) = match role.to_ascii_uppercase().as_str() {
            "CUSTOMER" => (format!("{id}END_USER"), "END_USER"),
            "AGENT" => (format!("{id}VIRTUAL_AGENT"), "AGENT"),
            other => return Err(format!("{} {other:?} is neither AGENT nor CUSTOMER", field("ParticipantId"))),
        };
        let begin = millis("BeginOffsetMillis")?;
        let end = millis("EndOffsetMillis")?;
        if end < begin {
            return Err(format!("{} {end} is before BeginOffsetMillis {begin}", field("EndOffsetMillis")));
        }
        let mut sent = base_ms + begin;
        if let Some(p) = previous {
            sent = sent.max(p + 1);
        }
        if let Some(end_ms) = end_ms {
            sent = sent.min(end_ms);
        }
        previous = Some(sent);
        let entry = json!({
            "type": "conversationEntry",
            "payload": {
                "conversationId": id,
                "id": entry_id,
                "clientSentTimestamp": sent,
                "clientDuration": end - begin,
                "messageText": content,
                "sender": {"appType": APP_TYPE, "subject": subject, "role": role},
                "relatedRecords": related_records,
            }
        });
        out.push('\n');
        out.push_str(&entry.to_string());
    }
    Ok((out, lines.len()))
}

/// A `multipart/form-data` body with one file part per conversation, named by its conversation id
/// (guide ch. 5: "the name of the part ... must be the conversationId"), and its boundary.
pub fn multipart_body(files: &[ConversationFile]) -> (Vec<u8>, String) {
    let mut boundary = format!("scv-conversations-{}", uuid::Uuid::new_v4().simple());
    while files.iter().any(|f| f.ndjson.contains(&boundary)) {
        boundary = format!("scv-conversations-{}", uuid::Uuid::new_v4().simple());
    }
    let mut body = Vec::new();
    for file in files {
        let id = file.conversation_id.as_str();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{id}\"; filename=\"{id}.txt\"\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.ndjson.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, boundary)
}

/// The per-conversation outcome of one upload request: conversation id → upload id or reason.
type Outcomes = Vec<(String, Result<String, Failure>)>;

/// Uploads conversation files `batch_size` at a time: per conversation, its upload id or why not, in
/// the order of `files`. A batch Salesforce refuses as a whole (400) is sent again one conversation
/// at a time, so the refusal lands on the conversation it is about. `budget` bounds each request,
/// retries included. With a `limiter`, batches are sent concurrently, as many at once as it allows
/// (each batch's answers teach it); without, one after the other.
pub async fn upload_files(
    rest: &SalesforceRest,
    files: &[ConversationFile],
    batch_size: usize,
    limiter: Option<&Arc<Aimd>>,
    budget: impl Fn() -> Deadline,
) -> Vec<(String, Result<String, String>, bool)> {
    let budget = &budget;
    // Named async fns rather than async closures: the futures must be `Send` for any lifetime.
    let batches: Vec<_> =
        files.chunks(batch_size.max(1)).map(|batch| upload_limited(rest, batch, limiter, budget)).collect();
    let width = limiter.map_or(1, |l| l.ceiling().max(1));
    let answered: Vec<Outcomes> = futures_util::stream::iter(batches).buffered(width).collect().await;
    answered
        .into_iter()
        .flatten()
        .map(|(id, outcome)| match outcome {
            Ok(upload_id) => (id, Ok(upload_id), false),
            Err(f) => (id, Err(f.reason), f.retryable),
        })
        .collect()
}

async fn upload_limited(
    rest: &SalesforceRest,
    batch: &[ConversationFile],
    limiter: Option<&Arc<Aimd>>,
    budget: &impl Fn() -> Deadline,
) -> Outcomes {
    match limiter {
        Some(limiter) => {
            let _permit = limiter.acquire().await;
            crate::concurrency::scoped(limiter.clone(), upload_batch(rest, batch, budget)).await
        }
        None => upload_batch(rest, batch, budget).await,
    }
}

async fn upload_batch(rest: &SalesforceRest, batch: &[ConversationFile], budget: &impl Fn() -> Deadline) -> Outcomes {
    match upload_once(rest, batch, budget()).await {
        Err(e) if batch.len() > 1 && e.status() == Some(400) => {
            tracing::warn!(
                conversations = batch.len(),
                error = %e,
                "Salesforce refused a batch of {} conversations; sending each alone", batch.len()
            );
            let mut out = Vec::new();
            for file in batch {
                let single = std::slice::from_ref(file);
                match upload_once(rest, single, budget()).await {
                    Ok(mut outcomes) => out.append(&mut outcomes),
                    Err(e) => out.push((file.conversation_id.to_string(), Err(rest_failure(&e)))),
                }
            }
            out
        }
        Err(e) => batch.iter().map(|f| (f.conversation_id.to_string(), Err(rest_failure(&e)))).collect(),
        Ok(outcomes) => outcomes,
    }
}

fn rest_failure(e: &RestError) -> Failure {
    Failure::new(format!("the upload failed: {e}"), e.is_retryable())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadAnswer {
    conversation_bulk_uploads_results: Vec<UploadResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadResult {
    conversation_identifier: Option<String>,
    error_detail: Option<String>,
    status: Option<String>,
    upload_id: Option<String>,
}

async fn upload_once(
    rest: &SalesforceRest,
    batch: &[ConversationFile],
    deadline: Deadline,
) -> Result<Outcomes, RestError> {
    let (body, boundary) = multipart_body(batch);
    let answer = rest.upload_conversations(body, &boundary, deadline).await?;
    let answer: UploadAnswer = serde_json::from_value(answer).map_err(|e| RestError::Decode {
        operation: "conversation upload",
        object: String::new(),
        message: e.to_string(),
    })?;
    Ok(batch
        .iter()
        .map(|file| {
            let id = file.conversation_id.to_string();
            let result = answer
                .conversation_bulk_uploads_results
                .iter()
                .find(|r| r.conversation_identifier.as_deref() == Some(&id));
            let outcome = match result {
                Some(UploadResult { status: Some(status), upload_id: Some(upload_id), .. })
                    if status.eq_ignore_ascii_case(SUCCESS) && !upload_id.is_empty() =>
                {
                    Ok(upload_id.clone())
                }
                Some(r) => Err(Failure::new(
                    format!(
                        "Salesforce answered status {} for the conversation: {}",
                        r.status.as_deref().unwrap_or("(none)"),
                        r.error_detail.as_deref().unwrap_or("no errorDetail")
                    ),
                    false,
                )),
                None => Err(Failure::new("Salesforce's answer has no result for this conversation", true)),
            };
            (id, outcome)
        })
        .collect())
}

impl TranscriptBackfill<'_> {
    /// Back-fills `contacts`: one result per contact, in request order. `budget` gives the deadline
    /// of each outbound request (retries included).
    pub async fn upload(&self, contacts: &[ContactRequest], budget: impl Fn() -> Deadline) -> Vec<ContactResult> {
        // A contact named twice is uploaded once, for its first entry.
        let mut seen = BTreeSet::new();
        let firsts: Vec<bool> = contacts.iter().map(|c| seen.insert(c.contact_id.as_str())).collect();
        let preparing: Vec<_> =
            contacts.iter().zip(firsts).map(|(request, first)| self.prepare_first(request, first)).collect();
        let prepared: Vec<_> = futures_util::stream::iter(preparing).buffered(PREPARE_CONCURRENCY).collect().await;
        let mut results: Vec<ContactResult> = Vec::with_capacity(contacts.len());
        let mut files: Vec<(usize, ConversationFile)> = Vec::new();
        for (index, (request, prepared)) in contacts.iter().zip(prepared).enumerate() {
            let span = tracing::info_span!("contact", contactId = %request.contact_id);
            let _entered = span.enter();
            match prepared {
                Ok((file, key, entries)) => {
                    tracing::info!(entries, file = %key, "conversation of contact {} built from {key}", request.contact_id);
                    results.push(ContactResult {
                        contact_id: request.contact_id.clone(),
                        upload_id: None,
                        analysis_file: Some(key),
                        entries,
                        reason: None,
                        retryable: false,
                    });
                    files.push((index, file));
                }
                Err(failure) => {
                    tracing::warn!(reason = %failure.reason, retryable = failure.retryable, "contact {} not uploaded: {}", request.contact_id, failure.reason);
                    results.push(ContactResult::failed(&request.contact_id, failure));
                }
            }
        }
        let only_files: Vec<ConversationFile> = files.iter().map(|(_, f)| f.clone()).collect();
        let outcomes = upload_files(self.rest, &only_files, self.batch_size, Some(self.limiter), budget).await;
        for ((index, _), (_, outcome, retryable)) in files.iter().zip(outcomes) {
            let result = &mut results[*index];
            match outcome {
                Ok(upload_id) => {
                    tracing::info!(contactId = %result.contact_id, uploadId = %upload_id, "transcript of contact {} uploaded", result.contact_id);
                    result.upload_id = Some(upload_id);
                }
                Err(reason) => {
                    tracing::warn!(contactId = %result.contact_id, reason = %reason, "transcript of contact {} not uploaded: {reason}", result.contact_id);
                    result.reason = Some(reason);
                    result.retryable = retryable;
                }
            }
        }
        results
    }

    /// [`Self::prepare`] of a contact's first entry in the request, in the contact's span; a later
    /// entry of the same contact is refused.
    async fn prepare_first(
        &self,
        request: &ContactRequest,
        first: bool,
    ) -> Result<(ConversationFile, String, usize), Failure> {
        if !first {
            return Err(Failure::new("the contact is named twice in the request; its first entry is uploaded", false));
        }
        let span = tracing::info_span!("contact", contactId = %request.contact_id);
        self.prepare(request).instrument(span).await
    }

    async fn prepare(&self, request: &ContactRequest) -> Result<(ConversationFile, String, usize), Failure> {
        let contact_id =
            PathId::parse("contactId", &request.contact_id).map_err(|e| Failure::new(e.to_string(), false))?;
        if request.related_records.is_empty() {
            return Err(Failure::new("relatedRecords is empty: name the contact's VoiceCall id", false));
        }
        for record in &request.related_records {
            PathId::record_id("relatedRecords", record).map_err(|e| Failure::new(e.to_string(), false))?;
        }
        let contact = self.describe_contact(&contact_id).await?;
        let times = ContactTimes::from_contact(&contact);
        let Some(base) = times.connected_to_agent else {
            return Err(Failure::new(
                "the contact has no agent (DescribeContact has no AgentInfo.ConnectedToAgentTimestamp): only contacts handled by an agent have a transcript to upload",
                false,
            ));
        };
        let key = self.find_analysis_file(&contact_id, &times).await?;
        let shown = format!("s3://{}/{key}", self.bucket);
        let with_file = |mut f: Failure| {
            f.file = Some(shown.clone());
            f
        };
        let analysis = self.read_analysis(&key).await.map_err(with_file)?;
        let (ndjson, entries) =
            build_conversation(&contact_id, &analysis, &request.related_records, base, times.disconnect)
                .map_err(|reason| with_file(Failure::new(format!("{shown}: {reason}"), false)))?;
        Ok((ConversationFile { conversation_id: contact_id, ndjson }, shown, entries))
    }

    async fn describe_contact(&self, contact_id: &PathId) -> Result<Contact, Failure> {
        let answer =
            self.connect.describe_contact().contact_id(contact_id.as_str()).instance_id(&self.instance_id).send().await;
        match answer {
            Ok(output) => output.contact.ok_or_else(|| Failure::new("DescribeContact answered no Contact", true)),
            Err(e) => {
                let not_found = e.as_service_error().is_some_and(
                    aws_sdk_connect::operation::describe_contact::DescribeContactError::is_resource_not_found_exception,
                );
                if not_found {
                    Err(Failure::new(
                        format!("Amazon Connect has no contact {contact_id} in instance {}", self.instance_id),
                        false,
                    ))
                } else {
                    Err(Failure::new(
                        format!(
                            "DescribeContact (instance {}) failed: {}",
                            self.instance_id,
                            aws_sdk_connect::error::DisplayErrorContext(&e)
                        ),
                        connect_retryable(&e),
                    ))
                }
            }
        }
    }

    /// The latest `<contactId>_analysis_*.json` of the first candidate day that has one.
    async fn find_analysis_file(&self, contact_id: &PathId, times: &ContactTimes) -> Result<String, Failure> {
        let days = candidate_days(times);
        if days.is_empty() {
            return Err(Failure::new(
                "DescribeContact gave no InitiationTimestamp: the analysis day is unknown",
                false,
            ));
        }
        for day in &days {
            let prefix = format!("{ANALYSIS_PREFIX}{day}/{contact_id}_analysis_");
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = self
                    .s3
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| {
                        Failure::new(
                            format!(
                                "listing s3://{}/{prefix} failed: {}",
                                self.bucket,
                                aws_sdk_s3::error::DisplayErrorContext(&e)
                            ),
                            sdk_retryable(&e),
                        )
                    })?;
                keys.extend(
                    page.contents().iter().filter_map(|o| o.key()).filter(|k| k.ends_with(".json")).map(str::to_string),
                );
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            // Keys end with the analysis time (ISO 8601): the last one is the latest analysis.
            keys.sort();
            if let Some(latest) = keys.pop() {
                if !keys.is_empty() {
                    tracing::info!(
                        older = keys.len(),
                        "contact {contact_id} has {} analysis files; using the latest, {latest}",
                        keys.len() + 1
                    );
                }
                return Ok(latest);
            }
        }
        Err(Failure::new(
            format!(
                "no Contact Lens analysis file s3://{}/{ANALYSIS_PREFIX}<{}>/{contact_id}_analysis_*.json",
                self.bucket,
                days.join("|")
            ),
            false,
        ))
    }

    async fn read_analysis(&self, key: &str) -> Result<Value, Failure> {
        let shown = format!("s3://{}/{key}", self.bucket);
        let object = self.s3.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
            Failure::new(
                format!("reading {shown} failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
                sdk_retryable(&e),
            )
        })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Failure::new(format!("reading {shown} failed: {e}"), true))?
            .into_bytes();
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| Failure::new(format!("{shown} is not UTF-8: {e}"), false))?;
        match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err(Failure::new(format!("{shown} is not a JSON object"), false)),
            Err(e) => Err(Failure::new(format!("{shown} is not JSON: {e}"), false)),
        }
    }
}

fn connect_retryable<E>(error: &aws_sdk_connect::error::SdkError<E>) -> bool {
    use aws_sdk_connect::error::SdkError;
    match error {
        SdkError::ServiceError(_) => {
            error.raw_response().map(|r| r.status().as_u16()).is_none_or(|s| s == 429 || s >= 500)
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

/// The contact id an analysis file key names: `Analysis/Voice/YYYY/MM/DD/<contactId>_analysis_<time>.json`.
pub fn contact_of_analysis_key(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let (contact, rest) = name.split_once("_analysis_")?;
    (rest.ends_with(".json") && PathId::parse("contactId", contact).is_ok()).then_some(contact)
}

/// The contacts whose Contact Lens analysis files were written on `day` (the files under
/// `Analysis/Voice/YYYY/MM/DD/` of `bucket`, every page), each once, in key order.
pub async fn contacts_analysed_on(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    day: chrono::NaiveDate,
) -> Result<Vec<String>, String> {
    let prefix = format!("{ANALYSIS_PREFIX}{}/", day.format("%Y/%m/%d"));
    let mut contacts: Vec<String> = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(&prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!("listing s3://{bucket}/{prefix} failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
        })?;
        for key in page.contents().iter().filter_map(|o| o.key()) {
            if let Some(contact) = contact_of_analysis_key(key)
                && !contacts.iter().any(|c| c == contact)
            {
                contacts.push(contact.to_string());
            }
        }
    }
    Ok(contacts)
}

/// The VoiceCall id of each contact (its `VendorCallKey`), for requests that name no related
/// record: one SOQL query per 100 contacts. A contact with no VoiceCall is absent from the answer.
pub async fn voice_calls_of(
    rest: &SalesforceRest,
    contact_ids: &[String],
    budget: impl Fn() -> Deadline,
) -> Result<std::collections::HashMap<String, String>, RestError> {
    let mut found = std::collections::HashMap::new();
    for chunk in contact_ids.chunks(MAX_STATUS_IDS) {
        let keys: Vec<String> =
            chunk.iter().map(|c| format!("'{}'", crate::soql::escape_literal(c))).collect::<Vec<_>>();
        let soql = format!("SELECT Id, VendorCallKey FROM VoiceCall WHERE VendorCallKey IN ({})", keys.join(", "));
        for record in rest.query_all(&soql, chunk.len() * 2, budget()).await? {
            if let (Some(key), Some(id)) =
                (record.get("VendorCallKey").and_then(Value::as_str), record.get("Id").and_then(Value::as_str))
            {
                found.entry(key.to_string()).or_insert_with(|| id.to_string());
            }
        }
    }
    Ok(found)
}

/// Statuses of earlier uploads (guide ch. 5, step 4): `{"conversationBulkUploadStatuses": [...]}` in
/// the order asked, at most [`MAX_STATUS_IDS`] per request. When Salesforce refuses a request naming
/// several ids (an unknown one answers 404), each id is asked alone so the others are still answered;
/// an id Salesforce does not know gets `status` `NOT_FOUND` and the reason.
pub async fn fetch_statuses(
    rest: &SalesforceRest,
    upload_ids: &[String],
    budget: impl Fn() -> Deadline,
) -> Result<Value, RestError> {
    let mut statuses = Vec::new();
    for chunk in upload_ids.chunks(MAX_STATUS_IDS) {
        match rest.conversation_upload_statuses(chunk, budget()).await {
            Ok(answer) => statuses.extend(status_items(&answer)?),
            Err(e) if chunk.len() > 1 && matches!(e.status(), Some(400 | 404)) => {
                for id in chunk {
                    match rest.conversation_upload_statuses(std::slice::from_ref(id), budget()).await {
                        Ok(answer) => statuses.extend(status_items(&answer)?),
                        Err(e) if matches!(e.status(), Some(400 | 404)) => statuses.push(unknown_status(id, &e)),
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) if matches!(e.status(), Some(400 | 404)) => statuses.push(unknown_status(&chunk[0], &e)),
            Err(e) => return Err(e),
        }
    }
    Ok(json!({"conversationBulkUploadStatuses": statuses}))
}

fn unknown_status(upload_id: &str, e: &RestError) -> Value {
    json!({"uploadId": upload_id, "status": "NOT_FOUND", "errorDetail": e.to_string()})
}

fn status_items(answer: &Value) -> Result<Vec<Value>, RestError> {
    answer.get("conversationBulkUploadStatuses").and_then(Value::as_array).cloned().ok_or_else(|| RestError::Decode {
        operation: "conversation upload status",
        object: String::new(),
        message: "the answer has no conversationBulkUploadStatuses array".into(),
    })
}

/// A per-request deadline: `per_request` from now, never past `overall`.
pub fn request_budget(per_request: Duration, overall: Deadline) -> impl Fn() -> Deadline {
    move || Deadline::after(per_request).min(overall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PathId {
        PathId::parse("contactId", s).expect("id")
    }

    fn analysis(lines: Value) -> Value {
        json!({
            "Participants": [{"ParticipantId": "AGENT", "ParticipantRole": "AGENT"}, {"ParticipantId": "CUSTOMER", "ParticipantRole": "CUSTOMER"}],
            "CustomerMetadata": {"ContactId": "c-1", "InstanceId": "i"},
            "Transcript": lines,
        })
    }

    fn line(id: &str, who: &str, text: &str, begin: i64, end: i64) -> Value {
        json!({"Id": id, "ParticipantId": who, "Content": text, "BeginOffsetMillis": begin, "EndOffsetMillis": end, "Sentiment": "NEUTRAL"})
    }

    #[test]
    fn analysis_keys_name_their_contact() {
        assert_eq!(
            contact_of_analysis_key("Analysis/Voice/2026/11/21/c-1_analysis_2026-11-21T09:23:14Z.json"),
            Some("c-1")
        );
        assert_eq!(contact_of_analysis_key("Analysis/Voice/2026/11/21/c-1_analysis_x.txt"), None);
        assert_eq!(contact_of_analysis_key("Analysis/Voice/2026/11/21/readme.json"), None);
        assert_eq!(contact_of_analysis_key("Analysis/Voice/2026/11/21/.._analysis_x.json"), None);
    }

    #[test]
    fn the_conversation_line_then_one_entry_per_utterance() {
        let file = analysis(json!([
            line("u1", "AGENT", "Thank you for calling, this is Zoë.", 1000, 2500),
            line("u2", "CUSTOMER", "I paid 20 € twice.", 3000, 4000),
        ]));
        let (ndjson, n) = build_conversation(
            &id("c-1"),
            &file,
            &["0LQ000000000001".into()],
            1_700_000_000_000,
            Some(1_700_000_100_000),
        )
        .expect("built");
        assert_eq!(n, 2);
        let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines[0], json!({"type": "conversation", "payload": {"conversationId": "c-1"}}));
        assert_eq!(
            lines[1],
            json!({"type": "conversationEntry", "payload": {
                "conversationId": "c-1", "id": "u1", "clientSentTimestamp": 1_700_000_001_000_i64, "clientDuration": 1500,
                "messageText": "Thank you for calling, this is Zoë.",
                "sender": {"appType": "TELEPHONY_INTEGRATION", "subject": "c-1VIRTUAL_AGENT", "role": "AGENT"},
                "relatedRecords": ["0LQ000000000001"]}})
        );
        assert_eq!(lines[2]["payload"]["messageText"], "I paid 20 € twice.");
        assert_eq!(
            lines[2]["payload"]["sender"],
            json!({"appType": "TELEPHONY_INTEGRATION", "subject": "c-1END_USER", "role": "END_USER"})
        );
        assert_eq!(lines[2]["payload"]["clientSentTimestamp"], 1_700_000_003_000_i64);
    }

    #[test]
    fn timestamps_increase_and_stay_inside_the_call() {
        let file = analysis(json!([
            line("a", "AGENT", "x", 5000, 5100),
            line("b", "CUSTOMER", "y", 5000, 5200),
            line("c", "AGENT", "z", 99_000, 99_500),
        ]));
        let (ndjson, _) =
            build_conversation(&id("c-1"), &file, &["0LQ000000000001".into()], 1000, Some(60_000)).expect("built");
        let sent: Vec<i64> = ndjson
            .lines()
            .skip(1)
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("json")["payload"]["clientSentTimestamp"].as_i64().expect("ms")
            })
            .collect();
        assert_eq!(sent, vec![6000, 6001, 60_000]);
    }

    #[test]
    fn a_malformed_line_fails_the_file_naming_it() {
        let cases = [
            (
                json!([line("a", "AGENT", "x", 1, 2), {"Id": "b", "ParticipantId": "AGENT", "BeginOffsetMillis": 1, "EndOffsetMillis": 2}]),
                "Transcript[1].Content is missing",
            ),
            (json!([line("a", "BOT", "x", 1, 2)]), "Transcript[0].ParticipantId \"BOT\""),
            (json!([line("a", "AGENT", "x", 5, 2)]), "Transcript[0].EndOffsetMillis 2 is before"),
            (
                json!([line("a", "AGENT", "x", 1, 2), line("a", "AGENT", "y", 3, 4)]),
                "Transcript[1].Id \"a\" is repeated",
            ),
            (json!([]), "Transcript is empty"),
        ];
        for (lines, expected) in cases {
            let e = build_conversation(&id("c-1"), &analysis(lines), &[], 0, None).unwrap_err();
            assert!(e.contains(expected), "{e} should contain {expected}");
        }
        let mut other = analysis(json!([line("a", "AGENT", "x", 1, 2)]));
        other["CustomerMetadata"]["ContactId"] = json!("c-2");
        assert!(build_conversation(&id("c-1"), &other, &[], 0, None).unwrap_err().contains("\"c-2\""));
    }

    #[test]
    fn multipart_parts_are_named_by_conversation_with_a_filename() {
        let files = vec![
            ConversationFile { conversation_id: id("c-1"), ndjson: "{\"a\":1}\n{\"b\":2}".into() },
            ConversationFile { conversation_id: id("c-2"), ndjson: "{}".into() },
        ];
        let (body, boundary) = multipart_body(&files);
        let text = String::from_utf8(body).expect("utf8");
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"c-1\"; filename=\"c-1.txt\"\r\n"
        )));
        assert!(text.contains("\r\n\r\n{\"a\":1}\n{\"b\":2}\r\n--"));
        assert!(text.contains("name=\"c-2\"; filename=\"c-2.txt\""));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn analysis_days_cover_the_call_and_the_day_after() {
        let day = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time").timestamp_millis();
        let times = ContactTimes {
            initiation: Some(day("2026-12-03T23:58:00Z")),
            connected_to_agent: Some(day("2026-12-03T23:58:30Z")),
            disconnect: Some(day("2026-12-04T00:03:00Z")),
        };
        assert_eq!(candidate_days(&times), vec!["2026/12/03", "2026/12/04", "2026/12/05"]);
        assert!(candidate_days(&ContactTimes::default()).is_empty());
    }
}
