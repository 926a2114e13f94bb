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
pub const MAX_INLINE_THROTTLE_WAIT: Duration = Duration::from_secs(2);
/// When ARM reports fewer remaining requests than this for a subscription (`x-ms-ratelimit-remaining-
/// subscription-reads` / `-writes`), or answers it 429, calls to that subscription go one at a time
/// (every invocation of the process) until an answer reports more again: each call sees the previous
/// answer, so the call ARM throttles is the only one on its way and none arrives inside the wait it
/// starts. One call at a time (tens of milliseconds each) is also slower than ARM's token bucket
/// refills a subscription's reads, 25 per second (Azure docs, "Understand how Azure Resource Manager
/// throttles requests").
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
    /// or that has not answered yet: a turn of one (`Some`), so its calls go one at a time and each
    /// sees the answer (a 429's wait) of the one before. Without it, calls already on their way when
    /// ARM starts a wait land inside it. `None`: plenty left, calls run concurrently.
    turns: Mutex<HashMap<String, Option<Turn>>>,
    /// Per subscription (lower-case id): its calls go one at a time until this time, set by a 429
    /// ([`AFTER_429_ONE_AT_A_TIME`]).
    calm_after: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Throttle {
    pub fn new(clock: SharedClock) -> Self {
        Throttle { clock, not_before: Default::default(), turns: Default::default(), calm_after: Default::default() }
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
    /// other answer sets one at a time by the remaining requests it reports ([`LOW_REMAINING`]).
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
            self.set_low(subscription, true);
            let calm = chrono::Duration::from_std(AFTER_429_ONE_AT_A_TIME * wait).unwrap_or_default();
            if let Ok(mut m) = self.calm_after.lock() {
                m.insert(subscription.to_string(), now + calm);
            }
        } else {
            let recent_429 =
                self.calm_after.lock().ok().and_then(|m| m.get(subscription).copied()).is_some_and(|until| now < until);
            self.set_low(subscription, recent_429 || left.is_some_and(|n| n < LOW_REMAINING));
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
        assert!(t.one_at_a_time(SUB), "few left: one at a time");
    }
}
