//! One CTR through the CTR sync's steps (Implementation Guide ch. 6, CTRDataSync;
//! docs/functions.md#ctrdatasync), in one place for the three callers: CTRDataSync on each Kinesis
//! record, the CTR resync (CtrSyncRetry, `scv ctr resync`) on each backup it finds, and
//! `scv ctr quarantine replay` on each quarantined record.
//!
//! The steps: decode (a JSON object read as a CTR; a ContactId that names the backup object and the
//! VoiceCall path must be a valid id), `should_sync`, the backup written unless the contact's stored
//! CTR is newer and checked again just before the update (newest wins, issue 13 item 6), the fields
//! mapped (`to_voice_call_fields` plus the deployment's custom fields, `CTR_CUSTOM_FIELDS`), and the
//! VoiceCall update. What a failure means (retry, quarantine, count) is the caller's.

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::ctr::{Ctr, CustomFields, Skip, should_sync, to_voice_call_fields};
use crate::ctr_backup::{BackupError, CtrBackup, Stored, Superseded, superseded};
use crate::ids::PathId;
use crate::retry::Deadline;
use crate::scrt::{JsonObject, ScrtError, TelephonyClient};
use crate::wiring::Telephony;

/// A CTR read from its JSON, with the JSON it came from (kept if it is quarantined).
#[derive(Debug, Clone)]
pub struct DecodedCtr {
    pub ctr: Ctr,
    pub value: Value,
}

impl DecodedCtr {
    /// Reads a CTR from its JSON value. The ContactId, when there is one, names the backup object
    /// and the VoiceCall path: a forged one (`..`, `quarantine/forged/1`) is refused here, so it is
    /// never sent nor backed up (issue 13 item 1). A CTR without one is read (and skipped later).
    pub fn decode(value: Value) -> Result<Self, String> {
        let ctr = Ctr::from_value(value.clone())?;
        if let Some(id) = ctr.contact_id.as_deref().filter(|c| !c.is_empty()) {
            PathId::parse("ContactId", id).map_err(|e| e.to_string())?;
        }
        Ok(Self { ctr, value })
    }

    /// Reads a CTR from its JSON text (a backup object, a decoded record).
    pub fn from_text(text: &str) -> Result<Self, String> {
        let value = serde_json::from_str(text).map_err(|e| format!("the record is not JSON: {e}"))?;
        Self::decode(value)
    }

    /// Reads a CTR from a Kinesis record's data as received (base64), as the runner decodes it.
    pub fn from_data(data: &str) -> Result<Self, String> {
        let text = crate::kinesis::decode_data(data).map_err(|e| e.to_string())?;
        Self::from_text(&text)
    }

    /// The ContactId, when it is set and not empty.
    pub fn contact_id(&self) -> Option<&str> {
        self.ctr.contact_id.as_deref().filter(|c| !c.is_empty())
    }
}

/// The Telephony Integration API's `updateVoiceCall`, reached directly ([`TelephonyClient`]) or
/// either way ([`Telephony`]).
pub trait VoiceCallUpdates: Sync {
    fn update_voice_call(
        &self,
        call_id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<JsonObject, ScrtError>> + Send;
}

impl VoiceCallUpdates for TelephonyClient {
    fn update_voice_call(
        &self,
        call_id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<JsonObject, ScrtError>> + Send {
        TelephonyClient::update_voice_call(self, call_id, fields, deadline)
    }
}

impl VoiceCallUpdates for Telephony {
    fn update_voice_call(
        &self,
        call_id: &str,
        fields: &Map<String, Value>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<JsonObject, ScrtError>> + Send {
        Telephony::update_voice_call(self, call_id, fields, deadline)
    }
}

/// What [`CtrSync::apply`] did; every variant is a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The VoiceCall was updated with this many fields.
    Updated { fields: usize },
    /// Not a CTR that updates a VoiceCall (NoSync, not a voice call, a voicemail, ...).
    Skipped(Skip),
    /// The contact's stored backup is newer: neither the backup nor the VoiceCall changed.
    Superseded(Superseded),
}

impl Applied {
    /// Why nothing was updated, for a skipped or superseded CTR.
    pub fn reason(&self) -> Option<String> {
        match self {
            Applied::Updated { .. } => None,
            Applied::Skipped(skip) => Some(skip.to_string()),
            Applied::Superseded(why) => Some(why.to_string()),
        }
    }
}

/// A step that failed; the caller decides whether that is a retry, a quarantine or a count.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The backup could not be written (or read back before the update): Salesforce is not
    /// updated without it.
    #[error("CTR backup failed; Salesforce is not updated without it: {0}")]
    Backup(#[source] BackupError),
    #[error(transparent)]
    Update(#[from] ScrtError),
}

/// The CTR sync's steps over clients built once. `backup: None` is a deployment without
/// `CTR_BACKUP_S3_BUCKET` (nothing backed up, newest-wins off), or the resync (whose CTR is the backup).
#[derive(Debug)]
pub struct CtrSync<'a, T> {
    pub telephony: &'a T,
    pub backup: Option<&'a CtrBackup>,
    /// The deployment's custom fields (`CTR_CUSTOM_FIELDS`, `CTR_CUSTOM_FIELDS_PARAM_NAME`).
    pub custom_fields: &'a CustomFields,
    /// The budget of one Salesforce update.
    pub update_budget: Duration,
}

impl<T: VoiceCallUpdates> CtrSync<'_, T> {
    /// The VoiceCall fields of `ctr`: the documented mapping and the custom fields.
    pub fn fields(&self, ctr: &Ctr) -> Map<String, Value> {
        let mut fields = to_voice_call_fields(ctr);
        self.custom_fields.apply(ctr, &mut fields);
        fields
    }

    /// CTRDataSync's steps for one CTR (`text` is what is backed up): skipped unless it is synced,
    /// backed up unless a newer CTR of the contact is, checked again just before the update (a newer
    /// CTR may have been backed up and applied since), then the VoiceCall updated.
    pub async fn apply(&self, item: &DecodedCtr, text: &str, deadline: Deadline) -> Result<Applied, ApplyError> {
        if let Err(skip) = should_sync(&item.ctr) {
            tracing::info!(reason = %skip, "CTR not synced");
            return Ok(Applied::Skipped(skip));
        }
        let contact_id = item.contact_id().unwrap_or_default();
        let version = item.ctr.updated_at();
        if let Some(backup) = self.backup {
            match backup.store_newest(contact_id, text, version).await.map_err(ApplyError::Backup)? {
                Stored::Written => {}
                Stored::Superseded(why) => return Ok(not_synced(why)),
            }
            let stored = backup.stored_version(contact_id).await.map_err(ApplyError::Backup)?;
            if let Some(why) = superseded(version, stored) {
                return Ok(not_synced(why));
            }
        }
        let fields = self.update(contact_id, &item.ctr, deadline).await?;
        Ok(Applied::Updated { fields })
    }

    /// The mapping and the update alone (the resync replays a backup: it is the stored CTR).
    /// Answers the number of fields sent.
    pub async fn update(&self, contact_id: &str, ctr: &Ctr, deadline: Deadline) -> Result<usize, ScrtError> {
        let fields = self.fields(ctr);
        let update_deadline = Deadline::after(self.update_budget).min(deadline);
        self.telephony.update_voice_call(contact_id, &fields, update_deadline).await?;
        Ok(fields.len())
    }
}

fn not_synced(why: Superseded) -> Applied {
    tracing::info!(reason = %why, "CTR not synced");
    Applied::Superseded(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decoding_checks_the_contact_id_and_reads_every_form() {
        let ctr = json!({"ContactId": "c-1", "Channel": "VOICE", "InitiationMethod": "INBOUND"});
        let decoded = DecodedCtr::decode(ctr.clone()).expect("a CTR");
        assert_eq!(decoded.contact_id(), Some("c-1"));
        assert_eq!(decoded.value, ctr);
        assert_eq!(DecodedCtr::from_text(&ctr.to_string()).expect("text").contact_id(), Some("c-1"));
        // {"ContactId":"c-2"} in base64, as a Kinesis record carries it.
        assert_eq!(DecodedCtr::from_data("eyJDb250YWN0SWQiOiJjLTIifQ==").expect("data").contact_id(), Some("c-2"));
        assert!(DecodedCtr::decode(json!({"Channel": "VOICE"})).expect("read").contact_id().is_none());
        for (bad, says) in [
            (json!({"ContactId": "../x"}), "ContactId"),
            (json!({"ContactId": "quarantine/forged/1"}), "ContactId"),
            (json!([1]), "not a JSON object"),
            (json!({"ContactId": 5}), "not a contact trace record"),
        ] {
            let e = DecodedCtr::decode(bad.clone()).expect_err("refused");
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(DecodedCtr::from_text("not json").expect_err("refused").contains("not JSON"));
        assert!(DecodedCtr::from_data("***").is_err());
    }

    #[test]
    fn the_fields_carry_the_custom_mapping() {
        let custom = CustomFields::parse(r#"{"ConnectionAttempts__c": "Attributes.ConnectionAttempts"}"#).unwrap();
        let telephony = Unreachable;
        let sync =
            CtrSync { telephony: &telephony, backup: None, custom_fields: &custom, update_budget: Duration::ZERO };
        let decoded =
            DecodedCtr::decode(json!({"ContactId": "c-1", "Attributes": {"ConnectionAttempts": "3"}})).unwrap();
        let fields = sync.fields(&decoded.ctr);
        assert_eq!(fields["callAttributes"], json!(r#"{"ConnectionAttempts__c":"3"}"#));
    }

    /// Never called by the pure tests.
    struct Unreachable;

    impl VoiceCallUpdates for Unreachable {
        async fn update_voice_call(
            &self,
            _: &str,
            _: &Map<String, Value>,
            _: Deadline,
        ) -> Result<JsonObject, ScrtError> {
            unreachable!("no update in a pure test")
        }
    }
}
