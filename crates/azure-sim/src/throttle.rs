//! Per-subscription ARM throttling, as a busy tenant sees it: with [`Throttle`] on, every `every`-th
//! ARM call of a subscription is answered 429 with `Retry-After: <wait>`, and that subscription then
//! answers 429 (with the wait left) to every call until the wait has passed, in simulated time. Every
//! answer that is let through carries `x-ms-ratelimit-remaining-subscription-reads` (`-writes` for a
//! write): the calls left before the next 429.
//!
//! Pure bookkeeping over an explicit `now` (no clock, no I/O), so it is unit-tested without HTTP. The
//! counts tell how well a client honours ARM: [`ThrottleReport::inside_wait`] is the calls that arrived
//! while their subscription was inside a wait ARM had announced (the 429 that started it excluded).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// The throttling rule (`SimOptions::throttle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Every this many-th call of a subscription starts a wait (at least 1).
    pub every: u32,
    /// How long a wait lasts (announced as whole seconds, rounded up).
    pub wait: Duration,
}

/// What to answer one ARM call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Serve it; `remaining` calls are left before the subscription's next 429.
    Pass { remaining: u32 },
    /// Answer 429 with `Retry-After: retry_after_secs`. `inside_wait`: the subscription was already
    /// inside a wait (the call should not have been made); otherwise this call starts one.
    Throttled { retry_after_secs: u64, inside_wait: bool },
}

/// Throttling so far, in [`crate::SimReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleReport {
    /// Calls the rule applied to (calls naming a subscription, while throttling is on).
    pub calls: u64,
    /// 429s that started a wait.
    pub waits_started: u64,
    /// Calls answered 429 because their subscription was inside a wait.
    pub inside_wait: u64,
}

#[derive(Debug, Default, Clone)]
struct Sub {
    /// Calls served since the last wait started.
    served: u32,
    until: Option<DateTime<Utc>>,
}

/// Every subscription's throttling state.
#[derive(Debug, Default)]
pub struct ThrottleBook {
    rule: Option<Throttle>,
    subs: HashMap<String, Sub>,
    report: ThrottleReport,
}

/// The subscription id (lower-case) an ARM path names, if any.
pub fn subscription_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.find("/subscriptions/")? + "/subscriptions/".len();
    let sub: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!sub.is_empty()).then_some(sub)
}

impl ThrottleBook {
    pub fn new(rule: Option<Throttle>) -> Self {
        ThrottleBook { rule: rule.map(|r| Throttle { every: r.every.max(1), ..r }), ..Default::default() }
    }

    /// Admit one call to `path` at `now`; `None` when the rule does not apply (off, or no subscription).
    pub fn admit(&mut self, path: &str, now: DateTime<Utc>) -> Option<Admission> {
        let rule = self.rule?;
        let sub = subscription_of(path)?;
        self.report.calls += 1;
        let s = self.subs.entry(sub).or_default();
        if let Some(until) = s.until.filter(|u| now < *u) {
            self.report.inside_wait += 1;
            let left = (until - now).to_std().unwrap_or_default();
            return Some(Admission::Throttled { retry_after_secs: ceil_secs(left), inside_wait: true });
        }
        s.until = None;
        if s.served + 1 >= rule.every {
            s.served = 0;
            s.until = chrono::Duration::from_std(rule.wait).ok().and_then(|d| now.checked_add_signed(d));
            self.report.waits_started += 1;
            return Some(Admission::Throttled { retry_after_secs: ceil_secs(rule.wait), inside_wait: false });
        }
        s.served += 1;
        Some(Admission::Pass { remaining: rule.every - 1 - s.served })
    }

    pub fn report(&self) -> ThrottleReport {
        self.report
    }
}

/// Whole seconds, rounded up (a `Retry-After` of 0 would invite an immediate call inside the wait).
fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/subscriptions/AAAA/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";
    const B: &str = "/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";

    fn t(ms: i64) -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::milliseconds(ms)
    }

    fn book(every: u32, wait_secs: u64) -> ThrottleBook {
        ThrottleBook::new(Some(Throttle { every, wait: Duration::from_secs(wait_secs) }))
    }

    #[test]
    fn every_nth_call_of_a_subscription_starts_a_wait() {
        let mut b = book(3, 20);
        assert_eq!(b.admit(A, t(0)), Some(Admission::Pass { remaining: 1 }));
        assert_eq!(b.admit(A, t(1)), Some(Admission::Pass { remaining: 0 }));
        // Another subscription has its own count.
        assert_eq!(b.admit(B, t(2)), Some(Admission::Pass { remaining: 1 }));
        assert_eq!(b.admit(A, t(3)), Some(Admission::Throttled { retry_after_secs: 20, inside_wait: false }));
        // Inside the wait: 429 with the wait left, counted; B is unaffected.
        assert_eq!(b.admit(A, t(5_500)), Some(Admission::Throttled { retry_after_secs: 15, inside_wait: true }));
        assert_eq!(b.admit(B, t(5_600)), Some(Admission::Pass { remaining: 0 }));
        // After the wait the count starts again.
        assert_eq!(b.admit(A, t(20_003)), Some(Admission::Pass { remaining: 1 }));
        assert_eq!(b.report(), ThrottleReport { calls: 7, waits_started: 1, inside_wait: 1 });
    }

    #[test]
    fn off_or_without_a_subscription_nothing_applies() {
        let mut off = ThrottleBook::new(None);
        assert_eq!(off.admit(A, t(0)), None);
        let mut b = book(1, 1);
        assert_eq!(b.admit("/providers/Microsoft.Resources/operations", t(0)), None);
        // every: 1 throttles each call outside a wait; the wait rounds up to whole seconds.
        assert_eq!(b.admit(A, t(0)), Some(Admission::Throttled { retry_after_secs: 1, inside_wait: false }));
        assert_eq!(b.admit(A, t(999)), Some(Admission::Throttled { retry_after_secs: 1, inside_wait: true }));
        assert_eq!(b.admit(A, t(1000)), Some(Admission::Throttled { retry_after_secs: 1, inside_wait: false }));
        assert_eq!(subscription_of("/subscriptions/X?api-version=1").as_deref(), Some("x"));
        assert_eq!(subscription_of("/subscriptions/"), None);
    }
}
