//! When to check again: the schedule of check intervals, its jitter and its give-up time. Pure.

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

    /// The delay with jitter; `seed` makes it deterministic per work item and attempt.
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let base = self.interval(attempt);
        let j = self.jitter.clamp(0.0, 0.5);
        // splitmix64 of the seed → a fraction in [-1, 1)
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(attempt as u64);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let frac = (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        base.mul_f64(1.0 + j * frac)
    }
}
