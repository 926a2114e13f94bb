//! Acting on how a check ended ([`Ending`]): queue the next check, park, end the chain or fail the
//! invocation for a redelivery; the audit line and the `mpe.outcome` event.

use super::outbox::Ticket;
use super::{App, Reply, CHECK_FUNCTION};
use crate::decision::{Ending, Outcome, ParkCode, ParkReason, Verdict};
use crate::workitem::WorkItem;
use serde_json::{json, Value};
use tracing::Level;

/// The audit event of a decision that ends a chain or concerns a PEC (`None` otherwise).
pub(crate) fn audit_event(item: &WorkItem, ending: &Ending) -> Option<Value> {
    let (decision, audit) = (&ending.verdict, &ending.about);
    let (outcome, park) = match decision {
        Verdict::Done(o) => (o.code(), None),
        Verdict::Park { reason } => ("parked", Some(reason)),
        Verdict::CheckAgain { .. } if audit.pec_id.is_some() => ("check-again", None),
        Verdict::CheckAgain { .. } | Verdict::Redeliver { .. } => return None,
    };
    Some(audit_json(&Audit {
        subject: item.mpe_id.as_str(),
        correlation_id: &item.correlation_id,
        attempt: item.attempt,
        pec_id: audit.pec_id.as_deref(),
        private_endpoint_id: audit.private_endpoint_id.as_deref(),
        evidence: serde_json::to_value(&audit.evidence).unwrap_or(Value::Null),
        allowed_by: audit.allowed_by.as_deref(),
        outcome,
        park_code: park.map(|r| r.code.as_str()),
        reason: match decision {
            Verdict::Park { reason } => reason.text.clone(),
            Verdict::CheckAgain { reason, .. } | Verdict::Redeliver { reason } => reason.clone(),
            Verdict::Done(o) => o.to_string(),
        },
    }))
}

/// The fields of one audit event: a check's decision, or a decision on a Private Link Service's
/// connection (whose `subject`, the event's `mpeId`, is the PLS).
pub(crate) struct Audit<'a> {
    pub subject: &'a str,
    pub correlation_id: &'a str,
    pub attempt: u32,
    pub pec_id: Option<&'a str>,
    pub private_endpoint_id: Option<&'a str>,
    pub evidence: Value,
    pub allowed_by: Option<&'a str>,
    pub outcome: &'a str,
    pub park_code: Option<&'a str>,
    pub reason: String,
}

/// The `mpe.audit` event's JSON: one shape for every decision.
pub(crate) fn audit_json(a: &Audit<'_>) -> Value {
    json!({
        "event": "mpe.audit",
        "mpeId": a.subject,
        "correlationId": a.correlation_id,
        "attempt": a.attempt,
        "pecId": a.pec_id,
        "privateEndpointId": a.private_endpoint_id,
        "evidence": a.evidence,
        "allowedBy": a.allowed_by,
        "outcome": a.outcome,
        "parkCode": a.park_code,
        "reason": a.reason,
    })
}

/// One audit line: `mpe.audit {json}`.
fn audit_line(item: &WorkItem, ending: &Ending) -> Option<String> {
    audit_event(item, ending).and_then(|v| crate::logsafe::json(&v, false).ok()).map(|j| format!("mpe.audit {j}"))
}

/// The `mpe.outcome` event of a chain that ends with `decision` (`None` while it goes on): the audit
/// event's fields plus when, the origin, the checks it took and, for an approval, the seconds from the
/// first event to it.
pub(crate) fn outcome_event(item: &WorkItem, ending: &Ending, now: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    if matches!(ending.verdict, Verdict::CheckAgain { .. } | Verdict::Redeliver { .. }) {
        return None;
    }
    let mut v = audit_event(item, ending)?;
    let approved = matches!(ending.verdict, Verdict::Done(Outcome::Approved));
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
pub(crate) fn emit_outcome(event: &Value) {
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

/// Act on how the check ended: queue the next check (through the outbox, with the parent's other next
/// checks due then: `ticket`), or park, or end the chain, or fail the invocation for a redelivery; log
/// it, with the audit line and the `mpe.outcome` event of a chain that ends.
pub(crate) async fn act(
    app: &App,
    item: &WorkItem,
    ending: Ending,
    prefix: &str,
    reply: &mut Reply,
    ticket: Ticket<'_>,
) {
    // Service Bus refusing the next check for good (a missing role, no such queue) parks it instead:
    // redelivering would only be refused again.
    let next = WorkItem {
        approving: ending.about.approving.clone(),
        unmatched: if ending.about.unmatched { item.unmatched.saturating_add(1) } else { 0 },
        ..item.next()
    };
    let ending = match ending.verdict {
        Verdict::CheckAgain { after, reason } => match ticket.send_next(app, next, after).await {
            Ok(()) => Ending { verdict: Verdict::CheckAgain { after, reason }, ..ending },
            Err(e) if e.is_refused() => {
                reply.resp.log(Level::ERROR, format!("{prefix}: the next check was refused: {e}; parking it"));
                let reason = ParkReason::new(
                    ParkCode::QueueRefused,
                    format!("the next check ({reason}) could not be queued: {e}"),
                );
                Ending { verdict: Verdict::Park { reason }, ..ending }
            }
            Err(e) => {
                reply.resp.log(Level::ERROR, format!("{prefix}: {e}"));
                reply.fail = true;
                return;
            }
        },
        verdict => {
            // The chain ends here (or is delivered again): the parent's next checks need not wait for it.
            drop(ticket);
            Ending { verdict, ..ending }
        }
    };
    let line = audit_line(item, &ending);
    match &ending.verdict {
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
        Verdict::Redeliver { reason } => {
            reply.resp.log(Level::WARN, format!("{prefix}: transient failure, Service Bus will redeliver: {reason}"));
            reply.fail = true;
            return;
        }
        Verdict::Park { reason } => {
            let parked = app
                .park(item.to_json(), reason, Some(item.mpe_id.as_str()), Some(&item.correlation_id), CHECK_FUNCTION)
                .await;
            if let Err(e) = parked {
                reply.resp.log(Level::ERROR, format!("{prefix}: {e}"));
                reply.fail = true;
                return;
            }
            reply.resp.log(Level::WARN, format!("{prefix}: parked [{}]: {reason}", reason.code));
            reply.resp.return_value = Value::String("parked".into());
        }
    }
    if let Some(line) = line {
        reply.resp.log(Level::INFO, line);
    }
    if let Some(event) = outcome_event(item, &ending, app.clock.now()) {
        emit_outcome(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::About;
    use crate::resource_id::ResourceId;
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
        let about = About { pec_id: Some("pec-1".into()), ..Default::default() };
        let ending = |verdict| Ending { verdict, about: about.clone() };
        let approved = outcome_event(&item, &ending(Verdict::Done(Outcome::Approved)), now).unwrap();
        assert_eq!(approved["event"], "mpe.outcome");
        assert_eq!((approved["attempts"].as_u64(), approved["secondsToApprove"].as_f64()), (Some(3), Some(12.5)));
        assert_eq!(approved["pecId"], "pec-1");
        let parked = Verdict::Park { reason: ParkReason::new(ParkCode::PolicyRefused, "no rule") };
        let parked = outcome_event(&item, &ending(parked), now).unwrap();
        assert_eq!((parked["outcome"].as_str(), parked["parkCode"].as_str()), (Some("parked"), Some("policy-refused")));
        assert!(parked["secondsToApprove"].is_null());
        let again = Verdict::CheckAgain { after: std::time::Duration::from_secs(2), reason: "x".into() };
        assert!(outcome_event(&item, &ending(again), now).is_none());
    }
}
