//! `scv`, the operator tool: the contact center's signing key (generate, stage, promote, show), the
//! CTR resync on demand, the transcript back-fill, and a doctor that checks a deployment and prints
//! the fix for each failure.
//! It uses the shared crate the functions use, the caller's AWS credentials, profile and region, and
//! the functions' own variable names for Salesforce settings. The runbook is docs/operations.md.

// The tool's output is what it is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod alarms;
pub mod ctr;
pub mod doctor;
pub mod keys;
pub mod settings;
pub mod stack;
pub mod transcripts;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  done (doctor: every check passed)
  1  an operation failed (AWS or Salesforce refused or did not answer)
  2  usage error (a missing or bad argument or setting)
  3  not found (no such parameter, nothing staged, no such quarantined CTR)
  4  done, but not everything is well (doctor: a check failed; resync/replay: some calls failed;
     transcripts: a contact not uploaded, an upload failed or unknown)
  5  not yet (transcripts status: an upload is still pending; ask again)";

#[derive(Debug, Parser)]
#[command(
    name = "scv",
    version,
    about = "Operate the Service Cloud Voice Lambda functions: keys, CTR resync, health checks",
    long_about = "Operate the Service Cloud Voice Lambda functions of one contact center.\n\n\
        AWS: the caller's credentials, profile and region (the usual AWS_* variables, or --profile, \
        --region, --endpoint-url). Salesforce and function settings: the functions' own variable names \
        (SALESFORCE_ORG_ID, CALL_CENTER_API_NAME, SCRT_ENDPOINT_BASE, PRIVATE_KEY_PARAM_NAME, ...) from the \
        environment, each overridable with --set NAME=VALUE.\n\n\
        The runbook (what to run when) is docs/operations.md.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print one JSON document on stdout instead of text (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// The AWS profile to use (default: AWS_PROFILE, then the default profile).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region (default: AWS_REGION, then the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (a local stack, a VPC endpoint).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// A setting, by the functions' variable name, over the environment (repeatable).
    #[arg(long = "set", global = true, value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The contact center's signing key: generate, stage, promote, show (docs/keys.md).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// CTRs that did not reach Salesforce: the resync on demand, the quarantined records.
    #[command(subcommand)]
    Ctr(ctr::CtrCommand),
    /// Check a deployment end to end; print the fix for every failing check.
    #[command(long_about = doctor::LONG_ABOUT)]
    Doctor(doctor::DoctorArgs),
    /// Contact Lens transcripts to Salesforce on demand: back-fill, upload statuses.
    #[command(subcommand)]
    Transcripts(transcripts::TranscriptsCommand),
}

/// What a command answers: the text for people, the JSON for scripts, and the exit code.
#[derive(Debug)]
pub struct Outcome {
    pub human: String,
    pub json: Value,
    pub code: u8,
}

impl Outcome {
    pub fn ok(human: String, json: Value) -> Self {
        Self { human, json, code: 0 }
    }
}

/// A command that could not be carried out.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { code: 3, message: message.into() }
    }
}

/// The SDK configuration from the caller's environment and the global flags, with timeouts.
pub async fn sdk(global: &Global) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build(),
    );
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &global.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &global.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An S3 client; path-style with a custom endpoint, as local servers need.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom = sdk.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(custom).build())
}

pub async fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Keys(command) => keys::run(command, &cli.global).await,
        Command::Ctr(command) => ctr::run(command, &cli.global).await,
        Command::Doctor(args) => doctor::run(args, &cli.global).await,
        Command::Transcripts(command) => transcripts::run(command, &cli.global).await,
    }
}

/// Parses the arguments, runs the command, prints its outcome, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(outcome) => {
            if cli.global.json {
                println!("{}", serde_json::to_string_pretty(&outcome.json).unwrap_or_default());
            } else {
                print!("{}", outcome.human);
            }
            ExitCode::from(outcome.code)
        }
        Err(e) => {
            if cli.global.json {
                println!("{}", serde_json::json!({"error": e.message, "exitCode": e.code}));
            }
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
