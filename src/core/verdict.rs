//! What a check comes to, in one vocabulary: the [`Verdict`] that ends a check, the [`Outcome`] that
//! ends a chain, the [`ParkCode`] and [`ParkReason`] of a parked one. Data only.

use std::fmt;
use std::time::Duration;

/// How a check ends: what the shell does with the work item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Queue the next check `after` from now.
    CheckAgain { after: Duration, reason: String },
    /// The chain ends.
    Done(Outcome),
    /// Cannot or must not proceed automatically: the parking queue, for a human.
    Park { reason: ParkReason },
    /// Transient trouble: fail the invocation so Service Bus delivers the message again.
    Redeliver { reason: String },
}

/// Why a work item was parked: a stable code (the `parkcode` message property, the audit event, the
/// park-code table in docs/operations.md) and the text for a human (the `parkreason` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParkCode {
    /// Several PECs could be the MPE's and the evidence does not single one out.
    Ambiguous,
    /// The only candidate PEC fails part of the evidence that ties a PEC to the MPE.
    EvidenceMismatch,
    /// No approval rule allows this source and target (or the target is tagged deny).
    PolicyRefused,
    /// The target lists more PEC pages than the approver reads.
    PagingLimit,
    /// ARM refused a write or read for good (400 and the like): retrying will not help.
    ArmRefused,
    /// The approver's identity may not do this: ARM answered 403 (a missing role) or 401 also to a fresh
    /// token, or the identity endpoint refused a token.
    Forbidden,
    /// The MPE did not reach a decidable state before `MPE_GIVE_UP_AFTER`.
    GaveUp,
    UnsupportedMpeType,
    UnsupportedTargetType,
    /// The MPE's subscription is outside `MPE_SOURCE_SUBSCRIPTIONS`.
    SourceNotAllowed,
    /// The target's subscription is outside `MPE_TARGET_SUBSCRIPTIONS`.
    TargetNotAllowed,
    TargetMissing,
    /// A body from Azure we cannot read (MPE, PEC list, PEC).
    UnreadableResponse,
    /// A queue message or event that is not what the function takes.
    InvalidInput,
    /// Service Bus refused the work item for good (401 also to a fresh token, 400, 404/410 no such
    /// queue): the work queue would not take the next check, so it was parked instead.
    QueueRefused,
    /// The MPE cannot be shown not to have had its approval: one whose connection only the target shows
    /// (Data Explorer) was created longer than `MPE_GIVE_UP_AFTER` ago or at a time it does not report;
    /// or, for any service, a connection we approved for it was disconnected or rejected since and
    /// another PEC with its name is pending. Nothing is approved.
    NotNew,
    /// The MPE reports its connection pending, yet for several checks no PEC at the target matched its
    /// provider's rule (the private endpoint's name, or the request message) while other PECs of its group
    /// were pending there: the rule may be wrong for this service. Nothing is approved; the park lists
    /// those PECs' private endpoints, and `MPE_ENDPOINT_NAMES` corrects a naming rule.
    NoMatchingPec,
}

impl ParkCode {
    pub const ALL: [ParkCode; 17] = [
        ParkCode::Ambiguous,
        ParkCode::EvidenceMismatch,
        ParkCode::PolicyRefused,
        ParkCode::PagingLimit,
        ParkCode::ArmRefused,
        ParkCode::Forbidden,
        ParkCode::GaveUp,
        ParkCode::UnsupportedMpeType,
        ParkCode::UnsupportedTargetType,
        ParkCode::SourceNotAllowed,
        ParkCode::TargetNotAllowed,
        ParkCode::TargetMissing,
        ParkCode::UnreadableResponse,
        ParkCode::InvalidInput,
        ParkCode::QueueRefused,
        ParkCode::NotNew,
        ParkCode::NoMatchingPec,
    ];
    /// The stable code, kebab-case. Never change one: operators filter on them.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkCode::Ambiguous => "ambiguous",
            ParkCode::EvidenceMismatch => "evidence-mismatch",
            ParkCode::PolicyRefused => "policy-refused",
            ParkCode::PagingLimit => "paging-limit",
            ParkCode::ArmRefused => "arm-refused",
            ParkCode::Forbidden => "forbidden",
            ParkCode::GaveUp => "gave-up",
            ParkCode::UnsupportedMpeType => "unsupported-mpe-type",
            ParkCode::UnsupportedTargetType => "unsupported-target-type",
            ParkCode::SourceNotAllowed => "source-not-allowed",
            ParkCode::TargetNotAllowed => "target-not-allowed",
            ParkCode::TargetMissing => "target-missing",
            ParkCode::UnreadableResponse => "unreadable-response",
            ParkCode::InvalidInput => "invalid-input",
            ParkCode::QueueRefused => "queue-refused",
            ParkCode::NotNew => "not-new",
            ParkCode::NoMatchingPec => "no-matching-pec",
        }
    }
}

impl fmt::Display for ParkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A park reason: the code and the human text. Derefs to the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkReason {
    pub code: ParkCode,
    pub text: String,
}

impl ParkReason {
    pub fn new(code: ParkCode, text: impl Into<String>) -> Self {
        ParkReason { code, text: text.into() }
    }
}

impl std::ops::Deref for ParkReason {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ParkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// We approved the PEC and the target confirmed it.
    Approved,
    /// The connection was already approved (by us earlier, by a human, or auto-approved).
    AlreadyApproved,
    Deleted,
    Rejected,
    Disconnected,
    Failed(String),
    /// `MPE_DRY_RUN`: we would have approved this PEC.
    DryRun {
        pec_id: String,
    },
    /// The resource connects to nothing privately (a Front Door origin without a private link): nothing
    /// to approve.
    NoPrivateLink,
    /// The service's own MPE, whose connection it approves itself (Synapse's reserved MPEs): not ours.
    Reserved,
}

impl Outcome {
    /// A stable code for the audit event.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::AlreadyApproved => "already-approved",
            Outcome::Deleted => "deleted",
            Outcome::Rejected => "rejected",
            Outcome::Disconnected => "disconnected",
            Outcome::Failed(_) => "failed",
            Outcome::DryRun { .. } => "dry-run",
            Outcome::NoPrivateLink => "no-private-link",
            Outcome::Reserved => "reserved",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Approved => f.write_str("approved"),
            Outcome::AlreadyApproved => f.write_str("already approved"),
            Outcome::Deleted => f.write_str("MPE deleted"),
            Outcome::Rejected => f.write_str("rejected"),
            Outcome::Disconnected => f.write_str("disconnected"),
            Outcome::Failed(why) => write!(f, "MPE failed ({why})"),
            Outcome::DryRun { pec_id } => write!(f, "dry run: would approve {pec_id}"),
            Outcome::NoPrivateLink => f.write_str("no private link: nothing to approve"),
            Outcome::Reserved => f.write_str("reserved: the service approves its own MPE"),
        }
    }
}
