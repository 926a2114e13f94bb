//! ARM faults to inject ([`crate::Simulator::inject_faults`], [`crate::Simulator::refuse_pec_puts`],
//! [`crate::Simulator::forbid`]): what the next ARM requests answer instead of being served, and how
//! many were injected.

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
    /// Resources (lower-cased ids) every request at or under which is answered 403
    /// `AuthorizationFailed`: the identity's role does not reach them.
    pub forbidden: Vec<String>,
}

impl FaultPlan {
    /// The refusal the next PEC PUT gets, if one is scripted: status, ARM error code, message.
    pub fn refused_put(&mut self) -> Option<(u16, String, String)> {
        if self.pec_puts_refused == 0 {
            return None;
        }
        self.pec_puts_refused -= 1;
        self.injected += 1;
        self.pec_put_refusal.clone()
    }

    /// Whether a request on `path` is one the identity may not make.
    pub fn forbids(&self, path: &str) -> bool {
        let path = path.to_ascii_lowercase();
        self.forbidden.iter().any(|f| path == *f || path.starts_with(&format!("{f}/")))
    }
}
