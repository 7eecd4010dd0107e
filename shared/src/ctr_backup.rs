//! The CTR backup bucket (Implementation Guide ch. 2 "Retry CTR Sync for Voice Call Records"): one JSON object
//! per CTR named by its ContactId, server-side encrypted, written before Salesforce is updated so
//! that anything later lost can be replayed; and a quarantine prefix for records that can never
//! succeed, kept with the reason.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::json;
use thiserror::Error;

pub use crate::config::BackupConfig;

pub use aws_sdk_s3::Client as S3Client;

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("could not write s3://{bucket}/{key}: {message}")]
    Write { bucket: String, key: String, message: String },
    #[error("could not read s3://{bucket}/{key}: {message}")]
    Read { bucket: String, key: String, message: String },
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

    /// The backup of one CTR, named by its ContactId; re-writing it is harmless (idempotent).
    pub async fn store(&self, contact_id: &str, ctr_json: &str) -> Result<(), BackupError> {
        self.put(contact_id.to_string(), ctr_json.as_bytes().to_vec()).await
    }

    /// The backup of a contact's CTR, or `None` when there is none.
    pub async fn fetch(&self, contact_id: &str) -> Result<Option<String>, BackupError> {
        let read_error = |message: String| BackupError::Read {
            bucket: self.config.bucket.clone(),
            key: contact_id.to_string(),
            message,
        };
        match self.s3.get_object().bucket(&self.config.bucket).key(contact_id).send().await {
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
    /// holds the contact (or `unknown`) and the sequence number, so a replay overwrites, not adds.
    pub async fn quarantine(&self, item: &Quarantined<'_>) -> Result<String, BackupError> {
        let key = format!(
            "{}{}/{}.json",
            self.config.quarantine_prefix,
            item.contact_id.unwrap_or("unknown"),
            item.sequence_number
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
