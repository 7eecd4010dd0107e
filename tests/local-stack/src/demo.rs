//! `make demo`: a call's life through the real function binaries, against the Salesforce emulator
//! and the local AWS emulator, told as a readable account (and written as JSON under
//! `target/demo/`). Any step that did not reach Salesforce as expected is a problem; the demo exits
//! non-zero when there is one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig, RecordedRequest, RoutingAnswer, RoutingConfig, VoiceCall};

use crate::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use crate::runtime::{FunctionProcess, FunctionSpec, binary_path};

pub const ORG_ID: &str = "00DXX0000000001";
pub const CALL_CENTER: &str = "ACME_CC";
pub const KEY_PARAM: &str = "ACME_CC-scrt-jwt-auth-private-key";
pub const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
pub const REST_USERNAME: &str = "integration@acme.example";
pub const ROUTED_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";

/// Where the demo finds its inputs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub events_root: PathBuf,
    /// Where the function binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    pub report_dir: PathBuf,
}

/// Every function binary the demo runs.
pub const FUNCTIONS: &[&str] = &[
    "invoke-telephony-integration-api",
    "invoke-salesforce-rest-api",
    "ctr-data-sync",
    "ctr-sync-retry",
    "contact-lens-consumer",
    "contact-lens-processor",
    "handle-contact-events",
    "realtime-alert",
    "post-call-analysis-trigger",
    "voicemail-audio-processing",
    "voicemail-transcribe",
    "voicemail-packaging",
];

impl DemoOptions {
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            events_root: crate::workspace_root().join("events"),
            bin_dir: binary_path("invoke-telephony-integration-api")
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            report_dir: crate::target_dir().join("demo"),
        }
    }
}

/// One invocation of the demo.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub function: String,
    pub event: String,
    pub method: String,
    pub contact_id: Option<String>,
    pub output: Value,
    pub error: Option<String>,
    pub salesforce: Vec<SalesforceCall>,
    pub duration_ms: u128,
    pub problems: Vec<String>,
}

/// A request Salesforce received during a step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceCall {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: Value,
}

impl From<&RecordedRequest> for SalesforceCall {
    fn from(r: &RecordedRequest) -> Self {
        Self { method: r.method.clone(), path: r.path.clone(), status: r.status, body: r.body.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub steps: Vec<Step>,
    pub voice_calls: Vec<VoiceCall>,
    pub cold_start_ms: Option<u128>,
    pub problems: Vec<String>,
}

impl DemoReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.steps.iter().all(|s| s.problems.is_empty())
    }
}

/// Runs the demo, printing the account to `out`.
pub async fn run(options: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport> {
    let keys = TestKeyPair::generate()?;
    let mut routing = RoutingConfig::default();
    routing
        .by_flow
        .insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(ROUTED_AGENT.into()), queue: None });
    let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
    config.scrt_public_keys = vec![keys.public_pem.clone()];
    config.routing = routing;
    let app_keys = TestKeyPair::generate()?;
    config.rest.consumer_key = CONSUMER_KEY.into();
    config.rest.connected_app_public_keys = vec![app_keys.public_pem.clone()];
    config.rest.usernames = vec![REST_USERNAME.into()];
    let emulator = Emulator::start(config).await.context("starting the Salesforce emulator")?;
    let moto = Moto::start().context("starting the local AWS emulator (moto)")?;
    let sdk = aws_sdk_config(&moto.endpoint()).await;
    put_secure_parameter(&sdk, KEY_PARAM, &keys.private_pkcs1_pem).await.context("storing the private key in SSM")?;

    writeln!(out, "scv-lambdas demo: a call's life through the real function binaries")?;
    writeln!(
        out,
        "  Salesforce emulator  {}  (org {ORG_ID}, call center {CALL_CENTER}, public key installed)",
        emulator.base_url()
    )?;
    writeln!(out, "  local AWS (moto)     {}  (private key in SSM SecureString {KEY_PARAM})", moto.endpoint())?;

    let mut report =
        DemoReport { steps: Vec::new(), voice_calls: Vec::new(), cold_start_ms: None, problems: Vec::new() };
    for binary in FUNCTIONS.iter().map(|f| options.bin(f)) {
        if !binary.exists() {
            anyhow::bail!("{} is missing: build it with `make build-debug` (make demo does)", binary.display());
        }
    }
    let binary = &options.bin("invoke-telephony-integration-api");
    let spec = FunctionSpec::new("InvokeTelephonyIntegrationApi", binary)
        .with_envs(aws_env(&moto.endpoint()))
        .with_envs(function_env(&emulator, "invoke-telephony-integration-api")?)
        .with_env("LOG_LEVEL", "debug")
        .with_timeout(Duration::from_secs(8));
    let function = FunctionProcess::spawn(spec).await.context("starting the function")?;
    function.wait_ready(Duration::from_secs(10)).await.context("the function did not start")?;
    report.cold_start_ms = function.init_duration().map(|d| d.as_millis());
    writeln!(
        out,
        "  function             {} (ready in {} ms)\n",
        binary.display(),
        report.cold_start_ms.map_or_else(|| "?".into(), |ms| ms.to_string())
    )?;

    let dir = options.events_root.join("invoke-telephony-integration-api");
    for (index, path) in event_files(&dir)?.iter().enumerate() {
        let step = invoke_step(&function, &emulator, "InvokeTelephonyIntegrationApi", path).await?;
        print_step(out, index + 1, &step)?;
        let live = path.file_name().is_some_and(|n| n == "03-send-message.json");
        report.steps.push(step);
        if live {
            // The rep and the caller talk: Contact Lens streams the transcript and signals.
            writeln!(
                out,
                "\n    ContactLensConsumer -> ContactLensProcessor (live transcript and signals of the call):"
            )?;
            let step = contact_lens_section(options, &emulator, &moto.endpoint(), &keys, out).await?;
            report.steps.push(step);
            writeln!(out)?;
        }
    }

    check_logs(&function.logs(), &keys, &mut report.problems);
    function.shutdown().await?;

    // InvokeSalesforceRestApi: a flow looks up the caller, opens a case, works it, searches, alerts.
    writeln!(out, "\nInvokeSalesforceRestApi (OAuth 2.0 JWT bearer as {REST_USERNAME}):")?;
    let rest_steps = rest_section(options, &emulator, &sdk, &moto.endpoint(), &app_keys, out).await?;
    report.steps.extend(rest_steps);

    // The call ends: its CTRs arrive on the Kinesis stream.
    writeln!(out, "\nCTRDataSync (the calls' contact trace records, backed up to S3 first):")?;
    let ctr_steps = ctr_section(options, &emulator, &sdk, &moto.endpoint(), &keys, out).await?;
    report.steps.extend(ctr_steps);

    let after = AfterTheCall { options, emulator: &emulator, sdk: &sdk, moto_endpoint: moto.endpoint(), keys: &keys };
    writeln!(
        out,
        "\nHandleContactEvents (calls that hung up before reaching a rep, an expired preferred-agent step):"
    )?;
    report.steps.extend(after.contact_events(out).await?);
    writeln!(out, "\nVoicemail (a caller leaves a message: audio -> transcript -> routed VoiceCall):")?;
    report.steps.extend(after.voicemail(out).await?);
    writeln!(out, "\nRealtimeAlert (CloudWatch alarms -> RealtimeAlertEvent platform events):")?;
    report.steps.extend(after.alerts(out).await?);
    writeln!(out, "\nPostCallAnalysisTrigger (Contact Lens post-call analysis -> sentiment on the VoiceCall):")?;
    report.steps.extend(after.post_call(out).await?);

    report.voice_calls = emulator.voice_calls();
    check_state(&report.steps, &report.voice_calls, &mut report.problems);
    print_state(out, &report.voice_calls)?;

    std::fs::create_dir_all(&options.report_dir)?;
    let json_path = options.report_dir.join("timeline.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    let problems: Vec<&String> = report.problems.iter().chain(report.steps.iter().flat_map(|s| &s.problems)).collect();
    if problems.is_empty() {
        writeln!(
            out,
            "\nAll {} steps reached Salesforce as expected. Timeline: {}",
            report.steps.len(),
            json_path.display()
        )?;
    } else {
        writeln!(out, "\n{} problem(s):", problems.len())?;
        for p in problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(report)
}

/// What `template.yaml` gives `function` in the demo's account: Salesforce is `emulator`, the key
/// and the REST credentials are under the template's default SSM names, the buckets are the demo's,
/// voicemail is routed at once, LOG_LEVEL info.
fn function_env(emulator: &Emulator, function: &str) -> Result<Vec<(String, String)>> {
    let mut parameters = crate::stack::local_parameters(Some(emulator), RECORDINGS_BUCKET, "");
    parameters.insert("CtrBackupBucketName".into(), CTR_BUCKET.into());
    parameters.insert("DelayBeforeRoutingVmSec".into(), "0".into());
    parameters.insert("LogLevel".into(), "info".into());
    Ok(crate::stack::template_env(function, &parameters)?.into_iter().collect())
}

fn event_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

async fn rest_section(
    options: &DemoOptions,
    emulator: &Emulator,
    sdk: &aws_config::SdkConfig,
    moto_endpoint: &str,
    app_keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Vec<Step>> {
    let params = [
        ("ACME_CC-salesforce-rest-api-auth-consumer-key", CONSUMER_KEY),
        ("ACME_CC-salesforce-rest-api-auth-private-key", app_keys.private_pkcs1_pem.as_str()),
        ("ACME_CC-salesforce-rest-api-access-token", "placeholder"),
        ("ACME_CC-salesforce-rest-api-audience", "https://login.salesforce.com/"),
    ];
    for (name, value) in params {
        put_secure_parameter(sdk, name, value).await?;
    }
    let account =
        emulator.insert_record("Account", serde_json::json!({"Name": "Acme Corporation", "Phone": "+15555550123"}))?;
    emulator.insert_record(
        "Contact",
        serde_json::json!({"FirstName": "Jane", "LastName": "Doe", "Phone": "+15555550123", "AccountId": account}),
    )?;
    let spec = FunctionSpec::new("InvokeSalesforceRestApi", &options.bin("invoke-salesforce-rest-api"))
        .with_envs(aws_env(moto_endpoint))
        .with_envs(function_env(emulator, "invoke-salesforce-rest-api")?)
        .with_env("LOG_LEVEL", "debug")
        .with_timeout(Duration::from_secs(8));
    let function = FunctionProcess::spawn(spec).await.context("starting InvokeSalesforceRestApi")?;
    function.wait_ready(Duration::from_secs(10)).await.context("InvokeSalesforceRestApi did not start")?;
    let dir = options.events_root.join("invoke-salesforce-rest-api");
    let mut steps = Vec::new();
    let mut created_case: Option<String> = None;
    for path in event_files(&dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.contains("retry-ctr-sync") {
            continue; // arrives with the CTR resync
        }
        let mut event = read_event(&path)?;
        if let (Some(case), Some(params)) = (&created_case, event["Details"]["Parameters"].as_object_mut())
            && params.get("methodName").and_then(Value::as_str) == Some("updateRecord")
        {
            params.insert("recordId".into(), Value::String(case.clone()));
        }
        let step = run_step(&function, emulator, "InvokeSalesforceRestApi", &name, event, Calls::Some).await?;
        if step.method == "createRecord" {
            created_case = step.output["recordId"].as_str().map(str::to_string);
        }
        print_step(out, steps.len() + 1, &step)?;
        steps.push(step);
    }
    let mut problems = Vec::new();
    check_logs(&function.logs(), app_keys, &mut problems);
    if let Some(step) = steps.last_mut() {
        step.problems.extend(problems);
    }
    function.shutdown().await?;
    Ok(steps)
}

const INBOUND_CONTACT: &str = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21";

/// The live call's Contact Lens segments through the real consumer, whose asynchronous invocations
/// reach the real processor binary through the local Lambda Invoke API.
async fn contact_lens_section(
    options: &DemoOptions,
    emulator: &Emulator,
    moto_endpoint: &str,
    keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Step> {
    let processor = FunctionProcess::spawn(
        FunctionSpec::new("ContactLensProcessor", &options.bin("contact-lens-processor"))
            .with_envs(aws_env(moto_endpoint))
            // No Amazon Connect in this act: the processor leaves the contact's attributes alone.
            .with_envs(
                function_env(emulator, "contact-lens-processor")?
                    .into_iter()
                    .filter(|(k, _)| k != "CONNECT_INSTANCE_ID"),
            )
            .with_timeout(Duration::from_secs(30)),
    )
    .await?;
    processor.wait_ready(Duration::from_secs(10)).await.context("ContactLensProcessor did not start")?;
    let consumer = FunctionProcess::spawn(
        FunctionSpec::new("ContactLensConsumer", &options.bin("contact-lens-consumer"))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, "contact-lens-consumer")?)
            .with_env("AWS_ENDPOINT_URL_LAMBDA", processor.endpoint())
            .with_env("CONTACT_LENS_PROCESSOR_FUNCTION_ARN", processor.arn()),
    )
    .await?;
    consumer.wait_ready(Duration::from_secs(10)).await.context("ContactLensConsumer did not start")?;
    let path = options.events_root.join("contact-lens-consumer/04-demo-call-live.json");
    let event = read_event(&path)?;
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = consumer.invoke(event).await?;
    // The processor runs asynchronously: wait (bounded) for its work to reach Salesforce.
    let mut waited = Duration::ZERO;
    while waited < Duration::from_secs(20) {
        let call = emulator.voice_call(INBOUND_CONTACT);
        if call.is_some_and(|c| c.messages.len() >= 7 && !c.realtime_events.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let duration_ms = started.elapsed().as_millis();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let mut problems = Vec::new();
    if output["batchItemFailures"].as_array().is_none_or(|f| !f.is_empty()) {
        problems.push(format!("04-demo-call-live.json: the consumer reported failures: {output}"));
    }
    let call = emulator.voice_call(INBOUND_CONTACT);
    let messages = call.as_ref().map(|c| c.messages.clone()).unwrap_or_default();
    let events = call.as_ref().map(|c| c.realtime_events.clone()).unwrap_or_default();
    if messages.len() != 7 {
        problems.push(format!("expected the IVR message and 6 transcript lines on the call, found {}", messages.len()));
    }
    let kind = |e: &Value| e["event"]["type"].as_str().unwrap_or_default().to_string();
    if !events.iter().any(|e| kind(e) == "IntelligenceSignal__Category")
        || !events.iter().any(|e| kind(e) == "IntelligenceSignal__Sentiment")
    {
        problems.push("expected a category signal and sentiment signals on the call".into());
    }
    if call.as_ref().is_some_and(|c| c.duplicate_messages > 0) {
        problems.push("duplicate transcript messages".into());
    }
    if salesforce.iter().any(|c| !(200..300).contains(&c.status)) {
        problems.push("a transcript or signal request was refused".into());
    }
    check_logs(&consumer.logs(), keys, &mut problems);
    check_logs(&processor.logs(), keys, &mut problems);
    let step = Step {
        function: "ContactLensConsumer".into(),
        event: "04-demo-call-live.json".into(),
        method: "kinesis batch (8 records)".into(),
        contact_id: Some(INBOUND_CONTACT.into()),
        output,
        error,
        salesforce,
        duration_ms,
        problems,
    };
    print_step(out, 4, &step)?;
    for m in messages.iter().skip(1) {
        let who = if m.sender_type == "END_USER" { "caller" } else { "rep   " };
        writeln!(out, "      transcript  {who}  {}", m.content)?;
    }
    for e in events.iter().map(|e| &e["event"]) {
        let participant = e["participant"].as_str().map(|p| format!(" ({p})")).unwrap_or_default();
        writeln!(
            out,
            "      signal      {} = {}{participant}",
            e["type"].as_str().unwrap_or("?"),
            e["value"].as_str().unwrap_or("?")
        )?;
    }
    consumer.shutdown().await?;
    processor.shutdown().await?;
    Ok(step)
}

const CTR_BUCKET: &str = "acme-ctr-backup";
const TRANSFER_CONTACT: &str = "d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a";

/// The CTR batch with Salesforce failing for the transfer (its record is backed up and reported
/// for retry), a poison record quarantined, then the scheduled resync repairing the transfer.
async fn ctr_section(
    options: &DemoOptions,
    emulator: &Emulator,
    sdk: &aws_config::SdkConfig,
    moto_endpoint: &str,
    keys: &TestKeyPair,
    out: &mut dyn Write,
) -> Result<Vec<Step>> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    s3.create_bucket().bucket(CTR_BUCKET).send().await.context("creating the CTR backup bucket")?;
    let spec = |name: &str, package: &str| -> Result<FunctionSpec> {
        Ok(FunctionSpec::new(name, options.bin(package))
            .with_envs(aws_env(moto_endpoint))
            .with_envs(function_env(emulator, package)?)
            .with_timeout(Duration::from_secs(30)))
    };
    let sync = FunctionProcess::spawn(spec("CTRDataSync", "ctr-data-sync")?).await?;
    sync.wait_ready(Duration::from_secs(10)).await.context("CTRDataSync did not start")?;

    // Salesforce is unavailable for the transfer's update.
    emulator.inject(sf_emulator::Fault::status(503, 1000).on("PATCH", &format!("/voiceCalls/{TRANSFER_CONTACT}")));
    let path = options.events_root.join("ctr-data-sync/demo-call-ctrs.json");
    let event = read_event(&path)?;
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = sync.invoke(event.clone()).await?;
    let duration_ms = started.elapsed().as_millis();
    emulator.clear_faults();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let mut problems = Vec::new();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let failed: Vec<String> = output["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
        .collect();
    let transfer_seq = event["Records"][2]["kinesis"]["sequenceNumber"].as_str().unwrap_or_default().to_string();
    if failed != vec![transfer_seq.clone()] {
        problems.push(format!("demo-call-ctrs.json: expected only the transfer's record ({transfer_seq}) to be reported for retry, got {failed:?}"));
    }
    let list = |prefix: &'static str| {
        let s3 = s3.clone();
        async move {
            s3.list_objects_v2()
                .bucket(CTR_BUCKET)
                .prefix(prefix)
                .send()
                .await
                .map(|o| o.contents().iter().filter_map(|c| c.key().map(str::to_string)).collect::<Vec<_>>())
                .unwrap_or_default()
        }
    };
    let all = list("").await;
    let quarantined = list("quarantine/").await;
    let backups: Vec<&String> = all.iter().filter(|k| !k.starts_with("quarantine/")).collect();
    if backups.len() != 3 || quarantined.len() != 1 {
        problems.push(format!(
            "demo-call-ctrs.json: expected 3 backups and 1 quarantined record, got {} and {}",
            backups.len(),
            quarantined.len()
        ));
    }
    let step = Step {
        function: "CTRDataSync".into(),
        event: "demo-call-ctrs.json".into(),
        method: "kinesis batch (4 records)".into(),
        contact_id: None,
        output: output.clone(),
        error,
        salesforce,
        duration_ms,
        problems,
    };
    print_step(out, 1, &step)?;
    writeln!(
        out,
        "      S3 backups: {} (one per CTR, named by ContactId); quarantined: {}",
        backups.len(),
        quarantined.join(", ")
    )?;
    writeln!(out, "      the transfer's record is reported for retry: backed up, its Salesforce update not lost")?;
    let mut steps = vec![step];
    let mut logs_problems = Vec::new();
    check_logs(&sync.logs(), keys, &mut logs_problems);
    sync.shutdown().await?;

    // Later, the scheduled resync finds the VoiceCall that missed its sync and repairs it.
    let retry = FunctionProcess::spawn(
        // The calls of this demo are minutes old: no grace period.
        spec("CtrSyncRetry", "ctr-sync-retry")?.with_env("CTR_RESYNC_GRACE_MINUTES", "0"),
    )
    .await?;
    retry.wait_ready(Duration::from_secs(10)).await.context("CtrSyncRetry did not start")?;
    let path = options.events_root.join("ctr-sync-retry/scheduled-event.json");
    let mut step =
        run_step(&retry, emulator, "CtrSyncRetry", "scheduled-event.json", read_event(&path)?, Calls::Some).await?;
    step.method = "scheduled resync".into();
    if step.output["resynced"] != 1 || step.output["found"] != 1 {
        step.problems
            .push(format!("scheduled-event.json: expected the transfer to be found and resynced, got {}", step.output));
    }
    let repaired = emulator.voice_call(TRANSFER_CONTACT).is_some_and(|c| c.fields.contains_key("totalHoldDuration"));
    if !repaired {
        step.problems.push("the transfer's VoiceCall still lacks its CTR data".into());
    }
    print_step(out, 2, &step)?;
    check_logs(&retry.logs(), keys, &mut logs_problems);
    step.problems.extend(logs_problems);
    retry.shutdown().await?;
    steps.push(step);
    Ok(steps)
}

/// The sections after the call: contact events, voicemail, alarms, post-call analysis.
struct AfterTheCall<'a> {
    options: &'a DemoOptions,
    emulator: &'a Emulator,
    sdk: &'a aws_config::SdkConfig,
    moto_endpoint: String,
    keys: &'a TestKeyPair,
}

const RECORDINGS_BUCKET: &str = "acme-cc-recordings";

impl AfterTheCall<'_> {
    /// The function's environment from the template, plus the local AWS settings.
    fn env(&self, package: &str) -> Result<Vec<(String, String)>> {
        Ok(aws_env(&self.moto_endpoint).into_iter().chain(function_env(self.emulator, package)?).collect())
    }

    async fn spawn(&self, name: &str, package: &str, env: Vec<(String, String)>) -> Result<FunctionProcess> {
        let function = FunctionProcess::spawn(
            FunctionSpec::new(name, self.options.bin(package)).with_envs(env).with_timeout(Duration::from_secs(60)),
        )
        .await?;
        function.wait_ready(Duration::from_secs(10)).await.with_context(|| format!("{name} did not start"))?;
        Ok(function)
    }

    fn events(&self, dir: &str) -> Result<Vec<(String, Value)>> {
        event_files(&self.options.events_root.join(dir))?
            .into_iter()
            .map(|p| Ok((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), read_event(&p)?)))
            .collect()
    }

    fn finish(&self, function: &FunctionProcess, steps: &mut [Step]) {
        let mut problems = Vec::new();
        check_logs(&function.logs(), self.keys, &mut problems);
        if let Some(step) = steps.last_mut() {
            step.problems.extend(problems);
        }
    }

    /// Calls that were being routed when the caller hung up, and a transfer whose preferred-agent
    /// step expired: created and routed first through InvokeTelephonyIntegrationApi.
    async fn contact_events(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let itia = self
            .spawn(
                "InvokeTelephonyIntegrationApi",
                "invoke-telephony-integration-api",
                self.env("invoke-telephony-integration-api")?,
            )
            .await?;
        let events = self.events("handle-contact-events")?;
        let flow_dir = self.options.events_root.join("invoke-telephony-integration-api");
        for (name, event) in
            events.iter().filter(|(n, _)| n.starts_with("01") || n.starts_with("02") || n.starts_with("03"))
        {
            let contact = event["detail"]["contactId"].as_str().unwrap_or_default().to_string();
            for sample in ["01-create-voice-call.json", "02-execute-omni-flow.json"] {
                let mut flow = read_event(&flow_dir.join(sample))?;
                flow["Details"]["ContactData"]["ContactId"] = Value::String(contact.clone());
                let result = itia.invoke(flow).await?.result;
                if let Err(e) = result {
                    anyhow::bail!("setting up {name}: {sample} for {contact} failed: {e}");
                }
            }
        }
        itia.shutdown().await?;
        writeln!(out, "      (three calls created and routed first, so each has a PendingServiceRouting)")?;

        let function =
            self.spawn("HandleContactEvents", "handle-contact-events", self.env("handle-contact-events")?).await?;
        let mut steps = Vec::new();
        for (name, event) in events {
            let contact = event["detail"]["contactId"].as_str().unwrap_or_default().to_string();
            let acts = name.starts_with("01") || name.starts_with("02") || name.starts_with("03");
            let mut step = run_step(
                &function,
                self.emulator,
                "HandleContactEvents",
                &name,
                event,
                if acts { Calls::One } else { Calls::Zero },
            )
            .await?;
            let call = self.emulator.voice_call(&contact);
            if name.starts_with("01") || name.starts_with("02") {
                if call.as_ref().is_none_or(|c| c.routing.pending_service_routing.is_some()) {
                    step.problems.push(format!("{name}: the abandoned call's PendingServiceRouting is still there"));
                }
            } else if name.starts_with("03") && call.as_ref().is_none_or(|c| c.routing.reroute_count != 1) {
                step.problems.push(format!("{name}: the call was not rerouted once"));
            }
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }

    /// A voicemail carried from its CTR to a routed VoiceCall.
    async fn voicemail(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let mut routing = RoutingConfig::default();
        routing
            .by_flow
            .insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(ROUTED_AGENT.into()), queue: None });
        routing
            .by_dialed_number
            .insert("+15555550100".into(), RoutingAnswer { agent: None, queue: Some("VoicemailQueue".into()) });
        self.emulator.set_routing(routing);
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(self.sdk).force_path_style(true).build());
        s3.create_bucket().bucket(RECORDINGS_BUCKET).send().await.context("creating the recordings bucket")?;
        let kvs = crate::kvs::KvsServer::start(vec![crate::kvs::KvsFixture::voicemail()?]).await?;
        let with_bucket = |mut event: Value| {
            event["detail"]["bucket"]["name"] = Value::String(RECORDINGS_BUCKET.into());
            event
        };
        let mut steps = Vec::new();

        // 1. The CTR on the stream: the caller's track to WAV in S3.
        let mut env = self.env("voicemail-audio-processing")?;
        env.push(("AWS_ENDPOINT_URL_KINESIS_VIDEO".into(), kvs.endpoint()));
        let audio = self.spawn("VoiceMailAudioProcessing", "voicemail-audio-processing", env).await?;
        let ctr = read_event(&self.options.events_root.join("voicemail-audio-processing/voicemail-ctr.json"))?;
        let mut step =
            run_step(&audio, self.emulator, "VoiceMailAudioProcessing", "voicemail-ctr.json", ctr, Calls::Zero).await?;
        if step.output["batchItemFailures"].as_array().is_none_or(|f| !f.is_empty()) {
            step.problems.push(format!("voicemail-ctr.json: failures reported: {}", step.output));
        }
        let transcribe_event =
            with_bucket(read_event(&self.options.events_root.join("voicemail-transcribe/recording-created.json"))?);
        let wav_key = transcribe_event["detail"]["object"]["key"].as_str().unwrap_or_default().to_string();
        let contact = wav_key.trim_start_matches("voicemail_recordings/").trim_end_matches(".wav").to_string();
        let wav = s3.get_object().bucket(RECORDINGS_BUCKET).key(&wav_key).send().await;
        match wav {
            Ok(object) => {
                let size = object.content_length().unwrap_or(0);
                writeln!(
                    out,
                    "      s3://{RECORDINGS_BUCKET}/{wav_key}: {size} bytes of the caller's audio (8 kHz mono WAV), tagged for Transcribe"
                )?;
            }
            Err(_) => step.problems.push(format!("no WAV at {wav_key}")),
        }
        print_step(out, 1, &step)?;
        steps.push(step);
        self.finish(&audio, &mut steps);
        audio.shutdown().await?;

        // 2. The WAV lands: one Transcribe job for the contact.
        let transcribe =
            self.spawn("VoiceMailTranscribe", "voicemail-transcribe", self.env("voicemail-transcribe")?).await?;
        let mut step = run_step(
            &transcribe,
            self.emulator,
            "VoiceMailTranscribe",
            "recording-created.json",
            transcribe_event,
            Calls::Zero,
        )
        .await?;
        if step.output["status"].as_str().is_none_or(|s| !s.eq_ignore_ascii_case("started")) {
            step.problems.push(format!("recording-created.json: expected a started job, got {}", step.output));
        }
        print_step(out, 2, &step)?;
        steps.push(step);
        self.finish(&transcribe, &mut steps);
        transcribe.shutdown().await?;

        // 3. Transcribe writes the transcript (moto writes none: the demo stands in with Amazon's format).
        let transcript =
            std::fs::read(crate::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json"))?;
        s3.put_object()
            .bucket(RECORDINGS_BUCKET)
            .key(format!("voicemail_transcripts/{contact}.json"))
            .body(transcript.into())
            .send()
            .await?;
        writeln!(
            out,
            "      (standing in for Amazon Transcribe, which the local AWS emulator does not run: the transcript JSON is written to voicemail_transcripts/)"
        )?;

        // 4. The transcript lands: VoiceCall, message, routing, close.
        let packaging =
            self.spawn("VoiceMailPackaging", "voicemail-packaging", self.env("voicemail-packaging")?).await?;
        let event =
            with_bucket(read_event(&self.options.events_root.join("voicemail-packaging/transcript-created.json"))?);
        let mut step = run_step(
            &packaging,
            self.emulator,
            "VoiceMailPackaging",
            "transcript-created.json",
            event.clone(),
            Calls::Some,
        )
        .await?;
        let call = self.emulator.voice_call(&contact);
        match &call {
            Some(c) => {
                if c.call_origin.as_deref() != Some("Voicemail")
                    && c.fields.get("callOrigin").and_then(Value::as_str) != Some("Voicemail")
                {
                    step.problems.push("the voicemail's VoiceCall is not marked callOrigin Voicemail".into());
                }
                if c.messages.len() != 1 || c.routing.execute_count != 1 || c.is_active_call {
                    step.problems.push(format!(
                        "expected one message, one routing and a closed call; got {} message(s), {} routing(s), active {}",
                        c.messages.len(),
                        c.routing.execute_count,
                        c.is_active_call
                    ));
                }
            }
            None => step.problems.push(format!("no VoiceCall for the voicemail {contact}")),
        }
        print_step(out, 3, &step)?;
        if let Some(message) = call.as_ref().and_then(|c| c.messages.first()) {
            writeln!(out, "      transcript  \"{}\"", message.content)?;
        }
        steps.push(step);
        // The same S3 event again changes nothing.
        let mut again = run_step(
            &packaging,
            self.emulator,
            "VoiceMailPackaging",
            "transcript-created.json (again)",
            event,
            Calls::Zero,
        )
        .await?;
        if self.emulator.voice_call(&contact).is_some_and(|c| c.messages.len() != 1 || c.routing.execute_count != 1) {
            again.problems.push("a repeated S3 event posted or routed twice".into());
        }
        print_step(out, 4, &again)?;
        steps.push(again);
        self.finish(&packaging, &mut steps);
        packaging.shutdown().await?;
        Ok(steps)
    }

    async fn alerts(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let function = self.spawn("RealtimeAlert", "realtime-alert", self.env("realtime-alert")?).await?;
        let before = self.emulator.platform_events("RealtimeAlertEvent").len();
        let mut steps = Vec::new();
        for (name, event) in self.events("realtime-alert")? {
            let step = run_step(&function, self.emulator, "RealtimeAlert", &name, event, Calls::Some).await?;
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        let published = self.emulator.platform_events("RealtimeAlertEvent");
        for event in &published[before..] {
            writeln!(
                out,
                "      RealtimeAlertEvent  {:<13} {}",
                event["Severity"].as_str().unwrap_or("?"),
                event["Name"].as_str().unwrap_or("?")
            )?;
        }
        let expected = steps.len();
        if published.len() - before != expected {
            if let Some(step) = steps.last_mut() {
                step.problems.push(format!("expected {expected} platform events, found {}", published.len() - before));
            }
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }

    async fn post_call(&self, out: &mut dyn Write) -> Result<Vec<Step>> {
        let connect = crate::connect::LocalConnect::start().await?;
        let fixtures = self.options.events_root.join("post-call-analysis-trigger/fixtures");
        let described = read_event(&fixtures.join("describe-contact.json"))?;
        let instance = described["InstanceId"].as_str().unwrap_or_default().to_string();
        connect.put_contact(&instance, with_epoch_timestamps(described["Contact"].clone())?)?;
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(self.sdk).force_path_style(true).build());
        let mut env = self.env("post-call-analysis-trigger")?;
        env.extend(connect.env());
        let function = self.spawn("PostCallAnalysisTrigger", "post-call-analysis-trigger", env).await?;
        let mut steps = Vec::new();
        for (name, mut event) in self.events("post-call-analysis-trigger")? {
            event["detail"]["bucket"]["name"] = Value::String(RECORDINGS_BUCKET.into());
            let key = event["detail"]["object"]["key"].as_str().unwrap_or_default().to_string();
            let redacted = key.contains("Redacted");
            if !redacted {
                let body = std::fs::read(fixtures.join("s3").join(&key))
                    .with_context(|| format!("the analysis fixture for {key}"))?;
                s3.put_object().bucket(RECORDINGS_BUCKET).key(&key).body(body.into()).send().await?;
            }
            let step = run_step(
                &function,
                self.emulator,
                "PostCallAnalysisTrigger",
                &name,
                event,
                if redacted { Calls::Zero } else { Calls::Some },
            )
            .await?;
            print_step(out, steps.len() + 1, &step)?;
            steps.push(step);
        }
        let stored = self.emulator.voice_call(INBOUND_CONTACT).map(|c| c.post_call_events.len()).unwrap_or(0);
        writeln!(out, "      the call now holds {stored} post-call sentiment events")?;
        if stored == 0 {
            if let Some(step) = steps.first_mut() {
                step.problems.push("no post-call sentiment stored on the call".into());
            }
        }
        self.finish(&function, &mut steps);
        function.shutdown().await?;
        Ok(steps)
    }
}

/// DescribeContact answers timestamps as epoch seconds; the fixture holds them as ISO text.
fn with_epoch_timestamps(mut contact: Value) -> Result<Value> {
    fn walk(value: &mut Value) -> Result<()> {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => {
                        *v = serde_json::json!(crate::connect::epoch_seconds(text)?)
                    }
                    other => walk(other)?,
                }
            }
        }
        Ok(())
    }
    walk(&mut contact)?;
    Ok(contact)
}

fn read_event(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

async fn invoke_step(function: &FunctionProcess, emulator: &Emulator, name: &str, path: &Path) -> Result<Step> {
    let event = read_event(path)?;
    let event_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run_step(function, emulator, name, &event_name, event, Calls::One).await
}

/// How many Salesforce requests a step must make (all of them accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calls {
    /// Exactly one (a Telephony API call).
    One,
    /// At least one (REST: the first also fetches a token).
    Some,
    /// None (keep-warm, AWS-only steps, events the function ignores).
    Zero,
}

/// One invocation, checked against `calls`.
async fn run_step(
    function: &FunctionProcess,
    emulator: &Emulator,
    name: &str,
    event_name: &str,
    event: Value,
    calls: Calls,
) -> Result<Step> {
    let event_name = event_name.to_string();
    let params = &event["Details"]["Parameters"];
    let method = match params["methodName"].as_str() {
        Some(m) => m.to_string(),
        None if event["detail-type"] == "Scheduled Event" && name == "InvokeTelephonyIntegrationApi" => {
            "keep-warm".into()
        }
        None => event["detail-type"]
            .as_str()
            .map(str::to_string)
            .or_else(|| event["Records"].as_array().map(|r| format!("{} record(s)", r.len())))
            .unwrap_or_else(|| "event".into()),
    };
    let contact_id = params["contactId"]
        .as_str()
        .or_else(|| event["Details"]["ContactData"]["ContactId"].as_str())
        .or_else(|| event["detail"]["contactId"].as_str())
        .map(str::to_string);
    let before = emulator.requests().len();
    let started = Instant::now();
    let invocation = function.invoke(event).await?;
    let duration_ms = started.elapsed().as_millis();
    let salesforce: Vec<SalesforceCall> = emulator.requests()[before..].iter().map(SalesforceCall::from).collect();
    let (output, error) = match invocation.result {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let mut problems = Vec::new();
    if let Some(e) = &error {
        problems.push(format!("{event_name}: the function failed: {e}"));
    }
    let calls = if method == "keep-warm" { Calls::Zero } else { calls };
    let statuses: Vec<u16> = salesforce.iter().map(|c| c.status).collect();
    let accepted = statuses.iter().all(|s| (200..300).contains(s));
    let ok = match calls {
        Calls::Zero => statuses.is_empty(),
        Calls::One => statuses.len() == 1 && accepted,
        Calls::Some => !statuses.is_empty() && accepted,
    };
    if !ok {
        problems.push(format!("{event_name}: expected {calls:?} accepted Salesforce request(s), saw {statuses:?}"));
    }
    if output.get("statusCode").and_then(Value::as_str) == Some("429") {
        problems.push(format!("{event_name}: Salesforce limit reached"));
    }
    Ok(Step {
        function: name.into(),
        event: event_name,
        method,
        contact_id,
        output,
        error,
        salesforce,
        duration_ms,
        problems,
    })
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn print_step(out: &mut dyn Write, n: usize, step: &Step) -> Result<()> {
    let contact = step.contact_id.as_deref().map(short).unwrap_or("-");
    let answer = match &step.error {
        Some(e) => format!("ERROR {e}"),
        None => step
            .output
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    };
    writeln!(out, "{n:>2}. {:<36} {:<24} contact {contact:<8} -> {answer}", step.event, step.method)?;
    if step.salesforce.is_empty() {
        writeln!(out, "      (no Salesforce call)  {} ms", step.duration_ms)?;
    }
    for call in &step.salesforce {
        writeln!(out, "      Salesforce: {} {} -> {}  {} ms", call.method, call.path, call.status, step.duration_ms)?;
    }
    Ok(())
}

fn print_state(out: &mut dyn Write, calls: &[VoiceCall]) -> Result<()> {
    writeln!(out, "\nWhat Salesforce holds now:")?;
    for c in calls {
        let routing = match (&c.routing.pending_service_routing, c.routing.execute_count, c.routing.clear_count) {
            (Some(_), _, _) => "routing pending".to_string(),
            (None, 0, _) => "not routed".to_string(),
            (None, _, cleared) if cleared > 0 => "routing cleared".to_string(),
            (None, _, _) => "routed".to_string(),
        };
        writeln!(
            out,
            "  {}  {}  {:<8} {:<6} {} -> {}  {}  {} message(s)  {}{}{}",
            c.id,
            c.vendor_call_key,
            c.initiation_method.as_deref().unwrap_or("-"),
            c.call_subtype.as_deref().unwrap_or("-"),
            c.from.as_deref().unwrap_or("-"),
            c.to.as_deref().unwrap_or("-"),
            c.call_disposition,
            c.messages.len(),
            routing,
            if c.routing.reroute_count > 0 {
                format!(", rerouted {}x", c.routing.reroute_count)
            } else {
                String::new()
            },
            c.parent_voice_call_id.as_deref().map(|p| format!(", transfer of {p}")).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// Every create must have left a VoiceCall behind.
fn check_state(steps: &[Step], calls: &[VoiceCall], problems: &mut Vec<String>) {
    for step in steps.iter().filter(|s| s.method.starts_with("create") && s.function == "InvokeTelephonyIntegrationApi")
    {
        let Some(contact) = &step.contact_id else { continue };
        if !calls.iter().any(|c| &c.vendor_call_key == contact) {
            problems.push(format!("{}: no VoiceCall for contact {contact}", step.event));
        }
    }
}

/// The function's own log lines must hold no key material and no JWT.
pub fn check_logs(lines: &[String], keys: &TestKeyPair, problems: &mut Vec<String>) {
    problems.extend(crate::secrets::secret_problems(lines, &[keys], &[]));
}
