//! ARM faults to inject ([`crate::Simulator::inject_faults`], [`crate::Simulator::refuse_pec_puts`]):
//! what the next ARM requests answer instead of being served, and how many were injected.

use serde::Serialize;

/// What an injected fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FaultKind {
    /// 429 Too Many Requests with `Retry-After: 1`.
    Throttle,
    /// 503 Service Unavailable with `Retry-After: 1`.
    Unavailable,
}

#[derive(Debug, Default)]
pub struct FaultPlan {
    pub remaining: u32,
    pub kind: Option<FaultKind>,
    pub injected: u64,
    /// The next PUTs of a PEC this many are refused for good with this status, ARM error code and message
    /// (e.g. 400: the target would not take the change), without changing the PEC.
    pub pec_puts_refused: u32,
    pub pec_put_refusal: Option<(u16, String, String)>,
}
