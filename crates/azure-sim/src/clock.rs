//! The simulated Azure's time, injected: [`SystemClock`] for real time, [`ScaledClock`] to compress it
//! so minutes of Azure behaviour play out in seconds. A program that drives the simulator with its own
//! clock type adapts it to (or from) [`Clock`]; the simulator depends on no one else's.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync + 'static {
    /// Current time as the rest of the system (ARM, Service Bus) sees it.
    fn now(&self) -> DateTime<Utc>;
    /// How long to really wait for `d` of this clock's time to pass.
    fn real(&self, d: Duration) -> Duration;
}

pub type SharedClock = Arc<dyn Clock>;

/// Sleep for `d` of the clock's time.
pub async fn sleep(clock: &dyn Clock, d: Duration) {
    tokio::time::sleep(clock.real(d)).await
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn real(&self, d: Duration) -> Duration {
        d
    }
}

/// A clock that runs `factor` times faster than real time from a given origin.
/// With factor 10, one real second is ten seconds of simulated Azure time.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    origin_real: Instant,
    origin: DateTime<Utc>,
    factor: f64,
}

impl ScaledClock {
    pub fn new(origin: DateTime<Utc>, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor >= 1.0 { factor } else { 1.0 };
        ScaledClock { origin_real: Instant::now(), origin, factor }
    }
    pub fn factor(&self) -> f64 {
        self.factor
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.origin_real.elapsed();
        let scaled = real.mul_f64(self.factor);
        self.origin + chrono::Duration::from_std(scaled).unwrap_or(chrono::Duration::zero())
    }
    fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_compresses_time() {
        let c = ScaledClock::new(Utc::now(), 100.0);
        assert_eq!(c.real(Duration::from_secs(10)), Duration::from_millis(100));
        let a = c.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.now();
        assert!((b - a).num_milliseconds() >= 2000);
    }

    #[test]
    fn scaled_clock_refuses_slowing_down() {
        assert_eq!(ScaledClock::new(Utc::now(), 0.0).factor(), 1.0);
        assert_eq!(ScaledClock::new(Utc::now(), f64::NAN).factor(), 1.0);
    }
}
