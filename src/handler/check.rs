//! Service Bus function, the reconciler: observe (read the MPE, then its target's PECs when the core
//! asks), decide ([`crate::decision::decide`]), act (approve, schedule the next check, finish, or park).
//!
//! Transient trouble (ARM 429/5xx, tokens, sends) fails the invocation so Service Bus redelivers.
//! Anything retrying cannot fix is parked with the reason and acknowledged: never an endless retry.

use super::{enqueue, App, Reply};
use crate::arm::ArmError;
use crate::decision::{after_transient_failure, decide, Decision, Observation, Outcome, Progress};
use crate::functions::{number, string, text, InvocationRequest};
use crate::pec::{self, approval_settled, Pec, PecStatus};
use crate::providers::{self, MpeView};
use crate::resource_id::ResourceId;
use crate::targets;
use crate::workitem::WorkItem;
use serde_json::Value;
use std::time::Duration;
use tracing::{Instrument, Level};

/// Deliveries of one message that may fail outright (Service Bus redelivers each at once) before a
/// transient failure is answered with a scheduled retry instead.
pub const IMMEDIATE_DELIVERIES: u64 = 3;
/// The delay of that scheduled retry, at least.
pub const TRANSIENT_BACKOFF: Duration = Duration::from_secs(30);

/// How a check ended, for the reply log.
enum Step {
    Finished(Decision),
    /// Transient: fail the invocation.
    Retry(String),
}

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let delivery = number(req.metadata.get("DeliveryCount")).unwrap_or(1);
    let message_id = string(req.metadata.get("MessageId")).unwrap_or_default();
    let raw = req.data.get("message").or_else(|| req.data.values().next()).and_then(text);
    let Some(raw) = raw else {
        reply.resp.log(Level::ERROR, format!("message {message_id}: no body in Data.message; nothing to do"));
        return reply;
    };
    let item = match WorkItem::from_json(&raw) {
        Ok(item) => item,
        Err(e) => {
            let reason = format!("unreadable work item: {e}");
            reply.resp.log(Level::ERROR, format!("message {message_id}: {reason}; parking it"));
            if let Err(e) = app.park(raw, &reason, None, None, super::CHECK_FUNCTION).await {
                reply.resp.log(Level::ERROR, format!("could not park message {message_id}: {e}"));
                reply.fail = true;
            }
            return reply;
        }
    };
    let span = tracing::info_span!("check", mpe_id = %item.mpe_id, correlation_id = %item.correlation_id,
        attempt = item.attempt, delivery, invocation);
    async {
        let prefix = format!("mpe={} correlation={} attempt={}", item.mpe_id, item.correlation_id, item.attempt);
        let step = reconcile(app, &item, &mut reply).await;
        match step {
            Step::Retry(why) if delivery < IMMEDIATE_DELIVERIES => {
                reply.resp.log(Level::WARN, format!("{prefix}: transient failure, Service Bus will redeliver: {why}"));
                reply.fail = true;
            }
            Step::Retry(why) => {
                // Service Bus redelivers at once; a longer outage would burn the queue's delivery count and
                // dead-letter healthy work. Acknowledge and schedule the same check later instead.
                let decision = after_transient_failure(
                    &format!("delivery {delivery}: {why}"),
                    TRANSIENT_BACKOFF,
                    progress(app, &item),
                    &app.config.schedule,
                    item.seed(),
                );
                if let Err(e) = act(app, &item, decision, &prefix, &mut reply).await {
                    reply.resp.log(Level::ERROR, format!("{prefix}: {e}"));
                    reply.fail = true;
                }
            }
            Step::Finished(decision) => {
                if let Err(e) = act(app, &item, decision, &prefix, &mut reply).await {
                    reply.resp.log(Level::ERROR, format!("{prefix}: {e}"));
                    reply.fail = true;
                }
            }
        }
    }
    .instrument(span)
    .await;
    reply
}

fn park(reason: String) -> Step {
    Step::Finished(Decision::Park { reason })
}

fn arm_step(e: ArmError, what: &str) -> Step {
    if e.is_transient() {
        Step::Retry(format!("{what}: {e}"))
    } else {
        park(format!("{what}: {e}"))
    }
}

/// Where the work item stands: checks so far, time since the MPE was first seen.
fn progress(app: &App, item: &WorkItem) -> Progress {
    Progress { attempt: item.attempt, elapsed: (app.clock.now() - item.first_seen).to_std().unwrap_or(Duration::ZERO) }
}

/// Observe and decide; approve when the core says so.
async fn reconcile(app: &App, item: &WorkItem, reply: &mut Reply) -> Step {
    let Some(provider) = providers::for_id(&item.mpe_id) else {
        return park(format!("unsupported MPE type {}", item.mpe_id.resource_type()));
    };
    if let Some(why) = app.config.source_subscriptions.refusal(item.mpe_id.subscription()) {
        return park(why);
    }
    let progress = progress(app, item);
    let schedule = &app.config.schedule;
    let seed = item.seed();

    let body = match app.arm.get(&item.mpe_id, provider.api_version()).await {
        Ok(b) => b,
        Err(e) => return arm_step(e, "reading the MPE"),
    };
    let Some(body) = body else {
        return Step::Finished(decide(Observation::MpeGone, progress, schedule, seed));
    };
    let view = match provider.parse(&item.mpe_id, &body) {
        Ok(v) => v,
        Err(e) => return park(format!("unreadable {} MPE: {e}", provider.service())),
    };
    let endpoint_name = provider.endpoint_name(&item.mpe_id);
    reply.resp.log(
        Level::INFO,
        format!("mpe={} {} state: {} → {:?}", item.mpe_id, provider.service(), view.raw_status, view.status),
    );
    let obs = Observation::Mpe { view: &view, endpoint_name: &endpoint_name, pecs: None };
    let first = decide(obs, progress, schedule, seed);
    if first != Decision::ReadTarget {
        return Step::Finished(first);
    }

    let Some(target_type) = targets::lookup(&view.target) else {
        return park(format!("unsupported target type {}", view.target.resource_type()));
    };
    if let Some(why) = app.config.target_subscriptions.refusal(view.target.subscription()) {
        return park(format!("target {why}"));
    }
    let pecs = match read_pecs(app, &view, target_type, reply).await {
        Ok(p) => p,
        Err(step) => return step,
    };
    let obs = Observation::Mpe { view: &view, endpoint_name: &endpoint_name, pecs: Some(&pecs) };
    match decide(obs, progress, schedule, seed) {
        Decision::Approve { pec } => approve(app, item, &view, &endpoint_name, &pecs[pec], target_type, reply).await,
        other => Step::Finished(other),
    }
}

async fn read_pecs(app: &App, view: &MpeView, tt: &targets::TargetType, reply: &mut Reply) -> Result<Vec<Pec>, Step> {
    let path = if tt.list { format!("{}/privateEndpointConnections", view.target) } else { view.target.to_string() };
    let mut page = match app.arm.get_path(&path, tt.api_version).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(park(format!("target {} does not exist", view.target))),
        Err(e) => return Err(arm_step(e, "listing the target's private endpoint connections")),
    };
    let mut all = Vec::new();
    for _ in 0..20 {
        let (items, next) = match pec::list_items(&page) {
            Ok(x) => x,
            Err(e) => return Err(park(format!("target {}: {e}", view.target))),
        };
        for it in items {
            match pec::parse_pec(it) {
                Ok(p) => all.push(p),
                Err(e) => {
                    reply.resp.log(Level::WARN, format!("target {}: skipping an unreadable PEC: {e}", view.target))
                }
            }
        }
        let Some(next) = next.map(str::to_string) else {
            break;
        };
        page = match app.arm.get_next(&next).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err(arm_step(e, "reading the next page of PECs")),
        };
    }
    Ok(all)
}

/// Approve our PEC: re-read it, PUT the whole body back with the state Approved, confirm by GET.
async fn approve(
    app: &App,
    item: &WorkItem,
    view: &MpeView,
    endpoint_name: &str,
    pec: &Pec,
    tt: &targets::TargetType,
    reply: &mut Reply,
) -> Step {
    let pec_id = match ResourceId::parse(&pec.id) {
        Ok(id) if view.target.contains(&id) => id,
        _ => return park(format!("PEC id {:?} is not under the target {}", pec.id, view.target)),
    };
    if app.config.dry_run {
        return Step::Finished(Decision::Done(Outcome::DryRun { pec_id: pec_id.to_string() }));
    }
    // Re-read: the list may be stale, and we PUT back exactly what the target gave us.
    let current = match app.arm.get(&pec_id, tt.api_version).await {
        Ok(Some(b)) => b,
        Ok(None) => return Step::Finished(again(app, item, "PEC vanished before approval")),
        Err(e) => return arm_step(e, "reading the PEC before approval"),
    };
    match pec::parse_pec(&current) {
        Ok(p)
            if p.status == PecStatus::Pending
                && p.endpoint_name().is_some_and(|n| n.eq_ignore_ascii_case(endpoint_name)) => {}
        Ok(p) => {
            return Step::Finished(again(app, item, &format!("PEC changed before approval (now {:?})", p.status)));
        }
        Err(e) => return park(format!("PEC {pec_id} unreadable: {e}")),
    }
    let description = format!("Approved by mpe-approver for {} (correlation {})", item.mpe_id, item.correlation_id);
    let body = pec::approval_body(&current, &description);
    reply.resp.log(Level::INFO, format!("mpe={} approving PEC {pec_id}", item.mpe_id));
    let written = match app.arm.put(&pec_id, tt.api_version, &body).await {
        Ok(w) => w,
        Err(ArmError::Refused { status: 403, message, .. }) => {
            return park(format!("not allowed to approve {pec_id}: {message}"))
        }
        Err(e @ ArmError::Refused { .. }) => {
            return Step::Finished(again(app, item, &format!("approval refused: {e}")))
        }
        Err(e) => return arm_step(e, "approving the PEC"),
    };
    if written.status == 200 {
        if let Some(p) = written.body.as_ref().and_then(|b| pec::parse_pec(b).ok()) {
            if approval_settled(&p) {
                return Step::Finished(Decision::Done(Outcome::Approved));
            }
        }
    }
    // 201/202 (or a 200 still applying): confirm by GET, briefly.
    for wait in [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(3)] {
        crate::clock::sleep(app.clock.as_ref(), wait).await;
        match app.arm.get(&pec_id, tt.api_version).await {
            Ok(Some(b)) => match pec::parse_pec(&b) {
                Ok(p) if approval_settled(&p) => return Step::Finished(Decision::Done(Outcome::Approved)),
                Ok(p) if matches!(p.status, PecStatus::Rejected | PecStatus::Disconnected) => {
                    return Step::Finished(Decision::Done(if p.status == PecStatus::Rejected {
                        Outcome::Rejected
                    } else {
                        Outcome::Disconnected
                    }))
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) if e.is_transient() => {}
            Err(e) => return arm_step(e, "confirming the approval"),
        }
    }
    Step::Finished(again(
        app,
        item,
        &format!("approval of {pec_id} accepted (HTTP {}), not confirmed yet", written.status),
    ))
}

fn again(app: &App, item: &WorkItem, reason: &str) -> Decision {
    Decision::CheckAgain { after: app.config.schedule.delay(item.attempt, item.seed()), reason: reason.to_string() }
}

async fn act(
    app: &App,
    item: &WorkItem,
    decision: Decision,
    prefix: &str,
    reply: &mut Reply,
) -> Result<(), crate::servicebus::SendError> {
    match decision {
        Decision::Done(outcome) => {
            let level = match outcome {
                Outcome::Failed(_) => Level::WARN,
                _ => Level::INFO,
            };
            reply.resp.log(level, format!("{prefix}: done: {outcome}"));
            reply.resp.return_value = Value::String(outcome.to_string());
        }
        Decision::CheckAgain { after, reason } => {
            let next = item.next();
            enqueue(app, &next, after).await?;
            reply.resp.log(Level::INFO, format!("{prefix}: check again in {:.1}s: {reason}", after.as_secs_f64()));
            reply.resp.return_value = Value::String("check again".into());
        }
        Decision::Park { reason } => {
            app.park(
                item.to_json(),
                &reason,
                Some(item.mpe_id.as_str()),
                Some(&item.correlation_id),
                super::CHECK_FUNCTION,
            )
            .await?;
            reply.resp.log(Level::WARN, format!("{prefix}: parked: {reason}"));
            reply.resp.return_value = Value::String("parked".into());
        }
        Decision::ReadTarget | Decision::Approve { .. } => {
            // reconcile() resolves these; reaching here would be a bug, so say so and park.
            let reason = "internal: unresolved decision";
            app.park(
                item.to_json(),
                reason,
                Some(item.mpe_id.as_str()),
                Some(&item.correlation_id),
                super::CHECK_FUNCTION,
            )
            .await?;
            reply.resp.log(Level::ERROR, format!("{prefix}: {reason}"));
        }
    }
    Ok(())
}
