//! The simulated Service Bus: the queue model ([`queues`]: queues with scheduled delivery, duplicate
//! detection, time to live, peek-locks, delivery counts and dead-lettering, pure state over a given
//! `now`), the shared handle [`ServiceBus`] that runs it on the injected clock, and the REST runtime API
//! under `{base}/servicebus/` ([`rest`]).
//!
//! The Functions-host emulator takes messages through the handle (`take_due`) and settles them
//! (`redeliver`, `dead_letter`); a REST receiver locks them instead (the message stays in its queue,
//! invisible to `take_due` and to other receivers, until completed, unlocked, or its lock expires).

pub mod queues;
pub mod rest;

pub use queues::{
    dead_letter_path, BusError, DeadLetter, Namespace, OutgoingMessage, QueueCounts, QueueReport, Received, SbMessage,
    SendOutcome, DEAD_LETTER_QUEUE, DUPLICATE_WINDOW, LOCK_DURATION, MAX_DELIVERY_COUNT,
};

use crate::clock::SharedClock;
use crate::sync::lock;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Handle to the simulated namespace: the queue model ([`Namespace`]) at the clock's now. Clones share
/// the queues.
#[derive(Clone)]
pub struct ServiceBus {
    inner: Arc<Mutex<Namespace>>,
    clock: SharedClock,
}

impl ServiceBus {
    pub fn new(clock: SharedClock, queues: &[&str]) -> Self {
        ServiceBus { inner: Arc::new(Mutex::new(Namespace::new(queues))), clock }
    }

    /// Run `f` on the namespace at the clock's now.
    fn at_now<T>(&self, f: impl FnOnce(&mut Namespace, DateTime<Utc>) -> T) -> T {
        let now = self.clock.now();
        f(&mut lock(&self.inner), now)
    }

    /// Run `f` on the namespace's settings and injected faults (no time involved).
    fn with<T>(&self, f: impl FnOnce(&mut Namespace) -> T) -> T {
        f(&mut lock(&self.inner))
    }

    pub fn has_queue(&self, queue: &str) -> bool {
        self.with(|ns| ns.has_queue(queue))
    }

    /// The queue's name as created (`None` for an unknown queue).
    pub fn queue_name(&self, queue: &str) -> Option<String> {
        self.with(|ns| ns.queue_name(queue))
    }

    /// [`Namespace::set_max_delivery_count`].
    pub fn set_max_delivery_count(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with(|ns| ns.set_max_delivery_count(queue, n))
    }

    /// [`Namespace::max_delivery_count`].
    pub fn max_delivery_count(&self, queue: &str) -> u32 {
        self.with(|ns| ns.max_delivery_count(queue))
    }

    /// [`Namespace::set_lock_duration`].
    pub fn set_lock_duration(&self, queue: &str, d: Duration) -> Result<(), BusError> {
        self.with(|ns| ns.set_lock_duration(queue, d))
    }

    /// [`Namespace::lock_duration`].
    pub fn lock_duration(&self, queue: &str) -> Duration {
        self.with(|ns| ns.lock_duration(queue))
    }

    /// Answer the next `n` REST sends to `queue` with 503 Service Unavailable ([`Namespace::fail_sends`]).
    pub fn fail_sends(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with(|ns| ns.fail_sends(queue, n))
    }

    /// Answer every REST send to `queue` with `status` until called with `None`
    /// ([`Namespace::refuse_sends`]).
    pub fn refuse_sends(&self, queue: &str, status: Option<u16>) -> Result<(), BusError> {
        self.with(|ns| ns.refuse_sends(queue, status))
    }

    /// Answer the next `n` REST completes on `queue` or its dead-letter sub-queue with 503 Service
    /// Unavailable ([`Namespace::fail_completes`]).
    pub fn fail_completes(&self, queue: &str, n: u32) -> Result<(), BusError> {
        self.with(|ns| ns.fail_completes(queue, n))
    }

    /// Enqueue now ([`Namespace::send`]).
    pub fn send(&self, queue: &str, m: OutgoingMessage) -> Result<SendOutcome, BusError> {
        self.at_now(|ns, now| ns.send(queue, m, now))
    }

    /// Take the messages visible now ([`Namespace::take_due`]).
    pub fn take_due(&self, queue: &str) -> Vec<SbMessage> {
        self.at_now(|ns, now| ns.take_due(queue, now))
    }

    /// Take at most `max` of the messages visible now ([`Namespace::take_due_at_most`]).
    pub fn take_due_at_most(&self, queue: &str, max: usize) -> Vec<SbMessage> {
        self.at_now(|ns, now| ns.take_due_at_most(queue, now, max))
    }

    /// Peek-lock the first available message of `path` now ([`Namespace::lock`]).
    pub fn lock(&self, path: &str) -> Result<Option<Received>, BusError> {
        self.at_now(|ns, now| ns.lock(path, now))
    }

    /// [`Namespace::complete`] now.
    pub fn complete(&self, path: &str, message_id: &str, token: &str) -> Result<(), BusError> {
        self.at_now(|ns, now| ns.complete(path, message_id, token, now))
    }

    /// [`Namespace::unlock`] now.
    pub fn unlock(&self, path: &str, message_id: &str, token: &str) -> Result<(), BusError> {
        self.at_now(|ns, now| ns.unlock(path, message_id, token, now))
    }

    /// [`Namespace::renew_lock`] now.
    pub fn renew_lock(&self, path: &str, message_id: &str, token: &str) -> Result<DateTime<Utc>, BusError> {
        self.at_now(|ns, now| ns.renew_lock(path, message_id, token, now))
    }

    /// The locks REST receivers hold now on `path` ([`Namespace::locked`]).
    pub fn locked(&self, path: &str) -> Vec<Received> {
        self.at_now(|ns, now| ns.locked(path, now))
    }

    /// Abandon a taken message: visible again at once.
    pub fn redeliver(&self, queue: &str, m: SbMessage) {
        self.at_now(|ns, now| ns.redeliver(queue, m, now))
    }

    /// Move a taken message to the queue's dead-letter sub-queue now.
    pub fn dead_letter(&self, queue: &str, m: SbMessage, reason: &str, description: &str) {
        self.at_now(|ns, now| ns.dead_letter(queue, m, reason, description, now))
    }

    /// Every message in the queue now, without taking it ([`Namespace::peek`]).
    pub fn peek(&self, queue: &str) -> Vec<SbMessage> {
        self.at_now(|ns, now| ns.peek(queue, now))
    }

    /// The queue's dead-letter sub-queue now ([`Namespace::dead_letters`]).
    pub fn dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        self.at_now(|ns, now| ns.dead_letters(queue, now))
    }

    /// The queue's message counts now (`None` for an unknown queue).
    pub fn counts(&self, queue: &str) -> Option<QueueCounts> {
        self.at_now(|ns, now| ns.counts(queue, now))
    }

    pub fn report(&self) -> Vec<QueueReport> {
        self.at_now(|ns, now| ns.report(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    /// A clock that moves only when told.
    struct Manual(Mutex<DateTime<Utc>>);
    impl Clock for Manual {
        fn now(&self) -> DateTime<Utc> {
            *lock(&self.0)
        }
        fn real(&self, d: Duration) -> Duration {
            d
        }
    }

    #[test]
    fn the_handle_runs_the_queues_on_its_clock_and_clones_share_them() {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let b = ServiceBus::new(clock.clone(), &["work"]);
        let other = b.clone();
        let m = OutgoingMessage { body: "a".into(), time_to_live: Some(Duration::from_secs(60)), ..Default::default() };
        b.send("work", m).unwrap();
        b.send("work", OutgoingMessage { message_id: Some("d".into()), ..Default::default() }).unwrap();
        assert_eq!(
            other.send("work", OutgoingMessage { message_id: Some("d".into()), ..Default::default() }),
            Ok(SendOutcome::Duplicate)
        );
        assert_eq!(other.peek("work").len(), 2);
        *lock(&clock.0) += chrono::Duration::seconds(61);
        let due = other.take_due("work");
        assert_eq!(due.len(), 1, "the first expired on the clock");
        assert_eq!(b.report()[0].expired, 1);
        b.dead_letter("work", due[0].clone(), "Bad", "bad message");
        assert_eq!(other.dead_letters("work")[0].at, clock.now());
        assert!(b.has_queue("WORK") && !b.has_queue("nope"));
        assert_eq!(b.queue_name("WORK").as_deref(), Some("work"));
    }
}
