//! The operator's side of the queues (shell): replay parked or dead-lettered messages, and enumerate a
//! scope's MPEs for `replay --scope` and the `MpeSweep` timer. The CLI and the HTTP `MpeReplay` function
//! call the same code; what a message becomes is decided in [`crate::replay`] (pure).
//!
//! A replay never loses a message: it **peek-locks** each one, sends its replacement (a fresh check,
//! `MessageId` derived from the original's), and completes the original only after that send
//! succeeded. Messages it looks at but does not move (a dry run, another reason, not replayable) stay
//! locked while the scan goes on, so the scan moves past them, and are unlocked at its end.

use super::{work_message, App};
use crate::decision;
use crate::logsafe::{q, q_max};
use crate::providers::{self, Provider};
use crate::replay::{self, Plan, QueuedReplay, Report, Row};
use crate::resource_id::{ListScope, ResourceId};
use crate::servicebus::{LockedMessage, Settle};
use crate::workitem::{Origin, WorkItem};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// A held lock is renewed once it has less than this left.
const RENEW_MARGIN: Duration = Duration::from_secs(20);

/// Replay queued messages within `deadline` (real time). `progress` hears one line per message.
pub async fn replay_queued(
    app: &App,
    req: &QueuedReplay,
    deadline: Instant,
    progress: &(dyn Fn(&Row) + Sync),
) -> Report {
    let queue = req.source.queue(&app.config.queue, &app.config.parking_queue);
    let mut report = Report {
        source: req.source,
        queue: queue.clone(),
        dry_run: req.dry_run,
        seen: 0,
        replayed: 0,
        failed: 0,
        more: false,
        stopped: None,
        rows: Vec::new(),
    };
    let Some(rx) = app.sender.as_receiver() else {
        report.stopped = Some("this queue client cannot receive messages".into());
        return report;
    };
    let started = app.clock.now();
    let mut held: Vec<Held> = Vec::new();
    let record = |report: &mut Report, row: Row| {
        progress(&row);
        report.rows.push(row);
    };
    loop {
        if report.seen >= req.max {
            report.more = true;
            break;
        }
        // Leave time to unlock what is held.
        if Instant::now() + Duration::from_secs(2) >= deadline {
            report.more = true;
            report.stopped = Some("the time budget ran out".into());
            break;
        }
        renew_due(app.clock.now(), rx, &mut held).await;
        let lock = match rx.lock_next(&queue).await {
            Ok(Some(m)) => Held::new(m, app.clock.now()),
            Ok(None) => break,
            Err(e) => {
                report.stopped = Some(e.to_string());
                break;
            }
        };
        let msg = &lock.msg;
        // Queues are FIFO: a message enqueued after the scan began (a replayed item parked again) is for
        // the next run, and so is everything behind it.
        if msg.enqueued_at.is_some_and(|t| t > started) {
            held.push(lock);
            break;
        }
        report.seen += 1;
        let plan = replay::plan(msg, app.clock.now());
        if !replay::selected(msg, req.reason.as_deref()) {
            record(&mut report, Row::of(msg, &plan, "skipped: another reason"));
            held.push(lock);
            continue;
        }
        let item = match &plan {
            Plan::NotReplayable(why) => {
                record(&mut report, Row::of(msg, &plan, format!("not replayable: {why}")));
                held.push(lock);
                continue;
            }
            Plan::Replay(item) => item.clone(),
        };
        if req.dry_run {
            record(&mut report, Row::of(msg, &plan, "would replay"));
            held.push(lock);
            continue;
        }
        let mut out = work_message(app, &item, Duration::ZERO);
        out.message_id = replay::replay_message_id(msg);
        out.properties.extend(replay::carried_properties(msg));
        if let Err(e) = app.sender.send(&app.config.queue, out).await {
            report.failed += 1;
            record(&mut report, Row::of(msg, &plan, format!("failed: {e}; the original stays")));
            held.push(lock);
            report.stopped = Some("the work queue refused a send".into());
            break;
        }
        match rx.settle(msg, Settle::Complete).await {
            Ok(()) => {
                report.replayed += 1;
                tracing::info!(mpe = %item.mpe_id, original = %q(&msg.message_id), queue = %queue, "replayed");
                record(&mut report, Row::of(msg, &plan, "replayed"));
            }
            // Sent but not completed: the original comes back when its lock expires, and replaying it
            // again sends the same MessageId, which duplicate detection collapses.
            Err(e) => {
                report.replayed += 1;
                record(
                    &mut report,
                    Row::of(
                        msg,
                        &plan,
                        format!(
                            "replayed; the original could not be completed ({e}) and returns when its lock expires"
                        ),
                    ),
                );
            }
        }
    }
    for Held { msg: m, .. } in &held {
        if let Err(e) = rx.settle(m, Settle::Unlock).await {
            tracing::warn!(message = %q(&m.message_id), "could not unlock (it returns when its lock expires): {e}");
        }
    }
    report
}

/// A message the scan holds locked, with the length of its lock (the queue's lock duration, as the
/// lock first reported it), so renewals keep pace whatever the queue's setting.
struct Held {
    msg: LockedMessage,
    lock_for: chrono::Duration,
}

impl Held {
    fn new(msg: LockedMessage, now: chrono::DateTime<chrono::Utc>) -> Held {
        let lock_for = msg.locked_until.map(|t| t - now).filter(|d| *d > chrono::Duration::zero());
        // Service Bus's default lock duration when the answer did not say.
        Held { msg, lock_for: lock_for.unwrap_or(chrono::Duration::seconds(60)) }
    }
}

/// Renew the held locks with less than a third of their length (at most [`RENEW_MARGIN`]) left.
async fn renew_due(now: chrono::DateTime<chrono::Utc>, rx: &dyn crate::servicebus::QueueReceiver, held: &mut [Held]) {
    for h in held.iter_mut() {
        let margin = (h.lock_for / 3).min(chrono::Duration::from_std(RENEW_MARGIN).unwrap_or_default());
        if h.msg.locked_until.is_some_and(|t| t - now < margin) {
            match rx.settle(&h.msg, Settle::Renew).await {
                Ok(()) => h.msg.locked_until = Some(now + h.lock_for),
                Err(e) => tracing::warn!(message = %q(&h.msg.message_id), "could not renew a held lock: {e}"),
            }
        }
    }
}

/// One MPE found under a scope.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub mpe_id: String,
    /// The MPE's own status fields, in its service's vocabulary (`provisioningState=... status=...`).
    pub status: String,
    /// Not yet approved (nor otherwise final): a check is (or would be) queued.
    pub enqueue: bool,
    pub message_id: Option<String>,
}

/// What a scope enumeration found and did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub scopes: Vec<String>,
    pub arm_calls: u32,
    pub found: Vec<Found>,
    pub enqueued: u32,
    pub failed: u32,
    /// What the run could not read (a list that failed, the call limit); empty when it saw everything.
    pub incomplete: Vec<String>,
}

/// Enumerate every supported MPE under `scopes` (ARM list calls per MPE type, paged, at most
/// `max_calls`) and, unless `dry_run`, queue a check for each one not yet approved.
pub async fn sweep(app: &App, scopes: &[ListScope], max_calls: u32, dry_run: bool, deadline: Instant) -> Sweep {
    let mut run = Sweep {
        scopes: scopes.iter().map(ToString::to_string).collect(),
        arm_calls: 0,
        found: Vec::new(),
        enqueued: 0,
        failed: 0,
        incomplete: Vec::new(),
    };
    let mut mpes: Vec<(ResourceId, providers::MpeStatus, String)> = Vec::new();
    for scope in scopes {
        for p in providers::registry() {
            let mut walk = Walk { app, run: &mut run, max_calls, deadline };
            if !walk.within_limits() {
                let why = if walk.run.arm_calls >= max_calls { "the ARM call limit" } else { "the time budget" };
                walk.run.incomplete.push(format!("{scope}: {} not enumerated, {why} was reached", p.resource_type()));
                continue;
            }
            walk.provider(scope, *p, &mut mpes).await;
        }
    }
    mpes.sort_by_key(|(id, ..)| id.key());
    mpes.dedup_by_key(|(id, ..)| id.key());
    for (id, status, raw_status) in mpes {
        let enqueue = decision::worth_checking(&status) && app.config.source_subscriptions.permits(id.subscription());
        let mut found = Found { mpe_id: id.to_string(), status: raw_status, enqueue, message_id: None };
        if enqueue {
            let item = WorkItem::new(id, app.clock.now(), uuid::Uuid::new_v4().to_string(), Origin::Sweep);
            found.message_id = Some(item.message_id());
            if !dry_run {
                match super::enqueue(app, &item, Duration::ZERO).await {
                    Ok(_) => run.enqueued += 1,
                    Err(e) => {
                        run.failed += 1;
                        run.incomplete.push(format!("{}: not queued: {e}", item.mpe_id));
                    }
                }
            }
        }
        run.found.push(found);
    }
    run
}

struct Walk<'a> {
    app: &'a App,
    run: &'a mut Sweep,
    max_calls: u32,
    deadline: Instant,
}

impl Walk<'_> {
    /// Walk one provider's hierarchy under `scope`: list the top-level parents, then each level's
    /// children, down to the MPEs; what it cannot read (a failed list, the limits) is noted in the run.
    async fn provider(
        &mut self,
        scope: &ListScope,
        p: &dyn Provider,
        out: &mut Vec<(ResourceId, providers::MpeStatus, String)>,
    ) {
        let mut types = p.resource_type().split('/');
        let namespace = types.next().unwrap_or_default();
        let levels: Vec<&str> = types.collect();
        let Some((top, children)) = levels.split_first() else { return };
        let mut parents: Vec<String> = Vec::new();
        let Some(items) = self.list(&format!("{scope}/providers/{namespace}/{top}"), p.api_version()).await else {
            return;
        };
        parents.extend(items.iter().filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string)));
        for (depth, child) in children.iter().enumerate() {
            let leaf = depth + 1 == children.len();
            let mut next = Vec::new();
            for parent in &parents {
                let Ok(pid) = ResourceId::parse(parent) else {
                    self.run.incomplete.push(format!("a list answered an id that is not one: {}", q_max(parent, 200)));
                    continue;
                };
                if !scope.contains(&pid) {
                    continue;
                }
                let Some(items) = self.list(&format!("{pid}/{child}"), p.api_version()).await else {
                    continue;
                };
                for v in items {
                    let Some(raw) = v.get("id").and_then(Value::as_str) else { continue };
                    if !leaf {
                        next.push(raw.to_string());
                        continue;
                    }
                    match ResourceId::parse(raw) {
                        Ok(id) if id.is_type(p.resource_type()) => match p.parse(&id, &v) {
                            Ok(view) => out.push((id, view.status, view.raw_status)),
                            Err(e) => {
                                out.push((id, providers::MpeStatus::Unknown(e.to_string()), format!("unreadable: {e}")))
                            }
                        },
                        _ => self.run.incomplete.push(format!("not an MPE id in {pid}/{child}: {}", q_max(raw, 200))),
                    }
                }
            }
            parents = next;
        }
    }

    fn within_limits(&self) -> bool {
        self.run.arm_calls < self.max_calls && Instant::now() < self.deadline
    }

    /// Every item of a list (following `nextLink`), or `None` when it could not be read whole.
    async fn list(&mut self, path: &str, api_version: &str) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        let mut page = None::<String>;
        loop {
            if !self.within_limits() {
                let why = if self.run.arm_calls >= self.max_calls { "the ARM call limit" } else { "the time budget" };
                self.run.incomplete.push(format!("{path}: not read, {why} was reached"));
                return None;
            }
            self.run.arm_calls += 1;
            let got = match &page {
                None => self.app.arm.get_path(path, api_version).await,
                Some(next) => self.app.arm.get_next(next).await,
            };
            let body = match got {
                Ok(Some(b)) => b,
                // A provider not registered in the subscription, or a scope with none: nothing there.
                Ok(None) => return Some(items),
                Err(e) => {
                    self.run.incomplete.push(format!("{path}: {e}"));
                    return None;
                }
            };
            items.extend(body.get("value").and_then(Value::as_array).cloned().unwrap_or_default());
            match body.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(next) => page = Some(next.to_string()),
                None => return Some(items),
            }
        }
    }
}

/// The api-version of `Microsoft.ServiceBus/namespaces/queues` read for `countDetails`.
pub const SERVICEBUS_API_VERSION: &str = "2021-11-01";

/// One queue's depth, from ARM (`countDetails`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    pub queue: String,
    pub active: u64,
    pub dead_lettered: u64,
    pub scheduled: u64,
}

/// What `status` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub queues: Vec<QueueDepth>,
    /// Parked messages by park code, from a bounded scan (every lock counts as a delivery).
    pub parked_by_reason: std::collections::BTreeMap<String, u32>,
    /// Dead-lettered messages of the work queue by dead-letter reason.
    pub dead_lettered_by_reason: std::collections::BTreeMap<String, u32>,
    /// A scan stopped at its bound: the groups count only what it saw.
    pub partial: bool,
    pub errors: Vec<String>,
}

impl Status {
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{:<32} {:>8} {:>12} {:>10}", "queue", "active", "dead-letter", "scheduled");
        for q in &self.queues {
            let _ = writeln!(s, "{:<32} {:>8} {:>12} {:>10}", q.queue, q.active, q.dead_lettered, q.scheduled);
        }
        for (title, groups) in
            [("parked by reason", &self.parked_by_reason), ("dead-lettered by reason", &self.dead_lettered_by_reason)]
        {
            let _ = writeln!(s, "{title}:{}", if groups.is_empty() { " none" } else { "" });
            for (reason, n) in groups {
                let _ = writeln!(s, "  {:<30} {n:>6}", q_max(reason, 28));
            }
        }
        if self.partial {
            let _ = writeln!(s, "(the scans stopped at --max: counts are of what they saw)");
        }
        for e in &self.errors {
            let _ = writeln!(s, "error: {}", crate::logsafe::scrub(e));
        }
        s
    }
}

/// Queue depths from ARM and the parked / dead-lettered messages grouped by reason (dry-run scans of at
/// most `max` messages each: nothing moves).
pub async fn status(app: &App, max: u32, deadline: Instant) -> Status {
    let mut st = Status {
        queues: Vec::new(),
        parked_by_reason: Default::default(),
        dead_lettered_by_reason: Default::default(),
        partial: false,
        errors: Vec::new(),
    };
    match &app.config.servicebus_resource_id {
        None => {
            st.errors.push("MPE_SERVICEBUS_RESOURCE_ID is not set: queue depths need the namespace's ARM id".into())
        }
        Some(ns) => {
            for queue in [&app.config.queue, &app.config.parking_queue] {
                match app.arm.get_path(&format!("{ns}/queues/{queue}"), SERVICEBUS_API_VERSION).await {
                    Ok(Some(body)) => {
                        let n = |k: &str| {
                            body.pointer(&format!("/properties/countDetails/{k}")).and_then(Value::as_u64).unwrap_or(0)
                        };
                        st.queues.push(QueueDepth {
                            queue: queue.clone(),
                            active: n("activeMessageCount"),
                            dead_lettered: n("deadLetterMessageCount"),
                            scheduled: n("scheduledMessageCount"),
                        });
                    }
                    Ok(None) => st.errors.push(format!("queue {queue} does not exist in {ns}")),
                    Err(e) => st.errors.push(format!("queue {queue}: {e}")),
                }
            }
        }
    }
    for source in [replay::Source::Parked, replay::Source::DeadLetter] {
        let q = QueuedReplay { source, reason: None, max, dry_run: true };
        let r = replay_queued(app, &q, deadline, &|_| {}).await;
        st.partial |= r.more;
        if let Some(e) = r.stopped.filter(|_| !r.more) {
            st.errors.push(format!("{}: {e}", r.queue));
        }
        let groups = match source {
            replay::Source::Parked => &mut st.parked_by_reason,
            replay::Source::DeadLetter => &mut st.dead_lettered_by_reason,
        };
        for row in r.rows {
            *groups.entry(row.reason.unwrap_or_else(|| "(none)".into())).or_default() += 1;
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicebus::{QueueReceiver, ReceiveError};
    use std::sync::Mutex;

    /// Records the settlements asked of it; every one succeeds.
    #[derive(Default)]
    struct Settlements(Mutex<Vec<(String, Settle)>>);

    #[async_trait::async_trait]
    impl QueueReceiver for Settlements {
        async fn lock_next(&self, _: &str) -> Result<Option<LockedMessage>, ReceiveError> {
            Ok(None)
        }
        async fn settle(&self, msg: &LockedMessage, how: Settle) -> Result<(), ReceiveError> {
            self.0.lock().unwrap().push((msg.message_id.clone(), how));
            Ok(())
        }
    }

    fn locked(id: &str, until: chrono::DateTime<chrono::Utc>) -> LockedMessage {
        LockedMessage {
            queue: "q".into(),
            body: String::new(),
            message_id: id.into(),
            lock_token: format!("lock-{id}"),
            sequence_number: None,
            delivery_count: 1,
            enqueued_at: None,
            locked_until: Some(until),
            correlation_id: None,
            properties: Default::default(),
        }
    }

    /// Held locks are renewed once less than a third of their own length (20 s at most) is left, by
    /// their own length, and not before.
    #[tokio::test]
    async fn held_locks_are_renewed_by_their_own_length_when_a_third_is_left() {
        let t0: chrono::DateTime<chrono::Utc> = "2026-12-02T10:00:00Z".parse().unwrap();
        let s = chrono::Duration::seconds;
        // A 30 s lock and a 5 min lock, both taken at t0.
        let mut held = vec![Held::new(locked("short", t0 + s(30)), t0), Held::new(locked("long", t0 + s(300)), t0)];
        let rx = Settlements::default();
        renew_due(t0 + s(15), &rx, &mut held).await;
        assert!(rx.0.lock().unwrap().is_empty(), "15 s of 30 left: not yet");
        renew_due(t0 + s(21), &rx, &mut held).await;
        assert_eq!(*rx.0.lock().unwrap(), vec![("short".to_string(), Settle::Renew)], "9 s of 30 left: renewed");
        assert_eq!(held[0].msg.locked_until, Some(t0 + s(51)), "by its own length, from now");
        renew_due(t0 + s(279), &rx, &mut held).await;
        let settled = rx.0.lock().unwrap().clone();
        assert!(!settled.contains(&("long".to_string(), Settle::Renew)), "21 s of 5 min left: not yet (20 s margin)");
        renew_due(t0 + s(281), &rx, &mut held).await;
        let settled = rx.0.lock().unwrap().clone();
        assert!(settled.contains(&("long".to_string(), Settle::Renew)), "19 s left: renewed: {settled:?}");
        assert_eq!(held[1].msg.locked_until, Some(t0 + s(581)));
    }
}
