//! The CTR backup bucket (Implementation Guide ch. 2 "Retry CTR Sync for Voice Call Records"): one JSON object
//! per CTR named by its ContactId, server-side encrypted, written before Salesforce is updated so
//! that anything later lost can be replayed; and a quarantine prefix for records that can never
//! succeed, kept with the reason.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::json;
use thiserror::Error;

use crate::ids::{IdError, PathId};

pub use crate::config::BackupConfig;

pub use aws_sdk_s3::Client as S3Client;

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("could not write s3://{bucket}/{key}: {message}")]
    Write { bucket: String, key: String, message: String },
    #[error("could not read s3://{bucket}/{key}: {message}")]
    Read { bucket: String, key: String, message: String },
    /// The contact id cannot name a key: nothing was read or written.
    #[error("no CTR backup for this contact: {0}")]
    Id(#[from] IdError),
}

impl BackupError {
    /// Whether the same call may succeed later: an S3 failure may, an invalid id never.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, BackupError::Id(_))
    }
}

/// The key segment of a quarantined record's contact or sequence number: the value when it is a
/// valid id, else a fixed word (the value itself is kept in the object), so a forged id such as
/// `../x` or `quarantine/forged/1` cannot place the object anywhere else.
fn key_segment(value: Option<&str>, missing: &'static str, invalid: &'static str) -> String {
    match value {
        None => missing.to_string(),
        Some(v) => PathId::parse("key segment", v).map_or_else(|_| invalid.to_string(), |id| id.to_string()),
    }
}

/// What is kept of a record that cannot succeed.
#[derive(Debug, Clone)]
pub struct Quarantined<'a> {
    pub reason: &'a str,
    pub sequence_number: &'a str,
    pub partition_key: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub event_source_arn: Option<&'a str>,
    /// The record's data as received (base64) when it could not be decoded.
    pub raw_data: Option<&'a str>,
    /// The decoded record when it could be.
    pub record: Option<&'a serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct CtrBackup {
    s3: aws_sdk_s3::Client,
    config: BackupConfig,
}

impl CtrBackup {
    pub fn new(s3: aws_sdk_s3::Client, config: BackupConfig) -> Self {
        Self { s3, config }
    }

    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// The backup of one CTR, named by its ContactId; re-writing it is harmless (idempotent). The
    /// ContactId must be a valid id ([`PathId`]): it is the whole key.
    pub async fn store(&self, contact_id: &str, ctr_json: &str) -> Result<(), BackupError> {
        let key = PathId::parse("ContactId", contact_id)?;
        self.put(key.to_string(), ctr_json.as_bytes().to_vec()).await
    }

    /// The backup of a contact's CTR, or `None` when there is none.
    pub async fn fetch(&self, contact_id: &str) -> Result<Option<String>, BackupError> {
        let key = PathId::parse("ContactId", contact_id)?;
        let read_error = |message: String| BackupError::Read {
            bucket: self.config.bucket.clone(),
            key: contact_id.to_string(),
            message,
        };
        match self.s3.get_object().bucket(&self.config.bucket).key(key.as_str()).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| read_error(e.to_string()))?.into_bytes();
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
            {
                Ok(None)
            }
            Err(e) => Err(read_error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())),
        }
    }

    /// Keeps a record that cannot succeed under the quarantine prefix, with the reason. The key
    /// holds the contact (or `unknown`, or `invalid-contact-id`) and the sequence number, so a
    /// replay overwrites, not adds.
    pub async fn quarantine(&self, item: &Quarantined<'_>) -> Result<String, BackupError> {
        let key = format!(
            "{}{}/{}.json",
            self.config.quarantine_prefix,
            key_segment(item.contact_id, "unknown", "invalid-contact-id"),
            key_segment(Some(item.sequence_number), "unknown", "invalid-sequence-number")
        );
        let body = json!({
            "reason": item.reason,
            "sequenceNumber": item.sequence_number,
            "partitionKey": item.partition_key,
            "contactId": item.contact_id,
            "eventSourceARN": item.event_source_arn,
            "quarantinedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": item.raw_data,
            "record": item.record,
        });
        self.put(key.clone(), body.to_string().into_bytes()).await?;
        Ok(key)
    }

    async fn put(&self, key: String, body: Vec<u8>) -> Result<(), BackupError> {
        self.s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| BackupError::Write {
                bucket: self.config.bucket.clone(),
                key,
                message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_key_segments_cannot_leave_their_place() {
        assert_eq!(key_segment(Some("c-1"), "unknown", "invalid"), "c-1");
        assert_eq!(key_segment(None, "unknown", "invalid"), "unknown");
        for id in crate::ids::HOSTILE {
            assert_eq!(key_segment(Some(id), "unknown", "invalid"), "invalid", "{id:?}");
        }
    }
}
