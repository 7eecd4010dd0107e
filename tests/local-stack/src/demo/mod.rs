//! `make demo`: a call's life through the real function binaries, against the Salesforce emulator
//! and the local AWS emulator, told as a readable account (and written as JSON under
//! `target/demo/`). Any step that did not reach Salesforce as expected is a problem; the demo exits
//! non-zero when there is one.
//!
//! One module per act: the flow's calls are in this module's [`run`], then [`contact_lens`] (the
//! live transcript), [`rest`] (the REST API from the flow), [`ctr`] (the contact trace records and
//! their resync), and after the call ([`after_call`]): [`contact_events`], [`voicemail`],
//! [`alerts`], [`post_call`]; [`steps`] runs, checks and prints one invocation.

mod after_call;
mod alerts;
mod contact_events;
mod contact_lens;
mod ctr;
mod post_call;
mod rest;
mod steps;
mod transcription;
mod transcripts;
mod voicemail;

pub use steps::check_logs;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, RecordedRequest, RoutingAnswer, RoutingConfig, VoiceCall};

use crate::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use crate::runtime::{FunctionProcess, FunctionSpec, binary_path};

use after_call::{AfterTheCall, RECORDINGS_BUCKET};
use contact_lens::contact_lens_section;
use ctr::{CTR_BUCKET, ctr_section};
use rest::rest_section;
use steps::*;

pub use crate::stack::{CALL_CENTER, CONSUMER_KEY, ORG_ID, USERNAME as REST_USERNAME};
/// The Telephony Integration API key's SSM parameter: the template's default name.
pub const KEY_PARAM: &str = "ACME_CC-scrt-jwt-auth-private-key";
pub const ROUTED_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";

/// Where the demo finds its inputs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub events_root: PathBuf,
    /// Where the function binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    pub report_dir: PathBuf,
    /// Keep the Salesforce emulator (and its console) up after the demo until Ctrl-C (`KEEP=1`).
    pub keep: bool,
}

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
            keep: false,
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
    let app_keys = TestKeyPair::generate()?;
    let config = crate::stack::account_emulator_config(&keys, &app_keys, routing);
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
    writeln!(
        out,
        "  console              {}/console  (the calls, transcripts and requests as they arrive; KEEP=1 keeps it up)",
        emulator.base_url()
    )?;

    let mut report =
        DemoReport { steps: Vec::new(), voice_calls: Vec::new(), cold_start_ms: None, problems: Vec::new() };
    for binary in crate::stack::functions()?.iter().map(|f| options.bin(f)) {
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
            // A contact center that transcribes with Amazon Transcribe instead: the flow's kvsConsumerTrigger.
            writeln!(
                out,
                "    kvsConsumerTrigger -> kvsTranscriber (the same call through Kinesis Video and Amazon Transcribe streaming):"
            )?;
            let step = transcription::transcription_section(options, &emulator, &moto.endpoint(), &keys, out).await?;
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
    writeln!(out, "\nContactDataSync (the day's Contact Lens transcripts back-filled, then their upload status):")?;
    report.steps.extend(after.transcripts(out).await?);

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
    if options.keep {
        writeln!(out, "\nKEEP=1: the console stays up at {}/console; Ctrl-C ends it.", emulator.base_url())?;
        out.flush()?;
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    Ok(report)
}

/// What `template.yaml` gives `function` in the demo's account: Salesforce is `emulator`, the key
/// and the REST credentials are under the local account's SSM names (`ACME_CC-...`), the buckets are the demo's,
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
