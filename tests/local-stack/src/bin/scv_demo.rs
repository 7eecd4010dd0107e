//! `make demo`: see `local_stack::demo`.

use local_stack::demo::{DemoOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep = std::env::var("KEEP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let report = run(&DemoOptions { keep, ..DemoOptions::default() }, &mut std::io::stdout()).await?;
    if !report.ok() {
        std::process::exit(1);
    }
    Ok(())
}
