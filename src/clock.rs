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
