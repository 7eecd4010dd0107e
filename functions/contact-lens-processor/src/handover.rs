//! The hand-over: unsent work goes to a new asynchronous invocation of this function, after a
//! backoff that honours `Retry-After`, split to fit the asynchronous payload limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scv_shared::retry::{Deadline, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Deps, RETRY_KEY, Settings, Work, pack};

/// The payload of a retry invocation: only the unsent work, already mapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPayload {
    /// 1 for the first retry.
    pub attempt: u32,
    /// Epoch milliseconds before which the retry does not call Salesforce (backoff, Retry-After).
    #[serde(default)]
    pub not_before: Option<i64>,
    pub work: Work,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) async fn wait_until(not_before_ms: i64, deadline: Deadline) {
    let wait = Duration::from_millis(u64::try_from(not_before_ms - now_ms()).unwrap_or(0));
    // Never wait away the time the work itself needs.
    let wait = wait.min(deadline.remaining() / 2);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Full-jitter backoff for retry invocation `attempt`, never sooner than `Retry-After`, capped at 30 s.
pub fn retry_delay(settings: &Settings, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let policy = RetryPolicy {
        base_delay: settings.retry_base_delay,
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    policy.next_delay(attempt, retry_after).min(Duration::from_secs(30))
}

/// Invokes this function asynchronously with the unsent work, split to fit the payload limit (a
/// contact's work stays in one invocation unless it alone is too large).
pub(crate) async fn hand_over(
    unsent: &Work,
    attempt: u32,
    not_before: i64,
    function: &str,
    deps: &Deps,
) -> Result<usize, String> {
    let parts = pack::split_work(
        unsent,
        deps.settings.max_payload_bytes,
        |work| json!({RETRY_KEY: RetryPayload { attempt, not_before: Some(not_before), work: work.clone() }}),
    );
    let count = parts.len();
    for part in parts {
        // The room the invocation kept for handing over (HANDOVER_MARGIN) bounds each invoke.
        let deadline = Deadline::after(crate::HANDOVER_MARGIN);
        scv_shared::invoke::invoke_async(&deps.lambda, function, &part, deadline)
            .await
            .map_err(|e| format!("the retry payload was not handed over: {e}"))?;
    }
    Ok(count)
}
