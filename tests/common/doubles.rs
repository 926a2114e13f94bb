//! Test doubles for the handler's injected dependencies: a fixed clock, a token source, a recording
//! queue sender. Shared by the root tests and the demo crate's (`crates/demo/tests/common/mod.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mpe_approver::auth::{AuthError, TokenSource};
use mpe_approver::clock::Clock;
use mpe_approver::servicebus::{OutgoingMessage, QueueSender, SendError};
use std::sync::Mutex;
use std::time::Duration;

/// A clock stopped at one instant. `Fixed::instant` makes every sleep take no time (`real` is zero);
/// `Fixed::real_sleeps` keeps sleeps real.
pub struct Fixed {
    pub now: DateTime<Utc>,
    pub instant_sleeps: bool,
}

impl Fixed {
    pub fn instant(now: &str) -> Fixed {
        Fixed { now: now.parse().expect("an RFC 3339 time"), instant_sleeps: true }
    }
    pub fn real_sleeps(now: &str) -> Fixed {
        Fixed { now: now.parse().expect("an RFC 3339 time"), instant_sleeps: false }
    }
}

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
    fn real(&self, d: Duration) -> Duration {
        if self.instant_sleeps {
            Duration::ZERO
        } else {
            d
        }
    }
}

/// Hands out a fixed token, or refuses every request (`Tokens::None`).
pub enum Tokens {
    Fixed,
    None,
}

#[async_trait]
impl TokenSource for Tokens {
    async fn token(&self, audience: &str) -> Result<String, AuthError> {
        match self {
            Tokens::Fixed => Ok("token".into()),
            Tokens::None => Err(AuthError::transient(audience, "no tokens in this test")),
        }
    }
}

/// Records every message sent (queue, message); with `fail` every send fails.
#[derive(Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<(String, OutgoingMessage)>>,
    pub fail: bool,
}

#[async_trait]
impl QueueSender for Recorder {
    async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError> {
        if self.fail {
            return Err(SendError::Transport { queue: queue.into(), message: "down".into() });
        }
        self.sent.lock().unwrap().push((queue.to_string(), msg));
        Ok(())
    }
}
