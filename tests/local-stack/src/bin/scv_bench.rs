//! `make bench`: see `local_stack::bench`. Expects the release binaries (`cargo build --release
//! --workspace --bins`), criterion's results (`cargo bench -p scv-shared --bench hot_paths`) and, for the
//! zip sizes, `make build`'s arm64 zips.
//!
//! `BENCH_INVOCATIONS` overrides the 100 warm invocations; `BENCH_ONLY=pkg,pkg` measures only those
//! functions (and skips the hot paths); `BENCH_LOG_DIR` keeps each function's log lines there, at
//! `BENCH_LOG_LEVEL` (e.g. `debug`) when set; `BENCH_OUT` writes the results elsewhere than `bench/`;
//! `BENCH_BINARY_DIR` runs other binaries than the release ones (e.g. `target/debug`, for a quick check
//! of a scenario: its timings are not the release figures).

use local_stack::bench::{BenchOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = BenchOptions::default();
    if let Some(n) = std::env::var("BENCH_INVOCATIONS").ok().and_then(|v| v.parse().ok()) {
        options.invocations = n;
    }
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        options.only = only.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect();
    }
    if let Some(dir) = std::env::var_os("BENCH_OUT") {
        options.out_dir = dir.into();
    }
    if let Some(dir) = std::env::var_os("BENCH_BINARY_DIR") {
        options.binary_dir = dir.into();
    }
    options.log_dir = std::env::var_os("BENCH_LOG_DIR").map(Into::into);
    options.log_level = std::env::var("BENCH_LOG_LEVEL").ok();
    let report = run(&options, &mut std::io::stdout()).await?;
    println!(
        "\nWrote {}/RESULTS.md, chart.svg and results.json ({} functions).",
        options.out_dir.display(),
        report.functions.len()
    );
    Ok(())
}
