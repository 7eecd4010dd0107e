// The resync handler future (SOQL query, then up to CTR_SYNC_CONCURRENCY Telephony API updates,
// each with its retries) nests deeply enough that computing its layout inside
// `lambda_runtime::run` exceeds the default query depth of 128.
#![recursion_limit = "256"]

use ctr_sync_retry as function;

fn main() -> Result<(), lambda_runtime::Error> {
    scv_shared::lambda::main(function::CATEGORY, env!("CARGO_CRATE_NAME"), function::Deps::from_env, function::handler)
}
