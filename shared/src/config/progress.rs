//! Progress records: where a multi-step function records what already succeeded, so a redelivered
//! event repeats nothing (issue 13 item 2).

use super::{Env, Var, optional};

pub const PROGRESS_S3_BUCKET: &str = "PROGRESS_S3_BUCKET";

pub const VARS: &[Var] = &[Var {
    name: PROGRESS_S3_BUCKET,
    meaning: "bucket RealtimeAlert records each published SNS message in (alert_progress/<MessageId>); unset: no record",
}];

/// `PROGRESS_S3_BUCKET`, when set.
pub fn progress_bucket(env: &dyn Env) -> Option<String> {
    optional(env, PROGRESS_S3_BUCKET)
}
