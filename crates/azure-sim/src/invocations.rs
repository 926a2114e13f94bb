//! The record of the Functions-host emulator's invocations ([`crate::host`]), shared with a
//! simulator's report, and its summary.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One invocation, for reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    pub function: String,
    pub invocation_id: String,
    /// Virtual time the invocation started.
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub success: bool,
    /// Real milliseconds.
    pub duration_ms: f64,
    pub attempt: u32,
    pub error: Option<String>,
}

/// The invocations so far, shared by the hosts that record into it and the report that reads it.
pub type InvocationLog = Arc<Mutex<Vec<InvocationRecord>>>;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationSummary {
    pub total: usize,
    pub failed: usize,
    /// function name → invocations.
    pub by_function: BTreeMap<String, usize>,
    pub max_duration_ms: f64,
    pub records: Vec<InvocationRecord>,
}

impl InvocationSummary {
    pub fn of(records: Vec<InvocationRecord>) -> Self {
        let mut by_function = BTreeMap::new();
        for r in &records {
            *by_function.entry(r.function.clone()).or_insert(0) += 1;
        }
        InvocationSummary {
            total: records.len(),
            failed: records.iter().filter(|r| !r.success).count(),
            by_function,
            max_duration_ms: records.iter().map(|r| r.duration_ms).fold(0.0, f64::max),
            records,
        }
    }
}
