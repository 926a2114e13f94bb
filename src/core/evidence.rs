//! Which PEC at a target is the MPE's: the matching rule and the evidence it rests on. Pure.
//!
//! A candidate is under the MPE's target, from a private endpoint named as the service names it, of the
//! MPE's group where the PEC says one, and from a private endpoint in no customer subscription the
//! configuration knows. [`choose`] picks the one PEC to approve, or says why none is (yet).

use crate::pec::{self, Marked, Pec, PecStatus};
use crate::providers::{MpeStatus, MpeView};
use crate::resource_id::ResourceId;
use crate::verdict::{Outcome, ParkCode, ParkReason};

/// What the target's PEC list says of the MPE's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// This PEC (index into the list) is the MPE's and waits for approval.
    Approve(usize),
    /// Nothing to approve yet; look again later, for this reason.
    Wait(String),
    /// The connection was decided already.
    Ended(Outcome),
    /// The evidence does not single out one PEC, or forbids approving.
    Park(ParkReason),
}

/// PECs that could belong to this MPE: under the MPE's target, of the same group id where the PEC says
/// one, and from the private endpoint the service names for it (whole last segment, case-insensitive).
/// Where the service does not publish that name (`endpoint_name` `None`), the PEC must carry the MPE's
/// request message as its description (or our marker for the MPE, once approved). Where the MPE is itself
/// the private endpoint ([`MpeView::endpoint_id`]), the PEC's `privateEndpoint.id` must be exactly its id.
pub fn candidates(view: &MpeView, endpoint_name: Option<&str>, pecs: &[Pec]) -> Vec<usize> {
    pecs.iter()
        .enumerate()
        .filter(|(_, p)| {
            // Cheap tests first; the id parse (the proof the PEC lies under our target) only for name matches.
            let named = match (&view.endpoint_id, endpoint_name) {
                (Some(own), _) => p.endpoint_id.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(own)),
                (None, Some(name)) => p.endpoint_name().is_some_and(|n| n.eq_ignore_ascii_case(name)),
                (None, None) => message_matches(view, p) == Some(true) || pec::carries_marker(p, &view.id),
            };
            let group_ok = match (&view.group_id, p.group_ids.is_empty()) {
                (Some(g), false) => p.group_ids.iter().any(|pg| pg.eq_ignore_ascii_case(g)),
                _ => true,
            };
            named && group_ok && ResourceId::parse(&p.id).map(|id| view.target.contains(&id)).unwrap_or(false)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Pending PECs at the target that the MPE's rule does not name while no PEC at all is named for it: of
/// its group (where the PEC says one), from a private endpoint in no customer subscription. For an MPE
/// that reports its connection pending, these suggest the rule is wrong for its service
/// (`ParkCode::NoMatchingPec`); they are never candidates.
pub fn pending_unnamed(
    view: &MpeView,
    endpoint_name: Option<&str>,
    pecs: &[Pec],
    customer_subscriptions: &[String],
) -> Vec<usize> {
    // A private endpoint's id, or the name its service reports, names its PEC exactly: no rule to be wrong.
    if view.endpoint_id.is_some() || view.endpoint_name.is_some() || !candidates(view, endpoint_name, pecs).is_empty() {
        return Vec::new();
    }
    pecs.iter()
        .enumerate()
        .filter(|(_, p)| {
            let group_ok = match (&view.group_id, p.group_ids.is_empty()) {
                (Some(g), false) => p.group_ids.iter().any(|pg| pg.eq_ignore_ascii_case(g)),
                _ => true,
            };
            p.status == PecStatus::Pending && group_ok && !in_customer_subscription(p, view, customer_subscriptions)
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

/// The PECs `idx` names (at most 10), for a reason: each one's id, private endpoint name and subscription,
/// escaped, then how many more; "none" when there are none.
pub fn listed(pecs: &[Pec], idx: &[usize]) -> String {
    use crate::logsafe::q;
    const SHOWN: usize = 10;
    if idx.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = idx
        .iter()
        .take(SHOWN)
        .map(|&i| {
            let p = &pecs[i];
            format!(
                "{} (private endpoint {}, subscription {})",
                q(&p.id),
                q(p.endpoint_name().unwrap_or("?")),
                q(endpoint_subscription(p).unwrap_or("?"))
            )
        })
        .collect();
    let more = idx.len().saturating_sub(SHOWN);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

fn ambiguous(pecs: &[Pec], idx: &[usize], why: &str) -> Match {
    let ids: Vec<&str> = idx.iter().map(|&i| pecs[i].id.as_str()).collect();
    Match::Park(ParkReason::new(
        ParkCode::Ambiguous,
        format!("ambiguous: {} PECs could belong to this MPE ({why}): {}", ids.len(), ids.join(", ")),
    ))
}

/// The MPE's PEC among `pecs` (the target's complete list), for an MPE that awaits approval or whose
/// connection only the target shows. `customer_subscriptions`: the subscriptions the configuration names
/// (watched, target, policy rules; the MPE's and the target's count too): a managed private endpoint
/// lives in a Microsoft-managed subscription, so a private endpoint in one of these is never the MPE's.
pub fn choose(view: &MpeView, endpoint_name: Option<&str>, pecs: &[Pec], customer_subscriptions: &[String]) -> Match {
    let approve = Match::Approve;
    let again = Match::Wait;
    let from = match (&view.endpoint_id, endpoint_name) {
        (Some(own), _) => format!("from private endpoint {own}"),
        (None, Some(name)) => format!("from private endpoint {name:?}"),
        (None, None) => match view.request_message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(message) => format!("carrying the request message {message:?}"),
            // Nothing else ties a PEC to an MPE whose service does not publish its private endpoint's name.
            None => {
                let pending = pending_unnamed(view, endpoint_name, pecs, customer_subscriptions);
                return Match::Park(ParkReason::new(
                    ParkCode::EvidenceMismatch,
                    format!(
                        "the service does not publish the name of its private endpoint and the MPE reports no \
                         request message: nothing ties a PEC at the target to it. Give the MPE a request message \
                         unique to it where its service reports one, or name its private endpoints with \
                         MPE_ENDPOINT_NAMES once the target shows how (docs/configuration.md); pending at the \
                         target now, of its group, from no customer subscription: {}; nothing was approved",
                        listed(pecs, &pending)
                    ),
                ));
            }
        },
    };
    let twins = match (&view.endpoint_id, endpoint_name) {
        (Some(_), _) => "same private endpoint, request message does not single one out",
        (None, Some(_)) => "same private endpoint name, request message does not single one out",
        (None, None) => "same request message (the private endpoint's name is not published), nothing singles one out",
    };
    let named = candidates(view, endpoint_name, pecs);
    // A managed private endpoint lives in a Microsoft-managed subscription (also where the service
    // reports its id); a customer's own private endpoint, tied by its full id, in a customer's.
    let cands: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&i| view.is_own_endpoint() || !in_customer_subscription(&pecs[i], view, customer_subscriptions))
        .collect();
    if cands.is_empty() {
        let why = if named.is_empty() {
            format!("no PEC {from} at the target yet")
        } else {
            format!("no PEC {from} at the target yet ({} from a customer subscription ignored)", named.len())
        };
        return again(why);
    }
    // A PEC we approved for an earlier MPE of this name is a leftover, not a candidate.
    let inc = view.incarnation();
    let marked = |i: usize| pec::marked(&pecs[i], &view.id, inc.as_deref());
    let cands: Vec<usize> = cands.into_iter().filter(|&i| marked(i) != Marked::EarlierIncarnation).collect();
    if cands.is_empty() {
        return again(format!("no PEC {from} at the target yet (only leftovers of an earlier MPE of this name)"));
    }
    let pending: Vec<usize> = cands.iter().copied().filter(|&i| pecs[i].status == PecStatus::Pending).collect();
    // One approval per MPE, whatever the MPE reports (a service may still say pending after our approval):
    // a PEC we approved for this MPE ends the matching, and no other candidate is ever approved for it.
    let ours: Vec<usize> = cands.iter().copied().filter(|&i| marked(i) == Marked::ThisIncarnation).collect();
    if ours.iter().any(|&i| pecs[i].status == PecStatus::Approved) {
        return Match::Ended(Outcome::AlreadyApproved);
    }
    // One we approved for this incarnation and someone disconnected or rejected since: this MPE had its
    // approval. Where the MPE reports its connection and not when it was created, a marked PEC may be
    // an earlier MPE's of this name (deleted, its connection disconnected): the MPE's own "pending" is
    // then believed.
    let knows_incarnation = inc.is_some() || view.status == MpeStatus::ProvisionedCheckTarget;
    let decided = ours.iter().copied().find(|&i| pecs[i].status != PecStatus::Pending).filter(|_| knows_incarnation);
    if let Some(o) = decided {
        if let Some(&p) = pending.iter().find(|i| !ours.contains(i)) {
            return Match::Park(ParkReason::new(
                ParkCode::NotNew,
                format!(
                    "the PEC approved for this MPE ({}) is now {:?}; another PEC with its name is pending ({}): \
                     not approved, one approval per MPE (create the MPE again for a new connection)",
                    pecs[o].id, pecs[o].status, pecs[p].id
                ),
            ));
        }
        // Someone approved another candidate by hand: their decision, the chain ends.
        if cands.iter().any(|&i| !ours.contains(&i) && pecs[i].status == PecStatus::Approved) {
            return Match::Ended(Outcome::AlreadyApproved);
        }
        return status_outcome(&pecs[o].status);
    }
    if view.status == MpeStatus::AwaitingApproval {
        // The service says our connection is not approved yet, so an approved or rejected candidate is
        // not ours (or the service will catch up): only pending candidates count.
        return match pending.len() {
            0 => again("matching PEC not pending at the target yet".into()),
            1 => approve(pending[0]),
            _ => match by_request_message(view, pecs, &pending).as_slice() {
                [one] => approve(*one),
                _ => ambiguous(pecs, &pending, twins),
            },
        };
    }
    // ProvisionedCheckTarget (Data Explorer): the MPE does not report its connection, the target decides,
    // once per incarnation of the MPE.
    match (cands.as_slice(), pending.as_slice()) {
        ([one], [_]) => match message_matches(view, &pecs[*one]) {
            Some(false) => Match::Park(ParkReason::new(
                    ParkCode::EvidenceMismatch,
                    format!(
                        "the only candidate PEC {} does not carry the MPE's request message {:?} (its description is {:?}); not approved",
                        pecs[*one].id,
                        view.request_message.as_deref().unwrap_or_default(),
                        pecs[*one].description.as_deref().unwrap_or_default()
                    ),
            )),
            _ => approve(*one),
        },
        ([one], []) => status_outcome(&pecs[*one].status),
        (_, []) => match by_request_message(view, pecs, &cands).as_slice() {
            [one] => status_outcome(&pecs[*one].status),
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
                _ => ambiguous(pecs, &cands, twins),
            }
        }
    }
}

/// What a decided PEC's state means for the MPE whose PEC it is.
fn status_outcome(status: &PecStatus) -> Match {
    match status {
        PecStatus::Pending => Match::Wait("PEC pending".into()),
        PecStatus::Approved => Match::Ended(Outcome::AlreadyApproved),
        PecStatus::Rejected => Match::Ended(Outcome::Rejected),
        PecStatus::Disconnected => Match::Ended(Outcome::Disconnected),
        PecStatus::Other(s) => Match::Wait(format!("PEC in unknown state {s:?}")),
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

/// The evidence for a chosen candidate (see [`choose`]).
pub fn evidence(view: &MpeView, endpoint_name: Option<&str>, p: &Pec) -> Evidence {
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
    let name = match (&view.endpoint_id, endpoint_name) {
        (Some(own), _) => own.as_str(),
        (None, Some(name)) => name,
        (None, None) => "not published: matched on the request message",
    };
    Evidence {
        name: name.to_string(),
        group,
        message,
        subscription: endpoint_subscription(p).unwrap_or_default().to_string(),
    }
}
