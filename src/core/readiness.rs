//! How long MPEs take to report their connection pending, as this process has seen it, per MPE type
//! (per service: the targets of one parent's MPEs are pooled, so that the parent's checks keep one
//! interval and one grid), and the interval between checks that follows from it. Pure.
//!
//! A check of a parent's MPEs pays one read of the parent's MPE list whatever it finds, so it pays most
//! where readiness is likely. For the `waiting` MPEs of one message at age `a`, the interval is the
//! longest `g` of [`LADDER`] with `g × waiting × P(ready within g | not ready at a) <= TARGET`: the
//! spacing that minimises reads plus overshoot is inversely proportional to the square root of the
//! rate at which MPEs turn ready, and `g × (rate × g) = TARGET` is that rule with the rate read off
//! what was seen. Dense where readiness crowds and for a parent with many MPEs waiting, sparse
//! before anything was ever seen ready and for a lone MPE.
//!
//! Nothing is learnt about a service until [`MIN_SEEN`] of its MPEs were seen ready, and an age past
//! nearly all of them ([`MIN_BEYOND`]) has no learnt interval: there the schedule as configured
//! applies, as it does for a service not seen yet.

use std::collections::BTreeMap;
use std::time::Duration;

/// Bins of ages, geometric: bin `i` holds ages from `RATIO^i` to `RATIO^(i+1)` seconds (bin 0 from 0).
const BINS: usize = 100;
const RATIO: f64 = 1.1;
/// MPEs of a service seen ready before its learnt interval is used.
pub const MIN_SEEN: f64 = 10.0;
/// MPEs seen ready at or after the age asked about, at least, for a learnt interval at that age.
pub const MIN_BEYOND: f64 = 3.0;
/// A service's counts halve when they reach twice this: what was seen lately weighs more.
pub const KEEP: f64 = 1000.0;
/// Keys learnt at most (one per MPE type the registry knows, in practice).
pub const MAX_KEYS: usize = 256;
/// The intervals a learnt schedule uses, in seconds: a coarse ladder, so that the MPEs of one parent,
/// a fraction of a second apart in age, land on one interval and their checks on one grid.
pub const LADDER: [f64; 9] = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
/// Interval × MPEs expected to turn ready within it, in seconds.
pub const TARGET: f64 = 0.25;

/// The ages at which each service's MPEs were first seen awaiting approval, and those still waiting.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    keys: BTreeMap<String, Ages>,
}

#[derive(Debug, Clone)]
struct Ages {
    /// MPEs first seen ready, per bin of age.
    counts: Vec<f64>,
    total: f64,
    /// MPEs not ready yet, per bin of the age they were last seen so: they count among those that may
    /// turn ready after an age below it (without them, early in a wave only the fast MPEs were seen
    /// ready and readiness would look earlier than it is).
    waiting: Vec<f64>,
}

/// The key readiness is learnt under: the MPE's resource type, lower-case.
pub fn key(mpe_type: &str) -> String {
    mpe_type.to_ascii_lowercase()
}

fn edge(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        RATIO.powi(i as i32)
    }
}

fn bin_of(secs: f64) -> usize {
    if secs < RATIO {
        return 0;
    }
    ((secs.ln() / RATIO.ln()).floor() as usize).min(BINS - 1)
}

impl Ages {
    fn new() -> Ages {
        Ages { counts: vec![0.0; BINS], total: 0.0, waiting: vec![0.0; BINS] }
    }

    /// MPEs seen ready between `lo` and `hi` seconds of age (spread evenly within each bin).
    fn between(&self, lo: f64, hi: f64) -> f64 {
        spread(&self.counts, lo, hi)
    }
}

/// What `counts` (per bin) hold between `lo` and `hi` seconds, spread evenly within each bin.
fn spread(counts: &[f64], lo: f64, hi: f64) -> f64 {
    let mut sum = 0.0;
    let (first, last) = (bin_of(lo), bin_of(hi));
    for (i, &count) in counts.iter().enumerate().take(last + 1).skip(first) {
        let (a, b) = (edge(i), if i + 1 == BINS { f64::INFINITY } else { edge(i + 1) });
        let (from, to) = (lo.max(a), hi.min(b));
        if to > from && count > 0.0 {
            sum += count * if b.is_finite() { (to - from) / (b - a) } else { 1.0 };
        }
    }
    sum
}

impl Readiness {
    /// The ages of `key`, a new entry for a key not seen yet; `None` past [`MAX_KEYS`] (or a key too long
    /// to be a resource type).
    fn ages_mut(&mut self, key: &str) -> Option<&mut Ages> {
        if key.len() > 300 || (!self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS) {
            return None;
        }
        Some(self.keys.entry(key.to_string()).or_insert_with(Ages::new))
    }

    /// An MPE of `key` was first seen awaiting approval `age` after its creation.
    pub fn record(&mut self, key: &str, age: Duration) {
        let Some(ages) = self.ages_mut(key) else { return };
        ages.counts[bin_of(age.as_secs_f64())] += 1.0;
        ages.total += 1.0;
        if ages.total >= 2.0 * KEEP {
            ages.counts.iter_mut().for_each(|c| *c /= 2.0);
            ages.total /= 2.0;
        }
    }

    /// An MPE of `key` was seen not ready yet at `age` (`was`: the age it was last seen so, already
    /// counted, which this replaces).
    pub fn waiting(&mut self, key: &str, age: Duration, was: Option<Duration>) {
        if let Some(w) = was {
            self.not_waiting(key, w);
        }
        let Some(ages) = self.ages_mut(key) else { return };
        ages.waiting[bin_of(age.as_secs_f64())] += 1.0;
    }

    /// An MPE of `key` last seen not ready at `age` no longer counts as waiting (it turned ready, its
    /// chain ended, or it was forgotten).
    pub fn not_waiting(&mut self, key: &str, age: Duration) {
        if let Some(ages) = self.keys.get_mut(key) {
            let bin = &mut ages.waiting[bin_of(age.as_secs_f64())];
            *bin = (*bin - 1.0).max(0.0);
        }
    }

    /// MPEs of `key` counted as waiting now.
    pub fn waiting_now(&self, key: &str) -> f64 {
        self.keys.get(key).map_or(0.0, |a| a.waiting.iter().sum())
    }

    /// MPEs of `key` seen ready so far (halved as [`KEEP`] says).
    pub fn seen(&self, key: &str) -> f64 {
        self.keys.get(key).map_or(0.0, |a| a.total)
    }

    /// The interval before the next check of `waiting` MPEs of `key`, `age` old and not ready yet;
    /// `None` where too little was seen (the schedule as configured applies).
    pub fn interval(&self, key: &str, age: Duration, waiting: usize) -> Option<Duration> {
        let ages = self.keys.get(key).filter(|a| a.total >= MIN_SEEN)?;
        let a = age.as_secs_f64();
        let beyond = ages.between(a, f64::INFINITY);
        if beyond < MIN_BEYOND {
            return None;
        }
        // Those that may turn ready after `a`: seen ready after it, or seen not ready yet past it.
        let at_risk = beyond + spread(&ages.waiting, a, f64::INFINITY);
        let waiting = waiting.max(1) as f64;
        let mut chosen = LADDER[0];
        for g in LADDER {
            let likely = ages.between(a, a + g) / at_risk;
            if g * waiting * likely > TARGET {
                break;
            }
            chosen = g;
        }
        Some(Duration::from_secs_f64(chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADF: &str = "microsoft.datafactory/factories/managedvirtualnetworks/managedprivateendpoints";

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// `n` MPEs seen ready evenly between `from` and `to` seconds.
    fn seen_evenly(r: &mut Readiness, key: &str, n: usize, from: f64, to: f64) {
        for i in 0..n {
            r.record(key, secs(from + (to - from) * (i as f64 + 0.5) / n as f64));
        }
    }

    #[test]
    fn nothing_is_learnt_before_enough_were_seen_nor_past_what_was_seen() {
        let mut r = Readiness::default();
        seen_evenly(&mut r, ADF, MIN_SEEN as usize - 1, 15.0, 25.0);
        assert_eq!(r.interval(ADF, secs(5.0), 1), None, "too few seen: the schedule as configured");
        r.record(ADF, secs(20.0));
        assert!(r.interval(ADF, secs(5.0), 1).is_some());
        assert_eq!(r.interval(ADF, secs(26.0), 1), None, "past every MPE seen: as configured");
        assert_eq!(r.interval("other/type", secs(5.0), 1), None);
    }

    #[test]
    fn checks_are_sparse_before_readiness_and_dense_where_it_crowds() {
        let mut r = Readiness::default();
        // 100 MPEs ready evenly between 30 and 130 s: one a second.
        seen_evenly(&mut r, ADF, 100, 30.0, 130.0);
        assert_eq!(r.interval(ADF, secs(5.0), 1), Some(secs(10.0)), "nothing ever ready this early");
        // At 50 s, 80 still to come, one a second: g × g / 80 <= 0.25 up to g = 4.47 s.
        assert_eq!(r.interval(ADF, secs(50.0), 1), Some(secs(4.0)));
        // Twenty waiting: g × 20 × g / 80 <= 0.25 up to g = 1 s.
        assert_eq!(r.interval(ADF, secs(50.0), 20), Some(secs(1.0)));
        // Near the end, the few left are due any moment: denser again.
        assert!(r.interval(ADF, secs(120.0), 1).expect("learnt") < secs(4.0));
        // Just before the crowd, the interval reaches into it no further than the rule allows.
        let before = r.interval(ADF, secs(25.0), 1).expect("learnt");
        assert!(before > secs(4.0) && before < secs(10.0), "{before:?}");
    }

    #[test]
    fn mpes_still_waiting_count_among_those_that_may_turn_ready() {
        let mut r = Readiness::default();
        // Early in a wave: the fast ones seen ready, many more still waiting at 40 s.
        seen_evenly(&mut r, ADF, 40, 30.0, 40.0);
        let early = r.interval(ADF, secs(31.0), 1).expect("learnt");
        for _ in 0..200 {
            r.waiting(ADF, secs(39.0), None);
        }
        let with_waiting = r.interval(ADF, secs(31.0), 1).expect("learnt");
        assert!(with_waiting > early, "{with_waiting:?} > {early:?}");
        // Seen again later, and then gone: they count once, then not at all.
        for _ in 0..200 {
            r.waiting(ADF, secs(41.0), Some(secs(39.0)));
        }
        assert_eq!(r.interval(ADF, secs(31.0), 1), Some(with_waiting));
        for _ in 0..200 {
            r.not_waiting(ADF, secs(41.0));
        }
        assert_eq!(r.interval(ADF, secs(31.0), 1), Some(early));
    }

    #[test]
    fn many_waiting_mpes_get_denser_checks_than_one() {
        let mut r = Readiness::default();
        seen_evenly(&mut r, ADF, 200, 10.0, 70.0);
        let one = r.interval(ADF, secs(20.0), 1).expect("learnt");
        let twenty = r.interval(ADF, secs(20.0), 20).expect("learnt");
        assert!(twenty < one, "{twenty:?} < {one:?}");
    }

    #[test]
    fn recent_readiness_weighs_more_and_keys_are_bounded() {
        let mut r = Readiness::default();
        seen_evenly(&mut r, ADF, 2000, 100.0, 110.0);
        assert!(r.seen(ADF) < 2.0 * KEEP, "halved at twice KEEP");
        // The service got faster: what follows soon outweighs the old half.
        seen_evenly(&mut r, ADF, 3000, 10.0, 20.0);
        assert_eq!(r.interval(ADF, secs(12.0), 20), Some(secs(1.0)));
        for i in 0..MAX_KEYS + 10 {
            r.record(&key(&format!("type{i}")), secs(1.0));
        }
        assert_eq!(r.keys.len(), MAX_KEYS);
        r.record(&"x".repeat(400), secs(1.0));
        assert_eq!(r.keys.len(), MAX_KEYS);
    }

    #[test]
    fn ages_in_the_last_bin_and_below_a_second_count() {
        let mut r = Readiness::default();
        seen_evenly(&mut r, ADF, 30, 0.0, 0.9);
        r.record(ADF, Duration::from_secs(100_000));
        assert_eq!(r.seen(ADF), 31.0);
        assert!(r.interval(ADF, Duration::ZERO, 1).is_some());
    }
}
