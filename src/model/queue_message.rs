//! Service Bus messages as data: the message we send ([`OutgoingMessage`]), a message received with
//! peek-lock ([`LockedMessage`]), the application property names we set ([`props`]), the dead-letter
//! sub-queue's path. No I/O: the REST client (`servicebus`) sends and receives them, and pure code
//! (`replay`) reads them without it.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Application property names we set. They travel as HTTP headers, whose names HTTP clients lower-case
/// (HTTP/2 requires it), so Service Bus stores them lower-case: name them as they will be read.
pub mod props {
    /// Why an item was parked.
    pub const PARK_REASON: &str = "parkreason";
    /// Its stable code (`decision::ParkCode`), for filters and replays.
    pub const PARK_CODE: &str = "parkcode";
    /// The function that parked it.
    pub const PARKED_BY: &str = "parkedby";
    /// When (RFC 3339).
    pub const PARKED_AT: &str = "parkedat";
    /// The MPE the message is about.
    pub const MPE_ID: &str = "mpeid";
    /// The check number of a work item.
    pub const ATTEMPT: &str = "attempt";
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub body: String,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub scheduled_enqueue_utc: Option<DateTime<Utc>>,
    pub time_to_live: Option<Duration>,
    /// Application properties, sent as HTTP headers; names are lower-case on the wire (see [`props`]).
    pub properties: Vec<(String, String)>,
}

/// A message received with **peek-lock**: it stays in its queue, invisible to others, until it is
/// completed (removed), unlocked (visible again at once) or its lock expires (visible again then).
/// Every lock counts as a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedMessage {
    /// The queue path it came from: `<queue>` or `<queue>/$DeadLetterQueue`.
    pub queue: String,
    pub body: String,
    pub message_id: String,
    pub lock_token: String,
    pub sequence_number: Option<u64>,
    pub delivery_count: u32,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub correlation_id: Option<String>,
    /// Application properties: header names lower-cased, JSON-string values unquoted.
    pub properties: BTreeMap<String, String>,
}

impl LockedMessage {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// The dead-letter sub-queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}/$DeadLetterQueue")
}
