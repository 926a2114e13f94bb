//! Time, injected. Production uses the system clock. The demo and the tests drive the handler with the
//! simulator's compressed clock (crate azure-sim's `ScaledClock`) through an adapter (`SimTime` in the
//! mpe-demo crate's harness), so minutes of behaviour play out in seconds.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

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

/// A clock that moves only when told, for the crate's unit tests.
#[cfg(test)]
pub(crate) struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn at(rfc3339: &str) -> Arc<ManualClock> {
        Arc::new(ManualClock(std::sync::Mutex::new(rfc3339.parse().unwrap_or_default())))
    }
    pub(crate) fn advance(&self, d: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += chrono::Duration::from_std(d).unwrap_or_default();
        }
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
    fn real(&self, d: Duration) -> Duration {
        d
    }
}
