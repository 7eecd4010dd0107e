//! Org data: the records the emulated APIs create and change. Kept free of HTTP; the REST side
//! (`/services/...`, module `rest`) shares the same `OrgState`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Key prefix of VoiceCall record ids.
pub const VOICE_CALL_PREFIX: &str = "0LQ";

/// A VoiceCall record with its conversation (transcript, intelligence events) and routing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VoiceCall {
    /// 15-character record id, `0LQ...`.
    pub id: String,
    pub vendor_call_key: String,
    pub call_center_api_name: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `Inbound` or `Transfer` (normalised case).
    pub initiation_method: Option<String>,
    /// `PSTN` or `WebRTC` (normalised case).
    pub call_subtype: Option<String>,
    /// `Preview`, `Progressive` or `Voicemail`.
    pub call_origin: Option<String>,
    /// As sent (ISO-8601, UTC).
    pub start_time: Option<String>,
    /// `start_time` in epoch milliseconds.
    pub start_time_ms: Option<i64>,
    pub end_time: Option<String>,
    pub end_time_ms: Option<i64>,
    /// The parent's 0LQ id when the parent exists, else the value sent.
    pub parent_voice_call_id: Option<String>,
    /// Create-time queue (only kept for transfers, as documented).
    pub queue: Option<String>,
    pub participants: Vec<Value>,
    /// Parsed `callAttributes` (create, then merged by updates). Ignored for transfers, as documented.
    pub call_attributes: Map<String, Value>,
    /// Create-time `callAttributes` that were ignored because the call is a transfer.
    pub ignored_call_attributes: Option<Map<String, Value>>,
    /// Top-level create fields that are not documented (accepted and ignored).
    pub ignored_fields: Vec<String>,
    /// Every field ever set by updates, latest value wins.
    pub fields: Map<String, Value>,
    pub update_count: u32,
    pub is_active_call: bool,
    /// `in-progress` or `completed`.
    pub call_disposition: String,
    /// True when the record was created by "Update a Voice Call Record" (unknown call).
    pub created_by_update: bool,
    /// How many create requests were answered with this record (idempotent creates).
    pub create_count: u32,
    pub routing: CallRouting,
    pub messages: Vec<Message>,
    pub duplicate_messages: u32,
    pub realtime_events: Vec<Value>,
    pub post_call_events: Vec<Value>,
}

/// Omni-Channel routing of a call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CallRouting {
    pub pending_service_routing: Option<PendingServiceRouting>,
    pub execute_count: u32,
    pub clear_count: u32,
    pub reroute_count: u32,
}

/// The PendingServiceRouting created by "Execute an Omni-Channel Flow".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PendingServiceRouting {
    pub flow_dev_name: Option<String>,
    pub fallback_queue: Option<String>,
    pub dialed_number: String,
    pub flow_input_parameters: Map<String, Value>,
    pub answer: Value,
}

/// One stored transcript message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// As normalised by the emulator (see "Create a Transcript").
    pub participant_id: String,
    pub message_id: String,
    pub start_time: i64,
    pub end_time: i64,
    pub content: String,
    pub sender_type: String,
}

/// All records of the org.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct OrgState {
    pub voice_calls: Vec<VoiceCall>,
    next_id: u64,
    /// The REST side's records (Account, Contact, Case, User, custom objects), platform events and
    /// VoiceCall dates.
    #[serde(default)]
    pub rest: crate::rest::store::RestData,
}

impl OrgState {
    /// Allocates a fresh, Salesforce-like 15-character id with the given 3-character key prefix.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}EM{}", base62(self.next_id, 10))
    }

    /// A call by record id, else the latest call created with that vendor call key.
    pub fn find_call(&self, id_or_key: &str) -> Option<&VoiceCall> {
        self.index_of(id_or_key).map(|i| &self.voice_calls[i])
    }

    /// Mutable variant of [`OrgState::find_call`].
    pub fn find_call_mut(&mut self, id_or_key: &str) -> Option<&mut VoiceCall> {
        self.index_of(id_or_key).map(move |i| &mut self.voice_calls[i])
    }

    /// The latest call created with that vendor call key (never by record id).
    pub fn find_by_vendor_key_mut(&mut self, key: &str) -> Option<&mut VoiceCall> {
        self.voice_calls.iter_mut().rev().find(|c| c.vendor_call_key == key)
    }

    fn index_of(&self, id_or_key: &str) -> Option<usize> {
        self.voice_calls
            .iter()
            .position(|c| c.id == id_or_key)
            .or_else(|| self.voice_calls.iter().rposition(|c| c.vendor_call_key == id_or_key))
    }
}

/// True when the value looks like a VoiceCall record id (15 or 18 alphanumerics starting `0LQ`).
pub fn looks_like_voice_call_id(value: &str) -> bool {
    looks_like_record_id(value, VOICE_CALL_PREFIX)
}

/// True when the value looks like a record id (15 or 18 alphanumerics) with the given key prefix.
pub fn looks_like_record_id(value: &str, prefix: &str) -> bool {
    (value.len() == 15 || value.len() == 18)
        && value.starts_with(prefix)
        && value.chars().all(|c| c.is_ascii_alphanumeric())
}

fn base62(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_15_char_0lq_and_unique() {
        let mut org = OrgState::default();
        let a = org.new_id(VOICE_CALL_PREFIX);
        let b = org.new_id(VOICE_CALL_PREFIX);
        assert_eq!(a, "0LQEM0000000001");
        assert_ne!(a, b);
        assert!(looks_like_voice_call_id(&a));
        assert!(!looks_like_voice_call_id("0LQ123"));
        assert!(looks_like_record_id("005123456789abc", "005"));
        assert!(looks_like_record_id("005123456789abcDEF", "005"));
        assert!(!looks_like_record_id("005123456789ab-", "005"));
        assert_eq!(base62(61, 2), "0z");
        assert_eq!(base62(62, 2), "10");
    }

    #[test]
    fn lookup_by_id_or_latest_vendor_key() {
        let mut org = OrgState::default();
        for (id, key) in [("0LQ1", "k"), ("0LQ2", "k"), ("0LQ3", "other")] {
            org.voice_calls.push(VoiceCall { id: id.into(), vendor_call_key: key.into(), ..Default::default() });
        }
        assert_eq!(org.find_call("0LQ1").map(|c| c.id.as_str()), Some("0LQ1"));
        assert_eq!(org.find_call("k").map(|c| c.id.as_str()), Some("0LQ2"));
        assert!(org.find_call("none").is_none());
        assert!(org.find_by_vendor_key_mut("0LQ3").is_none());
    }
}
