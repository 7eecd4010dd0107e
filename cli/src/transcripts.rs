//! `scv transcripts`: the Contact Lens transcript back-fill on demand, through the code
//! ContactDataSync runs (`scv_shared::conversation`: `TranscriptBackfill` for the upload,
//! `fetch_statuses` for the statuses; Service Cloud Voice Implementation Guide, ch. 5 "Upload or
//! Update Transcripts with Connect REST API" and ch. 6 "ContactDataSync Lambda Function";
//! docs/contact-data-sync.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use scv_shared::config::{RestConfig, TranscriptConfig};
use scv_shared::conversation::{
    self, ContactRequest, ContactResult, SUCCESS, TranscriptBackfill, contacts_analysed_on, voice_calls_of,
};
use scv_shared::ids::PathId;
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::SalesforceRest;
use scv_shared::retry::Deadline;
use serde_json::{Value, json};

use crate::settings::{Settings, config_error};
use crate::{CliError, Global, Outcome};

#[derive(Debug, Subcommand)]
pub enum TranscriptsCommand {
    /// Upload contacts' Contact Lens transcripts to their VoiceCalls (what ContactDataSync's
    /// uploadTranscript does).
    ///
    /// For each contact: DescribeContact (CONNECT_INSTANCE_ID) for its agent and times, its latest
    /// Contact Lens analysis file under Analysis/Voice/ of the bucket, one conversation built from it
    /// and uploaded with the Connect REST API (BATCH_SIZE conversations per request). A contact whose
    /// VoiceCall id is not given is looked up by VendorCallKey. Prints each contact's upload id or
    /// the reason it was not uploaded; exit code 4 when one was not, 3 when --date finds no file.
    ///
    /// Settings (the functions' variable names, from the environment or --set): CALL_CENTER_API_NAME,
    /// CONNECT_INSTANCE_ID, CONTACT_LENS_ANALYSIS_BUCKET (or --bucket), BATCH_SIZE, and the REST API's
    /// SALESFORCE_AUTH_ENDPOINT, SALESFORCE_REST_API_ENDPOINT_BASE, CONSUMER_KEY_PARAM_NAME,
    /// REST_PRIVATE_KEY_PARAM_NAME, ACCESS_TOKEN_PARAM_NAME, AUDIENCE, SUBJECT.
    Backfill(BackfillArgs),
    /// The status of earlier uploads, by upload id (what ContactDataSync's fetchUploadIdsStatus does).
    ///
    /// Prints SUCCESS, FAILED, PENDING or NOT_FOUND for each id; exit code 0 when every upload
    /// succeeded, 5 when one is still pending (ask again), 4 when one failed or is unknown.
    Status {
        /// The upload ids `backfill` printed.
        #[arg(required = true, value_name = "UPLOAD_ID")]
        upload_ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["contacts", "date"])))]
pub struct BackfillArgs {
    /// The contacts: a JSON file (uploadTranscript's `payload` array, or the whole event), or a
    /// text file of lines `contactId[,voiceCallId]` (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub contacts: Option<PathBuf>,
    /// Every contact whose analysis file was written on this day (YYYY-MM-DD): the files under
    /// Analysis/Voice/YYYY/MM/DD/ of the bucket.
    #[arg(long, value_name = "DAY", value_parser = parse_day)]
    pub date: Option<chrono::NaiveDate>,
    /// The bucket of the analysis files (default CONTACT_LENS_ANALYSIS_BUCKET).
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
}

fn parse_day(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| format!("{text:?}: expected YYYY-MM-DD ({e})"))
}

/// The contacts of a `--contacts` file: JSON (the payload array or the event), else lines.
pub fn read_contacts(text: &str) -> Result<Vec<ContactRequest>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let items = match &value {
            Value::Array(items) => items,
            Value::Object(o) => o
                .get("payload")
                .and_then(Value::as_array)
                .ok_or("a JSON object must be an uploadTranscript event with a payload array")?,
            _ => return Err("expected a JSON array of {\"contactId\", \"relatedRecords\"}".into()),
        };
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value::<ContactRequest>(item.clone()).map_err(|e| {
                    format!("item {i}: expected {{\"contactId\": string, \"relatedRecords\": [string]}}: {e}")
                })
            })
            .collect();
    }
    let mut contacts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split([',', ' ', '\t']).map(str::trim).filter(|f| !f.is_empty());
        let contact_id = fields.next().ok_or_else(|| format!("line {}: no contact id", n + 1))?;
        contacts.push(ContactRequest {
            contact_id: contact_id.to_string(),
            related_records: fields.map(str::to_string).collect(),
        });
    }
    Ok(contacts)
}

pub async fn run(command: &TranscriptsCommand, global: &Global) -> Result<Outcome, CliError> {
    let settings = Settings::new(&global.set)?;
    let sdk = crate::sdk(global).await;
    let rest_cfg = RestConfig::from_env(&settings).map_err(config_error)?;
    let http = scv_shared::aws::http_client();
    let auth = Arc::new(SalesforceAuth::new(&rest_cfg, aws_sdk_ssm::Client::new(&sdk), http.clone()));
    let rest = SalesforceRest::new(&rest_cfg, http, auth);
    let budget = conversation::request_budget(rest.budget(), Deadline::after(Duration::from_secs(30 * 60)));
    match command {
        TranscriptsCommand::Status { upload_ids } => status(&rest, upload_ids, budget).await,
        TranscriptsCommand::Backfill(args) => {
            let cfg = TranscriptConfig::from_env(&settings).map_err(config_error)?;
            let bucket = args.bucket.clone().or_else(|| cfg.bucket.clone()).ok_or_else(|| {
                CliError::usage(format!(
                    "the analysis bucket is unknown: pass --bucket or set CONTACT_LENS_ANALYSIS_BUCKET (the official stack's is {}-<account id>)",
                    cfg.call_center_api_name.to_lowercase()
                ))
            })?;
            let s3 = crate::s3_client(&sdk);
            let contacts = match (&args.contacts, args.date) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| CliError::usage(format!("--contacts {}: {e}", path.display())))?;
                    read_contacts(&text).map_err(|e| CliError::usage(format!("--contacts {}: {e}", path.display())))?
                }
                (None, Some(day)) => {
                    let found = contacts_analysed_on(&s3, &bucket, day).await.map_err(CliError::failed)?;
                    if found.is_empty() {
                        return Err(CliError::not_found(format!(
                            "no Contact Lens analysis file in s3://{bucket}/{}{}/",
                            conversation::ANALYSIS_PREFIX,
                            day.format("%Y/%m/%d")
                        )));
                    }
                    found
                        .into_iter()
                        .map(|contact_id| ContactRequest { contact_id, related_records: Vec::new() })
                        .collect()
                }
                (None, None) => return Err(CliError::usage("--contacts FILE or --date DAY")),
            };
            if contacts.is_empty() {
                return Err(CliError::usage("no contact to back-fill"));
            }
            let connect = aws_sdk_connect::Client::new(&sdk);
            let limiter = std::sync::Arc::new(scv_shared::concurrency::Aimd::new(conversation::UPLOAD_CONCURRENCY));
            let backfill = TranscriptBackfill {
                s3: &s3,
                connect: &connect,
                rest: &rest,
                bucket,
                instance_id: cfg.instance_id.clone(),
                batch_size: cfg.batch_size,
                limiter: &limiter,
            };
            backfill_contacts(&backfill, contacts, &budget, global.json).await
        }
    }
}

async fn backfill_contacts(
    backfill: &TranscriptBackfill<'_>,
    mut contacts: Vec<ContactRequest>,
    budget: &impl Fn() -> Deadline,
    quiet: bool,
) -> Result<Outcome, CliError> {
    // Each contact once (the first entry), as one uploadTranscript request takes it.
    let mut seen = std::collections::HashSet::new();
    contacts.retain(|c| seen.insert(c.contact_id.clone()));
    // A contact without its VoiceCall id: looked up by VendorCallKey.
    let unknown: Vec<String> = contacts
        .iter()
        .filter(|c| c.related_records.is_empty() && PathId::parse("contactId", &c.contact_id).is_ok())
        .map(|c| c.contact_id.clone())
        .collect();
    if !unknown.is_empty() {
        let calls = voice_calls_of(backfill.rest, &unknown, budget)
            .await
            .map_err(|e| CliError::failed(format!("looking up the contacts' VoiceCalls: {e}")))?;
        for contact in contacts.iter_mut().filter(|c| c.related_records.is_empty()) {
            if let Some(id) = calls.get(&contact.contact_id) {
                contact.related_records.push(id.clone());
            }
        }
    }
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(contacts.len() as u64) };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} contacts back-filled [{elapsed}]") {
        bar.set_style(style);
    }
    let mut results: Vec<ContactResult> = Vec::with_capacity(contacts.len());
    let mut ready = Vec::new();
    let mut order = Vec::new();
    for contact in &contacts {
        if contact.related_records.is_empty() && PathId::parse("contactId", &contact.contact_id).is_ok() {
            order.push(Some(ContactResult {
                contact_id: contact.contact_id.clone(),
                upload_id: None,
                analysis_file: None,
                entries: 0,
                reason: Some(format!(
                    "no VoiceCall with VendorCallKey {} in Salesforce: give its id in the file (contactId,voiceCallId)",
                    contact.contact_id
                )),
                retryable: false,
            }));
            bar.inc(1);
        } else {
            order.push(None);
            ready.push(contact.clone());
        }
    }
    let mut uploaded_results = Vec::with_capacity(ready.len());
    for chunk in ready.chunks(backfill.batch_size.max(1)) {
        uploaded_results.extend(backfill.upload(chunk, budget).await);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let mut uploaded_results = uploaded_results.into_iter();
    for slot in order {
        if let Some(result) = slot.or_else(|| uploaded_results.next()) {
            results.push(result);
        }
    }
    let uploaded = results.iter().filter(|r| r.uploaded()).count();
    let failed = results.len() - uploaded;
    let retryable = results.iter().filter(|r| !r.uploaded() && r.retryable).count();
    let mut human = String::new();
    for r in &results {
        if let Some(upload_id) = &r.upload_id {
            human.push_str(&format!("uploaded  {}  uploadId {upload_id} ({} entries)\n", r.contact_id, r.entries));
        } else {
            human.push_str(&format!(
                "FAILED    {}{}\n          {}\n",
                r.contact_id,
                if r.retryable { " (retryable)" } else { "" },
                r.reason.as_deref().unwrap_or("not uploaded")
            ));
        }
    }
    human.push_str(&format!("uploaded {uploaded}, failed {failed} ({retryable} retryable)\n"));
    let ids: Vec<&str> = results.iter().filter_map(|r| r.upload_id.as_deref()).collect();
    if !ids.is_empty() {
        human.push_str(&format!("next: scv transcripts status {}\n", ids.join(" ")));
    }
    let mut json = conversation::upload_answer(&results);
    json["counts"] = json!({"uploaded": uploaded, "failed": failed, "retryable": retryable});
    Ok(Outcome { human, json, code: if failed > 0 { 4 } else { 0 } })
}

async fn status(
    rest: &SalesforceRest,
    upload_ids: &[String],
    budget: impl Fn() -> Deadline,
) -> Result<Outcome, CliError> {
    for id in upload_ids {
        PathId::parse("upload id", id).map_err(|e| CliError::usage(e.to_string()))?;
    }
    let answer = conversation::fetch_statuses(rest, upload_ids, budget)
        .await
        .map_err(|e| CliError::failed(format!("fetching the upload statuses: {e}")))?;
    let statuses = answer["conversationBulkUploadStatuses"].as_array().cloned().unwrap_or_default();
    let mut human = String::new();
    let (mut pending, mut bad) = (0, 0);
    for s in &statuses {
        let state = s["status"].as_str().unwrap_or("UNKNOWN");
        match state {
            SUCCESS => {}
            "PENDING" | "IN_PROGRESS" => pending += 1,
            _ => bad += 1,
        }
        human.push_str(&format!("{:<10} {}", state, s["uploadId"].as_str().unwrap_or_default()));
        if let Some(conversation) = s["conversationId"].as_str() {
            human.push_str(&format!("  contact {conversation}"));
        }
        if let Some(n) = s["successEntryCount"].as_u64().filter(|_| state == SUCCESS) {
            human.push_str(&format!("  {n} entries"));
        }
        if let Some(detail) = s["errorDetail"].as_str().filter(|d| !d.is_empty()) {
            human.push_str(&format!("\n           {detail}"));
        }
        human.push('\n');
    }
    let code = if bad > 0 {
        4
    } else if pending > 0 {
        human.push_str("some uploads are still pending: ask again in a minute\n");
        5
    } else {
        0
    };
    Ok(Outcome { human, json: answer, code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_files_in_every_form() {
        let lines = "# exported\nc-1,0LQ000000000001\n\nc-2   # no VoiceCall id\nc-3\t0LQ3,0LQ4\n";
        let read = read_contacts(lines).expect("lines");
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].related_records, vec!["0LQ000000000001"]);
        assert!(read[1].related_records.is_empty());
        assert_eq!(read[2].related_records, vec!["0LQ3", "0LQ4"]);
        let array = r#"[{"contactId": "c-1", "relatedRecords": ["0LQ1"]}, {"contactId": "c-2"}]"#;
        assert_eq!(read_contacts(array).expect("array").len(), 2);
        let event =
            r#"{"operation": "uploadTranscript", "payload": [{"contactId": "c-1", "relatedRecords": ["0LQ1"]}]}"#;
        assert_eq!(read_contacts(event).expect("event")[0].contact_id, "c-1");
        assert!(read_contacts(r#"[{"relatedRecords": []}]"#).unwrap_err().contains("item 0"));
        assert!(read_contacts(r#"{"operation": "x"}"#).is_err());
        assert!(parse_day("2026-11-21").is_ok());
        assert!(parse_day("21/11/2026").is_err());
    }
}
