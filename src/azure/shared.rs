//! Reads that the checks running in one process share: a GET of a path (a parent's MPE list, a target's
//! PEC list) started less than its freshness ago answers every check that asks for the same path and
//! api-version, and checks asking while it is on its way wait for it instead of sending their own. A
//! Data Factory's twenty MPEs checked at about the same time cost one list, not twenty GETs.
//!
//! What it holds is an ARM answer no older than the freshness (the clock's time from when the GET was
//! sent): as good a sight of the resources as a GET that took that long. No I/O of its own: the caller
//! hands in the call.

use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One GET, sent once, its answer handed to every check that asked for it.
struct Flight<T> {
    started: DateTime<Utc>,
    answer: tokio::sync::OnceCell<T>,
}

/// The GETs sent within their freshness, by path and api-version (lower-case). Entries older than the
/// freshness are dropped whenever a read is asked for, so it holds what the last seconds read, no more.
pub struct SharedReads<T> {
    clock: SharedClock,
    flights: Mutex<HashMap<String, Arc<Flight<T>>>>,
}

impl<T: Clone> SharedReads<T> {
    pub fn new(clock: SharedClock) -> Self {
        SharedReads { clock, flights: Mutex::default() }
    }

    /// The answer of a GET of `key` sent less than `fresh` ago, or of the one on its way, or else of
    /// `call`, sent now and shared. A caller that gives up waiting (its time limit) leaves the GET to
    /// the next one that asks: the answer is only kept once a call has given it. (A caller must hold
    /// nothing the GET on its way may wait for: a subscription's turn is taken by each call alone.)
    pub async fn get<F, Fut>(&self, key: &str, fresh: Duration, call: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let now = self.clock.now();
        let fresh_for = chrono::Duration::from_std(fresh).unwrap_or_default();
        let flight = self.flights.lock().ok().map(|mut m| {
            m.retain(|_, f| now - f.started < fresh_for);
            m.entry(key.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Flight { started: now, answer: tokio::sync::OnceCell::new() }))
                .clone()
        });
        // A poisoned lock shares nothing: every check reads for itself.
        let Some(flight) = flight else { return call().await };
        flight.answer.get_or_init(call).await.clone()
    }

    /// GETs remembered now.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.flights.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn shared(clock: &Arc<ManualClock>) -> SharedReads<u32> {
        SharedReads::new(clock.clone())
    }

    #[tokio::test]
    async fn one_get_answers_every_check_within_its_freshness_and_none_after() {
        let clock = ManualClock::at("2026-12-06T12:00:00Z");
        let s = shared(&clock);
        let calls = AtomicU32::new(0);
        let call = || async { calls.fetch_add(1, Ordering::SeqCst) + 1 };
        let fresh = Duration::from_secs(1);
        assert_eq!(s.get("/a/LIST", fresh, call).await, 1);
        assert_eq!(s.get("/a/list", fresh, call).await, 1, "the same path in another casing shares the answer");
        assert_eq!(s.get("/b/list", fresh, call).await, 2, "another path is its own GET");
        clock.advance(Duration::from_millis(999));
        assert_eq!(s.get("/a/list", fresh, call).await, 1);
        clock.advance(Duration::from_millis(1));
        assert_eq!(s.get("/a/list", fresh, call).await, 3, "a second old: read again");
        assert_eq!(s.remembered(), 1, "the stale ones are dropped");
        assert_eq!(clock.now(), "2026-12-06T12:00:01Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[tokio::test]
    async fn checks_asking_while_the_get_is_on_its_way_wait_for_it() {
        let clock = ManualClock::at("2026-12-06T12:00:00Z");
        let s = Arc::new(shared(&clock));
        let calls = Arc::new(AtomicU32::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let (s, calls, mut rx) = (s.clone(), calls.clone(), rx.clone());
            set.spawn(async move {
                s.get("/p/list", Duration::from_secs(1), || async move {
                    let _ = rx.wait_for(|go| *go).await;
                    calls.fetch_add(1, Ordering::SeqCst) + 10
                })
                .await
            });
        }
        tokio::task::yield_now().await;
        tx.send(true).unwrap();
        let answers: Vec<u32> = set.join_all().await;
        assert_eq!(answers, vec![10; 5]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(rx);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_leaves_the_get_to_the_next() {
        let clock = ManualClock::at("2026-12-06T12:00:00Z");
        let s = shared(&clock);
        let never = s.get("/p/list", Duration::from_secs(1), std::future::pending::<u32>);
        assert!(tokio::time::timeout(Duration::from_millis(10), never).await.is_err());
        assert_eq!(s.get("/p/list", Duration::from_secs(1), || async { 7 }).await, 7);
    }
}
