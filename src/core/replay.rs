//! Replay, the pure part: what a queued message (parked, or dead-lettered) becomes when an operator
//! replays it, which messages a filter selects, and the rows an operator reads. No I/O here: the shell
//! (`handler::queued`) locks, sends, completes and unlocks.

use crate::providers;
use crate::queue_message::{dead_letter_queue, props, LockedMessage};
use crate::workitem::{correlation_or_new, Origin, WorkItem};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where the messages to replay wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// The parking queue (`MPE_PARKING_QUEUE_NAME`): items that could not succeed, with `parkcode`.
    Parked,
    /// The work queue's dead-letter sub-queue: deliveries Service Bus gave up on.
    DeadLetter,
    /// The parking queue's own dead-letter sub-queue: parked items whose deliveries (every peek-lock of a
    /// scan, dry runs and `status` included) reached the parking queue's `maxDeliveryCount`.
    ParkedDeadLetter,
}

impl Source {
    pub fn parse(s: &str) -> Result<Source, String> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "parked" | "parking" => Ok(Source::Parked),
            "deadletter" | "deadlettered" | "dlq" => Ok(Source::DeadLetter),
            "parkeddeadletter" | "parkeddeadlettered" | "parkeddlq" => Ok(Source::ParkedDeadLetter),
            _ => Err(format!("source {s:?} is none of \"parked\", \"deadLetter\", \"parkedDeadLetter\"")),
        }
    }
    /// The queue path to receive from.
    pub fn queue(self, work_queue: &str, parking_queue: &str) -> String {
        match self {
            Source::Parked => parking_queue.to_string(),
            Source::DeadLetter => dead_letter_queue(work_queue),
            Source::ParkedDeadLetter => dead_letter_queue(parking_queue),
        }
    }
}

/// What an operator asked to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReplay {
    pub source: Source,
    /// Only messages with this park code (`parkcode`) or dead-letter reason (`DeadLetterReason`).
    pub reason: Option<String>,
    /// Messages looked at, at most (each is locked while the scan runs).
    pub max: u32,
    /// List what would be replayed; move nothing.
    pub dry_run: bool,
}

/// Whether `msg` is one the filter selects (case-insensitive).
pub fn selected(msg: &LockedMessage, reason: Option<&str>) -> bool {
    let Some(want) = reason else { return true };
    [props::PARK_CODE, "deadletterreason"].iter().filter_map(|p| msg.property(p)).any(|v| v.eq_ignore_ascii_case(want))
}

/// What a queued message becomes: a fresh check of its MPE, or nothing (and why).
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Replay(Box<WorkItem>),
    NotReplayable(String),
}

/// The MPE a queued message is about: its work item's, or its `mpeid` property (an unreadable input
/// parked with the id it named), when that is a supported MPE type.
pub fn plan(msg: &LockedMessage, now: DateTime<Utc>) -> Plan {
    let from_body = WorkItem::from_json(&msg.body).ok();
    // A message of a parent's MPEs checked together: every one of them is checked again.
    if let Some(batch) = from_body.as_ref().filter(|w| !w.siblings.is_empty()) {
        let items = batch
            .members()
            .into_iter()
            .filter(|m| providers::for_id(&m.mpe_id).is_some())
            .map(|m| WorkItem::new(m.mpe_id, now, correlation_or_new(Some(&m.correlation_id)), Origin::Replay))
            .collect();
        return match WorkItem::batch(items) {
            Some(item) => Plan::Replay(Box::new(item)),
            None => Plan::NotReplayable("none of its MPEs is of a supported type".into()),
        };
    }
    let correlation = from_body.as_ref().map(|w| w.correlation_id.clone()).or(msg.correlation_id.clone());
    let id = match (from_body, msg.property(props::MPE_ID)) {
        (Some(w), _) => w.mpe_id,
        (None, Some(raw)) => match providers::parse_mpe_id(raw) {
            Ok(id) => id,
            Err(e) => return Plan::NotReplayable(format!("its mpeid property: {e}")),
        },
        (None, None) => {
            return Plan::NotReplayable(
                "neither a work item nor an mpeid property: it names no MPE (read it in the portal's Service Bus \
                 explorer, then replay the MPE by id)"
                    .into(),
            )
        }
    };
    // A work item's id was checked when it was written; a newer build may have dropped its type.
    if providers::for_id(&id).is_none() {
        return Plan::NotReplayable(format!("{} is not a supported MPE type", id.resource_type()));
    }
    Plan::Replay(Box::new(WorkItem::new(id, now, correlation_or_new(correlation.as_deref()), Origin::Replay)))
}

/// The replacement's `MessageId`: a UUIDv5 of the queue and the original's id, so replaying the same
/// message twice (a replay whose complete failed, two operators at once) collapses in the work queue's
/// duplicate detection. A message parked again later is a new message with a new id.
pub fn replay_message_id(msg: &LockedMessage) -> String {
    let name = format!("replay|{}|{}", msg.queue.to_ascii_lowercase(), msg.message_id);
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d70_652d_7265_706c_6179_2d71_7565_7565);

/// Properties carried over to the replacement, so its history is visible.
pub fn carried_properties(msg: &LockedMessage) -> Vec<(String, String)> {
    let mut v = vec![("replayof".to_string(), msg.message_id.clone()), ("replayedfrom".to_string(), msg.queue.clone())];
    for p in [props::PARK_CODE, props::PARK_REASON, "deadletterreason"] {
        if let Some(val) = msg.property(p) {
            let name = if p == "deadletterreason" { p.to_string() } else { format!("original{p}") };
            v.push((name, val.to_string()));
        }
    }
    v
}

/// One message seen by a replay, as the operator reads it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub message_id: String,
    pub mpe_id: Option<String>,
    /// `parkcode`, or the dead-letter reason.
    pub reason: Option<String>,
    /// `parkreason`, or the dead-letter description.
    pub detail: Option<String>,
    /// `parkedat`, or when Service Bus enqueued it.
    pub parked_at: Option<String>,
    pub delivery_count: u32,
    /// `replayed`, `would replay`, `skipped: ...`, `not replayable: ...`, `failed: ...`.
    pub action: String,
    /// The replacement's message id, when one was (or would be) sent.
    pub new_message_id: Option<String>,
}

impl Row {
    pub fn of(msg: &LockedMessage, plan: &Plan, action: impl Into<String>) -> Row {
        Row {
            message_id: msg.message_id.clone(),
            mpe_id: match plan {
                Plan::Replay(w) => Some(w.mpe_id.to_string()),
                Plan::NotReplayable(_) => msg.property(props::MPE_ID).map(str::to_string),
            },
            reason: msg.property(props::PARK_CODE).or(msg.property("deadletterreason")).map(str::to_string),
            detail: msg
                .property(props::PARK_REASON)
                .or(msg.property("deadlettererrordescription"))
                .map(|s| s.chars().take(300).collect()),
            parked_at: msg.property(props::PARKED_AT).map(str::to_string).or(msg.enqueued_at.map(|t| t.to_rfc3339())),
            delivery_count: msg.delivery_count,
            action: action.into(),
            new_message_id: matches!(plan, Plan::Replay(_)).then(|| replay_message_id(msg)),
        }
    }
}

/// What one replay did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub source: Source,
    pub queue: String,
    pub dry_run: bool,
    pub seen: u32,
    pub replayed: u32,
    pub failed: u32,
    /// Messages whose body is over the receive cap: listed, left in place, never replayed.
    pub too_large: u32,
    /// The scan stopped at `max` or at its budget: more messages may wait.
    pub more: bool,
    /// Why the scan stopped early, when it did (a Service Bus error, the budget).
    pub stopped: Option<String>,
    pub rows: Vec<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_id::ResourceId;
    use std::collections::BTreeMap;

    const ID: &str =
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m";

    fn msg(body: &str, props: &[(&str, &str)]) -> LockedMessage {
        LockedMessage {
            queue: "parked".into(),
            body: body.into(),
            message_id: "orig-1".into(),
            lock_token: "l".into(),
            sequence_number: Some(1),
            delivery_count: 1,
            enqueued_at: None,
            locked_until: None,
            correlation_id: None,
            properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_parked_work_item_becomes_a_fresh_replay_chain() {
        let now = "2026-12-02T10:00:00Z".parse().unwrap();
        let old = WorkItem::new(ResourceId::parse(ID).unwrap(), now, "corr-9".into(), Origin::EventGrid).next();
        let Plan::Replay(w) = plan(&msg(&old.to_json(), &[]), now) else { panic!("not replayed") };
        assert_eq!((w.attempt, w.origin, w.correlation_id.as_str()), (0, Origin::Replay, "corr-9"));
        assert_eq!(w.mpe_id, old.mpe_id);
    }

    #[test]
    fn a_message_of_a_parents_mpes_is_replayed_whole() {
        let now = "2026-12-02T10:00:00Z".parse().unwrap();
        let item = |name: &str| {
            let id =
                ResourceId::parse(&ID.replace("managedPrivateEndpoints/m", &format!("managedPrivateEndpoints/{name}")))
                    .unwrap();
            WorkItem::new(id, now, format!("corr-{name}"), Origin::EventGrid).next().next()
        };
        let old = WorkItem::batch(vec![item("a"), item("b"), item("c")]).unwrap();
        let Plan::Replay(w) = plan(&msg(&old.to_json(), &[]), now) else { panic!("not replayed") };
        let members = w.members();
        assert_eq!(members.len(), 3, "every MPE the message carried");
        for (m, name) in members.iter().zip(["a", "b", "c"]) {
            assert_eq!((m.attempt, m.origin, m.correlation_id.clone()), (0, Origin::Replay, format!("corr-{name}")));
            assert!(m.mpe_id.as_str().ends_with(&format!("/{name}")));
        }
    }

    #[test]
    fn an_unreadable_body_is_replayed_by_its_mpeid_or_not_at_all() {
        let now = Utc::now();
        assert!(matches!(plan(&msg("garbage", &[("mpeid", ID)]), now), Plan::Replay(_)));
        assert!(matches!(plan(&msg("garbage", &[]), now), Plan::NotReplayable(w) if w.contains("names no MPE")));
        assert!(matches!(plan(&msg("garbage", &[("mpeid", "/x/..")]), now), Plan::NotReplayable(_)));
        let storage = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a";
        assert!(
            matches!(plan(&msg("{}", &[("mpeid", storage)]), now), Plan::NotReplayable(w) if w.contains("not a supported"))
        );
    }

    #[test]
    fn replay_ids_are_stable_per_original_and_queue() {
        let a = msg("{}", &[]);
        let mut b = a.clone();
        b.lock_token = "another lock".into();
        b.delivery_count = 7;
        assert_eq!(replay_message_id(&a), replay_message_id(&b));
        b.message_id = "orig-2".into();
        assert_ne!(replay_message_id(&a), replay_message_id(&b));
        let mut c = a.clone();
        c.queue = "mpe-approvals/$DeadLetterQueue".into();
        assert_ne!(replay_message_id(&a), replay_message_id(&c));
    }

    #[test]
    fn filters_match_the_park_code_or_the_dead_letter_reason() {
        let parked = msg("{}", &[("parkcode", "policy-refused")]);
        assert!(selected(&parked, None));
        assert!(selected(&parked, Some("Policy-Refused")));
        assert!(!selected(&parked, Some("forbidden")));
        let dead = msg("{}", &[("deadletterreason", "MaxDeliveryCountExceeded")]);
        assert!(selected(&dead, Some("maxdeliverycountexceeded")));
    }

    #[test]
    fn sources_parse() {
        assert_eq!(Source::parse("dead-letter"), Ok(Source::DeadLetter));
        assert_eq!(Source::parse("parked"), Ok(Source::Parked));
        assert!(Source::parse("work").is_err());
        assert_eq!(Source::DeadLetter.queue("w", "p"), "w/$DeadLetterQueue");
        assert_eq!(Source::parse("parkedDeadLetter"), Ok(Source::ParkedDeadLetter));
        assert_eq!(Source::parse("parked-dead-letter"), Ok(Source::ParkedDeadLetter));
        assert_eq!(Source::ParkedDeadLetter.queue("w", "p"), "p/$DeadLetterQueue");
        assert_eq!(serde_json::to_value(Source::ParkedDeadLetter).unwrap(), "parkedDeadLetter");
    }
}
