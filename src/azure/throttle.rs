//! ARM's throttling, per subscription, shared by every invocation of the process: the not-before time a
//! 429 sets (its `Retry-After`), and the turns that make a subscription's calls go one at a time while
//! ARM reports it nearly out of requests (`x-ms-ratelimit-remaining-subscription-reads`/`-writes`).
//! [`crate::arm::ArmClient`] asks it before each request and tells it every answer. No I/O of its own.

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A subscription's turn: who holds it calls the subscription; the others wait.
pub type Turn = Arc<tokio::sync::Mutex<()>>;

/// A wait this short for a throttled subscription is slept inside the call; a longer one is handed back
/// to the caller (as the error's `retry_after`) to reschedule by.
pub const MAX_INLINE_THROTTLE_WAIT: Duration = Duration::from_secs(1);
/// When ARM reports fewer remaining requests than this for a subscription (`x-ms-ratelimit-remaining-
/// subscription-reads` / `-writes`), or answers it 429, calls to that subscription go one at a time
/// (every invocation of the process) until an answer reports more again: each call sees the previous
/// answer, so the call ARM throttles is the only one on its way and none arrives inside the wait it
/// starts. One call at a time (tens of milliseconds each) is also slower than ARM's token bucket
/// refills a subscription's reads, 25 per second (Azure docs, "Understand how Azure Resource Manager
/// throttles requests").
pub const LOW_REMAINING: u64 = 25;
/// The wait assumed for a 429 without `Retry-After`.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(5);

/// The subscription id (lower-case) an ARM path or URL is in, if it names one.
pub fn subscription_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.find("/subscriptions/")? + "/subscriptions/".len();
    let sub: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!sub.is_empty()).then_some(sub)
}

/// The remaining-requests count ARM reports for the subscription on this response, if any.
fn remaining(h: &reqwest::header::HeaderMap, method: &str) -> Option<u64> {
    let name = if method == "GET" {
        "x-ms-ratelimit-remaining-subscription-reads"
    } else {
        "x-ms-ratelimit-remaining-subscription-writes"
    };
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The per-subscription throttling state of one ARM client.
pub struct Throttle {
    clock: SharedClock,
    /// Per subscription (lower-case id): no ARM call before this time. Shared by every invocation of the
    /// process, so concurrent checks stop calling a subscription ARM asked to wait.
    not_before: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Per subscription (lower-case id) whose last answer reported few remaining requests (or a 429),
    /// or that has not answered yet: a turn of one (`Some`), so its calls go one at a time and each
    /// sees the answer (a 429's wait) of the one before. Without it, calls already on their way when
    /// ARM starts a wait land inside it. `None`: plenty left, calls run concurrently.
    turns: Mutex<HashMap<String, Option<Turn>>>,
}

impl Throttle {
    pub fn new(clock: SharedClock) -> Self {
        Throttle { clock, not_before: Default::default(), turns: Default::default() }
    }

    /// Whether calls to `subscription` currently go one at a time (few remaining requests, or a 429).
    pub fn one_at_a_time(&self, subscription: &str) -> bool {
        self.turns.lock().is_ok_and(|m| matches!(m.get(&subscription.to_ascii_lowercase()), Some(Some(_))))
    }

    /// The subscription's turn, when its calls go one at a time.
    pub fn turn_of(&self, subscription: &str) -> Option<Turn> {
        // A subscription not heard from yet starts one at a time: its first answer tells how many
        // requests are left before a burst of concurrent first calls could run into a 429's wait.
        let mut m = self.turns.lock().ok()?;
        m.entry(subscription.to_string()).or_insert_with(|| Some(Default::default())).clone()
    }

    /// Record what ARM said of the subscription's remaining requests: low (or a 429) makes its calls
    /// go one at a time; plenty (or nothing said) lets them run concurrently again.
    fn set_low(&self, subscription: &str, low: bool) {
        if let Ok(mut m) = self.turns.lock() {
            let turn = m.entry(subscription.to_string()).or_default();
            if !low {
                *turn = None;
            } else if turn.is_none() {
                *turn = Some(Default::default());
            }
        }
    }

    /// How much longer ARM asked us to leave `subscription` alone, if it did.
    pub fn throttled_for(&self, subscription: &str) -> Option<Duration> {
        let until = *self.not_before.lock().ok()?.get(&subscription.to_ascii_lowercase())?;
        (until - self.clock.now()).to_std().ok().filter(|d| !d.is_zero())
    }

    /// Leave `subscription` alone for `wait` (the later of this and any earlier hold wins).
    fn hold(&self, subscription: &str, wait: Duration) {
        let Ok(d) = chrono::Duration::from_std(wait) else { return };
        let until = self.clock.now() + d;
        if let Ok(mut m) = self.not_before.lock() {
            let e = m.entry(subscription.to_string()).or_insert(until);
            if *e < until {
                *e = until;
            }
        }
    }

    /// Record an answer ARM gave to a call of `subscription` (`method`: `GET` reads, others write): a
    /// 429 holds the subscription for its `retry_after` ([`DEFAULT_THROTTLE`] without one) and makes
    /// its calls go one at a time; any other answer sets one at a time by the remaining requests it
    /// reports ([`LOW_REMAINING`]).
    pub fn record(
        &self,
        subscription: &str,
        method: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        retry_after: Option<Duration>,
    ) {
        if status == 429 {
            self.hold(subscription, retry_after.unwrap_or(DEFAULT_THROTTLE));
            self.set_low(subscription, true);
        } else {
            self.set_low(subscription, remaining(headers, method).is_some_and(|n| n < LOW_REMAINING));
        }
    }
}
