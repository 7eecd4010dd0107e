//! The CTR backup bucket (Implementation Guide ch. 2 "Retry CTR Sync for Voice Call Records"): one JSON object
//! per CTR named by its ContactId, server-side encrypted, written before Salesforce is updated so
//! that anything later lost can be replayed; and a quarantine prefix for records that can never
//! succeed, kept with the reason.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::json;
use thiserror::Error;

use crate::ctr::Ctr;
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
    #[error("could not write s3://{bucket}/{key}: it changed under every one of {attempts} conditional writes")]
    Contended { bucket: String, key: String, attempts: usize },
}

/// A CTR's version: `LastUpdateTimestamp`, else `DisconnectTimestamp` ([`Ctr::updated_at`]).
pub type Version = Option<chrono::DateTime<chrono::Utc>>;

/// What [`CtrBackup::store_newest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The backup now holds this CTR (it was absent, older, the same version, or unversioned).
    Written,
    /// The stored backup is newer: nothing was written.
    Superseded(Superseded),
}

/// A CTR older than its contact's stored backup; displays as the skip reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("superseded: this CTR (updated {}) is older than the stored CTR of its contact (updated {})", time(.ours), time(&Some(*.stored)))]
pub struct Superseded {
    pub ours: Version,
    pub stored: chrono::DateTime<chrono::Utc>,
}

fn time(t: &Version) -> String {
    t.map_or_else(|| "never".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Conditional writes tried before giving up (each conflict means another writer just wrote).
const CONDITIONAL_ATTEMPTS: usize = 3;

/// Whether a CTR of version `ours` must not replace one of version `stored`: only when both are
/// known and the stored one is strictly later (the same version replayed is applied again).
pub fn superseded(ours: Version, stored: Version) -> Option<Superseded> {
    match (ours, stored) {
        (Some(o), Some(stored)) if stored > o => Some(Superseded { ours, stored }),
        _ => None,
    }
}

fn version_of(body: &str) -> Version {
    serde_json::from_str(body).ok().and_then(|v| Ctr::from_value(v).ok()).and_then(|c| c.updated_at())
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

    /// Backs up a CTR unless the stored backup of its contact is newer ("newest wins", issue 13
    /// item 6): reads the stored backup, compares versions, and writes only if the object is still
    /// the one read (`If-Match` its ETag, or `If-None-Match: *` when there was none; S3 conditional
    /// writes). A write that loses the race reads and compares again.
    pub async fn store_newest(
        &self,
        contact_id: &str,
        ctr_json: &str,
        version: Version,
    ) -> Result<Stored, BackupError> {
        let key = PathId::parse("ContactId", contact_id)?;
        for _ in 0..CONDITIONAL_ATTEMPTS {
            // Without the stored version nothing is written: the write fails, naming the read.
            let stored = self.fetch_versioned(contact_id).await.map_err(|e| match e {
                BackupError::Read { bucket, key, message } => BackupError::Write {
                    bucket,
                    key,
                    message: format!("the stored backup to compare with is unreadable: {message}"),
                },
                other => other,
            })?;
            if let Some((body, _)) = &stored
                && let Some(newer) = superseded(version, version_of(body))
            {
                return Ok(Stored::Superseded(newer));
            }
            let etag = stored.and_then(|(_, etag)| etag);
            let put = self
                .s3
                .put_object()
                .bucket(&self.config.bucket)
                .key(key.as_str())
                .body(ByteStream::from(ctr_json.as_bytes().to_vec()))
                .content_type("application/json")
                .server_side_encryption(ServerSideEncryption::Aes256);
            let put = match etag {
                Some(etag) => put.if_match(etag),
                None => put.if_none_match("*"),
            };
            match put.send().await {
                Ok(_) => return Ok(Stored::Written),
                // 412: the object is no longer the one read; 409: a concurrent conditional write.
                Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => continue,
                Err(e) => {
                    return Err(BackupError::Write {
                        bucket: self.config.bucket.clone(),
                        key: contact_id.to_string(),
                        message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                    });
                }
            }
        }
        Err(BackupError::Contended {
            bucket: self.config.bucket.clone(),
            key: contact_id.to_string(),
            attempts: CONDITIONAL_ATTEMPTS,
        })
    }

    /// The version of a contact's stored backup (`None` when there is none or it has no version).
    pub async fn stored_version(&self, contact_id: &str) -> Result<Version, BackupError> {
        Ok(self.fetch(contact_id).await?.as_deref().and_then(version_of))
    }

    /// The backup of a contact's CTR, or `None` when there is none.
    pub async fn fetch(&self, contact_id: &str) -> Result<Option<String>, BackupError> {
        Ok(self.fetch_versioned(contact_id).await?.map(|(body, _)| body))
    }

    /// The backup of a contact's CTR with its ETag, or `None` when there is none.
    async fn fetch_versioned(&self, contact_id: &str) -> Result<Option<(String, Option<String>)>, BackupError> {
        let key = PathId::parse("ContactId", contact_id)?;
        let read_error = |message: String| BackupError::Read {
            bucket: self.config.bucket.clone(),
            key: contact_id.to_string(),
            message,
        };
        match self.s3.get_object().bucket(&self.config.bucket).key(key.as_str()).send().await {
            Ok(out) => {
                let etag = out.e_tag.clone();
                let bytes = out.body.collect().await.map_err(|e| read_error(e.to_string()))?.into_bytes();
                Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), etag)))
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
