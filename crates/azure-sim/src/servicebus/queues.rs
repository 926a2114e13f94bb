//! The simulated Service Bus's queue model: queues with scheduled delivery, duplicate detection, time
//! to live, peek-locks (lock, complete, unlock, renew; locks that expire), delivery counts and
//! dead-lettering, each queue with its dead-letter sub-queue `{queue}/$DeadLetterQueue`.
//!
//! Pure state: every operation is given `now` (no clock, no I/O), so it is unit-tested without HTTP.
//! The shared handle [`crate::servicebus::ServiceBus`] gives it the injected clock's time; the REST
//! layer ([`crate::servicebus::rest`]) translates requests into these operations. A message is never
//! delivered before its scheduled time, twice within the duplicate-detection window, or while it is
//! locked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Duplicate-detection window (simulated time).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Deliveries before a message is dead-lettered (the queue's maxDeliveryCount), unless the queue is
/// given another with [`Namespace::set_max_delivery_count`].
pub const MAX_DELIVERY_COUNT: u32 = 10;
/// How long a peek-lock lasts (the queue's lockDuration, simulated time), unless the queue is given
/// another with [`Namespace::set_lock_duration`]. Service Bus's default is one minute.
pub const LOCK_DURATION: Duration = Duration::from_secs(60);
/// The dead-letter sub-queue's path segment: `{queue}/$DeadLetterQueue`.
pub const DEAD_LETTER_QUEUE: &str = "$DeadLetterQueue";

/// The path of `queue`'s dead-letter sub-queue.
pub fn dead_letter_path(queue: &str) -> String {
    format!("{queue}/{DEAD_LETTER_QUEUE}")
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMessage {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub body: String,
    pub content_type: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub time_to_live: Option<Duration>,
    pub properties: BTreeMap<String, String>,
}

/// A message in a queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SbMessage {
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub body: String,
    pub content_type: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub enqueued_at: DateTime<Utc>,
    /// When it becomes visible (`ScheduledEnqueueTimeUtc`, or the enqueue time).
    pub visible_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub sequence_number: u64,
    /// Deliveries so far, including the one in progress once taken.
    pub delivery_count: u32,
    pub lock_token: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message: SbMessage,
    pub reason: String,
    pub description: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    /// Same MessageId within the window: accepted but dropped.
    Duplicate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    #[error("no queue named {0}")]
    NoQueue(String),
    /// No such lock (wrong message id or token, already settled, or the lock expired).
    #[error("no lock {token} on message {message_id}")]
    NoLock { message_id: String, token: String },
}

/// A message locked by a REST receiver (peek-lock), as the receiver got it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    /// Its `delivery_count` counts this delivery; `lock_token` is the lock's.
    pub message: SbMessage,
    pub locked_until: DateTime<Utc>,
    /// Received from the dead-letter sub-queue: why it was dead-lettered (`DeadLetterReason`).
    pub dead_letter_reason: Option<String>,
    /// `DeadLetterErrorDescription`.
    pub dead_letter_description: Option<String>,
}

/// What a lock holds: a message of the queue or of its dead-letter sub-queue.
#[derive(Debug, Clone)]
enum Entry {
    Active(SbMessage),
    Dead(DeadLetter),
}

impl Entry {
    fn message(&self) -> &SbMessage {
        match self {
            Entry::Active(m) => m,
            Entry::Dead(d) => &d.message,
        }
    }
}

#[derive(Debug, Clone)]
struct Held {
    entry: Entry,
    locked_until: DateTime<Utc>,
}

impl Held {
    fn received(&self) -> Received {
        let (reason, description) = match &self.entry {
            Entry::Active(_) => (None, None),
            Entry::Dead(d) => (Some(d.reason.clone()), Some(d.description.clone())),
        };
        Received {
            message: self.entry.message().clone(),
            locked_until: self.locked_until,
            dead_letter_reason: reason,
            dead_letter_description: description,
        }
    }
}

#[derive(Default)]
struct Queue {
    name: String,
    messages: Vec<SbMessage>,
    dead: Vec<DeadLetter>,
    /// Messages locked by REST receivers (of the queue or its dead-letter sub-queue).
    held: Vec<Held>,
    /// message id → when it was accepted.
    seen: HashMap<String, DateTime<Utc>>,
    /// `None`: [`MAX_DELIVERY_COUNT`].
    max_delivery_count: Option<u32>,
    /// `None`: [`LOCK_DURATION`].
    lock_duration: Option<Duration>,
    /// Injected faults: REST sends / completes still to answer 503.
    fail_sends: u32,
    fail_completes: u32,
    /// Every REST send answered with this status until cleared ([`Namespace::refuse_sends`]).
    refuse_sends: Option<u16>,
    sent: u64,
    duplicates: u64,
    delivered: u64,
    expired: u64,
    locks: u64,
    completes: u64,
    unlocks: u64,
    renewals: u64,
    lock_expiries: u64,
}

impl Queue {
    fn max_delivery_count(&self) -> u32 {
        self.max_delivery_count.unwrap_or(MAX_DELIVERY_COUNT)
    }

    fn lock_duration(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lock_duration.unwrap_or(LOCK_DURATION)).unwrap_or(chrono::Duration::minutes(1))
    }

    fn dead_letter_max(&mut self, m: SbMessage, now: DateTime<Utc>) {
        let description = format!("Message could not be consumed after {} delivery attempts.", m.delivery_count);
        tracing::info!(target: "simulator", queue = %self.name, message_id = %m.message_id, "dead-lettered (max deliveries)");
        self.dead.push(DeadLetter { message: m, reason: "MaxDeliveryCountExceeded".into(), description, at: now });
    }

    /// A message back in its sub-queue (unlocked, or its lock expired); an active one that has used up
    /// its deliveries is dead-lettered instead, as Service Bus does when it is abandoned.
    fn put_back(&mut self, entry: Entry, now: DateTime<Utc>) {
        match entry {
            Entry::Active(m) if m.delivery_count >= self.max_delivery_count() => self.dead_letter_max(m, now),
            Entry::Active(m) => self.messages.push(m),
            Entry::Dead(d) => {
                self.dead.push(d);
                self.dead.sort_by_key(|d| (d.at, d.message.sequence_number));
            }
        }
    }

    /// Release the locks that have expired by `now`.
    fn release_locks(&mut self, now: DateTime<Utc>) {
        let (expired, held): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| h.locked_until <= now);
        self.held = held;
        for h in expired {
            self.lock_expiries += 1;
            self.put_back(h.entry, now);
        }
    }

    /// Release expired locks, and drop the messages whose time to live is over (what a receive does).
    fn tidy(&mut self, now: DateTime<Utc>) {
        self.release_locks(now);
        let before = self.messages.len();
        self.messages.retain(|m| m.expires_at.is_none_or(|e| e > now));
        self.expired += (before - self.messages.len()) as u64;
    }

    fn counts(&self, now: DateTime<Utc>) -> QueueCounts {
        let held_active = self.held.iter().filter(|h| matches!(h.entry, Entry::Active(_))).count();
        QueueCounts {
            active: self.messages.iter().filter(|m| m.visible_at <= now).count() + held_active,
            scheduled: self.messages.iter().filter(|m| m.visible_at > now).count(),
            dead_letter: self.dead.len() + (self.held.len() - held_active),
        }
    }

    fn find_lock(&self, dead_letter: bool, message_id: &str, token: &str) -> Result<usize, BusError> {
        self.held
            .iter()
            .position(|h| {
                let m = h.entry.message();
                matches!(h.entry, Entry::Dead(_)) == dead_letter
                    && m.message_id == message_id
                    && m.lock_token.eq_ignore_ascii_case(token)
            })
            .ok_or_else(|| BusError::NoLock { message_id: message_id.into(), token: token.into() })
    }
}

/// Message counts of a queue now, as ARM's `countDetails` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    /// Visible now or locked (not scheduled, not dead-lettered).
    pub active: usize,
    pub scheduled: usize,
    pub dead_letter: usize,
}

/// `{queue}` or `{queue}/$DeadLetterQueue` → (queue key, dead-letter sub-queue?).
fn split_path(path: &str) -> Result<(String, bool), BusError> {
    match path.split_once('/') {
        None => Ok((path.to_ascii_lowercase(), false)),
        Some((q, sub)) if sub.eq_ignore_ascii_case(DEAD_LETTER_QUEUE) => Ok((q.to_ascii_lowercase(), true)),
        Some(_) => Err(BusError::NoQueue(path.into())),
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReport {
    pub name: String,
    pub sent: u64,
    pub duplicates_dropped: u64,
    pub deliveries: u64,
    pub expired: u64,
    /// Visible now.
    pub active: usize,
    /// Scheduled for later.
    pub scheduled: usize,
    pub dead_lettered: usize,
    /// Locked by REST receivers now (queue and dead-letter sub-queue).
    pub locked: usize,
    /// REST peek-locks, completes, unlocks and renewals so far; locks that expired unsettled.
    pub locks: u64,
    pub completes: u64,
    pub unlocks: u64,
    pub renewals: u64,
    pub lock_expiries: u64,
}

/// The simulated namespace's queues: the queue model, pure state whose operations are given `now`.
#[derive(Default)]
pub struct Namespace {
    queues: BTreeMap<String, Queue>,
    sequence: u64,
}

impl Namespace {
    /// A namespace with these queues, empty.
    pub fn new(queues: &[&str]) -> Self {
        let mut ns = Namespace::default();
        for q in queues {
            ns.queues.insert(q.to_ascii_lowercase(), Queue { name: q.to_string(), ..Default::default() });
        }
        ns
    }

    pub fn has_queue(&self, queue: &str) -> bool {
        self.queues.contains_key(&queue.to_ascii_lowercase())
    }

    /// The queue's name as created (`None` for an unknown queue).
    pub fn queue_name(&self, queue: &str) -> Option<String> {
        self.queues.get(&queue.to_ascii_lowercase()).map(|q| q.name.clone())
    }

    /// Set the queue's maxDeliveryCount (default [`MAX_DELIVERY_COUNT`]; at least 1).
    pub fn set_max_delivery_count(&mut self, queue: &str, n: u32) -> Result<(), BusError> {
        self.queue_mut(queue).map(|q| q.max_delivery_count = Some(n.max(1)))
    }

    /// The queue's maxDeliveryCount ([`MAX_DELIVERY_COUNT`] for an unknown queue).
    pub fn max_delivery_count(&self, queue: &str) -> u32 {
        self.queue(queue).map_or(MAX_DELIVERY_COUNT, Queue::max_delivery_count)
    }

    /// Set the queue's lockDuration (default [`LOCK_DURATION`]).
    pub fn set_lock_duration(&mut self, queue: &str, d: Duration) -> Result<(), BusError> {
        self.queue_mut(queue).map(|q| q.lock_duration = Some(d))
    }

    /// The queue's lockDuration ([`LOCK_DURATION`] for an unknown queue).
    pub fn lock_duration(&self, queue: &str) -> Duration {
        self.queue(queue).and_then(|q| q.lock_duration).unwrap_or(LOCK_DURATION)
    }

    /// The REST layer answers the next `n` sends to `queue` with 503 Service Unavailable (nothing is
    /// enqueued).
    pub fn fail_sends(&mut self, queue: &str, n: u32) -> Result<(), BusError> {
        self.queue_mut(queue).map(|q| q.fail_sends = n)
    }

    /// The REST layer answers every send to `queue` with `status` (401: the sender lacks Azure Service
    /// Bus Data Sender; 403: quota exceeded; 410: no such queue) until called with `None`. Nothing is
    /// enqueued.
    pub fn refuse_sends(&mut self, queue: &str, status: Option<u16>) -> Result<(), BusError> {
        self.queue_mut(queue).map(|q| q.refuse_sends = status)
    }

    /// The status every send to `queue` is refused with ([`Namespace::refuse_sends`]), if any.
    pub fn send_refusal(&self, queue: &str) -> Option<u16> {
        self.queue(queue).and_then(|q| q.refuse_sends)
    }

    /// The REST layer answers the next `n` completes (`DELETE`) on `queue` or its dead-letter sub-queue
    /// with 503 Service Unavailable; the message stays locked.
    pub fn fail_completes(&mut self, queue: &str, n: u32) -> Result<(), BusError> {
        self.queue_mut(queue).map(|q| q.fail_completes = n)
    }

    /// Consume one injected send fault of `queue`, if any is left.
    pub fn take_send_fault(&mut self, queue: &str) -> bool {
        self.queue_mut(queue).is_ok_and(|q| q.fail_sends.checked_sub(1).map(|n| q.fail_sends = n).is_some())
    }

    /// Consume one injected complete fault of `queue`, if any is left.
    pub fn take_complete_fault(&mut self, queue: &str) -> bool {
        self.queue_mut(queue).is_ok_and(|q| q.fail_completes.checked_sub(1).map(|n| q.fail_completes = n).is_some())
    }

    fn queue(&self, queue: &str) -> Option<&Queue> {
        self.queues.get(&queue.to_ascii_lowercase())
    }

    fn queue_mut(&mut self, queue: &str) -> Result<&mut Queue, BusError> {
        self.queues.get_mut(&queue.to_ascii_lowercase()).ok_or_else(|| BusError::NoQueue(queue.into()))
    }

    /// The queue of a path (`{queue}` or `{queue}/$DeadLetterQueue`), tidied to `now`, and whether the
    /// path is its dead-letter sub-queue.
    fn path_mut(&mut self, path: &str, now: DateTime<Utc>) -> Result<(&mut Queue, bool), BusError> {
        let (key, dead_letter) = split_path(path)?;
        let q = self.queues.get_mut(&key).ok_or_else(|| BusError::NoQueue(path.into()))?;
        q.tidy(now);
        Ok((q, dead_letter))
    }

    /// Enqueue at `now`, applying duplicate detection.
    pub fn send(&mut self, queue: &str, m: OutgoingMessage, now: DateTime<Utc>) -> Result<SendOutcome, BusError> {
        self.sequence += 1;
        let seq = self.sequence;
        let q = self.queue_mut(queue)?;
        let window = chrono::Duration::from_std(DUPLICATE_WINDOW).unwrap_or(chrono::Duration::zero());
        q.seen.retain(|_, at| *at + window > now);
        let message_id = m.message_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        q.sent += 1;
        if q.seen.contains_key(&message_id) {
            q.duplicates += 1;
            tracing::debug!(target: "simulator", queue, %message_id, "duplicate dropped");
            return Ok(SendOutcome::Duplicate);
        }
        q.seen.insert(message_id.clone(), now);
        let expires_at =
            m.time_to_live.and_then(|t| chrono::Duration::from_std(t).ok()).and_then(|t| now.checked_add_signed(t));
        q.messages.push(SbMessage {
            message_id,
            correlation_id: m.correlation_id,
            body: m.body,
            content_type: m.content_type,
            properties: m.properties,
            enqueued_at: now,
            visible_at: m.scheduled_at.map_or(now, |s| s.max(now)),
            expires_at,
            sequence_number: seq,
            delivery_count: 0,
            lock_token: String::new(),
        });
        Ok(SendOutcome::Accepted)
    }

    /// Remove and return the messages visible at `now` (a peek-lock receive), oldest first, each with
    /// its delivery count incremented and a fresh lock token. Expired messages are dropped; messages
    /// locked by a REST receiver are not visible.
    pub fn take_due(&mut self, queue: &str, now: DateTime<Utc>) -> Vec<SbMessage> {
        self.take_due_at_most(queue, now, usize::MAX)
    }

    /// [`Namespace::take_due`], at most `max` of them (the oldest first); the others stay in the queue.
    pub fn take_due_at_most(&mut self, queue: &str, now: DateTime<Utc>, max: usize) -> Vec<SbMessage> {
        let Ok(q) = self.queue_mut(queue) else {
            return Vec::new();
        };
        q.tidy(now);
        if max == 0 || !q.messages.iter().any(|m| m.visible_at <= now) {
            return Vec::new();
        }
        // The due ones' places, oldest first, at most `max`; taken out from the last place back, so each
        // `swap_remove` moves in a message already looked at (the queue's order means nothing: receives
        // pick by time and sequence number), and a queue of thousands scheduled costs only what is due.
        let mut places: Vec<usize> = (0..q.messages.len()).filter(|&i| q.messages[i].visible_at <= now).collect();
        places.sort_by_key(|&i| (q.messages[i].visible_at, q.messages[i].sequence_number));
        places.truncate(max);
        places.sort_unstable_by(|a, b| b.cmp(a));
        let mut due: Vec<SbMessage> = places.into_iter().map(|i| q.messages.swap_remove(i)).collect();
        due.sort_by_key(|m| (m.visible_at, m.sequence_number));
        for m in &mut due {
            m.delivery_count += 1;
            m.lock_token = uuid::Uuid::new_v4().to_string();
        }
        q.delivered += due.len() as u64;
        due
    }

    /// Peek-lock the first available message of `path` (`{queue}` or `{queue}/$DeadLetterQueue`) at
    /// `now`: the visible, unlocked, unexpired one with the lowest sequence number (the dead-letter
    /// sub-queue: the oldest dead letter). It gets a fresh lock token and its delivery count counts this
    /// delivery; it stays in its queue, invisible, for the queue's lock duration. A queue message whose
    /// deliveries are already used up (delivery count at the queue's maxDeliveryCount) is dead-lettered
    /// (`MaxDeliveryCountExceeded`) instead and the next one is tried. `Ok(None)`: nothing available.
    pub fn lock(&mut self, path: &str, now: DateTime<Utc>) -> Result<Option<Received>, BusError> {
        let (q, dead_letter) = self.path_mut(path, now)?;
        let locked_until = now.checked_add_signed(q.lock_duration()).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let entry = if dead_letter {
            if q.dead.is_empty() {
                return Ok(None);
            }
            let mut d = q.dead.remove(0);
            d.message.delivery_count += 1;
            d.message.lock_token = uuid::Uuid::new_v4().to_string();
            Entry::Dead(d)
        } else {
            loop {
                let next = q
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.visible_at <= now)
                    .min_by_key(|(_, m)| m.sequence_number)
                    .map(|(i, _)| i);
                let Some(i) = next else {
                    return Ok(None);
                };
                let mut m = q.messages.remove(i);
                if m.delivery_count >= q.max_delivery_count() {
                    q.dead_letter_max(m, now);
                    continue;
                }
                m.delivery_count += 1;
                m.lock_token = uuid::Uuid::new_v4().to_string();
                break Entry::Active(m);
            }
        };
        q.locks += 1;
        q.delivered += 1;
        let held = Held { entry, locked_until };
        let received = held.received();
        q.held.push(held);
        Ok(Some(received))
    }

    /// Complete a locked message: it leaves the queue for good. `Err(NoLock)` when `message_id` holds
    /// no lock `token` in `path` at `now` (wrong token, settled already, or the lock expired).
    pub fn complete(&mut self, path: &str, message_id: &str, token: &str, now: DateTime<Utc>) -> Result<(), BusError> {
        let (q, dead_letter) = self.path_mut(path, now)?;
        let i = q.find_lock(dead_letter, message_id, token)?;
        q.held.remove(i);
        q.completes += 1;
        Ok(())
    }

    /// Unlock (abandon) a locked message: visible again at once, its delivery count kept.
    pub fn unlock(&mut self, path: &str, message_id: &str, token: &str, now: DateTime<Utc>) -> Result<(), BusError> {
        let (q, dead_letter) = self.path_mut(path, now)?;
        let i = q.find_lock(dead_letter, message_id, token)?;
        let held = q.held.remove(i);
        q.unlocks += 1;
        q.put_back(held.entry, now);
        Ok(())
    }

    /// Renew a lock for another lock duration from `now`. Returns the new `LockedUntilUtc`.
    pub fn renew_lock(
        &mut self,
        path: &str,
        message_id: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, BusError> {
        let (q, dead_letter) = self.path_mut(path, now)?;
        let i = q.find_lock(dead_letter, message_id, token)?;
        let until = now.checked_add_signed(q.lock_duration()).unwrap_or(DateTime::<Utc>::MAX_UTC);
        q.held[i].locked_until = until;
        q.renewals += 1;
        Ok(until)
    }

    /// The locks REST receivers hold at `now` on `path` (`{queue}` or `{queue}/$DeadLetterQueue`).
    pub fn locked(&mut self, path: &str, now: DateTime<Utc>) -> Vec<Received> {
        let Ok((q, dead_letter)) = self.path_mut(path, now) else {
            return Vec::new();
        };
        q.held.iter().filter(|h| matches!(h.entry, Entry::Dead(_)) == dead_letter).map(Held::received).collect()
    }

    /// Abandon a taken message: visible again at `now`.
    pub fn redeliver(&mut self, queue: &str, mut m: SbMessage, now: DateTime<Utc>) {
        if let Ok(q) = self.queue_mut(queue) {
            m.visible_at = now;
            q.messages.push(m);
        }
    }

    /// Move a taken message to the queue's dead-letter sub-queue at `now`.
    pub fn dead_letter(&mut self, queue: &str, m: SbMessage, reason: &str, description: &str, now: DateTime<Utc>) {
        if let Ok(q) = self.queue_mut(queue) {
            tracing::info!(target: "simulator", queue, message_id = %m.message_id, reason, "dead-lettered");
            q.dead.push(DeadLetter { message: m, reason: reason.into(), description: description.into(), at: now });
        }
    }

    /// Every message in the queue at `now`, visible, scheduled or locked by a REST receiver, without
    /// taking it.
    pub fn peek(&mut self, queue: &str, now: DateTime<Utc>) -> Vec<SbMessage> {
        let Ok(q) = self.queue_mut(queue) else {
            return Vec::new();
        };
        q.release_locks(now);
        let mut v = q.messages.clone();
        v.extend(q.held.iter().filter_map(|h| match &h.entry {
            Entry::Active(m) => Some(m.clone()),
            Entry::Dead(_) => None,
        }));
        v.sort_by_key(|m| m.sequence_number);
        v
    }

    /// The queue's dead-letter sub-queue at `now`, locked dead letters included, oldest first.
    pub fn dead_letters(&mut self, queue: &str, now: DateTime<Utc>) -> Vec<DeadLetter> {
        let Ok(q) = self.queue_mut(queue) else {
            return Vec::new();
        };
        q.release_locks(now);
        let mut v = q.dead.clone();
        v.extend(q.held.iter().filter_map(|h| match &h.entry {
            Entry::Dead(d) => Some(d.clone()),
            Entry::Active(_) => None,
        }));
        v.sort_by_key(|d| (d.at, d.message.sequence_number));
        v
    }

    /// The queue's message counts at `now` (`None` for an unknown queue).
    pub fn counts(&mut self, queue: &str, now: DateTime<Utc>) -> Option<QueueCounts> {
        let q = self.queue_mut(queue).ok()?;
        q.release_locks(now);
        Some(q.counts(now))
    }

    /// Every queue's counters and counts at `now`.
    pub fn report(&mut self, now: DateTime<Utc>) -> Vec<QueueReport> {
        self.queues
            .values_mut()
            .map(|q| {
                q.release_locks(now);
                let c = q.counts(now);
                QueueReport {
                    name: q.name.clone(),
                    sent: q.sent,
                    duplicates_dropped: q.duplicates,
                    deliveries: q.delivered,
                    expired: q.expired,
                    active: c.active,
                    scheduled: c.scheduled,
                    dead_lettered: c.dead_letter,
                    locked: q.held.len(),
                    locks: q.locks,
                    completes: q.completes,
                    unlocks: q.unlocks,
                    renewals: q.renewals,
                    lock_expiries: q.lock_expiries,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        t0 + chrono::Duration::seconds(secs)
    }

    fn msg(id: &str) -> OutgoingMessage {
        OutgoingMessage { message_id: Some(id.into()), body: id.into(), ..Default::default() }
    }

    /// A host with free slots takes only as many due messages; the rest stay, oldest first next time.
    #[test]
    fn take_due_at_most_leaves_the_rest_in_the_queue() {
        let mut ns = Namespace::new(&["work"]);
        let now = Utc::now();
        for id in ["m1", "m2", "m3"] {
            ns.send("work", msg(id), now).unwrap();
        }
        assert!(ns.take_due_at_most("work", now, 0).is_empty());
        let first: Vec<String> = ns.take_due_at_most("work", now, 2).into_iter().map(|m| m.message_id).collect();
        assert_eq!(first, ["m1", "m2"]);
        let rest = ns.take_due("work", now);
        assert_eq!((rest.len(), rest[0].message_id.as_str(), rest[0].delivery_count), (1, "m3", 1));
    }

    #[test]
    fn duplicates_are_dropped_within_the_window() {
        let mut ns = Namespace::new(&["work", "parked"]);
        let now = Utc::now();
        let m = msg("m1");
        assert_eq!(ns.send("work", m.clone(), now).unwrap(), SendOutcome::Accepted);
        assert_eq!(ns.send("WORK", m.clone(), now).unwrap(), SendOutcome::Duplicate);
        assert_eq!(ns.peek("work", now).len(), 1);
        assert_eq!(ns.send("nope", m, now).unwrap_err(), BusError::NoQueue("nope".into()));
        assert_eq!(ns.report(now)[1].duplicates_dropped, 1);
    }

    #[test]
    fn duplicate_window_expires_after_ten_minutes() {
        let mut ns = Namespace::new(&["work"]);
        let t0 = Utc::now();
        assert_eq!(ns.send("work", msg("m1"), t0).unwrap(), SendOutcome::Accepted);
        assert_eq!(ns.send("work", msg("m1"), at(t0, 599)).unwrap(), SendOutcome::Duplicate);
        assert_eq!(ns.send("work", msg("m1"), at(t0, 601)).unwrap(), SendOutcome::Accepted);
        assert_eq!(ns.peek("work", at(t0, 601)).len(), 2);
    }

    #[test]
    fn expired_messages_are_dropped() {
        let mut ns = Namespace::new(&["work"]);
        let t0 = Utc::now();
        let m = OutgoingMessage { body: "a".into(), time_to_live: Some(Duration::from_secs(60)), ..Default::default() };
        ns.send("work", m, t0).unwrap();
        assert!(ns.take_due("work", at(t0, 61)).is_empty());
        assert_eq!(ns.report(at(t0, 61))[0].expired, 1);
    }

    #[test]
    fn scheduled_messages_wait() {
        let mut ns = Namespace::new(&["work"]);
        let t0 = Utc::now();
        let later = OutgoingMessage { body: "later".into(), scheduled_at: Some(at(t0, 60)), ..Default::default() };
        ns.send("work", later, t0).unwrap();
        ns.send("work", OutgoingMessage { body: "now".into(), ..Default::default() }, t0).unwrap();
        let due = ns.take_due("work", t0);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "now");
        assert_eq!(due[0].delivery_count, 1);
        assert!(ns.take_due("work", at(t0, 59)).is_empty());
        let due = ns.take_due("work", at(t0, 70));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "later");
        ns.redeliver("work", due[0].clone(), at(t0, 70));
        assert_eq!(ns.take_due("work", at(t0, 70))[0].delivery_count, 2);
    }

    #[test]
    fn a_lock_hides_the_message_until_it_expires() {
        let mut ns = Namespace::new(&["work"]);
        let t0 = Utc::now();
        ns.send("work", msg("a"), t0).unwrap();
        ns.send("work", msg("b"), t0).unwrap();
        let r = ns.lock("WORK", t0).unwrap().unwrap();
        assert_eq!((r.message.message_id.as_str(), r.message.delivery_count), ("a", 1));
        assert!(uuid::Uuid::parse_str(&r.message.lock_token).is_ok());
        assert_eq!(r.locked_until, at(t0, 60));
        // Locked: not locked twice, not handed to the host, still in the queue.
        assert_eq!(ns.lock("work", t0).unwrap().unwrap().message.message_id, "b");
        assert!(ns.lock("work", t0).unwrap().is_none());
        assert!(ns.take_due("work", t0).is_empty());
        assert_eq!(ns.peek("work", t0).len(), 2);
        assert_eq!(ns.locked("work", t0).len(), 2);
        assert_eq!(ns.counts("work", t0), Some(QueueCounts { active: 2, scheduled: 0, dead_letter: 0 }));
        let t1 = at(t0, 61);
        let again = ns.lock("work", t1).unwrap().unwrap();
        assert_eq!((again.message.message_id.as_str(), again.message.delivery_count), ("a", 2));
        assert_ne!(again.message.lock_token, r.message.lock_token);
        // The expired lock settles nothing.
        assert!(matches!(ns.complete("work", "a", &r.message.lock_token, t1), Err(BusError::NoLock { .. })));
        ns.complete("work", "a", &again.message.lock_token.to_uppercase(), t1).unwrap();
        assert!(ns.complete("work", "a", &again.message.lock_token, t1).is_err(), "completed once");
        // "b"'s lock expired too: the host may take it now.
        assert_eq!(ns.take_due("work", t1).len(), 1);
        let rep = &ns.report(t1)[0];
        assert_eq!((rep.locks, rep.completes, rep.lock_expiries, rep.locked), (3, 1, 2, 0));
    }

    #[test]
    fn unlock_keeps_the_delivery_count_and_renew_extends_the_lock() {
        let mut ns = Namespace::new(&["work"]);
        let t0 = Utc::now();
        ns.set_lock_duration("work", Duration::from_secs(30)).unwrap();
        assert_eq!(ns.lock_duration("WORK"), Duration::from_secs(30));
        assert_eq!(ns.lock_duration("nope"), LOCK_DURATION);
        ns.send("work", msg("a"), t0).unwrap();
        let r = ns.lock("work", t0).unwrap().unwrap();
        assert!(ns.unlock("work", "a", "00000000-0000-0000-0000-000000000000", t0).is_err());
        assert!(ns.unlock("work", "other", &r.message.lock_token, t0).is_err());
        ns.unlock("work", "a", &r.message.lock_token, t0).unwrap();
        let r = ns.lock("work", t0).unwrap().unwrap();
        assert_eq!(r.message.delivery_count, 2);
        let until = ns.renew_lock("work", "a", &r.message.lock_token, at(t0, 20)).unwrap();
        assert_eq!(until, at(t0, 50));
        assert!(ns.lock("work", at(t0, 40)).unwrap().is_none(), "renewed: still locked 40 s after the lock");
        ns.complete("work", "a", &r.message.lock_token, at(t0, 40)).unwrap();
        assert!(ns.peek("work", at(t0, 40)).is_empty());
        // A lock on the main queue is not one on the dead-letter queue.
        assert!(ns.lock("work/nope", t0).is_err());
        assert!(ns.lock("nope", t0).is_err());
    }

    #[test]
    fn used_up_deliveries_go_to_the_dead_letter_queue_which_is_receivable() {
        let mut ns = Namespace::new(&["work"]);
        let mut now = Utc::now();
        assert_eq!(ns.max_delivery_count("work"), MAX_DELIVERY_COUNT);
        ns.set_max_delivery_count("work", 2).unwrap();
        assert_eq!(ns.max_delivery_count("Work"), 2);
        ns.send("work", msg("a"), now).unwrap();
        for _ in 0..2 {
            let r = ns.lock("work", now).unwrap().unwrap();
            now = at(now, 61);
            assert!(ns.complete("work", "a", &r.message.lock_token, now).is_err());
        }
        // The second lock expired with its deliveries used up: dead-lettered.
        assert!(ns.lock("work", now).unwrap().is_none());
        let dl = ns.dead_letters("work", now);
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].reason, "MaxDeliveryCountExceeded");
        assert_eq!(ns.counts("work", now), Some(QueueCounts { active: 0, scheduled: 0, dead_letter: 1 }));
        let dlq = dead_letter_path("work");
        let r = ns.lock(&dlq, now).unwrap().unwrap();
        assert_eq!(r.dead_letter_reason.as_deref(), Some("MaxDeliveryCountExceeded"));
        assert_eq!(r.message.delivery_count, 3);
        assert!(ns.lock(&dlq, now).unwrap().is_none());
        assert_eq!(ns.dead_letters("work", now).len(), 1, "a locked dead letter is still in the DLQ");
        assert!(ns.complete("work", "a", &r.message.lock_token, now).is_err(), "the lock is the DLQ's");
        ns.complete("work/$deadletterqueue", "a", &r.message.lock_token, now).unwrap();
        assert!(ns.dead_letters("work", now).is_empty());

        // A message the host already delivered up to the maximum is dead-lettered when locked.
        ns.send("work", msg("b"), now).unwrap();
        for _ in 0..2 {
            let m = ns.take_due("work", now).pop().unwrap();
            ns.redeliver("work", m, now);
        }
        assert!(ns.lock("work", now).unwrap().is_none());
        assert_eq!(ns.dead_letters("work", now)[0].message.message_id, "b");
    }

    #[test]
    fn injected_faults_are_counted_down() {
        let mut ns = Namespace::new(&["work"]);
        ns.fail_sends("work", 2).unwrap();
        ns.fail_completes("WORK", 1).unwrap();
        assert!(ns.fail_sends("nope", 1).is_err());
        assert!(ns.take_send_fault("work") && ns.take_send_fault("work") && !ns.take_send_fault("work"));
        assert!(ns.take_complete_fault("work") && !ns.take_complete_fault("work"));
        assert!(!ns.take_send_fault("nope"));
        assert_eq!(ns.send_refusal("work"), None);
        ns.refuse_sends("work", Some(403)).unwrap();
        assert_eq!(ns.send_refusal("Work"), Some(403));
        ns.refuse_sends("work", None).unwrap();
        assert_eq!(ns.send_refusal("work"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("Work/$DeadLetterQueue"), Ok(("work".into(), true)));
        assert_eq!(split_path("Work"), Ok(("work".into(), false)));
        assert!(split_path("work/x").is_err());
        assert_eq!(dead_letter_path("work"), "work/$DeadLetterQueue");
    }
}
