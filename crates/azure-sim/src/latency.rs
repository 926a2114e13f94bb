//! Slow dependencies: the real-time delays in force before the simulator answers a kind of request
//! ([`crate::Simulator::set_latency`]; the server's middleware waits them out), for the fault matrix's
//! "slow" cells (a dependency that answers, only late). Real time, not simulated, because what it tests
//! is the approver's real-time budgets and request timeouts.

use axum::http::Method;
use std::collections::HashMap;
use std::time::Duration;

/// Which requests a latency applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dependency {
    /// `GET /msi/token`.
    Identity,
    /// ARM `GET`s.
    ArmRead,
    /// ARM `PUT`s (and any other ARM method).
    ArmWrite,
    /// Every Service Bus REST request (send, peek-lock, settle).
    ServiceBus,
}

impl Dependency {
    fn of(method: &Method, path: &str) -> Option<Dependency> {
        if path.starts_with("/msi/") {
            Some(Dependency::Identity)
        } else if path == "/arm" || path.starts_with("/arm/") {
            Some(if method == Method::GET { Dependency::ArmRead } else { Dependency::ArmWrite })
        } else if path.starts_with("/servicebus/") {
            Some(Dependency::ServiceBus)
        } else {
            None
        }
    }
}

/// The delays in force.
#[derive(Debug, Default)]
pub struct Latencies(HashMap<Dependency, Duration>);

impl Latencies {
    pub fn set(&mut self, d: Dependency, delay: Option<Duration>) {
        match delay {
            Some(delay) => self.0.insert(d, delay),
            None => self.0.remove(&d),
        };
    }
    /// How long to wait before answering a request (`method`, URL `path` on the simulator).
    pub fn for_request(&self, method: &Method, path: &str) -> Option<Duration> {
        Dependency::of(method, path).and_then(|d| self.0.get(&d).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart() {
        assert_eq!(Dependency::of(&Method::GET, "/msi/token"), Some(Dependency::Identity));
        assert_eq!(Dependency::of(&Method::GET, "/arm/subscriptions/x"), Some(Dependency::ArmRead));
        assert_eq!(Dependency::of(&Method::PUT, "/arm/subscriptions/x"), Some(Dependency::ArmWrite));
        assert_eq!(Dependency::of(&Method::POST, "/servicebus/q/messages"), Some(Dependency::ServiceBus));
        assert_eq!(Dependency::of(&Method::GET, "/"), None);
        assert_eq!(Dependency::of(&Method::GET, "/armada"), None);
        let mut l = Latencies::default();
        l.set(Dependency::ArmWrite, Some(Duration::from_millis(5)));
        assert_eq!(l.for_request(&Method::PUT, "/arm/subscriptions/x"), Some(Duration::from_millis(5)));
        assert_eq!(l.for_request(&Method::GET, "/arm/subscriptions/x"), None);
        l.set(Dependency::ArmWrite, None);
        assert_eq!(l.for_request(&Method::PUT, "/arm/subscriptions/x"), None);
    }
}
