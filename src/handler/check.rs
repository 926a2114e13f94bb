//! Service Bus function, the reconciler: observe (read the MPE, then its target's PECs when the core
//! asks), decide ([`crate::decision::decide_mpe`], then [`crate::decision::decide_target`]), act (approve, schedule the next check, finish, or park).
//!
//! Transient trouble (ARM 429/5xx, tokens, sends) fails the invocation so Service Bus redelivers.
//! Anything retrying cannot fix is parked with the reason and acknowledged: never an endless retry.

use super::{enqueue, App, Reply};
use crate::arm::{ArmError, MAX_INLINE_RETRY_AFTER};
use crate::decision::{
    self, after_transient_failure, decide_mpe, decide_target, Evidence, MpeNext, Outcome, ParkCode, ParkReason,
    Progress, TargetNext, Verdict,
};
use crate::functions::{number, string, text, InvocationRequest};
use crate::logsafe::q;
use crate::pec::{self, approval_settled, Pec, PecStatus};
use crate::policy::Tags;
use crate::providers::{self, MpeView};
use crate::resource_id::ResourceId;
use crate::targets;
use crate::workitem::WorkItem;
use serde_json::{json, Value};
use std::time::Duration;
use tracing::{Instrument, Level};

/// Deliveries of one message that may fail outright (Service Bus redelivers each at once) before a
/// transient failure is answered with a scheduled retry instead.
pub const IMMEDIATE_DELIVERIES: u64 = 3;
/// The delay of that scheduled retry, at least.
pub const TRANSIENT_BACKOFF: Duration = Duration::from_secs(30);

/// How long a check waits for its subscription's turn while ARM reports the subscription nearly out of
/// requests ([`crate::arm::ArmClient::with_turn`]) before it is scheduled again, [`TURN_BACKOFF`] later
/// at least (acknowledged, not redelivered).
pub const TURN_WAIT: Duration = Duration::from_secs(20);
pub const TURN_BACKOFF: Duration = Duration::from_secs(5);

/// Pages of a target's PEC list read at most; a `nextLink` left after them parks the item (a decision
/// is only ever taken on a complete list).
pub const MAX_PEC_PAGES: usize = 20;
/// How long to wait before reading a 404 MPE again (a read replica may lag the write that announced it).
pub const NOT_FOUND_CONFIRM_DELAY: Duration = Duration::from_secs(3);
/// Re-read-then-PUT rounds of one approval within an invocation (a transient PUT failure re-reads).
const PUT_ROUNDS: u32 = 3;
/// The Tags API (`Tags - Get At Scope`, `{scope}/providers/Microsoft.Resources/tags/default`, body
/// `{"properties": {"tags": {...}}}`): one api-version for every target type.
pub const TAGS_API_VERSION: &str = "2021-04-01";

/// How a check ended, for the reply log.
enum Step {
    Finished(Verdict),
    /// Transient: fail the invocation (or schedule the check again), with the wait ARM asked for.
    Retry(String, Option<Duration>),
}

/// What the audit event says about the PEC a decision concerns (empty until a PEC is chosen).
#[derive(Default)]
struct Audit {
    pec_id: Option<String>,
    private_endpoint_id: Option<String>,
    evidence: Option<Evidence>,
    allowed_by: Option<String>,
    /// The PEC whose approval was sent and not confirmed yet: the next check confirms it.
    approving: Option<String>,
}

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let delivery = number(req.metadata.get("DeliveryCount")).unwrap_or(1);
    let message_id = string(req.metadata.get("MessageId")).unwrap_or_default();
    let raw = req.data.get("message").or_else(|| req.data.values().next()).and_then(text);
    let Some(raw) = raw else {
        // Acknowledging would drop the message: park what arrived instead.
        let reason = ParkReason::new(ParkCode::InvalidInput, "no message body in Data.message");
        reply.resp.log(Level::ERROR, format!("message {}: {reason}; parking it", q(&message_id)));
        let body = serde_json::to_string(&req.data).unwrap_or_default();
        if let Err(e) = app.park(body, &reason, None, None, super::CHECK_FUNCTION).await {
            reply.resp.log(Level::ERROR, format!("could not park message {}: {e}", q(&message_id)));
            reply.fail = true;
        }
        return reply;
    };
    let item = match WorkItem::from_json(&raw) {
        Ok(item) => item,
        Err(e) => {
            let reason =
                ParkReason::new(ParkCode::InvalidInput, format!("unreadable work item: {}", q(&e.to_string())));
            reply.resp.log(Level::ERROR, format!("message {}: {reason}; parking it", q(&message_id)));
            if let Err(e) = app.park(raw, &reason, None, None, super::CHECK_FUNCTION).await {
                reply.resp.log(Level::ERROR, format!("could not park message {}: {e}", q(&message_id)));
                reply.fail = true;
            }
            return reply;
        }
    };
    if let Some(e) = item.implausible(app.clock.now()) {
        let reason = ParkReason::new(ParkCode::InvalidInput, format!("implausible work item: {e}"));
        reply.resp.log(Level::ERROR, format!("message {message_id:?}: {reason}; parking it"));
        if let Err(e) =
            app.park(raw, &reason, Some(item.mpe_id.as_str()), Some(&item.correlation_id), super::CHECK_FUNCTION).await
        {
            reply.resp.log(Level::ERROR, format!("could not park message {message_id:?}: {e}"));
            reply.fail = true;
        }
        return reply;
    }
    let span = tracing::info_span!("check", mpe_id = %item.mpe_id, correlation_id = %item.correlation_id,
        attempt = item.attempt, delivery, invocation);
    async {
        let prefix = format!("mpe={} correlation={} attempt={}", item.mpe_id, item.correlation_id, item.attempt);
        let mut audit = Audit::default();
        // The reconciliation gets the budget less a sixth, kept for acting on the outcome (a send).
        let budget = app.config.budgets.check;
        // While ARM reports the MPE's subscription nearly out of requests, its checks run one at a time.
        let work =
            app.arm.with_turn(item.mpe_id.subscription(), TURN_WAIT, reconcile(app, &item, &mut audit, &mut reply));
        let step = match tokio::time::timeout(budget - budget / 6, work).await {
            Ok(Some(step)) => step,
            Ok(None) => Step::Retry(
                format!("the subscription's other checks kept it busy for {}s", TURN_WAIT.as_secs()),
                Some(TURN_BACKOFF),
            ),
            Err(_) => Step::Retry(format!("the check ran past its budget ({}s)", budget.as_secs_f64()), None),
        };
        let decision = match step {
            Step::Retry(why, wait)
                if delivery < IMMEDIATE_DELIVERIES && wait.is_none_or(|w| w <= MAX_INLINE_RETRY_AFTER) =>
            {
                reply.resp.log(Level::WARN, format!("{prefix}: transient failure, Service Bus will redeliver: {why}"));
                reply.fail = true;
                return;
            }
            // ARM asked us to wait longer than a redelivery would (429/503 Retry-After, or a subscription
            // still inside such a wait): honour it in full by scheduling the check for then. And from the
            // third delivery on (Service Bus redelivers at once; a longer outage would burn the delivery
            // count and dead-letter healthy work), acknowledge and schedule the same check later instead.
            Step::Retry(why, wait) => {
                let floor = if delivery < IMMEDIATE_DELIVERIES { Duration::ZERO } else { TRANSIENT_BACKOFF };
                after_transient_failure(
                    &format!("delivery {delivery}: {why}"),
                    floor.max(wait.unwrap_or_default()),
                    progress(app, &item),
                    &app.config.schedule,
                    item.seed(),
                )
            }
            Step::Finished(decision) => decision,
        };
        if let Err(e) = act(app, &item, decision, &audit, &prefix, &mut reply).await {
            reply.resp.log(Level::ERROR, format!("{prefix}: {e}"));
            reply.fail = true;
        }
    }
    .instrument(span)
    .await;
    reply
}

/// What one reconciliation saw and decided, for `mpe-approver check` (nothing is queued or parked).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub mpe_id: String,
    /// `approved`, `would approve (dry run)`, `check again`, `parked` (would be), `transient failure`, ...
    pub outcome: String,
    /// Why, in a sentence.
    pub reason: String,
    /// The park code, when it would be parked.
    pub park_code: Option<&'static str>,
    /// The reconciliation's log lines, in order.
    pub logs: Vec<String>,
    /// The audit event it would write.
    pub audit: Option<Value>,
    /// The `mpe.outcome` event of a check that ends the MPE's chain (what the function writes then).
    pub outcome_event: Option<Value>,
}

/// Run one reconciliation of `item` now, within the check budget, and report it without acting on the
/// queue: no next check is scheduled and nothing is parked. It approves only when `app.config.dry_run`
/// is off (the CLI turns it on unless `--approve`).
pub async fn inspect(app: &App, item: &WorkItem) -> Inspection {
    let mut reply = Reply::new();
    let mut audit = Audit::default();
    let budget = app.config.budgets.check;
    let step = match tokio::time::timeout(budget, reconcile(app, item, &mut audit, &mut reply)).await {
        Ok(step) => step,
        Err(_) => Step::Retry(format!("the check ran past its budget ({}s)", budget.as_secs_f64()), None),
    };
    let (outcome, reason, park_code, decision) = match step {
        Step::Retry(why, _) => ("transient failure".to_string(), why, None, None),
        Step::Finished(d) => match &d {
            Verdict::Done(o) => (o.code().to_string(), o.to_string(), None, Some(d.clone())),
            Verdict::CheckAgain { after, reason } => {
                (format!("check again in {:.0}s", after.as_secs_f64()), reason.clone(), None, Some(d.clone()))
            }
            Verdict::Park { reason } => {
                ("parked".into(), reason.text.clone(), Some(reason.code.as_str()), Some(d.clone()))
            }
        },
    };
    let outcome_event = decision.as_ref().and_then(|d| outcome_event(item, d, &audit, app.clock.now()));
    let audit = decision.as_ref().and_then(|d| audit_event(item, d, &audit));
    Inspection {
        mpe_id: item.mpe_id.to_string(),
        outcome,
        reason,
        park_code,
        logs: reply.resp.logs.clone(),
        audit,
        outcome_event,
    }
}

fn park(code: ParkCode, text: String) -> Step {
    Step::Finished(Verdict::Park { reason: ParkReason::new(code, text) })
}

/// An ARM failure: transient ones retry; a 403, a 401 also to a fresh token, or the identity endpoint
/// refusing a token is a missing permission; other refusals (400 ...) will not change by waiting and
/// park with ARM's code and message.
fn arm_step(e: ArmError, what: &str) -> Step {
    match &e {
        ArmError::Transient { .. } => Step::Retry(format!("{what}: {e}"), e.retry_after()),
        // 403, 401 to a fresh token, or the identity endpoint refusing a token twice (400/401/403): a
        // configuration to fix, not a wait.
        _ if e.is_forbidden() => park(ParkCode::Forbidden, format!("{what}: {e}")),
        ArmError::Refused { .. } => park(ParkCode::ArmRefused, format!("{what}: {e}")),
        ArmError::BadBody { .. } => park(ParkCode::UnreadableResponse, format!("{what}: {e}")),
        // Covered by `is_forbidden` above; named for the match to be exhaustive.
        ArmError::Identity { .. } => park(ParkCode::Forbidden, format!("{what}: {e}")),
    }
}

/// Where the work item stands: checks so far, time since the MPE was first seen.
fn progress(app: &App, item: &WorkItem) -> Progress {
    let now = app.clock.now();
    Progress { attempt: item.attempt, elapsed: (now - item.first_seen).to_std().unwrap_or(Duration::ZERO), now }
}

/// Check again later by the schedule (or park once past the give-up time).
fn again(app: &App, item: &WorkItem, reason: &str) -> Step {
    Step::Finished(decision::check_later(reason.to_string(), progress(app, item), &app.config.schedule, item.seed()))
}

/// Observe and decide; approve when the core says so and the policy allows it.
async fn reconcile(app: &App, item: &WorkItem, audit: &mut Audit, reply: &mut Reply) -> Step {
    let Some(provider) = providers::for_id(&item.mpe_id) else {
        return park(ParkCode::UnsupportedMpeType, format!("unsupported MPE type {}", item.mpe_id.resource_type()));
    };
    if let Some(why) = app.config.source_subscriptions.refusal(item.mpe_id.subscription()) {
        return park(ParkCode::SourceNotAllowed, why);
    }
    let progress = progress(app, item);
    let schedule = &app.config.schedule;
    let seed = item.seed();

    let mut body = match app.arm.get(&item.mpe_id, provider.api_version()).await {
        Ok(b) => b,
        Err(e) => return arm_step(e, "reading the MPE"),
    };
    if body.is_none() {
        // ARM's reads may lag its writes right after the MPE's write event: confirm a 404 before the
        // chain ends.
        crate::clock::sleep(app.clock.as_ref(), NOT_FOUND_CONFIRM_DELAY).await;
        body = match app.arm.get(&item.mpe_id, provider.api_version()).await {
            Ok(b) => b,
            Err(e) => return arm_step(e, "reading the MPE again after a 404"),
        };
    }
    let Some(body) = body else {
        return match decide_mpe(None, progress, schedule, seed) {
            MpeNext::Final(v) => Step::Finished(v),
            MpeNext::ReadTarget => park(ParkCode::InvalidInput, "internal: a missing MPE asked for its target".into()),
        };
    };
    let view = match provider.parse(&item.mpe_id, &body) {
        Ok(v) => v,
        Err(e) => return park(ParkCode::UnreadableResponse, format!("unreadable {} MPE: {e}", provider.service())),
    };
    let endpoint_name = provider.endpoint_name(&item.mpe_id);
    reply.resp.log(
        Level::INFO,
        format!("mpe={} {} state: {} → {:?}", item.mpe_id, provider.service(), q(&view.raw_status), view.status),
    );
    let subs = app.config.customer_subscriptions();
    if let Some(pec_id) = &item.approving {
        if let Some(step) = confirm(app, item, &view, &endpoint_name, pec_id, audit).await {
            return step;
        }
    }
    if let MpeNext::Final(v) = decide_mpe(Some(&view), progress, schedule, seed) {
        return Step::Finished(v);
    }

    let Some(target_type) = targets::lookup(&view.target) else {
        return park(
            ParkCode::UnsupportedTargetType,
            format!("unsupported target type {}", view.target.resource_type()),
        );
    };
    if let Some(why) = app.config.target_subscriptions.refusal(view.target.subscription()) {
        return park(ParkCode::TargetNotAllowed, format!("target {why}"));
    }
    let pecs = match read_pecs(app, &view, target_type, reply).await {
        Ok(p) => p,
        Err(step) => return step,
    };
    let chosen = match decide_target(&view, &endpoint_name, &pecs, &subs, progress, schedule, seed) {
        TargetNext::Approve { pec } => &pecs[pec],
        TargetNext::Final(v) => return Step::Finished(v),
    };
    audit.pec_id = Some(chosen.id.clone());
    audit.private_endpoint_id = chosen.endpoint_id.clone();
    audit.evidence = Some(decision::evidence(&view, &endpoint_name, chosen));

    // The policy: MPE_ALLOW's rules and the target's own tags (a deny tag refuses whatever else says).
    let tags = match read_tags(app, &view.target).await {
        Ok(t) => t,
        Err(step) => return step,
    };
    match app.config.policy.evaluate(&item.mpe_id, &view.target, &tags) {
        Ok(allowed) => audit.allowed_by = Some(allowed.to_string()),
        Err(why) => return park(ParkCode::PolicyRefused, why),
    }
    approve(app, item, &view, chosen, target_type, audit, reply).await
}

/// The target's tags (`Microsoft.Resources/tags/read`).
async fn read_tags(app: &App, target: &ResourceId) -> Result<Tags, Step> {
    let path = format!("{target}/providers/Microsoft.Resources/tags/default");
    match app.arm.get_path(&path, TAGS_API_VERSION).await {
        Ok(Some(b)) => Ok(Tags::from_body(&b)),
        Ok(None) => Ok(Tags::default()),
        // A missing tags/read; a refused token (401 twice, the identity endpoint) parks in arm_step.
        Err(e @ ArmError::Refused { status: 403, .. }) => Err(park(
            ParkCode::Forbidden,
            format!("reading the target's tags (the role needs Microsoft.Resources/tags/read): {e}"),
        )),
        Err(e) => Err(arm_step(e, "reading the target's tags")),
    }
}

/// Every PEC of the target, or a step: a list is only ever decided on whole. A failed next page is
/// transient; a `nextLink` still there after [`MAX_PEC_PAGES`] pages parks.
async fn read_pecs(app: &App, view: &MpeView, tt: &targets::TargetType, reply: &mut Reply) -> Result<Vec<Pec>, Step> {
    let path = if tt.list { format!("{}/privateEndpointConnections", view.target) } else { view.target.to_string() };
    let mut page = match app.arm.get_path(&path, tt.api_version).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(park(ParkCode::TargetMissing, format!("target {} does not exist", view.target))),
        Err(e) => return Err(arm_step(e, "listing the target's private endpoint connections")),
    };
    let mut all = Vec::new();
    for n in 1..=MAX_PEC_PAGES {
        let parsed = match pec::parse_page(&page) {
            Ok(x) => x,
            Err(e) => return Err(park(ParkCode::UnreadableResponse, format!("target {}: {e}", view.target))),
        };
        for e in parsed.unreadable {
            reply
                .resp
                .log(Level::WARN, format!("target {}: skipping an unreadable PEC: {}", view.target, q(&e.to_string())));
        }
        all.extend(parsed.pecs);
        let Some(next) = parsed.next_link else {
            return Ok(all);
        };
        if n == MAX_PEC_PAGES {
            break;
        }
        page = match app.arm.get_next(&next).await {
            Ok(Some(b)) => b,
            Ok(None) => return Err(Step::Retry(format!("page {} of the target's PECs answered no body", n + 1), None)),
            Err(e) => return Err(arm_step(e, &format!("reading page {} of the target's PECs", n + 1))),
        };
    }
    Err(park(
        ParkCode::PagingLimit,
        format!(
            "target {} lists more than {MAX_PEC_PAGES} pages of private endpoint connections (the limit read); \
             not deciding on a partial list",
            view.target
        ),
    ))
}

/// Confirm the approval the chain's last check sent (`approving`): read that PEC; once it reads approved
/// with our marker, the chain ends `approved` and its audit line names it. `None`: it is gone, Pending
/// again, or not of a known target type, and the check goes on as any other. It only reads.
async fn confirm(
    app: &App,
    item: &WorkItem,
    view: &MpeView,
    endpoint_name: &str,
    raw: &str,
    audit: &mut Audit,
) -> Option<Step> {
    let pec_id = match ResourceId::parse(raw) {
        Ok(id) if view.target.contains(&id) => id,
        _ => {
            return Some(park(
                ParkCode::InvalidInput,
                format!("the work item's approving PEC {raw:?} is not under the MPE's target {}", view.target),
            ))
        }
    };
    let tt = targets::lookup(&view.target)?;
    let p = match app.arm.get(&pec_id, tt.api_version).await {
        Ok(Some(b)) => match pec::parse_pec(&b) {
            Ok(p) => p,
            Err(e) => return Some(park(ParkCode::UnreadableResponse, format!("PEC {pec_id} unreadable: {e}"))),
        },
        Ok(None) => return None,
        Err(e) => return Some(arm_step(e, "reading the PEC whose approval was sent")),
    };
    // Pending again: the approval did not take; the check decides afresh.
    if p.status == PecStatus::Pending {
        return None;
    }
    audit.pec_id = Some(pec_id.to_string());
    audit.private_endpoint_id = p.endpoint_id.clone();
    audit.evidence = Some(decision::evidence(view, endpoint_name, &p));
    Some(match &p.status {
        PecStatus::Approved if approval_settled(&p) && pec::carries_marker(&p, &item.mpe_id) => {
            Step::Finished(Verdict::Done(Outcome::Approved))
        }
        PecStatus::Approved if !pec::carries_marker(&p, &item.mpe_id) => {
            Step::Finished(Verdict::Done(Outcome::AlreadyApproved))
        }
        PecStatus::Rejected => Step::Finished(Verdict::Done(Outcome::Rejected)),
        PecStatus::Disconnected => Step::Finished(Verdict::Done(Outcome::Disconnected)),
        _ => {
            audit.approving = Some(pec_id.to_string());
            again(app, item, &format!("approval of {pec_id} sent, not confirmed yet ({:?})", p.status))
        }
    })
}

/// Approve our PEC: re-read it right before each PUT, PUT the whole body back with the state Approved
/// and our marker appended to the description (`If-Match` on its ETag where it has one), confirm by GET.
async fn approve(
    app: &App,
    item: &WorkItem,
    view: &MpeView,
    chosen: &Pec,
    tt: &targets::TargetType,
    audit: &mut Audit,
    reply: &mut Reply,
) -> Step {
    let pec_id = match ResourceId::parse(&chosen.id) {
        Ok(id) if view.target.contains(&id) => id,
        _ => {
            return park(
                ParkCode::UnreadableResponse,
                format!("PEC id {} is not under the target {}", q(&chosen.id), view.target),
            )
        }
    };
    if app.config.dry_run {
        return Step::Finished(Verdict::Done(Outcome::DryRun { pec_id: pec_id.to_string() }));
    }
    let incarnation = view.incarnation();
    let mut written = None;
    for round in 0..PUT_ROUNDS {
        // Re-read: the list may be stale, we PUT back exactly what the target gave us, and never over a
        // state other than Pending (a human may have decided in between).
        let current = match app.arm.get(&pec_id, tt.api_version).await {
            Ok(Some(b)) => b,
            Ok(None) => return again(app, item, "PEC vanished before approval"),
            Err(e) => return arm_step(e, "reading the PEC before approval"),
        };
        let p = match pec::parse_pec(&current) {
            Ok(p) => p,
            Err(e) => return park(ParkCode::UnreadableResponse, format!("PEC {pec_id} unreadable: {e}")),
        };
        let same_endpoint = match (&p.endpoint_id, &chosen.endpoint_id) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        if !same_endpoint {
            return again(app, item, &format!("PEC {pec_id} now names another private endpoint ({:?})", p.endpoint_id));
        }
        match &p.status {
            PecStatus::Pending => {}
            // An earlier PUT of ours landed (its answer was lost).
            PecStatus::Approved if pec::carries_marker(&p, &item.mpe_id) => {
                return Step::Finished(Verdict::Done(Outcome::Approved))
            }
            PecStatus::Approved => return Step::Finished(Verdict::Done(Outcome::AlreadyApproved)),
            PecStatus::Rejected => return Step::Finished(Verdict::Done(Outcome::Rejected)),
            PecStatus::Disconnected => return Step::Finished(Verdict::Done(Outcome::Disconnected)),
            PecStatus::Other(s) => return again(app, item, &format!("PEC changed before approval (now {s:?})")),
        }
        let description = pec::approved_description(p.description.as_deref(), &item.mpe_id, incarnation.as_deref());
        let body = pec::approval_body(&current, &description);
        let if_match = p.etag.as_deref();
        reply.resp.log(
            Level::INFO,
            format!(
                "mpe={} approving PEC {pec_id} (If-Match: {})",
                item.mpe_id,
                if_match.map_or("none: re-read".into(), |t| q(t).to_string())
            ),
        );
        match app.arm.put(&pec_id, tt.api_version, &body, if_match).await {
            Ok(w) => {
                written = Some(w);
                break;
            }
            Err(e @ ArmError::Refused { status: 409 | 412 | 404, .. }) => {
                return again(app, item, &format!("approval not applied ({e}); reading again and deciding again"))
            }
            Err(e @ (ArmError::Refused { status: 401 | 403, .. } | ArmError::Identity { .. })) => {
                return park(ParkCode::Forbidden, format!("not allowed to approve {pec_id}: {e}"))
            }
            Err(e @ ArmError::Refused { .. }) => {
                return park(ParkCode::ArmRefused, format!("ARM refused the approval of {pec_id}: {e}"))
            }
            // A 2xx we cannot read: the write may have happened; the next check reads it.
            Err(e @ ArmError::BadBody { .. }) => return again(app, item, &format!("approval answer unreadable: {e}")),
            Err(e @ ArmError::Transient { .. }) => {
                if round + 1 == PUT_ROUNDS {
                    return Step::Retry(format!("approving the PEC: {e}"), e.retry_after());
                }
                tracing::warn!(error = %e, round, "approval PUT failed; re-reading before trying again");
                crate::clock::sleep(app.clock.as_ref(), Duration::from_millis(500 << round)).await;
            }
        }
    }
    let Some(written) = written else {
        return Step::Retry("approving the PEC: no attempt succeeded".into(), None);
    };
    if written.status == 200 {
        if let Some(p) = written.body.as_ref().and_then(|b| pec::parse_pec(b).ok()) {
            if approval_settled(&p) {
                return Step::Finished(Verdict::Done(Outcome::Approved));
            }
        }
    }
    // 201/202 (or a 200 still applying): confirm by GET, briefly.
    for wait in [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(3)] {
        crate::clock::sleep(app.clock.as_ref(), wait).await;
        match app.arm.get(&pec_id, tt.api_version).await {
            Ok(Some(b)) => match pec::parse_pec(&b) {
                Ok(p) if approval_settled(&p) => return Step::Finished(Verdict::Done(Outcome::Approved)),
                Ok(p) if p.status == PecStatus::Rejected => return Step::Finished(Verdict::Done(Outcome::Rejected)),
                Ok(p) if p.status == PecStatus::Disconnected => {
                    return Step::Finished(Verdict::Done(Outcome::Disconnected))
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) if e.is_transient() => {}
            Err(e) => return arm_step(e, "confirming the approval"),
        }
    }
    audit.approving = Some(pec_id.to_string());
    again(app, item, &format!("approval of {pec_id} accepted (HTTP {}), not confirmed yet", written.status))
}

/// The audit event of a decision that ends a chain or concerns a PEC (`None` otherwise).
fn audit_event(item: &WorkItem, decision: &Verdict, audit: &Audit) -> Option<Value> {
    let (outcome, park) = match decision {
        Verdict::Done(o) => (o.code(), None),
        Verdict::Park { reason } => ("parked", Some(reason)),
        Verdict::CheckAgain { .. } if audit.pec_id.is_some() => ("check-again", None),
        _ => return None,
    };
    Some(json!({
        "event": "mpe.audit",
        "mpeId": item.mpe_id.as_str(),
        "correlationId": item.correlation_id,
        "attempt": item.attempt,
        "pecId": audit.pec_id,
        "privateEndpointId": audit.private_endpoint_id,
        "evidence": audit.evidence,
        "allowedBy": audit.allowed_by,
        "outcome": outcome,
        "parkCode": park.map(|r| r.code.as_str()),
        "reason": match decision {
            Verdict::Park { reason } => reason.text.clone(),
            Verdict::CheckAgain { reason, .. } => reason.clone(),
            Verdict::Done(o) => o.to_string(),
        },
    }))
}

/// One audit line: `mpe.audit {json}`.
fn audit_line(item: &WorkItem, decision: &Verdict, audit: &Audit) -> Option<String> {
    audit_event(item, decision, audit)
        .and_then(|v| crate::logsafe::json(&v, false).ok())
        .map(|j| format!("mpe.audit {j}"))
}

/// The `mpe.outcome` event of a chain that ends with `decision` (`None` while it goes on): the audit
/// event's fields plus when, the origin, the checks it took and, for an approval, the seconds from the
/// first event to it.
fn outcome_event(
    item: &WorkItem,
    decision: &Verdict,
    audit: &Audit,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Value> {
    if matches!(decision, Verdict::CheckAgain { .. }) {
        return None;
    }
    let mut v = audit_event(item, decision, audit)?;
    let approved = matches!(decision, Verdict::Done(Outcome::Approved));
    let seconds = (now - item.first_seen).num_milliseconds().max(0) as f64 / 1000.0;
    let o = v.as_object_mut()?;
    o.insert("event".into(), json!("mpe.outcome"));
    o.insert("at".into(), json!(now.to_rfc3339()));
    o.insert("origin".into(), json!(item.origin));
    o.insert("attempts".into(), json!(item.attempt.saturating_add(1)));
    o.insert("secondsToApprove".into(), json!(approved.then_some(seconds)));
    Some(v)
}

/// Whether `mpe.outcome` events are written (`serve` turns it on; the in-process demo and tests keep
/// their terminal for their own output).
static OUTCOME_EVENTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Write `mpe.outcome` events from now on (what `mpe-approver serve` does).
pub fn write_outcome_events(on: bool) {
    OUTCOME_EVENTS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Write the event as one JSON line: stdout, or stderr for a parked or failed chain (the host records
/// stderr as errors). One `write` of a whole line, so concurrent invocations never interleave.
fn emit_outcome(event: &Value) {
    use std::io::Write;
    if !OUTCOME_EVENTS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let line = format!("{}\n", crate::logsafe::json(event, false).unwrap_or_else(|_| event.to_string()));
    let bad = matches!(event.get("outcome").and_then(Value::as_str), Some("parked" | "failed"));
    let written = if bad {
        std::io::stderr().lock().write_all(line.as_bytes())
    } else {
        std::io::stdout().lock().write_all(line.as_bytes())
    };
    if let Err(e) = written {
        tracing::warn!("could not write the mpe.outcome event: {e}");
    }
}

async fn act(
    app: &App,
    item: &WorkItem,
    decision: Verdict,
    audit: &Audit,
    prefix: &str,
    reply: &mut Reply,
) -> Result<(), crate::servicebus::SendError> {
    // Service Bus refusing the next check for good (a missing role, no such queue) parks it instead:
    // redelivering would only be refused again.
    let next = WorkItem { approving: audit.approving.clone(), ..item.next() };
    let decision = match decision {
        Verdict::CheckAgain { after, reason } => match enqueue(app, &next, after).await {
            Ok(_) => Verdict::CheckAgain { after, reason },
            Err(e) if e.is_refused() => {
                reply.resp.log(Level::ERROR, format!("{prefix}: the next check was refused: {e}; parking it"));
                Verdict::Park {
                    reason: ParkReason::new(
                        ParkCode::QueueRefused,
                        format!("the next check ({reason}) could not be queued: {e}"),
                    ),
                }
            }
            Err(e) => return Err(e),
        },
        other => other,
    };
    let line = audit_line(item, &decision, audit);
    match &decision {
        Verdict::Done(outcome) => {
            let level = match outcome {
                Outcome::Failed(_) => Level::WARN,
                _ => Level::INFO,
            };
            reply.resp.log(level, format!("{prefix}: done: {outcome}"));
            reply.resp.return_value = Value::String(outcome.to_string());
        }
        Verdict::CheckAgain { after, reason } => {
            reply.resp.log(Level::INFO, format!("{prefix}: check again in {:.1}s: {reason}", after.as_secs_f64()));
            reply.resp.return_value = Value::String("check again".into());
        }
        Verdict::Park { reason } => {
            app.park(
                item.to_json(),
                reason,
                Some(item.mpe_id.as_str()),
                Some(&item.correlation_id),
                super::CHECK_FUNCTION,
            )
            .await?;
            reply.resp.log(Level::WARN, format!("{prefix}: parked [{}]: {reason}", reason.code));
            reply.resp.return_value = Value::String("parked".into());
        }
    }
    if let Some(line) = line {
        reply.resp.log(Level::INFO, line);
    }
    if let Some(event) = outcome_event(item, &decision, audit, app.clock.now()) {
        emit_outcome(&event);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workitem::Origin;

    #[test]
    fn the_outcome_event_ends_chains_only() {
        let id = ResourceId::parse(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m",
        )
        .unwrap();
        let first: chrono::DateTime<chrono::Utc> = "2026-12-02T10:00:00Z".parse().unwrap();
        let item = WorkItem::new(id, first, "corr".into(), Origin::EventGrid).next().next();
        let now = first + chrono::Duration::milliseconds(12_500);
        let audit = Audit { pec_id: Some("pec-1".into()), ..Default::default() };
        let approved = outcome_event(&item, &Verdict::Done(Outcome::Approved), &audit, now).unwrap();
        assert_eq!(approved["event"], "mpe.outcome");
        assert_eq!((approved["attempts"].as_u64(), approved["secondsToApprove"].as_f64()), (Some(3), Some(12.5)));
        assert_eq!(approved["pecId"], "pec-1");
        let parked = Verdict::Park { reason: ParkReason::new(ParkCode::PolicyRefused, "no rule") };
        let parked = outcome_event(&item, &parked, &audit, now).unwrap();
        assert_eq!((parked["outcome"].as_str(), parked["parkCode"].as_str()), (Some("parked"), Some("policy-refused")));
        assert!(parked["secondsToApprove"].is_null());
        let again = Verdict::CheckAgain { after: std::time::Duration::from_secs(2), reason: "x".into() };
        assert!(outcome_event(&item, &again, &audit, now).is_none());
    }
}
