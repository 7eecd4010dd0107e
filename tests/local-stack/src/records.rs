//! Kinesis records of the sample events, for tests: the JSON inside a record, its sequence number,
//! a record with other data.

use anyhow::{Context as _, Result};
use base64::Engine as _;
use serde_json::Value;

/// The JSON document inside a Kinesis record (`kinesis.data`, base64).
pub fn data_of(record: &Value) -> Result<Value> {
    let data = record["kinesis"]["data"].as_str().context("the record has no kinesis.data")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).context("kinesis.data is not base64")?;
    serde_json::from_slice(&bytes).context("kinesis.data is not JSON")
}

/// The CTR inside a Kinesis record of a sample batch; panics if there is none.
pub fn ctr_of(record: &Value) -> Value {
    data_of(record).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The record with its data replaced by `data`.
pub fn with_data(record: &Value, data: &Value) -> Value {
    let mut record = record.clone();
    record["kinesis"]["data"] = Value::String(base64::engine::general_purpose::STANDARD.encode(data.to_string()));
    record
}

/// The record's `kinesis.sequenceNumber`; panics if there is none.
pub fn seq_of(record: &Value) -> String {
    match record["kinesis"]["sequenceNumber"].as_str() {
        Some(seq) => seq.to_string(),
        None => panic!("a Kinesis record without kinesis.sequenceNumber: {record}"),
    }
}
