//! Service Bus function, the reconciler: one pass per check ([`super::pass`]: observe → decide → act on
//! the decision's answer), then act on how it ended ([`super::settle`]).
//!
//! Transient trouble (ARM 429/5xx, tokens, sends) fails the invocation so Service Bus redelivers, or
//! schedules the check again. Anything retrying cannot fix is parked with the reason and acknowledged:
//! never an endless retry.

use super::{pass, settle, App, Reply, CHECK_FUNCTION};
use crate::decision::{ParkCode, ParkReason, Verdict};
use crate::functions::{number, string, text, InvocationRequest};
use crate::logsafe::q;
use crate::workitem::WorkItem;
use serde_json::Value;
use tracing::Instrument;

pub(crate) async fn run(app: &App, req: InvocationRequest, invocation: &str) -> Reply {
    let mut reply = Reply::new();
    let delivery = number(req.metadata.get("DeliveryCount")).unwrap_or(1);
    let message_id = string(req.metadata.get("MessageId")).unwrap_or_default();
    let what = format!("message {}", q(&message_id));
    // Acknowledging a message that is not a work item would drop it: park what arrived instead.
    let raw = req.data.get("message").or_else(|| req.data.values().next()).and_then(text);
    let item = match raw.as_deref().map(WorkItem::from_json) {
        None => Err((serde_json::to_string(&req.data).unwrap_or_default(), "no message body in Data.message".into())),
        Some(Err(e)) => Err((raw.clone().unwrap_or_default(), format!("unreadable work item: {}", q(&e.to_string())))),
        Some(Ok(item)) => Ok(item),
    };
    let item = match item {
        Ok(item) => item,
        Err((body, why)) => {
            let reason = ParkReason::new(ParkCode::InvalidInput, why);
            app.park_or_fail(&mut reply, &what, body, &reason, None, CHECK_FUNCTION).await;
            return reply;
        }
    };
    // The message's MPEs (one, or a parent's due together) are checked at once: their reads are the
    // same lists. Each ends on its own; those that go on leave together again ([`super::outbox`]).
    let members = item.members();
    let count = members.len();
    let with_siblings = count > 1;
    let tickets = app.outbox.begin(&item.mpe_id, count);
    let budget = app.config.budgets.check;
    let checks = members.iter().zip(tickets).map(|(member, ticket)| {
        let span = tracing::info_span!("check", mpe_id = %member.mpe_id, correlation_id = %member.correlation_id,
            attempt = member.attempt, delivery, invocation);
        async move {
            let mut reply = Reply::new();
            let prefix =
                format!("mpe={} correlation={} attempt={}", member.mpe_id, member.correlation_id, member.attempt);
            // The pass gets the budget less a sixth, kept for acting on how it ended (a send).
            let ending = pass::check(app, member, delivery, count, budget - budget / 6, &mut reply).await;
            settle::act(app, member, ending, &prefix, &mut reply, ticket).await;
            reply
        }
        .instrument(span)
    });
    let replies = futures_util::future::join_all(checks).await;
    if !with_siblings {
        return replies.into_iter().next().unwrap_or(reply);
    }
    let mut outcomes: Vec<Value> = Vec::with_capacity(replies.len());
    for r in replies {
        reply.fail |= r.fail;
        reply.resp.logs.extend(r.resp.logs);
        outcomes.push(r.resp.return_value);
    }
    reply.resp.return_value = Value::Array(outcomes);
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

/// Run one check of `item` now, within the check budget, and report it without acting on the queue: no
/// next check is scheduled and nothing is parked. It approves only when `app.config.dry_run` is off (the
/// CLI turns it on unless `--approve`).
pub async fn inspect(app: &App, item: &WorkItem) -> Inspection {
    let mut reply = Reply::new();
    let ending = pass::check(app, item, 1, 1, app.config.budgets.check, &mut reply).await;
    let (outcome, reason, park_code) = match &ending.verdict {
        Verdict::Redeliver { reason } => ("transient failure".to_string(), reason.clone(), None),
        Verdict::Done(o) => (o.code().to_string(), o.to_string(), None),
        Verdict::CheckAgain { after, reason } => {
            (format!("check again in {:.0}s", after.as_secs_f64()), reason.clone(), None)
        }
        Verdict::Park { reason } => ("parked".into(), reason.text.clone(), Some(reason.code.as_str())),
    };
    let transient = matches!(ending.verdict, Verdict::Redeliver { .. });
    Inspection {
        mpe_id: item.mpe_id.to_string(),
        outcome,
        reason,
        park_code,
        logs: reply.resp.logs.clone(),
        audit: (!transient).then(|| settle::audit_event(item, &ending)).flatten(),
        outcome_event: (!transient).then(|| settle::outcome_event(item, &ending, app.clock.now())).flatten(),
    }
}
