//! `scv doctor`: checks one deployment end to end with the functions' own settings and code, and
//! prints a checklist with the fix for each failing check.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use scv_shared::config::{BackupConfig, RestConfig, ScrtConfig};
use scv_shared::keys::{KeyCache, KeySource};
use scv_shared::oauth::SalesforceAuth;
use scv_shared::retry::Deadline;
use scv_shared::scrt::{BulkTranscripts, ScrtError, TelephonyClient};
use serde::Serialize;
use serde_json::json;

use crate::settings::Settings;
use crate::{CliError, Global, Outcome};

/// `scv doctor --help`: what each check proves and when it runs (set on the subcommand, in lib.rs).
pub const LONG_ABOUT: &str = "Check a deployment end to end and print the fix for every failing check.\n\n\
    With --stack NAME the settings, the functions and the streams are read from the deployment's CloudFormation \
    stack (DescribeStacks parameters and outputs, DescribeStackResources); --set and explicit flags still win.\n\n\
    Checks, each run when its settings are given (the functions' variable names, from the environment or --set):\n\
    \x20 key     the private key parameter exists, decrypts and parses (PRIVATE_KEY_PARAM_NAME)\n\
    \x20 token   a token signed with it is accepted by the Telephony Integration API: a harmless request \
    (an empty bulk transcript) whose answer tells 401 from anything else (SALESFORCE_ORG_ID, \
    CALL_CENTER_API_NAME, SCRT_ENDPOINT_BASE)\n\
    \x20 oauth   the OAuth 2.0 JWT bearer grant of the REST API works (SALESFORCE_AUTH_ENDPOINT, \
    CONSUMER_KEY_PARAM_NAME, REST_PRIVATE_KEY_PARAM_NAME, ACCESS_TOKEN_PARAM_NAME, AUDIENCE, SUBJECT)\n\
    \x20 backup  the CTR backup bucket is writable (CTR_BACKUP_S3_BUCKET; a probe object is written and deleted)\n\
    \x20 ctr-mapping, contact-lens-mapping  the Kinesis mapping of CTRDataSync (--ctr-function) and of the \
    Contact Lens consumer (--contact-lens-function) exists, reports batch item failures (ReportBatchItemFailures) \
    and has an on-failure destination; with --ctr-stream / --contact-lens-stream, it reads that stream\n\
    \x20 contact-lens-stream  the Contact Lens stream (--contact-lens-stream) is associated with the instance \
    (--instance-id or CONNECT_INSTANCE_ID) for real-time contact analysis segments\n\
    \x20 alarms  with --stack or --alarms: the CloudWatch alarms of the Implementation Guide's ch. 8 and the \
    failure queues exist (the stack's own, or template.yaml's for CALL_CENTER_API_NAME) and have an alarm action; \
    those in ALARM now are a warning\n\n\
    Exit code 0 when every check that ran passed, 4 when one failed.";

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Read the settings, the functions and the streams from this CloudFormation stack (its
    /// parameters, outputs and resources); explicit flags and --set still win.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The CTRDataSync function (name or ARN): its Kinesis mapping is checked.
    #[arg(long, value_name = "FUNCTION")]
    pub ctr_function: Option<String>,
    /// The CTR stream's ARN: CTRDataSync's mapping must read it.
    #[arg(long, value_name = "ARN")]
    pub ctr_stream: Option<String>,
    /// The Contact Lens consumer function (name or ARN): its Kinesis mapping is checked.
    #[arg(long, value_name = "FUNCTION")]
    pub contact_lens_function: Option<String>,
    /// The Contact Lens stream's ARN: the consumer's mapping must read it and the instance must
    /// send real-time contact analysis segments to it.
    #[arg(long, value_name = "ARN")]
    pub contact_lens_stream: Option<String>,
    /// The Amazon Connect instance id (default CONNECT_INSTANCE_ID).
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,
    /// Check the alarms template.yaml creates for CALL_CENTER_API_NAME (implied by --stack, which
    /// checks the stack's own alarms).
    #[arg(long)]
    pub alarms: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    /// `pass`, `fail`, `warn` or `skip`.
    pub status: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: "pass", detail: detail.into(), fix: None }
    }
    pub(crate) fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: "fail", detail: detail.into(), fix: Some(fix.into()) }
    }
    pub(crate) fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, status: "warn", detail: detail.into(), fix: Some(fix.into()) }
    }
    pub(crate) fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: "skip", detail: detail.into(), fix: None }
    }
}

pub async fn run(args: &DoctorArgs, global: &Global) -> Result<Outcome, CliError> {
    let sdk = crate::sdk(global).await;
    let mut settings = Settings::new(&global.set)?;
    let mut args = args.clone();
    let mut stack_alarms = None;
    if let Some(name) = &args.stack {
        let stack = crate::stack::StackSettings::read(&sdk, name).await?;
        settings = settings.with_stack(stack.variables);
        args.ctr_function = args.ctr_function.or(stack.ctr_function);
        args.ctr_stream = args.ctr_stream.or(stack.ctr_stream);
        args.contact_lens_function = args.contact_lens_function.or(stack.contact_lens_function);
        args.contact_lens_stream = args.contact_lens_stream.or(stack.contact_lens_stream);
        stack_alarms = Some((name.clone(), stack.alarms));
    }
    let args = &args;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let http = scv_shared::aws::http_client();
    let mut checks = Vec::new();

    match ScrtConfig::from_env(&settings) {
        Err(e) => {
            checks.push(Check::skip("key", format!("not checked: {e}")));
            checks.push(Check::skip("token", "not checked: needs the key"));
        }
        Ok(cfg) => {
            let source = KeySource::Ssm { client: ssm.clone(), param: cfg.private_key_param_name.clone() };
            let keys = Arc::new(KeyCache::new(source, Duration::from_secs(300)));
            let param = cfg.private_key_param_name.clone();
            match keys.get(Deadline::after(Duration::from_secs(20))).await {
                Err(e) => {
                    checks.push(Check::fail(
                        "key",
                        e.to_string(),
                        format!(
                            "create or fix the key: `scv keys generate --param {param} --unit <OU>` (then upload the certificate), \
                             or Salesforce's key provisioning; the caller needs ssm:GetParameter and kms:Decrypt on it"
                        ),
                    ));
                    checks.push(Check::skip("token", "not checked: no usable key"));
                }
                Ok(_) => {
                    checks
                        .push(Check::pass("key", format!("{param} exists, decrypts and parses as an RSA private key")));
                    checks.push(token_check(&cfg, http.clone(), keys).await);
                }
            }
        }
    }

    match RestConfig::from_env(&settings) {
        Err(e) => checks.push(Check::skip("oauth", format!("not checked: {e}"))),
        Ok(rest) => {
            let auth = SalesforceAuth::new(&rest, ssm.clone(), http.clone());
            // A token shared in SSM proves nothing about the grant: it is replaced by a fresh grant
            // (and shared, as the functions share theirs).
            let deadline = Deadline::after(Duration::from_secs(20));
            let granted = match auth.token(deadline).await {
                Ok(shared) => auth.refresh(&shared, deadline).await,
                Err(e) => Err(e),
            };
            checks.push(match granted {
                Ok(_) => Check::pass("oauth", format!("the JWT bearer grant at {} answered a token", rest.auth_endpoint)),
                Err(e) => Check::fail(
                    "oauth",
                    e.to_string(),
                    "check the connected app: its certificate matches the key in REST_PRIVATE_KEY_PARAM_NAME, the consumer \
                     key in CONSUMER_KEY_PARAM_NAME is its own, the user in SUBJECT is pre-authorized for it, and AUDIENCE is \
                     https://login.salesforce.com (https://test.salesforce.com for a sandbox)",
                ),
            });
        }
    }

    match BackupConfig::from_env(&settings) {
        Err(e) => checks.push(Check::skip("backup", format!("not checked: {e}"))),
        Ok(backup) => checks.push(backup_check(&crate::s3_client(&sdk), &backup.bucket).await),
    }

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let mappings = [
        ("ctr-mapping", "CTRDataSync", "CtrDataSyncStreamMapping", &args.ctr_function, &args.ctr_stream),
        (
            "contact-lens-mapping",
            "the Contact Lens consumer",
            "ContactLensStreamMapping",
            &args.contact_lens_function,
            &args.contact_lens_stream,
        ),
    ];
    for (name, what, resource, function, stream) in mappings {
        if let Some(function) = function {
            checks.push(mapping_check(&lambda, name, what, resource, function, stream.as_deref()).await);
        }
    }
    if let Some(stream) = &args.contact_lens_stream {
        let instance = args.instance_id.clone().or_else(|| {
            scv_shared::config::Env::get(&settings, scv_shared::config::connect::CONNECT_INSTANCE_ID)
                .filter(|v| !v.is_empty())
        });
        checks.push(match instance {
            None => Check::skip(
                "contact-lens-stream",
                "not checked: the instance is unknown (--instance-id or CONNECT_INSTANCE_ID)",
            ),
            Some(instance) => association_check(&aws_sdk_connect::Client::new(&sdk), &instance, stream).await,
        });
    }

    checks.push(alarms_check(&sdk, &settings, stack_alarms, args.alarms).await);

    let failed = checks.iter().filter(|c| c.status == "fail").count();
    let mut human = String::new();
    for check in &checks {
        let mark = match check.status {
            "pass" => "[ok]  ",
            "fail" => "[FAIL]",
            "warn" => "[warn]",
            _ => "[skip]",
        };
        human.push_str(&format!("{mark} {:<7} {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            human.push_str(&format!("       fix: {fix}\n"));
        }
    }
    human.push_str(&if failed == 0 {
        "Every check that ran passed.\n".to_string()
    } else {
        format!("{failed} check(s) failed.\n")
    });
    let json = json!({"checks": checks, "failed": failed});
    Ok(Outcome { human, json, code: if failed == 0 { 0 } else { 4 } })
}

/// The alarms expected: the stack's own when it lists them (DescribeStackResources), else
/// template.yaml's for the contact center; not checked without `--stack` or `--alarms`.
async fn alarms_check(
    sdk: &aws_config::SdkConfig,
    settings: &Settings,
    stack: Option<(String, Vec<String>)>,
    asked: bool,
) -> Check {
    let call_center = scv_shared::config::Env::get(settings, scv_shared::config::telephony::CALL_CENTER_API_NAME)
        .filter(|v| !v.is_empty());
    let (expected, source) = match (stack, call_center) {
        (Some((name, alarms)), _) if !alarms.is_empty() => (alarms, format!("stack {name}")),
        (None, _) if !asked => return Check::skip("alarms", "not checked: give --stack NAME or --alarms"),
        (_, Some(cc)) => (crate::alarms::template_alarms(&cc), format!("template.yaml for {cc}")),
        (_, None) => {
            return Check::skip("alarms", "not checked: the contact center is unknown (CALL_CENTER_API_NAME)");
        }
    };
    crate::alarms::check(&aws_sdk_cloudwatch::Client::new(sdk), &expected, &source).await
}

/// An empty Create Transcripts in Bulk: refused as invalid input when the token is accepted (nothing
/// is created), 401 when it is not.
async fn token_check(cfg: &ScrtConfig, http: reqwest::Client, keys: Arc<KeyCache>) -> Check {
    let client = TelephonyClient::new(cfg, http, keys);
    let answer =
        client.create_transcripts_bulk(&BulkTranscripts::default(), Deadline::after(Duration::from_secs(20))).await;
    let staged = client.keys().using_staged();
    let param = &cfg.private_key_param_name;
    let accepted = match &answer {
        Ok(_) => Some("the Telephony Integration API accepted a token signed with the key".to_string()),
        Err(ScrtError::Status { status, .. }) if *status != 401 && *status != 403 => Some(format!(
            "the Telephony Integration API accepted the token (it answered HTTP {status} to the empty probe)"
        )),
        Err(_) => None,
    };
    if let Some(detail) = accepted {
        if staged {
            return Check::warn(
                "token",
                format!("Salesforce accepts the staged key ({param}-next), not the key in {param}"),
                format!("finish the rotation: `scv keys promote --param {param}`"),
            );
        }
        return Check::pass("token", detail);
    }
    match answer {
        Ok(_) => Check::pass("token", "accepted"),
        Err(e) => match e.status() {
            Some(401 | 403) => Check::fail(
                "token",
                e.to_string(),
                format!(
                    "Salesforce refuses tokens signed with the key in {param}: upload its certificate \
                     (`scv keys show --param {param}`) to the contact center, and check SALESFORCE_ORG_ID ({}) and \
                     CALL_CENTER_API_NAME ({})",
                    cfg.org_id, cfg.call_center_api_name
                ),
            ),
            _ => Check::fail(
                "token",
                e.to_string(),
                format!("check SCRT_ENDPOINT_BASE ({}) and the network path to it", cfg.endpoint_base),
            ),
        },
    }
}

async fn backup_check(s3: &aws_sdk_s3::Client, bucket: &str) -> Check {
    let key = format!("doctor-probe/{}.json", uuid::Uuid::new_v4());
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{\"probe\":true}"))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await;
    match put {
        Err(e) => Check::fail(
            "backup",
            format!("writing s3://{bucket}/{key} failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            format!(
                "check CTR_BACKUP_S3_BUCKET ({bucket}) names the stack's CtrBackupBucketName output, and that CTRDataSync's \
                 role may s3:PutObject there"
            ),
        ),
        Ok(_) => {
            let _ = s3.delete_object().bucket(bucket).key(&key).send().await;
            Check::pass("backup", format!("s3://{bucket} is writable (a probe object was written and deleted)"))
        }
    }
}

/// The function of a mapping's `FunctionArn` (`...:function:NAME[:QUALIFIER]`), and of a name or ARN.
fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

/// The Kinesis mapping of `function`: it exists (reading `stream` when given), reports batch item
/// failures (the functions return `batchItemFailures`) and has an on-failure destination.
async fn mapping_check(
    lambda: &aws_sdk_lambda::Client,
    name: &'static str,
    what: &str,
    resource: &str,
    function: &str,
    stream: Option<&str>,
) -> Check {
    let wanted = function_name(function);
    let mut found = Vec::new();
    let mut pages = lambda.list_event_source_mappings().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => found.extend(page.event_source_mappings().iter().cloned()),
            Err(e) => {
                return Check::fail(
                    name,
                    format!("ListEventSourceMappings failed: {}", aws_sdk_lambda::error::DisplayErrorContext(&e)),
                    "the caller needs lambda:ListEventSourceMappings",
                );
            }
        }
    }
    let of_function: Vec<_> = found
        .into_iter()
        .filter(|m| m.function_arn().is_some_and(|arn| function_name(arn) == wanted))
        .filter(|m| m.event_source_arn().is_some_and(|arn| arn.contains(":kinesis:")))
        .collect();
    let mapping = match stream {
        Some(stream) => of_function.iter().find(|m| m.event_source_arn() == Some(stream)),
        None => of_function.first(),
    };
    let Some(mapping) = mapping else {
        let reading = stream.map(|s| format!(" reading {s}")).unwrap_or_default();
        return Check::fail(
            name,
            format!("{what} ({wanted}) has no Kinesis event source mapping{reading}"),
            format!(
                "deploy the stack's {resource} (template.yaml), or `aws lambda create-event-source-mapping --function-name {wanted} \
                 --event-source-arn <stream ARN> --starting-position TRIM_HORIZON --function-response-types ReportBatchItemFailures \
                 --destination-config '{{\"OnFailure\":{{\"Destination\":\"<queue ARN>\"}}}}'`"
            ),
        );
    };
    let uuid = mapping.uuid().unwrap_or("<uuid>");
    let source = mapping.event_source_arn().unwrap_or_default();
    let reports = mapping
        .function_response_types()
        .contains(&aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures);
    let destination = mapping
        .destination_config()
        .and_then(|d| d.on_failure())
        .and_then(|f| f.destination())
        .filter(|d| !d.is_empty());
    match (reports, destination) {
        (true, Some(destination)) => Check::pass(
            name,
            format!(
                "{what} reads {source}, reports batch item failures, sends what it cannot process to {destination}"
            ),
        ),
        (false, _) => Check::fail(
            name,
            format!(
                "the mapping {uuid} ({source} -> {wanted}) does not report batch item failures: Lambda ignores the \
                 batchItemFailures {what} returns and retries whole batches"
            ),
            format!(
                "`aws lambda update-event-source-mapping --uuid {uuid} --function-response-types ReportBatchItemFailures`"
            ),
        ),
        (true, None) => Check::fail(
            name,
            format!(
                "the mapping {uuid} ({source} -> {wanted}) has no on-failure destination: records that exhaust \
                 their retries are dropped"
            ),
            format!(
                "`aws lambda update-event-source-mapping --uuid {uuid} --destination-config \
                 '{{\"OnFailure\":{{\"Destination\":\"<queue ARN>\"}}}}'` (the stack's failure queue)"
            ),
        ),
    }
}

/// The instance sends real-time contact analysis segments to `stream` (the voice segments, or the
/// older combined segments type).
async fn association_check(connect: &aws_sdk_connect::Client, instance: &str, stream: &str) -> Check {
    use aws_sdk_connect::types::InstanceStorageResourceType as Type;
    let mut associated = Vec::new();
    for kind in [Type::RealTimeContactAnalysisVoiceSegments, Type::RealTimeContactAnalysisSegments] {
        let mut pages = connect
            .list_instance_storage_configs()
            .instance_id(instance)
            .resource_type(kind.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => associated.extend(
                    page.storage_configs()
                        .iter()
                        .filter_map(|c| c.kinesis_stream_config())
                        .map(|k| (kind.as_str().to_string(), k.stream_arn().to_string())),
                ),
                Err(e) => {
                    return Check::fail(
                        "contact-lens-stream",
                        format!(
                            "ListInstanceStorageConfigs ({instance}) failed: {}",
                            aws_sdk_connect::error::DisplayErrorContext(&e)
                        ),
                        "check the instance id, and that the caller may connect:ListInstanceStorageConfigs",
                    );
                }
            }
        }
    }
    if let Some((kind, _)) = associated.iter().find(|(_, arn)| arn == stream) {
        return Check::pass("contact-lens-stream", format!("instance {instance} sends {kind} to {stream}"));
    }
    let others = if associated.is_empty() {
        "no stream is associated for real-time contact analysis".to_string()
    } else {
        format!("it sends them to {}", associated.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(", "))
    };
    Check::fail(
        "contact-lens-stream",
        format!("instance {instance} does not send real-time contact analysis segments to {stream}: {others}"),
        format!(
            "`aws connect associate-instance-storage-config --instance-id {instance} --resource-type \
             REAL_TIME_CONTACT_ANALYSIS_VOICE_SEGMENTS --storage-config \
             '{{\"StorageType\":\"KINESIS_STREAM\",\"KinesisStreamConfig\":{{\"StreamArn\":\"{stream}\"}}}}'` \
             (Amazon Connect console: Data storage, Live media streaming / Contact Lens)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scv doctor --help` is the runbook's list of checks: every check the doctor runs is in it.
    #[test]
    fn the_help_lists_every_check() {
        use clap::CommandFactory as _;
        let cli = crate::Cli::command();
        let doctor = cli.find_subcommand("doctor").expect("the doctor subcommand");
        let help = doctor.get_long_about().map(ToString::to_string).unwrap_or_default();
        for check in
            ["key", "token", "oauth", "backup", "ctr-mapping", "contact-lens-mapping", "contact-lens-stream", "alarms"]
        {
            assert!(help.contains(&format!("  {check}")) || help.contains(&format!(", {check}")), "{check}: {help}");
        }
    }

    #[test]
    fn function_names_of_arns_and_names() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:ACME-CTRDataSync:live"),
            "ACME-CTRDataSync"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:ACME-CTRDataSync"),
            "ACME-CTRDataSync"
        );
        assert_eq!(function_name("ACME-CTRDataSync"), "ACME-CTRDataSync");
    }
}
