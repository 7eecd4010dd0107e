//! The library every scv-lambdas function uses: configuration, keys, JWTs, the Salesforce clients
//! and logging. One module per concern; nothing specific to one function.

pub mod aws;
pub mod build;
pub mod concurrency;
pub mod config;
pub mod contact_lens;
pub mod conversation;
pub mod ctr;
pub mod ctr_backup;
pub mod ctr_sync;
pub mod error;
pub mod flow;
pub mod http;
pub mod ids;
pub mod invoke;
pub mod jwt;
pub mod keygen;
pub mod keys;
pub mod kinesis;
pub mod lambda;
pub mod logging;
pub mod matroska;
pub mod oauth;
pub mod rest;
pub mod resync;
pub mod retry;
pub mod scrt;
pub mod soql;
pub mod tls;
pub mod transcription;
pub mod voicemail;
pub mod wav;
pub mod wiring;

// The `diagnostic!` macro names `lambda_runtime` through this crate, so a function needs no
// direct dependency to use it.
pub use lambda_runtime;
