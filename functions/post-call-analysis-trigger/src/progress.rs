//! The progress record of one analysis file: which batches Salesforce acknowledged, so a redelivered
//! event (EventBridge and Lambda's asynchronous retries deliver at least once) posts only what was
//! not stored yet (issue 13 item 2; docs/functions.md#postcallanalysistrigger).
//!
//! Store a Post-Call Conversation Event (Service Cloud Voice for Partner Telephony Developer Guide,
//! Telephony Integration REST API) takes events without any id the server could deduplicate on, so
//! a batch posted twice is stored twice. The record lives at
//! `post_call_progress/<analysis file key>` in the file's bucket, outside `Analysis/Voice/` so
//! writing it triggers nothing, and lists each acknowledged batch by a fingerprint of what it
//! carried (the vendor call key and the events): a batch is skipped only when exactly that request
//! was acknowledged before, so a rewritten analysis file or a different split is posted again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the progress records live in the analysis file's bucket.
pub const PROGRESS_PREFIX: &str = "post_call_progress/";

/// The key of the progress record of the analysis file `analysis_key` (already checked to be an
/// `Analysis/Voice/…` key, so it can only land under [`PROGRESS_PREFIX`]).
pub fn progress_key(analysis_key: &str) -> String {
    format!("{PROGRESS_PREFIX}{analysis_key}")
}

/// `{"analysisKey", "vendorCallKey", "acknowledged": {"<fingerprint>": "<when>"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub analysis_key: String,
    pub vendor_call_key: String,
    /// Fingerprint of each acknowledged batch ([`fingerprint`]) with the time it was acknowledged.
    pub acknowledged: BTreeMap<String, String>,
}

impl Progress {
    pub fn new(analysis_key: &str, vendor_call_key: &str) -> Self {
        Progress {
            analysis_key: analysis_key.into(),
            vendor_call_key: vendor_call_key.into(),
            acknowledged: BTreeMap::new(),
        }
    }

    pub fn is_acknowledged(&self, fingerprint: &str) -> bool {
        self.acknowledged.contains_key(fingerprint)
    }

    pub fn acknowledge(&mut self, fingerprint: String) {
        self.acknowledged.insert(fingerprint, chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
}

/// A stable fingerprint of one request: FNV-1a (64 bits) over the vendor call key and the request
/// body's JSON, as 16 hex digits. Stable across builds (unlike `std`'s `DefaultHasher`), which a
/// record read by a later deployment needs; not a security measure (the record is the function's own).
pub fn fingerprint(vendor_call_key: &str, body: &[u8]) -> String {
    let input: Vec<u8> = vendor_call_key.as_bytes().iter().chain(&[0u8]).chain(body).copied().collect();
    format!("{:016x}", fnv1a(&input))
}

fn fnv1a(input: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    input.iter().fold(OFFSET, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_tell_requests_apart() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let a = fingerprint("contact-1", br#"{"events":[1]}"#);
        assert_eq!(a, fingerprint("contact-1", br#"{"events":[1]}"#));
        assert_ne!(a, fingerprint("contact-2", br#"{"events":[1]}"#));
        assert_ne!(a, fingerprint("contact-1", br#"{"events":[2]}"#));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn the_record_round_trips_and_lives_outside_the_trigger_prefix() {
        let mut progress = Progress::new("Analysis/Voice/2026/11/21/c_analysis.json", "c");
        progress.acknowledge("00000000000000aa".into());
        let json = serde_json::to_value(&progress).unwrap_or_default();
        assert_eq!(json["analysisKey"], "Analysis/Voice/2026/11/21/c_analysis.json");
        assert!(json["acknowledged"]["00000000000000aa"].is_string());
        let back: Progress = serde_json::from_value(json).unwrap_or_default();
        assert!(back.is_acknowledged("00000000000000aa") && !back.is_acknowledged("00000000000000ab"));
        let key = progress_key("Analysis/Voice/2026/11/21/c_analysis.json");
        assert_eq!(key, "post_call_progress/Analysis/Voice/2026/11/21/c_analysis.json");
        assert!(!key.starts_with("Analysis/Voice/"));
    }
}
