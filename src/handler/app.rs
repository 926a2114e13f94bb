//! What every function shares: the [`App`] (configuration and clients), the [`Reply`] to the host,
//! parking a message and queueing a work item.

use crate::arm::ArmClient;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::decision::ParkReason;
use crate::functions::InvocationResponse;
use crate::servicebus::{props, OutgoingMessage, QueueSender, SendError};
use crate::workitem::WorkItem;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tracing::Level;

/// Everything a function needs: configuration, the ARM client, the queue sender and the clock; and the
/// Private Link Service connections this process has seen Pending, and since when
/// ([`crate::pls::PendingBook`]: `MPE_PLS_REJECT_AFTER` counts from there).
pub struct App {
    pub config: Config,
    pub arm: ArmClient,
    /// The data planes that keep MPEs outside ARM (Synapse's), over the ARM client's token source.
    pub data_planes: crate::dataplane::DataPlanes,
    pub sender: Arc<dyn QueueSender>,
    pub clock: SharedClock,
    pub pls_pending: std::sync::Mutex<crate::pls::PendingBook>,
    /// The next checks of a parent's MPEs, gathered into one message ([`super::outbox`]).
    pub outbox: super::outbox::Outbox,
    /// The MPEs `MpeDiscover` queued a check of, and when ([`super::discover`]).
    pub discovered: std::sync::Mutex<super::discover::Discovered>,
    /// The management groups `MPE_ALLOW` names, resolved and cached ([`super::groups`]).
    pub groups: super::groups::GroupCache,
    /// How long MPEs took to turn pending, as this process saw it ([`crate::readiness`]).
    pub readiness: Learned,
}

/// What the process learns of readiness: recorded by each check that sees an MPE not ready yet, or
/// turned ready, read by every check through a snapshot (copied only when a record comes while a check
/// holds one). `MPE_LEARN_READINESS=false`: nothing is recorded and no snapshot is given.
pub struct Learned {
    on: bool,
    model: std::sync::RwLock<Arc<crate::readiness::Readiness>>,
    /// The MPEs last seen not ready: their key, their age then, and when.
    waiting: std::sync::Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    by_mpe: std::collections::HashMap<String, (String, std::time::Duration, chrono::DateTime<chrono::Utc>)>,
    records: u64,
}

/// MPEs remembered as waiting at most (more are not counted); one not seen for [`FORGET_WAITING`] is
/// forgotten, looked for once every 1,024 records (its chain went on elsewhere, or its message was lost).
const MAX_WAITING: usize = 20_000;
const FORGET_WAITING: chrono::Duration = chrono::Duration::minutes(5);

impl Learned {
    pub fn new(on: bool) -> Learned {
        Learned { on, model: Default::default(), waiting: Default::default() }
    }

    /// Whether the process learns (`MPE_LEARN_READINESS`).
    pub fn on(&self) -> bool {
        self.on
    }

    /// What was learnt so far, for one check's decisions; `None` when learning is off.
    pub fn snapshot(&self) -> Option<Arc<crate::readiness::Readiness>> {
        self.on.then(|| self.model.read().map(|m| m.clone()).ok()).flatten()
    }

    fn change(&self, f: impl FnOnce(&mut crate::readiness::Readiness)) {
        if let Ok(mut m) = self.model.write() {
            f(Arc::make_mut(&mut m));
        }
    }

    /// `mpe` no longer in the book of waiting MPEs: its key and its age when last seen not ready.
    fn take(&self, mpe: &crate::resource_id::ResourceId) -> Option<(String, std::time::Duration)> {
        let mut w = self.waiting.lock().ok()?;
        w.by_mpe.remove(&mpe.to_string().to_ascii_lowercase()).map(|(k, a, _)| (k, a))
    }

    /// `mpe` (under `key`) was first seen ready at `age` ([`crate::readiness::Readiness::record`]).
    pub fn ready(&self, mpe: &crate::resource_id::ResourceId, key: &str, age: std::time::Duration) {
        if !self.on {
            return;
        }
        let was = self.take(mpe);
        self.change(|m| {
            if let Some((k, a)) = was {
                m.not_waiting(&k, a);
            }
            m.record(key, age);
        });
    }

    /// `mpe` (under `key`, its type's: the same every time) was seen not ready yet at `age`, at `now`.
    pub fn waiting(
        &self,
        mpe: &crate::resource_id::ResourceId,
        key: &str,
        age: std::time::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        if !self.on {
            return;
        }
        let Ok(mut w) = self.waiting.lock() else { return };
        w.records += 1;
        let mut forgotten = Vec::new();
        if w.records % 1024 == 0 {
            w.by_mpe.retain(|_, (k, a, at)| {
                let stale = now - *at > FORGET_WAITING;
                if stale {
                    forgotten.push((k.clone(), *a));
                }
                !stale
            });
        }
        let id = mpe.to_string().to_ascii_lowercase();
        let counted = w.by_mpe.len() < MAX_WAITING || w.by_mpe.contains_key(&id);
        let was = if counted { w.by_mpe.insert(id, (key.to_string(), age, now)) } else { None };
        drop(w);
        self.change(|m| {
            for (k, a) in forgotten {
                m.not_waiting(&k, a);
            }
            if counted {
                m.waiting(key, age, was.map(|(_, a, _)| a));
            }
        });
    }

    /// `mpe`'s chain ended: it no longer counts as waiting.
    pub fn ended(&self, mpe: &crate::resource_id::ResourceId) {
        if !self.on {
            return;
        }
        if let Some((k, a)) = self.take(mpe) {
            self.change(|m| m.not_waiting(&k, a));
        }
    }
}

impl App {
    /// The production wiring: ARM client and Service Bus REST sender over one token source.
    pub fn new(config: Config, tokens: Arc<dyn crate::auth::TokenSource>, clock: SharedClock) -> anyhow::Result<App> {
        if config.policy.allows_everything() {
            tracing::warn!(
                "MPE_ALLOW holds *->*: any MPE in a watched subscription may be approved on any target the \
                 approver's role reaches (the confused-deputy risk the default same-subscription rule prevents)"
            );
        }
        if config.pls.allow.allows_everything() {
            tracing::warn!(
                "MPE_PLS_ALLOW holds *->*: any consumer, from any subscription, is approved on every watched \
                 Private Link Service"
            );
        }
        let arm = ArmClient::new(&config.arm_endpoint, config.arm_audience.clone(), tokens.clone(), clock.clone())?;
        let sender: Arc<dyn QueueSender> = Arc::new(crate::servicebus::RestSender::new(
            config.servicebus_endpoint.clone(),
            config.servicebus_audience.clone(),
            tokens,
            clock.clone(),
        )?);
        Ok(App::from_parts(config, arm, sender, clock))
    }

    /// An app of these clients, with nothing seen yet (what tests and the demo assemble).
    pub fn from_parts(config: Config, arm: ArmClient, sender: Arc<dyn QueueSender>, clock: SharedClock) -> App {
        let data_planes = crate::dataplane::DataPlanes::new(&config, &arm);
        let readiness = Learned::new(config.learn_readiness);
        App {
            config,
            arm,
            data_planes,
            sender,
            clock,
            pls_pending: Default::default(),
            outbox: Default::default(),
            discovered: Default::default(),
            groups: Default::default(),
            readiness,
        }
    }

    /// The management groups `MPE_SOURCE_SUBSCRIPTIONS` and `MPE_TARGET_SUBSCRIPTIONS` name, resolved
    /// (cached, [`super::groups`]) by `deadline`; none named: nothing read. A group not resolved in time
    /// holds no subscription (the filters refuse what only it lists).
    pub(crate) async fn filter_groups(&self, deadline: tokio::time::Instant) -> crate::policy::Groups {
        let names = self.config.filter_groups();
        if names.is_empty() {
            return Default::default();
        }
        tokio::time::timeout_at(deadline, self.groups.resolve(&self.arm, self.clock.now(), &names))
            .await
            .unwrap_or_default()
    }

    /// Put a message that cannot succeed on the parking queue, with the reason as an application property.
    pub(crate) async fn park(
        &self,
        body: String,
        reason: &ParkReason,
        mpe_id: Option<&str>,
        correlation_id: Option<&str>,
        source: &str,
    ) -> Result<(), SendError> {
        let mut properties = vec![
            (props::PARK_REASON.to_string(), reason.text.clone()),
            (props::PARK_CODE.to_string(), reason.code.as_str().to_string()),
            (props::PARKED_BY.to_string(), source.to_string()),
            (props::PARKED_AT.to_string(), self.clock.now().to_rfc3339()),
        ];
        if let Some(id) = mpe_id {
            properties.push((props::MPE_ID.to_string(), id.to_string()));
        }
        let msg = OutgoingMessage {
            body,
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.map(str::to_string),
            scheduled_enqueue_utc: None,
            time_to_live: None,
            properties,
        };
        self.sender.send(&self.config.parking_queue, msg).await
    }
}

impl App {
    /// Park `body` ([`App::park`]) and log why; when even that fails, log it and fail the invocation so
    /// the host delivers it again: nothing is lost. `what` names the message in the log.
    pub(crate) async fn park_or_fail(
        &self,
        reply: &mut Reply,
        what: &str,
        body: String,
        reason: &ParkReason,
        item: Option<&WorkItem>,
        source: &str,
    ) {
        reply.resp.log(Level::ERROR, format!("{what}: {reason}; parking it"));
        let (mpe_id, correlation_id) = match item {
            Some(i) => (Some(i.mpe_id.as_str()), Some(i.correlation_id.as_str())),
            None => (None, None),
        };
        if let Err(e) = self.park(body, reason, mpe_id, correlation_id, source).await {
            reply.resp.log(Level::ERROR, format!("could not park {what}: {e}"));
            reply.fail = true;
        }
    }
}

/// A function's result: the reply, and whether the invocation should fail (transient trouble).
pub(crate) struct Reply {
    pub resp: InvocationResponse,
    pub fail: bool,
}

impl Reply {
    pub fn new() -> Self {
        Reply { resp: InvocationResponse::default(), fail: false }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = if self.fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        // As `Json` answers, into a buffer sized for the usual reply (a few log lines, no outputs) at once.
        let logs: usize = self.resp.logs.iter().map(|l| l.len() + 8).sum();
        let mut body = Vec::with_capacity(64 + logs);
        match serde_json::to_writer(&mut body, &self.resp) {
            Ok(()) => {
                (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

/// Enqueue a work item on the work queue, scheduled `delay` from now.
pub async fn enqueue(app: &App, item: &WorkItem, delay: std::time::Duration) -> Result<OutgoingMessage, SendError> {
    let msg = work_message(app, item, delay);
    app.sender.send(&app.config.queue, msg.clone()).await?;
    Ok(msg)
}

/// The work-queue message for `item`, scheduled `delay` from now (its id from [`WorkItem::message_id`]).
///
/// [`WorkItem::message_id`]: crate::workitem::WorkItem::message_id
pub fn work_message(app: &App, item: &WorkItem, delay: std::time::Duration) -> OutgoingMessage {
    let at = scheduled_time(app.clock.now(), delay);
    OutgoingMessage {
        body: item.to_json(),
        message_id: item.message_id(),
        correlation_id: Some(item.correlation_id.clone()),
        scheduled_enqueue_utc: if delay.is_zero() { None } else { Some(at) },
        time_to_live: Some(app.config.message_ttl),
        properties: vec![
            (props::MPE_ID.into(), item.mpe_id.to_string()),
            (props::ATTEMPT.into(), item.attempt.to_string()),
        ],
    }
}

/// `now + delay`, rounded to the nearest whole second: `ScheduledEnqueueTimeUtc` travels as RFC 1123,
/// which has no fractions. Nearest (not up) keeps the average interval at the schedule's; a check a
/// fraction of a second early is harmless, since only the MPE's own state gates an approval.
pub fn scheduled_time(now: chrono::DateTime<chrono::Utc>, delay: std::time::Duration) -> chrono::DateTime<chrono::Utc> {
    let at = now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::seconds(1));
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() >= 500_000_000);
    chrono::DateTime::from_timestamp(whole, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::scheduled_time;
    use std::time::Duration;

    #[test]
    fn scheduled_times_round_to_whole_seconds() {
        let now: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00.200Z".parse().unwrap();
        assert_eq!(
            scheduled_time(now, Duration::from_millis(1800)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        assert_eq!(
            scheduled_time(now, Duration::from_millis(1900)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        assert_eq!(
            scheduled_time(now, Duration::from_millis(2300)),
            "2026-11-23T10:00:03Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
        let whole: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(
            scheduled_time(whole, Duration::from_secs(2)),
            "2026-11-23T10:00:02Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        );
    }
}

#[cfg(test)]
mod learned_tests {
    use super::*;
    use crate::resource_id::ResourceId;
    use std::time::Duration;

    const KEY: &str = "microsoft.kusto/clusters/managedprivateendpoints";

    fn mpe(n: usize) -> ResourceId {
        ResourceId::parse(&format!(
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/m{n}"
        ))
        .expect("an MPE id")
    }

    fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a time")
    }

    #[test]
    fn learning_off_records_nothing_and_gives_no_snapshot() {
        let off = Learned::new(false);
        off.waiting(&mpe(1), KEY, Duration::from_secs(5), at(0));
        off.ready(&mpe(1), KEY, Duration::from_secs(9));
        assert!(off.snapshot().is_none());
        let on = Learned::new(true);
        on.ready(&mpe(1), KEY, Duration::from_secs(9));
        assert_eq!(on.snapshot().map(|m| m.seen(KEY)), Some(1.0));
    }

    #[test]
    fn a_waiting_mpe_counts_once_until_ready_ended_or_forgotten() {
        let l = Learned::new(true);
        let waiting = |l: &Learned| l.snapshot().map_or(-1.0, |m| m.waiting_now(KEY));
        // Seen not ready three times: counted once, at its last age.
        for s in [2, 4, 6] {
            l.waiting(&mpe(1), KEY, Duration::from_secs(s), at(s as i64));
        }
        l.waiting(&mpe(2), KEY, Duration::from_secs(3), at(6));
        assert_eq!(waiting(&l), 2.0);
        // Ready: no longer waiting, seen ready once. Its chain ended otherwise: no longer waiting.
        l.ready(&mpe(1), KEY, Duration::from_secs(8));
        assert_eq!((waiting(&l), l.snapshot().map(|m| m.seen(KEY))), (1.0, Some(1.0)));
        l.ended(&mpe(2));
        assert_eq!(waiting(&l), 0.0);
        // One not seen for longer than FORGET_WAITING is forgotten at the next sweep.
        l.waiting(&mpe(3), KEY, Duration::from_secs(3), at(0));
        let later = at(FORGET_WAITING.num_seconds() + 1);
        for n in 0..1024 {
            l.waiting(&mpe(100 + n), KEY, Duration::from_secs(3), later);
        }
        assert_eq!(waiting(&l), 1024.0, "the stale one forgotten, the 1,024 fresh ones counted");
    }

    #[test]
    fn a_full_book_counts_no_more_and_still_forgets_the_stale() {
        let l = Learned::new(true);
        let waiting = |l: &Learned| l.snapshot().map_or(-1.0, |m| m.waiting_now(KEY));
        for n in 0..MAX_WAITING {
            l.waiting(&mpe(n), KEY, Duration::from_secs(3), at(0));
        }
        let later = at(FORGET_WAITING.num_seconds() + 1);
        l.waiting(&mpe(MAX_WAITING), KEY, Duration::from_secs(3), later);
        assert_eq!(waiting(&l), MAX_WAITING as f64, "full: one more is not counted");
        // The next sweep (every 1,024 records) forgets every stale one, in the model too.
        let until_sweep = 1024 - (MAX_WAITING + 1) % 1024;
        for n in 0..until_sweep {
            l.waiting(&mpe(MAX_WAITING + 1 + n), KEY, Duration::from_secs(3), later);
        }
        assert_eq!(waiting(&l), 1.0, "only the last record, made after the sweep, counts");
    }
}
