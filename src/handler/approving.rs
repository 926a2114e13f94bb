//! The approving protocol: re-read the PEC right before each PUT, PUT the whole body back Approved with
//! our marker appended to its description (`If-Match` on its ETag where it has one), confirm by GET.
//! It reports what happened ([`Approval`]); what that means is for the decision.

use super::observe::failure;
use super::{App, Reply};
use crate::arm::ArmError;
use crate::decision::{Approval, Approve, Failure, Observed};
use crate::logsafe::q;
use crate::pec::{self, approval_settled, PecStatus};
use std::time::Duration;
use tracing::Level;

/// Re-read-then-PUT rounds of one approval within an invocation (a transient PUT failure re-reads).
const PUT_ROUNDS: u32 = 3;
/// Waits between the reads that confirm an accepted PUT (201/202, or a 200 still applying).
const CONFIRM_WAITS: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(3)];

/// Carry out `a`.
pub(crate) async fn approve(app: &App, a: &Approve, reply: &mut Reply) -> Observed {
    let pec_id = &a.pec_id;
    let mut written = None;
    for round in 0..PUT_ROUNDS {
        // Re-read: the list may be stale, we PUT back exactly what the target gave us, and never over a
        // state other than Pending (a human may have decided in between).
        let current = match app.arm.get(pec_id, a.api_version).await {
            Ok(Some(b)) => b,
            Ok(None) => return Observed::Approval(Approval::Vanished),
            Err(e) => return Observed::Failed(failure(e, "reading the PEC before approval")),
        };
        let p = match pec::parse_pec(&current) {
            Ok(p) => p,
            Err(e) => return Observed::Failed(Failure::Unreadable(format!("PEC {pec_id} unreadable: {e}"))),
        };
        if p.status != PecStatus::Pending || !p.from_endpoint(a.endpoint_id.as_deref()) {
            return Observed::Approval(Approval::Changed(p));
        }
        let description = pec::approved_description(p.description.as_deref(), &a.mpe_id, a.incarnation.as_deref());
        let body = pec::approval_body(&current, &description);
        let if_match = p.etag.as_deref();
        reply.resp.log(
            Level::INFO,
            format!(
                "mpe={} approving PEC {pec_id} (If-Match: {})",
                a.mpe_id,
                if_match.map_or("none: re-read".into(), |t| q(t).to_string())
            ),
        );
        match app.arm.put(pec_id, a.api_version, &body, if_match).await {
            Ok(w) => {
                written = Some(w);
                break;
            }
            Err(e @ ArmError::Refused { status: 409 | 412 | 404, .. }) => {
                return Observed::Approval(Approval::NotApplied(format!(
                    "approval not applied ({e}); reading again and deciding again"
                )))
            }
            Err(e @ (ArmError::Refused { status: 401 | 403, .. } | ArmError::Identity { .. })) => {
                return Observed::Failed(Failure::Forbidden(format!("not allowed to approve {pec_id}: {e}")))
            }
            Err(e @ ArmError::Refused { .. }) => {
                return Observed::Failed(Failure::Refused(format!("ARM refused the approval of {pec_id}: {e}")))
            }
            // A 2xx we cannot read: the write may have happened; the next check reads it.
            Err(e @ ArmError::BadBody { .. }) => {
                return Observed::Approval(Approval::NotApplied(format!("approval answer unreadable: {e}")))
            }
            Err(e @ ArmError::Transient { .. }) => {
                if round + 1 == PUT_ROUNDS {
                    return Observed::Failed(failure(e, "approving the PEC"));
                }
                tracing::warn!(error = %e, round, "approval PUT failed; re-reading before trying again");
                crate::clock::sleep(app.clock.as_ref(), Duration::from_millis(500 << round)).await;
            }
        }
    }
    let Some(written) = written else {
        return Observed::Failed(Failure::Transient {
            why: "approving the PEC: no attempt succeeded".into(),
            retry_after: None,
        });
    };
    let answered = written.body.as_ref().and_then(|b| pec::parse_pec(b).ok());
    if written.status == 200 && answered.as_ref().is_some_and(approval_settled) {
        return Observed::Approval(Approval::Sent { status: written.status, last: answered });
    }
    // 201/202 (or a 200 still applying): confirm by GET, briefly.
    let mut last = answered;
    for wait in CONFIRM_WAITS {
        crate::clock::sleep(app.clock.as_ref(), wait).await;
        match app.arm.get(pec_id, a.api_version).await {
            Ok(Some(b)) => {
                if let Ok(p) = pec::parse_pec(&b) {
                    let decided =
                        approval_settled(&p) || matches!(p.status, PecStatus::Rejected | PecStatus::Disconnected);
                    last = Some(p);
                    if decided {
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(e) if e.is_transient() => {}
            Err(e) => return Observed::Failed(failure(e, "confirming the approval")),
        }
    }
    Observed::Approval(Approval::Sent { status: written.status, last })
}
