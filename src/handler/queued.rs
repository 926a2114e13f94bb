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
use crate::servicebus::{LockedMessage, ReceiveError, Settle};
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
        too_large: 0,
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
        let (lock, too_large) = match rx.lock_next(&queue).await {
            Ok(Some(m)) => (Held::new(m, app.clock.now()), None),
            Ok(None) => break,
            Err(ReceiveError::TooLarge { locked, cap }) => (Held::new(*locked, app.clock.now()), Some(cap)),
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
        // Its body cannot be read here: held (so the scan moves past it), listed, never replayed.
        if let Some(cap) = too_large {
            report.too_large += 1;
            let why = format!("its body is over the {} KiB receive cap", cap / 1024);
            let action = format!(
                "skipped: {why}; left in place (read it in the portal's Service Bus explorer, then replay its MPE \
                 by id)"
            );
            tracing::warn!(message = ?msg.message_id, queue = %queue, "{why}: skipped, left in place");
            record(&mut report, Row::of(msg, &Plan::NotReplayable(why), action));
            held.push(lock);
            continue;
        }
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
            Plan::Replay(item) => (**item).clone(),
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
    /// Not known to be approved (nor otherwise final): the MPE does not say it is, or, for Data Explorer
    /// (whose MPE never says), it is still new. A check is (or would be) queued.
    pub enqueue: bool,
    pub message_id: Option<String>,
    /// Worth a check but not queued: why (the time budget ran out, the send failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_queued: Option<String>,
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
    /// Where this run's walk started ([`rotation`]), as a 64-bit fraction in hex.
    pub rotation: String,
    /// MPE types (per scope) whose parents were not listed: the limits were reached first.
    pub types_not_listed: u32,
    /// Parents (clusters, factories, ...) listed but whose MPEs were not: the limits were reached first.
    pub parents_not_listed: u32,
    /// MPEs listed and worth a check whose check was not queued: the time budget ran out first.
    pub not_queued: u32,
}

impl Sweep {
    /// The MPEs listed that are worth a check (queued or not).
    pub fn wanted(&self) -> usize {
        self.found.iter().filter(|f| f.enqueue).count()
    }

    /// One line for the log and the CLI: what was listed, queued, and what was left for the next run.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} MPEs under {}, {} not known to be approved, {} queued, {} ARM calls",
            self.found.len(),
            self.scopes.join(", "),
            self.wanted(),
            self.enqueued,
            self.arm_calls
        );
        if self.not_queued + self.failed + self.parents_not_listed + self.types_not_listed > 0 {
            s.push_str(&format!(
                "; left for the next run: {} listed but not queued, {} failed to queue, {} parents and {} MPE \
                 types not listed (rotation {})",
                self.not_queued, self.failed, self.parents_not_listed, self.types_not_listed, self.rotation
            ));
        }
        s
    }
}

/// Where a sweep run starts, from the run's time: the fraction `frac(h/φ)` of the hour number `h`, as a
/// 64-bit fixed-point number (Fibonacci hashing, a Weyl sequence). The parents (clusters, factories,
/// ...) of every MPE type are put in one order by a hash of their id, which interleaves the types, and
/// a run walks them from that fraction of the list, wrapping around (the MPE types are listed from the
/// same fraction of their list). A run cut short by `MPE_SWEEP_MAX_CALLS` or `MPE_SWEEP_BUDGET` thus
/// leaves a different part of the scope for the next, with no state kept between runs. Successive
/// starts of a timer with any fixed period spread evenly over the list (the three-gap theorem) and
/// never repeat, so every parent comes early in some run within a bounded number of runs: no MPE is
/// skipped forever. A daily run moves its start back by a sixth of the list (`frac(24/φ)` ≈ 0.833), so
/// runs that each reach a sixth of the parents (and one more) reach them all within six days; runs in the same
/// hour start at the same place.
pub fn rotation(now: chrono::DateTime<chrono::Utc>) -> u64 {
    rotation_every(now, 3600)
}

/// [`rotation`] with runs counted in periods of `period_secs` (at least 1): the `MpePlsScan` timer,
/// which runs every minute, moves its start every minute.
pub fn rotation_every(now: chrono::DateTime<chrono::Utc>, period_secs: i64) -> u64 {
    (now.timestamp().div_euclid(period_secs.max(1)) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `⌊start / 2^64 × len⌋`: the index a rotation starts at in a list of `len`.
pub(crate) fn fraction_of(start: u64, len: usize) -> usize {
    ((u128::from(start) * len as u128) >> 64) as usize
}

/// A parent's place in the sweep's order: FNV-1a of its lower-cased id, mixed (SplitMix64's finaliser)
/// so that ids differing only at the end spread out. Stable across builds and runs.
pub(crate) fn order_key(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A top-level parent to walk: its scope (none for a data plane's parent a setting names), its MPE type
/// and its id.
struct Parent {
    position: u64,
    scope: Option<usize>,
    provider: &'static dyn Provider,
    id: ResourceId,
    /// Its body as listed: the MPE itself where the type is top-level (a private endpoint).
    body: Value,
}

/// Enumerate every supported MPE under `scopes` (ARM list calls per MPE type, paged, at most
/// `max_calls`) and, unless `dry_run`, queue a check for each one not yet approved; everything, the
/// lists and the sends, ends by `deadline`.
///
/// First the top-level parents of each MPE type under each scope (the types in an order rotated by
/// [`rotation`]), then parent by parent, in hash order from the rotation's start: list the
/// parent's MPEs and queue their checks before the next parent, so what a cut-short run did is whole
/// parents, and what it left (types and parents not listed, MPEs not queued) is counted in the report.
///
/// `progress` hears each MPE found, once, after its check was queued (or not), with the run so far.
pub async fn sweep(
    app: &App,
    scopes: &[ListScope],
    max_calls: u32,
    dry_run: bool,
    deadline: Instant,
    progress: &(dyn Fn(&Found, &Sweep) + Sync),
) -> Sweep {
    let limits = Limits { max_calls, dry_run, deadline, rotation_secs: 3600 };
    walk_scopes(app, scopes, providers::registry(), limits, progress, None).await
}

/// How far one walk may go, and whether it sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_calls: u32,
    pub dry_run: bool,
    pub deadline: Instant,
    /// How often the walk's start moves ([`rotation_every`]): the hour for the sweep, the minute for
    /// discovery.
    pub rotation_secs: i64,
}

/// [`sweep`] over the MPE types `registry` (those turned on), starting where the run's time puts it
/// ([`rotation_every`], its period `limits.rotation_secs`); with
/// `memory`, an MPE it says was queued lately is not queued again ([`super::discover::Discovered`]).
pub(crate) async fn walk_scopes(
    app: &App,
    scopes: &[ListScope],
    registry: &[&'static dyn Provider],
    limits: Limits,
    progress: &(dyn Fn(&Found, &Sweep) + Sync),
    memory: Option<&std::sync::Mutex<super::discover::Discovered>>,
) -> Sweep {
    let Limits { max_calls, dry_run, deadline, rotation_secs } = limits;
    // The management groups the source filter names, resolved (cached) once for the run.
    let groups = app.filter_groups(deadline).await;
    let start = rotation_every(app.clock.now(), rotation_secs);
    let mut run = Sweep {
        scopes: scopes.iter().map(ToString::to_string).collect(),
        arm_calls: 0,
        found: Vec::new(),
        enqueued: 0,
        failed: 0,
        incomplete: Vec::new(),
        rotation: format!("{start:016x}"),
        types_not_listed: 0,
        parents_not_listed: 0,
        not_queued: 0,
    };
    let first = fraction_of(start, registry.len());
    let mut parents: Vec<Parent> = Vec::new();
    let mut seen_parents = std::collections::HashSet::new();
    for (si, scope) in scopes.iter().enumerate() {
        for i in 0..registry.len() {
            let p = registry[(first + i) % registry.len()];
            if p.opt_in().is_some_and(|s| !app.config.opted_in().contains(&s)) {
                continue;
            }
            let mut walk = Walk { app, run: &mut run, max_calls, deadline, memory };
            if let Some(why) = walk.limit_reached() {
                walk.run.types_not_listed += 1;
                walk.run.incomplete.push(format!("{scope}: {} not listed, {why} was reached", p.resource_type()));
                continue;
            }
            for (id, body) in walk.top_parents(scope, p).await {
                if seen_parents.insert(id.key()) {
                    parents.push(Parent { position: order_key(&id.key()), scope: Some(si), provider: p, id, body });
                }
            }
        }
    }
    // The parents a setting names (Databricks' NCCs), once, whatever the scopes.
    for &p in registry {
        let named = matches!(p.data_plane().map(|d| d.parents), Some(providers::Parents::Setting(_)));
        if !named || p.opt_in().is_some_and(|s| !app.config.opted_in().contains(&s)) {
            continue;
        }
        for id in app.config.data_plane(p.resource_type()).map(|d| d.parents.clone()).unwrap_or_default() {
            if seen_parents.insert(id.key()) {
                parents.push(Parent {
                    position: order_key(&id.key()),
                    scope: None,
                    provider: p,
                    id,
                    body: Value::Null,
                });
            }
        }
    }
    parents.sort_by_key(|p| (p.position, p.id.key()));
    let offset = fraction_of(start, parents.len());
    parents.rotate_left(offset);
    let mut seen_mpes = std::collections::HashSet::new();
    for (i, parent) in parents.iter().enumerate() {
        let mut walk = Walk { app, run: &mut run, max_calls, deadline, memory };
        if let Some(why) = walk.limit_reached() {
            let left = (parents.len() - i) as u32;
            walk.run.parents_not_listed += left;
            walk.run.incomplete.push(format!("{left} parents not listed ({} first), {why} was reached", parent.id));
            break;
        }
        let scope = parent.scope.and_then(|i| scopes.get(i));
        let mut mpes = walk.subtree(scope, parent.provider, &parent.id, &parent.body).await;
        mpes.retain(|(id, ..)| seen_mpes.insert(id.key()));
        mpes.sort_by_key(|(id, ..)| id.key());
        for (id, worth, raw_status) in mpes {
            let now = app.clock.now();
            let fresh = memory.is_none_or(|m| {
                m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).wants(
                    &id,
                    worth,
                    now,
                    app.config.schedule.give_up_after,
                )
            });
            let enqueue = worth && fresh && app.config.source_subscriptions.permits_in(id.subscription(), &groups);
            let mut found =
                Found { mpe_id: id.to_string(), status: raw_status, enqueue, message_id: None, not_queued: None };
            if enqueue {
                let item = WorkItem::new(id, app.clock.now(), uuid::Uuid::new_v4().to_string(), Origin::Sweep);
                found.message_id = Some(item.message_id());
                if !dry_run {
                    let sent = if Instant::now() < deadline {
                        tokio::time::timeout_at(deadline, super::enqueue(app, &item, Duration::ZERO)).await.ok()
                    } else {
                        None
                    };
                    match sent {
                        Some(Ok(_)) => {
                            run.enqueued += 1;
                            if let Some(m) = memory {
                                m.lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .queued(&item.mpe_id, app.clock.now());
                            }
                        }
                        Some(Err(e)) => {
                            run.failed += 1;
                            run.incomplete.push(format!("{}: not queued: {e}", item.mpe_id));
                            found.not_queued = Some(format!("the send failed: {e}"));
                        }
                        None => {
                            run.not_queued += 1;
                            found.not_queued = Some("the time budget ran out before its check was queued".into());
                        }
                    }
                }
            }
            run.found.push(found);
            if let Some(f) = run.found.last() {
                progress(f, &run);
            }
        }
    }
    if run.not_queued > 0 {
        run.incomplete.push(format!("{} MPEs listed but not queued: the time budget ran out", run.not_queued));
    }
    run.found.sort_by_key(|f| f.mpe_id.to_ascii_lowercase());
    run
}

struct Walk<'a> {
    app: &'a App,
    run: &'a mut Sweep,
    max_calls: u32,
    deadline: Instant,
    memory: Option<&'a std::sync::Mutex<super::discover::Discovered>>,
}

impl Walk<'_> {
    /// The top-level parents of `p`'s MPEs under `scope` (e.g. the clusters, the factories; the MPEs
    /// themselves where the type is top-level), with their listed bodies; none when the list could not be
    /// read whole (noted in the run).
    async fn top_parents(&mut self, scope: &ListScope, p: &dyn Provider) -> Vec<(ResourceId, Value)> {
        let mut types = p.resource_type().split('/');
        let namespace = types.next().unwrap_or_default();
        let Some(top) = types.next() else { return Vec::new() };
        // A data plane's parents are ARM resources (listed with ARM's api-version for them), or named by
        // a setting (not listed here).
        let api_version = match p.data_plane().map(|d| d.parents) {
            None => p.api_version(),
            Some(providers::Parents::Arm { api_version, .. }) => api_version,
            Some(providers::Parents::Setting(_)) => return Vec::new(),
        };
        let Some(items) = self.list(&format!("{scope}/providers/{namespace}/{top}"), api_version).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (raw, body) in items.iter().filter_map(|v| Some((v.get("id").and_then(Value::as_str)?, v))) {
            match ResourceId::parse(raw) {
                Ok(pid) if scope.contains(&pid) => out.push((pid, body.clone())),
                Ok(_) => {}
                Err(_) => {
                    self.run.incomplete.push(format!("a list answered an id that is not one: {}", q_max(raw, 200)))
                }
            }
        }
        out
    }

    /// The MPEs under one top-level parent, walking `p`'s type hierarchy down from it (the parent itself,
    /// read from its listed `body`, where the type is top-level); what it cannot read (a failed list, the
    /// limits) is noted in the run.
    async fn subtree(
        &mut self,
        scope: Option<&ListScope>,
        p: &dyn Provider,
        top: &ResourceId,
        body: &Value,
    ) -> Vec<(ResourceId, bool, String)> {
        let children: Vec<&str> = p.resource_type().split('/').skip(2).collect();
        let mut out = Vec::new();
        if let Some(dp) = p.data_plane() {
            // The MPEs' parent: under the top-level one (a workspace's network), or the one a setting names.
            let parent = match dp.parents {
                providers::Parents::Arm { under, .. } => ResourceId::parse(&format!("{top}/{under}")),
                providers::Parents::Setting(_) => Ok(top.clone()),
            };
            let Ok(parent) = parent else {
                self.run.incomplete.push(format!("{top}: no parent of {} under it", p.resource_type()));
                return out;
            };
            let Some(at) = self.app.data_planes.parent_list(p.resource_type(), &parent) else {
                self.run.incomplete.push(format!("{}: its data plane is not configured", p.resource_type()));
                return out;
            };
            return self.on_data_plane(p, &parent, at).await;
        }
        let Some(scope) = scope else { return out };
        if children.is_empty() {
            out.push(self.found(p, top, body));
            return out;
        }
        let mut parents = vec![top.to_string()];
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
                        Ok(id) if id.is_type(p.resource_type()) => out.push(self.found(p, &id, &v)),
                        _ => self.run.incomplete.push(format!("not an MPE id in {pid}/{child}: {}", q_max(raw, 200))),
                    }
                }
            }
            parents = next;
        }
        out
    }

    /// The MPEs of `parent` (a workspace's network, an NCC) as its data plane lists them, every page, read
    /// as its provider reads the items, but the service's own reserved ones; with a memory, those it held
    /// under `parent` and the complete list no longer shows are forgotten (deleted: an MPE created again
    /// under the name is new).
    async fn on_data_plane(
        &mut self,
        p: &dyn Provider,
        parent: &ResourceId,
        at: Result<crate::dataplane::Located<'_>, String>,
    ) -> Vec<(ResourceId, bool, String)> {
        let mut out = Vec::new();
        let at = match at {
            Ok(at) => at,
            Err(why) => {
                self.run.incomplete.push(format!("{parent}: {why}"));
                return out;
            }
        };
        let Some(items) = self.list_on(at.client, &at.list, at.api_version, Some((&at.origin, at.lists))).await else {
            return out;
        };
        for v in &items {
            match self.app.data_planes.listed_id(p.resource_type(), parent, v) {
                // The service's own MPEs (Synapse's reserved ones) are not listed among the customer's.
                Some(id) if p.parse(&id, v).is_ok_and(|m| m.status == providers::MpeStatus::Reserved) => {}
                Some(id) => out.push(self.found(p, &id, v)),
                None => self
                    .run
                    .incomplete
                    .push(format!("not an MPE of {parent} in its list: {}", q_max(&v.to_string(), 200))),
            }
        }
        if let Some(m) = self.memory {
            let listed: Vec<String> = out.iter().map(|(id, ..)| id.key()).collect();
            m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).listed(parent, &listed);
        }
        out
    }

    /// An MPE as listed: whether it is worth a check, and its state for the report.
    fn found(&self, p: &dyn Provider, id: &ResourceId, body: &Value) -> (ResourceId, bool, String) {
        match p.parse(id, body) {
            Ok(view) => {
                let worth = decision::worth_checking(&view, self.app.clock.now(), &self.app.config.schedule);
                (id.clone(), worth, view.raw_status)
            }
            Err(e) => (id.clone(), true, format!("unreadable: {e}")),
        }
    }

    /// Which limit the run has reached, if any.
    fn limit_reached(&self) -> Option<&'static str> {
        if self.run.arm_calls >= self.max_calls {
            Some("the ARM call limit")
        } else if Instant::now() >= self.deadline {
            Some("the time budget")
        } else {
            None
        }
    }

    /// Every item of an ARM list (following `nextLink`), or `None` when it could not be read whole.
    async fn list(&mut self, path: &str, api_version: &str) -> Option<Vec<Value>> {
        let arm = &self.app.arm;
        self.list_on(arm, path, api_version, None).await
    }

    /// Every item of a list through `client` (following `nextLink`: on ARM; or, for a data plane's, its
    /// pages as its shape says, under its origin), or `None` when it could not be read whole.
    async fn list_on(
        &mut self,
        client: &crate::arm::ArmClient,
        path: &str,
        api_version: &str,
        plane: Option<(&str, providers::ListShape)>,
    ) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        let mut page = None::<String>;
        loop {
            if let Some(why) = self.limit_reached() {
                self.run.incomplete.push(format!("{path}: not read, {why} was reached"));
                return None;
            }
            self.run.arm_calls += 1;
            let call = async {
                match (&page, plane) {
                    (None, _) => client.get_path(path, api_version).await,
                    (Some(next), None) => client.get_next(next).await,
                    (Some(next), Some((origin, _))) => client.get_next_on(next, origin).await,
                }
            };
            let Ok(got) = tokio::time::timeout_at(self.deadline, call).await else {
                self.run.incomplete.push(format!("{path}: not read whole, the time budget was reached"));
                return None;
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
            let shape = plane.map_or(providers::ListShape::Value, |(_, shape)| shape);
            items.extend(shape.items(&body).iter().cloned());
            match shape.next(path, &body) {
                Some(next) => page = Some(next),
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
    /// Messages of the parking queue's own dead-letter queue (parked items whose deliveries, scans
    /// included, were used up) by park code, or dead-letter reason when they have none.
    pub parked_dead_lettered_by_reason: std::collections::BTreeMap<String, u32>,
    /// A scan stopped at its bound: the groups count only what it saw.
    pub partial: bool,
    /// What `MpeDiscover` watches: each source without ARM events that is turned on.
    pub discovery: Vec<Discovery>,
    pub errors: Vec<String>,
}

/// One source `MpeDiscover` lists, from the configuration.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    pub service: String,
    /// Where its MPEs are read (the endpoint, its placeholder standing for each parent's name).
    pub endpoint: String,
    /// The scopes whose parents are listed, or the parents a setting names (Databricks' NCCs, Fabric's
    /// workspaces).
    pub scopes: Vec<String>,
    pub max_calls: u32,
}

impl Status {
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{:<32} {:>8} {:>12} {:>10}", "queue", "active", "dead-letter", "scheduled");
        for q in &self.queues {
            let _ = writeln!(s, "{:<32} {:>8} {:>12} {:>10}", q.queue, q.active, q.dead_lettered, q.scheduled);
        }
        for (title, groups) in [
            ("parked by reason", &self.parked_by_reason),
            ("dead-lettered by reason", &self.dead_lettered_by_reason),
            (
                "parked, then dead-lettered (replay --parked-dead-letter), by reason",
                &self.parked_dead_lettered_by_reason,
            ),
        ] {
            let _ = writeln!(s, "{title}:{}", if groups.is_empty() { " none" } else { "" });
            for (reason, n) in groups {
                let _ = writeln!(s, "  {:<30} {n:>6}", q_max(reason, 28));
            }
        }
        if self.partial {
            let _ = writeln!(s, "(the scans stopped at --max: counts are of what they saw)");
        }
        if self.discovery.is_empty() {
            let _ = writeln!(s, "discovery (MpeDiscover): no source without ARM events is turned on");
        }
        for d in &self.discovery {
            let scopes = if d.scopes.is_empty() { "no scope or parent named".to_string() } else { d.scopes.join(", ") };
            let _ = writeln!(
                s,
                "discovery (MpeDiscover): {} on {}, under {scopes}, at most {} calls a run",
                d.service, d.endpoint, d.max_calls
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "error: {}", crate::logsafe::scrub(e));
        }
        s
    }
}

/// Queue depths from ARM and the parked / dead-lettered messages grouped by reason (dry-run scans of at
/// most `max` messages each: nothing moves, but every message looked at counts a delivery).
pub async fn status(app: &App, max: u32, deadline: Instant) -> Status {
    let mut st = Status {
        queues: Vec::new(),
        parked_by_reason: Default::default(),
        dead_lettered_by_reason: Default::default(),
        parked_dead_lettered_by_reason: Default::default(),
        partial: false,
        discovery: super::discover::sources(app)
            .into_iter()
            .map(|p| Discovery {
                service: p.service().to_string(),
                endpoint: app.config.data_plane(p.resource_type()).map(|d| d.endpoint.clone()).unwrap_or_default(),
                scopes: match p.data_plane().map(|d| d.parents) {
                    Some(providers::Parents::Setting(_)) => app
                        .config
                        .data_plane(p.resource_type())
                        .map(|d| d.parents.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                    _ => app.config.sweep_scopes().iter().map(ToString::to_string).collect(),
                },
                max_calls: app.config.discover_max_calls,
            })
            .collect(),
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
    for source in [replay::Source::Parked, replay::Source::DeadLetter, replay::Source::ParkedDeadLetter] {
        let q = QueuedReplay { source, reason: None, max, dry_run: true };
        let r = replay_queued(app, &q, deadline, &|_| {}).await;
        st.partial |= r.more;
        if let Some(e) = r.stopped.filter(|_| !r.more) {
            st.errors.push(format!("{}: {e}", r.queue));
        }
        let groups = match source {
            replay::Source::Parked => &mut st.parked_by_reason,
            replay::Source::DeadLetter => &mut st.dead_lettered_by_reason,
            replay::Source::ParkedDeadLetter => &mut st.parked_dead_lettered_by_reason,
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
    use crate::servicebus::QueueReceiver;
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

    /// Daily runs at 03:30 that each reach a sixth of the parents (rounded up) reach every one of them
    /// within six days, whatever the number of parents; hourly runs reaching a third, within five hours.
    #[test]
    fn rotated_starts_reach_every_parent_within_a_few_runs() {
        let t0: chrono::DateTime<chrono::Utc> = "2026-12-01T03:30:00Z".parse().unwrap();
        for (period_h, share, runs) in [(24, 6, 6), (1, 3, 5)] {
            for n in [1usize, 5, 12, 60, 301, 1000] {
                let k = n.div_ceil(share) + 1;
                let mut reached = vec![false; n];
                for r in 0..runs {
                    let start = fraction_of(rotation(t0 + chrono::Duration::hours(period_h * r)), n);
                    for i in 0..k {
                        reached[(start + i) % n] = true;
                    }
                }
                let missed = reached.iter().filter(|r| !**r).count();
                assert_eq!(missed, 0, "{n} parents, every {period_h} h, {k} per run: {missed} never reached");
            }
        }
        assert_eq!(rotation(t0), rotation(t0 + chrono::Duration::minutes(29)), "the same hour, the same start");
        assert_eq!(fraction_of(u64::MAX, 5), 4);
        assert_eq!(fraction_of(0, 0), 0);
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
