//! The work item: a small, versioned JSON document that travels on the Service Bus queue.
//!
//! ```json
//! {"v":1,"mpeId":"/subscriptions/.../privateEndpoints/pe1","attempt":0,
//!  "firstSeen":"2026-11-23T10:00:00Z","correlationId":"...","origin":"eventGrid"}
//! ```
//! Its `MessageId` is deterministic per MPE, chain and attempt, so the queue's duplicate detection
//! collapses duplicate events for the same MPE; a chain's key (`chain`) is a value no mere sender to the
//! queue knows, so nobody can claim a check's `MessageId` before the check is sent.
//!
//! The next checks of one parent's MPEs due at the same instant travel as one message: the first MPE's
//! item carries the others' in `siblings` (each a whole work item of its own chain, without siblings of
//! its own), so one invocation checks them all ([`WorkItem::batch`], [`WorkItem::members`]).

use crate::resource_id::ResourceId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;
/// Service Bus allows larger bodies; ours are < 1 KiB, anything this large is not ours.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    EventGrid,
    Replay,
    Sweep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkItem {
    pub v: u32,
    pub mpe_id: ResourceId,
    pub attempt: u32,
    pub first_seen: DateTime<Utc>,
    pub correlation_id: String,
    pub origin: Origin,
    /// The chain's key: random for a sweep or a replay, derived from the Event Grid event's id for an
    /// event. The `MessageId` of every check of the chain is derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// The PEC whose approval this chain's last check sent and could not confirm yet: the next check
    /// confirms it and writes the approval's audit line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approving: Option<String>,
    /// Checks in a row that saw the MPE report its connection pending while no PEC at the target matched
    /// its rule and other PECs of its group were pending there (see `ParkCode::NoMatchingPec`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unmatched: u32,
    /// The items of the parent's other MPEs checked with this one (same parent, each once, none with
    /// siblings of its own, [`MAX_MEMBERS`] in all at most).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<WorkItem>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Checks of one chain at most: far beyond any schedule within the longest give-up time, so only a
/// forged item carries more.
pub const MAX_ATTEMPT: u32 = 1_000_000;

/// MPEs one message carries at most (an item and its siblings): a Data Factory's MPEs due together
/// beyond this travel in more than one message.
pub const MAX_MEMBERS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum WorkItemError {
    #[error("message body is {0} bytes, more than a work item can be")]
    TooLarge(usize),
    #[error("message body is not a work item: {0}")]
    Json(#[from] serde_json::Error),
    #[error("work item version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("correlationId must be 1-128 characters of [A-Za-z0-9-_.:]")]
    CorrelationId,
    #[error("chain must be 1-64 characters of [A-Za-z0-9-]")]
    Chain,
    #[error("approving must be 1-1024 characters")]
    Approving,
    #[error("firstSeen {0} is in the future")]
    FirstSeenAhead(DateTime<Utc>),
    #[error("attempt {0} is more than a chain ever takes ({MAX_ATTEMPT})")]
    Attempt(u32),
    #[error("siblings: {0}")]
    Siblings(String),
}

impl WorkItem {
    /// A first check. A sweep's or a replay's chain gets a random key; an Event Grid chain gets its key
    /// from the event ([`WorkItem::with_event_chain`]).
    pub fn new(mpe_id: ResourceId, now: DateTime<Utc>, correlation_id: String, origin: Origin) -> Self {
        let chain = match origin {
            Origin::EventGrid => None,
            Origin::Replay | Origin::Sweep => Some(uuid::Uuid::new_v4().simple().to_string()),
        };
        WorkItem {
            v: VERSION,
            mpe_id,
            attempt: 0,
            first_seen: now,
            correlation_id,
            origin,
            chain,
            approving: None,
            unmatched: 0,
            siblings: Vec::new(),
        }
    }

    /// Key the chain by the Event Grid event's id (with the ARM operation's correlation id): the same
    /// event delivered again joins its chain, and only a subscriber of the event knows the key.
    pub fn with_event_chain(mut self, event_id: &str) -> Self {
        let name = format!("eventGrid|{}|{event_id}", self.correlation_id);
        self.chain = Some(uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).simple().to_string());
        self
    }

    /// The item for the next check (it confirms no approval and counts no unmatched check unless told to).
    pub fn next(&self) -> WorkItem {
        WorkItem {
            attempt: self.attempt.saturating_add(1),
            approving: None,
            unmatched: 0,
            siblings: Vec::new(),
            ..self.clone()
        }
    }

    /// Every MPE this message checks: the item itself (without its siblings), then each sibling.
    pub fn members(&self) -> Vec<WorkItem> {
        let mut first = self.clone();
        let rest = std::mem::take(&mut first.siblings);
        std::iter::once(first).chain(rest).collect()
    }

    /// One message for the items of one parent's MPEs due together, ordered by MPE id so the same
    /// items make the same message (and `MessageId`) whichever check gathered them. Two items of one
    /// MPE (two chains) become one: the older chain goes on, with the other's approval to confirm
    /// and the higher count of unmatched checks. `None` for no items.
    pub fn batch(mut items: Vec<WorkItem>) -> Option<WorkItem> {
        items.iter_mut().for_each(|i| i.siblings.clear());
        items.sort_by(|a, b| {
            (a.mpe_id.key(), a.first_seen, &a.chain, a.attempt).cmp(&(
                b.mpe_id.key(),
                b.first_seen,
                &b.chain,
                b.attempt,
            ))
        });
        let mut merged: Vec<WorkItem> = Vec::with_capacity(items.len());
        for item in items {
            match merged.last_mut() {
                Some(last) if last.mpe_id.key() == item.mpe_id.key() => {
                    last.approving = last.approving.take().or(item.approving);
                    last.unmatched = last.unmatched.max(item.unmatched);
                }
                _ => merged.push(item),
            }
        }
        let mut it = merged.into_iter();
        let mut first = it.next()?;
        first.siblings = it.collect();
        Some(first)
    }

    /// The messages for `items` ([`WorkItem::batch`]): [`MAX_MEMBERS`] MPEs a message at most, and a
    /// body of half [`MAX_BODY`] at most (an item with a long `approving` id is larger), in MPE id order.
    pub fn batches(items: Vec<WorkItem>) -> Vec<WorkItem> {
        let members = WorkItem::batch(items).map(|b| b.members()).unwrap_or_default();
        let mut out = Vec::new();
        let mut chunk: Vec<WorkItem> = Vec::new();
        let mut size = 0;
        for m in members {
            let len = m.to_json().len() + 1;
            if !chunk.is_empty() && (chunk.len() == MAX_MEMBERS || size + len > MAX_BODY / 2) {
                out.extend(WorkItem::batch(std::mem::take(&mut chunk)));
                size = 0;
            }
            size += len;
            chunk.push(m);
        }
        out.extend(WorkItem::batch(chunk));
        out
    }

    /// The key of the MPE's parent (its resource group's, for an MPE that is its own top-level
    /// resource): the MPEs whose checks may share a message, and a grid ([`crate::schedule::phase_of`]).
    pub fn parent_key(mpe: &ResourceId) -> String {
        match mpe.parent() {
            Some(p) => p.key(),
            None => format!("/subscriptions/{}/resourcegroups/{}", mpe.subscription(), mpe.resource_group())
                .to_ascii_lowercase(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("work item serialises")
    }

    pub fn from_json(body: &str) -> Result<WorkItem, WorkItemError> {
        if body.len() > MAX_BODY {
            return Err(WorkItemError::TooLarge(body.len()));
        }
        // Read the version first so a newer document gets a precise error, not a field complaint.
        #[derive(Deserialize)]
        struct V {
            v: u32,
        }
        let v: V = serde_json::from_str(body)?;
        if v.v != VERSION {
            return Err(WorkItemError::Version(v.v));
        }
        let item: WorkItem = serde_json::from_str(body)?;
        item.validate()?;
        if item.siblings.len() >= MAX_MEMBERS {
            return Err(WorkItemError::Siblings(format!("more than {} MPEs in one message", MAX_MEMBERS)));
        }
        let parent = WorkItem::parent_key(&item.mpe_id);
        let mut seen = std::collections::HashSet::from([item.mpe_id.key()]);
        for s in &item.siblings {
            if s.v != VERSION {
                return Err(WorkItemError::Version(s.v));
            }
            s.validate()?;
            if !s.siblings.is_empty() {
                return Err(WorkItemError::Siblings("a sibling carries siblings of its own".into()));
            }
            if WorkItem::parent_key(&s.mpe_id) != parent {
                return Err(WorkItemError::Siblings(format!("{} is not of the parent {parent}", s.mpe_id)));
            }
            if !seen.insert(s.mpe_id.key()) {
                return Err(WorkItemError::Siblings(format!("{} is there twice", s.mpe_id)));
            }
        }
        Ok(item)
    }

    /// The checks every item (and every sibling) passes: its correlation id, chain key and approving PEC.
    fn validate(&self) -> Result<(), WorkItemError> {
        if !valid_correlation_id(&self.correlation_id) {
            return Err(WorkItemError::CorrelationId);
        }
        let chain_ok =
            |c: &str| (1..=64).contains(&c.len()) && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if self.chain.as_deref().is_some_and(|c| !chain_ok(c)) {
            return Err(WorkItemError::Chain);
        }
        if self.approving.as_deref().is_some_and(|a| !(1..=1024).contains(&a.len())) {
            return Err(WorkItemError::Approving);
        }
        Ok(())
    }

    /// Deterministic Service Bus `MessageId`: a UUIDv5 of the MPE id (lower-cased), the chain and the attempt,
    /// so a check sent twice (an invocation retried after its send) collapses in duplicate detection.
    ///
    /// With a chain key ([`WorkItem::chain`]) the id derives from the key: a redelivered event joins its
    /// chain, a new write of the MPE (another event) starts its own, and a sender to the queue who does not
    /// know the key cannot send a message under a check's id first to have the check dropped. Without a key
    /// an Event Grid chain is keyed by the ARM operation's correlation id, a replay by the millisecond it
    /// was requested, a sweep by the hour.
    ///
    /// A message of several MPEs ([`WorkItem::batch`]) takes a UUIDv5 of its members' ids: the same
    /// members sent twice collapse, and other members (another check joined) make another message, never
    /// one that duplicate detection would drop for a message it has not seen.
    pub fn message_id(&self) -> String {
        if !self.siblings.is_empty() {
            let ids: Vec<String> = self.members().iter().map(WorkItem::message_id).collect();
            let name = format!("batch|{}", ids.join("|"));
            return uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string();
        }
        if let Some(key) = &self.chain {
            let name = format!("{}|{key}|{}", self.mpe_id.key(), self.attempt);
            return uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string();
        }
        let chain = match self.origin {
            Origin::EventGrid => format!("eventGrid@{}", self.correlation_id),
            Origin::Replay => format!("Replay@{}", self.first_seen.timestamp_millis()),
            Origin::Sweep => format!("Sweep@{}", self.first_seen.timestamp().div_euclid(3600)),
        };
        let name = format!("{}|{}|{}", self.mpe_id.key(), chain, self.attempt);
        uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
    }
}

/// Namespace for our UUIDv5 message ids.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d70_6561_7070_726f_7665_722d_6d73_6964);

/// The caller's correlation id when it is a valid one, otherwise a new one.
pub fn correlation_or_new(candidate: Option<&str>) -> String {
    candidate.filter(|c| valid_correlation_id(c)).map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

pub fn valid_correlation_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> WorkItem {
        let id = ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe",
        )
        .unwrap();
        WorkItem::new(id, "2026-11-23T10:00:00Z".parse().unwrap(), "corr-1".into(), Origin::EventGrid)
    }

    #[test]
    fn roundtrip_and_ids() {
        let w = item();
        let back = WorkItem::from_json(&w.to_json()).unwrap();
        assert_eq!(back, w);
        assert_eq!(w.message_id(), item().message_id());
        assert_ne!(w.message_id(), w.next().message_id());
        let mut upper = item();
        upper.mpe_id =
            ResourceId::parse(&w.mpe_id.as_str().to_uppercase().replace("/SUBSCRIPTIONS/", "/subscriptions/")).unwrap();
        assert_eq!(upper.message_id(), w.message_id(), "casing must not defeat duplicate detection");
        let mut replay = item();
        replay.origin = Origin::Replay;
        assert_ne!(replay.message_id(), w.message_id());
    }

    fn of(name: &str) -> WorkItem {
        let id = ResourceId::parse(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/managedVirtualNetworks/default/managedPrivateEndpoints/{name}"
        ))
        .unwrap();
        WorkItem::new(id, "2026-11-23T10:00:00Z".parse().unwrap(), format!("corr-{name}"), Origin::EventGrid)
            .with_event_chain(name)
    }

    #[test]
    fn a_batch_is_the_same_message_whoever_gathered_it() {
        let (a, b, c) = (of("a"), of("b"), of("c"));
        let one = WorkItem::batch(vec![c.clone(), a.clone(), b.clone()]).unwrap();
        let two = WorkItem::batch(vec![b.clone(), c.clone(), a.clone()]).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.mpe_id, a.mpe_id, "ordered by MPE id");
        assert_eq!(one.members(), vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(one.message_id(), two.message_id());
        // Other members, another message: duplicate detection never drops one it has not seen.
        let fewer = WorkItem::batch(vec![a.clone(), b.clone()]).unwrap();
        assert_ne!(fewer.message_id(), one.message_id());
        // A batch of one is the item itself, with its own id.
        let alone = WorkItem::batch(vec![a.clone()]).unwrap();
        assert_eq!((alone.message_id(), alone.siblings.len()), (a.message_id(), 0));
        let back = WorkItem::from_json(&one.to_json()).unwrap();
        assert_eq!(back, one);
        assert!(WorkItem::batch(vec![]).is_none());
    }

    #[test]
    fn many_or_large_items_travel_in_several_messages_each_readable() {
        let many: Vec<WorkItem> = (0..MAX_MEMBERS * 2 + 3).map(|i| of(&format!("m{i:03}"))).collect();
        let messages = WorkItem::batches(many.clone());
        assert_eq!(messages.iter().map(|m| m.members().len()).collect::<Vec<_>>(), [MAX_MEMBERS, MAX_MEMBERS, 3]);
        let mut large = many;
        for i in &mut large {
            i.approving = Some("p".repeat(1024));
        }
        let messages = WorkItem::batches(large);
        assert!(messages.len() > 3);
        assert_eq!(messages.iter().map(|m| m.members().len()).sum::<usize>(), MAX_MEMBERS * 2 + 3);
        for m in &messages {
            assert!(m.to_json().len() <= MAX_BODY / 2 + 64, "{}", m.to_json().len());
            assert_eq!(WorkItem::from_json(&m.to_json()).unwrap(), *m);
        }
        assert!(WorkItem::batches(vec![]).is_empty());
    }

    #[test]
    fn two_chains_of_one_mpe_go_on_as_one() {
        let older = of("a");
        let mut newer = of("a").with_event_chain("again");
        newer.first_seen = older.first_seen + chrono::Duration::seconds(30);
        newer.approving = Some("pec-1".into());
        newer.unmatched = 2;
        let batch = WorkItem::batch(vec![newer, older.clone(), of("b")]).unwrap();
        assert_eq!(batch.members().len(), 2);
        assert_eq!((batch.chain.clone(), batch.first_seen), (older.chain, older.first_seen), "the older chain goes on");
        assert_eq!((batch.approving.as_deref(), batch.unmatched), (Some("pec-1"), 2));
    }

    #[test]
    fn siblings_must_be_of_the_parent_once_and_flat() {
        let batch = WorkItem::batch(vec![of("a"), of("b")]).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&batch.to_json()).unwrap();
        let stranger = ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/other/managedVirtualNetworks/default/managedPrivateEndpoints/x",
        )
        .unwrap();
        let mut bad = doc.clone();
        bad["siblings"][0]["mpeId"] = serde_json::json!(stranger.as_str());
        assert!(matches!(WorkItem::from_json(&bad.to_string()), Err(WorkItemError::Siblings(_))));
        let mut twice = doc.clone();
        twice["siblings"][0]["mpeId"] = doc["mpeId"].clone();
        assert!(matches!(WorkItem::from_json(&twice.to_string()), Err(WorkItemError::Siblings(_))));
        let mut nested = doc.clone();
        nested["siblings"][0]["siblings"] = serde_json::json!([serde_json::to_value(of("c")).unwrap()]);
        assert!(matches!(WorkItem::from_json(&nested.to_string()), Err(WorkItemError::Siblings(_))));
        let mut forged = doc.clone();
        forged["siblings"][0]["correlationId"] = serde_json::json!("a b");
        assert!(matches!(WorkItem::from_json(&forged.to_string()), Err(WorkItemError::CorrelationId)));
        let many: Vec<WorkItem> = (0..MAX_MEMBERS + 1).map(|i| of(&format!("m{i}"))).collect();
        let too_many = WorkItem::batch(many).unwrap();
        assert!(matches!(WorkItem::from_json(&too_many.to_json()), Err(WorkItemError::Siblings(_))));
        doc["siblings"] = serde_json::json!([]);
        assert!(WorkItem::from_json(&doc.to_string()).is_ok());
    }

    #[test]
    fn rejects_bad_documents() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"v":2,"mpeId":"x"}"#,
            r#"{"v":1,"mpeId":"/subscriptions/../x","attempt":0,"firstSeen":"2026-01-01T00:00:00Z","correlationId":"c","origin":"eventGrid"}"#,
            r#"{"v":1,"mpeId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe","attempt":-1,"firstSeen":"2026-01-01T00:00:00Z","correlationId":"c","origin":"eventGrid"}"#,
            r#"{"v":1,"mpeId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe","attempt":0,"firstSeen":"2026-01-01T00:00:00Z","correlationId":"c d","origin":"eventGrid"}"#,
            r#"{"v":1,"mpeId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe","attempt":0,"firstSeen":"2026-01-01T00:00:00Z","correlationId":"c","origin":"mars"}"#,
        ] {
            assert!(WorkItem::from_json(bad).is_err(), "accepted {bad}");
        }
        assert!(matches!(WorkItem::from_json(&" ".repeat(70_000)), Err(WorkItemError::TooLarge(_))));
    }
}
