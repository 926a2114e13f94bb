//! The simulated Service Bus: queues with scheduled delivery, duplicate detection, dead-lettering, and
//! the REST runtime API under `{base}/servicebus/`: send (`POST {queue}/messages`), peek-lock (`POST
//! {queuePath}/messages/head`), complete (`DELETE {queuePath}/messages/{messageId}/{lockToken}`),
//! unlock (`PUT` the same) and renew-lock (`POST` the same), where `{queuePath}` is `{queue}` or its
//! dead-letter sub-queue `{queue}/$DeadLetterQueue`.
//!
//! Written from Microsoft's Service Bus REST reference: "Send Message", "Peek-Lock Message
//! (Non-Destructive Read)", "Unlock Message", "Delete Message" and "Renew-Lock for a Message"
//! (<https://learn.microsoft.com/rest/api/servicebus/peek-lock-message-non-destructive-read> and its
//! siblings), and the runtime API's message properties (`BrokerProperties`, RFC 1123 dates, custom
//! properties as headers).
//!
//! Time is the injected clock's. The Functions-host emulator takes messages from here (`take_due`) and
//! settles them (`redeliver`, `dead_letter`); a REST receiver locks them instead (the message stays in
//! its queue, invisible to `take_due` and to other receivers, until completed, unlocked, or its lock
//! expires). This file must never panic on a request, and never deliver a message before its scheduled
//! time, twice within the duplicate-detection window, or while it is locked.

use crate::app_state::AppState;
use crate::clock::SharedClock;
use crate::sync::lock;
use crate::tokens::SERVICEBUS_AUDIENCE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Duplicate-detection window (simulated time).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Deliveries before a message is dead-lettered (the queue's maxDeliveryCount), unless the queue is
/// given another with [`ServiceBus::set_max_delivery_count`].
pub const MAX_DELIVERY_COUNT: u32 = 10;
/// How long a peek-lock lasts (the queue's lockDuration, simulated time), unless the queue is given
/// another with [`ServiceBus::set_lock_duration`]. Service Bus's default is one minute.
pub const LOCK_DURATION: Duration = Duration::from_secs(60);
/// The dead-letter sub-queue's path segment: `{queue}/$DeadLetterQueue`.
pub const DEAD_LETTER_QUEUE: &str = "$DeadLetterQueue";
/// What Service Bus reports as `TimeToLive` for a message sent without one (the queue's default
/// `defaultMessageTimeToLive`, `TimeSpan.MaxValue`), in seconds.
const DEFAULT_TTL_SECS: f64 = 922_337_203_685.477_5;

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
    /// Every REST send answered with this status until cleared ([`ServiceBus::refuse_sends`]).
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

/// Handle to the simulated namespace. Clones share the queues.
#[derive(Clone)]
pub struct ServiceBus {
    inner: Arc<Mutex<BusInner>>,
    clock: SharedClock,
}

#[derive(Default)]
struct BusInner {
    queues: BTreeMap<String, Queue>,
    sequence: u64,
}

impl ServiceBus {
    pub fn new(clock: SharedClock, queues: &[&str]) -> Self {
        let mut inner = BusInner::default();
        for q in queues {
            inner.queues.insert(q.to_ascii_lowercase(), Queue { name: q.to_string(), ..Default::default() });
        }
        ServiceBus { inner: Arc::new(Mutex::new(inner)), clock }
    }

    pub fn has_queue(&self, queue: &str) -> bool {
        lock(&self.inner).queues.contains_key(&queue.to_ascii_lowercase())
    }

    /// The queue's name as created (`None` for an unknown queue).
    pub fn queue_name(&self, queue: &str) -> Option<String> {
        lock(&self.inner).queues.get(&queue.to_ascii_lowercase()).map(|q| q.name.clone())
    }

    /// Set the queue's maxDeliveryCount (default [`MAX_DELIVERY_COUNT`]; at least 1).
    pub fn set_max_delivery_count(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with_queue(queue, |q| q.max_delivery_count = Some(n.max(1)))
    }

    /// The queue's maxDeliveryCount ([`MAX_DELIVERY_COUNT`] for an unknown queue).
    pub fn max_delivery_count(&self, queue: &str) -> u32 {
        self.with_queue(queue, |q| q.max_delivery_count()).unwrap_or(MAX_DELIVERY_COUNT)
    }

    /// Set the queue's lockDuration (default [`LOCK_DURATION`]).
    pub fn set_lock_duration(&self, queue: &str, d: Duration) -> Result<(), BusError> {
        self.with_queue(queue, |q| q.lock_duration = Some(d))
    }

    /// The queue's lockDuration ([`LOCK_DURATION`] for an unknown queue).
    pub fn lock_duration(&self, queue: &str) -> Duration {
        self.with_queue(queue, |q| q.lock_duration.unwrap_or(LOCK_DURATION)).unwrap_or(LOCK_DURATION)
    }

    /// Answer the next `n` REST sends to `queue` with 503 Service Unavailable (nothing is enqueued).
    pub fn fail_sends(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with_queue(queue, |q| q.fail_sends = n)
    }

    /// Answer every REST send to `queue` with `status` (401: the sender lacks Azure Service Bus Data
    /// Sender; 403: quota exceeded; 410: no such queue) until called with `None`. Nothing is enqueued.
    pub fn refuse_sends(&self, queue: &str, status: Option<u16>) -> Result<(), BusError> {
        self.with_queue(queue, |q| q.refuse_sends = status)
    }

    fn send_refusal(&self, queue: &str) -> Option<u16> {
        self.with_queue(queue, |q| q.refuse_sends).ok().flatten()
    }

    /// Answer the next `n` REST completes (`DELETE`) on `queue` or its dead-letter sub-queue with 503
    /// Service Unavailable; the message stays locked.
    pub fn fail_completes(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with_queue(queue, |q| q.fail_completes = n)
    }

    /// Consume one injected send fault of `queue`, if any is left.
    fn take_send_fault(&self, queue: &str) -> bool {
        self.with_queue(queue, |q| q.fail_sends.checked_sub(1).map(|n| q.fail_sends = n).is_some()).unwrap_or(false)
    }

    fn take_complete_fault(&self, queue: &str) -> bool {
        self.with_queue(queue, |q| q.fail_completes.checked_sub(1).map(|n| q.fail_completes = n).is_some())
            .unwrap_or(false)
    }

    fn with_queue<T>(&self, queue: &str, f: impl FnOnce(&mut Queue) -> T) -> Result<T, BusError> {
        let mut inner = lock(&self.inner);
        let q = inner.queues.get_mut(&queue.to_ascii_lowercase()).ok_or_else(|| BusError::NoQueue(queue.into()))?;
        Ok(f(q))
    }

    /// The queue for a path (`{queue}` or `{queue}/$DeadLetterQueue`), tidied to `now`.
    fn with_path<T>(
        &self,
        path: &str,
        f: impl FnOnce(&mut Queue, bool, DateTime<Utc>) -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let now = self.clock.now();
        let (key, dead_letter) = split_path(path)?;
        let mut inner = lock(&self.inner);
        let q = inner.queues.get_mut(&key).ok_or_else(|| BusError::NoQueue(path.into()))?;
        q.tidy(now);
        f(q, dead_letter, now)
    }

    /// Enqueue, applying duplicate detection.
    pub fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, BusError> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        inner.sequence += 1;
        let seq = inner.sequence;
        let q = inner.queues.get_mut(&queue.to_ascii_lowercase()).ok_or_else(|| BusError::NoQueue(queue.into()))?;
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

    /// Remove and return the messages visible now (a peek-lock receive), oldest first, each with its
    /// delivery count incremented and a fresh lock token. Expired messages are dropped; messages locked
    /// by a REST receiver are not visible.
    pub fn take_due(&self, queue: &str) -> Vec<SbMessage> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) else {
            return Vec::new();
        };
        q.tidy(now);
        let (mut due, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut q.messages).into_iter().partition(|m| m.visible_at <= now);
        q.messages = rest;
        due.sort_by_key(|m| (m.visible_at, m.sequence_number));
        for m in &mut due {
            m.delivery_count += 1;
            m.lock_token = uuid::Uuid::new_v4().to_string();
        }
        q.delivered += due.len() as u64;
        due
    }

    /// Peek-lock the first available message of `path` (`{queue}` or `{queue}/$DeadLetterQueue`): the
    /// visible, unlocked, unexpired one with the lowest sequence number (the dead-letter sub-queue: the
    /// oldest dead letter). It gets a fresh lock token and its delivery count counts this delivery; it
    /// stays in its queue, invisible, for the queue's lock duration. A queue message whose deliveries
    /// are already used up (delivery count at the queue's maxDeliveryCount) is dead-lettered
    /// (`MaxDeliveryCountExceeded`) instead and the next one is tried. `Ok(None)`: nothing available.
    pub fn lock(&self, path: &str) -> Result<Option<Received>, BusError> {
        self.with_path(path, |q, dead_letter, now| {
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
        })
    }

    /// Complete a locked message: it leaves the queue for good. `Err(NoLock)` when `message_id` holds
    /// no lock `token` in `path` (wrong token, settled already, or the lock expired).
    pub fn complete(&self, path: &str, message_id: &str, token: &str) -> Result<(), BusError> {
        self.with_path(path, |q, dead_letter, _| {
            let i = q.find_lock(dead_letter, message_id, token)?;
            q.held.remove(i);
            q.completes += 1;
            Ok(())
        })
    }

    /// Unlock (abandon) a locked message: visible again at once, its delivery count kept.
    pub fn unlock(&self, path: &str, message_id: &str, token: &str) -> Result<(), BusError> {
        self.with_path(path, |q, dead_letter, now| {
            let i = q.find_lock(dead_letter, message_id, token)?;
            let held = q.held.remove(i);
            q.unlocks += 1;
            q.put_back(held.entry, now);
            Ok(())
        })
    }

    /// Renew a lock for another lock duration from now. Returns the new `LockedUntilUtc`.
    pub fn renew_lock(&self, path: &str, message_id: &str, token: &str) -> Result<DateTime<Utc>, BusError> {
        self.with_path(path, |q, dead_letter, now| {
            let i = q.find_lock(dead_letter, message_id, token)?;
            let until = now.checked_add_signed(q.lock_duration()).unwrap_or(DateTime::<Utc>::MAX_UTC);
            q.held[i].locked_until = until;
            q.renewals += 1;
            Ok(until)
        })
    }

    /// The locks REST receivers hold now on `path` (`{queue}` or `{queue}/$DeadLetterQueue`).
    pub fn locked(&self, path: &str) -> Vec<Received> {
        self.with_path(path, |q, dead_letter, _| {
            Ok(q.held.iter().filter(|h| matches!(h.entry, Entry::Dead(_)) == dead_letter).map(Held::received).collect())
        })
        .unwrap_or_default()
    }

    /// Abandon a taken message: visible again at once.
    pub fn redeliver(&self, queue: &str, mut m: SbMessage) {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        if let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) {
            m.visible_at = now;
            q.messages.push(m);
        }
    }

    pub fn dead_letter(&self, queue: &str, m: SbMessage, reason: &str, description: &str) {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        if let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) {
            tracing::info!(target: "simulator", queue, message_id = %m.message_id, reason, "dead-lettered");
            q.dead.push(DeadLetter { message: m, reason: reason.into(), description: description.into(), at: now });
        }
    }

    /// Every message in the queue, visible, scheduled or locked by a REST receiver, without taking it.
    pub fn peek(&self, queue: &str) -> Vec<SbMessage> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) else {
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

    /// The queue's dead-letter sub-queue, locked dead letters included, oldest first.
    pub fn dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let Some(q) = inner.queues.get_mut(&queue.to_ascii_lowercase()) else {
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

    /// The queue's message counts now (`None` for an unknown queue).
    pub fn counts(&self, queue: &str) -> Option<QueueCounts> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        let q = inner.queues.get_mut(&queue.to_ascii_lowercase())?;
        q.release_locks(now);
        Some(Self::counts_of(q, now))
    }

    fn counts_of(q: &Queue, now: DateTime<Utc>) -> QueueCounts {
        let held_active = q.held.iter().filter(|h| matches!(h.entry, Entry::Active(_))).count();
        QueueCounts {
            active: q.messages.iter().filter(|m| m.visible_at <= now).count() + held_active,
            scheduled: q.messages.iter().filter(|m| m.visible_at > now).count(),
            dead_letter: q.dead.len() + (q.held.len() - held_active),
        }
    }

    pub fn report(&self) -> Vec<QueueReport> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        inner
            .queues
            .values_mut()
            .map(|q| {
                q.release_locks(now);
                let c = Self::counts_of(q, now);
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

/// Headers that are transport, not application properties.
const NOT_PROPERTIES: &[&str] = &[
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "transfer-encoding",
    "expect",
    "x-ms-version",
    "x-ms-client-request-id",
    "traceparent",
    "tracestate",
];

/// `"abc"` → `abc`; anything else as is.
fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        if let Ok(serde_json::Value::String(s)) = serde_json::from_str::<serde_json::Value>(v) {
            return s;
        }
    }
    v.to_string()
}

fn sb_error(status: StatusCode, detail: &str) -> Response {
    let body =
        format!("<Error><Code>{}</Code><Detail>{}</Detail></Error>", status.as_u16(), detail.replace('<', "&lt;"));
    (status, [("content-type", "application/xml; charset=utf-8")], body).into_response()
}

/// Parse the `BrokerProperties` header into the message.
fn apply_broker_properties(raw: &str, m: &mut OutgoingMessage) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("BrokerProperties is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("BrokerProperties is not a JSON object")?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
    m.message_id = text("MessageId");
    m.correlation_id = text("CorrelationId");
    if let Some(s) = obj.get("ScheduledEnqueueTimeUtc") {
        let s = s.as_str().ok_or("ScheduledEnqueueTimeUtc is not a string")?;
        let t = httpdate::parse_http_date(s)
            .map_err(|_| format!("ScheduledEnqueueTimeUtc {s:?} is not an RFC 1123 date"))?;
        m.scheduled_at = Some(DateTime::<Utc>::from(t));
    }
    if let Some(ttl) = obj.get("TimeToLive") {
        let secs = ttl
            .as_f64()
            .or_else(|| ttl.as_str().and_then(|s| s.parse().ok()))
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or("TimeToLive must be a positive number of seconds")?;
        m.time_to_live = Duration::try_from_secs_f64(secs).ok();
    }
    Ok(())
}

/// Every request under `{base}/servicebus/`: the runtime REST API on `{queuePath}` = `{queue}` or
/// `{queue}/$DeadLetterQueue`.
///
/// - `POST {queue}/messages`: send ("Send Message"): 201.
/// - `POST {queuePath}/messages/head?timeout=N`: peek-lock ("Peek-Lock Message (Non-Destructive
///   Read)"): 201 with the body, `BrokerProperties`, one header per application property (a JSON
///   value) and `Location: {base}/servicebus/{queuePath}/messages/{messageId}/{lockToken}`; 204 at
///   once when nothing is available (the simulator never waits out `timeout`).
/// - `DELETE {queuePath}/messages/{messageId}/{lockToken}`: complete ("Delete Message"); `PUT`:
///   unlock ("Unlock Message"); `POST`: renew the lock ("Renew-Lock for a Message"). 200, or 404 when
///   no such lock is held (wrong token, settled, or expired).
///
/// 401 without a bearer token for Service Bus's audience; 410 Gone for an unknown queue.
pub async fn handler(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = lock(&st.tokens).check(&headers, SERVICEBUS_AUDIENCE) {
        return sb_error(StatusCode::UNAUTHORIZED, &format!("{}: {}", why.code, why.message));
    }
    let rest = uri.path().strip_prefix("/servicebus/").unwrap_or_default();
    let Some(segs) = rest.split('/').map(percent_decode).collect::<Option<Vec<String>>>() else {
        return sb_error(StatusCode::BAD_REQUEST, "the path is not valid percent-encoded UTF-8");
    };
    let dlq = segs.get(1).is_some_and(|s| s.eq_ignore_ascii_case(DEAD_LETTER_QUEUE));
    let (queue_segs, op) = segs.split_at(if dlq { 2 } else { 1 }.min(segs.len()));
    let Some(queue) = queue_segs.first().filter(|q| !q.is_empty()) else {
        return sb_error(StatusCode::NOT_FOUND, "no entity path");
    };
    let Some(name) = st.bus.queue_name(queue) else {
        return sb_error(StatusCode::GONE, &format!("no queue named {queue}"));
    };
    let path = if dlq { dead_letter_path(&name) } else { name };
    let op: Vec<&str> = op.iter().map(String::as_str).collect();
    match (op.as_slice(), &method) {
        (["messages"], &Method::POST) if !dlq => send(&st, &path, &headers, body),
        (["messages"], &Method::POST) => sb_error(StatusCode::BAD_REQUEST, "cannot send to a dead-letter queue"),
        (["messages", "head"], &Method::POST) => peek_lock(&st, &path),
        (["messages", message_id, token], m) if [Method::DELETE, Method::PUT, Method::POST].contains(m) => {
            settle(&st, &path, m, message_id, token)
        }
        (["messages"] | ["messages", "head"] | ["messages", _, _], m) => {
            sb_error(StatusCode::METHOD_NOT_ALLOWED, &format!("{m} is not supported here"))
        }
        _ => sb_error(StatusCode::NOT_FOUND, &format!("no such resource {}", uri.path())),
    }
}

/// `POST {queue}/messages`.
fn send(st: &AppState, queue: &str, headers: &HeaderMap, body: Bytes) -> Response {
    if let Some(status) = st.bus.send_refusal(queue) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        // Service Bus's words for a token without the Send claim (its REST error body is XML).
        let detail = match status.as_u16() {
            401 => format!("Unauthorized access. 'Send' claim(s) are required to perform this operation. Resource: 'sb://sim/{queue}'."),
            403 => format!("The maximum entity size has been reached or exceeded for Queue: '{queue}'. QuotaExceeded."),
            _ => format!("refused by the simulator for {queue}"),
        };
        return sb_error(status, &detail);
    }
    if st.bus.take_send_fault(queue) {
        tracing::debug!(target: "simulator", queue, "injected Service Bus send fault");
        return sb_error(StatusCode::SERVICE_UNAVAILABLE, "Injected by the simulator. Please retry.");
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return sb_error(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let mut m = OutgoingMessage { body: text, ..Default::default() };
    if let Some(bp) = headers.get("brokerproperties") {
        let Ok(raw) = bp.to_str() else {
            return sb_error(StatusCode::BAD_REQUEST, "BrokerProperties is not ASCII");
        };
        if let Err(why) = apply_broker_properties(raw, &mut m) {
            return sb_error(StatusCode::BAD_REQUEST, &why);
        }
    }
    m.content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    for (name, value) in headers {
        let n = name.as_str();
        if NOT_PROPERTIES.contains(&n) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            m.properties.insert(n.to_string(), unquote(v));
        }
    }
    match st.bus.send(queue, m) {
        Ok(_) => StatusCode::CREATED.into_response(),
        Err(e) => sb_error(StatusCode::GONE, &e.to_string()),
    }
}

/// RFC 1123, as the REST API writes dates (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn rfc1123(t: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// `BrokerProperties` of a received message (the REST reference's receive example: `DeliveryCount`,
/// `EnqueuedSequenceNumber`, `EnqueuedTimeUtc`, `LockToken`, `LockedUntilUtc`, `MessageId`,
/// `SequenceNumber`, `State`, `TimeToLive`; `CorrelationId` and `ScheduledEnqueueTimeUtc` when set).
fn broker_properties(r: &Received) -> serde_json::Value {
    let m = &r.message;
    let ttl = m.expires_at.map(|e| (e - m.enqueued_at).num_milliseconds() as f64 / 1000.0).unwrap_or(DEFAULT_TTL_SECS);
    let mut bp = serde_json::json!({
        "DeliveryCount": m.delivery_count,
        "EnqueuedSequenceNumber": 0,
        "EnqueuedTimeUtc": rfc1123(m.enqueued_at),
        "LockToken": m.lock_token,
        "LockedUntilUtc": rfc1123(r.locked_until),
        "MessageId": m.message_id,
        "SequenceNumber": m.sequence_number,
        "State": "Active",
        "TimeToLive": ttl,
    });
    if let Some(c) = &m.correlation_id {
        bp["CorrelationId"] = serde_json::json!(c);
    }
    if m.visible_at > m.enqueued_at {
        bp["ScheduledEnqueueTimeUtc"] = serde_json::json!(rfc1123(m.visible_at));
    }
    bp
}

/// JSON text in printable ASCII (non-ASCII characters as `\uXXXX`), so it fits in a header value.
fn ascii_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `%XX` decoding of one path segment; `None` when malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode a path segment (everything but RFC 3986's unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `POST {queuePath}/messages/head`.
fn peek_lock(st: &AppState, path: &str) -> Response {
    let r = match st.bus.lock(path) {
        Ok(Some(r)) => r,
        Ok(None) => return StatusCode::NO_CONTENT.into_response(),
        Err(e) => return sb_error(StatusCode::GONE, &e.to_string()),
    };
    let m = &r.message;
    let content_type = m.content_type.clone().unwrap_or_else(|| "application/atom+xml;type=entry;charset=utf-8".into());
    let mut resp = (StatusCode::CREATED, m.body.clone()).into_response();
    let h = resp.headers_mut();
    let mut put = |name: &str, value: String| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            h.insert(n, v);
        }
    };
    put("content-type", content_type);
    put("brokerproperties", ascii_json(&broker_properties(&r)));
    let location = format!(
        "{}/servicebus/{}/messages/{}/{}",
        st.base_url,
        path.split('/').map(percent_encode).collect::<Vec<_>>().join("/").replace("%24", "$"),
        percent_encode(&m.message_id),
        m.lock_token
    );
    put("location", location);
    // Application properties: one header each, string values as JSON strings.
    for (k, v) in &m.properties {
        if !NOT_PROPERTIES.contains(&k.to_ascii_lowercase().as_str()) && !k.eq_ignore_ascii_case("location") {
            put(k, ascii_json(&serde_json::Value::String(v.clone())));
        }
    }
    if let (Some(reason), Some(description)) = (&r.dead_letter_reason, &r.dead_letter_description) {
        put("DeadLetterReason", ascii_json(&serde_json::Value::String(reason.clone())));
        put("DeadLetterErrorDescription", ascii_json(&serde_json::Value::String(description.clone())));
    }
    resp
}

/// `DELETE` (complete), `PUT` (unlock) or `POST` (renew) `{queuePath}/messages/{messageId}/{lockToken}`.
fn settle(st: &AppState, path: &str, method: &Method, message_id: &str, token: &str) -> Response {
    let result = match *method {
        Method::DELETE => {
            let queue = path.split('/').next().unwrap_or(path);
            if st.bus.take_complete_fault(queue) {
                tracing::debug!(target: "simulator", path, "injected Service Bus complete fault");
                return sb_error(StatusCode::SERVICE_UNAVAILABLE, "Injected by the simulator. Please retry.");
            }
            st.bus.complete(path, message_id, token).map(|_| None)
        }
        Method::PUT => st.bus.unlock(path, message_id, token).map(|_| None),
        _ => st.bus.renew_lock(path, message_id, token).map(Some),
    };
    match result {
        Ok(None) => StatusCode::OK.into_response(),
        Ok(Some(until)) => {
            let mut r = StatusCode::OK.into_response();
            let bp = serde_json::json!({"LockedUntilUtc": rfc1123(until)});
            if let Ok(v) = HeaderValue::from_str(&bp.to_string()) {
                r.headers_mut().insert("brokerproperties", v);
            }
            r
        }
        Err(e @ BusError::NoLock { .. }) => sb_error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => sb_error(StatusCode::GONE, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ScaledClock};

    fn bus() -> ServiceBus {
        ServiceBus::new(Arc::new(ScaledClock::new(Utc::now(), 1000.0)), &["work", "parked"])
    }

    #[test]
    fn duplicates_are_dropped_within_the_window() {
        let b = bus();
        let m = OutgoingMessage { message_id: Some("m1".into()), body: "a".into(), ..Default::default() };
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Accepted);
        assert_eq!(b.send("WORK", m.clone()).unwrap(), SendOutcome::Duplicate);
        assert_eq!(b.peek("work").len(), 1);
        assert_eq!(b.send("nope", m).unwrap_err(), BusError::NoQueue("nope".into()));
        // 10 simulated minutes = 600 ms real at factor 1000: too slow for a unit test, so check the window via retain math.
        assert_eq!(b.report()[1].duplicates_dropped, 1);
    }

    /// A clock that moves only when told.
    struct Manual(Mutex<DateTime<Utc>>);
    impl crate::clock::Clock for Manual {
        fn now(&self) -> DateTime<Utc> {
            *lock(&self.0)
        }
        fn real(&self, d: Duration) -> Duration {
            d
        }
    }

    #[test]
    fn duplicate_window_expires_after_ten_minutes() {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        let m = OutgoingMessage { message_id: Some("m1".into()), body: "a".into(), ..Default::default() };
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Accepted);
        *lock(&clock.0) += chrono::Duration::seconds(599);
        assert_eq!(b.send("work", m.clone()).unwrap(), SendOutcome::Duplicate);
        *lock(&clock.0) += chrono::Duration::seconds(2);
        assert_eq!(b.send("work", m).unwrap(), SendOutcome::Accepted);
        assert_eq!(b.peek("work").len(), 2);
    }

    #[test]
    fn expired_messages_are_dropped() {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        let m = OutgoingMessage { body: "a".into(), time_to_live: Some(Duration::from_secs(60)), ..Default::default() };
        b.send("work", m).unwrap();
        *lock(&clock.0) += chrono::Duration::seconds(61);
        assert!(b.take_due("work").is_empty());
        assert_eq!(b.report()[0].expired, 1);
    }

    #[test]
    fn scheduled_messages_wait() {
        let b = bus();
        let later = b.clock.now() + chrono::Duration::seconds(60);
        b.send("work", OutgoingMessage { body: "later".into(), scheduled_at: Some(later), ..Default::default() })
            .unwrap();
        b.send("work", OutgoingMessage { body: "now".into(), ..Default::default() }).unwrap();
        let due = b.take_due("work");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "now");
        assert_eq!(due[0].delivery_count, 1);
        std::thread::sleep(Duration::from_millis(70)); // 70 s simulated
        let due = b.take_due("work");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, "later");
        b.redeliver("work", due[0].clone());
        assert_eq!(b.take_due("work")[0].delivery_count, 2);
    }

    fn manual() -> (Arc<Manual>, ServiceBus) {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        (clock, b)
    }

    fn msg(id: &str) -> OutgoingMessage {
        OutgoingMessage { message_id: Some(id.into()), body: id.into(), ..Default::default() }
    }

    #[test]
    fn a_lock_hides_the_message_until_it_expires() {
        let (clock, b) = manual();
        b.send("work", msg("a")).unwrap();
        b.send("work", msg("b")).unwrap();
        let r = b.lock("WORK").unwrap().unwrap();
        assert_eq!((r.message.message_id.as_str(), r.message.delivery_count), ("a", 1));
        assert!(uuid::Uuid::parse_str(&r.message.lock_token).is_ok());
        assert_eq!(r.locked_until, clock.now() + chrono::Duration::seconds(60));
        // Locked: not locked twice, not handed to the host, still in the queue.
        assert_eq!(b.lock("work").unwrap().unwrap().message.message_id, "b");
        assert!(b.lock("work").unwrap().is_none());
        assert!(b.take_due("work").is_empty());
        assert_eq!(b.peek("work").len(), 2);
        assert_eq!(b.locked("work").len(), 2);
        assert_eq!(b.counts("work"), Some(QueueCounts { active: 2, scheduled: 0, dead_letter: 0 }));
        *lock(&clock.0) += chrono::Duration::seconds(61);
        let again = b.lock("work").unwrap().unwrap();
        assert_eq!((again.message.message_id.as_str(), again.message.delivery_count), ("a", 2));
        assert_ne!(again.message.lock_token, r.message.lock_token);
        // The expired lock settles nothing.
        assert!(matches!(b.complete("work", "a", &r.message.lock_token), Err(BusError::NoLock { .. })));
        b.complete("work", "a", &again.message.lock_token.to_uppercase()).unwrap();
        assert!(b.complete("work", "a", &again.message.lock_token).is_err(), "completed once");
        // "b"'s lock expired too: the host may take it now.
        assert_eq!(b.take_due("work").len(), 1);
        let rep = &b.report()[0];
        assert_eq!((rep.locks, rep.completes, rep.lock_expiries, rep.locked), (3, 1, 2, 0));
    }

    #[test]
    fn unlock_keeps_the_delivery_count_and_renew_extends_the_lock() {
        let (clock, b) = manual();
        b.set_lock_duration("work", Duration::from_secs(30)).unwrap();
        b.send("work", msg("a")).unwrap();
        let r = b.lock("work").unwrap().unwrap();
        assert!(b.unlock("work", "a", "00000000-0000-0000-0000-000000000000").is_err());
        assert!(b.unlock("work", "other", &r.message.lock_token).is_err());
        b.unlock("work", "a", &r.message.lock_token).unwrap();
        let r = b.lock("work").unwrap().unwrap();
        assert_eq!(r.message.delivery_count, 2);
        *lock(&clock.0) += chrono::Duration::seconds(20);
        let until = b.renew_lock("work", "a", &r.message.lock_token).unwrap();
        assert_eq!(until, clock.now() + chrono::Duration::seconds(30));
        *lock(&clock.0) += chrono::Duration::seconds(20);
        assert!(b.lock("work").unwrap().is_none(), "renewed: still locked 40 s after the lock");
        b.complete("work", "a", &r.message.lock_token).unwrap();
        assert!(b.peek("work").is_empty());
        // A lock on the main queue is not one on the dead-letter queue.
        assert!(b.lock("work/nope").is_err());
        assert!(b.lock("nope").is_err());
    }

    #[test]
    fn used_up_deliveries_go_to_the_dead_letter_queue_which_is_receivable() {
        let (clock, b) = manual();
        assert_eq!(b.max_delivery_count("work"), MAX_DELIVERY_COUNT);
        b.set_max_delivery_count("work", 2).unwrap();
        assert_eq!(b.max_delivery_count("Work"), 2);
        b.send("work", msg("a")).unwrap();
        for _ in 0..2 {
            let r = b.lock("work").unwrap().unwrap();
            *lock(&clock.0) += chrono::Duration::seconds(61);
            assert!(b.complete("work", "a", &r.message.lock_token).is_err());
        }
        // The second lock expired with its deliveries used up: dead-lettered.
        assert!(b.lock("work").unwrap().is_none());
        let dl = b.dead_letters("work");
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].reason, "MaxDeliveryCountExceeded");
        assert_eq!(b.counts("work"), Some(QueueCounts { active: 0, scheduled: 0, dead_letter: 1 }));
        let dlq = dead_letter_path("work");
        let r = b.lock(&dlq).unwrap().unwrap();
        assert_eq!(r.dead_letter_reason.as_deref(), Some("MaxDeliveryCountExceeded"));
        assert_eq!(r.message.delivery_count, 3);
        assert!(b.lock(&dlq).unwrap().is_none());
        assert_eq!(b.dead_letters("work").len(), 1, "a locked dead letter is still in the DLQ");
        assert!(b.complete("work", "a", &r.message.lock_token).is_err(), "the lock is the DLQ's");
        b.complete("work/$deadletterqueue", "a", &r.message.lock_token).unwrap();
        assert!(b.dead_letters("work").is_empty());

        // A message the host already delivered up to the maximum is dead-lettered when locked.
        b.send("work", msg("b")).unwrap();
        for _ in 0..2 {
            let m = b.take_due("work").pop().unwrap();
            b.redeliver("work", m);
        }
        assert!(b.lock("work").unwrap().is_none());
        assert_eq!(b.dead_letters("work")[0].message.message_id, "b");
    }

    #[test]
    fn injected_faults_are_counted_down() {
        let (_, b) = manual();
        b.fail_sends("work", 2).unwrap();
        b.fail_completes("WORK", 1).unwrap();
        assert!(b.fail_sends("nope", 1).is_err());
        assert!(b.take_send_fault("work") && b.take_send_fault("work") && !b.take_send_fault("work"));
        assert!(b.take_complete_fault("work") && !b.take_complete_fault("work"));
        assert!(!b.take_send_fault("nope"));
    }

    #[test]
    fn path_codecs() {
        assert_eq!(percent_decode("%24DeadLetterQueue").as_deref(), Some("$DeadLetterQueue"));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert!(percent_decode("%zz").is_none() && percent_decode("%f").is_none() && percent_decode("%ff").is_none());
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(ascii_json(&serde_json::json!("é\n")), r#""\u00e9\n""#);
        assert_eq!(split_path("Work/$DeadLetterQueue"), Ok(("work".into(), true)));
        assert!(split_path("work/x").is_err());
    }

    #[test]
    fn broker_properties_parse() {
        let mut m = OutgoingMessage::default();
        apply_broker_properties(
            r#"{"MessageId":"x","CorrelationId":"c","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","TimeToLive":86400}"#,
            &mut m,
        )
        .unwrap();
        assert_eq!(m.message_id.as_deref(), Some("x"));
        assert_eq!(m.scheduled_at.unwrap().to_rfc3339(), "1994-11-06T08:49:37+00:00");
        assert_eq!(m.time_to_live, Some(Duration::from_secs(86400)));
        assert!(apply_broker_properties(r#"{"ScheduledEnqueueTimeUtc":"yesterday"}"#, &mut m).is_err());
        assert!(apply_broker_properties("[", &mut m).is_err());
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
    }
}
