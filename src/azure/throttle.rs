//! ARM's throttling, per subscription, shared by every invocation of the process: the not-before time a
//! 429 sets (its `Retry-After`), and the turns that keep a subscription's calls on their way fewer than
//! the requests ARM reports it has left (`x-ms-ratelimit-remaining-subscription-reads`/`-writes`), one
//! at a time at the end.
//! [`crate::arm::ArmClient`] asks it before each request and tells it every answer. No I/O of its own.

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A subscription's turns: who holds one calls the subscription; the others wait, in two lanes.
pub type Turn = Arc<TurnLock>;

tokio::task_local! {
    /// Set (`true`) around the calls of a check whose MPE awaits approval (its target's PEC list, tags, the
    /// approving protocol's re-read, PUT and confirmation): they go first in a subscription's line.
    pub static FIRST_LANE: bool;
}

/// Whether the calls of the current task go first in a subscription's line ([`FIRST_LANE`]).
pub fn in_first_lane() -> bool {
    FIRST_LANE.try_with(|first| *first).unwrap_or(false)
}

/// A lock of `permits` turns (one, unless [`TurnLock::set_permits`] says more) with two lines of
/// waiters: when a holder lets go, the first waiter of the first lane gets its turn, else the first of
/// the other (each lane in order). A waiter that gives up (its call's deadline) is skipped, and one
/// handed a turn as it gave up passes it on: a turn is never lost.
pub struct TurnLock {
    state: Mutex<Lanes>,
}

impl Default for TurnLock {
    fn default() -> Self {
        TurnLock { state: Mutex::new(Lanes { permits: 1, ..Default::default() }) }
    }
}

#[derive(Default)]
struct Lanes {
    held: usize,
    permits: usize,
    first: std::collections::VecDeque<tokio::sync::oneshot::Sender<()>>,
    then: std::collections::VecDeque<tokio::sync::oneshot::Sender<()>>,
}

impl Lanes {
    /// Hand free turns to the waiters still waiting, the first lane first.
    fn hand_out(&mut self) {
        while self.held < self.permits {
            let Some(next) = self.first.pop_front().or_else(|| self.then.pop_front()) else { return };
            if next.send(()).is_ok() {
                self.held += 1;
            }
        }
    }
}

/// A turn, held: dropping it hands it to the next waiter.
pub struct TurnGuard(Arc<TurnLock>);

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A waiter for a turn; dropped unfinished (a deadline), it leaves the line, and a turn handed to it
/// meanwhile goes to the next.
struct Waiting {
    rx: Option<tokio::sync::oneshot::Receiver<()>>,
    lock: Arc<TurnLock>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.lock.release();
            }
        }
    }
}

impl TurnLock {
    /// Wait for a turn, in the first lane when `first`.
    pub async fn acquire(self: Arc<Self>, first: bool) -> TurnGuard {
        let rx = {
            let Ok(mut s) = self.state.lock() else { return TurnGuard(self.clone()) };
            if s.held < s.permits {
                s.held += 1;
                return TurnGuard(self.clone());
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            if first {
                s.first.push_back(tx);
            } else {
                s.then.push_back(tx);
            }
            rx
        };
        let mut waiting = Waiting { rx: Some(rx), lock: self.clone() };
        if let Some(rx) = waiting.rx.as_mut() {
            // Handed over (`Ok`), or its sender dropped with the lock (never while a guard lives).
            let _ = rx.await;
        }
        waiting.rx = None;
        TurnGuard(self)
    }

    /// How many may hold a turn at once (one at least); more than before lets waiters go at once.
    pub fn set_permits(&self, permits: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.permits = permits.max(1);
            s.hand_out();
        }
    }

    /// How many may hold a turn at once.
    pub fn permits(&self) -> usize {
        self.state.lock().map_or(1, |s| s.permits)
    }

    /// Give a turn back and hand the free ones to the waiters still waiting.
    fn release(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        s.held = s.held.saturating_sub(1);
        s.hand_out();
    }
}

/// A wait this short for a throttled subscription is slept inside the call; a longer one is handed back
/// to the caller (as the error's `retry_after`) to reschedule by.
pub const MAX_INLINE_THROTTLE_WAIT: Duration = Duration::from_secs(2);
/// When ARM reports fewer remaining requests than this for a subscription (`x-ms-ratelimit-remaining-
/// subscription-reads` / `-writes`), calls to that subscription take turns (every invocation of the
/// process) until an answer reports more again: half as many turns as requests left, so the calls on
/// their way never outnumber what is left, down to one at a time, where each call sees the previous
/// answer: the call ARM throttles is the only one on its way and none arrives inside the wait it
/// starts. After a 429 they go one at a time ([`AFTER_429_ONE_AT_A_TIME`]). One call at a time (tens
/// of milliseconds each) is also slower than ARM's token bucket refills a subscription's reads, 25 per
/// second (Azure docs, "Understand how Azure Resource Manager throttles requests").
pub const LOW_REMAINING: u64 = 25;
/// After a 429, a subscription's calls go one at a time for this many times its wait, whatever the
/// answers after it report left: a resource provider's own throttling comes with ARM's remaining count
/// still high, so the count alone would let a burst of calls run into its next wait.
pub const AFTER_429_ONE_AT_A_TIME: u32 = 2;
/// The wait assumed for a 429 without `Retry-After`.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(5);

/// The subscription id (lower-case) an ARM path or URL is in, if it names one.
pub fn subscription_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.find("/subscriptions/")? + "/subscriptions/".len();
    let sub: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!sub.is_empty()).then_some(sub)
}

/// The resource provider namespace (lower-case) an ARM path is served by: the one after its last
/// `/providers/` (a target's tags, `{target}/providers/Microsoft.Resources/tags/default`, are
/// `microsoft.resources`'s).
pub fn namespace_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.rfind("/providers/")? + "/providers/".len();
    let ns: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!ns.is_empty()).then_some(ns)
}

/// The key a resource provider's own wait is kept under: the subscription and the namespace.
fn provider_key(subscription: &str, namespace: &str) -> String {
    format!("{subscription}/providers/{namespace}")
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
    /// or that has not answered yet: its turns (`Some`), half as many as the requests ARM reported
    /// left, one after a 429 or before any answer, so that its calls on their way never outnumber what
    /// is left and the one ARM throttles goes alone, each call after it seeing the wait it starts.
    /// Without them, calls already on their way when ARM starts a wait land inside it. `None`: plenty
    /// left, calls run concurrently.
    turns: Mutex<HashMap<String, Option<Turn>>>,
    /// Per subscription (lower-case id): its calls go one at a time until this time, set by a 429
    /// ([`AFTER_429_ONE_AT_A_TIME`]).
    calm_after: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Throttle {
    pub fn new(clock: SharedClock) -> Self {
        Throttle { clock, not_before: Default::default(), turns: Default::default(), calm_after: Default::default() }
    }

    /// Whether calls to `subscription` currently go one at a time (very few remaining requests, or a 429).
    pub fn one_at_a_time(&self, subscription: &str) -> bool {
        self.turn_of_known(subscription).is_some_and(|t| t.permits() == 1)
    }

    /// Whether calls to `subscription` currently take turns (few remaining requests, or a 429).
    pub fn limited(&self, subscription: &str) -> bool {
        self.turn_of_known(subscription).is_some()
    }

    fn turn_of_known(&self, subscription: &str) -> Option<Turn> {
        self.turns.lock().ok()?.get(&subscription.to_ascii_lowercase()).cloned().flatten()
    }

    /// The subscription's turns, when its calls take turns.
    pub fn turn_of(&self, subscription: &str) -> Option<Turn> {
        // A subscription not heard from yet starts one at a time: its first answer tells how many
        // requests are left before a burst of concurrent first calls could run into a 429's wait.
        let mut m = self.turns.lock().ok()?;
        m.entry(subscription.to_string()).or_insert_with(|| Some(Default::default())).clone()
    }

    /// Record what ARM said of the subscription's remaining requests: `Some(n)`, its calls take `n`
    /// turns (one at least); `None`, plenty left (or nothing said), they run concurrently again.
    fn set_turns(&self, subscription: &str, turns: Option<usize>) {
        if let Ok(mut m) = self.turns.lock() {
            let turn = m.entry(subscription.to_string()).or_default();
            match turns {
                None => *turn = None,
                Some(n) => turn.get_or_insert_with(Default::default).set_permits(n),
            }
        }
    }

    /// How much longer ARM asked us to leave `subscription` alone, if it did.
    pub fn throttled_for(&self, subscription: &str) -> Option<Duration> {
        let until = *self.not_before.lock().ok()?.get(&subscription.to_ascii_lowercase())?;
        (until - self.clock.now()).to_std().ok().filter(|d| !d.is_zero())
    }

    /// How much longer a call to `namespace` in `subscription` must wait: ARM's wait for the
    /// subscription, or the provider's own for its namespace there, whichever is longer.
    pub fn throttled_for_call(&self, subscription: &str, namespace: Option<&str>) -> Option<Duration> {
        let provider = namespace.and_then(|ns| self.throttled_for(&provider_key(subscription, ns)));
        self.throttled_for(subscription).max(provider)
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

    /// Record an answer ARM gave to a call of `subscription` served by `namespace` (`method`: `GET`
    /// reads, others write): a 429 holds the subscription for its `retry_after` ([`DEFAULT_THROTTLE`]
    /// without one), or only the namespace there when ARM reports plenty of requests left, and makes
    /// its calls go one at a time for [`AFTER_429_ONE_AT_A_TIME`] times the wait at least; any
    /// other answer sets the subscription's turns by the remaining requests it reports ([`LOW_REMAINING`]).
    pub fn record(
        &self,
        subscription: &str,
        namespace: Option<&str>,
        method: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        retry_after: Option<Duration>,
    ) {
        let now = self.clock.now();
        let left = remaining(headers, method);
        if status == 429 {
            let wait = retry_after.unwrap_or(DEFAULT_THROTTLE);
            // ARM still reporting plenty left: the resource provider throttled, and only its namespace
            // waits; otherwise (ARM's own, or nothing said) the whole subscription does.
            match namespace.filter(|_| left.is_some_and(|n| n >= LOW_REMAINING)) {
                Some(ns) => self.hold(&provider_key(subscription, ns), wait),
                None => self.hold(subscription, wait),
            }
            self.set_turns(subscription, Some(1));
            let calm = chrono::Duration::from_std(AFTER_429_ONE_AT_A_TIME * wait).unwrap_or_default();
            if let Ok(mut m) = self.calm_after.lock() {
                m.insert(subscription.to_string(), now + calm);
            }
        } else {
            let recent_429 =
                self.calm_after.lock().ok().and_then(|m| m.get(subscription).copied()).is_some_and(|until| now < until);
            let turns = match left {
                _ if recent_429 => Some(1),
                Some(n) if n < LOW_REMAINING => Some((n / 2).max(1) as usize),
                _ => None,
            };
            self.set_turns(subscription, turns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use reqwest::header::{HeaderMap, HeaderValue};

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn left(n: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ms-ratelimit-remaining-subscription-reads", HeaderValue::from(n));
        h
    }

    #[test]
    fn a_path_is_served_by_its_last_providers_namespace() {
        let target = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
        assert_eq!(namespace_of(&format!("{target}/privateEndpointConnections")).as_deref(), Some("microsoft.storage"));
        assert_eq!(
            namespace_of(&format!("{target}/providers/Microsoft.Resources/tags/default?api-version=1")).as_deref(),
            Some("microsoft.resources")
        );
        assert_eq!(namespace_of("/subscriptions/s/resourceGroups/rg"), None);
    }

    #[test]
    fn a_providers_429_holds_its_namespace_and_arms_the_subscription() {
        let clock = ManualClock::at("2026-12-06T12:00:00Z");
        let t = Throttle::new(clock.clone());
        let wait = Some(Duration::from_secs(2));
        // Plenty left by ARM's count: the provider throttled; only its namespace waits.
        t.record(SUB, Some("microsoft.datafactory"), "GET", 429, &left(240), wait);
        assert_eq!(t.throttled_for_call(SUB, Some("microsoft.datafactory")), Some(Duration::from_secs(2)));
        assert_eq!(t.throttled_for_call(SUB, Some("microsoft.storage")), None);
        assert_eq!(t.throttled_for(SUB), None);
        // Few left, or nothing said: ARM throttled the subscription; every namespace waits.
        for headers in [left(3), HeaderMap::new()] {
            let t = Throttle::new(clock.clone());
            t.record(SUB, Some("microsoft.datafactory"), "GET", 429, &headers, wait);
            assert_eq!(t.throttled_for_call(SUB, Some("microsoft.storage")), Some(Duration::from_secs(2)));
        }
        clock.advance(Duration::from_secs(2));
        assert_eq!(t.throttled_for_call(SUB, Some("microsoft.datafactory")), None);
    }

    #[test]
    fn after_a_429_calls_go_one_at_a_time_for_twice_its_wait_whatever_the_count() {
        let clock = ManualClock::at("2026-12-06T12:00:00Z");
        let t = Throttle::new(clock.clone());
        t.record(SUB, None, "GET", 200, &left(240), None);
        assert!(!t.one_at_a_time(SUB), "plenty left: concurrent");
        t.record(SUB, Some("microsoft.kusto"), "GET", 429, &left(240), Some(Duration::from_secs(1)));
        assert!(t.one_at_a_time(SUB));
        clock.advance(Duration::from_millis(1900));
        t.record(SUB, None, "GET", 200, &left(240), None);
        assert!(t.one_at_a_time(SUB), "within twice the wait, plenty left does not lift it");
        clock.advance(Duration::from_millis(100));
        t.record(SUB, None, "GET", 200, &left(240), None);
        assert!(!t.one_at_a_time(SUB), "after it, the count decides again");
        t.record(SUB, None, "GET", 200, &left(LOW_REMAINING - 1), None);
        assert!(t.limited(SUB) && !t.one_at_a_time(SUB), "fewer left: turns, half as many as left");
        assert_eq!(t.turn_of(SUB).map(|turn| turn.permits()), Some((LOW_REMAINING as usize - 1) / 2));
        t.record(SUB, None, "GET", 200, &left(3), None);
        assert!(t.one_at_a_time(SUB), "very few left: one at a time");
    }
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    /// The turn goes to the first lane's waiters before the other's, each lane in order; a waiter that
    /// gives up is skipped, and one handed the turn as it gave up passes it on.
    #[tokio::test]
    async fn the_first_lane_goes_first_and_a_turn_is_never_lost() {
        let lock: Turn = Arc::new(TurnLock::default());
        let held = lock.clone().acquire(false).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, first) in [("then-1", false), ("first-1", true), ("then-2", false), ("first-2", true)] {
            let (lock, order) = (lock.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _g = lock.acquire(first).await;
                order.lock().unwrap().push(name);
            }));
            tokio::task::yield_now().await;
        }
        // One more that gives up while it waits.
        let quitter = tokio::time::timeout(Duration::from_millis(10), lock.clone().acquire(true)).await;
        assert!(quitter.is_err(), "the turn is held");
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["first-1", "first-2", "then-1", "then-2"]);
        // Free again: taken at once.
        let again = tokio::time::timeout(Duration::from_millis(100), lock.clone().acquire(false)).await;
        assert!(again.is_ok(), "the turn was not lost");
    }

    /// With more turns, as many go at once; raised, waiters go at once; lowered, none is taken back and
    /// no new one starts until fewer hold one.
    #[tokio::test]
    async fn turns_go_to_as_many_as_the_permits() {
        let lock: Turn = Arc::new(TurnLock::default());
        lock.set_permits(2);
        let a = lock.clone().acquire(false).await;
        let b = lock.clone().acquire(false).await;
        let third = tokio::spawn(lock.clone().acquire(false));
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "two turns, both held");
        lock.set_permits(3);
        let c = tokio::time::timeout(Duration::from_millis(100), third).await;
        assert!(matches!(c, Ok(Ok(_))), "a third turn: the waiter goes");
        lock.set_permits(1);
        drop(a);
        drop(b);
        let fourth = tokio::spawn(lock.clone().acquire(true));
        tokio::task::yield_now().await;
        assert!(!fourth.is_finished(), "one turn, still held by the third");
        drop(c);
        assert!(tokio::time::timeout(Duration::from_millis(100), fourth).await.is_ok());
    }

    /// A waiter dropped after the turn was handed to it, before it ran, passes it on.
    #[tokio::test]
    async fn a_turn_handed_to_a_waiter_that_gave_up_goes_to_the_next() {
        let lock: Turn = Arc::new(TurnLock::default());
        let held = lock.clone().acquire(false).await;
        let waiter = tokio::spawn(lock.clone().acquire(true));
        tokio::task::yield_now().await;
        drop(held); // handed to the waiter
        waiter.abort(); // which gives up before it runs
        let _ = waiter.await;
        let next = tokio::time::timeout(Duration::from_millis(100), lock.clone().acquire(false)).await;
        assert!(next.is_ok(), "the turn was not lost with the waiter");
    }
}
