//! The local stack the project's tests, demo and benchmarks run against, with no AWS account:
//!
//! - [`moto`]: starts the moto server (the local AWS emulator for S3, SSM, Kinesis, Transcribe...) from
//!   the project's virtualenv and builds SDK configuration and child environments pointing at it;
//! - [`runtime`]: runs a real Lambda function binary as a child process behind a local implementation of
//!   the Lambda Runtime API (and the Lambda Invoke API), the way AWS Lambda runs it.
//!
//! Every child process started here is killed when the test process dies, even when it is never dropped
//! (see [`moto::Moto::shared`]).

pub mod bench;
pub mod cloudwatch;
pub mod connect;
pub mod counting_proxy;
pub mod demo;
pub mod extension;
pub mod faults;
pub mod invoke_recorder;
pub mod kvs;
pub mod moto;
pub mod records;
pub mod runtime;
pub mod samples;
pub mod secrets;
pub mod serve;
mod spawn;
pub mod stack;
pub mod template;
pub mod transcribe_streaming;

use std::path::{Path, PathBuf};

/// The workspace root: `CARGO_MANIFEST_DIR/../..`, canonicalised when possible.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the workspace root if relative),
/// else `<workspace root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_relative() { workspace_root().join(dir) } else { dir }
        }
        _ => workspace_root().join("target"),
    }
}
