//! The work item on the queue: deterministic message ids, versioning, hostile bodies. No fixtures.

mod common;

use common::rid;
use mpe_approver::workitem::{valid_correlation_id, Origin, WorkItem, WorkItemError, VERSION};

const MPE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m1";

fn item(id: &str, origin: Origin) -> WorkItem {
    WorkItem::new(rid(id), "2026-11-23T10:00:00Z".parse().unwrap(), "corr-1".into(), origin)
}

#[test]
fn message_id_is_deterministic_per_mpe_and_attempt_and_ignores_case() {
    let a = item(MPE, Origin::EventGrid);
    let odd = item(
        "/subscriptions/S/resourcegroups/RG/providers/microsoft.kusto/Clusters/C/ManagedPrivateEndpoints/M1",
        Origin::EventGrid,
    );
    assert_eq!(a.message_id(), odd.message_id());
    // the same event delivered again later (same ARM correlation id): same Event Grid chain, same id
    let redelivered =
        WorkItem::new(rid(MPE), "2026-11-23T11:00:00Z".parse().unwrap(), "corr-1".into(), Origin::EventGrid);
    assert_eq!(redelivered.message_id(), a.message_id());
    // a new write of the same MPE (deleted and created again: another ARM operation) starts its own chain,
    // so the queue's duplicate detection cannot swallow it
    let recreated =
        WorkItem::new(rid(MPE), "2026-11-23T10:30:00Z".parse().unwrap(), "corr-2".into(), Origin::EventGrid);
    assert_ne!(recreated.message_id(), a.message_id());
    // attempts differ
    let ids: std::collections::HashSet<String> =
        std::iter::successors(Some(a.clone()), |w| Some(w.next())).take(50).map(|w| w.message_id()).collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(a.next().next().attempt, 2);
    assert_eq!(a.next().message_id(), item(MPE, Origin::EventGrid).next().message_id());
    // other MPE
    assert_ne!(item(&MPE.replace("m1", "m2"), Origin::EventGrid).message_id(), a.message_id());
    // a uuid
    assert!(uuid::Uuid::parse_str(&a.message_id()).is_ok());
}

#[test]
fn replay_and_sweep_start_their_own_chains() {
    let eg = item(MPE, Origin::EventGrid);
    let replay = item(MPE, Origin::Replay);
    let sweep = item(MPE, Origin::Sweep);
    assert_ne!(replay.message_id(), eg.message_id());
    assert_ne!(sweep.message_id(), eg.message_id());
    assert_ne!(sweep.message_id(), replay.message_id());
    let replay_later =
        WorkItem::new(rid(MPE), "2026-11-23T10:05:00Z".parse().unwrap(), "corr-1".into(), Origin::Replay);
    assert_ne!(replay_later.message_id(), replay.message_id());
}

#[test]
fn attempt_saturates() {
    let mut w = item(MPE, Origin::EventGrid);
    w.attempt = u32::MAX;
    assert_eq!(w.next().attempt, u32::MAX);
}

#[test]
fn json_roundtrip_and_shape() {
    let w = item(MPE, Origin::EventGrid).next();
    let text = w.to_json();
    assert_eq!(
        text,
        format!(
            r#"{{"v":{VERSION},"mpeId":"{MPE}","attempt":1,"firstSeen":"2026-11-23T10:00:00Z","correlationId":"corr-1","origin":"eventGrid"}}"#
        )
    );
    assert_eq!(WorkItem::from_json(&text).unwrap(), w);
    // a chain key and an approval to confirm travel along; both are bounded
    let mut keyed = item(MPE, Origin::Sweep);
    keyed.approving = Some(format!("{MPE}/x"));
    let back = WorkItem::from_json(&keyed.to_json()).unwrap();
    assert_eq!(back, keyed);
    assert!(keyed.chain.as_deref().is_some_and(|c| c.len() == 32));
    for bad in [
        keyed.to_json().replace(keyed.chain.as_deref().unwrap(), "a b"),
        keyed.to_json().replace(keyed.chain.as_deref().unwrap(), &"a".repeat(65)),
        keyed.to_json().replace(&format!("{MPE}/x"), ""),
    ] {
        assert!(WorkItem::from_json(&bad).is_err(), "accepted {bad}");
    }
}

/// A check's `MessageId` cannot be claimed by someone who can only send to the queue: every chain this
/// approver starts has a key the sender does not know (random for a sweep or replay, the Event Grid
/// event's id for an event), and each attempt's id derives from it. A redelivered event keeps its key.
#[test]
fn message_ids_derive_from_a_chain_key_no_sender_knows() {
    let sweep = item(MPE, Origin::Sweep);
    let again = item(MPE, Origin::Sweep);
    assert_ne!(sweep.message_id(), again.message_id(), "two sweeps within the same hour: two chains");
    let legacy = WorkItem { chain: None, ..sweep.clone() };
    assert_ne!(sweep.message_id(), legacy.message_id(), "not the hour-keyed id a sender could compute");
    assert_ne!(sweep.next().message_id(), legacy.next().message_id());
    assert_ne!(item(MPE, Origin::Replay).message_id(), item(MPE, Origin::Replay).message_id());
    // an event: keyed by its id; the same event again shares every id, another event does not
    let ev = item(MPE, Origin::EventGrid).with_event_chain("event-1");
    assert_eq!(ev.message_id(), item(MPE, Origin::EventGrid).with_event_chain("event-1").message_id());
    assert_eq!(
        ev.next().next().message_id(),
        item(MPE, Origin::EventGrid).with_event_chain("event-1").next().next().message_id()
    );
    assert_ne!(ev.message_id(), item(MPE, Origin::EventGrid).with_event_chain("event-2").message_id());
    assert_ne!(ev.message_id(), item(MPE, Origin::EventGrid).message_id(), "not the correlation-keyed id");
    // the key survives the queue: a redelivered check sends the same next id
    let back = WorkItem::from_json(&ev.next().to_json()).unwrap();
    assert_eq!(back.next().message_id(), ev.next().next().message_id());
}

/// A forged item cannot start a chain that never ends: a first-seen time ahead of the clock (its age
/// would read as zero forever) or an absurd attempt count is implausible, and the check parks it.
fn implausible(w: &WorkItem, now: chrono::DateTime<chrono::Utc>) -> Option<mpe_approver::workitem::WorkItemError> {
    mpe_approver::decision::implausible(w.first_seen, w.attempt, now)
}

#[test]
fn implausible_items_are_named() {
    let now: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    let mut w = item(MPE, Origin::EventGrid);
    assert!(implausible(&w, now).is_none());
    w.first_seen = "9999-12-31T00:00:00Z".parse().unwrap();
    assert!(implausible(&w, now).is_some_and(|e| e.to_string().contains("in the future")));
    w.first_seen = now + chrono::Duration::seconds(60);
    assert!(implausible(&w, now).is_none(), "a minute of clock skew is believed");
    w.first_seen = now;
    w.attempt = mpe_approver::workitem::MAX_ATTEMPT + 1;
    assert!(implausible(&w, now).is_some());
    w.attempt = mpe_approver::workitem::MAX_ATTEMPT;
    assert!(implausible(&w, now).is_none());
}

#[test]
fn version_is_checked_first() {
    let good = item(MPE, Origin::EventGrid).to_json();
    for v in [0u32, 2, 99] {
        let body = good.replacen(&format!(r#""v":{VERSION}"#), &format!(r#""v":{v}"#), 1);
        assert!(matches!(WorkItem::from_json(&body), Err(WorkItemError::Version(x)) if x == v), "{body}");
    }
    // a newer document with fields we do not know still gets the version error, not a field complaint
    assert!(matches!(WorkItem::from_json(r#"{"v":2,"somethingNew":true}"#), Err(WorkItemError::Version(2))));
    assert!(matches!(WorkItem::from_json(r#"{"v":"1"}"#), Err(WorkItemError::Json(_))));
}

#[test]
fn truncated_unknown_fields_and_bad_values_are_errors() {
    let good = item(MPE, Origin::EventGrid).to_json();
    for cut in 0..good.len() {
        assert!(WorkItem::from_json(&good[..cut]).is_err(), "accepted truncated {:?}", &good[..cut]);
    }
    let extra = good.replacen('}', r#","extra":1}"#, 1);
    assert!(matches!(WorkItem::from_json(&extra), Err(WorkItemError::Json(_))));
    let hostile = good.replace(MPE, "/subscriptions/../x");
    assert!(matches!(WorkItem::from_json(&hostile), Err(WorkItemError::Json(_))));
    let query = good.replace(MPE, &format!("{MPE}?api-version=1"));
    assert!(WorkItem::from_json(&query).is_err());
    for bad_corr in ["", "a b", "x/y", &"a".repeat(129)] {
        let body = good.replace("corr-1", bad_corr);
        assert!(matches!(WorkItem::from_json(&body), Err(WorkItemError::CorrelationId)), "{bad_corr:?}");
    }
    assert!(valid_correlation_id(&"a".repeat(128)));
    assert!(valid_correlation_id("0HN:abc-def_1.2"));
}

#[test]
fn huge_bodies_are_refused_before_parsing() {
    let good = item(MPE, Origin::EventGrid).to_json();
    let padded = format!("{}{}", good, " ".repeat(64 * 1024));
    assert!(matches!(WorkItem::from_json(&padded), Err(WorkItemError::TooLarge(n)) if n == padded.len()));
    let exactly = format!("{}{}", good, " ".repeat(64 * 1024 - good.len()));
    assert_eq!(WorkItem::from_json(&exactly).unwrap(), item(MPE, Origin::EventGrid));
    let deep = "[".repeat(100_000);
    assert!(matches!(WorkItem::from_json(&deep), Err(WorkItemError::TooLarge(_))));
    let deep_small = "[".repeat(60_000);
    assert!(matches!(WorkItem::from_json(&deep_small), Err(WorkItemError::Json(_))));
}
