//! Sending: the transcript messages (bulk) and the real-time conversation events of a [`Work`],
//! each bulk entry classified as sent, dropped or to retry, and the transcription limit recorded
//! on the contact.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use scv_shared::retry::Deadline;
use scv_shared::scrt::{
    BulkTranscriptEntry, BulkTranscripts, ConversationEvent, ConversationEvents, LIMITS_ERROR_PREFIX, ScrtError,
};

use crate::{
    ContactWork, Deps, EVENTS_PER_REQUEST, SERVICE, TRANSCRIPTION_LIMIT_VALUE, TRANSCRIPTION_STATUS_ATTRIBUTE,
    TRANSCRIPTION_STATUS_FIELD, Work, pack,
};

/// Records the transcription limit on the contact (Service Cloud Voice Implementation Guide,
/// ch. 9, "Monitor Transcription-Related Limit Errors"): `sf_realtime_transcription_status__c` as the
/// guide names it and `sf_realtime_transcription_status` as the official function does; the CTR
/// sync copies both into the VoiceCall. Logged with `SCV_LIMITS_ERROR` either way.
pub(crate) async fn record_transcription_limit(contact_id: &str, deps: &Deps) {
    tracing::error!(
        contactId = %contact_id,
        "{LIMITS_ERROR_PREFIX}: Salesforce reported the org's transcription limit for contact {contact_id}"
    );
    let Some(connect) = &deps.connect else { return };
    let result = connect
        .client
        .update_contact_attributes()
        .instance_id(&connect.instance_id)
        .initial_contact_id(contact_id)
        .attributes(TRANSCRIPTION_STATUS_FIELD, TRANSCRIPTION_LIMIT_VALUE)
        .attributes(TRANSCRIPTION_STATUS_ATTRIBUTE, TRANSCRIPTION_LIMIT_VALUE)
        .send()
        .await;
    match result {
        Ok(_) => tracing::info!(
            contactId = %contact_id,
            "recorded {TRANSCRIPTION_STATUS_FIELD} and {TRANSCRIPTION_STATUS_ATTRIBUTE} on the contact"
        ),
        Err(e) => tracing::error!(
            contactId = %contact_id,
            error = %aws_sdk_connect::error::DisplayErrorContext(&e),
            "{LIMITS_ERROR_PREFIX}: could not record {TRANSCRIPTION_STATUS_FIELD} on the contact"
        ),
    }
}

/// What sending a [`Work`] achieved.
#[derive(Debug, Default)]
pub struct Outcome {
    pub messages_sent: usize,
    pub messages_dropped: usize,
    pub events_sent: usize,
    pub events_dropped: usize,
    pub bulk_requests: usize,
    /// What is left to retry, per contact in the original order.
    pub unsent: Work,
    pub limited_contacts: BTreeSet<String>,
    pub retry_after: Option<Duration>,
    pub last_error: Option<String>,
}

/// How one bulk entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Sent,
    /// Will not pass on retry (the conversation does not exist, the messages are invalid).
    Dropped(String),
    /// May pass later; `limit` when Salesforce reported the transcription limit.
    Unsent {
        reason: String,
        limit: bool,
    },
}

/// Reads one entry of the multi-status answer (Service Cloud Voice Implementation Guide, ch. 3,
/// Telephony Integration API, "Response with errors").
pub fn classify_entry(status: u16, message: &str) -> EntryResult {
    let upper = message.to_ascii_uppercase();
    if (200..300).contains(&status) {
        EntryResult::Sent
    } else if status == 429 || upper.contains("RESOURCE_EXHAUSTED") || upper.contains("LIMIT") {
        EntryResult::Unsent { reason: format!("HTTP {status}: {message}"), limit: true }
    } else if upper.contains("PERMISSION_DENIED") || upper.contains("NOT_FOUND") || status == 404 {
        EntryResult::Dropped(format!("the conversation does not exist (HTTP {status}: {message})"))
    } else if status >= 500 || upper.contains("UNAVAILABLE") || upper.contains("DEADLINE_EXCEEDED") {
        EntryResult::Unsent { reason: format!("HTTP {status}: {message}"), limit: false }
    } else {
        EntryResult::Dropped(format!("HTTP {status}: {message}"))
    }
}

/// Sends the transcript messages and the real-time events of `work`.
pub async fn send(work: &Work, deadline: Deadline, deps: &Deps) -> Outcome {
    let (messages, events) = tokio::join!(send_messages(work, deadline, deps), send_events(work, deadline, deps));
    let mut outcome = Outcome::default();
    let MessagesOutcome { sent, dropped, requests, unsent: unsent_messages, limited, retry_after, last_error } =
        messages;
    outcome.messages_sent = sent;
    outcome.messages_dropped = dropped;
    outcome.bulk_requests = requests;
    outcome.limited_contacts = limited;
    outcome.retry_after = retry_after;
    outcome.last_error = last_error;
    outcome.events_sent = events.sent;
    outcome.events_dropped = events.dropped;
    if outcome.last_error.is_none() {
        outcome.last_error = events.last_error;
    }
    outcome.retry_after = outcome.retry_after.max(events.retry_after);
    // Unsent work per contact, in the original contact order.
    for (index, contact) in work.contacts.iter().enumerate() {
        let messages = unsent_messages.get(&index).cloned().unwrap_or_default();
        let events = events.unsent.get(&index).cloned().unwrap_or_default();
        if !messages.is_empty() || !events.is_empty() {
            outcome.unsent.contacts.push(ContactWork { contact_id: contact.contact_id.clone(), messages, events });
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct MessagesOutcome {
    sent: usize,
    dropped: usize,
    requests: usize,
    unsent: std::collections::HashMap<usize, Vec<scv_shared::scrt::TranscriptMessage>>,
    limited: BTreeSet<String>,
    retry_after: Option<Duration>,
    last_error: Option<String>,
}

/// Bulk requests one after another (a contact's chunks are in order across them); once a contact's
/// entry is not accepted, its later chunks are held back so the retry keeps the order.
async fn send_messages(work: &Work, deadline: Deadline, deps: &Deps) -> MessagesOutcome {
    let mut out = MessagesOutcome::default();
    let counts: Vec<usize> = work.contacts.iter().map(|c| c.messages.len()).collect();
    let plan = pack::pack_bulk(&counts);
    // First chunk (message index) per contact that is not sent: everything from there is unsent.
    let mut held: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut dropped: HashSet<(usize, usize)> = HashSet::new();
    for request in plan {
        let entries: Vec<pack::Chunk> = request.into_iter().filter(|c| !held.contains_key(&c.contact)).collect();
        if entries.is_empty() {
            continue;
        }
        let results = match send_bulk(work, &entries, deadline, deps, &mut out).await {
            Ok(results) => results,
            Err(rejection) if entries.len() > 1 => {
                // Rejected as a whole: one request per entry, so one bad entry holds back no other.
                tracing::warn!(error = %rejection, "the bulk request was rejected as a whole; sending its entries one by one");
                let mut results = Vec::with_capacity(entries.len());
                for chunk in &entries {
                    let single = send_bulk(work, std::slice::from_ref(chunk), deadline, deps, &mut out).await;
                    results.extend(single.unwrap_or_else(|rejection| vec![EntryResult::Dropped(rejection)]));
                }
                results
            }
            Err(rejection) => vec![EntryResult::Dropped(rejection)],
        };
        for (chunk, result) in entries.iter().zip(results) {
            let contact = &work.contacts[chunk.contact].contact_id;
            match result {
                EntryResult::Sent => out.sent += chunk.len,
                EntryResult::Dropped(reason) => {
                    out.dropped += chunk.len;
                    dropped.insert((chunk.contact, chunk.start));
                    tracing::error!(
                        contactId = %contact,
                        messages = chunk.len,
                        reason = %reason,
                        "{} transcript message(s) for contact {contact} were rejected and will not be retried: {reason}",
                        chunk.len
                    );
                }
                EntryResult::Unsent { reason, limit } => {
                    if limit {
                        out.limited.insert(contact.clone());
                    }
                    tracing::warn!(contactId = %contact, messages = chunk.len, reason = %reason, "transcript messages not accepted yet");
                    out.last_error = Some(reason);
                    held.insert(chunk.contact, chunk.start);
                }
            }
        }
    }
    for (contact, start) in held {
        out.unsent.insert(contact, work.contacts[contact].messages[start..].to_vec());
    }
    out
}

/// One bulk request; the result of each entry, or why Salesforce rejected the request as a whole
/// (a 4xx that no retry changes).
async fn send_bulk(
    work: &Work,
    entries: &[pack::Chunk],
    deadline: Deadline,
    deps: &Deps,
    out: &mut MessagesOutcome,
) -> Result<Vec<EntryResult>, String> {
    let request = BulkTranscripts {
        entries: entries
            .iter()
            .map(|c| BulkTranscriptEntry {
                vendor_call_key: work.contacts[c.contact].contact_id.clone(),
                messages: work.contacts[c.contact].messages[c.start..c.start + c.len].to_vec(),
            })
            .collect(),
    };
    let op_deadline = Deadline::after(deps.settings.operation_budget).min(deadline);
    out.requests += 1;
    match deps.telephony.create_transcripts_bulk(&request, op_deadline).await {
        Ok(response) => Ok(match response.error_response {
            None => vec![EntryResult::Sent; entries.len()],
            Some(errors) => request
                .entries
                .iter()
                .map(|entry| {
                    match errors.error_response_entries.iter().find(|e| e.vendor_call_key == entry.vendor_call_key) {
                        Some(e) => classify_entry(e.status, &e.message),
                        None => EntryResult::Unsent {
                            reason: "the multi-status answer does not mention this call".into(),
                            limit: false,
                        },
                    }
                })
                .collect(),
        }),
        Err(e) => {
            if let ScrtError::Limit { retry_after, .. } = &e {
                out.retry_after = out.retry_after.max(*retry_after);
            }
            let whole_request_rejected =
                !e.is_retryable() && !matches!(e, ScrtError::Key { .. }) && e.status().is_some();
            if whole_request_rejected {
                return Err(e.to_string());
            }
            Ok(vec![EntryResult::Unsent { reason: e.to_string(), limit: e.is_limit() }; entries.len()])
        }
    }
}

/// (contact index, sent, dropped, unsent events, Retry-After, last error) of one contact.
type ContactEventsResult = (usize, usize, usize, Vec<ConversationEvent>, Option<Duration>, Option<String>);

#[derive(Debug, Default)]
struct EventsOutcome {
    sent: usize,
    dropped: usize,
    unsent: std::collections::HashMap<usize, Vec<ConversationEvent>>,
    retry_after: Option<Duration>,
    last_error: Option<String>,
}

/// Real-time events per contact in chunks of [`EVENTS_PER_REQUEST`], ascending by `startTime`;
/// contacts in parallel (bounded), a contact's chunks one after another.
async fn send_events(work: &Work, deadline: Deadline, deps: &Deps) -> EventsOutcome {
    let results: Vec<ContactEventsResult> =
        stream::iter(work.contacts.iter().enumerate().filter(|(_, c)| !c.events.is_empty()))
            .map(|(index, contact)| {
                deps.limited(async move {
        let (mut sent, mut dropped) = (0, 0);
        let mut retry_after = None;
        let mut last_error = None;
        let mut position = 0;
        while position < contact.events.len() {
            let end = (position + EVENTS_PER_REQUEST).min(contact.events.len());
            let request = ConversationEvents {
                service: SERVICE.into(),
                events: contact.events[position..end].to_vec(),
                persist: Some(false),
            };
            let op_deadline = Deadline::after(deps.settings.operation_budget).min(deadline);
            match deps.telephony.send_realtime_events(&contact.contact_id, &request, op_deadline).await {
                Ok(_) => sent += end - position,
                Err(e) if e.is_retryable() || matches!(e, ScrtError::Key { .. }) => {
                    if let ScrtError::Limit { retry_after: r, .. } = &e {
                        retry_after = *r;
                    }
                    tracing::warn!(contactId = %contact.contact_id, error = %e, "real-time events not accepted yet");
                    last_error = Some(e.to_string());
                    return (index, sent, dropped, contact.events[position..].to_vec(), retry_after, last_error);
                }
                Err(e) => {
                    dropped += end - position;
                    tracing::error!(
                        contactId = %contact.contact_id,
                        events = end - position,
                        error = %e,
                        "real-time events for contact {} were rejected and will not be retried",
                        contact.contact_id
                    );
                }
            }
            position = end;
        }
        (index, sent, dropped, Vec::new(), retry_after, last_error)
    })
            })
            .buffer_unordered(deps.settings.event_concurrency.max(1))
            .collect()
            .await;
    let mut out = EventsOutcome::default();
    for (index, sent, dropped, unsent, retry_after, last_error) in results {
        out.sent += sent;
        out.dropped += dropped;
        if !unsent.is_empty() {
            out.unsent.insert(index, unsent);
        }
        out.retry_after = out.retry_after.max(retry_after);
        if last_error.is_some() {
            out.last_error = last_error;
        }
    }
    out
}
