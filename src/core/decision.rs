//! The functional core: given what one check has seen of an MPE and its target, what now?
//!
//! No I/O here. A check is one loop in the shell (`handler/pass.rs`): [`decide`] looks at what the check
//! has [`Seen`] and answers one [`Action`]: read something more ([`Need`]), approve this PEC
//! ([`Approve`]), or finish ([`Ending`]: a [`Verdict`] and what the audit says of it). The shell does what
//! it says, records what came back ([`Observed`]: a read, what the approving protocol reported, or a
//! [`Failure`]) and asks again. Every rule of a check is here: which PEC ([`crate::evidence`]), whether
//! the policy allows it, what a PEC changed under us means, when to look again
//! ([`crate::schedule`]), what a failure means.

pub use crate::evidence::{candidates, endpoint_subscription, evidence, message_matches, Evidence};
pub use crate::schedule::{parse_duration, Schedule, ScheduleError};
pub use crate::verdict::{Outcome, ParkCode, ParkReason, Verdict};

use crate::evidence::{self as matching, Match};
use crate::naming::EndpointNames;
use crate::pec::{self, Pec, PecStatus};
use crate::policy::{AllowList, GroupFailureKind, Groups, Policy, Refusal, Tags};
use crate::providers::{self, MpeStatus, MpeView};
use crate::readiness::{self, Readiness};
use crate::resource_id::ResourceId;
use crate::schedule::ReadyWindow;
use crate::targets;
use crate::workitem::{WorkItem, WorkItemError, MAX_ATTEMPT};
use chrono::{DateTime, Utc};
use std::time::Duration;

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

impl Progress {
    /// Where `item` stands at `now`.
    pub fn of(item: &WorkItem, now: DateTime<Utc>) -> Progress {
        Progress { attempt: item.attempt, elapsed: (now - item.first_seen).to_std().unwrap_or(Duration::ZERO), now }
    }
}

/// How far ahead of our clock a time from Azure or a work item may be and still be believed.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Deliveries of one message that may end in a redelivery (Service Bus redelivers each at once) before
/// a transient failure is answered with a scheduled check instead.
pub const IMMEDIATE_DELIVERIES: u64 = 3;
/// The delay of that scheduled check, at least.
pub const TRANSIENT_BACKOFF: Duration = Duration::from_secs(30);
/// How long to wait before reading a 404 MPE again (a read replica may lag the write that announced it).
pub const NOT_FOUND_CONFIRM_DELAY: Duration = Duration::from_secs(3);
/// Checks in a row that see the MPE report its connection pending, no PEC at the target named for it
/// and other PECs of its group pending there, before it parks `no-matching-pec`.
pub const UNMATCHED_CHECKS: u32 = 3;
/// How long after asking a service to refresh its MPEs (Grafana's `refreshManagedPrivateEndpoints`,
/// done in about 4 s in a recorded session) the MPE is read again, at least.
pub const REFRESH_SETTLE: Duration = Duration::from_secs(5);
/// The Tags API (`Tags - Get At Scope`, `{scope}/providers/Microsoft.Resources/tags/default`): one
/// api-version for every target type.
pub const TAGS_API_VERSION: &str = "2021-04-01";

/// The rules a check decides by: the configuration's part of every decision.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub schedule: &'a Schedule,
    pub policy: &'a Policy,
    /// `MPE_SOURCE_SUBSCRIPTIONS`.
    pub sources: &'a AllowList,
    /// `MPE_TARGET_SUBSCRIPTIONS`.
    pub targets: &'a AllowList,
    /// The subscriptions the configuration names (watched, target, policy rules): a private endpoint in
    /// one of them, or in the MPE's or the target's, is a customer's, never a managed one.
    pub customer_subscriptions: Vec<String>,
    /// `MPE_DRY_RUN`: decide, but approve nothing.
    pub dry_run: bool,
    /// `MPE_ENDPOINT_NAMES`: the operator's naming rules, in place of the providers' own.
    pub endpoint_names: &'a EndpointNames,
    /// The opt-in settings turned on ([`providers::Provider::opt_in`]).
    pub opted_in: Vec<&'static str>,
    /// The management groups `MPE_ALLOW` names, as the shell resolved them (`handler/groups.rs`); empty
    /// when it names none.
    pub groups: Groups,
    /// How long MPEs took to turn pending, as this process saw it (`MPE_LEARN_READINESS`): where it
    /// knows enough, the interval between checks of an MPE not ready yet.
    pub readiness: Option<&'a Readiness>,
}

/// What one check has seen so far. The shell fills it in as [`decide`] asks ([`Seen::record`]).
#[derive(Debug, Clone)]
pub struct Seen {
    pub mpe_id: ResourceId,
    /// When the MPE's chain began (the work item's `firstSeen`).
    pub first_seen: DateTime<Utc>,
    /// The PEC whose approval the chain's last check sent and did not see confirmed (the work item's
    /// `approving`): this check reads it first.
    pub approving: Option<String>,
    pub progress: Progress,
    /// This delivery of the work item's message (1 for the first).
    pub delivery: u64,
    /// MPEs the message checks, this one included (more than one: the parent's others too,
    /// [`WorkItem::siblings`]): a transient failure of this check is then not worth a redelivery that
    /// would check them all again, and the parent's checks are worth more where readiness is likely.
    pub members: usize,
    /// The checks before this one, in a row, that found no PEC for the pending MPE among pending others
    /// (the work item's `unmatched`).
    pub unmatched: u32,
    pub mpe: Option<MpeRead>,
    /// The `approving` PEC as read (`Some(None)`: it is gone).
    pub approving_pec: Option<Option<Pec>>,
    pub pecs: Option<PecList>,
    pub tags: Option<Tags>,
    pub approval: Option<Approval>,
    /// This check asked the service to refresh its MPEs ([`Need::Refresh`]).
    pub refreshed: bool,
    /// A read or write that failed: the check ends on it.
    pub failure: Option<Failure>,
}

/// The MPE as read.
#[derive(Debug, Clone)]
pub enum MpeRead {
    Found(Box<MpeView>),
    /// ARM answered 404 this many times.
    Missing {
        reads: u32,
    },
}

/// The target's private endpoint connections as read.
#[derive(Debug, Clone)]
pub enum PecList {
    /// The complete list.
    All(Vec<Pec>),
    /// The target does not exist.
    TargetMissing,
    /// A `nextLink` was left after this many pages, the most a check reads.
    TooLong { pages: usize },
}

/// A read or write that did not succeed, in the core's terms (the clients' errors map to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again: throttling, server errors, network, tokens, a check out of time. The wait the
    /// server asked for, when it did.
    Transient { why: String, retry_after: Option<Duration> },
    /// The approver's identity may not do this (403; 401 also to a fresh token; no token).
    Forbidden(String),
    /// Refused for good (400 and the like).
    Refused(String),
    /// An answer that cannot be read.
    Unreadable(String),
}

/// What the approving protocol reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Read right before the PUT, the PEC was not the chosen pending one any more: no longer Pending,
    /// or from another private endpoint. Nothing was written.
    Changed(Pec),
    /// The PEC was gone before the PUT.
    Vanished,
    /// ARM did not apply the PUT (409, 412, 404) or its answer could not be read: why.
    NotApplied(String),
    /// ARM accepted the PUT with this HTTP status; `last` is the PEC as seen last after it (the PUT's
    /// answer or a read to confirm), when readable.
    Sent { status: u16, last: Option<Pec> },
}

/// Something the shell saw, for [`Seen::record`].
#[derive(Debug, Clone)]
pub enum Observed {
    /// The MPE (`None`: ARM answered 404).
    Mpe(Option<Box<MpeView>>),
    /// The PEC being confirmed (`None`: gone).
    ApprovingPec(Option<Pec>),
    Pecs(PecList),
    Tags(Tags),
    Approval(Approval),
    /// The service took the refresh ([`Need::Refresh`]).
    Refreshed,
    Failed(Failure),
    /// What one step read at once (a target's PEC list and its tags).
    Several(Vec<Observed>),
}

/// What to read next (or, for [`Need::Refresh`], ask of the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The MPE, `after` this long (a 404 is read twice).
    Mpe { api_version: &'static str, after: Duration },
    /// The PEC whose approval the last check sent.
    Pec { id: ResourceId, api_version: &'static str },
    /// Every page of the target's PEC list, from `path`; `with_tags`: the target's tags too, read at the
    /// same time (the MPE awaits approval: an approval needs both).
    Pecs { target: ResourceId, path: String, api_version: &'static str, with_tags: bool },
    /// The target's tags.
    Tags { target: ResourceId },
    /// Ask the MPE's service to read its MPEs' connections again (`POST {path}`), for a service whose MPE
    /// reports an approval only once asked ([`providers::Provider::refresh`]).
    Refresh { path: String, api_version: &'static str },
}

/// Approve this PEC: re-read it, PUT it back Approved with our marker appended to its description
/// ([`pec::approved_description`] of `mpe_id` and `incarnation`), `If-Match` its ETag, confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approve {
    pub pec_id: ResourceId,
    /// The private endpoint the chosen PEC names: the PEC read before the PUT must name it too.
    pub endpoint_id: Option<String>,
    pub api_version: &'static str,
    pub mpe_id: ResourceId,
    pub incarnation: Option<String>,
}

/// What the audit event says about the PEC a decision concerns (empty until a PEC is chosen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub pec_id: Option<String>,
    pub private_endpoint_id: Option<String>,
    pub evidence: Option<Evidence>,
    /// The policy rule or tag that allowed the approval.
    pub allowed_by: Option<String>,
    /// The PEC whose approval was sent and not confirmed yet: the next check confirms it.
    pub approving: Option<String>,
    /// This check found the MPE pending, no PEC named for it and other PECs of its group pending: the next
    /// check counts one more ([`UNMATCHED_CHECKS`]).
    pub unmatched: bool,
}

/// How a check ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub verdict: Verdict,
    pub about: About,
}

impl Ending {
    /// Park with `code` and `text`, about no PEC.
    pub fn parked(code: ParkCode, text: impl Into<String>) -> Ending {
        Ending { verdict: Verdict::Park { reason: ParkReason::new(code, text) }, about: About::default() }
    }
}

/// The one answer of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Read(Need),
    Approve(Approve),
    Finish(Ending),
}

impl Seen {
    /// Whether the MPE, as read, awaits approval (or only its PEC at the target can tell, Data Explorer),
    /// or the chain confirms an approval it sent: what is left to read is the approving step's.
    pub fn awaits_approval(&self) -> bool {
        self.approving.is_some()
            || matches!(&self.mpe, Some(MpeRead::Found(v)) if matches!(v.status, MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget))
    }

    /// Nothing seen yet of `item`'s MPE, at `now`, on this `delivery` of its message.
    pub fn new(item: &WorkItem, now: DateTime<Utc>, delivery: u64) -> Seen {
        Seen {
            mpe_id: item.mpe_id.clone(),
            first_seen: item.first_seen,
            approving: item.approving.clone(),
            progress: Progress::of(item, now),
            delivery,
            members: 1,
            unmatched: item.unmatched,
            mpe: None,
            approving_pec: None,
            pecs: None,
            tags: None,
            approval: None,
            refreshed: false,
            failure: None,
        }
    }

    /// Add what the shell saw.
    pub fn record(&mut self, observed: Observed) {
        match observed {
            Observed::Mpe(Some(view)) => self.mpe = Some(MpeRead::Found(view)),
            Observed::Mpe(None) => {
                let reads = match self.mpe {
                    Some(MpeRead::Missing { reads }) => reads + 1,
                    _ => 1,
                };
                self.mpe = Some(MpeRead::Missing { reads })
            }
            Observed::ApprovingPec(p) => self.approving_pec = Some(p),
            Observed::Pecs(list) => self.pecs = Some(list),
            Observed::Tags(tags) => self.tags = Some(tags),
            Observed::Approval(a) => self.approval = Some(a),
            Observed::Refreshed => self.refreshed = true,
            // The first failure is the one the check ends on.
            Observed::Failed(f) => {
                self.failure.get_or_insert(f);
            }
            Observed::Several(all) => all.into_iter().for_each(|o| self.record(o)),
        }
    }
}

/// What now, given what the check has seen. Pure: the same `seen` always gives the same answer.
pub fn decide(seen: &Seen, rules: &Rules<'_>) -> Action {
    let mut about = About::default();
    let next = next(seen, rules, &mut about);
    match refreshed(next, seen, rules, &mut about) {
        Next::Read(need) => Action::Read(need),
        Next::Approve(a) => Action::Approve(a),
        Next::Then(verdict) => {
            if !matches!(verdict, Verdict::CheckAgain { .. }) {
                about.approving = None;
            }
            Action::Finish(Ending { verdict, about })
        }
    }
}

enum Next {
    Read(Need),
    Approve(Approve),
    Then(Verdict),
}

fn parked(code: ParkCode, text: impl Into<String>) -> Next {
    Next::Then(Verdict::Park { reason: ParkReason::new(code, text) })
}

fn done(outcome: Outcome) -> Next {
    Next::Then(Verdict::Done(outcome))
}

fn next(seen: &Seen, rules: &Rules<'_>, about: &mut About) -> Next {
    let (progress, schedule) = (seen.progress, rules.schedule);
    let phase = crate::schedule::phase_of(&seen.mpe_id);
    // The next read or write, unless it is the one that failed.
    let unless_failed = |next: Next| match &seen.failure {
        Some(f) => Next::Then(after_failure(f, seen, schedule)),
        None => next,
    };
    let need = |n: Need| unless_failed(Next::Read(n));
    // A work item the approver did not send (its chain would never give up) is not acted on.
    if let Some(e) = implausible(seen.first_seen, progress.attempt, progress.now) {
        return parked(ParkCode::InvalidInput, format!("implausible work item: {e}"));
    }
    let Some(provider) = providers::for_id(&seen.mpe_id) else {
        return parked(ParkCode::UnsupportedMpeType, format!("unsupported MPE type {}", seen.mpe_id.resource_type()));
    };
    if let Some(setting) = provider.opt_in().filter(|s| !rules.opted_in.contains(s)) {
        return parked(
            ParkCode::SourceNotAllowed,
            format!("{} MPEs are approved only with {setting}=true", provider.service()),
        );
    }
    if let Some(why) = rules.sources.refusal_in(seen.mpe_id.subscription(), &rules.groups) {
        return parked(ParkCode::SourceNotAllowed, why);
    }
    let api_version = provider.api_version();
    let view = match &seen.mpe {
        None => return need(Need::Mpe { api_version, after: Duration::ZERO }),
        // ARM's reads may lag its writes right after the MPE's write event: a 404 is read again.
        Some(MpeRead::Missing { reads: 1 }) => return need(Need::Mpe { api_version, after: NOT_FOUND_CONFIRM_DELAY }),
        Some(MpeRead::Missing { .. }) => return done(Outcome::Deleted),
        Some(MpeRead::Found(view)) => view,
    };
    // A resource that connects to nothing privately (a Front Door origin without a private link) has no
    // target: its check ends here, whatever approval the chain's last check sent.
    if view.status == MpeStatus::NoPrivateLink {
        return done(Outcome::NoPrivateLink);
    }
    let new = is_new(view, progress.now, schedule);
    let not_new = || not_new(view, progress.now, schedule);
    let age = age_of(view, progress);
    // Not ready yet: where this process has seen enough of the service, its checks follow what it saw.
    let learned = match view.status {
        MpeStatus::Provisioning(_) | MpeStatus::ProvisionedCheckTarget => {
            rules.readiness.and_then(|r| r.interval(&readiness::key(&seen.mpe_id.resource_type()), age, seen.members))
        }
        _ => None,
    };
    let pace = Pace { phase, age, window: provider.ready_window(&view.target), learned };
    let again =
        |reason: String| Next::Then(retry_later(reason, &view.raw_status, Duration::ZERO, progress, schedule, pace));
    // The name the service reports for the MPE's private endpoint, else the operator's rule, else the provider's.
    let endpoint_name = view
        .endpoint_name
        .clone()
        .or_else(|| rules.endpoint_names.name_for(&seen.mpe_id))
        .or_else(|| provider.endpoint_name(&seen.mpe_id));

    // The approval the chain's last check sent: once the PEC reads decided, the chain ends on it.
    // Gone, or Pending again (the approval did not take): decided afresh below.
    if let Some(raw) = &seen.approving {
        let pec_id = match ResourceId::parse(raw) {
            Ok(id) if view.target.contains(&id) => id,
            _ => {
                return parked(
                    ParkCode::InvalidInput,
                    format!("the work item's approving PEC {raw:?} is not under the MPE's target {}", view.target),
                )
            }
        };
        if let Some(tt) = targets::lookup(&view.target) {
            match &seen.approving_pec {
                None => return need(Need::Pec { id: pec_id, api_version: tt.api_version }),
                Some(Some(p)) if p.status != PecStatus::Pending => {
                    about.concerns(view, endpoint_name.as_deref(), p);
                    return after_approval(p, view, true, about, again);
                }
                Some(_) => {}
            }
        }
    }

    match &view.status {
        MpeStatus::Approved => return done(Outcome::AlreadyApproved),
        MpeStatus::Rejected => return done(Outcome::Rejected),
        MpeStatus::Disconnected => return done(Outcome::Disconnected),
        MpeStatus::Failed(why) => return done(Outcome::Failed(why.clone())),
        MpeStatus::Deleting => return done(Outcome::Deleted),
        MpeStatus::NoPrivateLink => return done(Outcome::NoPrivateLink),
        MpeStatus::Reserved => return done(Outcome::Reserved),
        MpeStatus::Provisioning(s) => return again(format!("service still provisioning ({s})")),
        MpeStatus::Unknown(s) => return again(format!("unknown MPE state ({s}); not treated as pending")),
        MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget => {}
    }

    let Some(tt) = targets::lookup(&view.target) else {
        return parked(
            ParkCode::UnsupportedTargetType,
            format!("unsupported target type {}", view.target.resource_type()),
        );
    };
    if let Some(why) = rules.targets.refusal_in(view.target.subscription(), &rules.groups) {
        return parked(ParkCode::TargetNotAllowed, format!("target {why}"));
    }
    let pecs = match &seen.pecs {
        None => {
            let path =
                if tt.list { format!("{}/privateEndpointConnections", view.target) } else { view.target.to_string() };
            // An MPE awaiting approval is about to be approved: its target's tags are read beside the list.
            let with_tags = seen.tags.is_none() && view.status == MpeStatus::AwaitingApproval;
            return need(Need::Pecs { target: view.target.clone(), path, api_version: tt.api_version, with_tags });
        }
        Some(PecList::TargetMissing) => {
            return parked(ParkCode::TargetMissing, format!("target {} does not exist", view.target))
        }
        Some(PecList::TooLong { pages }) => {
            return parked(
                ParkCode::PagingLimit,
                format!(
                    "target {} lists more than {pages} pages of private endpoint connections (the limit read); \
                     not deciding on a partial list",
                    view.target
                ),
            )
        }
        Some(PecList::All(pecs)) => pecs,
    };
    let chosen = match matching::choose(view, endpoint_name.as_deref(), pecs, &rules.customer_subscriptions) {
        Match::Approve(_) if view.status == MpeStatus::ProvisionedCheckTarget && !new => {
            return Next::Then(Verdict::Park { reason: not_new() })
        }
        Match::Approve(i) => &pecs[i],
        Match::Wait(reason) => {
            let others = match view.status {
                MpeStatus::AwaitingApproval => {
                    matching::pending_unnamed(view, endpoint_name.as_deref(), pecs, &rules.customer_subscriptions)
                }
                _ => Vec::new(),
            };
            if others.is_empty() {
                return again(reason);
            }
            about.unmatched = true;
            if seen.unmatched + 1 >= UNMATCHED_CHECKS {
                let text = no_matching_pec(view, provider, endpoint_name.as_deref(), rules, pecs, &others);
                return parked(ParkCode::NoMatchingPec, text);
            }
            return again(format!(
                "{reason}, while {} other PEC(s) of its group are pending there (check {} of {UNMATCHED_CHECKS} \
                 before it parks no-matching-pec)",
                others.len(),
                seen.unmatched + 1
            ));
        }
        Match::Ended(outcome) => return done(outcome),
        Match::Park(reason) => return Next::Then(Verdict::Park { reason }),
    };
    about.concerns(view, endpoint_name.as_deref(), chosen);

    // The policy: MPE_ALLOW's rules and the target's own tags (a deny tag refuses whatever else says).
    // The tags are read only now, when the decision is about to approve.
    let tags = match &seen.tags {
        None => return need(Need::Tags { target: view.target.clone() }),
        Some(tags) => tags,
    };
    // A rule naming a management group allows only subscriptions resolved under it: unresolved, it allows
    // nothing, and the check waits (ARM failed) or parks (the identity may not read the hierarchy).
    match rules.policy.evaluate_in(&seen.mpe_id, &view.target, tags, &rules.groups) {
        Ok(allowed) => about.allowed_by = Some(allowed.to_string()),
        Err(Refusal { why, unresolved: Some(GroupFailureKind::Transient) }) => return again(why),
        Err(Refusal { why, unresolved: Some(GroupFailureKind::Forbidden) }) => return parked(ParkCode::Forbidden, why),
        Err(Refusal { why, .. }) => return parked(ParkCode::PolicyRefused, why),
    }
    let pec_id = match ResourceId::parse(&chosen.id) {
        Ok(id) if view.target.contains(&id) => id,
        _ => {
            return parked(
                ParkCode::UnreadableResponse,
                format!("PEC id {} is not under the target {}", crate::logsafe::q(&chosen.id), view.target),
            )
        }
    };
    if rules.dry_run {
        return done(Outcome::DryRun { pec_id: pec_id.to_string() });
    }
    let Some(report) = &seen.approval else {
        return unless_failed(Next::Approve(Approve {
            pec_id,
            endpoint_id: chosen.endpoint_id.clone(),
            api_version: tt.api_version,
            mpe_id: seen.mpe_id.clone(),
            incarnation: view.incarnation(),
        }));
    };
    match report {
        Approval::Changed(p) if !p.from_endpoint(chosen.endpoint_id.as_deref()) => {
            again(format!("PEC {pec_id} now names another private endpoint ({:?})", p.endpoint_id))
        }
        Approval::Changed(p) => after_approval(p, view, false, about, again),
        Approval::Vanished => again("PEC vanished before approval".into()),
        Approval::NotApplied(why) => again(why.clone()),
        Approval::Sent { last: Some(p), .. } if pec::approval_settled(p) => done(Outcome::Approved),
        Approval::Sent { last: Some(p), .. } if p.status == PecStatus::Rejected => done(Outcome::Rejected),
        Approval::Sent { last: Some(p), .. } if p.status == PecStatus::Disconnected => done(Outcome::Disconnected),
        Approval::Sent { status, .. } => {
            about.approving = Some(pec_id.to_string());
            again(format!("approval of {pec_id} accepted (HTTP {status}), not confirmed yet"))
        }
    }
}

impl About {
    /// The decision concerns PEC `p`.
    fn concerns(&mut self, view: &MpeView, endpoint_name: Option<&str>, p: &Pec) {
        self.pec_id = Some(p.id.clone());
        self.private_endpoint_id = p.endpoint_id.clone();
        self.evidence = Some(evidence(view, endpoint_name, p));
    }
}

/// A service whose MPE reports an approval only once asked to read its connection again (Grafana): a
/// check that ends on an approved PEC while the MPE still says Pending asks the service to refresh, then
/// checks again soon, confirming on that PEC; the chain ends on what the refreshed MPE says.
fn refreshed(next: Next, seen: &Seen, rules: &Rules<'_>, about: &mut About) -> Next {
    let Next::Then(Verdict::Done(Outcome::Approved | Outcome::AlreadyApproved)) = &next else {
        return next;
    };
    let Some(MpeRead::Found(view)) = &seen.mpe else { return next };
    if view.status != MpeStatus::AwaitingApproval {
        return next;
    }
    let Some(refresh) = providers::for_id(&seen.mpe_id).and_then(|p| p.refresh(&seen.mpe_id)) else {
        return next;
    };
    if let Some(f) = &seen.failure {
        return Next::Then(after_failure(f, seen, rules.schedule));
    }
    if !seen.refreshed {
        return Next::Read(Need::Refresh { path: refresh.path, api_version: refresh.api_version });
    }
    about.approving = about.pec_id.clone();
    Next::Then(retry_later(
        "the PEC is approved; the service was asked to refresh its MPE, which still reports Pending".into(),
        &view.raw_status,
        REFRESH_SETTLE,
        seen.progress,
        rules.schedule,
        Pace::of(seen),
    ))
}

/// Why an MPE whose service says its connection is pending parks when no PEC at the target matches its
/// rule while `others` (indices into `pecs`) are pending there: the rule, where it comes from, and each
/// other PEC's private endpoint name and subscription, escaped.
fn no_matching_pec(
    view: &MpeView,
    provider: &dyn providers::Provider,
    endpoint_name: Option<&str>,
    rules: &Rules<'_>,
    pecs: &[Pec],
    others: &[usize],
) -> String {
    use crate::logsafe::q;
    let rule = match (endpoint_name, rules.endpoint_names.pattern_for(provider.resource_type())) {
        (Some(name), _) if view.endpoint_name.is_some() => {
            format!("came from the private endpoint {} (the name {} reports)", q(name), provider.service())
        }
        (Some(name), Some(p)) => {
            format!("came from the private endpoint {} (MPE_ENDPOINT_NAMES: {})", q(name), q(p.as_str()))
        }
        (Some(name), None) => {
            format!("came from the private endpoint {} ({}'s naming rule)", q(name), provider.service())
        }
        (None, _) => {
            format!("carried the MPE's request message {}", q(view.request_message.as_deref().unwrap_or_default()))
        }
    };
    format!(
        "the MPE reports its connection pending, but for {UNMATCHED_CHECKS} checks no PEC at the target {} {rule}, \
         while PECs of its group are pending there: {}. If one of them is this MPE's, the rule is wrong for {}: \
         set MPE_ENDPOINT_NAMES (docs/configuration.md) and replay. Nothing was approved",
        view.target,
        matching::listed(pecs, others),
        provider.service()
    )
}

/// A PEC we approved, or were about to, read not Pending: `confirming` when our approval was sent (by
/// the chain's last check), not when the PEC changed before our PUT.
fn after_approval(
    p: &Pec,
    view: &MpeView,
    confirming: bool,
    about: &mut About,
    again: impl Fn(String) -> Next,
) -> Next {
    let ours = pec::carries_marker(p, &view.id);
    match &p.status {
        PecStatus::Approved if ours && (!confirming || pec::approval_settled(p)) => done(Outcome::Approved),
        PecStatus::Approved if !ours => done(Outcome::AlreadyApproved),
        PecStatus::Rejected => done(Outcome::Rejected),
        PecStatus::Disconnected => done(Outcome::Disconnected),
        status if confirming => {
            about.approving = Some(p.id.clone());
            again(format!("approval of {} sent, not confirmed yet ({status:?})", p.id))
        }
        status => again(format!("PEC changed before approval (now {status:?})")),
    }
}

/// A failed read or write ends the check: a server's wait (`Retry-After`, a subscription ARM holds) is
/// honoured by scheduling the check for its end, on its parent's grid (the MPEs one wait stopped come
/// back with their siblings, not each at its own moment: one list serves them again; a redelivery
/// would arrive at once, inside the wait); other transient trouble is delivered again on the first
/// deliveries, then checked again later (a check that shares its message with its siblings at the
/// parent's next instant: a redelivery would check them all again); anything waiting cannot fix parks.
fn after_failure(f: &Failure, seen: &Seen, schedule: &Schedule) -> Verdict {
    match f {
        Failure::Transient { why, retry_after: None } if seen.members > 1 => retry_later(
            format!("transient failure: {why}"),
            "unknown",
            Duration::ZERO,
            seen.progress,
            schedule,
            Pace::of(seen),
        ),
        Failure::Transient { why, retry_after: None } if seen.delivery < IMMEDIATE_DELIVERIES => {
            Verdict::Redeliver { reason: why.clone() }
        }
        // From the third delivery on (Service Bus redelivers at once; a longer outage would burn the
        // delivery count and dead-letter healthy work), the same check is scheduled later instead.
        Failure::Transient { why, retry_after } => retry_later(
            format!("transient failure: delivery {}: {why}", seen.delivery),
            "unknown",
            retry_after.unwrap_or(TRANSIENT_BACKOFF),
            seen.progress,
            schedule,
            Pace::of(seen),
        ),
        Failure::Forbidden(why) => Verdict::Park { reason: ParkReason::new(ParkCode::Forbidden, why.clone()) },
        Failure::Refused(why) => Verdict::Park { reason: ParkReason::new(ParkCode::ArmRefused, why.clone()) },
        Failure::Unreadable(why) => {
            Verdict::Park { reason: ParkReason::new(ParkCode::UnreadableResponse, why.clone()) }
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
                | MpeStatus::NoPrivateLink
                | MpeStatus::Reserved
        ),
    }
}

/// Why a well-formed work item is not one the approver sent: a first-seen time ahead of `now` (its
/// chain would never give up) or more checks than a chain ever takes.
pub fn implausible(first_seen: DateTime<Utc>, attempt: u32, now: DateTime<Utc>) -> Option<WorkItemError> {
    let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
    if first_seen > now + skew {
        return Some(WorkItemError::FirstSeenAhead(first_seen));
    }
    (attempt > MAX_ATTEMPT).then_some(WorkItemError::Attempt(attempt))
}

/// Whether the MPE was created (ARM's `systemData.createdAt`) within the schedule's give-up time of
/// `now`: the time its own chain of checks runs. Unknown creation times are not new.
pub fn is_new(view: &MpeView, now: DateTime<Utc>, schedule: &Schedule) -> bool {
    view.created_at.is_some_and(|c| match (now - c).to_std() {
        Ok(age) => age <= schedule.give_up_after,
        Err(_) => (c - now).to_std().is_ok_and(|ahead| ahead <= CLOCK_SKEW),
    })
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

/// The MPE's age: from its creation where the service says when, else from the chain's first event.
fn age_of(view: &MpeView, progress: Progress) -> Duration {
    view.created_at.and_then(|c| (progress.now - c).to_std().ok()).unwrap_or(progress.elapsed)
}

/// What an approval this check is about to send tells of readiness ([`Readiness::record`]): the key and
/// the MPE's age, when an earlier check of the chain saw it not ready (so the age is when it turned
/// ready, to within a check's interval) and no approval was sent before.
pub fn readiness_seen(seen: &Seen) -> Option<(String, Duration)> {
    let Some(MpeRead::Found(view)) = &seen.mpe else { return None };
    let ready = matches!(view.status, MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget);
    if !ready || seen.progress.attempt == 0 || seen.approving.is_some() || seen.approval.is_some() {
        return None;
    }
    Some((readiness::key(&seen.mpe_id.resource_type()), age_of(view, seen.progress)))
}

/// The key and the MPE's age, when this check saw it not ready yet ([`Readiness::waiting`]).
pub fn readiness_waiting(seen: &Seen) -> Option<(String, Duration)> {
    let Some(MpeRead::Found(view)) = &seen.mpe else { return None };
    let not_ready = matches!(view.status, MpeStatus::Provisioning(_) | MpeStatus::ProvisionedCheckTarget);
    (not_ready && seen.approval.is_none())
        .then(|| (readiness::key(&seen.mpe_id.resource_type()), age_of(view, seen.progress)))
}

/// How a chain's checks are spread: its parent's grid phase ([`crate::schedule::phase_of`]), and the
/// MPE's age and its service's ready window where known.
#[derive(Debug, Clone, Copy)]
struct Pace {
    phase: u64,
    age: Duration,
    window: Option<ReadyWindow>,
    /// The interval what this process saw of its service's readiness calls for ([`Readiness::interval`]).
    learned: Option<Duration>,
}

impl Pace {
    /// Before the MPE is read: its age is the chain's.
    fn of(seen: &Seen) -> Pace {
        Pace { phase: crate::schedule::phase_of(&seen.mpe_id), age: seen.progress.elapsed, window: None, learned: None }
    }
}

/// Check again at the next instant of the parent's grid ([`Schedule::on_grid`], so the parent's MPEs
/// are checked together) at the interval the MPE's age and ready window call for
/// ([`Schedule::interval_for`]), or the learnt one where there is one (`Pace::learned`, at most twice
/// the configured), half an interval from now at least, and `min_delay` at least (a server's wait, a
/// settle time); parked once the give-up time would be passed.
fn retry_later(
    reason: String,
    last_state: &str,
    min_delay: Duration,
    progress: Progress,
    schedule: &Schedule,
    pace: Pace,
) -> Verdict {
    let configured = schedule.interval_for(progress.attempt, pace.age, pace.window);
    let interval = pace.learned.map_or(configured, |l| l.min(configured * 2));
    let after = schedule.on_grid(interval, progress.now, pace.phase, min_delay.max(interval / 2));
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
