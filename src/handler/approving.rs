//! The approving protocol: re-read the PEC right before each PUT, PUT the whole body back Approved with
//! our marker appended to its description (`If-Match` on its ETag where it has one), confirm by GET. A
//! PEC the check's list showed with an ETag is not read again before the first PUT: `If-Match` on that
//! ETag refuses the PUT (412) if anything changed since, as it would after a re-read.
//! It reports what happened ([`Approval`]); what that means is for the decision. A Private Link
//! Service's connection is approved through the same protocol, and rejected through it too
//! ([`write`] with [`State::Rejected`]: the same re-read, `If-Match` and confirmation).

use super::observe::failure;
use super::{App, Reply};
use crate::arm::ArmError;
use crate::decision::{Approval, Approve, Failure, Observed};
use crate::logsafe::q;
use crate::pec::{self, PecStatus};
use crate::resource_id::ResourceId;
use std::time::Duration;
use tracing::Level;

/// Re-read-then-PUT rounds of one approval within an invocation (a transient PUT failure re-reads).
const PUT_ROUNDS: u32 = 3;
/// Waits between the reads that confirm an accepted PUT (201/202, or a 200 still applying), for a
/// write whose confirmation nothing else follows up (a Private Link Service scan).
pub(crate) const CONFIRM_WAITS: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(3)];
/// The same for an MPE's check: briefly, as the check holds a host slot; an approval still applying
/// after them is confirmed by the chain's next check.
pub(crate) const CONFIRM_BRIEFLY: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// ARM calls one write makes at most: every round's read and PUT, and every confirming read.
pub const MAX_CALLS: u32 = 2 * PUT_ROUNDS + CONFIRM_WAITS.len() as u32;

/// The state a write sets.
pub(crate) enum State<'a> {
    /// Approved, the description the request message with our marker for `marker_for` (and its
    /// incarnation) appended ([`pec::approved_description`]).
    Approved { marker_for: &'a ResourceId, incarnation: Option<&'a str> },
    /// Rejected, with this description.
    Rejected { description: &'a str },
}

/// One write of a PEC's state through the protocol.
pub(crate) struct Write<'a> {
    pub pec_id: &'a ResourceId,
    /// The private endpoint the decided PEC names: the PEC read before the PUT must name it too.
    pub endpoint_id: Option<&'a str>,
    pub api_version: &'a str,
    /// Whom the log lines name (`mpe=<id>`, `pls=<id>`).
    pub label: &'a str,
    pub state: State<'a>,
    /// The waits between the reads that confirm an accepted PUT ([`CONFIRM_WAITS`], [`CONFIRM_BRIEFLY`]).
    pub confirm: &'a [Duration],
    /// The PEC as this check's list showed it, with an ETag: the first round PUTs it back without a read.
    pub listed: Option<&'a serde_json::Value>,
}

/// Carry out `a`; `listed`: the PEC as the check's list showed it, where it carried an ETag.
pub(crate) async fn approve(app: &App, a: &Approve, listed: Option<&serde_json::Value>, reply: &mut Reply) -> Observed {
    let label = format!("mpe={}", a.mpe_id);
    let w = Write {
        pec_id: &a.pec_id,
        endpoint_id: a.endpoint_id.as_deref(),
        api_version: a.api_version,
        label: &label,
        state: State::Approved { marker_for: &a.mpe_id, incarnation: a.incarnation.as_deref() },
        confirm: &CONFIRM_BRIEFLY,
        listed,
    };
    write(app, &w, reply).await
}

/// Carry out `w`: re-read, PUT, confirm.
pub(crate) async fn write(app: &App, w: &Write<'_>, reply: &mut Reply) -> Observed {
    let pec_id = w.pec_id;
    let (want, verb, doing) = match w.state {
        State::Approved { .. } => (PecStatus::Approved, "approve", "approving"),
        State::Rejected { .. } => (PecStatus::Rejected, "reject", "rejecting"),
    };
    let mut written = None;
    for round in 0..PUT_ROUNDS {
        // Re-read: the list may be stale, we PUT back exactly what the target gave us, and never over a
        // state other than Pending (a human may have decided in between). The list's body with an ETag
        // needs no re-read: the PUT's If-Match on it refuses any change since.
        let listed = w.listed.filter(|b| round == 0 && b.get("etag").and_then(serde_json::Value::as_str).is_some());
        let current = match listed {
            Some(b) => b.clone(),
            None => match app.arm.get(pec_id, w.api_version).await {
                Ok(Some(b)) => b,
                Ok(None) => return Observed::Approval(Approval::Vanished),
                Err(e) => return Observed::Failed(failure(e, &format!("reading the PEC before we {verb} it"))),
            },
        };
        let p = match pec::parse_pec(&current) {
            Ok(p) => p,
            Err(e) => return Observed::Failed(Failure::Unreadable(format!("PEC {pec_id} unreadable: {e}"))),
        };
        if p.status != PecStatus::Pending || !p.from_endpoint(w.endpoint_id) {
            return Observed::Approval(Approval::Changed(p));
        }
        let body = match &w.state {
            State::Approved { marker_for, incarnation } => {
                let description = pec::approved_description(p.description.as_deref(), marker_for, *incarnation);
                pec::approval_body(&current, &description)
            }
            State::Rejected { description } => pec::state_body(&current, "Rejected", description),
        };
        let if_match = p.etag.as_deref();
        reply.resp.log(
            Level::INFO,
            format!(
                "{} {doing} PEC {pec_id} (If-Match: {})",
                w.label,
                if_match.map_or("none: re-read".into(), |t| q(t).to_string())
            ),
        );
        match app.arm.put(pec_id, w.api_version, &body, if_match).await {
            Ok(answer) => {
                written = Some(answer);
                break;
            }
            Err(e @ ArmError::Refused { status: 409 | 412 | 404, .. }) => {
                return Observed::Approval(Approval::NotApplied(format!(
                    "the {verb} PUT was not applied ({e}); reading again and deciding again"
                )))
            }
            Err(e @ (ArmError::Refused { status: 401 | 403, .. } | ArmError::Identity { .. })) => {
                return Observed::Failed(Failure::Forbidden(format!("not allowed to {verb} {pec_id}: {e}")))
            }
            Err(e @ ArmError::Refused { .. }) => {
                return Observed::Failed(Failure::Refused(format!("ARM refused to {verb} {pec_id}: {e}")))
            }
            // A 2xx we cannot read: the write may have happened; the next check reads it.
            Err(e @ ArmError::BadBody { .. }) => {
                return Observed::Approval(Approval::NotApplied(format!("the {verb} answer unreadable: {e}")))
            }
            Err(e @ ArmError::Transient { .. }) => {
                if round + 1 == PUT_ROUNDS {
                    return Observed::Failed(failure(e, &format!("the PUT to {verb} the PEC")));
                }
                tracing::warn!(error = %e, round, "the {verb} PUT failed; re-reading before trying again");
                crate::clock::sleep(app.clock.as_ref(), Duration::from_millis(500 << round)).await;
            }
        }
    }
    let Some(written) = written else {
        return Observed::Failed(Failure::Transient {
            why: format!("the PUT to {verb} the PEC: no attempt succeeded"),
            retry_after: None,
        });
    };
    let answered = written.body.as_ref().and_then(|b| pec::parse_pec(b).ok());
    if written.status == 200 && answered.as_ref().is_some_and(|p| pec::settled_as(p, &want)) {
        return Observed::Approval(Approval::Sent { status: written.status, last: answered });
    }
    // 201/202 (or a 200 still applying): confirm by GET, briefly.
    let mut last = answered;
    for wait in w.confirm.iter().copied() {
        crate::clock::sleep(app.clock.as_ref(), wait).await;
        match app.arm.get(pec_id, w.api_version).await {
            Ok(Some(b)) => {
                if let Ok(p) = pec::parse_pec(&b) {
                    // Settled as we asked, or decided otherwise for good (rejected, disconnected).
                    let decided = pec::settled_as(&p, &want)
                        || (p.status != want && matches!(p.status, PecStatus::Rejected | PecStatus::Disconnected));
                    last = Some(p);
                    if decided {
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(e) if e.is_transient() => {}
            Err(e) => return Observed::Failed(failure(e, &format!("confirming the {verb} PUT"))),
        }
    }
    Observed::Approval(Approval::Sent { status: written.status, last })
}
