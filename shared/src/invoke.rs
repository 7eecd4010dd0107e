//! Invoking another function of the suite synchronously (RequestResponse), as the official
//! functions reach Salesforce through InvokeTelephonyIntegrationApi and InvokeSalesforceRestApi
//! (docs/migrating.md#two-wirings), but reading the answer: a `FunctionError` is a failure, never
//! a success. Every invoke is bounded by the caller's deadline; the SDK retries throttling and
//! transport failures a bounded number of times (its standard retry mode).

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::config::InvokeConfig;
use crate::error::ErrorKind;
use crate::retry::Deadline;

/// A failed invoke. Messages name the function and what it answered; a payload is shown only
/// by its `errorType`/`errorMessage` (never a whole answer).
#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("invoking {function}: {message}")]
    Unreachable { function: String, message: String, retryable: bool },
    #[error("{function} failed ({error_type}): {message}")]
    FunctionError { function: String, error_type: String, message: String },
    #[error("{function} answered an error: {message}")]
    ErrorAnswer { function: String, message: String, retryable: bool, limit: bool },
    #[error("{function} answered something that is not JSON: {message}")]
    Decode { function: String, message: String },
    #[error("the payload for {function} cannot be encoded: {message}")]
    Encode { function: String, message: String },
}

impl InvokeError {
    /// Whether the same invoke may succeed later. A `FunctionError` whose `errorType` is one of
    /// this suite's non-retryable kinds (the event was refused) will not; any other `errorType`
    /// (the official functions answer a plain `Error`) may, so a record is retried rather than lost.
    pub fn is_retryable(&self) -> bool {
        match self {
            InvokeError::Unreachable { retryable, .. } | InvokeError::ErrorAnswer { retryable, .. } => *retryable,
            InvokeError::FunctionError { error_type, .. } => error_type_retryable(error_type),
            InvokeError::Decode { .. } => true,
            InvokeError::Encode { .. } => false,
        }
    }

    /// A Salesforce limit the invoked function reported (`SCV_LIMITS_ERROR`, Implementation Guide ch. 9).
    pub fn is_limit(&self) -> bool {
        match self {
            InvokeError::FunctionError { error_type, .. } => error_type == ErrorKind::LimitExceeded.as_str(),
            InvokeError::ErrorAnswer { limit, .. } => *limit,
            _ => false,
        }
    }
}

/// This suite's refusals (`InvalidEvent`, `MissingField`, `UnsupportedMethod`, `SalesforceError`,
/// `AwsError`) are final; everything else may pass on retry.
pub fn error_type_retryable(error_type: &str) -> bool {
    !ErrorKind::ALL.iter().any(|k| k.as_str() == error_type && !k.is_retryable() && *k != ErrorKind::NotConfigured)
}

/// A function invoked by name or ARN. Build it once at cold start.
#[derive(Clone)]
pub struct FunctionClient {
    lambda: aws_sdk_lambda::Client,
    function: String,
    budget: Duration,
}

impl fmt::Debug for FunctionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionClient").field("function", &self.function).finish()
    }
}

impl FunctionClient {
    pub fn new(lambda: aws_sdk_lambda::Client, cfg: &InvokeConfig) -> Self {
        Self { lambda, function: cfg.function.clone(), budget: cfg.deadline }
    }

    /// A client from the shared SDK configuration (`AWS_ENDPOINT_URL_LAMBDA` points it elsewhere).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, cfg: &InvokeConfig) -> Self {
        Self::new(aws_sdk_lambda::Client::new(sdk), cfg)
    }

    /// The function's name or ARN.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The longest one invoke may take (`INVOKE_DEADLINE_MS`).
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Invokes the function with `payload` and returns its answer; a `FunctionError` is an error.
    pub async fn invoke(&self, payload: &Value, deadline: Deadline) -> Result<Value, InvokeError> {
        let function = self.function.clone();
        let deadline = deadline.min(Deadline::after(self.budget));
        let bytes = serde_json::to_vec(payload)
            .map_err(|e| InvokeError::Decode { function: function.clone(), message: e.to_string() })?;
        let answer = send_within(
            &self.lambda,
            &function,
            aws_sdk_lambda::types::InvocationType::RequestResponse,
            bytes,
            deadline,
        )
        .await?;
        let body = answer.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| InvokeError::Decode {
                function: function.clone(),
                message: format!("{e} ({} bytes)", body.len()),
            })?
        };
        if let Some(kind) = answer.function_error() {
            let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
            return Err(InvokeError::FunctionError {
                function,
                error_type: text("errorType").unwrap_or_else(|| kind.to_string()),
                message: text("errorMessage").unwrap_or_else(|| format!("FunctionError {kind}")),
            });
        }
        Ok(value)
    }
}

/// What Lambda's refusal of an invoke says, and whether it may pass later (throttling, 5xx,
/// transport failures).
fn unreachable<E: std::error::Error + 'static>(function: &str, e: &aws_sdk_lambda::error::SdkError<E>) -> InvokeError {
    let message = match e.as_service_error() {
        Some(service) => service.to_string(),
        None => aws_sdk_lambda::error::DisplayErrorContext(e).to_string(),
    };
    InvokeError::Unreachable { function: function.to_string(), message, retryable: crate::aws::sdk_retryable(e) }
}

/// Queues an asynchronous invocation (`InvocationType: Event`) of `function`: done once Lambda has
/// accepted it (202), bounded by `deadline`. The SDK retries throttling and transport failures a
/// bounded number of times within it. The one way this suite hands work to another invocation
/// (kvsConsumerTrigger, ContactLensConsumer, ContactLensProcessor's retries, kvsTranscriber's
/// continuation).
pub async fn invoke_async(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &impl serde::Serialize,
    deadline: Deadline,
) -> Result<(), InvokeError> {
    let bytes = serde_json::to_vec(payload)
        .map_err(|e| InvokeError::Encode { function: function.to_string(), message: e.to_string() })?;
    invoke_async_bytes(lambda, function, bytes, deadline).await
}

/// [`invoke_async`] with a payload already encoded (when its size was checked first).
pub async fn invoke_async_bytes(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    bytes: Vec<u8>,
    deadline: Deadline,
) -> Result<(), InvokeError> {
    let answer = send_within(lambda, function, aws_sdk_lambda::types::InvocationType::Event, bytes, deadline).await?;
    if answer.status_code() != 202 {
        return Err(InvokeError::Unreachable {
            function: function.to_string(),
            message: format!("Lambda answered status {} instead of 202 Accepted", answer.status_code()),
            retryable: true,
        });
    }
    Ok(())
}

/// One Lambda `Invoke` of `function`, bounded by `deadline` (the SDK's own bounded retries inside
/// it): a timeout or an SDK error is [`InvokeError::Unreachable`] naming the function.
async fn send_within(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    invocation_type: aws_sdk_lambda::types::InvocationType,
    bytes: Vec<u8>,
    deadline: Deadline,
) -> Result<aws_sdk_lambda::operation::invoke::InvokeOutput, InvokeError> {
    let call = lambda
        .invoke()
        .function_name(function)
        .invocation_type(invocation_type)
        .payload(aws_sdk_lambda::primitives::Blob::new(bytes))
        .send();
    let bound = deadline.remaining();
    tokio::time::timeout(bound, call)
        .await
        .map_err(|_| InvokeError::Unreachable {
            function: function.to_string(),
            message: format!("no answer within {} ms", bound.as_millis()),
            retryable: true,
        })?
        .map_err(|e| unreachable(function, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_final_and_unknown_error_types_are_retried() {
        for (error_type, retryable) in [
            ("InvalidEvent", false),
            ("MissingField", false),
            ("SalesforceError", false),
            ("SalesforceUnavailable", true),
            ("SCV_LIMITS_ERROR", true),
            ("NotConfigured", true),
            ("Error", true),
            ("Sandbox.Timedout", true),
        ] {
            assert_eq!(error_type_retryable(error_type), retryable, "{error_type}");
        }
    }
}
