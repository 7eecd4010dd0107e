//! Measuring: the proxy hop, each function's cold and warm figures and memory, the hot paths, the
//! machine, criterion's results.

use super::scenarios::{Scenario, Stack};
use super::*;

/// What a request costs more through a [`CountingProxy`] than straight to the emulator: the median of
/// 200 small requests each way (the emulator answers an unknown path with 404 at once).
pub(super) async fn proxy_hop(stack: &Stack) -> Result<Duration> {
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

pub(super) async fn measure(
    stack: &Stack,
    options: &BenchOptions,
    scenario: Scenario,
    hop: Duration,
) -> Result<FunctionResult> {
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
    let mut cold_requests = 0;
    let mut cold_end = stack.now();
    let mut last = None;
    for run in 0..COLD_RUNS {
        let from = stack.now();
        let spawned = Instant::now();
        let process = FunctionProcess::spawn(spec.clone()).await?;
        let first = process
            .invoke(scenario.payload(cold_payload))
            .await
            .with_context(|| format!("{}: cold invocation", scenario.package))?;
        let cold = spawned.elapsed();
        cold_end = stack.now();
        let busy = stack.busy_between(from, cold_end);
        colds.push((cold, busy, process.init_duration().unwrap_or_default()));
        if run == 0 {
            first_error = first.result.err().map(|e| e.to_string());
            let (aws, sf) = stack.requests_between(from, cold_end);
            cold_requests = aws.len() + sf.len();
            cold_aws = aws;
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
        let invocation: Invocation = process.invoke(scenario.payload(payload)).await?;
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
    let rss = process.pid().and_then(rss_breakdown);
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
        rss,
        zip_mb: std::fs::metadata(&zip).ok().map(|m| m.len() as f64 / (1024.0 * 1024.0)),
        ssm_cold: ssm_reads(&cold_aws),
        ssm_warm: ssm_reads(&warm_aws),
        uses_ssm: scenario.uses_ssm,
        aws_operations,
        cold_requests,
    })
}

/// The floor: `echo-lambda` (an empty `lambda_runtime` function) measured as [`measure`] measures a
/// function: [`COLD_RUNS`] fresh processes to their first answer, then `options.invocations` warm
/// invocations and the peak RSS of the last process.
pub(super) async fn measure_floor(options: &BenchOptions) -> Result<Floor> {
    let binary = options.binary_dir.join("echo-lambda");
    if !binary.exists() {
        bail!("{} is missing (cargo build --release -p local-stack --bin echo-lambda)", binary.display());
    }
    let spec = FunctionSpec::new("echo-lambda", &binary).with_timeout(Duration::from_secs(60));
    let event = json!({"floor": true});
    let mut colds = Vec::with_capacity(COLD_RUNS);
    let mut inits = Vec::with_capacity(COLD_RUNS);
    let mut last = None;
    for run in 0..COLD_RUNS {
        let spawned = Instant::now();
        let process = FunctionProcess::spawn(spec.clone()).await?;
        let first = process.invoke(event.clone()).await.context("echo-lambda: cold invocation")?;
        colds.push(spawned.elapsed());
        inits.push(process.init_duration().unwrap_or_default());
        if let Err(e) = first.result {
            bail!("echo-lambda failed its cold invocation: {e}");
        }
        if run + 1 < COLD_RUNS {
            process.shutdown().await?;
        } else {
            last = Some(process);
        }
    }
    let process = last.context("no cold run")?;
    let mut warm = Vec::with_capacity(options.invocations);
    for _ in 0..options.invocations {
        warm.push(process.invoke(event.clone()).await?.duration);
    }
    let peak_rss_kb = process.pid().and_then(vm_hwm_kb).unwrap_or(0);
    let rss = process.pid().and_then(rss_breakdown);
    process.shutdown().await?;
    let median = |mut values: Vec<Duration>| {
        values.sort();
        values.get(values.len() / 2).copied().map(ms).unwrap_or_default()
    };
    Ok(Floor {
        init_ms: median(inits),
        cold_start_ms: median(colds),
        warm_median_ms: median(warm),
        peak_rss_mb: peak_rss_kb as f64 / 1024.0,
        rss,
    })
}

/// CTRDataSync's adaptive concurrency: 100 CTRs of distinct contacts (`batch-100.json`) at 50 ms per
/// Salesforce call and without latency (the harness's own cost), at the function's default ceiling;
/// then under a 429 storm (Salesforce refusing requests beyond [`STORM_LIMIT`] in flight, 50 ms per
/// answer) adaptive
/// against a fixed concurrency of 25 (`CTR_SYNC_ADAPTIVE=false`), each replaying what it reported
/// until nothing is.
pub(super) async fn aimd_scenarios(stack: &Stack, options: &BenchOptions) -> Result<Vec<AimdRun>> {
    const SCENARIO: &str = "100 CTRs, distinct contacts";
    let mut out = Vec::new();
    for (setting, latency, env) in [
        (format!("{INJECTED_LATENCY_MS} ms injected, adaptive, default ceiling"), true, vec![]),
        ("no latency, adaptive, default ceiling".to_string(), false, vec![]),
    ] {
        out.push(aimd_run(stack, options, SCENARIO, &setting, latency, None, env).await?);
    }
    for (setting, env) in [
        (
            format!("429 storm (at most {STORM_LIMIT} in flight, {INJECTED_LATENCY_MS} ms), adaptive, ceiling 25"),
            vec![("CTR_SYNC_CONCURRENCY", "25")],
        ),
        (
            format!("429 storm (at most {STORM_LIMIT} in flight, {INJECTED_LATENCY_MS} ms), fixed concurrency 25"),
            vec![("CTR_SYNC_CONCURRENCY", "25"), ("CTR_SYNC_ADAPTIVE", "false")],
        ),
    ] {
        // With the latency too: requests overlap at Salesforce only when its answers take time.
        out.push(aimd_run(stack, options, SCENARIO, &setting, true, Some(STORM_LIMIT), env).await?);
    }
    Ok(out)
}

/// Salesforce's concurrent requests in the 429 storm.
const STORM_LIMIT: usize = 8;

async fn aimd_run(
    stack: &Stack,
    options: &BenchOptions,
    scenario: &str,
    setting: &str,
    latency: bool,
    storm: Option<usize>,
    extra_env: Vec<(&str, &str)>,
) -> Result<AimdRun> {
    let package = "ctr-data-sync";
    let param = stack.scrt_param(package).await?;
    stack.bucket(CTR_BUCKET).await?;
    let mut env: Vec<(String, String)> = stack
        .function_env(package, &param)?
        .into_iter()
        .filter(|(name, _)| name != "CTR_SYNC_CONCURRENCY" && name != "CTR_SYNC_ADAPTIVE")
        .collect();
    env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let events = options.events_root.join(package);
    let batch = read_json(&events.join("batch-100.json"))?;
    let warmup = read_json(&events.join("demo-call-ctrs.json"))?;
    let records = batch["Records"].as_array().map_or(0, Vec::len);
    let spec = FunctionSpec::new(package, options.binary_dir.join(package))
        .with_envs(aws_env(stack.aws.endpoint()))
        .with_envs(env)
        .with_timeout(Duration::from_secs(120));
    let mut walls = Vec::new();
    let (mut throttled, mut first_failures, mut invocations, mut synced) = (0, 0, 0, 0);
    for run in 0..HOT_RUNS {
        // A fresh process per run: each starts at its ceiling, as a new container does.
        let process = FunctionProcess::spawn(spec.clone()).await?;
        process.invoke(warmup.clone()).await?;
        let before_count = stack.emulator.requests().len();
        if latency {
            stack.emulator.inject(Fault::delay(INJECTED_LATENCY_MS, 1_000_000));
        }
        stack.emulator.limit_concurrency(storm);
        let mut pending = batch.clone();
        let mut count = 0;
        let mut reported = Vec::new();
        while count < 20 {
            let invocation = process.invoke(pending.clone()).await?;
            count += 1;
            let failed: Vec<String> = match &invocation.result {
                Ok(response) => response["batchItemFailures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                Err(e) => bail!("CTRDataSync failed the batch: {e}"),
            };
            if count == 1 {
                walls.push(ms(invocation.duration));
                reported = failed.clone();
            }
            if failed.is_empty() {
                break;
            }
            let again: Vec<Value> = batch["Records"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|r| {
                            r["kinesis"]["sequenceNumber"].as_str().is_some_and(|s| failed.iter().any(|f| f == s))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            pending = json!({ "Records": again });
        }
        stack.emulator.limit_concurrency(None);
        stack.emulator.clear_faults();
        process.shutdown().await?;
        if run == 0 {
            let requests = stack.emulator.requests();
            let new = &requests[before_count.min(requests.len())..];
            throttled = new.iter().filter(|r| r.status == 429).count();
            first_failures = reported.len();
            invocations = count;
            let contacts: std::collections::HashSet<String> = batch["Records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let data = r["kinesis"]["data"].as_str()?;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
                    let ctr: Value = serde_json::from_slice(&bytes).ok()?;
                    ctr["ContactId"].as_str().map(str::to_string)
                })
                .collect();
            synced = new
                .iter()
                .filter(|r| r.method == "PATCH" && r.status == 200)
                .filter_map(|r| r.path.rsplit('/').next())
                .filter(|id| contacts.contains(*id))
                .collect::<std::collections::HashSet<_>>()
                .len();
        }
    }
    walls.sort_by(f64::total_cmp);
    Ok(AimdRun {
        scenario: scenario.to_string(),
        setting: setting.to_string(),
        median_wall_ms: walls.get(walls.len() / 2).copied().unwrap_or_default(),
        throttled,
        first_failures,
        invocations,
        synced,
        records,
    })
}

/// CTRDataSync on `batch-100.json` with 50 ms on every Salesforce call, in a warm process.
pub(super) async fn ctr_batch(stack: &Stack, options: &BenchOptions, concurrency: Option<u32>) -> Result<HotPath> {
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
pub(super) async fn contact_lens_batch(stack: &Stack, options: &BenchOptions) -> Result<HotPath> {
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

pub(super) fn hot_path(name: &str, setting: String, runs: Vec<HotRun>) -> HotPath {
    let mut walls: Vec<f64> = runs.iter().map(|r| r.wall_ms).collect();
    walls.sort_by(f64::total_cmp);
    let median_wall_ms = walls.get(walls.len() / 2).copied().unwrap_or_default();
    let salesforce_requests = runs.first().map_or(0, |r| r.salesforce_requests);
    HotPath { name: name.into(), setting, runs, median_wall_ms, salesforce_requests }
}

/// `VmHWM` (peak resident set) of a process, in kB.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, "VmHWM:")
}

/// Where a process's resident memory is, from `/proc/<pid>/smaps`: the executable's own pages (its
/// code, and its read-only and writable data), the shared libraries', and the anonymous ones (the
/// allocator's heap and arenas, thread stacks, other anonymous maps).
pub fn rss_breakdown(pid: u32) -> Option<RssBreakdown> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok()).unwrap_or(0);
    Some(RssBreakdown { threads, ..parse_smaps(&smaps, &exe.to_string_lossy()) })
}

/// [`rss_breakdown`] of an smaps text, the executable being `exe`.
pub fn parse_smaps(smaps: &str, exe: &str) -> RssBreakdown {
    let mut out = RssBreakdown::default();
    // (is the executable's, is executable, is file-backed)
    let mut current: Option<(bool, bool, bool)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            current = Some((path == exe, perms.contains('x'), path.starts_with('/')));
            continue;
        }
        if first != "Rss:" {
            continue;
        }
        let kb: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        out.total_kb += kb;
        match current {
            Some((true, true, _)) => out.binary_code_kb += kb,
            Some((true, false, _)) => out.binary_data_kb += kb,
            Some((false, _, true)) => out.libraries_kb += kb,
            _ => out.anonymous_kb += kb,
        }
    }
    out
}

/// A `kB` field of `/proc/<pid>/status` (or `/proc/meminfo`).
pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

pub(super) fn machine() -> Machine {
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
pub(super) fn chrono_free_date() -> String {
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
