//! `make bench`: whole-process figures of every function, measured on the release binaries behind the
//! local Lambda Runtime API ([`crate::runtime`]) against the local emulators, plus the hot paths, and
//! the results written under `bench/` (Markdown table, SVG chart, JSON) with the machine described.
//!
//! Per function: a fresh process gets one of its sample events (`events/<function>/`); the cold start is
//! the time from spawning it to that first answer, and the same figure less the time the emulators were
//! busy answering (measured by [`CountingProxy`]s in front of moto and of the Salesforce emulator). Then
//! `invocations` more invocations cycle through its sample events: the second invocation, the median,
//! the peak resident memory (`VmHWM`) and the SSM parameter reads that reached moto. The hot paths are a
//! 100-CTR batch and a 25-contact x 10-utterance Contact Lens batch with 50 ms injected on every
//! Salesforce call. The in-process figures (JWT signing, CTR mapping, WAV extraction) come from
//! criterion (`shared/benches/hot_paths.rs`), read back from its `estimates.json` files.
//!
//! Nothing here asserts timings: misses are reported against the targets of issue 9.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, EmulatorConfig, Fault, RoutingAnswer, RoutingConfig};

use crate::connect::{LocalConnect, epoch_seconds};
use crate::counting_proxy::{CountingProxy, ProxiedRequest, busy_time, ssm_reads};
use crate::invoke_recorder::InvokeRecorder;
use crate::kvs::{KvsFixture, KvsServer};
use crate::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use crate::runtime::{FunctionProcess, FunctionSpec, Invocation, binary_path_in};

const ORG_ID: &str = "00DXX0000000001";
const CALL_CENTER: &str = "ACME_CC";
const CONSUMER_KEY: &str = "3MVG9-acme-connected-app-consumer-key";
const REST_USERNAME: &str = "integration@acme.example";
const DIALED: &str = "+15555550100";
const ROUTED_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";
/// Latency injected on every Salesforce call in the hot paths.
/// The CTR backup bucket of the bench's account.
const CTR_BUCKET: &str = "bench-ctr-backup";
/// The recordings bucket of the bench's account.
const RECORDINGS_BUCKET: &str = "bench-voicemail-recordings";

pub const INJECTED_LATENCY_MS: u64 = 50;
/// How many times each hot path runs (the median is reported).
const HOT_RUNS: usize = 3;
/// How many fresh processes measure each cold start (the medians are reported).
const COLD_RUNS: usize = 5;

/// The targets of issue 9.
pub mod targets {
    pub const COLD_START_MS: f64 = 30.0;
    pub const WARM_OVERHEAD_MS: f64 = 1.0;
    pub const PEAK_RSS_MB: f64 = 30.0;
    pub const ZIP_MB: f64 = 8.0;
    pub const CTR_BATCH_S: f64 = 0.5;
}

/// Where the harness finds its inputs and writes its outputs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub events_root: PathBuf,
    /// Host-native release binaries (`cargo build --release`).
    pub binary_dir: PathBuf,
    /// `make build`'s output: `<zip_dir>/<binary>/bootstrap.zip`.
    pub zip_dir: PathBuf,
    /// criterion's output directory.
    pub criterion_dir: PathBuf,
    /// Where RESULTS.md, chart.svg and results.json go.
    pub out_dir: PathBuf,
    /// Warm invocations after the cold one.
    pub invocations: usize,
    /// Only these packages (all when empty); the hot paths run only when empty.
    pub only: Vec<String>,
    /// When set, each function's log lines are written to `<log_dir>/<package>.log`.
    pub log_dir: Option<PathBuf>,
    /// `LOG_LEVEL` of the functions (their default when `None`).
    pub log_level: Option<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        let target = crate::target_dir();
        BenchOptions {
            events_root: crate::workspace_root().join("events"),
            binary_dir: binary_path_in("release", "x").parent().map(Path::to_path_buf).unwrap_or_default(),
            zip_dir: target.join("lambda"),
            criterion_dir: std::env::var_os("CRITERION_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| target.join("criterion")),
            out_dir: crate::workspace_root().join("bench"),
            invocations: 100,
            only: Vec::new(),
            log_dir: None,
            log_level: None,
        }
    }
}

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub arch: String,
    pub rustc: String,
    pub date: String,
}

/// The whole-process figures of one function.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResult {
    pub function: String,
    pub package: String,
    pub cold_event: String,
    /// Whether the first invocation succeeded; its error otherwise.
    pub cold_error: Option<String>,
    /// Spawn to the first `GET /next` (the init phase).
    pub init_ms: f64,
    /// Spawn to the first invocation answered.
    pub cold_start_ms: f64,
    /// The time the emulators (moto, Salesforce) were busy answering during the cold start.
    pub cold_emulator_ms: f64,
    /// `cold_start_ms - cold_emulator_ms`: the function's own time (plus the proxy hops).
    pub cold_own_ms: f64,
    /// The second invocation (the first warm one), as the Runtime API saw it.
    pub warm_ms: f64,
    /// The same less the emulators' busy time.
    pub warm_own_ms: f64,
    /// Median over the warm invocations, less the emulators' busy time.
    pub warm_own_median_ms: f64,
    /// The same less the proxy hops too (measured [`BenchReport::proxy_hop_ms`] per emulator request).
    pub warm_own_median_less_hops_ms: f64,
    /// Emulator requests (moto and Salesforce, through the proxies) per warm invocation, on average.
    pub warm_requests_per_invocation: f64,
    pub warm_invocations: usize,
    /// How many warm invocations returned an error (the sample events include error cases).
    pub warm_errors: usize,
    /// `VmHWM` after the cold start and the warm invocations.
    pub peak_rss_mb: f64,
    /// The arm64 `bootstrap.zip` of `make build`, if present.
    pub zip_mb: Option<f64>,
    /// SSM parameter reads (GetParameter/GetParameters) during the cold start.
    pub ssm_cold: usize,
    /// SSM parameter reads during the warm invocations.
    pub ssm_warm: usize,
    /// Whether the function reads a secret from SSM at all.
    pub uses_ssm: bool,
    /// Every AWS operation that reached moto, with counts (cold and warm together).
    pub aws_operations: BTreeMap<String, usize>,
}

/// One run of a hot path.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HotRun {
    pub wall_ms: f64,
    pub salesforce_requests: usize,
    pub failures: usize,
}

/// A hot path: its runs and their median.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HotPath {
    pub name: String,
    pub setting: String,
    pub runs: Vec<HotRun>,
    pub median_wall_ms: f64,
    pub salesforce_requests: usize,
}

/// A criterion figure.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MicroBench {
    pub id: String,
    /// Mean time per iteration.
    pub mean_ns: f64,
    /// `Elements(n)` or `Bytes(n)` per iteration, when declared.
    pub elements: Option<u64>,
    pub bytes: Option<u64>,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    pub machine: Machine,
    /// What one request costs more through a proxy than straight to the emulator (median of 200).
    pub proxy_hop_ms: f64,
    pub functions: Vec<FunctionResult>,
    pub hot_paths: Vec<HotPath>,
    pub micro: Vec<MicroBench>,
    pub notes: Vec<String>,
}

/// What one function needs to run: its configuration and its sample events (the first one is the cold
/// invocation, the rest cycle after it).
struct Scenario {
    package: &'static str,
    name: &'static str,
    env: Vec<(String, String)>,
    events: Vec<(String, Value)>,
    uses_ssm: bool,
}

/// The local stack every function runs against: one Salesforce emulator (Telephony API and REST), one
/// moto, a proxy in front of each, the local Kinesis Video, Connect and Invoke API servers.
struct Stack {
    emulator: Emulator,
    _moto: Moto,
    aws: CountingProxy,
    sf: CountingProxy,
    sdk: aws_config::SdkConfig,
    scrt_keys: TestKeyPair,
    app_keys: TestKeyPair,
    kvs: KvsServer,
    connect: LocalConnect,
    recorder: InvokeRecorder,
    http: reqwest::Client,
    epoch: Instant,
}

impl Stack {
    async fn start() -> Result<Stack> {
        let scrt_keys = TestKeyPair::generate()?;
        let app_keys = TestKeyPair::generate()?;
        let mut routing = RoutingConfig::default().dialed_number(DIALED, RoutingAnswer::queue("VoicemailQueue"));
        routing
            .by_flow
            .insert("Route_Inbound_Voice".into(), RoutingAnswer { agent: Some(ROUTED_AGENT.into()), queue: None });
        let mut config = EmulatorConfig::new(ORG_ID, CALL_CENTER);
        config.scrt_public_keys = vec![scrt_keys.public_pem.clone()];
        config.routing = routing;
        config.rest.consumer_key = CONSUMER_KEY.into();
        config.rest.connected_app_public_keys = vec![app_keys.public_pem.clone()];
        config.rest.usernames = vec![REST_USERNAME.into()];
        let emulator = Emulator::start(config).await.context("starting the Salesforce emulator")?;
        let moto = Moto::start().context("starting moto")?;
        let epoch = Instant::now();
        let aws = CountingProxy::start_with_epoch(&moto.endpoint(), epoch).await?;
        let sf = CountingProxy::start_with_epoch(&emulator.base_url(), epoch).await?;
        let sdk = aws_sdk_config(&moto.endpoint()).await;
        let kvs = KvsServer::start(vec![KvsFixture::voicemail()?]).await.context("starting local Kinesis Video")?;
        let connect = LocalConnect::start().await.context("starting local Connect")?;
        let recorder = InvokeRecorder::start().await.context("starting the Invoke API recorder")?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?;
        Ok(Stack { emulator, _moto: moto, aws, sf, sdk, scrt_keys, app_keys, kvs, connect, recorder, http, epoch })
    }

    /// The emulator's base URL as seen through the proxy.
    fn sf_url(&self, direct: &str) -> String {
        direct.replacen(&self.emulator.base_url(), self.sf.endpoint(), 1)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Every request both proxies saw that arrived in `[from, to)`.
    fn requests_between(&self, from: Duration, to: Duration) -> (Vec<ProxiedRequest>, Vec<ProxiedRequest>) {
        (self.aws.requests_between(from, to), self.sf.requests_between(from, to))
    }

    /// The time the emulators were busy in `[from, to)`.
    fn busy_between(&self, from: Duration, to: Duration) -> Duration {
        let (aws, sf) = self.requests_between(from, to);
        let intervals: Vec<_> = aws.iter().chain(sf.iter()).map(|r| (r.start, r.end.min(to))).collect();
        busy_time(&intervals)
    }

    /// SSM SecureStrings for the Telephony API key: the parameter name.
    async fn scrt_param(&self, function: &str) -> Result<String> {
        let name = format!("bench-{function}-scrt-jwt-auth-private-key");
        put_secure_parameter(&self.sdk, &name, &self.scrt_keys.private_pkcs1_pem).await?;
        Ok(name)
    }

    /// The environment `template.yaml` gives `package`, in the bench's account: Salesforce through
    /// its proxy, the Telephony API key in `scrt_param` (empty: none), the REST credentials under
    /// names of this function only (see [`Stack::rest_credentials`]), the bench's buckets, voicemail
    /// routed at once. `LOG_LEVEL` is left to the options, `CONNECT_INSTANCE_ID` out (the processor
    /// leaves contact attributes alone here).
    fn function_env(&self, package: &str, scrt_param: &str) -> Result<Vec<(String, String)>> {
        let mut parameters = crate::stack::local_parameters(Some(&self.emulator), RECORDINGS_BUCKET, scrt_param);
        parameters.insert("CtrBackupBucketName".into(), CTR_BUCKET.into());
        parameters.insert("DelayBeforeRoutingVmSec".into(), "0".into());
        let template_prefix = format!("{CALL_CENTER}-salesforce-rest-api-");
        Ok(crate::stack::template_env(package, &parameters)?
            .into_iter()
            .filter(|(name, _)| name != "LOG_LEVEL" && name != "CONNECT_INSTANCE_ID")
            .map(|(name, value)| match value.strip_prefix(&template_prefix) {
                Some(what) => (name, format!("bench-{package}-salesforce-rest-api-{what}")),
                None => (name, self.sf_url(&value)),
            })
            .collect())
    }

    /// The REST configuration of the official set-up, every value in SSM, under names of `package`
    /// only (so no function finds a token another one shared).
    async fn rest_credentials(&self, package: &str) -> Result<()> {
        let p = |what: &str| format!("bench-{package}-salesforce-rest-api-{what}");
        for (name, value) in [
            (p("auth-consumer-key"), CONSUMER_KEY),
            (p("auth-private-key"), self.app_keys.private_pkcs8_pem.as_str()),
            (p("access-token"), "salesforce-rest-api-access-token"),
            (p("audience"), "https://login.salesforce.com/"),
        ] {
            put_secure_parameter(&self.sdk, &name, value).await?;
        }
        Ok(())
    }

    async fn bucket(&self, name: &str) -> Result<()> {
        let s3 = s3_client(&self.sdk);
        if s3.head_bucket().bucket(name).send().await.is_err() {
            s3.create_bucket().bucket(name).send().await.with_context(|| format!("creating bucket {name}"))?;
        }
        Ok(())
    }

    /// Creates the VoiceCall of `contact_id` straight on the emulator (as createVoiceCall leaves it).
    async fn voice_call(&self, contact_id: &str) -> Result<()> {
        let token = self.scrt_keys.scrt_token(ORG_ID, CALL_CENTER, 120)?;
        let body = json!({
            "callCenterApiName": CALL_CENTER,
            "vendorCallKey": contact_id,
            "to": DIALED,
            "from": "+15555550123",
            "initiationMethod": "Inbound",
            "startTime": "2026-11-21T09:14:00.000Z",
            "callSubtype": "PSTN",
            "callAttributes": "{}",
            "participants": [{"participantKey": "+15555550123", "type": "END_USER"}],
        });
        let answer = self
            .http
            .post(format!("{}/voiceCalls", self.emulator.scrt_base()))
            .bearer_auth(&token)
            .header("Telephony-Provider-Name", "amazon-connect")
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!(
                "seeding the VoiceCall of {contact_id}: {} {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Routes `contact_id` through Omni-Channel (so it has a pending routing to clear).
    async fn route(&self, contact_id: &str) -> Result<()> {
        let token = self.scrt_keys.scrt_token(ORG_ID, CALL_CENTER, 120)?;
        let body = json!({"dialedNumber": DIALED, "fallbackQueue": "Billing_Queue", "flowInputParameters": {}});
        let answer = self
            .http
            .patch(format!("{}/voiceCalls/{contact_id}/omniFlow", self.emulator.scrt_base()))
            .bearer_auth(&token)
            .header("Telephony-Provider-Name", "amazon-connect")
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("routing {contact_id}: {} {}", answer.status(), answer.text().await.unwrap_or_default());
        }
        Ok(())
    }
}

/// Runs every measurement and writes the results under `options.out_dir`.
pub async fn run(options: &BenchOptions, out: &mut dyn std::io::Write) -> Result<BenchReport> {
    let stack = Stack::start().await?;
    let mut notes = Vec::new();
    let hop = proxy_hop(&stack).await?;
    writeln!(out, "proxy hop: {:.3} ms per request", ms(hop))?;
    let mut functions = Vec::new();
    for package in PACKAGES.into_iter().filter(|p| options.only.is_empty() || options.only.iter().any(|o| o == p)) {
        let scenario = scenario(&stack, options, package).await.with_context(|| format!("setting up {package}"))?;
        writeln!(out, "{:<36} ...", scenario.package)?;
        let result = measure(&stack, options, scenario, hop).await?;
        writeln!(
            out,
            "{:<36} cold {:>6.1} ms (own {:>5.1} ms)  warm {:>5.2} ms (own {:>5.2})  RSS {:>5.1} MB  SSM {}/{}",
            result.package,
            result.cold_start_ms,
            result.cold_own_ms,
            result.warm_ms,
            result.warm_own_ms,
            result.peak_rss_mb,
            result.ssm_cold,
            result.ssm_warm
        )?;
        functions.push(result);
    }
    let mut hot_paths = Vec::new();
    for concurrency in [None, Some(10)].into_iter().filter(|_| options.only.is_empty()) {
        let hot = ctr_batch(&stack, options, concurrency).await.context("the CTR batch hot path")?;
        writeln!(out, "{}: {} -> median {:.0} ms", hot.name, hot.setting, hot.median_wall_ms)?;
        hot_paths.push(hot);
    }
    if options.only.is_empty() {
        let hot = contact_lens_batch(&stack, options).await.context("the Contact Lens hot path")?;
        writeln!(
            out,
            "{}: {} -> median {:.0} ms, {} requests",
            hot.name, hot.setting, hot.median_wall_ms, hot.salesforce_requests
        )?;
        hot_paths.push(hot);
    }
    let micro = read_criterion(&options.criterion_dir);
    if micro.is_empty() {
        notes.push(format!(
            "no criterion results under {}: run `cargo bench -p scv-shared --bench hot_paths` (make bench does)",
            options.criterion_dir.display()
        ));
    }
    if functions.iter().all(|f| f.zip_mb.is_none()) {
        notes.push(format!("no arm64 zips under {}: run `make build` for the zip sizes", options.zip_dir.display()));
    }
    let report = BenchReport { machine: machine(), proxy_hop_ms: ms(hop), functions, hot_paths, micro, notes };
    write_outputs(options, &report)?;
    Ok(report)
}

/// What a request costs more through a [`CountingProxy`] than straight to the emulator: the median of
/// 200 small requests each way (the emulator answers an unknown path with 404 at once).
async fn proxy_hop(stack: &Stack) -> Result<Duration> {
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let mut times = Vec::new();
    for base in [stack.emulator.base_url(), stack.sf.endpoint().to_string()] {
        let mut samples = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            let answer = stack.http.get(format!("{base}/bench-calibration")).send().await?;
            answer.bytes().await?;
            samples.push(start.elapsed());
        }
        times.push(median(&mut samples));
    }
    Ok(times[1].saturating_sub(times[0]))
}

/// The function packages, in the order of the README.
pub const PACKAGES: [&str; 12] = [
    "invoke-telephony-integration-api",
    "invoke-salesforce-rest-api",
    "ctr-data-sync",
    "ctr-sync-retry",
    "contact-lens-consumer",
    "contact-lens-processor",
    "handle-contact-events",
    "post-call-analysis-trigger",
    "realtime-alert",
    "voicemail-audio-processing",
    "voicemail-transcribe",
    "voicemail-packaging",
];

async fn scenario(stack: &Stack, options: &BenchOptions, package: &'static str) -> Result<Scenario> {
    let events_dir = options.events_root.join(package);
    let all = read_events(&events_dir)?;
    let pick = |names: &[&str]| -> Result<Vec<(String, Value)>> {
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|(name, _)| name == n)
                    .cloned()
                    .ok_or_else(|| anyhow!("{} has no sample event {n}", events_dir.display()))
            })
            .collect()
    };
    let s = match package {
        "invoke-telephony-integration-api" => {
            let param = stack.scrt_param(package).await?;
            let mut events = pick(&["01-create-voice-call.json"])?;
            events.extend(all.iter().filter(|(n, _)| n != "01-create-voice-call.json").cloned());
            Scenario {
                package,
                name: "InvokeTelephonyIntegrationApi",
                env: stack.function_env(package, &param)?,
                events,
                uses_ssm: true,
            }
        }
        "invoke-salesforce-rest-api" => {
            stack.rest_credentials(package).await?;
            let env = stack.function_env(package, "")?;
            // 06 (retryCTRSync) needs the CTR backup configuration: it is CTR resync's work, measured there.
            let events = all.iter().filter(|(n, _)| !n.starts_with("06-")).cloned().collect();
            Scenario { package, name: "InvokeSalesforceRestApi", env, events, uses_ssm: true }
        }
        "ctr-data-sync" => {
            let param = stack.scrt_param(package).await?;
            stack.bucket(CTR_BUCKET).await?;
            let env = stack.function_env(package, &param)?;
            Scenario {
                package,
                name: "CTRDataSync",
                env,
                events: pick(&["mixed-batch.json", "demo-call-ctrs.json"])?,
                uses_ssm: true,
            }
        }
        "ctr-sync-retry" => {
            let scrt = stack.scrt_param(package).await?;
            stack.bucket(CTR_BUCKET).await?;
            stack.rest_credentials(package).await?;
            let env = stack.function_env(package, &scrt)?;
            Scenario {
                package,
                name: "CTR resync",
                env,
                events: pick(&["scheduled-event.json", "retry-ctr-sync.json"])?,
                uses_ssm: true,
            }
        }
        "contact-lens-consumer" => {
            let mut env = stack.function_env(package, "")?;
            env.extend(pairs(&[
                (
                    "CONTACT_LENS_PROCESSOR_FUNCTION_ARN",
                    "arn:aws:lambda:us-east-1:000000000000:function:contact-lens-processor",
                ),
                ("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint()),
            ]));
            Scenario { package, name: "ContactLensConsumer", env, events: all, uses_ssm: false }
        }
        "contact-lens-processor" => {
            let param = stack.scrt_param(package).await?;
            for contact in contacts_in_kinesis(&all) {
                stack.voice_call(&contact).await?;
            }
            let mut env = stack.function_env(package, &param)?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint())]));
            Scenario { package, name: "ContactLensProcessor", env, events: all, uses_ssm: true }
        }
        "handle-contact-events" => {
            let param = stack.scrt_param(package).await?;
            for (_, event) in &all {
                if let Some(contact) = event["detail"]["contactId"].as_str() {
                    stack.voice_call(contact).await?;
                    stack.route(contact).await?;
                }
            }
            let env = stack.function_env(package, &param)?;
            Scenario { package, name: "HandleContactEvents", env, events: all, uses_ssm: true }
        }
        "post-call-analysis-trigger" => {
            let param = stack.scrt_param(package).await?;
            seed_post_call(stack, &events_dir, &all).await?;
            let mut env = stack.function_env(package, &param)?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_CONNECT", stack.connect.endpoint())]));
            Scenario { package, name: "PostCallAnalysisTrigger", env, events: all, uses_ssm: true }
        }
        "realtime-alert" => {
            stack.rest_credentials(package).await?;
            let env = stack.function_env(package, "")?;
            Scenario { package, name: "RealtimeAlert", env, events: all, uses_ssm: true }
        }
        "voicemail-audio-processing" => {
            stack.bucket(RECORDINGS_BUCKET).await?;
            let mut env = stack.function_env(package, "")?;
            env.extend(pairs(&[("AWS_ENDPOINT_URL_KINESIS_VIDEO", &stack.kvs.endpoint())]));
            Scenario {
                package,
                name: "VoiceMailAudioProcessing",
                env,
                events: pick(&["voicemail-ctr.json", "mixed-batch.json"])?,
                uses_ssm: false,
            }
        }
        "voicemail-transcribe" => {
            seed_voicemail(stack, &all, false).await?;
            let env = stack.function_env(package, "")?;
            Scenario { package, name: "VoiceMailTranscribe", env, events: all, uses_ssm: false }
        }
        "voicemail-packaging" => {
            let param = stack.scrt_param(package).await?;
            seed_voicemail(stack, &all, true).await?;
            let env = stack.function_env(package, &param)?;
            let events = pick(&["transcript-created.json"])?;
            Scenario { package, name: "VoiceMailPackaging", env, events, uses_ssm: true }
        }
        other => bail!("no benchmark scenario for {other}"),
    };
    if s.events.is_empty() {
        bail!("{} has no sample events", events_dir.display());
    }
    Ok(s)
}

async fn measure(stack: &Stack, options: &BenchOptions, scenario: Scenario, hop: Duration) -> Result<FunctionResult> {
    let binary = options.binary_dir.join(scenario.package);
    let mut spec = FunctionSpec::new(scenario.package, &binary)
        .with_envs(aws_env(stack.aws.endpoint()))
        .with_envs(scenario.env.clone())
        .with_timeout(Duration::from_secs(60));
    if let Some(level) = &options.log_level {
        spec = spec.with_env("LOG_LEVEL", level);
    }
    // COLD_RUNS fresh processes: the medians are reported; the last process goes on warm.
    let (cold_event, cold_payload) = &scenario.events[0];
    let mut colds = Vec::with_capacity(COLD_RUNS);
    let mut first_error = None;
    let mut cold_aws = Vec::new();
    let mut cold_end = stack.now();
    let mut last = None;
    for run in 0..COLD_RUNS {
        let from = stack.now();
        let spawned = Instant::now();
        let process = FunctionProcess::spawn(spec.clone()).await?;
        let first = process
            .invoke(cold_payload.clone())
            .await
            .with_context(|| format!("{}: cold invocation", scenario.package))?;
        let cold = spawned.elapsed();
        cold_end = stack.now();
        let busy = stack.busy_between(from, cold_end);
        colds.push((cold, busy, process.init_duration().unwrap_or_default()));
        if run == 0 {
            first_error = first.result.err().map(|e| e.to_string());
            cold_aws = stack.requests_between(from, cold_end).0;
        }
        if run + 1 < COLD_RUNS {
            process.shutdown().await?;
        } else {
            last = Some(process);
        }
    }
    let process = last.context("no cold run")?;
    let median_of = |pick: &dyn Fn(&(Duration, Duration, Duration)) -> Duration| {
        let mut values: Vec<Duration> = colds.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    let cold = median_of(&|c| c.0);
    let cold_busy = median_of(&|c| c.1);
    let cold_own = median_of(&|c| c.0.saturating_sub(c.1));
    let init = median_of(&|c| c.2);

    let mut warm = Vec::with_capacity(options.invocations);
    let mut warm_errors = 0;
    for i in 0..options.invocations {
        let (_, payload) = &scenario.events[(i + 1) % scenario.events.len()];
        let before = stack.now();
        let invocation: Invocation = process.invoke(payload.clone()).await?;
        let after = stack.now();
        if invocation.result.is_err() {
            warm_errors += 1;
        }
        let busy = stack.busy_between(before, after);
        let (aws, sf) = stack.requests_between(before, after);
        let own = invocation.duration.saturating_sub(busy);
        warm.push((invocation.duration, own, own.saturating_sub(hop * (aws.len() + sf.len()) as u32)));
    }
    let warm_end = stack.now();
    let peak_rss_kb = process.pid().and_then(vm_hwm_kb).unwrap_or(0);
    let (warm_aws, warm_sf) = stack.requests_between(cold_end, warm_end);
    if let Some(dir) = &options.log_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{}.log", scenario.package)), process.logs().join("\n") + "\n")?;
    }
    process.shutdown().await?;

    let mut aws_operations = BTreeMap::new();
    for r in cold_aws.iter().chain(warm_aws.iter()) {
        *aws_operations.entry(r.operation.clone()).or_insert(0) += 1;
    }
    let median = |mut values: Vec<Duration>| {
        values.sort();
        values.get(values.len() / 2).copied().map(ms).unwrap_or_default()
    };
    let (second, second_own, _) = warm.first().copied().unwrap_or_default();
    let zip = options.zip_dir.join(scenario.package).join("bootstrap.zip");
    Ok(FunctionResult {
        function: scenario.name.to_string(),
        package: scenario.package.to_string(),
        cold_event: cold_event.clone(),
        cold_error: first_error,
        init_ms: ms(init),
        cold_start_ms: ms(cold),
        cold_emulator_ms: ms(cold_busy),
        cold_own_ms: ms(cold_own),
        warm_ms: ms(second),
        warm_own_ms: ms(second_own),
        warm_own_median_ms: median(warm.iter().map(|w| w.1).collect()),
        warm_own_median_less_hops_ms: median(warm.iter().map(|w| w.2).collect()),
        warm_requests_per_invocation: (warm_aws.len() + warm_sf.len()) as f64 / warm.len().max(1) as f64,
        warm_invocations: warm.len(),
        warm_errors,
        peak_rss_mb: peak_rss_kb as f64 / 1024.0,
        zip_mb: std::fs::metadata(&zip).ok().map(|m| m.len() as f64 / (1024.0 * 1024.0)),
        ssm_cold: ssm_reads(&cold_aws),
        ssm_warm: ssm_reads(&warm_aws),
        uses_ssm: scenario.uses_ssm,
        aws_operations,
    })
}

/// CTRDataSync on `batch-100.json` with 50 ms on every Salesforce call, in a warm process.
async fn ctr_batch(stack: &Stack, options: &BenchOptions, concurrency: Option<u32>) -> Result<HotPath> {
    let package = "ctr-data-sync";
    let param = stack.scrt_param(package).await?;
    stack.bucket(CTR_BUCKET).await?;
    // The template's CTR_SYNC_CONCURRENCY out: the setting under test.
    let mut env: Vec<(String, String)> =
        stack.function_env(package, &param)?.into_iter().filter(|(name, _)| name != "CTR_SYNC_CONCURRENCY").collect();
    let setting = match concurrency {
        Some(n) => {
            env.push(("CTR_SYNC_CONCURRENCY".into(), n.to_string()));
            format!("CTR_SYNC_CONCURRENCY={n}")
        }
        None => "CTR_SYNC_CONCURRENCY unset (the function's default)".to_string(),
    };
    let events = options.events_root.join(package);
    let batch = read_json(&events.join("batch-100.json"))?;
    let warmup = read_json(&events.join("demo-call-ctrs.json"))?;
    let spec = FunctionSpec::new(package, options.binary_dir.join(package))
        .with_envs(aws_env(stack.aws.endpoint()))
        .with_envs(env)
        .with_timeout(Duration::from_secs(60));
    let process = FunctionProcess::spawn(spec).await?;
    process.invoke(warmup).await?;
    let mut runs = Vec::new();
    for _ in 0..HOT_RUNS {
        stack.emulator.inject(Fault::delay(INJECTED_LATENCY_MS, 1_000_000));
        let before = stack.now();
        let invocation = process.invoke(batch.clone()).await?;
        let after = stack.now();
        stack.emulator.clear_faults();
        let failures = match &invocation.result {
            Ok(response) => response["batchItemFailures"].as_array().map_or(0, Vec::len),
            Err(e) => bail!("CTRDataSync failed the 100-CTR batch: {e}"),
        };
        let (_, sf) = stack.requests_between(before, after);
        runs.push(HotRun { wall_ms: ms(invocation.duration), salesforce_requests: sf.len(), failures });
    }
    process.shutdown().await?;
    Ok(hot_path("CTRDataSync 100-CTR batch", setting, runs))
}

/// ContactLensProcessor on 25 contacts x 10 utterances with 50 ms on every Salesforce call.
async fn contact_lens_batch(stack: &Stack, options: &BenchOptions) -> Result<HotPath> {
    let package = "contact-lens-processor";
    let param = stack.scrt_param(package).await?;
    let mut env = stack.function_env(package, &param)?;
    env.extend(pairs(&[("AWS_ENDPOINT_URL_LAMBDA", stack.recorder.endpoint())]));
    let spec = FunctionSpec::new(package, options.binary_dir.join(package))
        .with_envs(aws_env(stack.aws.endpoint()))
        .with_envs(env)
        .with_timeout(Duration::from_secs(60));
    let process = FunctionProcess::spawn(spec).await?;
    let mut runs = Vec::new();
    for run in 0..=HOT_RUNS {
        let (event, contacts) = contact_lens_event(run, 25, 10);
        for contact in &contacts {
            stack.voice_call(contact).await?;
        }
        // Run 0 warms the process (and loads the key) with the same shape of batch.
        if run > 0 {
            stack.emulator.inject(Fault::delay(INJECTED_LATENCY_MS, 1_000_000));
        }
        let before = stack.now();
        let invocation = process.invoke(event).await?;
        let after = stack.now();
        stack.emulator.clear_faults();
        if let Err(e) = &invocation.result {
            bail!("ContactLensProcessor failed the 25 x 10 batch: {e}");
        }
        if run > 0 {
            let (_, sf) = stack.requests_between(before, after);
            let failures = contacts
                .iter()
                .filter(|c| stack.emulator.voice_call(c).is_none_or(|call| call.messages.len() < 10))
                .count();
            runs.push(HotRun { wall_ms: ms(invocation.duration), salesforce_requests: sf.len(), failures });
        }
    }
    process.shutdown().await?;
    Ok(hot_path("ContactLensProcessor 25 contacts x 10 utterances", "default settings".into(), runs))
}

/// A Contact Lens Kinesis event: `contacts` contacts, `utterances` utterance records each, interleaved
/// as they arrive on the stream. Contact ids are unique per `run`.
pub fn contact_lens_event(run: usize, contacts: usize, utterances: usize) -> (Value, Vec<String>) {
    let ids: Vec<String> = (0..contacts).map(|c| format!("be{run:02x}{c:04x}-2d4a-4c8e-9b1f-3a5d7e9c0b21")).collect();
    let mut records = Vec::new();
    let mut sequence: u64 = 0;
    for u in 0..utterances {
        for (c, id) in ids.iter().enumerate() {
            sequence += 1;
            let role = if u % 2 == 0 { "AGENT" } else { "CUSTOMER" };
            let body = json!({
                "Version": "1.0.0",
                "Channel": "VOICE",
                "AccountId": "123456789012",
                "InstanceId": "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a",
                "ContactId": id,
                "LanguageCode": "en-US",
                "EventType": "SEGMENTS",
                "Segments": [{"Utterance": {
                    "Id": format!("00000000-0000-0000-{run:04x}-{c:04x}{u:08x}"),
                    "TranscriptId": format!("00000000-0000-0001-{run:04x}-{c:04x}{u:08x}"),
                    "ParticipantId": role,
                    "ParticipantRole": role,
                    "PartialContent": format!("Line {} of call {}.", u + 1, c + 1),
                    "BeginOffsetMillis": 1000 + 3000 * u as u64,
                    "EndOffsetMillis": 3000 + 3000 * u as u64,
                }}],
            });
            let data = base64::engine::general_purpose::STANDARD.encode(body.to_string());
            let seq = format!("4965615284{sequence:046}");
            records.push(json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": id,
                    "sequenceNumber": seq,
                    "data": data,
                    "approximateArrivalTimestamp": 1_795_252_563.6 + sequence as f64 * 0.05,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/ACME_CC-ContactLensConsumerRole",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ACME_CC-123456789012-ContactLensStream",
            }));
        }
    }
    (json!({ "Records": records }), ids)
}

fn hot_path(name: &str, setting: String, runs: Vec<HotRun>) -> HotPath {
    let mut walls: Vec<f64> = runs.iter().map(|r| r.wall_ms).collect();
    walls.sort_by(f64::total_cmp);
    let median_wall_ms = walls.get(walls.len() / 2).copied().unwrap_or_default();
    let salesforce_requests = runs.first().map_or(0, |r| r.salesforce_requests);
    HotPath { name: name.into(), setting, runs, median_wall_ms, salesforce_requests }
}

/// The contact ids in the records of Kinesis sample events.
fn contacts_in_kinesis(events: &[(String, Value)]) -> Vec<String> {
    let mut contacts = Vec::new();
    for (_, event) in events {
        for record in event["Records"].as_array().into_iter().flatten() {
            let Some(data) = record["kinesis"]["data"].as_str() else { continue };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else { continue };
            let Ok(body) = serde_json::from_slice::<Value>(&bytes) else { continue };
            if let Some(id) = body["ContactId"].as_str()
                && !contacts.iter().any(|c| c == id)
            {
                contacts.push(id.to_string());
            }
        }
    }
    contacts
}

/// The analysis files of the fixtures in the events' bucket, the contact in local Connect and its
/// VoiceCall.
async fn seed_post_call(stack: &Stack, events_dir: &Path, events: &[(String, Value)]) -> Result<()> {
    let fixtures = events_dir.join("fixtures");
    let s3 = s3_client(&stack.sdk);
    for (_, event) in events {
        let bucket = event["detail"]["bucket"]["name"].as_str().context("detail.bucket.name")?;
        let key = event["detail"]["object"]["key"].as_str().context("detail.object.key")?;
        stack.bucket(bucket).await?;
        let file = fixtures.join("s3").join(key);
        if let Ok(body) = std::fs::read(&file) {
            s3.put_object().bucket(bucket).key(key).body(body.clone().into()).send().await?;
            let analysis: Value = serde_json::from_slice(&body)?;
            let instance =
                analysis["CustomerMetadata"]["InstanceId"].as_str().context("CustomerMetadata.InstanceId")?;
            let contact_id =
                analysis["CustomerMetadata"]["ContactId"].as_str().context("CustomerMetadata.ContactId")?;
            let contact = read_json(&fixtures.join("describe-contact.json"))?["Contact"].clone();
            stack.connect.put_contact(instance, api_shape(contact)?)?;
            stack.voice_call(contact_id).await?;
        }
    }
    Ok(())
}

/// What VoiceMailAudioProcessing (and, for packaging, Transcribe) left for the sample voicemail: the
/// tagged recording, the transcript and the transcription job; with `route`, the VoiceCall too.
async fn seed_voicemail(stack: &Stack, events: &[(String, Value)], packaging: bool) -> Result<()> {
    let s3 = s3_client(&stack.sdk);
    let fixture = KvsFixture::voicemail()?;
    let contact = fixture.contact_id.clone();
    for (_, event) in events {
        let Some(bucket) = event["detail"]["bucket"]["name"].as_str() else { continue };
        stack.bucket(bucket).await?;
        let recording = format!("voicemail_recordings/{contact}.wav");
        let tagging = format!(
            "vm_lang=en-US&vm_dialedNumber=%2B15555550100&vm_initTimestamp=2024-01-04T19%3A49%3A19Z\
             &vm_endTimestamp=2024-01-04T19%3A50%3A07Z&vm_duration=5&vm_recordingUrl={bucket}%2F{}",
            recording.replace('/', "%2F")
        );
        let wav = std::fs::read(crate::workspace_root().join("tests/fixtures/voicemail/customer-source.wav"))?;
        s3.put_object()
            .bucket(bucket)
            .key(&recording)
            .content_type("audio/x-wav")
            .tagging(tagging)
            .body(wav.into())
            .send()
            .await?;
        if packaging {
            let mut output =
                read_json(&crate::workspace_root().join("tests/fixtures/voicemail/transcribe-output.json"))?;
            output["jobName"] = json!(contact);
            s3.put_object()
                .bucket(bucket)
                .key(format!("voicemail_transcripts/{contact}.json"))
                .body(output.to_string().into_bytes().into())
                .send()
                .await?;
            let transcribe = aws_sdk_transcribe_client(&stack.sdk);
            if transcribe.get_transcription_job().transcription_job_name(&contact).send().await.is_err() {
                transcribe
                    .start_transcription_job()
                    .transcription_job_name(&contact)
                    .language_code(aws_sdk_transcribe::types::LanguageCode::EnUs)
                    .media_format(aws_sdk_transcribe::types::MediaFormat::Wav)
                    .media(
                        aws_sdk_transcribe::types::Media::builder()
                            .media_file_uri(format!("s3://{bucket}/{recording}"))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(aws_sdk_transcribe::Error::from)?;
            }
        }
    }
    Ok(())
}

fn aws_sdk_transcribe_client(sdk: &aws_config::SdkConfig) -> aws_sdk_transcribe::Client {
    aws_sdk_transcribe::Client::new(sdk)
}

fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// The Contact as the Connect API answers it: every `...Timestamp` as epoch seconds.
fn api_shape(mut contact: Value) -> Result<Value> {
    fn walk(value: &mut Value) -> Result<()> {
        if let Value::Object(map) = value {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key.ends_with("Timestamp") => *v = json!(epoch_seconds(text)?),
                    other => walk(other)?,
                }
            }
        }
        Ok(())
    }
    walk(&mut contact)?;
    Ok(contact)
}

fn read_events(dir: &Path) -> Result<Vec<(String, Value)>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names.into_iter().map(|n| Ok((n.clone(), read_json(&dir.join(&n))?))).collect()
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `VmHWM` (peak resident set) of a process, in kB.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, "VmHWM:")
}

/// A `kB` field of `/proc/<pid>/status` (or `/proc/meminfo`).
pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = parse_status_kb(&meminfo, "MemTotal:").unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        cpu_model,
        memory_gib,
        kernel,
        arch: std::env::consts::ARCH.to_string(),
        rustc,
        date: chrono_free_date(),
    }
}

/// Today's UTC date (YYYY-MM-DD) without a date crate.
fn chrono_free_date() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
            as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// criterion's results: every `<dir>/**/new/estimates.json` with its `benchmark.json`.
pub fn read_criterion(dir: &Path) -> Vec<MicroBench> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                let estimates = read_json(&path.join("estimates.json")).ok();
                let benchmark = read_json(&path.join("benchmark.json")).ok();
                if let (Some(estimates), Some(benchmark)) = (estimates, benchmark)
                    && let Some(mean_ns) = estimates["mean"]["point_estimate"].as_f64()
                {
                    found.push(MicroBench {
                        id: benchmark["full_id"].as_str().unwrap_or("?").to_string(),
                        mean_ns,
                        elements: benchmark["throughput"]["Elements"].as_u64(),
                        bytes: benchmark["throughput"]["Bytes"].as_u64(),
                    });
                }
            } else if path.file_name().is_none_or(|n| n != "base" && n != "change" && n != "report") {
                stack.push(path);
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn write_outputs(options: &BenchOptions, report: &BenchReport) -> Result<()> {
    std::fs::create_dir_all(&options.out_dir)?;
    std::fs::write(options.out_dir.join("results.json"), serde_json::to_string_pretty(report)? + "\n")?;
    std::fs::write(options.out_dir.join("RESULTS.md"), markdown(report))?;
    std::fs::write(options.out_dir.join("chart.svg"), chart(&report.functions))?;
    Ok(())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "**miss**" }
}

/// `pass (v)` or `**miss** (v, +over)` for an upper bound.
fn within(value: f64, limit: f64, unit: &str) -> String {
    if value <= limit {
        format!("pass ({value:.1} {unit})")
    } else {
        format!("**miss** ({value:.1} {unit}, +{:.1} over)", value - limit)
    }
}

/// The Markdown report.
pub fn markdown(report: &BenchReport) -> String {
    let m = &report.machine;
    let mut s = String::new();
    let _ = writeln!(s, "# Measured performance (`make bench`)\n");
    let _ = writeln!(
        s,
        "Measured {} on {} x {} ({} CPUs), {:.1} GiB RAM, Linux {}, {} ({}). Cold starts, memory and timings \
         come from host-native ({}) release binaries run under the local Lambda Runtime API \
         (`local_stack::runtime`) against the Salesforce emulator and moto; zip sizes are the arm64 \
         `bootstrap.zip` files of `make build` (what is deployed). Every figure is one machine's, with \
         other builds possibly running: compare orders of magnitude, not decimals.\n",
        m.date, m.cpus, m.cpu_model, m.cpus, m.memory_gib, m.kernel, m.rustc, m.arch, m.arch
    );
    let _ = writeln!(s, "## Per function\n");
    let _ = writeln!(
        s,
        "Cold = process spawn to the first invocation answered, median of {COLD_RUNS} fresh processes; *own* = \
         the same less the time moto and the Salesforce emulator were busy answering (measured by a proxy in \
         front of each); SSM cold counts the first of those processes. Warm = the second \
         invocation (own time in brackets); median = own time over {} warm invocations cycling through the \
         function's sample events; *less hops* = the same less {:.3} ms per emulator request, what one \
         request measurably costs more through a proxy (the proxies are the harness's, not the function's). \
         RSS = `VmHWM` after the cold start and those invocations. SSM = GetParameter/GetParameters calls \
         reaching moto on the cold invocation / on the warm ones.\n",
        report.functions.first().map_or(0, |f| f.warm_invocations),
        report.proxy_hop_ms
    );
    let _ = writeln!(
        s,
        "| Function | cold event | init ms | cold ms | cold own ms | warm ms (own) | warm own median ms (less hops) | requests per warm invocation | peak RSS MB | zip MB (arm64) | SSM cold / warm | warm errors |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in &report.functions {
        let cold_note = if f.cold_error.is_some() { " (error)" } else { "" };
        let _ = writeln!(
            s,
            "| {} | `{}`{} | {:.1} | {:.1} | {:.1} | {:.2} ({:.2}) | {:.2} ({:.2}) | {:.1} | {:.1} | {} | {} / {} | {}/{} |",
            f.function,
            f.cold_event,
            cold_note,
            f.init_ms,
            f.cold_start_ms,
            f.cold_own_ms,
            f.warm_ms,
            f.warm_own_ms,
            f.warm_own_median_ms,
            f.warm_own_median_less_hops_ms,
            f.warm_requests_per_invocation,
            f.peak_rss_mb,
            f.zip_mb.map_or_else(|| "n/a".into(), |z| format!("{z:.1}")),
            f.ssm_cold,
            f.ssm_warm,
            f.warm_errors,
            f.warm_invocations
        );
    }
    let _ = writeln!(s, "\n## Against the targets of issue 9\n");
    let _ = writeln!(
        s,
        "| Function | cold own <= {} ms | warm own median, less hops <= {} ms | RSS <= {} MB | zip <= {} MB | SSM 1 cold, 0 warm |",
        targets::COLD_START_MS,
        targets::WARM_OVERHEAD_MS,
        targets::PEAK_RSS_MB,
        targets::ZIP_MB
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for f in &report.functions {
        let ssm = if f.uses_ssm {
            verdict(f.ssm_cold == 1 && f.ssm_warm == 0).to_string()
        } else {
            format!("{} (no secret: {} / {})", verdict(f.ssm_cold == 0 && f.ssm_warm == 0), f.ssm_cold, f.ssm_warm)
        };
        let zip = match f.zip_mb {
            Some(z) => within(z, targets::ZIP_MB, "MB"),
            None => "not built".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            f.function,
            within(f.cold_own_ms, targets::COLD_START_MS, "ms"),
            within(f.warm_own_median_less_hops_ms, targets::WARM_OVERHEAD_MS, "ms"),
            within(f.peak_rss_mb, targets::PEAK_RSS_MB, "MB"),
            zip,
            ssm
        );
    }
    let _ = writeln!(s, "\n## Hot paths ({} ms injected on every Salesforce call)\n", INJECTED_LATENCY_MS);
    let _ = writeln!(
        s,
        "| Hot path | setting | median wall ms | runs (ms) | Salesforce requests per run | failures | target |"
    );
    let _ = writeln!(s, "|---|---|---:|---|---:|---:|---|");
    for h in &report.hot_paths {
        let runs: Vec<String> = h.runs.iter().map(|r| format!("{:.0}", r.wall_ms)).collect();
        let failures: usize = h.runs.iter().map(|r| r.failures).sum();
        let target = if h.name.starts_with("CTRDataSync") {
            format!("<= {} s: {}", targets::CTR_BATCH_S, verdict(h.median_wall_ms <= targets::CTR_BATCH_S * 1000.0))
        } else {
            "(reported)".to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {} | {} | {} |",
            h.name,
            h.setting,
            h.median_wall_ms,
            runs.join(", "),
            h.salesforce_requests,
            failures,
            target
        );
    }
    let _ = writeln!(s, "\n## In-process (criterion, `shared/benches/hot_paths.rs`)\n");
    let _ = writeln!(s, "| Benchmark | mean per iteration | per unit |");
    let _ = writeln!(s, "|---|---:|---:|");
    for b in &report.micro {
        let per_unit = match (b.elements, b.bytes) {
            (Some(n), _) if n > 0 => {
                let unit = if b.id.starts_with("jwt") { "token" } else { "record" };
                format!("{:.2} µs per {unit}", b.mean_ns / n as f64 / 1000.0)
            }
            (_, Some(n)) if n > 0 => {
                let mb = n as f64 / (1024.0 * 1024.0);
                format!("{:.0} MB/s ({:.2} ms per MB)", mb / (b.mean_ns / 1e9), b.mean_ns / 1e6 / mb)
            }
            _ => format!("{:.1} µs per call", b.mean_ns / 1000.0),
        };
        let _ = writeln!(s, "| `{}` | {} | {} |", b.id, human_ns(b.mean_ns), per_unit);
    }
    if !report.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &report.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "\nWhy the misses happen and what would close them: [README.md](README.md).");
    let _ = writeln!(s, "\n![cold start and peak memory per function](chart.svg)");
    s
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Two bar charts side by side: cold start (own and total) and peak RSS per function, with the targets.
pub fn chart(functions: &[FunctionResult]) -> String {
    let row = 22.0;
    let top = 40.0;
    let label_w = 200.0;
    let panel_w = 260.0;
    let gap = 40.0;
    let height = top + row * functions.len() as f64 + 40.0;
    let width = label_w + 2.0 * panel_w + gap + 20.0;
    let cold_max = functions.iter().map(|f| f.cold_start_ms).fold(targets::COLD_START_MS, f64::max) * 1.1;
    let rss_max = functions.iter().map(|f| f.peak_rss_mb).fold(targets::PEAK_RSS_MB, f64::max) * 1.1;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let x_cold = label_w;
    let x_rss = label_w + panel_w + gap;
    let _ = writeln!(
        s,
        r#"<text x="{x_cold}" y="16" font-weight="bold">Cold start, ms (dark: own time; light: with emulators)</text>"#
    );
    let _ = writeln!(s, r#"<text x="{x_rss}" y="16" font-weight="bold">Peak RSS, MB</text>"#);
    for (i, f) in functions.iter().enumerate() {
        let y = top + row * i as f64;
        let _ =
            writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, label_w - 6.0, y + 14.0, f.function);
        let total = f.cold_start_ms / cold_max * panel_w;
        let own = f.cold_own_ms / cold_max * panel_w;
        let _ = writeln!(s, r##"<rect x="{x_cold}" y="{y:.1}" width="{total:.1}" height="16" fill="#a6c8e8"/>"##);
        let _ = writeln!(s, r##"<rect x="{x_cold}" y="{y:.1}" width="{own:.1}" height="16" fill="#1f6fb4"/>"##);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{:.1}</text>"#, x_cold + total + 3.0, y + 12.0, f.cold_own_ms);
        let rss = f.peak_rss_mb / rss_max * panel_w;
        let _ = writeln!(s, r##"<rect x="{x_rss}" y="{y:.1}" width="{rss:.1}" height="16" fill="#2e9e5b"/>"##);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{:.1}</text>"#, x_rss + rss + 3.0, y + 12.0, f.peak_rss_mb);
    }
    let bottom = top + row * functions.len() as f64;
    for (x0, max, target, label) in [
        (x_cold, cold_max, targets::COLD_START_MS, "target 30 ms"),
        (x_rss, rss_max, targets::PEAK_RSS_MB, "target 30 MB"),
    ] {
        let x = x0 + target / max * panel_w;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom:.1}" stroke="#c0392b" stroke-dasharray="4 3"/>"##,
            top - 4.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" fill="#c0392b" text-anchor="middle">{label}</text>"##,
            bottom + 14.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kb() {
        let status = "Name:\tx\nVmPeak:\t  12345 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n";
        for (field, want) in [("VmHWM:", Some(4321)), ("VmRSS:", Some(4000)), ("VmSwap:", None), ("Name:", None)] {
            assert_eq!(parse_status_kb(status, field), want, "{field}");
        }
    }

    #[test]
    fn the_contact_lens_batch_has_one_record_per_utterance_and_unique_ids() {
        let (event, contacts) = contact_lens_event(1, 25, 10);
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 250);
        assert_eq!(contacts.len(), 25);
        let mut ids = std::collections::HashSet::new();
        for record in records {
            let data = base64::engine::general_purpose::STANDARD.decode(record["kinesis"]["data"].as_str().unwrap());
            let body: Value = serde_json::from_slice(&data.unwrap()).unwrap();
            assert!(contacts.iter().any(|c| body["ContactId"] == c.as_str()));
            assert!(ids.insert(body["Segments"][0]["Utterance"]["Id"].as_str().unwrap().to_string()));
        }
        let (_, other_run) = contact_lens_event(2, 25, 10);
        assert!(other_run.iter().all(|c| !contacts.contains(c)), "each run has its own contacts");
    }

    #[test]
    fn the_date_is_a_calendar_date() {
        let date = chrono_free_date();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"), "{date}");
    }

    fn result(name: &str, cold_own: f64, rss: f64, ssm: (usize, usize), uses_ssm: bool) -> FunctionResult {
        FunctionResult {
            function: name.into(),
            package: name.into(),
            cold_event: "e.json".into(),
            cold_error: None,
            init_ms: 1.0,
            cold_start_ms: cold_own + 5.0,
            cold_emulator_ms: 5.0,
            cold_own_ms: cold_own,
            warm_ms: 1.0,
            warm_own_ms: 0.5,
            warm_own_median_ms: 0.5,
            warm_own_median_less_hops_ms: 0.4,
            warm_requests_per_invocation: 1.0,
            warm_invocations: 100,
            warm_errors: 0,
            peak_rss_mb: rss,
            zip_mb: Some(6.0),
            ssm_cold: ssm.0,
            ssm_warm: ssm.1,
            uses_ssm,
            aws_operations: BTreeMap::new(),
        }
    }

    #[test]
    fn the_report_marks_each_target_pass_or_miss() {
        let report = BenchReport {
            machine: machine(),
            proxy_hop_ms: 0.1,
            functions: vec![
                result("Fast", 10.0, 12.0, (1, 0), true),
                result("SlowFat", 45.0, 40.0, (3, 0), true),
                result("NoSecret", 10.0, 12.0, (0, 0), false),
            ],
            hot_paths: vec![hot_path(
                "CTRDataSync 100-CTR batch",
                "x".into(),
                vec![HotRun { wall_ms: 700.0, salesforce_requests: 100, failures: 0 }],
            )],
            micro: vec![],
            notes: vec![],
        };
        let md = markdown(&report);
        let row = |name: &str| md.lines().filter(|l| l.starts_with(&format!("| {name} |"))).nth(1).unwrap().to_string();
        assert_eq!(row("Fast"), "| Fast | pass (10.0 ms) | pass (0.4 ms) | pass (12.0 MB) | pass (6.0 MB) | pass |");
        assert_eq!(
            row("SlowFat"),
            "| SlowFat | **miss** (45.0 ms, +15.0 over) | pass (0.4 ms) | **miss** (40.0 MB, +10.0 over) | pass (6.0 MB) | **miss** |"
        );
        assert!(row("NoSecret").ends_with("| pass (no secret: 0 / 0) |"), "{}", row("NoSecret"));
        assert!(md.contains("<= 0.5 s: **miss**"));
        let svg = chart(&report.functions);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 1 + 3 * 3);
    }

    #[test]
    fn criterion_results_are_read_back() {
        let dir = std::env::temp_dir().join(format!("scv-bench-{}", uuid::Uuid::new_v4().simple()));
        let new = dir.join("jwt").join("sign").join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("estimates.json"), r#"{"mean":{"point_estimate":1234.5}}"#).unwrap();
        std::fs::write(new.join("benchmark.json"), r#"{"full_id":"jwt/sign","throughput":{"Elements":100}}"#).unwrap();
        let found = read_criterion(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "jwt/sign");
        assert_eq!(found[0].mean_ns, 1234.5);
        assert_eq!(found[0].elements, Some(100));
        assert_eq!(found[0].bytes, None);
    }
}
