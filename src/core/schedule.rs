//! When to check again: the schedule of check intervals, its jitter and its give-up time. Pure.

pub use crate::providers::ReadyWindow;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// When to check again: `steps` of (interval, count), then `then` forever, and a give-up time.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub steps: Vec<(Duration, u32)>,
    pub then: Duration,
    pub give_up_after: Duration,
    /// Fraction of each delay added or removed at random-looking but deterministic points (0.0–0.5).
    pub jitter: f64,
}

impl Default for Schedule {
    /// 2 s for the first 30 s, 3 s up to 90 s, 10 s up to 5.5 min, then every 30 s; give up after 2 h.
    /// Stream Analytics to Storage is ready in ~5 s, to IoT Hub in 30–90 s; Data Explorer takes minutes.
    fn default() -> Self {
        Schedule {
            steps: vec![(Duration::from_secs(2), 15), (Duration::from_secs(3), 20), (Duration::from_secs(10), 24)],
            then: Duration::from_secs(30),
            give_up_after: Duration::from_secs(2 * 3600),
            jitter: 0.1,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid schedule {input:?}: {reason} (expected e.g. \"2s*15,3s*20,10s*24,30s\")")]
pub struct ScheduleError {
    pub input: String,
    pub reason: String,
}

/// Parse `5s`, `1500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    if secs > 30.0 * 24.0 * 3600.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

impl Schedule {
    /// Parse `"2s*15,3s*20,10s*24,30s"`: each `interval*count`, the last entry without a count repeats.
    pub fn parse_steps(input: &str) -> Result<(Vec<(Duration, u32)>, Duration), ScheduleError> {
        let e = |reason: &str| ScheduleError { input: input.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = input.split(',').map(str::trim).collect();
        let (last, rest) = parts.split_last().ok_or_else(|| e("empty"))?;
        let mut steps = Vec::new();
        for p in rest {
            let (d, n) = p.split_once('*').ok_or_else(|| e("every entry but the last needs *count"))?;
            let d = parse_duration(d).ok_or_else(|| e("bad interval"))?;
            let n: u32 = n.trim().parse().map_err(|_| e("bad count"))?;
            if d.is_zero() || n == 0 {
                return Err(e("intervals and counts must be positive"));
            }
            steps.push((d, n));
        }
        if last.contains('*') {
            return Err(e("the last entry repeats forever and takes no count"));
        }
        let then = parse_duration(last).ok_or_else(|| e("bad final interval"))?;
        if then.is_zero() {
            return Err(e("intervals must be positive"));
        }
        Ok((steps, then))
    }

    /// The nominal delay before check number `attempt + 1`.
    pub fn interval(&self, attempt: u32) -> Duration {
        let mut left = attempt;
        for (d, n) in &self.steps {
            if left < *n {
                return *d;
            }
            left -= n;
        }
        self.then
    }
}

/// The longest interval between checks before an MPE's ready window.
pub const BEFORE_WINDOW: Duration = Duration::from_secs(10);

impl Schedule {
    /// The interval before the next check (number `attempt + 1`) of an MPE `age` old whose service
    /// shows `window`: the schedule's own interval, the densest one inside the window, up to
    /// [`BEFORE_WINDOW`] before it (never past its start, a whole number of dense intervals, so the
    /// checks of one parent's MPEs stay on one grid).
    pub fn interval_for(&self, attempt: u32, age: Duration, window: Option<ReadyWindow>) -> Duration {
        let stepped = self.interval(attempt);
        let Some(w) = window else { return stepped };
        let dense = self.steps.first().map_or(self.then, |s| s.0).min(stepped);
        if age + dense < w.from {
            let until = (w.from - age).min(BEFORE_WINDOW.max(dense));
            let n = (until.as_secs_f64() / dense.as_secs_f64()).floor().max(1.0);
            dense.mul_f64(n)
        } else if age <= w.to {
            dense
        } else {
            stepped
        }
    }

    /// The delay before the next check of an MPE whose parent's checks keep to `phase`
    /// ([`phase_of`]): the next instant at least `at_least` from `now` on the grid of `interval`,
    /// shifted by `phase` and, by the jitter, per grid instant. Every MPE of one parent
    /// (a Data Factory's twenty) with the same interval is checked at the same instant, so one list
    /// of the parent's MPEs serves them all ([`crate::shared`]); different parents keep different
    /// phases, so their checks spread over the interval.
    pub fn on_grid(&self, interval: Duration, now: DateTime<Utc>, phase: u64, at_least: Duration) -> Duration {
        let g = interval.as_millis().max(1) as i64;
        let j = self.jitter.clamp(0.0, 0.5);
        let now_ms = now.timestamp_millis();
        let from = now_ms + at_least.as_millis() as i64;
        let offset = (phase % g as u64) as i64;
        // The grid instants are offset + k·g (k whole), each moved by its own jitter, less than half
        // an interval: the first one not before `from`.
        let instant = |k: i64| offset + k * g + (j * g as f64 * unit(phase, k as u32)).round() as i64;
        let mut k = (from - offset).div_euclid(g) - 1;
        while instant(k) < from {
            k += 1;
        }
        Duration::from_millis((instant(k) - now_ms).max(0) as u64)
    }
}

/// The phase of the checks of `mpe`'s parent's MPEs (of its resource group's, for an MPE that is its
/// own top-level resource): a number the grid is shifted by, the same for every MPE of the parent.
pub fn phase_of(mpe: &crate::resource_id::ResourceId) -> u64 {
    let parent = crate::workitem::WorkItem::parent_key(mpe);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parent.bytes() {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// A deterministic fraction in [-1, 1) of `seed` and `attempt` (splitmix64).
fn unit(seed: u64, attempt: u32) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(attempt as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}
