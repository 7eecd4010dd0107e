//! One outbound HTTP exchange with bounded retries: every attempt has a timeout inside the
//! caller's deadline; transport errors and the answers the caller calls retryable (429, 5xx, ...)
//! are retried with capped exponential backoff and full jitter, never sooner than `Retry-After`.
//! Shared by the Telephony Integration API and Salesforce REST clients.

use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;

use crate::retry::{Deadline, RetryPolicy, parse_retry_after};

/// An attempt is not started with less time than this left before the deadline.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(150);

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How a series of attempts ended.
#[derive(Debug)]
pub enum Exchange {
    /// The last answer (successful or not).
    Answered { answer: Answer, attempts: u32 },
    /// No answer: the last transport failure.
    Failed { error: String, attempts: u32 },
    /// The deadline left no room for (another) attempt; `last` says what happened before.
    OutOfTime { attempts: u32, last: Option<String> },
}

/// Whether sending a request twice is harmless (issue 13 item 2, "no duplicate side effect").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, updates of named fields, keyed writes: retried on any retryable failure.
    Idempotent,
    /// Creates and event publishes: a second send may make a second record. Retried only when the
    /// first provably did not reach Salesforce: the connection was never established, or the answer
    /// was a limit (429), which is refused before any work (the caller's `retryable` says which answers
    /// are limits). A timeout, a cut-off answer or a 5xx may come after the record was made, so they
    /// end the exchange.
    NotIdempotent,
}

/// What to log retries under.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub operation: &'a str,
    pub contact_id: &'a str,
}

/// Runs `attempt(timeout)` until an answer `retryable` rejects, success, `policy.max_attempts`,
/// or the deadline. `attempt` builds and sends a fresh request each time (so it can carry a fresh
/// token).
pub async fn send_with_retries<F, Fut>(
    policy: &RetryPolicy,
    deadline: Deadline,
    context: Context<'_>,
    attempt: F,
    retryable: impl Fn(&Answer) -> bool,
) -> Exchange
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    send_with_retries_as(Idempotency::Idempotent, policy, deadline, context, attempt, retryable).await
}

/// [`send_with_retries`] for a request of the given [`Idempotency`]: a non-idempotent one is sent
/// again only after a transport failure that proves the previous attempt made nothing; the caller's
/// `retryable` must then accept only answers refused before any work (429, a documented limit).
pub async fn send_with_retries_as<F, Fut>(
    idempotency: Idempotency,
    policy: &RetryPolicy,
    deadline: Deadline,
    context: Context<'_>,
    mut attempt: F,
    retryable: impl Fn(&Answer) -> bool,
) -> Exchange
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let once = idempotency == Idempotency::NotIdempotent;
    let mut attempts = 0u32;
    let mut last: Option<String> = None;
    loop {
        let remaining = deadline.remaining();
        if remaining < MIN_ATTEMPT {
            return Exchange::OutOfTime { attempts, last };
        }
        attempts += 1;
        // Whether the failure proves the request never reached the server.
        let mut unreached = false;
        let started = std::time::Instant::now();
        let outcome = match attempt(remaining.min(policy.attempt_timeout)).await {
            Ok(response) => read(response).await,
            Err(e) => {
                unreached = e.is_connect();
                Err(describe(&e))
            }
        };
        // The adaptive concurrency of the record being worked on, if any, learns from every answer.
        if let Ok(answer) = &outcome {
            crate::concurrency::observe(answer.status, started.elapsed());
        }
        let (retry, retry_after, summary) = match &outcome {
            Ok(answer) if answer.is_success() => return Exchange::Answered { answer: answer.clone(), attempts },
            Ok(answer) => (retryable(answer), answer.retry_after, format!("HTTP {}", answer.status)),
            Err(error) => (!once || unreached, None, error.clone()),
        };
        let delay = policy.next_delay(attempts, retry_after);
        if retry && attempts < policy.max_attempts && deadline.allows(delay, MIN_ATTEMPT) {
            tracing::warn!(
                contactId = context.contact_id,
                operation = context.operation,
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                error = %summary,
                "{} failed; retrying", context.operation
            );
            last = Some(summary);
            tokio::time::sleep(delay).await;
            continue;
        }
        return match outcome {
            Ok(answer) => Exchange::Answered { answer, attempts },
            Err(error) if retry && attempts < policy.max_attempts => {
                Exchange::OutOfTime { attempts, last: Some(error) }
            }
            Err(error) => Exchange::Failed { error, attempts },
        };
    }
}

async fn read(response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = response.text().await.map_err(|e| format!("reading the answer failed: {}", describe(&e)))?;
    Ok(Answer { status, retry_after, body })
}

/// A transport error without the URL: what kind of failure, and its innermost cause.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_string() } else { format!("{kind} ({detail})") }
}
