//! The work item: a small, versioned JSON document that travels on the Service Bus queue.
//!
//! ```json
//! {"v":1,"mpeId":"/subscriptions/.../privateEndpoints/pe1","attempt":0,
//!  "firstSeen":"2026-11-23T10:00:00Z","correlationId":"...","origin":"eventGrid"}
//! ```
//! Its `MessageId` is deterministic per MPE, chain and attempt, so the queue's duplicate detection
//! collapses duplicate events for the same MPE; a chain's key (`chain`) is a value no mere sender to the
//! queue knows, so nobody can claim a check's `MessageId` before the check is sent.

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
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Checks of one chain at most: far beyond any schedule within the longest give-up time, so only a
/// forged item carries more.
pub const MAX_ATTEMPT: u32 = 1_000_000;

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
        WorkItem { attempt: self.attempt.saturating_add(1), approving: None, unmatched: 0, ..self.clone() }
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
        if !valid_correlation_id(&item.correlation_id) {
            return Err(WorkItemError::CorrelationId);
        }
        let chain_ok =
            |c: &str| (1..=64).contains(&c.len()) && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if item.chain.as_deref().is_some_and(|c| !chain_ok(c)) {
            return Err(WorkItemError::Chain);
        }
        if item.approving.as_deref().is_some_and(|a| !(1..=1024).contains(&a.len())) {
            return Err(WorkItemError::Approving);
        }
        Ok(item)
    }

    /// Deterministic Service Bus `MessageId`: a UUIDv5 of the MPE id (lower-cased), the chain and the attempt,
    /// so a check sent twice (an invocation retried after its send) collapses in duplicate detection.
    ///
    /// With a chain key ([`WorkItem::chain`]) the id derives from the key: a redelivered event joins its
    /// chain, a new write of the MPE (another event) starts its own, and a sender to the queue who does not
    /// know the key cannot send a message under a check's id first to have the check dropped. Without a key
    /// an Event Grid chain is keyed by the ARM operation's correlation id, a replay by the millisecond it
    /// was requested, a sweep by the hour.
    pub fn message_id(&self) -> String {
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
