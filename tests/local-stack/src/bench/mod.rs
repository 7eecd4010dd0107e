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
//!
//! [`scenarios`]: the local account and what each function runs on; [`measurement`]: cold and warm
//! figures, memory, the hot paths, the machine; [`report`]: RESULTS.md, the SVG chart, results.json.

mod measurement;
mod report;
mod scenarios;

pub use measurement::{parse_smaps, parse_status_kb, read_criterion, rss_breakdown, vm_hwm_kb};
pub use report::{chart, markdown};
pub use scenarios::contact_lens_event;

use measurement::{aimd_scenarios, contact_lens_batch, ctr_batch, machine, measure, measure_floor, proxy_hop};
use report::write_outputs;
use scenarios::{Stack, scenario};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};
use sf_emulator::keys::TestKeyPair;
use sf_emulator::{Emulator, Fault, RoutingAnswer, RoutingConfig};

use crate::connect::{LocalConnect, epoch_seconds};
use crate::counting_proxy::{CountingProxy, ProxiedRequest, busy_time, ssm_reads};
use crate::invoke_recorder::InvokeRecorder;
use crate::kvs::{KvsFixture, KvsServer};
use crate::moto::{Moto, aws_env, aws_sdk_config, put_secure_parameter};
use crate::runtime::{FunctionProcess, FunctionSpec, Invocation, binary_path_in};
use crate::transcribe_streaming::{EndpointConfig, TranscribeStreamingServer};

use crate::stack::{CALL_CENTER, CONSUMER_KEY, ORG_ID};

const DIALED: &str = "+15555550100";
const ROUTED_AGENT: &str =
    "arn:aws:connect:us-east-1:123456789012:instance/8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a/agent/1a2b3c4d";
/// The CTR backup bucket of the bench's account.
const CTR_BUCKET: &str = "bench-ctr-backup";
/// The recordings bucket of the bench's account.
const RECORDINGS_BUCKET: &str = "bench-voicemail-recordings";
/// Latency injected on every Salesforce call in the hot paths.
pub const INJECTED_LATENCY_MS: u64 = 50;
/// How many times each hot path runs (the median is reported).
const HOT_RUNS: usize = 3;
/// How many fresh processes measure each cold start (the medians are reported).
const COLD_RUNS: usize = 5;

/// The targets of issue 18: against the floor (an empty `lambda_runtime` function measured in the
/// same run), the adaptive concurrency's.
pub mod floor_targets {
    /// Cold own time within this many times the floor's spawn-to-first-answer (plus the function's
    /// own round trips through the harness's proxies).
    pub const COLD_RATIO: f64 = 1.5;
    /// Peak RSS within this many times the floor's.
    pub const RSS_RATIO: f64 = 2.0;
    /// Warm own time (median, less the emulators' time and the proxy hops) under this.
    pub const WARM_OWN_MS: f64 = 1.0;
    /// 100 CTRs of distinct contacts at the injected latency: within this many round trips of the
    /// same batch without latency.
    pub const AIMD_ROUND_TRIPS: f64 = 3.0;
}

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
    /// Where the resident memory is at that point (`VmRSS`, from smaps).
    #[serde(default)]
    pub rss: Option<RssBreakdown>,
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
    /// Emulator requests (moto and Salesforce) during the first cold invocation: its own round trips.
    #[serde(default)]
    pub cold_requests: usize,
}

/// The floor: the local stack's empty `lambda_runtime` function (`echo-lambda`, the event answered
/// back), measured the same way in the same run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Floor {
    pub init_ms: f64,
    /// Spawn to the first invocation answered (median of the fresh processes).
    pub cold_start_ms: f64,
    /// Median warm invocation.
    pub warm_median_ms: f64,
    pub peak_rss_mb: f64,
    pub rss: Option<RssBreakdown>,
}

/// Resident memory by where it is (`/proc/<pid>/smaps`), in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RssBreakdown {
    pub total_kb: u64,
    /// The executable's code pages touched.
    pub binary_code_kb: u64,
    /// The executable's read-only and writable data (relocations, statics, string tables).
    pub binary_data_kb: u64,
    /// Shared libraries (libc, the loader...).
    pub libraries_kb: u64,
    /// Anonymous: the allocator's heap and per-thread arenas, thread stacks, other anonymous maps.
    pub anonymous_kb: u64,
    /// The process's threads at that point (`/proc/<pid>/status`).
    pub threads: u32,
}

/// One run of an adaptive-concurrency scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AimdRun {
    pub scenario: String,
    pub setting: String,
    /// Wall time of the first invocation over the batch (median of the runs).
    pub median_wall_ms: f64,
    /// Answers 429 Salesforce gave, until every record was synced (replays of the reported ones included).
    pub throttled: usize,
    /// Records reported for retry by the first invocation.
    pub first_failures: usize,
    /// Invocations until nothing was reported.
    pub invocations: usize,
    /// VoiceCalls updated at the end, of `records`.
    pub synced: usize,
    pub records: usize,
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
    /// The empty function measured in the same run ([`Floor`]).
    pub floor: Option<Floor>,
    /// The adaptive-concurrency scenarios.
    pub aimd: Vec<AimdRun>,
    /// What one request costs more through a proxy than straight to the emulator (median of 200).
    pub proxy_hop_ms: f64,
    pub functions: Vec<FunctionResult>,
    pub hot_paths: Vec<HotPath>,
    pub micro: Vec<MicroBench>,
    pub notes: Vec<String>,
}

/// Runs every measurement and writes the results under `options.out_dir`.
pub async fn run(options: &BenchOptions, out: &mut dyn std::io::Write) -> Result<BenchReport> {
    let stack = Stack::start().await?;
    let mut notes = Vec::new();
    let hop = proxy_hop(&stack).await?;
    writeln!(out, "proxy hop: {:.3} ms per request", ms(hop))?;
    let floor = match measure_floor(options).await {
        Ok(floor) => {
            writeln!(
                out,
                "{:<36} cold {:>6.1} ms (init {:.1} ms)  warm {:>5.2} ms  RSS {:>5.1} MB",
                "floor (echo-lambda)", floor.cold_start_ms, floor.init_ms, floor.warm_median_ms, floor.peak_rss_mb
            )?;
            Some(floor)
        }
        Err(e) => {
            notes.push(format!("the floor (echo-lambda) could not be measured: {e:#}"));
            None
        }
    };
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
    let mut aimd = Vec::new();
    if options.only.is_empty() {
        for run in aimd_scenarios(&stack, options).await.context("the adaptive concurrency scenarios")? {
            writeln!(
                out,
                "{}: {} -> median {:.0} ms, {} x 429, {} invocations, {}/{} synced",
                run.scenario, run.setting, run.median_wall_ms, run.throttled, run.invocations, run.synced, run.records
            )?;
            aimd.push(run);
        }
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
    let long_calls = options.only.is_empty() || options.only.iter().any(|o| o == "kvs-transcriber");
    for minutes in [1, 5].into_iter().filter(|_| long_calls) {
        let (hot, note) = long_call(&stack, options, minutes).await.context("the kvsTranscriber long call")?;
        writeln!(out, "{note}")?;
        hot_paths.push(hot);
        notes.push(note);
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
    let report =
        BenchReport { machine: machine(), floor, aimd, proxy_hop_ms: ms(hop), functions, hot_paths, micro, notes };
    write_outputs(options, &report)?;
    Ok(report)
}

/// The function packages, in the order of the README.
pub const PACKAGES: [&str; 14] = [
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
    "kvs-consumer-trigger",
    "kvs-transcriber",
];

pub(super) fn read_events(dir: &Path) -> Result<Vec<(String, Value)>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names.into_iter().map(|n| Ok((n.clone(), read_json(&dir.join(&n))?))).collect()
}

pub(super) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub(super) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// kvsTranscriber on a call of `minutes` (the live call fixture repeated, both tracks) in one fresh
/// process: the messages it posts per second (Kinesis Video sends the call as fast as it is read, so
/// the posting is the bound) and its peak memory, which should not grow with the call's length.
async fn long_call(stack: &Stack, options: &BenchOptions, minutes: usize) -> Result<(HotPath, String)> {
    let base = KvsFixture::live_call()?;
    let times = (minutes * 60).div_ceil(8);
    let arn = format!("arn:aws:kinesisvideo:us-east-1:123456789012:stream/bench-long-call-{minutes}/1795252400000");
    let fixture = base.repeated_call(times, &arn);
    stack.kvs.add_stream(fixture.clone());
    let script = fixture.clone();
    stack.transcribe.set_script_selector(move |session| script.transcriber_script(&session.session_id));
    if stack.emulator.voice_call(&fixture.contact_id).is_none() {
        stack.voice_call(&fixture.contact_id).await?;
    }
    let param = stack.scrt_param("kvs-transcriber").await?;
    let spec = FunctionSpec::new("kvsTranscriber", options.binary_dir.join("kvs-transcriber"))
        .with_envs(aws_env(stack.aws.endpoint()))
        .with_envs(stack.transcriber_env(&param)?)
        .with_timeout(Duration::from_secs(900));
    let process = FunctionProcess::spawn(spec).await?;
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(
        options.events_root.join("kvs-transcriber/01-both-tracks.json"),
    )?)?;
    event["streamARN"] = json!(arn);
    event["startFragmentNum"] = json!(fixture.fragment_start_number);
    let count = || stack.emulator.voice_call(&fixture.contact_id).map_or(0, |c| c.messages.len());
    let before = count();
    let started = Instant::now();
    let invocation = process.invoke(event).await?;
    let wall = started.elapsed();
    let rss_mb = process.pid().and_then(vm_hwm_kb).map_or(0.0, |kb| kb as f64 / 1024.0);
    let posted = count() - before;
    let failures = usize::from(invocation.result.is_err());
    process.shutdown().await?;
    let per_second = posted as f64 / wall.as_secs_f64().max(1e-9);
    let note = format!(
        "kvsTranscriber, a {minutes}-minute call (both tracks): {posted} messages in {:.1} s ({per_second:.0} messages/s), peak RSS {rss_mb:.1} MB",
        wall.as_secs_f64()
    );
    let run = HotRun { wall_ms: ms(wall), salesforce_requests: posted, failures };
    let hot = HotPath {
        name: "kvsTranscriber long call".into(),
        setting: format!("{minutes} min, both tracks, peak RSS {rss_mb:.1} MB"),
        runs: vec![run],
        median_wall_ms: ms(wall),
        salesforce_requests: posted,
    };
    Ok((hot, note))
}

#[cfg(test)]
mod tests {
    use super::measurement::{chrono_free_date, hot_path};
    use super::*;

    #[test]
    fn status_fields_are_read_in_kb() {
        let status = "Name:\tx\nVmPeak:\t  12345 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n";
        for (field, want) in [("VmHWM:", Some(4321)), ("VmRSS:", Some(4000)), ("VmSwap:", None), ("Name:", None)] {
            assert_eq!(parse_status_kb(status, field), want, "{field}");
        }
    }

    #[test]
    fn smaps_is_split_by_where_the_pages_are() {
        let smaps = "\
5600-5700 r--p 00000000 fd:01 42 /var/task/bootstrap
Size:                400 kB
Rss:                 100 kB
VmFlags: rd mr mw me
5700-5900 r-xp 00100000 fd:01 42 /var/task/bootstrap
Rss:                 900 kB
5900-5a00 rw-p 00300000 fd:01 42 /var/task/bootstrap
Rss:                  30 kB
6000-6100 rw-p 00000000 00:00 0 [heap]
Rss:                 700 kB
7000-7100 rw-p 00000000 00:00 0
Rss:                 250 kB
7f00-7f10 r-xp 00000000 fd:01 77 /usr/lib64/libc.so.6
Rss:                 600 kB
7ff0-7ff1 rw-p 00000000 00:00 0 [stack]
Rss:                  20 kB
";
        let b = parse_smaps(smaps, "/var/task/bootstrap");
        assert_eq!(
            b,
            RssBreakdown {
                total_kb: 2600,
                binary_code_kb: 900,
                binary_data_kb: 130,
                libraries_kb: 600,
                anonymous_kb: 970,
                threads: 0
            }
        );
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
            rss: Some(RssBreakdown {
                total_kb: (rss * 1024.0) as u64,
                binary_code_kb: 4096,
                binary_data_kb: 1024,
                libraries_kb: 2048,
                anonymous_kb: (rss * 1024.0) as u64 - 7168,
                threads: 4,
            }),
            zip_mb: Some(6.0),
            ssm_cold: ssm.0,
            ssm_warm: ssm.1,
            uses_ssm,
            aws_operations: BTreeMap::new(),
            cold_requests: 2,
        }
    }

    #[test]
    fn the_report_marks_each_target_pass_or_miss() {
        let report = BenchReport {
            machine: machine(),
            floor: Some(Floor {
                init_ms: 4.0,
                cold_start_ms: 10.0,
                warm_median_ms: 0.1,
                peak_rss_mb: 6.0,
                rss: Some(RssBreakdown {
                    total_kb: 6144,
                    binary_code_kb: 1024,
                    binary_data_kb: 512,
                    libraries_kb: 2048,
                    anonymous_kb: 2560,
                    threads: 3,
                }),
            }),
            aimd: vec![
                AimdRun {
                    scenario: "100 CTRs, distinct contacts".into(),
                    setting: "50 ms injected".into(),
                    median_wall_ms: 180.0,
                    throttled: 0,
                    first_failures: 0,
                    invocations: 1,
                    synced: 100,
                    records: 100,
                },
                AimdRun {
                    scenario: "100 CTRs, distinct contacts".into(),
                    setting: "no latency".into(),
                    median_wall_ms: 20.0,
                    throttled: 0,
                    first_failures: 0,
                    invocations: 1,
                    synced: 100,
                    records: 100,
                },
            ],
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
        // Against the floor (10 ms cold, 6 MB): Fast's 10 ms own time is within 1.5 x 10 + 2 x 0.1 ms,
        // SlowFat's 45 ms is not; 12 MB is 2.0 x the floor's 6 MB, 40 MB is not.
        let floor_row = |name: &str| {
            md.split("## Against the floor")
                .nth(1)
                .unwrap()
                .lines()
                .find(|l| l.starts_with(&format!("| {name} |")))
                .unwrap()
                .to_string()
        };
        assert!(floor_row("Fast").contains("| 1.50 x | pass (10.0 ms <= 15.2 ms) |"), "{}", floor_row("Fast"));
        assert!(floor_row("Fast").contains("| 2.00 x | pass |"), "{}", floor_row("Fast"));
        assert!(floor_row("SlowFat").contains("**miss** (45.0 ms > 15.2 ms)"), "{}", floor_row("SlowFat"));
        assert!(floor_row("SlowFat").contains("| 6.67 x | **miss** |"), "{}", floor_row("SlowFat"));
        // 180 ms against 20 ms + 3 x 50 ms: a miss by 10 ms.
        assert!(md.contains("<= 170 ms (3 round trips + the harness's 20 ms): **miss**"), "{md}");
        let no_latency = md.lines().find(|l| l.contains("| no latency |")).unwrap();
        assert!(no_latency.ends_with("| (reference) |"), "{no_latency}");
        // Where the memory is: SlowFat's 40 MB is 3 MB more code, 0.5 MB more data and 30.5 MB more
        // anonymous memory than the floor's.
        let rss_row =
            md.split("### Where the resident memory is").nth(1).unwrap().lines().find(|l| l.starts_with("| SlowFat |"));
        assert_eq!(rss_row, Some("| SlowFat | 40.0 | 4.0 | 1.0 | 2.0 | 33.0 | 4 | +3.0 | +0.5 | +30.5 |"), "{md}");
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
