//! The Connect REST API conversation upload: `POST` and `GET /services/data/vNN.N/connect/conversations/upload`
//! (Service Cloud Voice Implementation Guide, ch. 5 "Upload or Update Transcripts with Connect REST API";
//! Connect REST API Developer Guide, "Conversations, Bulk Upload and Statuses"). Authenticated with the
//! REST side's OAuth bearer token like every `/services/data` resource.
//!
//! # POST: upload
//! A `multipart/form-data` body with one file part per conversation. Each part must have a `name` and a
//! `filename` in its `Content-Disposition` (the guide: "the name of the part ... must be the
//! `conversationId`"); the guide documents no JSON part for this resource, so every part is a conversation
//! file. The part content is NDJSON: the first line `{"type":"conversation","payload":{"conversationId"}}`
//! (optional `startTimestamp` / `endTimestamp` bound the entries when present), then one
//! `{"type":"conversationEntry","payload":{...}}` per utterance with `conversationId` (the part's
//! conversation), `id` (unique in the part), `clientSentTimestamp` (epoch ms), `clientDuration` (ms, >= 0),
//! `messageText`, `sender` {`appType`, `subject`, `role`} (values of the guide's "AppType to appType" and
//! "ParticipantRole to role" mapping tables) and `relatedRecords` (ids of existing records; when one is a
//! VoiceCall, `clientSentTimestamp` must lie between its start and, once closed, its end). Blank lines are
//! skipped (line numbers still count them).
//!
//! The conversation must exist: a VoiceCall whose vendor call key is the `conversationId` (for Amazon
//! Connect, the contact id). Any problem rejects the whole request with 400 and Salesforce's error array,
//! one element per failing part (its first problem), each message naming the part, the line and the field;
//! nothing is stored. A request that is not multipart answers 415, a malformed multipart body 400.
//!
//! On success: 201 `{"conversationBulkUploadsResults": [{"conversationIdentifier", "errorDetail": null,
//! "status": "SUCCESS", "uploadId"}]}`, one result per part in request order, a new upload id each time.
//!
//! # Processing (decided at upload time, revealed by the status)
//! The guide: "this API only supports existing closed conversations". If the conversation's VoiceCall is
//! still active, the upload fails as a whole: status `FAILED`, every entry failed, `errorDetail` "Failed to
//! process any conversation entries." (the guide's text). Otherwise every entry is stored on the
//! conversation, in payload order.
//!
//! Re-uploading a conversation: the guide does not say what happens. The emulator does the safest
//! plausible thing: a new upload id; an entry whose `id` is already stored for that conversation with the
//! same content is not stored again (counted as a success and listed in the upload's
//! `deduplicatedEntryIds`); the same `id` with different content is a failed entry (the stored one is kept:
//! changing entries is what `PATCH /connect/conversation/{id}/entries` is for). An upload with no entry
//! processed is `FAILED`; with some failed entries it is `SUCCESS` with `failedEntryCount` /
//! `failedEntryIds` and an `errorDetail` giving the count.
//!
//! # GET: statuses
//! `?uploadIds=id1,id2` (the Connect REST API parameter, as the official functions send it; `uploadId`, the
//! spelling of the guide's example, is accepted too), at most 100 ids. Answer 200
//! `{"conversationBulkUploadStatuses": [{"conversationId", "errorDetail", "failedEntryCount",
//! "failedEntryIds", "lastUpdatedTimestamp", "status", "successEntryCount", "uploadId"}]}` in the order
//! asked (a repeated id is answered once). Deterministic progression: the first status read of an upload
//! answers `PENDING` (counts 0); every later read answers its outcome, `SUCCESS` or `FAILED` (the guide's
//! values). An unknown upload id answers 404 naming it.
//!
//! # GET: entries
//! `GET /connect/conversation/{conversationIdentifier}/entries` answers 200 `{"conversationEntries": [...]}`,
//! each entry `{"clientDuration", "clientTimestamp", "identifier", "messageText", "relatedRecords", "sender":
//! {"appType", "role", "subject"}, "serverReceivedTimestamp"}` (the Connect REST API's Conversation Entry
//! output); `identifier` is the `id` uploaded and `serverReceivedTimestamp` the upload time. Parameters:
//! `startTimestamp` (default 0), `endTimestamp`, `recordLimit` (1 to 1000, default 25) and `queryDirection`
//! (`FromEnd`, the default, keeps the latest entries of the window; `FromStart` the earliest); entries are
//! answered in time order. An unknown conversation answers 404. (Updating entries with PATCH is not
//! emulated.)
//!
//! Every upload is kept in the org state (`conversationUploads`, `conversations` in `GET
//! /__emulator/state`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::store::{find_row, id15};
use super::{RestAnswer, RestError, RestRequest, query_param};
use crate::state::OrgState;

/// Upload status before the first status read has passed.
pub const PENDING: &str = "PENDING";
/// Upload status when entries were processed (the guide's value).
pub const SUCCESS: &str = "SUCCESS";
/// Upload status when no entry was processed (the guide's value).
pub const FAILED: &str = "FAILED";
/// The guide's `errorDetail` of a failed upload.
pub const NOTHING_PROCESSED: &str = "Failed to process any conversation entries.";
/// "Comma-separated list of up to 100 upload IDs."
pub const MAX_STATUS_IDS: usize = 100;
/// The guide's "AppType to appType Mapping" table (payload values).
pub const APP_TYPES: &[&str] = &[
    "BMAPI",
    "LIVE_MESSAGE",
    "CHATBOT",
    "MESSAGING",
    "PERFTOOL",
    "AGENT",
    "TELEPHONY_INTEGRATION",
    "TRANSLATION",
    "IAMESSAGE",
    "CONVERSATION",
];
/// The guide's "ParticipantRole to role Mapping" table (payload values).
pub const ROLES: &[&str] = &["SYSTEM", "AGENT", "CHATBOT", "END_USER", "SUPERVISOR", "ROUTER"];
/// Error code of every validation failure of this resource.
pub const INVALID_INPUT: &str = "INVALID_API_INPUT";

/// Uploads and stored conversations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationData {
    /// Stored conversations by conversation id.
    pub conversations: BTreeMap<String, StoredConversation>,
    /// Every accepted upload (one per part), oldest first.
    pub uploads: Vec<ConversationUpload>,
}

/// A conversation and the entries stored on it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StoredConversation {
    pub conversation_id: String,
    /// The VoiceCall whose vendor call key is the conversation id.
    pub voice_call_id: String,
    pub entries: Vec<ConversationEntry>,
    /// Every upload of this conversation, oldest first.
    pub upload_ids: Vec<String>,
}

/// The sender of an entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    pub app_type: String,
    pub subject: String,
    pub role: String,
}

/// One stored conversation entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationEntry {
    pub id: String,
    pub client_sent_timestamp: i64,
    pub client_duration: i64,
    pub message_text: String,
    pub sender: Sender,
    pub related_records: Vec<String>,
    /// The upload that stored it.
    pub upload_id: String,
}

impl ConversationEntry {
    fn same_content(&self, other: &ConversationEntry) -> bool {
        self.client_sent_timestamp == other.client_sent_timestamp
            && self.client_duration == other.client_duration
            && self.message_text == other.message_text
            && self.sender == other.sender
            && self.related_records == other.related_records
    }
}

/// One accepted upload (one multipart part).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConversationUpload {
    pub upload_id: String,
    pub conversation_id: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub uploaded_at: i64,
    /// Entry ids in payload order.
    pub entry_ids: Vec<String>,
    /// The outcome (`SUCCESS` or `FAILED`), answered from the second status read on.
    pub status: String,
    /// How many status reads included this upload.
    pub status_reads: u32,
    pub success_entry_count: usize,
    pub failed_entry_count: usize,
    pub failed_entry_ids: Vec<String>,
    /// Entries already stored with the same content (re-upload), not stored twice.
    pub deduplicated_entry_ids: Vec<String>,
    pub error_detail: Option<String>,
    /// Why entries failed (emulator detail, not part of the API answer).
    pub failure_reasons: Vec<String>,
    /// True when the conversation had been uploaded before.
    pub reupload: bool,
    /// When the outcome was first answered.
    pub completed_at: Option<i64>,
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// 1-based position.
    pub index: usize,
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: Option<&str>) -> Result<String, RestError> {
    let ct = content_type.unwrap_or_default();
    let mut params = ct.split(';');
    let mime = params.next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(RestError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            format!(
                "Content type '{}' not supported: conversations are uploaded as multipart/form-data",
                if mime.is_empty() { "<missing>" } else { mime }
            ),
        ));
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| {
            RestError::new(
                400,
                INVALID_INPUT,
                "The multipart/form-data content type has no boundary parameter (1 to 70 characters)",
            )
        })
}

/// Splits `a; b="c;d"; e=f` on semicolons outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                current.push(c);
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            ';' if !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        escaped = false;
        current.push(c);
    }
    out.push(current);
    out
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

/// Parses a `multipart/form-data` body (RFC 7578 / RFC 2046): CRLF line breaks, a preamble and an
/// epilogue allowed, a closing delimiter required, a `Content-Disposition: form-data` header on every part.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let first = if body.starts_with(delimiter.as_bytes()) {
        0
    } else {
        find(body, format!("\r\n{delimiter}").as_bytes(), 0)
            .map(|p| p + 2)
            .ok_or_else(|| format!("the body does not contain the boundary delimiter '{delimiter}'"))?
    };
    let next_delimiter = format!("\r\n{delimiter}");
    let mut parts = Vec::new();
    let mut at = first + delimiter.len();
    loop {
        if body[at..].starts_with(b"--") {
            return if parts.is_empty() { Err("the body has no part".into()) } else { Ok(parts) };
        }
        while body.get(at).is_some_and(|b| *b == b' ' || *b == b'\t') {
            at += 1;
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(format!(
                "part {}: the boundary delimiter must be followed by CRLF (or '--' to close)",
                parts.len() + 1
            ));
        }
        at += 2;
        let index = parts.len() + 1;
        let end = find(body, next_delimiter.as_bytes(), at).ok_or_else(|| {
            format!("part {index} is not terminated: no closing boundary delimiter '{delimiter}--' after it")
        })?;
        let part = &body[at..end];
        let (head, content) = if part.starts_with(b"\r\n") {
            (&part[..0], &part[2..])
        } else {
            let split = find(part, b"\r\n\r\n", 0)
                .ok_or_else(|| format!("part {index}: headers must end with an empty line (CRLF CRLF)"))?;
            (&part[..split], &part[split + 4..])
        };
        let head = std::str::from_utf8(head).map_err(|_| format!("part {index}: headers are not UTF-8"))?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        let mut disposition = false;
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            let (key, value) =
                line.split_once(':').ok_or_else(|| format!("part {index}: malformed header line '{line}'"))?;
            let key = key.trim();
            if key.eq_ignore_ascii_case("content-disposition") {
                let params = split_params(value);
                if !params.first().is_some_and(|kind| kind.trim().eq_ignore_ascii_case("form-data")) {
                    return Err(format!(
                        "part {index}: Content-Disposition must be 'form-data', was '{}'",
                        value.trim()
                    ));
                }
                disposition = true;
                for param in &params[1..] {
                    let Some((k, v)) = param.split_once('=') else { continue };
                    match k.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(unquote(v)),
                        "filename" => filename = filename.or(Some(unquote(v))),
                        "filename*" => {
                            let v = unquote(v);
                            let encoded = v.split_once("''").map_or(v.as_str(), |(_, e)| e);
                            let decoded =
                                percent_encoding::percent_decode_str(encoded).decode_utf8_lossy().into_owned();
                            filename = Some(decoded);
                        }
                        _ => {}
                    }
                }
            } else if key.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        if !disposition {
            return Err(format!("part {index} has no Content-Disposition: form-data header"));
        }
        parts.push(Part { index, name, filename, content_type, body: content.to_vec() });
        at = end + next_delimiter.len();
    }
}

/// A validated conversation part.
struct Incoming {
    conversation_id: String,
    voice_call_id: String,
    call_closed: bool,
    filename: String,
    content_type: Option<String>,
    entries: Vec<ConversationEntry>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field access of one NDJSON line, with messages naming the line and the field.
struct Line<'a> {
    no: usize,
    payload: &'a Map<String, Value>,
}

impl Line<'_> {
    fn fail(&self, field: &str, problem: impl std::fmt::Display) -> String {
        format!("line {}: field 'payload.{field}' {problem}", self.no)
    }

    fn string(&self, field: &str) -> Result<String, String> {
        match self.payload.get(field) {
            None | Some(Value::Null) => Err(self.fail(field, "is required")),
            Some(Value::String(s)) if s.trim().is_empty() => Err(self.fail(field, "must not be empty")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.fail(field, format!("must be a string, was {}", type_name(other)))),
        }
    }

    fn millis(&self, field: &str, required: bool) -> Result<Option<i64>, String> {
        match self.payload.get(field) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(self.fail(field, "is required")),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v >= 0 => Ok(Some(v)),
                _ => Err(self.fail(field, format!("must be a whole number of milliseconds >= 0, was {n}"))),
            },
            Some(other) => {
                Err(self.fail(field, format!("must be a number (epoch milliseconds), was {}", type_name(other))))
            }
        }
    }
}

fn parse_line(no: usize, text: &str) -> Result<(String, Map<String, Value>), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("line {no} is not valid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err(format!("line {no} must be a JSON object, was {}", type_name(&value)));
    };
    let kind = match object.get("type") {
        Some(Value::String(t)) => t.clone(),
        None | Some(Value::Null) => return Err(format!("line {no}: field 'type' is required")),
        Some(other) => return Err(format!("line {no}: field 'type' must be a string, was {}", type_name(other))),
    };
    match object.remove("payload") {
        Some(Value::Object(payload)) => Ok((kind, payload)),
        None | Some(Value::Null) => Err(format!("line {no}: field 'payload' is required")),
        Some(other) => Err(format!("line {no}: field 'payload' must be an object, was {}", type_name(&other))),
    }
}

fn one_of(line: &Line<'_>, field: &str, value: &Value, allowed: &[&str]) -> Result<String, String> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        Value::String(s) if s.is_empty() => Err(line.fail(field, "is required")),
        Value::String(s) => Err(line.fail(field, format!("'{s}' is not one of {}", allowed.join(", ")))),
        Value::Null => Err(line.fail(field, "is required")),
        other => Err(line.fail(field, format!("must be a string, was {}", type_name(other)))),
    }
}

fn parse_sender(line: &Line<'_>) -> Result<Sender, String> {
    let sender = match line.payload.get("sender") {
        Some(Value::Object(s)) => s,
        None | Some(Value::Null) => return Err(line.fail("sender", "is required")),
        Some(other) => return Err(line.fail("sender", format!("must be an object, was {}", type_name(other)))),
    };
    let field = |name: &str| sender.get(name).cloned().unwrap_or(Value::Null);
    let app_type = one_of(line, "sender.appType", &field("appType"), APP_TYPES)?;
    let subject = match field("subject") {
        Value::String(s) if !s.trim().is_empty() => s,
        Value::String(_) | Value::Null => return Err(line.fail("sender.subject", "is required")),
        other => return Err(line.fail("sender.subject", format!("must be a string, was {}", type_name(&other)))),
    };
    let role = one_of(line, "sender.role", &field("role"), ROLES)?;
    Ok(Sender { app_type, subject, role })
}

/// Validates one entry line against the conversation and the org.
fn parse_entry(
    org: &OrgState,
    line: &Line<'_>,
    conversation_id: &str,
    bounds: (Option<i64>, Option<i64>),
) -> Result<ConversationEntry, String> {
    let referenced = line.string("conversationId")?;
    if referenced != conversation_id {
        return Err(line.fail(
            "conversationId",
            format!("'{referenced}' does not reference the part's conversation '{conversation_id}'"),
        ));
    }
    let id = line.string("id")?;
    let sent = line.millis("clientSentTimestamp", true)?.unwrap_or_default();
    let duration = line.millis("clientDuration", true)?.unwrap_or_default();
    let text = line.string("messageText")?;
    let sender = parse_sender(line)?;
    if let Some(extra) = line.payload.get("contextParamMap").filter(|v| !v.is_null() && !v.is_object()) {
        return Err(line.fail("contextParamMap", format!("must be an object, was {}", type_name(extra))));
    }
    if let (Some(start), _) = bounds
        && sent < start
    {
        return Err(
            line.fail("clientSentTimestamp", format!("{sent} is before the conversation's startTimestamp {start}"))
        );
    }
    if let (_, Some(end)) = bounds
        && sent > end
    {
        return Err(line.fail("clientSentTimestamp", format!("{sent} is after the conversation's endTimestamp {end}")));
    }
    let records = match line.payload.get("relatedRecords") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(line.fail("relatedRecords", "must list at least one record id")),
        None | Some(Value::Null) => return Err(line.fail("relatedRecords", "is required")),
        Some(other) => return Err(line.fail("relatedRecords", format!("must be an array, was {}", type_name(other)))),
    };
    let mut related = Vec::new();
    for (i, item) in records.iter().enumerate() {
        let field = format!("relatedRecords[{i}]");
        let Some(record) = item.as_str() else {
            return Err(line.fail(&field, format!("must be a record id string, was {}", type_name(item))));
        };
        let Some((def, _)) = find_row(org, record) else {
            return Err(line.fail(&field, format!("'{record}' is not the id of an existing record")));
        };
        if def.name == "VoiceCall"
            && let Some(call) = org.voice_calls.iter().find(|c| c.id == id15(record))
        {
            if let Some(start) = call.start_time_ms.filter(|start| sent < *start) {
                return Err(line.fail(
                    "clientSentTimestamp",
                    format!("{sent} is before the start {start} of VoiceCall {}", call.id),
                ));
            }
            if let Some(end) = call.end_time_ms.filter(|end| !call.is_active_call && sent > *end) {
                return Err(
                    line.fail("clientSentTimestamp", format!("{sent} is after the end {end} of VoiceCall {}", call.id))
                );
            }
        }
        related.push(record.to_owned());
    }
    Ok(ConversationEntry {
        id,
        client_sent_timestamp: sent,
        client_duration: duration,
        message_text: text,
        sender,
        related_records: related,
        upload_id: String::new(),
    })
}

/// Validates one part: its NDJSON, its conversation and every entry.
fn validate_part(org: &OrgState, part: &Part) -> Result<Incoming, String> {
    let name = part.name.clone().filter(|n| !n.is_empty()).ok_or("the part has no name (Content-Disposition name)")?;
    let filename = part
        .filename
        .clone()
        .filter(|f| !f.is_empty())
        .ok_or("the part has no filename: each conversation must be sent as a file part")?;
    let text = std::str::from_utf8(&part.body).map_err(|e| format!("the file is not UTF-8 text: {e}"))?;
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let mut next_line = || lines.by_ref().find(|(_, l)| !l.trim().is_empty());
    let (first_no, first) = next_line().ok_or("the file is empty: the first line must be the conversation")?;
    let (kind, payload) = parse_line(first_no, first)?;
    if kind != "conversation" {
        return Err(format!(
            "line {first_no}: the first object must be the conversation (\"type\": \"conversation\"), found type '{kind}'"
        ));
    }
    let head = Line { no: first_no, payload: &payload };
    let conversation_id = head.string("conversationId")?;
    if conversation_id != name {
        return Err(format!(
            "the part name '{name}' must be the conversationId of its conversation line ('{conversation_id}')"
        ));
    }
    let bounds = (head.millis("startTimestamp", false)?, head.millis("endTimestamp", false)?);
    let call = org.voice_calls.iter().rev().find(|c| c.vendor_call_key == conversation_id).ok_or_else(|| {
        head.fail(
            "conversationId",
            format!(
                "'{conversation_id}': no conversation exists with this identifier (no VoiceCall has this vendorCallKey)"
            ),
        )
    })?;
    let mut entries: Vec<ConversationEntry> = Vec::new();
    while let Some((no, text)) = next_line() {
        let (kind, payload) = parse_line(no, text)?;
        if kind != "conversationEntry" {
            return Err(format!(
                "line {no}: expected a conversationEntry after the conversation line, found type '{kind}'"
            ));
        }
        let line = Line { no, payload: &payload };
        let entry = parse_entry(org, &line, &conversation_id, bounds)?;
        if entries.iter().any(|e| e.id == entry.id) {
            return Err(line.fail("id", format!("'{}' is repeated in this conversation", entry.id)));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err("the file has no conversationEntry line after the conversation".into());
    }
    Ok(Incoming {
        conversation_id,
        voice_call_id: call.id.clone(),
        call_closed: !call.is_active_call,
        filename,
        content_type: part.content_type.clone(),
        entries,
    })
}

fn describe(part: &Part) -> String {
    let mut out = format!("part {}", part.index);
    if let Some(name) = &part.name {
        out.push_str(&format!(" '{name}'"));
    }
    if let Some(file) = &part.filename {
        out.push_str(&format!(" (file '{file}')"));
    }
    out
}

/// The recorded form of a multipart body: parts with their headers and NDJSON lines (parsed when JSON).
fn recorded_parts(parts: &[Part]) -> Value {
    let parts: Vec<Value> = parts
        .iter()
        .map(|p| {
            let text = String::from_utf8_lossy(&p.body);
            let lines: Vec<Value> = text
                .split('\n')
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.to_owned())))
                .collect();
            json!({"index": p.index, "name": p.name, "filename": p.filename, "contentType": p.content_type, "lines": lines})
        })
        .collect();
    json!({"parts": parts})
}

fn error_array(errors: &[RestError]) -> Value {
    Value::Array(errors.iter().flat_map(|e| e.body().as_array().cloned().unwrap_or_default()).collect())
}

/// `POST /connect/conversations/upload`.
pub fn upload(org: &mut OrgState, req: &RestRequest<'_>, now_ms: i64) -> Result<RestAnswer, RestError> {
    let boundary = boundary(req.content_type)?;
    let parts = parse_multipart(req.body, &boundary)
        .map_err(|why| RestError::new(400, INVALID_INPUT, format!("Malformed multipart/form-data body: {why}")))?;
    let recorded = recorded_parts(&parts);
    let mut errors = Vec::new();
    let mut incoming = Vec::new();
    for part in &parts {
        match validate_part(org, part) {
            Ok(ok) => {
                if let Some(earlier) =
                    incoming.iter().find(|(_, i): &&(usize, Incoming)| i.conversation_id == ok.conversation_id)
                {
                    errors.push(RestError::new(
                        400,
                        INVALID_INPUT,
                        format!(
                            "{}: conversation '{}' is already uploaded by part {} of this request",
                            describe(part),
                            ok.conversation_id,
                            earlier.0
                        ),
                    ));
                } else {
                    incoming.push((part.index, ok));
                }
            }
            Err(why) => errors.push(RestError::new(400, INVALID_INPUT, format!("{}: {why}", describe(part)))),
        }
    }
    if !errors.is_empty() {
        let mut answer = RestAnswer::json(400, error_array(&errors));
        answer.recorded_body = Some(recorded);
        return Ok(answer);
    }
    let mut results = Vec::new();
    for (_, part) in incoming {
        let upload_id = uuid::Uuid::new_v4().to_string();
        results.push(json!({
            "conversationIdentifier": part.conversation_id,
            "errorDetail": Value::Null,
            "status": SUCCESS,
            "uploadId": upload_id,
        }));
        store(org, part, upload_id, now_ms);
    }
    let mut answer = RestAnswer::json(201, json!({"conversationBulkUploadsResults": results}));
    answer.recorded_body = Some(recorded);
    Ok(answer)
}

/// Processes an accepted part: stores its entries (or fails them) and records the upload.
fn store(org: &mut OrgState, part: Incoming, upload_id: String, now_ms: i64) {
    let data = &mut org.rest.conversations;
    let conversation = data.conversations.entry(part.conversation_id.clone()).or_insert_with(|| StoredConversation {
        conversation_id: part.conversation_id.clone(),
        voice_call_id: part.voice_call_id.clone(),
        ..StoredConversation::default()
    });
    let reupload = !conversation.upload_ids.is_empty();
    conversation.upload_ids.push(upload_id.clone());
    let mut upload = ConversationUpload {
        upload_id: upload_id.clone(),
        conversation_id: part.conversation_id.clone(),
        filename: part.filename,
        content_type: part.content_type,
        uploaded_at: now_ms,
        entry_ids: part.entries.iter().map(|e| e.id.clone()).collect(),
        reupload,
        ..ConversationUpload::default()
    };
    if !part.call_closed {
        upload.failed_entry_ids = upload.entry_ids.clone();
        upload.failure_reasons.push(format!(
            "the conversation is still open (VoiceCall {} is active): the API only supports closed conversations",
            part.voice_call_id
        ));
    } else {
        for mut entry in part.entries {
            match conversation.entries.iter().find(|e| e.id == entry.id) {
                Some(existing) if existing.same_content(&entry) => {
                    upload.deduplicated_entry_ids.push(entry.id.clone());
                    upload.success_entry_count += 1;
                }
                Some(_) => {
                    upload.failure_reasons.push(format!(
                        "entry '{}' is already stored with different content (update entries with PATCH)",
                        entry.id
                    ));
                    upload.failed_entry_ids.push(entry.id);
                }
                None => {
                    entry.upload_id = upload_id.clone();
                    conversation.entries.push(entry);
                    upload.success_entry_count += 1;
                }
            }
        }
    }
    upload.failed_entry_count = upload.failed_entry_ids.len();
    if upload.success_entry_count == 0 {
        upload.status = FAILED.into();
        upload.error_detail = Some(NOTHING_PROCESSED.into());
    } else {
        upload.status = SUCCESS.into();
        if upload.failed_entry_count > 0 {
            upload.error_detail = Some(format!(
                "Failed to process {} of {} conversation entries.",
                upload.failed_entry_count,
                upload.entry_ids.len()
            ));
        }
    }
    data.uploads.push(upload);
}

fn status_json(upload: &ConversationUpload, pending: bool) -> Value {
    if pending {
        return json!({
            "conversationId": upload.conversation_id,
            "errorDetail": Value::Null,
            "failedEntryCount": 0,
            "failedEntryIds": [],
            "lastUpdatedTimestamp": upload.uploaded_at,
            "status": PENDING,
            "successEntryCount": 0,
            "uploadId": upload.upload_id,
        });
    }
    json!({
        "conversationId": upload.conversation_id,
        "errorDetail": upload.error_detail,
        "failedEntryCount": upload.failed_entry_count,
        "failedEntryIds": upload.failed_entry_ids,
        "lastUpdatedTimestamp": upload.completed_at.unwrap_or(upload.uploaded_at),
        "status": upload.status,
        "successEntryCount": upload.success_entry_count,
        "uploadId": upload.upload_id,
    })
}

/// `GET /connect/conversation/{conversationIdentifier}/entries`.
pub fn entries(org: &OrgState, conversation_id: &str, req: &RestRequest<'_>) -> Result<RestAnswer, RestError> {
    let conversation = org.rest.conversations.conversations.get(conversation_id).ok_or_else(|| {
        RestError::new(404, "NOT_FOUND", format!("No conversation entries for conversation '{conversation_id}'"))
    })?;
    let number = |name: &str| -> Result<Option<i64>, RestError> {
        query_param(req.query, name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    RestError::new(400, INVALID_INPUT, format!("Parameter '{name}' must be a whole number, was '{v}'"))
                })
            })
            .transpose()
    };
    let start = number("startTimestamp")?.unwrap_or(0);
    let end = number("endTimestamp")?.unwrap_or(i64::MAX);
    let limit = number("recordLimit")?.unwrap_or(25);
    if !(1..=1000).contains(&limit) {
        return Err(RestError::new(
            400,
            INVALID_INPUT,
            format!("Parameter 'recordLimit' must be between 1 and 1000, was {limit}"),
        ));
    }
    let from_start = match query_param(req.query, "queryDirection").as_deref() {
        None | Some("FromEnd") => false,
        Some("FromStart") => true,
        Some(other) => {
            return Err(RestError::new(
                400,
                INVALID_INPUT,
                format!("Parameter 'queryDirection' must be FromEnd or FromStart, was '{other}'"),
            ));
        }
    };
    let mut window: Vec<&ConversationEntry> = conversation
        .entries
        .iter()
        .filter(|e| e.client_sent_timestamp >= start && e.client_sent_timestamp <= end)
        .collect();
    window.sort_by_key(|e| e.client_sent_timestamp);
    let limit = usize::try_from(limit).unwrap_or(25);
    let skip = if from_start { 0 } else { window.len().saturating_sub(limit) };
    let uploaded_at = |upload_id: &str| {
        org.rest.conversations.uploads.iter().find(|u| u.upload_id == upload_id).map_or(0, |u| u.uploaded_at)
    };
    let out: Vec<Value> = window
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|e| {
            json!({
                "clientDuration": e.client_duration,
                "clientTimestamp": e.client_sent_timestamp,
                "identifier": e.id,
                "messageText": e.message_text,
                "relatedRecords": e.related_records,
                "sender": {"appType": e.sender.app_type, "role": e.sender.role, "subject": e.sender.subject},
                "serverReceivedTimestamp": uploaded_at(&e.upload_id),
            })
        })
        .collect();
    Ok(RestAnswer::json(200, json!({"conversationEntries": out})))
}

/// `GET /connect/conversations/upload?uploadIds=...`.
pub fn statuses(org: &mut OrgState, req: &RestRequest<'_>, now_ms: i64) -> Result<RestAnswer, RestError> {
    let list = query_param(req.query, "uploadIds").or_else(|| query_param(req.query, "uploadId")).unwrap_or_default();
    let mut ids: Vec<&str> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(RestError::new(
            400,
            INVALID_INPUT,
            "The uploadIds parameter is required: a comma-separated list of upload ids",
        ));
    }
    if ids.len() > MAX_STATUS_IDS {
        return Err(RestError::new(
            400,
            INVALID_INPUT,
            format!("The uploadIds parameter lists {} upload ids; at most {MAX_STATUS_IDS} are allowed", ids.len()),
        ));
    }
    let uploads = &mut org.rest.conversations.uploads;
    let unknown: Vec<&str> = ids.iter().copied().filter(|id| !uploads.iter().any(|u| u.upload_id == *id)).collect();
    if !unknown.is_empty() {
        return Err(RestError::new(404, "NOT_FOUND", format!("Unknown upload id(s): {}", unknown.join(", "))));
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(upload) = uploads.iter_mut().find(|u| u.upload_id == id) {
            let pending = upload.status_reads == 0;
            upload.status_reads += 1;
            if !pending && upload.completed_at.is_none() {
                upload.completed_at = Some(now_ms);
            }
            out.push(status_json(upload, pending));
        }
    }
    Ok(RestAnswer::json(200, json!({"conversationBulkUploadStatuses": out})))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "XyZ";

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = String::from("preamble\r\n");
        for (headers, content) in parts {
            out.push_str(&format!("--{B}\r\n{headers}\r\n\r\n{content}\r\n"));
        }
        out.push_str(&format!("--{B}--\r\nepilogue"));
        out.into_bytes()
    }

    #[test]
    fn boundaries() {
        assert_eq!(boundary(Some("multipart/form-data; boundary=abc")).expect("b"), "abc");
        assert_eq!(boundary(Some("Multipart/Form-Data;boundary=\"a b\"")).expect("b"), "a b");
        assert_eq!(boundary(Some("application/json")).expect_err("json").status, 415);
        assert_eq!(boundary(None).expect_err("none").status, 415);
        assert_eq!(boundary(Some("multipart/form-data")).expect_err("no boundary").status, 400);
    }

    #[test]
    fn multipart_parts_and_headers() {
        let parts = parse_multipart(
            &body(&[
                (
                    "Content-Disposition: form-data; name=\"c1\"; filename=\"a;b.txt\"\r\nContent-Type: text/plain",
                    "x\r\ny",
                ),
                ("content-disposition: form-data; name=c2; filename*=UTF-8''%C3%A9.txt", ""),
                ("Content-Disposition: form-data; name=\"json\"", "{}"),
            ]),
            B,
        )
        .expect("parse");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name.as_deref(), Some("c1"));
        assert_eq!(parts[0].filename.as_deref(), Some("a;b.txt"));
        assert_eq!(parts[0].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[0].body, b"x\r\ny");
        assert_eq!(parts[1].filename.as_deref(), Some("\u{e9}.txt"));
        assert_eq!(parts[1].body, b"");
        assert_eq!((parts[2].index, parts[2].filename.clone()), (3, None));
    }

    #[test]
    fn malformed_multipart_is_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"no boundary here".to_vec(), "does not contain the boundary"),
            (
                format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\nbody").into_bytes(),
                "part 1 is not terminated",
            ),
            (format!("--{B}\r\nContent-Disposition: form-data; name=a\r\nbody\r\n--{B}--").into_bytes(), "empty line"),
            (format!("--{B}\r\nX-Other: 1\r\n\r\nbody\r\n--{B}--").into_bytes(), "no Content-Disposition"),
            (
                format!("--{B}\r\nContent-Disposition: attachment; name=a\r\n\r\nb\r\n--{B}--").into_bytes(),
                "must be 'form-data'",
            ),
            (format!("--{B}--").into_bytes(), "no part"),
            (format!("--{B}junk\r\n").into_bytes(), "followed by CRLF"),
        ];
        for (body, text) in cases {
            let err = parse_multipart(&body, B).expect_err(text);
            assert!(err.contains(text), "{err} should contain {text}");
        }
    }
}
