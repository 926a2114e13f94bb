//! The next checks of one parent's MPEs, sent together (shell): the checks of a Data Factory's twenty
//! MPEs run at the same instants ([`crate::schedule::Schedule::on_grid`]); each that goes on hands its
//! next check here, and the next checks due at the same second leave as one message
//! ([`WorkItem::batch`]), so the parent's next instant is one invocation, not twenty.
//!
//! A check's next item is sent once every check of the parent running in this process has finished or
//! handed in its own and none began for [`GATHER`], or [`MAX_LINGER`] after it was handed in, whichever
//! comes first. Every check whose
//! item a message carries waits for that message's send and answers its invocation by it: a failed send
//! fails every one of them (Service Bus delivers them again), so nothing is acknowledged before the
//! message that carries it on was accepted.

use super::{enqueue, App};
use crate::logsafe::q;
use crate::servicebus::SendError;
use crate::workitem::WorkItem;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a check's next item waits for the parent's other checks in this process, at most (the
/// clock's time): they run together and read the same lists, so they finish within moments of each
/// other; one held up (a server's wait) does not hold the others longer than this.
pub const MAX_LINGER: Duration = Duration::from_millis(250);

/// How long the items stay open once no check of the parent is running (the clock's time): the host
/// delivers one instant's messages within moments of each other, and a check that begins meanwhile
/// joins them.
pub const GATHER: Duration = Duration::from_millis(50);

/// What a send answered, handed to every check whose item it carried.
pub(crate) type Sent = Result<(), Arc<SendError>>;

/// The parent's checks running in this process, and the next items handed in and not sent yet.
#[derive(Default)]
pub struct Outbox {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Checks of each parent begun and not yet finished or handed in.
    running: HashMap<String, usize>,
    /// Next items handed in, by parent and the second they are due.
    open: HashMap<(String, i64), Arc<Entry>>,
}

/// The next items of one parent due at one second.
struct Entry {
    parent: String,
    at: DateTime<Utc>,
    items: Mutex<Vec<WorkItem>>,
    state: watch::Sender<State>,
}

#[derive(Clone)]
enum State {
    /// Gathering: more checks of the parent are running.
    Open,
    /// Every check of the parent has finished or handed in: send now.
    Flush,
    Sent(Sent),
}

impl Outbox {
    /// `n` checks of `mpe`'s parent begin: one [`Ticket`] each, handed in with the check's next item or
    /// dropped when the check ends its chain (or is cancelled).
    pub(crate) fn begin(&self, mpe: &crate::resource_id::ResourceId, n: usize) -> Vec<Ticket<'_>> {
        let parent = WorkItem::parent_key(mpe);
        if let Ok(mut inner) = self.inner.lock() {
            let running = inner.running.entry(parent.clone()).or_default();
            *running += n;
            tracing::trace!(parent = %q(&parent), checks = n, running = *running, "the parent's checks begin");
            // Items about to leave wait for these too.
            for entry in inner.open.values().filter(|e| e.parent == parent) {
                entry.state.send_if_modified(|s| match s {
                    State::Flush => {
                        *s = State::Open;
                        true
                    }
                    _ => false,
                });
            }
        }
        (0..n).map(|_| Ticket { outbox: self, parent: parent.clone(), live: true }).collect()
    }

    /// One check of `parent` finished or handed in its item: when it was the last one running, every
    /// open entry of the parent is sent.
    fn finished(&self, inner: &mut Inner, parent: &str) {
        let left = match inner.running.get_mut(parent) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            inner.running.remove(parent);
            for entry in inner.open.values().filter(|e| e.parent == parent) {
                entry.state.send_if_modified(|s| match s {
                    State::Open => {
                        *s = State::Flush;
                        true
                    }
                    _ => false,
                });
            }
        }
    }

    /// Take `entry` out of the open ones, if it still is: the caller sends it.
    fn seal(&self, entry: &Arc<Entry>) -> bool {
        let Ok(mut inner) = self.inner.lock() else { return false };
        let key = (entry.parent.clone(), entry.at.timestamp());
        match inner.open.get(&key) {
            Some(e) if Arc::ptr_eq(e, entry) => {
                inner.open.remove(&key);
                true
            }
            _ => false,
        }
    }
}

/// One running check of a parent. Dropped unused, it tells the outbox the check is over.
pub(crate) struct Ticket<'a> {
    outbox: &'a Outbox,
    parent: String,
    live: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.live {
            if let Ok(mut inner) = self.outbox.inner.lock() {
                self.outbox.finished(&mut inner, &self.parent);
            }
        }
    }
}

impl Ticket<'_> {
    /// Hand in the check's next item, due `delay` from now, and wait for the message that carries it
    /// to be sent (with the other items of the parent due at the same second).
    pub(crate) async fn send_next(mut self, app: &App, item: WorkItem, delay: Duration) -> Sent {
        let at = super::scheduled_time(app.clock.now(), delay);
        let outbox = self.outbox;
        let entry = {
            let Ok(mut inner) = outbox.inner.lock() else {
                drop(self);
                return enqueue(app, &item, delay).await.map(|_| ()).map_err(Arc::new);
            };
            // What checks cut short (their invocations ran out of time) left behind.
            let stale = at - chrono::Duration::minutes(10);
            inner.open.retain(|_, e| e.at > stale);
            let key = (self.parent.clone(), at.timestamp());
            let entry = inner
                .open
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(Entry {
                        parent: self.parent.clone(),
                        at,
                        items: Mutex::default(),
                        state: watch::channel(State::Open).0,
                    })
                })
                .clone();
            if let Ok(mut items) = entry.items.lock() {
                items.push(item);
            }
            self.live = false;
            outbox.finished(&mut inner, &self.parent);
            tracing::trace!(parent = %q(&self.parent), %at, running = inner.running.get(&self.parent).copied().unwrap_or(0),
                "a check of the parent handed in its next one");
            entry
        };
        let mut state = entry.state.subscribe();
        let linger = crate::clock::sleep(app.clock.as_ref(), MAX_LINGER);
        tokio::pin!(linger);
        let mut lingering = true;
        loop {
            let now = state.borrow_and_update().clone();
            let flush = match now {
                State::Sent(sent) => return sent,
                State::Flush => true,
                State::Open => false,
            };
            let gathered = async {
                if flush {
                    crate::clock::sleep(app.clock.as_ref(), GATHER).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                changed = state.changed() => {
                    // The sender is the entry, which this check holds: it cannot go away.
                    if changed.is_err() {
                        return Err(Arc::new(abandoned(&entry)));
                    }
                }
                () = gathered => {
                    if outbox.seal(&entry) {
                        return send(app, &entry).await;
                    }
                }
                () = &mut linger, if lingering => {
                    lingering = false;
                    if outbox.seal(&entry) {
                        return send(app, &entry).await;
                    }
                }
            }
        }
    }
}

/// Send a sealed entry's items (in as many messages as [`WorkItem::batches`] makes) and tell every check that
/// handed one in. A send cut short (the sending check's invocation ran out of time) tells them it
/// failed.
async fn send(app: &App, entry: &Arc<Entry>) -> Sent {
    struct Publish<'a>(&'a Entry, Option<Sent>);
    impl Drop for Publish<'_> {
        fn drop(&mut self) {
            let sent = self.1.take().unwrap_or_else(|| Err(Arc::new(abandoned(self.0))));
            self.0.state.send_replace(State::Sent(sent));
        }
    }
    let mut publish = Publish(entry, None);
    let items = entry.items.lock().map(|mut i| std::mem::take(&mut *i)).unwrap_or_default();
    let delay = (entry.at - app.clock.now()).to_std().unwrap_or(Duration::ZERO);
    let n = items.len();
    let mut sent: Sent = Ok(());
    for message in WorkItem::batches(items) {
        if let Err(e) = enqueue(app, &message, delay).await {
            sent = Err(Arc::new(e));
            break;
        }
    }
    if n > 0 {
        tracing::debug!(parent = %q(&entry.parent), mpes = n, at = %entry.at, ok = sent.is_ok(),
            "the next checks of the parent's MPEs sent together");
    }
    publish.1 = Some(sent.clone());
    sent
}

fn abandoned(entry: &Entry) -> SendError {
    SendError::Transport {
        queue: String::new(),
        message: format!("the send of the next checks of {} was cut short", q(&entry.parent)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::ArmClient;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::servicebus::{OutgoingMessage, QueueSender};
    use crate::workitem::Origin;

    /// Records what is sent; refuses every send when `fail`.
    #[derive(Default)]
    struct Sent {
        fail: bool,
        messages: Mutex<Vec<OutgoingMessage>>,
    }

    #[async_trait::async_trait]
    impl QueueSender for Sent {
        async fn send(&self, queue: &str, msg: OutgoingMessage) -> Result<(), SendError> {
            if self.fail {
                return Err(SendError::Status { queue: queue.into(), status: 503, body: String::new() });
            }
            self.messages.lock().unwrap().push(msg);
            Ok(())
        }
    }

    struct NoTokens;
    #[async_trait::async_trait]
    impl crate::http::TokenSource for NoTokens {
        async fn token(&self, _: &str) -> Result<String, crate::http::AuthError> {
            Ok(String::new())
        }
    }

    fn config() -> Config {
        Config::from_lookup(|k| (k == "MPE_SERVICEBUS_ENDPOINT").then(|| "http://127.0.0.1:9/sb".into())).unwrap()
    }

    fn app(sent: Arc<Sent>) -> App {
        let config = config();
        let clock = ManualClock::at("2026-12-06T10:00:00.300Z");
        let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(NoTokens), clock.clone())
            .unwrap();
        App::from_parts(config, arm, sent, clock)
    }

    fn item(factory: &str, name: &str) -> WorkItem {
        let id = crate::resource_id::ResourceId::parse(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/{factory}/managedVirtualNetworks/default/managedPrivateEndpoints/{name}"
        ))
        .unwrap();
        WorkItem::new(id, "2026-12-06T10:00:00Z".parse().unwrap(), "c".into(), Origin::EventGrid).with_event_chain(name)
    }

    /// Poll `f` once: whether it is still waiting.
    async fn pending<F: std::future::Future + Unpin>(f: &mut F) -> bool {
        std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx).is_pending())).await
    }

    fn members(m: &OutgoingMessage) -> Vec<String> {
        WorkItem::from_json(&m.body).unwrap().members().iter().map(|i| i.mpe_id.name().to_string()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_parents_next_checks_leave_together_once_every_check_is_done() {
        let sent = Arc::new(Sent::default());
        let app = app(sent.clone());
        let two = Duration::from_millis(1700);
        let mut tickets = app.outbox.begin(&item("f", "a").mpe_id, 3).into_iter();
        let (t1, t2, t3) = (tickets.next().unwrap(), tickets.next().unwrap(), tickets.next().unwrap());
        // Another parent's check is not waited for.
        let other = app.outbox.begin(&item("g", "x").mpe_id, 1).pop().unwrap();
        let first = t1.send_next(&app, item("f", "a"), two);
        tokio::pin!(first);
        assert!(pending(&mut first).await, "waits for the parent's two other checks");
        drop(t2); // that check ended its chain
        assert!(pending(&mut first).await);
        let (a, b) = tokio::join!(first, t3.send_next(&app, item("f", "b"), two));
        assert!(a.is_ok() && b.is_ok());
        let messages = sent.messages.lock().unwrap().clone();
        assert_eq!(messages.len(), 1, "one message for the parent's instant");
        assert_eq!(members(&messages[0]), ["a", "b"]);
        assert_eq!(messages[0].scheduled_enqueue_utc, Some("2026-12-06T10:00:02Z".parse().unwrap()));
        drop(other);
    }

    #[tokio::test(start_paused = true)]
    async fn other_instants_leave_apart_and_a_held_up_check_is_not_waited_for_long() {
        let sent = Arc::new(Sent::default());
        let app = app(sent.clone());
        let mut tickets = app.outbox.begin(&item("f", "a").mpe_id, 3).into_iter();
        let (t1, t2, held_up) = (tickets.next().unwrap(), tickets.next().unwrap(), tickets.next().unwrap());
        let started = tokio::time::Instant::now();
        let (a, b) = tokio::join!(
            t1.send_next(&app, item("f", "a"), Duration::from_secs(2)),
            t2.send_next(&app, item("f", "b"), Duration::from_secs(3)),
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(started.elapsed(), MAX_LINGER, "the third check held them up for the linger, no longer");
        let mut messages: Vec<Vec<String>> = sent.messages.lock().unwrap().iter().map(members).collect();
        messages.sort();
        assert_eq!(messages, [vec!["a"], vec!["b"]]);
        drop(held_up);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_send_fails_every_check_it_carried() {
        let app = app(Arc::new(Sent { fail: true, ..Default::default() }));
        let mut tickets = app.outbox.begin(&item("f", "a").mpe_id, 2).into_iter();
        let (t1, t2) = (tickets.next().unwrap(), tickets.next().unwrap());
        let (a, b) = tokio::join!(
            t1.send_next(&app, item("f", "a"), Duration::from_secs(2)),
            t2.send_next(&app, item("f", "b"), Duration::from_secs(2)),
        );
        assert!(a.is_err() && b.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_cut_short_fails_the_checks_waiting_for_it() {
        /// Never answers.
        struct Hangs;
        #[async_trait::async_trait]
        impl QueueSender for Hangs {
            async fn send(&self, _: &str, _: OutgoingMessage) -> Result<(), SendError> {
                std::future::pending().await
            }
        }
        let config = config();
        let clock = ManualClock::at("2026-12-06T10:00:00Z");
        let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), Arc::new(NoTokens), clock.clone())
            .unwrap();
        let app = App::from_parts(config, arm, Arc::new(Hangs), clock);
        let mut tickets = app.outbox.begin(&item("f", "a").mpe_id, 2).into_iter();
        let (t1, t2) = (tickets.next().unwrap(), tickets.next().unwrap());
        let waiting = t2.send_next(&app, item("f", "b"), Duration::from_secs(2));
        tokio::pin!(waiting);
        assert!(pending(&mut waiting).await);
        // The last check hands in and, once the gathering time is over, sends; its invocation runs out
        // of time mid-send.
        let cut = tokio::time::timeout(GATHER * 2, t1.send_next(&app, item("f", "a"), Duration::from_secs(2)));
        assert!(cut.await.is_err());
        assert!(waiting.await.is_err(), "told the send was cut short, not left waiting");
    }
}
