//! The functional core: given what we observed of an MPE and its target's PECs, what now?
//!
//! No I/O here. The Service Bus function reads the MPE and asks [`decide_mpe`]; when that asks for the
//! target, it reads the whole PEC list and asks [`decide_target`]; then it acts on the [`Verdict`] or
//! approves. [`decide`] composes the two steps for the table-driven test that walks every MPE state ×
//! PEC state.

use crate::pec::{self, Marked, Pec, PecStatus};
use crate::providers::{MpeStatus, MpeView};
use crate::resource_id::ResourceId;
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// What we saw.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// The MPE is gone (ARM answered 404).
    MpeGone,
    /// The MPE; `pecs` is `None` until the target has been read, and then the complete list.
    /// `customer_subscriptions` are the subscriptions the approver's configuration names (watched,
    /// target, policy rules; the MPE's and the target's are added here): a managed private endpoint
    /// lives in a Microsoft-managed subscription, so a private endpoint in one of these is never the MPE's.
    Mpe { view: &'a MpeView, endpoint_name: &'a str, pecs: Option<&'a [Pec]>, customer_subscriptions: &'a [String] },
}

/// Where the work item stands in time.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Checks done before this one (0 for the first).
    pub attempt: u32,
    /// Time since the MPE was first seen.
    pub elapsed: Duration,
    /// Now, to tell an MPE's age from its `created_at`.
    pub now: DateTime<Utc>,
}

/// How far ahead of our clock a time from Azure or a work item may be and still be believed.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Read the target's PECs and decide again.
    ReadTarget,
    /// Approve this PEC (index into the observed list).
    Approve {
        pec: usize,
    },
    CheckAgain {
        after: Duration,
        reason: String,
    },
    Done(Outcome),
    /// Cannot or must not proceed automatically: send to the parking queue for a human.
    Park {
        reason: ParkReason,
    },
}

/// A decision that ends a check: what the shell does with the work item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    CheckAgain { after: Duration, reason: String },
    Done(Outcome),
    Park { reason: ParkReason },
}

impl From<Verdict> for Decision {
    fn from(v: Verdict) -> Decision {
        match v {
            Verdict::CheckAgain { after, reason } => Decision::CheckAgain { after, reason },
            Verdict::Done(o) => Decision::Done(o),
            Verdict::Park { reason } => Decision::Park { reason },
        }
    }
}

/// What the MPE alone decides: the target must be read, or the check ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpeNext {
    ReadTarget,
    Final(Verdict),
}

/// What the target's complete PEC list decides: approve this PEC (index into the list), or the check ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetNext {
    Approve { pec: usize },
    Final(Verdict),
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
    /// An MPE whose connection only the target shows (Data Explorer) cannot be shown to be new and not
    /// yet approved: created longer than `MPE_GIVE_UP_AFTER` ago or at a time it does not report, or a
    /// connection we approved for it was disconnected or rejected since. Nothing is approved.
    NotNew,
}

impl ParkCode {
    pub const ALL: [ParkCode; 16] = [
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
        }
    }
}

/// When to check again: `steps` of (interval, count), then `then` forever, and a give-up time.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub steps: Vec<(Duration, u32)>,
    pub then: Duration,
    pub give_up_after: Duration,
    /// Fraction of each delay added or removed at random-looking but deterministic points (0.0–0.5).
    pub jitter: f64,
}

impl Default for Schedule {
    /// 2 s for the first 30 s, 3 s up to 90 s, 10 s up to 5.5 min, then every 30 s; give up after 2 h.
    /// Stream Analytics to Storage is ready in ~5 s, to IoT Hub in 30–90 s; Data Explorer takes minutes.
    fn default() -> Self {
        Schedule {
            steps: vec![(Duration::from_secs(2), 15), (Duration::from_secs(3), 20), (Duration::from_secs(10), 24)],
            then: Duration::from_secs(30),
            give_up_after: Duration::from_secs(2 * 3600),
            jitter: 0.1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid schedule {input:?}: {reason} (expected e.g. \"2s*15,3s*20,10s*24,30s\")")]
pub struct ScheduleError {
    pub input: String,
    pub reason: String,
}

/// Parse `5s`, `1500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    if secs > 30.0 * 24.0 * 3600.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

impl Schedule {
    /// Parse `"2s*15,3s*20,10s*24,30s"`: each `interval*count`, the last entry without a count repeats.
    pub fn parse_steps(input: &str) -> Result<(Vec<(Duration, u32)>, Duration), ScheduleError> {
        let e = |reason: &str| ScheduleError { input: input.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = input.split(',').map(str::trim).collect();
        let (last, rest) = parts.split_last().ok_or_else(|| e("empty"))?;
        let mut steps = Vec::new();
        for p in rest {
            let (d, n) = p.split_once('*').ok_or_else(|| e("every entry but the last needs *count"))?;
            let d = parse_duration(d).ok_or_else(|| e("bad interval"))?;
            let n: u32 = n.trim().parse().map_err(|_| e("bad count"))?;
            if d.is_zero() || n == 0 {
                return Err(e("intervals and counts must be positive"));
            }
            steps.push((d, n));
        }
        if last.contains('*') {
            return Err(e("the last entry repeats forever and takes no count"));
        }
        let then = parse_duration(last).ok_or_else(|| e("bad final interval"))?;
        if then.is_zero() {
            return Err(e("intervals must be positive"));
        }
        Ok((steps, then))
    }

    /// The nominal delay before check number `attempt + 1`.
    pub fn interval(&self, attempt: u32) -> Duration {
        let mut left = attempt;
        for (d, n) in &self.steps {
            if left < *n {
                return *d;
            }
            left -= n;
        }
        self.then
    }

    /// The delay with jitter; `seed` makes it deterministic per work item and attempt.
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let base = self.interval(attempt);
        let j = self.jitter.clamp(0.0, 0.5);
        // splitmix64 of the seed → a fraction in [-1, 1)
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(attempt as u64);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let frac = (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        base.mul_f64(1.0 + j * frac)
    }
}

/// Decide the next step. Pure: the same observation always gives the same answer. The composition of
/// [`decide_mpe`] and [`decide_target`], which the shell calls one after the other.
pub fn decide(obs: Observation<'_>, progress: Progress, schedule: &Schedule, seed: u64) -> Decision {
    let (view, endpoint_name, pecs, subs) = match obs {
        Observation::MpeGone => return Decision::Done(Outcome::Deleted),
        Observation::Mpe { view, endpoint_name, pecs, customer_subscriptions } => {
            (view, endpoint_name, pecs, customer_subscriptions)
        }
    };
    match (decide_mpe(Some(view), progress, schedule, seed), pecs) {
        (MpeNext::Final(v), _) => v.into(),
        (MpeNext::ReadTarget, None) => Decision::ReadTarget,
        (MpeNext::ReadTarget, Some(pecs)) => {
            match decide_target(view, endpoint_name, pecs, subs, progress, schedule, seed) {
                TargetNext::Approve { pec } => Decision::Approve { pec },
                TargetNext::Final(v) => v.into(),
            }
        }
    }
}

/// Whether a sweep should queue a check of this MPE: everything not final yet (still provisioning,
/// awaiting approval, an unknown value), and an MPE whose connection only the target shows (Data
/// Explorer) only while it is new ([`is_new`]): an older one is never approved by a check, so a sweep
/// has nothing to do for it.
pub fn worth_checking(view: &MpeView, now: DateTime<Utc>, schedule: &Schedule) -> bool {
    match view.status {
        MpeStatus::ProvisionedCheckTarget => is_new(view, now, schedule),
        _ => !matches!(
            view.status,
            MpeStatus::Approved
                | MpeStatus::Rejected
                | MpeStatus::Disconnected
                | MpeStatus::Failed(_)
                | MpeStatus::Deleting
        ),
    }
}

/// Whether the MPE was created (ARM's `systemData.createdAt`) within the schedule's give-up time of
/// `now`: the time its own chain of checks runs. Unknown creation times are not new.
pub fn is_new(view: &MpeView, now: DateTime<Utc>, schedule: &Schedule) -> bool {
    view.created_at.is_some_and(|c| match (now - c).to_std() {
        Ok(age) => age <= schedule.give_up_after,
        Err(_) => (c - now).to_std().is_ok_and(|ahead| ahead <= CLOCK_SKEW),
    })
}

/// Step one, on the MPE alone (`None`: ARM says it does not exist).
pub fn decide_mpe(view: Option<&MpeView>, progress: Progress, schedule: &Schedule, seed: u64) -> MpeNext {
    let Some(view) = view else {
        return MpeNext::Final(Verdict::Done(Outcome::Deleted));
    };
    let again = |reason: String| {
        MpeNext::Final(retry_later(reason, &view.raw_status, Duration::ZERO, progress, schedule, seed))
    };
    match &view.status {
        MpeStatus::Approved => MpeNext::Final(Verdict::Done(Outcome::AlreadyApproved)),
        MpeStatus::Rejected => MpeNext::Final(Verdict::Done(Outcome::Rejected)),
        MpeStatus::Disconnected => MpeNext::Final(Verdict::Done(Outcome::Disconnected)),
        MpeStatus::Failed(why) => MpeNext::Final(Verdict::Done(Outcome::Failed(why.clone()))),
        MpeStatus::Deleting => MpeNext::Final(Verdict::Done(Outcome::Deleted)),
        MpeStatus::Provisioning(s) => again(format!("service still provisioning ({s})")),
        MpeStatus::Unknown(s) => again(format!("unknown MPE state ({s}); not treated as pending")),
        MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget => MpeNext::ReadTarget,
    }
}

/// Step two, once [`decide_mpe`] asked for the target: on its complete PEC list. `customer_subscriptions`
/// as in [`Observation::Mpe`].
pub fn decide_target(
    view: &MpeView,
    endpoint_name: &str,
    pecs: &[Pec],
    customer_subscriptions: &[String],
    progress: Progress,
    schedule: &Schedule,
    seed: u64,
) -> TargetNext {
    let again = |reason: String| retry_later(reason, &view.raw_status, Duration::ZERO, progress, schedule, seed);
    let new = is_new(view, progress.now, schedule);
    match decide_on_pecs(view, endpoint_name, pecs, customer_subscriptions, again) {
        TargetNext::Approve { .. } if view.status == MpeStatus::ProvisionedCheckTarget && !new => {
            TargetNext::Final(Verdict::Park { reason: not_new(view, progress.now, schedule) })
        }
        next => next,
    }
}

/// Why an MPE whose connection only the target shows is not approved now: it cannot be shown to be new.
fn not_new(view: &MpeView, now: DateTime<Utc>, schedule: &Schedule) -> ParkReason {
    let when = match view.created_at {
        None => "does not report when it was created (no systemData.createdAt)".to_string(),
        Some(c) => format!(
            "was created at {} ({}s before now), more than MPE_GIVE_UP_AFTER ({}s) ago",
            c.to_rfc3339(),
            (now - c).num_seconds(),
            schedule.give_up_after.as_secs()
        ),
    };
    ParkReason::new(
        ParkCode::NotNew,
        format!(
            "the MPE {when}: a pending PEC at its target may be a stranger's beside a connection approved and \
             removed before, so it is not approved automatically; verify the PEC and approve it by hand, or \
             create the MPE again"
        ),
    )
}

/// Check again by the schedule for a reason the shell found (a PEC changed under us, a 409/412), or
/// park once that would pass the give-up time.
pub fn check_later(reason: String, progress: Progress, schedule: &Schedule, seed: u64) -> Verdict {
    retry_later(reason, "unknown", Duration::ZERO, progress, schedule, seed)
}

/// After repeated transient failures (ARM, tokens, sends): check again no sooner than `min_delay`, or park
/// once the give-up time would pass, by the same rule as any other "check again".
pub fn after_transient_failure(
    why: &str,
    min_delay: Duration,
    progress: Progress,
    schedule: &Schedule,
    seed: u64,
) -> Verdict {
    retry_later(format!("transient failure: {why}"), "unknown", min_delay, progress, schedule, seed)
}

/// The schedule's next interval (at least `min_delay`), or `Park` once that would pass the give-up time.
fn retry_later(
    reason: String,
    last_state: &str,
    min_delay: Duration,
    progress: Progress,
    schedule: &Schedule,
    seed: u64,
) -> Verdict {
    let after = schedule.delay(progress.attempt, seed).max(min_delay);
    if progress.elapsed + after > schedule.give_up_after {
        return Verdict::Park {
            reason: ParkReason::new(
                ParkCode::GaveUp,
                format!(
                    "gave up after {}s and {} checks; last state: {reason} ({last_state})",
                    progress.elapsed.as_secs(),
                    progress.attempt + 1
                ),
            ),
        };
    }
    Verdict::CheckAgain { after, reason }
}

/// PECs that could belong to this MPE: under the MPE's target, private endpoint named as the service
/// names it (whole last segment, case-insensitive), and of the same group id where the PEC says one.
pub fn candidates(view: &MpeView, endpoint_name: &str, pecs: &[Pec]) -> Vec<usize> {
    pecs.iter()
        .enumerate()
        .filter(|(_, p)| {
            // Cheap tests first; the id parse (the proof the PEC lies under our target) only for name matches.
            let named = p.endpoint_name().is_some_and(|n| n.eq_ignore_ascii_case(endpoint_name));
            let group_ok = match (&view.group_id, p.group_ids.is_empty()) {
                (Some(g), false) => p.group_ids.iter().any(|pg| pg.eq_ignore_ascii_case(g)),
                _ => true,
            };
            named && group_ok && ResourceId::parse(&p.id).map(|id| view.target.contains(&id)).unwrap_or(false)
        })
        .map(|(i, _)| i)
        .collect()
}

/// The subscription of a PEC's private endpoint (`/subscriptions/<id>/...`), if its id says one.
pub fn endpoint_subscription(p: &Pec) -> Option<&str> {
    let mut parts = p.endpoint_id.as_deref()?.split('/').filter(|s| !s.is_empty());
    parts.next().filter(|s| s.eq_ignore_ascii_case("subscriptions"))?;
    parts.next()
}

/// A private endpoint in a subscription the approver knows as a customer's (or with no readable
/// subscription) is never a managed private endpoint.
fn in_customer_subscription(p: &Pec, view: &MpeView, customer_subscriptions: &[String]) -> bool {
    match endpoint_subscription(p) {
        None => true,
        Some(s) => {
            s.eq_ignore_ascii_case(view.id.subscription())
                || s.eq_ignore_ascii_case(view.target.subscription())
                || customer_subscriptions.iter().any(|c| c.eq_ignore_ascii_case(s))
        }
    }
}

/// Does the PEC's description hold the MPE's request message? Only a non-empty message is evidence;
/// `None` when the MPE has none. The target shows the message as the description while Pending, and
/// our approval appends to it (see [`crate::pec::approved_description`]).
pub fn message_matches(view: &MpeView, p: &Pec) -> Option<bool> {
    let msg = view.request_message.as_deref().map(str::trim).filter(|m| !m.is_empty())?;
    Some(p.description.as_deref().map(str::trim).is_some_and(|d| d == msg))
}

/// Among several candidates, those whose description is the MPE's (non-empty) request message.
fn by_request_message(view: &MpeView, pecs: &[Pec], idx: &[usize]) -> Vec<usize> {
    idx.iter().copied().filter(|&i| message_matches(view, &pecs[i]) == Some(true)).collect()
}

fn ambiguous(pecs: &[Pec], idx: &[usize], why: &str) -> TargetNext {
    let ids: Vec<&str> = idx.iter().map(|&i| pecs[i].id.as_str()).collect();
    TargetNext::Final(Verdict::Park {
        reason: ParkReason::new(
            ParkCode::Ambiguous,
            format!("ambiguous: {} PECs could belong to this MPE ({why}): {}", ids.len(), ids.join(", ")),
        ),
    })
}

fn decide_on_pecs(
    view: &MpeView,
    endpoint_name: &str,
    pecs: &[Pec],
    customer_subscriptions: &[String],
    again: impl Fn(String) -> Verdict,
) -> TargetNext {
    let approve = |pec: usize| TargetNext::Approve { pec };
    let again = |reason: String| TargetNext::Final(again(reason));
    let named = candidates(view, endpoint_name, pecs);
    let cands: Vec<usize> =
        named.iter().copied().filter(|&i| !in_customer_subscription(&pecs[i], view, customer_subscriptions)).collect();
    if cands.is_empty() {
        let why = if named.is_empty() {
            format!("no PEC from private endpoint {endpoint_name:?} at the target yet")
        } else {
            format!(
                "no PEC from private endpoint {endpoint_name:?} at the target yet ({} from a customer subscription ignored)",
                named.len()
            )
        };
        return again(why);
    }
    let pending: Vec<usize> = cands.iter().copied().filter(|&i| pecs[i].status == PecStatus::Pending).collect();
    if view.status == MpeStatus::AwaitingApproval {
        // The service says our connection is not approved yet, so an approved or rejected candidate is
        // not ours (or the service will catch up): only pending candidates count.
        return match pending.len() {
            0 => again("matching PEC not pending at the target yet".into()),
            1 => approve(pending[0]),
            _ => match by_request_message(view, pecs, &pending).as_slice() {
                [one] => approve(*one),
                _ => ambiguous(pecs, &pending, "same private endpoint name, request message does not single one out"),
            },
        };
    }
    // ProvisionedCheckTarget (Data Explorer): the MPE does not report its connection, the target decides,
    // once per incarnation of the MPE. A PEC we approved for an earlier MPE of this name is a leftover.
    let inc = view.incarnation();
    let marked = |i: usize| pec::marked(&pecs[i], &view.id, inc.as_deref());
    let cands: Vec<usize> = cands.into_iter().filter(|&i| marked(i) != Marked::EarlierIncarnation).collect();
    if cands.is_empty() {
        return again(format!(
            "no PEC from private endpoint {endpoint_name:?} at the target yet (only leftovers of an earlier MPE of this name)"
        ));
    }
    let pending: Vec<usize> = cands.iter().copied().filter(|&i| pecs[i].status == PecStatus::Pending).collect();
    let ours: Vec<usize> = cands.iter().copied().filter(|&i| marked(i) == Marked::ThisIncarnation).collect();
    // A PEC we approved for this MPE means done: no other candidate is ever considered.
    if ours.iter().any(|&i| pecs[i].status == PecStatus::Approved) {
        return TargetNext::Final(Verdict::Done(Outcome::AlreadyApproved));
    }
    // One we approved and someone disconnected or rejected since: this MPE had its approval.
    if let Some(&o) = ours.first() {
        if let Some(&p) = pending.iter().find(|i| !ours.contains(i)) {
            return TargetNext::Final(Verdict::Park {
                reason: ParkReason::new(
                    ParkCode::NotNew,
                    format!(
                        "the PEC approved for this MPE ({}) is now {:?}; another PEC with its name is pending ({}): \
                         not approved, one approval per MPE (create the MPE again for a new connection)",
                        pecs[o].id, pecs[o].status, pecs[p].id
                    ),
                ),
            });
        }
        // Someone approved another candidate by hand: their decision, the chain ends.
        if cands.iter().any(|&i| !ours.contains(&i) && pecs[i].status == PecStatus::Approved) {
            return TargetNext::Final(Verdict::Done(Outcome::AlreadyApproved));
        }
        return TargetNext::Final(status_outcome(&pecs[o].status, &again));
    }
    match (cands.as_slice(), pending.as_slice()) {
        ([one], [_]) => match message_matches(view, &pecs[*one]) {
            Some(false) => TargetNext::Final(Verdict::Park {
                reason: ParkReason::new(
                    ParkCode::EvidenceMismatch,
                    format!(
                        "the only candidate PEC {} does not carry the MPE's request message {:?} (its description is {:?}); not approved",
                        pecs[*one].id,
                        view.request_message.as_deref().unwrap_or_default(),
                        pecs[*one].description.as_deref().unwrap_or_default()
                    ),
                ),
            }),
            _ => approve(*one),
        },
        ([one], []) => TargetNext::Final(status_outcome(&pecs[*one].status, &again)),
        (_, []) => match by_request_message(view, pecs, &cands).as_slice() {
            [one] => TargetNext::Final(status_outcome(&pecs[*one].status, &again)),
            _ => ambiguous(pecs, &cands, "same private endpoint name, MPE state does not tell them apart"),
        },
        (_, _) => {
            // Beside a pending candidate only leftovers of an earlier endpoint (Disconnected) may sit:
            // an Approved or Rejected one may be ours, decided by someone, and then the pending one is not.
            if cands.iter().any(|&i| !matches!(pecs[i].status, PecStatus::Pending | PecStatus::Disconnected)) {
                return ambiguous(pecs, &cands, "a decided PEC with the MPE's name sits beside a pending one");
            }
            match by_request_message(view, pecs, &pending).as_slice() {
                [one] => approve(*one),
                _ => ambiguous(pecs, &cands, "same private endpoint name, request message does not single one out"),
            }
        }
    }
}

fn status_outcome(status: &PecStatus, again: &impl Fn(String) -> TargetNext) -> Verdict {
    let again = |r: String| match again(r) {
        TargetNext::Final(v) => v,
        // `again` only ever schedules or parks; an approval here would be a bug, so park.
        TargetNext::Approve { .. } => {
            Verdict::Park { reason: ParkReason::new(ParkCode::Ambiguous, "internal: approval where none was decided") }
        }
    };
    match status {
        PecStatus::Pending => again("PEC pending".into()),
        PecStatus::Approved => Verdict::Done(Outcome::AlreadyApproved),
        PecStatus::Rejected => Verdict::Done(Outcome::Rejected),
        PecStatus::Disconnected => Verdict::Done(Outcome::Disconnected),
        PecStatus::Other(s) => again(format!("PEC in unknown state {s:?}")),
    }
}

/// What ties a PEC to its MPE, for the audit event: the evidence the decision used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The private endpoint's name as the service names it for this MPE.
    pub name: String,
    /// `matched`, or `not reported by the target`.
    pub group: &'static str,
    /// `matched`, `not checked (...)`, or `no request message`.
    pub message: &'static str,
    /// The private endpoint's subscription (never one the configuration names).
    pub subscription: String,
}

/// The evidence for an approved candidate (see [`decide`]).
pub fn evidence(view: &MpeView, endpoint_name: &str, p: &Pec) -> Evidence {
    let group = match (&view.group_id, p.group_ids.is_empty()) {
        (Some(_), false) => "matched",
        _ => "not reported by the target",
    };
    let message = match (message_matches(view, p), &view.status) {
        (Some(true), _) => "matched",
        (Some(false), MpeStatus::AwaitingApproval) => "not checked (the MPE reports its connection pending)",
        (Some(false), _) => "mismatch",
        (None, _) => "no request message",
    };
    Evidence {
        name: endpoint_name.to_string(),
        group,
        message,
        subscription: endpoint_subscription(p).unwrap_or_default().to_string(),
    }
}
