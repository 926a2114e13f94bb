//! Per-subscription ARM throttling, as a busy tenant sees it: with [`Throttle`] on, every `every`-th
//! ARM call of a subscription is answered 429 with `Retry-After: <wait>`, and that subscription then
//! answers 429 (with the wait left) to every call until the wait has passed, in simulated time. Every
//! answer that is let through carries `x-ms-ratelimit-remaining-subscription-reads` (`-writes` for a
//! write): the calls left before the next 429.
//!
//! A resource provider throttles on its own too ([`RpThrottle`], `SimOptions::rp_throttle`), behind
//! ARM: Azure's docs ("Understand how Azure Resource Manager throttles requests", "Resource provider
//! limits") say each provider applies its own limits per subscription (and region), answering 429 with
//! `Retry-After` for a request ARM had let through. Such a 429 comes **without warning**: the response
//! before it carried ARM's own `x-ms-ratelimit-remaining-subscription-*` count, which says nothing of the
//! provider's, and the 429 itself still carries ARM's (plenty left). Here: every `every`-th call that ARM
//! lets through to a provider namespace (the path's last `/providers/{namespace}`) in a subscription is
//! answered 429 with `Retry-After: <wait>`, and that namespace in that subscription answers 429 to every
//! call until the wait has passed.
//!
//! Pure bookkeeping over an explicit `now` (no clock, no I/O), so it is unit-tested without HTTP. The
//! counts tell how well a client honours ARM: [`ThrottleReport::inside_wait`] is the calls that arrived
//! while their subscription was inside a wait ARM had announced (the 429 that started it excluded);
//! [`ThrottleReport::rp_inside_wait`] the same for a provider's waits.

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

/// A resource provider's own throttling (`SimOptions::rp_throttle`): no warning before its 429s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpThrottle {
    /// Every this many-th call to a namespace in a subscription starts a wait (at least 1).
    pub every: u32,
    /// How long a wait lasts (announced as whole seconds, rounded up).
    pub wait: Duration,
    /// The provider namespaces that throttle (case-insensitive, e.g. `Microsoft.Storage`); empty: every one.
    pub namespaces: Vec<String>,
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
    /// Calls a throttling resource provider saw ([`RpThrottle`]; ARM let them through).
    pub rp_calls: u64,
    /// A provider's 429s that started a wait.
    pub rp_waits_started: u64,
    /// Calls a provider answered 429 because its namespace in that subscription was inside a wait.
    pub rp_inside_wait: u64,
}

impl ThrottleReport {
    /// Every 429 answered, ARM's and the providers'.
    pub fn throttled(&self) -> u64 {
        self.waits_started + self.inside_wait + self.rp_waits_started + self.rp_inside_wait
    }
    /// Every call made while ARM or a provider had asked its caller to wait.
    pub fn calls_inside_a_wait(&self) -> u64 {
        self.inside_wait + self.rp_inside_wait
    }
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
    rp_rule: Option<RpThrottle>,
    /// Per (subscription, namespace), both lower-case.
    rps: HashMap<(String, String), Sub>,
    report: ThrottleReport,
}

/// The subscription id (lower-case) an ARM path names, if any.
pub fn subscription_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.find("/subscriptions/")? + "/subscriptions/".len();
    let sub: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!sub.is_empty()).then_some(sub)
}

/// The provider namespace (lower-case) an ARM path is served by: its last `/providers/{namespace}`
/// (`{target}/providers/Microsoft.Resources/tags/default` is ARM's own `Microsoft.Resources`).
pub fn namespace_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let at = lower.rfind("/providers/")? + "/providers/".len();
    let ns: String = lower[at..].chars().take_while(|c| *c != '/' && *c != '?').collect();
    (!ns.is_empty()).then_some(ns)
}

impl ThrottleBook {
    pub fn new(rule: Option<Throttle>) -> Self {
        Self::with_providers(rule, None)
    }

    /// ARM's per-subscription rule and a resource provider's own ([`RpThrottle`]).
    pub fn with_providers(rule: Option<Throttle>, rp_rule: Option<RpThrottle>) -> Self {
        ThrottleBook {
            rule: rule.map(|r| Throttle { every: r.every.max(1), ..r }),
            rp_rule: rp_rule.map(|r| RpThrottle {
                every: r.every.max(1),
                namespaces: r.namespaces.iter().map(|n| n.to_ascii_lowercase()).collect(),
                ..r
            }),
            ..Default::default()
        }
    }

    /// The resource provider's answer to a call ARM let through to `path` at `now`: `None` when no
    /// provider throttling applies (off, another namespace, no subscription); otherwise `Pass` (with no
    /// count of what is left: providers publish none) or `Throttled`.
    pub fn admit_provider(&mut self, path: &str, now: DateTime<Utc>) -> Option<Admission> {
        let rule = self.rp_rule.as_ref()?;
        let sub = subscription_of(path)?;
        let ns = namespace_of(path)?;
        if !rule.namespaces.is_empty() && !rule.namespaces.contains(&ns) {
            return None;
        }
        let (every, wait) = (rule.every, rule.wait);
        self.report.rp_calls += 1;
        let s = self.rps.entry((sub, ns)).or_default();
        if let Some(until) = s.until.filter(|u| now < *u) {
            self.report.rp_inside_wait += 1;
            let left = (until - now).to_std().unwrap_or_default();
            return Some(Admission::Throttled { retry_after_secs: ceil_secs(left), inside_wait: true });
        }
        s.until = None;
        if s.served + 1 >= every {
            s.served = 0;
            s.until = chrono::Duration::from_std(wait).ok().and_then(|d| now.checked_add_signed(d));
            self.report.rp_waits_started += 1;
            return Some(Admission::Throttled { retry_after_secs: ceil_secs(wait), inside_wait: false });
        }
        s.served += 1;
        Some(Admission::Pass { remaining: u32::MAX })
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
        assert_eq!(b.report(), ThrottleReport { calls: 7, waits_started: 1, inside_wait: 1, ..Default::default() });
    }

    /// A provider's 429s: per subscription and namespace, with no count of what is left before them.
    #[test]
    fn a_provider_throttles_its_namespace_without_warning() {
        let rule = RpThrottle { every: 2, wait: Duration::from_secs(3), namespaces: vec!["Microsoft.Storage".into()] };
        let mut b = ThrottleBook::with_providers(None, Some(rule));
        let pecs = format!("{A}/privateEndpointConnections");
        assert_eq!(b.admit(&pecs, t(0)), None, "ARM's own rule is off");
        assert_eq!(b.admit_provider(&pecs, t(0)), Some(Admission::Pass { remaining: u32::MAX }));
        assert_eq!(
            b.admit_provider(&pecs, t(1)),
            Some(Admission::Throttled { retry_after_secs: 3, inside_wait: false })
        );
        // The same namespace in the same subscription waits; another subscription and another namespace do not.
        assert_eq!(
            b.admit_provider(A, t(1_500)),
            Some(Admission::Throttled { retry_after_secs: 2, inside_wait: true })
        );
        assert_eq!(b.admit_provider(B, t(1_600)), Some(Admission::Pass { remaining: u32::MAX }));
        let tags = format!("{A}/providers/Microsoft.Resources/tags/default");
        assert_eq!(b.admit_provider(&tags, t(1_700)), None, "Microsoft.Resources does not throttle here");
        assert_eq!(b.admit_provider(A, t(3_001)), Some(Admission::Pass { remaining: u32::MAX }));
        let r = b.report();
        assert_eq!((r.rp_calls, r.rp_waits_started, r.rp_inside_wait), (5, 1, 1));
        assert_eq!((r.throttled(), r.calls_inside_a_wait()), (2, 1));
        assert_eq!(namespace_of(&tags).as_deref(), Some("microsoft.resources"));
        assert_eq!(namespace_of("/subscriptions/x"), None);
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
