//! Fault injection: throttling (429 + Retry-After), server errors, slow answers, dropped connections,
//! answers with an unexpected body (a 200 `{"foo":1}`), and failing entries inside an otherwise
//! successful bulk transcript request.

use serde::{Deserialize, Serialize};

/// A fault applied to the next `count` matching requests (control paths `/__emulator/*` never match).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// HTTP method to match (case-insensitive); None = any.
    #[serde(default)]
    pub method: Option<String>,
    /// Substring of the request path to match; None = any.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Applies to the next `count` matching requests, then disappears.
    pub count: u32,
    /// Answer this status instead of handling the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// Adds `Retry-After: <secs>` to the injected status.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Sleep before answering (with `status`, or before normal handling).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Close the connection without any HTTP response.
    #[serde(default)]
    pub drop_connection: bool,
    /// Answer this body (with `status`, 200 when unset) instead of handling the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Handle the request first (the org state changes), then delay and/or answer `status`: the
    /// client cannot tell whether its request took effect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_applying: bool,
    /// Lets this many matching requests through untouched before the fault applies (e.g. the
    /// second batch of a multi-request operation). Faults queued after it see those requests.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Fault {
    /// Answer `status` to the next `count` requests.
    pub fn status(status: u16, count: u32) -> Fault {
        Fault { status: Some(status), count, ..Fault::default() }
    }

    /// Delay the next `count` requests by `ms` milliseconds (then handle them normally).
    pub fn delay(ms: u64, count: u32) -> Fault {
        Fault { delay_ms: Some(ms), count, ..Fault::default() }
    }

    /// Answer `body` with HTTP 200 to the next `count` requests, without handling them (nothing is
    /// created or changed).
    pub fn body(body: serde_json::Value, count: u32) -> Fault {
        Fault { body: Some(body), count, ..Fault::default() }
    }

    /// Drop the connection of the next `count` requests.
    pub fn drop_connection(count: u32) -> Fault {
        Fault { drop_connection: true, count, ..Fault::default() }
    }

    /// Apply the next `count` requests, then answer `status` instead of their real answer.
    pub fn applied_then_status(status: u16, count: u32) -> Fault {
        Fault { status: Some(status), count, after_applying: true, ..Fault::default() }
    }

    /// Apply the next `count` requests, then wait `ms` milliseconds before their real answer.
    pub fn applied_then_delay(ms: u64, count: u32) -> Fault {
        Fault { delay_ms: Some(ms), count, after_applying: true, ..Fault::default() }
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Fault {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds a delay before the answer.
    pub fn with_delay(mut self, ms: u64) -> Fault {
        self.delay_ms = Some(ms);
        self
    }

    /// Lets the first `requests` matching requests through before the fault applies.
    pub fn after(mut self, requests: u32) -> Fault {
        self.skip = requests;
        self
    }

    /// Restricts the fault to a method (`None`/"" = any) and a path substring.
    pub fn on(mut self, method: &str, path_contains: &str) -> Fault {
        self.method = (!method.is_empty()).then(|| method.to_owned());
        self.path_contains = (!path_contains.is_empty()).then(|| path_contains.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// Makes the entries of the next bulk transcript requests fail for one vendor call key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BulkEntryFault {
    pub vendor_call_key: String,
    /// How many bulk entries for this key fail.
    pub count: u32,
    /// Entry status reported in the multi-status answer (default 500).
    #[serde(default = "default_entry_status")]
    pub status: u16,
}

fn default_entry_status() -> u16 {
    500
}

/// Pending faults, consumed in insertion order.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultQueue {
    pub faults: Vec<Fault>,
    pub bulk_entry_faults: Vec<BulkEntryFault>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.faults.push(fault);
        }
    }

    pub fn push_bulk(&mut self, fault: BulkEntryFault) {
        if fault.count > 0 {
            self.bulk_entry_faults.push(fault);
        }
    }

    pub fn clear(&mut self) {
        self.faults.clear();
        self.bulk_entry_faults.clear();
    }

    /// Consumes one use of the first fault matching the request.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let mut index = None;
        for (i, fault) in self.faults.iter_mut().enumerate() {
            if !fault.matches(method, path) {
                continue;
            }
            if fault.skip > 0 {
                fault.skip -= 1;
                continue;
            }
            index = Some(i);
            break;
        }
        let index = index?;
        let fault = &mut self.faults[index];
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    /// Consumes one use of a bulk entry fault for the vendor call key; returns the entry status.
    pub fn take_bulk(&mut self, vendor_call_key: &str) -> Option<u16> {
        let index = self.bulk_entry_faults.iter().position(|f| f.vendor_call_key == vendor_call_key)?;
        let fault = &mut self.bulk_entry_faults[index];
        fault.count -= 1;
        let status = fault.status;
        if fault.count == 0 {
            self.bulk_entry_faults.remove(index);
        }
        Some(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_and_run_out() {
        let mut q = FaultQueue::default();
        q.push(Fault::status(429, 2).with_retry_after(3).on("post", "/messages"));
        q.push(Fault::status(500, 0));
        assert_eq!(q.faults.len(), 1, "count 0 is never queued");
        assert!(q.take("PATCH", "/telephony/v1/voiceCalls/x/messages").is_none());
        assert!(q.take("POST", "/telephony/v1/voiceCalls").is_none());
        let f = q.take("POST", "/telephony/v1/voiceCalls/messages").expect("first");
        assert_eq!((f.status, f.retry_after_secs), (Some(429), Some(3)));
        assert!(q.take("POST", "/telephony/v1/voiceCalls/messages").is_some());
        assert!(q.take("POST", "/telephony/v1/voiceCalls/messages").is_none());
    }

    #[test]
    fn a_fault_after_n_requests_lets_them_through_first() {
        let mut q = FaultQueue::default();
        q.push(Fault::status(503, 1).after(2).on("POST", "/postConversationEvents"));
        let path = "/telephony/v1/voiceCalls/k/postConversationEvents";
        assert!(q.take("GET", path).is_none(), "another method is not counted");
        assert!(q.take("POST", path).is_none());
        assert!(q.take("POST", path).is_none());
        assert_eq!(q.take("POST", path).and_then(|f| f.status), Some(503));
        assert!(q.take("POST", path).is_none());
        let json: Fault = serde_json::from_str(r#"{"count":1,"status":503,"skip":2}"#).expect("json");
        assert_eq!(json, Fault::status(503, 1).after(2));
    }

    #[test]
    fn fault_json_is_camel_case_with_defaults() {
        let f: Fault = serde_json::from_str(r#"{"count":1,"status":503,"pathContains":"omniFlow"}"#).expect("json");
        assert_eq!(f, Fault::status(503, 1).on("", "omniFlow"));
        let d = serde_json::to_value(Fault::drop_connection(1)).expect("ser");
        assert_eq!(d["dropConnection"], true);
    }

    #[test]
    fn bulk_entry_faults_run_out() {
        let mut q = FaultQueue::default();
        q.push_bulk(BulkEntryFault { vendor_call_key: "k".into(), count: 1, status: 500 });
        assert_eq!(q.take_bulk("other"), None);
        assert_eq!(q.take_bulk("k"), Some(500));
        assert_eq!(q.take_bulk("k"), None);
    }
}
