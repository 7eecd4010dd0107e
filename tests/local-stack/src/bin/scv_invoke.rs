//! `make invoke FN=<function> EVENT=events/<function>/<file>.json`: runs one function's real debug
//! binary on one event against the local stack (see `local_stack::stack`) and prints its answer,
//! then what reached Salesforce, S3, Amazon Connect and the Lambda Invoke API.
//!
//! Usage: `scv-invoke <function> <event file> [NAME=VALUE ...]` (each `NAME=VALUE` changes the
//! function's environment). Exits 1 when the function reports an error.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use local_stack::stack::Stack;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(function), Some(event_file)) = (args.next(), args.next()) else {
        bail!(
            "usage: scv-invoke <function> <event file> [NAME=VALUE ...] (e.g. make invoke FN=ctr-data-sync EVENT=events/ctr-data-sync/batch-100.json)"
        );
    };
    let path = std::path::Path::new(&event_file);
    let path =
        if path.is_relative() && !path.exists() { local_stack::workspace_root().join(path) } else { path.into() };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let event: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;

    let mut builder = Stack::builder(&function);
    for pair in args {
        let Some((name, value)) = pair.split_once('=') else { bail!("{pair}: expected NAME=VALUE") };
        builder = builder.with_env(name, value);
    }
    let stack = builder.start().await?;
    println!("{function} ({}) with the environment template.yaml gives it:", stack.logical_id);
    for (name, value) in &stack.env {
        println!("  {name}={value}");
    }
    let process = stack.spawn(Duration::from_secs(60)).await?;
    process.wait_ready(Duration::from_secs(10)).await?;
    let invocation = process.invoke(event).await?;
    let failed = invocation.result.is_err();
    let answer = match &invocation.result {
        Ok(output) => json!({ "result": output }),
        Err(error) => json!({ "error": error }),
    };
    println!("\nanswer after {} ms:\n{}", invocation.duration.as_millis(), serde_json::to_string_pretty(&answer)?);

    if let Some(emulator) = &stack.emulator {
        let requests = emulator.requests();
        println!("\nSalesforce received {} request(s):", requests.len());
        for request in requests {
            println!("  {} {} -> {}", request.method, request.path, request.status);
            if !request.body.is_null() {
                println!("    {}", request.body);
            }
        }
    }
    if let Some(bucket) = &stack.bucket {
        let keys = stack.try_keys_under("").await?;
        println!("\ns3://{bucket} holds {} object(s):", keys.len());
        for key in keys {
            println!("  {key}");
        }
    }
    if let Some(connect) = &stack.connect {
        let requests = connect.requests();
        println!("\nAmazon Connect received {} request(s):", requests.len());
        for request in requests {
            println!("  {} {} -> {}", request.operation, request.contact_id, request.status);
        }
    }
    if let Some(recorder) = &stack.recorder {
        let invokes = recorder.invokes();
        println!("\nthe Lambda Invoke API received {} invocation(s):", invokes.len());
        for invoke in invokes {
            println!("  {} ({}, {} bytes)", invoke.function, invoke.invocation_type, invoke.size);
        }
    }
    println!("\nthe function's log:");
    for line in process.logs() {
        println!("  {line}");
    }
    process.shutdown().await?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
