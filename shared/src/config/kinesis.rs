//! Kinesis-triggered functions: what their event source mapping does with a partial batch answer.

use super::Var;

pub const REPORT_BATCH_ITEM_FAILURES: &str = "REPORT_BATCH_ITEM_FAILURES";

pub const VARS: &[Var] = &[Var {
    name: REPORT_BATCH_ITEM_FAILURES,
    meaning: "true when the Kinesis mapping has ReportBatchItemFailures; else a record to retry fails the whole batch",
}];
