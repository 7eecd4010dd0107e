//! `make demo`: see `local_stack::demo`.

use local_stack::demo::{DemoOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let report = run(&DemoOptions::default(), &mut std::io::stdout()).await?;
    if !report.ok() {
        std::process::exit(1);
    }
    Ok(())
}
