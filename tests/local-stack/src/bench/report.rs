//! The report: RESULTS.md (Markdown tables), chart.svg and results.json.

use super::*;

pub(super) fn write_outputs(options: &BenchOptions, report: &BenchReport) -> Result<()> {
    std::fs::create_dir_all(&options.out_dir)?;
    std::fs::write(options.out_dir.join("results.json"), serde_json::to_string_pretty(report)? + "\n")?;
    std::fs::write(options.out_dir.join("RESULTS.md"), markdown(report))?;
    std::fs::write(options.out_dir.join("chart.svg"), chart(&report.functions))?;
    Ok(())
}

pub(super) fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "**miss**" }
}

/// `pass (v)` or `**miss** (v, +over)` for an upper bound.
pub(super) fn within(value: f64, limit: f64, unit: &str) -> String {
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
    floor_section(&mut s, report);
    aimd_section(&mut s, report);
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

/// Each function against the floor (issue 18): spawn-to-first-answer and RSS as ratios to the empty
/// function's, cold own time against 1.5 x the floor plus the function's own round trips (the proxy
/// hop per emulator request), RSS against 2 x, warm own time against 1 ms.
fn floor_section(s: &mut String, report: &BenchReport) {
    let Some(floor) = &report.floor else {
        let _ = writeln!(s, "\n## Against the floor\n\nThe floor (echo-lambda) was not measured: see the notes.");
        return;
    };
    let _ = writeln!(s, "\n## Against the floor (issue 18)\n");
    let _ = writeln!(
        s,
        "The floor: an empty `lambda_runtime` function (the local stack's `echo-lambda`, which answers its \
         event back), measured in the same run the same way: spawn to first answer {:.1} ms (init {:.1} ms), \
         warm {:.2} ms, peak RSS {:.1} MB. *x floor* = the function's figure over the floor's; absolute \
         milliseconds for context only. Cold target: own time <= {} x the floor's spawn-to-first-answer plus \
         {:.3} ms per emulator request of the cold invocation (its own round trips through the harness's \
         proxies); RSS <= {} x the floor's; warm own median (less hops) < {} ms.\n",
        floor.cold_start_ms,
        floor.init_ms,
        floor.warm_median_ms,
        floor.peak_rss_mb,
        floor_targets::COLD_RATIO,
        report.proxy_hop_ms,
        floor_targets::RSS_RATIO,
        floor_targets::WARM_OWN_MS
    );
    let _ = writeln!(
        s,
        "| Function | cold ms | x floor | cold own vs {} x floor + round trips | peak RSS MB | x floor | RSS <= {} x floor | warm own median ms (less hops) | warm own < {} ms |",
        floor_targets::COLD_RATIO,
        floor_targets::RSS_RATIO,
        floor_targets::WARM_OWN_MS
    );
    let _ = writeln!(s, "|---|---:|---:|---|---:|---:|---|---:|---|");
    let _ = writeln!(
        s,
        "| floor (echo-lambda) | {:.1} | 1.00 x | - | {:.1} | 1.00 x | - | {:.2} | - |",
        floor.cold_start_ms, floor.peak_rss_mb, floor.warm_median_ms
    );
    for f in &report.functions {
        let allowed = floor_targets::COLD_RATIO * floor.cold_start_ms + report.proxy_hop_ms * f.cold_requests as f64;
        let cold = if f.cold_own_ms <= allowed {
            format!("pass ({:.1} ms <= {allowed:.1} ms)", f.cold_own_ms)
        } else {
            format!("**miss** ({:.1} ms > {allowed:.1} ms)", f.cold_own_ms)
        };
        let ratio = |value: f64, base: f64| if base > 0.0 { value / base } else { f64::NAN };
        let rss_ratio = ratio(f.peak_rss_mb, floor.peak_rss_mb);
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.2} x | {} | {:.1} | {:.2} x | {} | {:.2} | {} |",
            f.function,
            f.cold_start_ms,
            ratio(f.cold_start_ms, floor.cold_start_ms),
            cold,
            f.peak_rss_mb,
            rss_ratio,
            verdict(rss_ratio <= floor_targets::RSS_RATIO + 0.005),
            f.warm_own_median_less_hops_ms,
            verdict(f.warm_own_median_less_hops_ms < floor_targets::WARM_OWN_MS)
        );
    }
    rss_section(s, report, floor);
}

/// Where each process's resident memory is at the end of its run, against the floor's: the profile
/// behind the RSS ratio.
fn rss_section(s: &mut String, report: &BenchReport, floor: &Floor) {
    let Some(base) = floor.rss else { return };
    let _ = writeln!(s, "\n### Where the resident memory is\n");
    let _ = writeln!(
        s,
        "`VmRSS` at the end of each run (after the peak), split by `/proc/PID/smaps`: the executable's code \
         pages touched, its data (read-only tables, relocated statics, writable data), the shared \
         libraries (libc, the loader), and anonymous memory (the allocator's heap and per-thread arenas, \
         thread stacks), and the threads alive. MB; *over floor* = the function's less the floor's.\n"
    );
    let _ = writeln!(
        s,
        "| Function | VmRSS | binary code | binary data | libraries | anonymous | threads | over floor: code | data | anonymous |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mb = |kb: u64| kb as f64 / 1024.0;
    let over = |kb: u64, floor_kb: u64| (kb as f64 - floor_kb as f64) / 1024.0;
    let _ = writeln!(
        s,
        "| floor (echo-lambda) | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | - | - | - |",
        mb(base.total_kb),
        mb(base.binary_code_kb),
        mb(base.binary_data_kb),
        mb(base.libraries_kb),
        mb(base.anonymous_kb),
        base.threads
    );
    for f in &report.functions {
        let Some(r) = f.rss else { continue };
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:+.1} | {:+.1} | {:+.1} |",
            f.function,
            mb(r.total_kb),
            mb(r.binary_code_kb),
            mb(r.binary_data_kb),
            mb(r.libraries_kb),
            mb(r.anonymous_kb),
            r.threads,
            over(r.binary_code_kb, base.binary_code_kb),
            over(r.binary_data_kb, base.binary_data_kb),
            over(r.anonymous_kb, base.anonymous_kb)
        );
    }
}

/// The adaptive concurrency's scenarios and their targets.
fn aimd_section(s: &mut String, report: &BenchReport) {
    if report.aimd.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Adaptive concurrency toward Salesforce (CTRDataSync)\n");
    let _ = writeln!(
        s,
        "100 CTRs of distinct contacts in a warm process. Wall = the first invocation over the batch \
         (median of the runs); 429s and invocations count until nothing was reported for retry (Lambda's \
         replays of the reported records, done here by the harness).\n"
    );
    let _ = writeln!(
        s,
        "| Scenario | setting | median wall ms | 429 answers | reported by the first invocation | invocations | synced | target |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
    let baseline = report.aimd.iter().find(|r| r.setting.starts_with("no latency")).map(|r| r.median_wall_ms);
    let fixed = report.aimd.iter().find(|r| r.setting.contains("fixed concurrency")).map(|r| r.throttled);
    for r in &report.aimd {
        let target = if r.setting.starts_with(&format!("{INJECTED_LATENCY_MS} ms")) {
            match baseline {
                Some(base) => {
                    let limit = base + floor_targets::AIMD_ROUND_TRIPS * INJECTED_LATENCY_MS as f64;
                    format!(
                        "<= {limit:.0} ms ({} round trips + the harness's {base:.0} ms): {}",
                        floor_targets::AIMD_ROUND_TRIPS,
                        verdict(r.median_wall_ms <= limit)
                    )
                }
                None => "(no baseline)".to_string(),
            }
        } else if r.setting.starts_with("429 storm") && r.setting.contains("adaptive") {
            let lost = r.records - r.synced;
            match fixed {
                Some(fixed) => format!(
                    "fewer 429s than fixed ({} vs {fixed}): {}; nothing lost: {}",
                    r.throttled,
                    verdict(r.throttled < fixed),
                    verdict(lost == 0)
                ),
                None => format!("nothing lost: {}", verdict(lost == 0)),
            }
        } else {
            "(reference)".to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {} | {} | {}/{} | {} |",
            r.scenario,
            r.setting,
            r.median_wall_ms,
            r.throttled,
            r.first_failures,
            r.invocations,
            r.synced,
            r.records,
            target
        );
    }
}

pub(super) fn human_ns(ns: f64) -> String {
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
