//! `scv ctr`: the CTR resync on demand (the code CtrSyncRetry runs: SOQL for VoiceCalls with no CTR
//! data, the S3 backup of each, the Telephony Integration API update) and the quarantined records.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use scv_shared::config::{BackupConfig, RestConfig, ScrtConfig};
use scv_shared::ctr::custom_fields_from_env;
use scv_shared::ctr_backup::CtrBackup;
use scv_shared::ctr_sync::{Applied, CtrSync, DecodedCtr};
use scv_shared::oauth::SalesforceAuth;
use scv_shared::rest::SalesforceRest;
use scv_shared::resync::{ResyncClients, unsynced_query};
use scv_shared::retry::Deadline;
use scv_shared::scrt::TelephonyClient;
use serde_json::{Value, json};

use crate::settings::{Settings, config_error};
use crate::{CliError, Global, Outcome};

#[derive(Debug, Subcommand)]
pub enum CtrCommand {
    /// Resync the VoiceCalls created since DURATION ago that never got their CTR data.
    ///
    /// Runs the resync CtrSyncRetry runs every hour, now, over the window you give: a SOQL query for
    /// VoiceCalls with no CTR data (CustomerHoldDuration = null) created between DURATION ago and the
    /// grace period ago, then for each the CTR backup from S3 and the update through the Telephony
    /// Integration API. Prints found / resynced / noBackup / failed; exit code 4 when some failed.
    ///
    /// Settings (the functions' variable names, from the environment or --set): SALESFORCE_ORG_ID,
    /// CALL_CENTER_API_NAME, SCRT_ENDPOINT_BASE, PRIVATE_KEY_PARAM_NAME, CTR_BACKUP_S3_BUCKET, and the
    /// REST API's SALESFORCE_AUTH_ENDPOINT, SALESFORCE_REST_API_ENDPOINT_BASE, CONSUMER_KEY_PARAM_NAME,
    /// REST_PRIVATE_KEY_PARAM_NAME, ACCESS_TOKEN_PARAM_NAME, AUDIENCE, SUBJECT.
    Resync(ResyncArgs),
    /// Quarantined CTRs: records the CTR sync kept aside with the reason (a malformed CTR, a
    /// contact Salesforce refused).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
}

#[derive(Debug, Args)]
pub struct ResyncArgs {
    /// How far back to look: e.g. 90m, 6h, 2d.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Duration,
    /// Calls younger than this are left alone (their CTR may still be on its way); default the
    /// functions' CTR_RESYNC_GRACE_MINUTES (15m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub grace: Option<Duration>,
    /// At most this many calls (default CTR_RESYNC_MAX_CALLS, 200).
    #[arg(long)]
    pub max: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List the quarantined CTRs with their reasons (CTR_BACKUP_S3_BUCKET, CTR_QUARANTINE_PREFIX).
    List,
    /// Print one quarantined record, by its S3 key (as `list` shows it).
    Show {
        /// The object key, e.g. quarantine/<contactId>/<sequenceNumber>.json.
        key: String,
    },
    /// Replay quarantined CTRs after a fix, through the CTR sync's own steps.
    ///
    /// For each record, the code CTRDataSync runs: the CTR read as CTRDataSync reads it (a record
    /// kept as raw data is decoded again), skipped if it is not to be synced (NoSync, not a voice
    /// call), backed up unless a newer CTR of the contact is (newest wins), mapped with this
    /// deployment's custom fields (CTR_CUSTOM_FIELDS or CTR_CUSTOM_FIELDS_PARAM_NAME), then the
    /// VoiceCall updated through the Telephony Integration API. A replayed or superseded record
    /// leaves the quarantine; a failed one stays, with the reason printed. Exit code 4 when one failed.
    /// Needs the Telephony Integration API settings and CTR_BACKUP_S3_BUCKET.
    Replay {
        /// The object keys to replay (as `list` shows them).
        #[arg(required_unless_present = "all")]
        keys: Vec<String>,
        /// Replay every quarantined record.
        #[arg(long, conflicts_with = "keys")]
        all: bool,
    },
}

/// `90s`, `15m`, `6h`, `2d` (a bare number is minutes).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "m"), |i| text.split_at(i));
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 90m, 6h, 2d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("{text:?}: unknown unit {other:?} (s, m, h, d)")),
    };
    Ok(Duration::from_secs(seconds))
}

pub async fn run(command: &CtrCommand, global: &Global) -> Result<Outcome, CliError> {
    let settings = Settings::new(&global.set)?;
    let sdk = crate::sdk(global).await;
    let s3 = crate::s3_client(&sdk);
    match command {
        CtrCommand::Resync(args) => resync(args, &settings, &sdk, s3, global.json).await,
        CtrCommand::Quarantine(QuarantineCommand::List) => {
            let backup = BackupConfig::from_env(&settings).map_err(config_error)?;
            list(&s3, &backup, global.json).await
        }
        CtrCommand::Quarantine(QuarantineCommand::Replay { keys, all }) => {
            let backup_cfg = BackupConfig::from_env(&settings).map_err(config_error)?;
            let scrt = ScrtConfig::from_env(&settings).map_err(config_error)?;
            let ssm = aws_sdk_ssm::Client::new(&sdk);
            // The deployment's custom field mapping, as CTRDataSync reads it at cold start.
            let custom_fields = custom_fields_from_env(&settings, &ssm).await.map_err(config_error)?;
            let telephony = TelephonyClient::from_config(&scrt, ssm, scv_shared::aws::http_client(), &settings);
            let keys = if *all { quarantined_keys(&s3, &backup_cfg).await? } else { keys.clone() };
            let backup = CtrBackup::new(s3.clone(), backup_cfg);
            let sync = CtrSync {
                telephony: &telephony,
                backup: Some(&backup),
                custom_fields: &custom_fields,
                update_budget: scrt.deadline,
            };
            replay(&s3, &sync, &keys, global.json).await
        }
        CtrCommand::Quarantine(QuarantineCommand::Show { key }) => {
            let backup = BackupConfig::from_env(&settings).map_err(config_error)?;
            let body = get(&s3, &backup.bucket, key).await?.ok_or_else(|| {
                CliError::not_found(format!(
                    "s3://{}/{key} does not exist (see `scv ctr quarantine list`)",
                    backup.bucket
                ))
            })?;
            let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            let human = format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(Outcome::ok(human, value))
        }
    }
}

fn spinner(message: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

async fn resync(
    args: &ResyncArgs,
    settings: &Settings,
    sdk: &aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    quiet: bool,
) -> Result<Outcome, CliError> {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let http = scv_shared::aws::http_client();
    let rest_cfg = RestConfig::from_env(settings).map_err(config_error)?;
    let auth = Arc::new(SalesforceAuth::new(&rest_cfg, ssm.clone(), http.clone()));
    let rest = SalesforceRest::new(&rest_cfg, http.clone(), auth);
    let mut clients = ResyncClients::from_env(settings, ssm, s3, http).map_err(config_error)?;
    if let Some(max) = args.max {
        clients.settings.max_calls = max.max(1);
    }
    let grace = args.grace.unwrap_or(clients.settings.grace);
    let query = unsynced_query(chrono::Utc::now(), args.since, grace, clients.settings.max_calls);
    let bar = spinner("resyncing VoiceCalls that missed their CTR", quiet);
    let counts = clients.run(&rest, Some(&query), Deadline::after(Duration::from_secs(15 * 60))).await;
    bar.finish_and_clear();
    let counts = counts.map_err(|e| CliError::failed(e.to_string()))?;
    let human = format!(
        "found {}, resynced {}, noBackup {}, failed {}\n{}",
        counts.found,
        counts.resynced,
        counts.no_backup,
        counts.failed,
        if counts.no_backup > 0 {
            "noBackup: those CTRs never reached the backup bucket; check CTRDataSync's errors and its failure queue.\n"
        } else {
            ""
        }
    );
    let code = if counts.failed > 0 { 4 } else { 0 };
    Ok(Outcome { human, json: json!({"query": query, "counts": counts}), code })
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<String>, CliError> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| CliError::failed(format!("reading s3://{bucket}/{key}: {e}")))?
                .into_bytes();
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Err(e)
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
        {
            Ok(None)
        }
        Err(e) => Err(CliError::failed(format!(
            "reading s3://{bucket}/{key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ))),
    }
}

async fn quarantined_keys(s3: &aws_sdk_s3::Client, backup: &BackupConfig) -> Result<Vec<String>, CliError> {
    let mut keys = Vec::new();
    let mut pages =
        s3.list_objects_v2().bucket(&backup.bucket).prefix(&backup.quarantine_prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            CliError::failed(format!(
                "listing s3://{}/{}: {}",
                backup.bucket,
                backup.quarantine_prefix,
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))
        })?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    Ok(keys)
}

async fn list(s3: &aws_sdk_s3::Client, backup: &BackupConfig, quiet: bool) -> Result<Outcome, CliError> {
    let keys = quarantined_keys(s3, backup).await?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(keys.len() as u64) };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} quarantined records read") {
        bar.set_style(style);
    }
    let mut items = Vec::new();
    for key in &keys {
        let body = get(s3, &backup.bucket, key).await?.unwrap_or_default();
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        items.push(json!({
            "key": key,
            "contactId": value.get("contactId").cloned().unwrap_or(Value::Null),
            "reason": value.get("reason").cloned().unwrap_or(Value::Null),
            "quarantinedAt": value.get("quarantinedAt").cloned().unwrap_or(Value::Null),
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut human =
        format!("{} quarantined CTR(s) in s3://{}/{}\n", items.len(), backup.bucket, backup.quarantine_prefix);
    for item in &items {
        human.push_str(&format!(
            "{}  {}  {}\n  reason: {}\n",
            item["quarantinedAt"].as_str().unwrap_or("-"),
            item["contactId"].as_str().unwrap_or("(no contact id)"),
            item["key"].as_str().unwrap_or_default(),
            item["reason"].as_str().unwrap_or("(none)")
        ));
    }
    Ok(Outcome::ok(human, json!({"bucket": backup.bucket, "quarantined": items})))
}

/// How one replay ended.
enum Replayed {
    Done,
    Superseded(String),
    Skipped(String),
    Failed(String),
}

/// One quarantined record through the CTR sync's own steps ([`CtrSync::apply`]: the code
/// CTRDataSync runs, with this deployment's custom fields).
async fn replay_one(s3: &aws_sdk_s3::Client, sync: &CtrSync<'_, TelephonyClient>, key: &str) -> Replayed {
    let bucket = sync.backup.map(CtrBackup::bucket).unwrap_or_default();
    let body = match get(s3, bucket, key).await {
        Ok(Some(body)) => body,
        Ok(None) => return Replayed::Failed(format!("s3://{bucket}/{key} does not exist")),
        Err(e) => return Replayed::Failed(e.message),
    };
    let entry: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    // The CTR as read when it arrived, else its raw data decoded again (a fixed decoder reads it now).
    let decoded = match (entry.get("record").filter(|r| !r.is_null()), entry.get("data").and_then(Value::as_str)) {
        (Some(record), _) => match DecodedCtr::decode(record.clone()) {
            Ok(decoded) => decoded,
            Err(e) => return Replayed::Failed(e),
        },
        (None, Some(data)) => match DecodedCtr::from_data(data) {
            Ok(decoded) => decoded,
            Err(e) => return Replayed::Skipped(format!("the record's raw data still cannot be decoded: {e}")),
        },
        (None, None) => return Replayed::Skipped("the quarantined object holds neither a record nor its data".into()),
    };
    let budget = Deadline::after(sync.update_budget);
    match sync.apply(&decoded, &decoded.value.to_string(), budget).await {
        Ok(Applied::Updated { .. }) => Replayed::Done,
        Ok(Applied::Superseded(why)) => Replayed::Superseded(why.to_string()),
        Ok(Applied::Skipped(skip)) => Replayed::Skipped(skip.to_string()),
        Err(e) => Replayed::Failed(e.to_string()),
    }
}

async fn replay(
    s3: &aws_sdk_s3::Client,
    sync: &CtrSync<'_, TelephonyClient>,
    keys: &[String],
    quiet: bool,
) -> Result<Outcome, CliError> {
    let bucket = sync.backup.map(CtrBackup::bucket).unwrap_or_default();
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(keys.len() as u64) };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} quarantined records replayed") {
        bar.set_style(style);
    }
    let mut results = Vec::new();
    let (mut replayed, mut superseded_count, mut skipped, mut failed) = (0, 0, 0, 0);
    for key in keys {
        let outcome = replay_one(s3, sync, key).await;
        let (status, detail) = match outcome {
            Replayed::Done => ("replayed", String::new()),
            Replayed::Superseded(why) => ("superseded", why),
            Replayed::Skipped(why) => ("skipped", why),
            Replayed::Failed(why) => ("failed", why),
        };
        match status {
            "replayed" => replayed += 1,
            "superseded" => superseded_count += 1,
            "skipped" => skipped += 1,
            _ => failed += 1,
        }
        // Done with it: the record leaves the quarantine.
        if matches!(status, "replayed" | "superseded")
            && let Err(e) = s3.delete_object().bucket(bucket).key(key).send().await
        {
            bar.println(format!(
                "{key}: replayed, but not removed from the quarantine: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ));
        }
        results.push(json!({"key": key, "status": status, "detail": detail}));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut human = String::new();
    for r in &results {
        human.push_str(&format!(
            "{:<10} {}",
            r["status"].as_str().unwrap_or_default(),
            r["key"].as_str().unwrap_or_default()
        ));
        if let Some(detail) = r["detail"].as_str().filter(|d| !d.is_empty()) {
            human.push_str(&format!("\n           {detail}"));
        }
        human.push('\n');
    }
    human
        .push_str(&format!("replayed {replayed}, superseded {superseded_count}, skipped {skipped}, failed {failed}\n"));
    let json = json!({
        "results": results,
        "counts": {"replayed": replayed, "superseded": superseded_count, "skipped": skipped, "failed": failed},
    });
    Ok(Outcome { human, json, code: if failed > 0 { 4 } else { 0 } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
