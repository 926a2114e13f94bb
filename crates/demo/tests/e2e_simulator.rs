//! End-to-end tests: the local Azure simulator, the handler (in process, configured only through its
//! environment) and the Functions-host emulator, driven through the same invocation protocol as Azure.
//!
//! Time is compressed (`SCALE` simulated seconds per real second). Every wait polls a condition with a
//! real-time bound and fails with the simulator's report as JSON. Unless a test is about a violation, it
//! asserts that the simulator saw none (no race, no stranger or twin approved).

mod common;

use azure_sim::MpePhase as SimPhase;
use azure_sim::{FaultKind, InvocationResult, MpeReport, MpeSpec, PecStatus, QueueReport, SimReport, ViolationKind};
use common::sim::{approved, is_for, property};
use common::{in_group, services};
use mpe_approver::providers::Provider;
use mpe_approver::resource_id::ResourceId;
use mpe_approver::servicebus::props;
use mpe_approver::workitem::{Origin, WorkItem};
use mpe_demo::{DemoOptions, Harness};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Simulated seconds per real second.
const SCALE: f64 = 50.0;
/// Real-time bound on any single wait.
const WAIT: Duration = Duration::from_secs(15);
const WORK: &str = "mpe-approvals";
const SUB: &str = "0b5e55ed-0000-4000-8000-0000000e2e01";
const OTHER_SUB: &str = "0b5e55ed-0000-4000-8000-0000000e2e99";

// ---------------------------------------------------------------------------------------------------------
// helpers

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An MPE of `p`'s type called `name`.
fn mpe_id(p: &dyn Provider, name: &str) -> ResourceId {
    services::mpe(p, SUB, "rg-e2e", name)
}

/// An MPE of a service that reports its connection, for cases that hold whatever the service.
fn an_mpe(name: &str) -> ResourceId {
    mpe_id(services::any(0), name)
}

fn storage(name: &str) -> ResourceId {
    in_group(SUB, &format!("rg-data/providers/Microsoft.Storage/storageAccounts/{name}"))
}

/// One target of each kind the simulator serves: (label, id).
fn all_targets() -> Vec<(&'static str, ResourceId)> {
    vec![
        ("Storage", storage("ste2e")),
        ("Key Vault", in_group(SUB, "rg-data/providers/Microsoft.KeyVault/vaults/kv-e2e")),
        ("Web", in_group(SUB, "rg-app/providers/Microsoft.Web/sites/func-e2e")),
        ("IoT Hub", in_group(SUB, "rg-data/providers/Microsoft.Devices/IotHubs/iot-e2e")),
        ("SQL", in_group(SUB, "rg-data/providers/Microsoft.Sql/servers/sql-e2e")),
    ]
}

/// The tests measure simulated time, so they run one at a time: on a small machine, tests competing for
/// the CPU would stretch simulated latencies (a 100 ms stall is 5 simulated seconds at 50x).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(extra: &[(&str, &str)]) -> Harness {
    start_scaled(SCALE, extra).await
}

async fn start_scaled(scale: f64, extra: &[(&str, &str)]) -> Harness {
    Harness::start(scale, extra).await.unwrap_or_else(|e| panic!("harness did not start: {e:#}"))
}

fn dump(h: &Harness) -> String {
    let mut r = h.sim.report();
    // The invocation records are long; keep the last few, the summary says how many there were.
    let n = r.invocations.records.len();
    r.invocations.records = r.invocations.records.split_off(n.saturating_sub(20));
    let parked: Vec<(String, String)> = h
        .sim
        .parked()
        .iter()
        .map(|m| {
            let p = |k| property(&m.properties, k).unwrap_or("-").to_string();
            (p(props::MPE_ID), p(props::PARK_REASON))
        })
        .collect();
    let report = serde_json::to_string_pretty(&r).unwrap_or_else(|e| format!("<report not serialisable: {e}>"));
    format!("parked: {parked:#?}\nreport: {report}")
}

/// Work messages (visible or scheduled) for this MPE.
fn work_for(h: &Harness, id: &ResourceId) -> usize {
    h.sim.work_messages().iter().filter(|m| is_for(m, id)).count()
}

/// The parking reason of this MPE's parked item, if parked.
fn parked_reason(h: &Harness, id: &ResourceId) -> Option<String> {
    h.sim
        .parked()
        .iter()
        .find(|m| is_for(m, id))
        .map(|m| property(&m.properties, props::PARK_REASON).unwrap_or("").into())
}

fn mpe_report(h: &Harness, id: &ResourceId) -> MpeReport {
    h.sim.report().mpe(id.as_str()).cloned().unwrap_or_else(|| panic!("the simulator does not know {id}\n{}", dump(h)))
}

fn work_queue(r: &SimReport) -> &QueueReport {
    r.queues.iter().find(|q| q.name.eq_ignore_ascii_case(WORK)).expect("work queue in the report")
}

#[track_caller]
fn assert_clean(h: &Harness) {
    let r = h.sim.report();
    assert!(r.violations.is_empty(), "violations: {:?}\n{}", r.violations, dump(h));
    assert!(h.sim.dead_letters().is_empty(), "dead letters: {:?}\n{}", h.sim.dead_letters(), dump(h));
}

/// Approved once, after the MPE went pending, within a bound in simulated seconds. The schedule checks
/// every 2 s at first; the bound is wide (30 s) because simulated time runs 20x faster than the CPU on
/// a loaded 2-core machine: it catches a chain that stops being rescheduled, not a slow one (speed is
/// measured by the benchmark and the demo's table, never asserted on wall-clock time).
#[track_caller]
fn assert_approved_cleanly(h: &Harness, id: &ResourceId, label: &str) {
    assert_approved_within(h, id, label, 30.0)
}

/// Approved once, after the MPE went pending, at most `max_latency` simulated seconds after it.
#[track_caller]
fn assert_approved_within(h: &Harness, id: &ResourceId, label: &str, max_latency: f64) {
    let m = mpe_report(h, id);
    let ctx = || format!("{label} ({id})\n{}", dump(h));
    assert!(m.approved_by.is_some(), "{label}: not approved\n{}", ctx());
    assert_eq!(m.approve_puts, 1, "{label}: approval PUTs\n{}", ctx());
    let (pending, at) = (m.pending_at.expect("pending_at"), m.pec_approved_at.expect("pec_approved_at"));
    assert!(at >= pending, "{label}: approved at {at} before the MPE was pending at {pending}\n{}", ctx());
    let latency = m.approval_latency_secs.expect("latency");
    assert!((0.0..=max_latency).contains(&latency), "{label}: pending→approved took {latency}s simulated\n{}", ctx());
    assert!(m.violations.is_empty(), "{label}: {:?}\n{}", m.violations, ctx());
}

fn text(v: &Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// The `ReturnValue` of an invocation, as text.
fn return_value(r: &InvocationResult) -> String {
    text(&r.reply.as_ref().and_then(|v| v.get("ReturnValue")).cloned())
}

/// Deliver the MPE's write event (the way Event Grid does), asserting the handler took it.
async fn deliver(h: &Harness, id: &ResourceId) -> Value {
    let ev = azure_sim::write_success_event(id, h.clock.now());
    let r = h.host.deliver_event(&ev).await.expect("deliver event");
    assert!(r.success, "MpeEvent failed: {:?} {:?}", r.error, r.logs);
    ev
}

/// Drives the work queue deterministically: `drain_once` in a loop, keeping every invocation's result.
struct Driver<'a> {
    h: &'a Harness,
    results: Vec<InvocationResult>,
}

impl<'a> Driver<'a> {
    fn new(h: &'a Harness) -> Self {
        Driver { h, results: Vec::new() }
    }

    /// Deliver due messages until `cond` holds (checked after each drain, when nothing is in flight).
    async fn until(&mut self, what: &str, cond: impl Fn(&Harness) -> bool) {
        let start = Instant::now();
        loop {
            let r = self.h.host.drain_once(WORK).await.expect("drain");
            self.results.extend(r);
            if cond(self.h) {
                return;
            }
            if start.elapsed() > WAIT {
                let last: Vec<_> = self.results.iter().rev().take(5).map(|r| (&r.logs, &r.error)).collect();
                panic!("timed out after {WAIT:?} waiting for {what}; last invocations: {last:#?}\n{}", dump(self.h));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Until this MPE has no more work queued (its chain ended).
    async fn until_done(&mut self, id: &ResourceId) {
        self.until(&format!("the work on {} to end", id.name()), |h| work_for(h, id) == 0).await
    }

    fn for_mpe(&self, id: &ResourceId) -> Vec<&InvocationResult> {
        let needle = id.as_str().to_ascii_lowercase();
        self.results.iter().filter(|r| r.logs.iter().any(|l| l.to_ascii_lowercase().contains(&needle))).collect()
    }
}

/// Poll a condition without delivering anything.
async fn wait_for(h: &Harness, what: &str, cond: impl Fn(&Harness) -> bool) {
    let start = Instant::now();
    while !cond(h) {
        if start.elapsed() > WAIT {
            panic!("timed out after {WAIT:?} waiting for {what}\n{}", dump(h));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// 1. every provider to every target

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_to_every_target_is_approved_once_after_pending() {
    let _serial = SERIAL.lock().await;
    // An MPE per provider and target at once: a slower clock keeps the latency check meaningful on a busy
    // machine.
    let h = start_scaled(20.0, &[]).await;
    let mut mpes = Vec::new();
    for (si, p) in services::all().into_iter().enumerate() {
        for (ti, (target_label, target)) in all_targets().into_iter().enumerate() {
            // Distinct names: private endpoints are named after the MPE, and two MPEs with the same name
            // on one target are indistinguishable twins (parked as ambiguous, rightly).
            let id = mpe_id(p, &format!("mpe-{si}{ti}-{}", target_label.replace(' ', "").to_lowercase()));
            // Staggered readiness: the PEC appears first, the MPE goes pending a few seconds later.
            let pec_at = 2 + (si + ti) as u64 % 4;
            let pending_at = pec_at + 2 + (si * 5 + ti) as u64 % 7;
            h.sim.add_mpe(MpeSpec::new(id.clone(), target).timing(secs(pec_at), secs(pending_at))).unwrap();
            mpes.push((format!("{} → {target_label}", p.service()), id));
        }
    }
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(5)).unwrap();
    for (_, id) in &mpes {
        deliver(&h, id).await;
    }
    wait_for(&h, "every MPE to be approved", |h| mpes.iter().all(|(_, id)| approved(h, id))).await;
    pump.stop().await;
    // Let the chains finish deterministically: no approval is ever PUT twice.
    let mut d = Driver::new(&h);
    d.until("all work to end", |h| h.sim.work_messages().is_empty()).await;
    for (label, id) in &mpes {
        assert_approved_cleanly(&h, id, label);
    }
    assert_clean(&h);
    assert!(h.sim.parked().is_empty(), "parked: {:?}", h.sim.parked());
}

// ---------------------------------------------------------------------------------------------------------
// 2. duplicate events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_events_make_one_work_chain_and_one_approval() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let id = an_mpe("pe-dup");
    h.sim.add_mpe(MpeSpec::new(id.clone(), storage("stdup")).timing(secs(3), secs(6))).unwrap();
    let ev = deliver(&h, &id).await;
    // Event Grid is at-least-once: the same event again at once, and once more after the first check.
    assert!(h.host.deliver_event(&ev).await.unwrap().success);
    assert_eq!(work_for(&h, &id), 1, "duplicates must collapse in the queue\n{}", dump(&h));
    let mut d = Driver::new(&h);
    d.until("the first check", |h| h.sim.report().invocations.by_function.get("MpeCheck").is_some_and(|n| *n >= 1))
        .await;
    assert!(h.host.deliver_event(&ev).await.unwrap().success);
    assert!(work_for(&h, &id) <= 1, "one chain only\n{}", dump(&h));
    d.until("approval", |h| approved(h, &id)).await;
    d.until_done(&id).await;
    let r = h.sim.report();
    assert_eq!(work_queue(&r).duplicates_dropped, 2, "{}", dump(&h));
    // Every check of the chain is the next attempt of the one before: no second chain.
    let attempts: Vec<u64> = d
        .results
        .iter()
        .filter_map(|r| r.logs.iter().find_map(|l| l.split("attempt=").nth(1)))
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect();
    assert!(attempts.len() >= 2, "the chain should take a few checks: {attempts:?}");
    let expected: Vec<u64> = (0..attempts.len() as u64).collect();
    assert_eq!(attempts, expected, "each attempt checked once, in order");
    assert_approved_cleanly(&h, &id, "duplicate events");
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 3. deleted MPEs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_mpes_are_never_approved_and_their_work_ends() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let target = storage("stdel");
    let mut mpes = Vec::new();
    for (i, p) in services::all().into_iter().enumerate() {
        // Deleted after the first check but before its PEC appears.
        let early = mpe_id(p, &format!("pe-del-early-{i}"));
        let spec = MpeSpec::new(early.clone(), target.clone()).timing(secs(8), secs(20)).delete_after(secs(3));
        h.sim.add_mpe(spec).unwrap();
        // Deleted after its PEC appeared, while still Creating (through the simulator's API).
        let late = mpe_id(p, &format!("pe-del-late-{i}"));
        h.sim.add_mpe(MpeSpec::new(late.clone(), target.clone()).timing(secs(3), secs(20))).unwrap();
        h.sim.delete_mpe_at(&late, h.clock.now() + chrono::Duration::seconds(8)).unwrap();
        mpes.extend([(early, false), (late, true)]);
    }
    for (id, _) in &mpes {
        deliver(&h, id).await;
    }
    let mut d = Driver::new(&h);
    for (id, _) in &mpes {
        d.until_done(id).await;
    }
    for (id, late) in &mpes {
        let m = mpe_report(&h, id);
        assert!(m.deleted_at.is_some(), "{id} should be deleted by now\n{}", dump(&h));
        assert!(m.approved_by.is_none() && m.approve_puts == 0, "{id} approved\n{}", dump(&h));
        assert_eq!(parked_reason(&h, id), None);
        let last = d.for_mpe(id).last().map(|r| return_value(r)).unwrap_or_default();
        assert_eq!(last, "MPE deleted", "{id}: the last check should end the work");
        if *late {
            assert!(m.pec_appeared_at.is_some(), "{id}: its PEC should have appeared before deletion");
        }
    }
    assert!(h.sim.pecs(&target).iter().all(|p| p.status != PecStatus::Approved));
    assert!(h.sim.parked().is_empty());
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 4. rejected by a human

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pec_rejected_by_a_human_is_never_approved() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let target = storage("strej");
    let ids: Vec<ResourceId> =
        services::all().into_iter().enumerate().map(|(i, p)| mpe_id(p, &format!("pe-rejected-{i}"))).collect();
    // Pending 40 s after creation: a service whose MPEs become ready late (Grafana, AI Search) is checked
    // every 10 s before its window, so its chain sees the rejection up to ~15 s after it.
    for id in &ids {
        h.sim
            .add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(40)).reject_after(secs(6)))
            .unwrap();
        deliver(&h, id).await;
    }
    let mut d = Driver::new(&h);
    for id in &ids {
        d.until_done(id).await;
    }
    for id in &ids {
        let m = mpe_report(&h, id);
        assert!(m.rejected_at.is_some(), "{id}\n{}", dump(&h));
        assert!(m.approved_by.is_none() && m.approve_puts == 0, "{id}\n{}", dump(&h));
        assert!(m.pending_at.is_none(), "{id}: the work should end before the MPE would go pending\n{}", dump(&h));
        assert_eq!(return_value(d.for_mpe(id).last().expect("checks")), "rejected", "{id}");
    }
    assert!(h.sim.pecs(&target).iter().all(|p| p.status == PecStatus::Rejected), "{:?}", h.sim.pecs(&target));
    assert!(h.sim.parked().is_empty());
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 4b. one parent's MPEs checked in one message

/// Three MPEs of one Data Factory travel in one message (as the handler gathers a parent's next checks):
/// each is decided on its own. Ours is approved once, the one whose target the policy does not allow is
/// parked `policy-refused` with no approval sent, the one a human rejected ends rejected with no approval
/// sent, and a stranger's Pending PEC on the shared target stays Pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parents_mpes_checked_in_one_message_are_each_decided_on_their_own() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let adf = services::all()
        .into_iter()
        .find(|p| p.resource_type().starts_with("Microsoft.DataFactory/"))
        .expect("the Data Factory provider");
    let target = storage("stbatch");
    let foreign = in_group(OTHER_SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stforeign");
    h.sim.add_target(&foreign).unwrap();
    let stranger = h.sim.add_stranger(&target, "someone-elses-endpoint").unwrap();
    let (ours, refused, rejected) =
        (mpe_id(adf, "pe-batch-ours"), mpe_id(adf, "pe-batch-foreign"), mpe_id(adf, "pe-batch-rejected"));
    let ours_pec = h.sim.add_mpe(MpeSpec::new(ours.clone(), target.clone()).timing(secs(3), secs(8))).unwrap();
    h.sim.add_mpe(MpeSpec::new(refused.clone(), foreign.clone()).timing(secs(3), secs(8))).unwrap();
    h.sim
        .add_mpe(MpeSpec::new(rejected.clone(), target.clone()).timing(secs(3), secs(40)).reject_after(secs(6)))
        .unwrap();
    let items = [&ours, &refused, &rejected]
        .into_iter()
        .map(|id| WorkItem::new(id.clone(), h.clock.now(), format!("corr-{}", id.name()), Origin::EventGrid))
        .collect();
    let batch = WorkItem::batch(items).expect("three items");
    h.sim
        .service_bus()
        .send(
            WORK,
            azure_sim::OutgoingMessage {
                message_id: Some(batch.message_id()),
                body: batch.to_json(),
                properties: [(props::MPE_ID.to_string(), batch.mpe_id.to_string())].into(),
                ..Default::default()
            },
        )
        .unwrap();
    let mut d = Driver::new(&h);
    d.until("all work to end", |h| h.sim.work_messages().is_empty() && parked_reason(h, &refused).is_some()).await;
    let first = d.results.first().expect("an invocation");
    assert_eq!(
        first.reply.as_ref().and_then(|r| r.get("ReturnValue")).and_then(Value::as_array).map(Vec::len),
        Some(3),
        "one invocation checked the three"
    );
    assert_approved_cleanly(&h, &ours, "ours, checked with its siblings");
    let code = h
        .sim
        .parked()
        .iter()
        .find(|m| is_for(m, &refused))
        .and_then(|m| property(&m.properties, props::PARK_CODE).map(str::to_string));
    assert_eq!(code.as_deref(), Some("policy-refused"), "{}", dump(&h));
    for id in [&refused, &rejected] {
        let m = mpe_report(&h, id);
        assert!(m.approved_by.is_none() && m.approve_puts == 0, "{id}\n{}", dump(&h));
    }
    assert!(mpe_report(&h, &rejected).rejected_at.is_some());
    let pecs = h.sim.pecs(&target);
    let status = |name: &str| pecs.iter().find(|p| p.name == name).map(|p| p.status);
    assert_eq!(status(&stranger), Some(PecStatus::Pending), "{pecs:?}");
    assert_eq!(status(&ours_pec), Some(PecStatus::Approved), "{pecs:?}");
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 5. a stranger's PEC on the same target

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_pending_pec_stays_pending() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let target = storage("stshared");
    let stranger = h.sim.add_stranger(&target, "someone-elses-endpoint").unwrap();
    let mut ours = Vec::new();
    for (i, p) in services::all().into_iter().enumerate() {
        let id = mpe_id(p, &format!("pe-ours-{i}"));
        let pec = h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(6))).unwrap();
        deliver(&h, &id).await;
        ours.push((id, pec));
    }
    let mut d = Driver::new(&h);
    for (id, _) in &ours {
        d.until("approval", |h| approved(h, id)).await;
        d.until_done(id).await;
    }
    let pecs = h.sim.pecs(&target);
    let status = |name: &str| pecs.iter().find(|p| p.name == name).map(|p| p.status);
    assert_eq!(status(&stranger), Some(PecStatus::Pending), "{pecs:?}");
    for (id, pec) in &ours {
        assert_eq!(status(pec), Some(PecStatus::Approved), "{pecs:?}");
        assert_approved_cleanly(&h, id, "ours beside a stranger");
    }
    assert_clean(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_is_found_on_the_last_page_of_a_paged_list() {
    let _serial = SERIAL.lock().await;
    let options = azure_sim::SimOptions { pec_page_size: Some(2), ..Default::default() };
    let h = Harness::start_with(SCALE, &[], options).await.unwrap_or_else(|e| panic!("harness: {e:#}"));
    let target = storage("stpaged");
    // Four strangers first: ours is the fifth PEC, on the third page.
    for n in ["a", "b", "c", "d"] {
        h.sim.add_stranger(&target, &format!("someone-{n}")).unwrap();
    }
    let id = an_mpe("pe-paged");
    let ours = h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(6))).unwrap();
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until("approval", |h| approved(h, &id)).await;
    d.until_done(&id).await;
    let pecs = h.sim.pecs(&target);
    assert_eq!(pecs.iter().filter(|p| p.status == PecStatus::Pending).count(), 4, "{pecs:?}");
    assert_eq!(pecs.iter().find(|p| p.name == ours).map(|p| p.status), Some(PecStatus::Approved));
    assert_approved_cleanly(&h, &id, "ours on the last page");
    assert_clean(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_vault_approval_carries_the_pecs_etag() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let id = an_mpe("pe-etag");
    let target = in_group(SUB, "rg-data/providers/Microsoft.KeyVault/vaults/kv-etag");
    h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(6))).unwrap();
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until("approval", |h| approved(h, &id)).await;
    d.until_done(&id).await;
    // The simulated Key Vault refuses a PUT whose If-Match is stale; the handler sent the one it read.
    let sent = d.results.iter().flat_map(|r| &r.logs).any(|l| l.contains("If-Match: \""));
    assert!(sent, "no approval with If-Match in the logs");
    assert_approved_cleanly(&h, &id, "Key Vault with If-Match");
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 6. twins

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indistinguishable_twin_is_parked_as_ambiguous() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let mut mpes = Vec::new();
    for (i, p) in services::managed().into_iter().enumerate() {
        let id = mpe_id(p, "pe-twin");
        let target = storage(&format!("sttwin{i}"));
        h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(6))).unwrap();
        h.sim.add_twin(&id, None).unwrap(); // same endpoint name, same description
        deliver(&h, &id).await;
        mpes.push((id, target));
    }
    let mut d = Driver::new(&h);
    for (id, _) in &mpes {
        d.until("parking", |h| parked_reason(h, id).is_some()).await;
        d.until_done(id).await;
    }
    for (id, target) in &mpes {
        let reason = parked_reason(&h, id).unwrap();
        assert!(reason.contains("ambiguous"), "{id}: {reason}");
        let pecs = h.sim.pecs(target);
        assert_eq!(pecs.len(), 2);
        assert!(pecs.iter().all(|p| p.status == PecStatus::Pending), "neither may be approved: {pecs:?}");
        assert_eq!(mpe_report(&h, id).approve_puts, 0);
    }
    assert_clean(&h);
}

/// A twin asking with another description: where the MPE carries its request message, ours is told apart
/// by it and approved, as where the MPE reports its private endpoint's full id (the twin's is another);
/// where it does neither, nothing tells them apart and the check parks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_with_another_description_leaves_ours_approvable() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let mut mpes = Vec::new();
    for (i, p) in services::all().into_iter().enumerate() {
        let id = mpe_id(p, "pe-twin2");
        let target = storage(&format!("sttwin2{i}"));
        let spec = MpeSpec::new(id.clone(), target.clone())
            .timing(secs(3), secs(6))
            .request_message("Stream job e2e asks for blob access");
        let ours = h.sim.add_mpe(spec).unwrap();
        let twin = h.sim.add_twin(&id, Some("Please approve my request!")).unwrap();
        deliver(&h, &id).await;
        mpes.push((p, id, target, ours, twin));
    }
    let mut d = Driver::new(&h);
    for (p, id, target, ours, twin) in &mpes {
        let pecs = || h.sim.pecs(target);
        if services::carries_request_message(*p) || services::reports_endpoint_id(*p) {
            d.until("approval", |h| approved(h, id)).await;
            d.until_done(id).await;
            let approved: Vec<String> =
                pecs().into_iter().filter(|p| p.status == PecStatus::Approved).map(|p| p.name).collect();
            assert_eq!(approved, vec![ours.clone()], "only ours; the twin is {twin}: {:?}", pecs());
            assert_eq!(parked_reason(&h, id), None);
            assert_approved_cleanly(&h, id, "ours beside a twin");
        } else {
            d.until("parking", |h| parked_reason(h, id).is_some()).await;
            d.until_done(id).await;
            let reason = parked_reason(&h, id).unwrap_or_default();
            assert!(reason.contains("ambiguous"), "{}: {reason}", p.service());
            assert!(pecs().iter().all(|p| p.status == PecStatus::Pending), "{}: {:?}", p.service(), pecs());
        }
    }
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 7. a write that is not an MPE

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_mpe_write_queues_nothing() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let target = storage("stplain");
    h.sim.add_target(&target).unwrap();
    let ev = azure_sim::resource_write_success_event(&target, "Microsoft.Storage/storageAccounts/write", h.clock.now());
    let r = h.host.deliver_event(&ev).await.unwrap();
    assert!(r.success, "{r:?}");
    assert!(r.logs.iter().any(|l| l.contains("ignored")), "logs: {:?}", r.logs);
    // Nor is anything about an MPE but its write.
    let id = an_mpe("pe-deleted-event");
    let mut ev = azure_sim::write_success_event(&id, h.clock.now());
    ev["eventType"] = json!("Microsoft.Resources.ResourceDeleteSuccess");
    ev["data"]["operationName"] = json!("Microsoft.StreamAnalytics/clusters/privateEndpoints/delete");
    let r = h.host.deliver_event(&ev).await.unwrap();
    assert!(r.success && r.logs.iter().any(|l| l.contains("ignored")), "{r:?}");
    let rep = h.sim.report();
    assert_eq!(work_queue(&rep).sent, 0, "{}", dump(&h));
    assert!(h.sim.work_messages().is_empty() && h.sim.parked().is_empty());
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 8. transient ARM faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_arm_faults_are_retried_to_approval() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let id = mpe_id(services::any(1), "kv-faults");
    let target = in_group(SUB, "rg-data/providers/Microsoft.KeyVault/vaults/kv-faults");
    h.sim.add_mpe(MpeSpec::new(id.clone(), target).timing(secs(3), secs(20))).unwrap();
    deliver(&h, &id).await;
    // Throttling while the MPE is Creating: more than one invocation's worth of retries.
    h.sim.inject_faults(6, FaultKind::Throttle);
    let mut d = Driver::new(&h);
    d.until("the throttling to be used up", |h| h.sim.report().faults_injected == 6).await;
    // Unavailable once the MPE is pending, before the next check reaches ARM.
    wait_for(&h, "the MPE to go pending", |h| h.sim.mpe_phase(&id) == Some(SimPhase::AwaitingApproval)).await;
    h.sim.inject_faults(6, FaultKind::Unavailable);
    d.until("approval", |h| approved(h, &id)).await;
    d.until_done(&id).await;
    let r = h.sim.report();
    assert_eq!(r.faults_injected, 12, "{}", dump(&h));
    // A fault with ARM's `Retry-After` schedules the check for the wait's end; one without it fails the
    // invocation, which Service Bus redelivers.
    let rescheduled = d
        .results
        .iter()
        .filter(|r| r.logs.iter().any(|l| l.contains("check again") && l.contains("transient")))
        .count();
    assert!(r.invocations.failed as usize + rescheduled >= 2, "faults should have ended checks\n{}", dump(&h));
    if r.invocations.failed > 0 {
        assert!(d.results.iter().any(|r| r.attempt > 1), "failed invocations are redelivered");
    }
    assert_eq!(parked_reason(&h, &id), None, "{}", dump(&h));
    assert!(h.sim.parked().is_empty());
    // Each failed invocation spends its retries' Retry-After: a few seconds more than usual.
    assert_approved_within(&h, &id, "through faults", 30.0);
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 9. dry run

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_approves_nothing_and_says_so() {
    let _serial = SERIAL.lock().await;
    let h = start(&[("MPE_DRY_RUN", "true")]).await;
    let id = mpe_id(services::any(2), "func-dry");
    let target = in_group(SUB, "rg-app/providers/Microsoft.Web/sites/func-dry");
    h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(3), secs(6))).unwrap();
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until_done(&id).await;
    let last = *d.for_mpe(&id).last().expect("checks");
    assert!(return_value(last).starts_with("dry run"), "ReturnValue: {}", return_value(last));
    assert!(last.logs.iter().any(|l| l.contains("dry run")), "logs: {:?}", last.logs);
    let m = mpe_report(&h, &id);
    assert!(m.pending_at.is_some(), "the MPE went pending\n{}", dump(&h));
    assert!(m.approved_by.is_none() && m.approve_puts == 0, "{}", dump(&h));
    assert!(h.sim.pecs(&target).iter().all(|p| p.status == PecStatus::Pending));
    assert!(h.sim.parked().is_empty());
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 10. subscription allow-lists

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_outside_the_allowed_subscriptions_is_parked() {
    let _serial = SERIAL.lock().await;
    let h = start(&[("MPE_TARGET_SUBSCRIPTIONS", OTHER_SUB)]).await;
    let id = an_mpe("pe-foreign-target");
    h.sim.add_mpe(MpeSpec::new(id.clone(), storage("stforeign")).timing(secs(3), secs(6))).unwrap();
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until("parking", |h| parked_reason(h, &id).is_some()).await;
    d.until_done(&id).await;
    let reason = parked_reason(&h, &id).unwrap();
    assert!(reason.contains("MPE_TARGET_SUBSCRIPTIONS"), "reason: {reason}");
    let m = mpe_report(&h, &id);
    assert!(m.approved_by.is_none() && m.approve_puts == 0);
    assert_clean(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpe_outside_the_source_subscriptions_is_ignored() {
    let _serial = SERIAL.lock().await;
    let h = start(&[("MPE_SOURCE_SUBSCRIPTIONS", OTHER_SUB)]).await;
    let id = an_mpe("pe-foreign-source");
    h.sim.add_mpe(MpeSpec::new(id.clone(), storage("stsrc")).timing(secs(1), secs(2))).unwrap();
    let ev = azure_sim::write_success_event(&id, h.clock.now());
    let r = h.host.deliver_event(&ev).await.unwrap();
    assert!(r.success, "{r:?}");
    assert!(r.logs.iter().any(|l| l.contains("ignored") && l.contains("MPE_SOURCE_SUBSCRIPTIONS")), "{:?}", r.logs);
    // A manual replay for it is refused too.
    let r = h.host.invoke_replay(&json!({ "mpeId": id.as_str() }).to_string(), &[]).await;
    assert_eq!(r.http.as_ref().map(|o| o.status_code), Some(403), "{r:?}");
    let rep = h.sim.report();
    assert_eq!(work_queue(&rep).sent, 0, "{}", dump(&h));
    assert!(h.sim.work_messages().is_empty() && h.sim.parked().is_empty());
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 11. give up

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpe_that_never_goes_pending_is_parked_after_the_give_up_time() {
    let _serial = SERIAL.lock().await;
    let h = start(&[("MPE_GIVE_UP_AFTER", "30s")]).await;
    let id = mpe_id(services::any(3), "mpe-slow");
    h.sim.add_mpe(MpeSpec::new(id.clone(), storage("stslow")).timing(secs(5), secs(3600))).unwrap();
    let t0 = h.clock.now();
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until("parking", |h| parked_reason(h, &id).is_some()).await;
    d.until_done(&id).await;
    let reason = parked_reason(&h, &id).unwrap();
    assert!(reason.contains("gave up"), "reason: {reason}");
    let waited = (h.clock.now() - t0).num_seconds();
    assert!((20..=60).contains(&waited), "parked after {waited}s simulated; expected about 30s");
    assert!(!approved(&h, &id));
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 12. manual replay

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_checks_an_mpe_whose_events_were_lost() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let id = mpe_id(services::asking_the_target()[0], "mpe-replayed");
    h.sim.add_mpe(MpeSpec::new(id.clone(), storage("streplay")).timing(secs(2), secs(4))).unwrap();
    wait_for(&h, "the MPE to go pending", |h| h.sim.mpe_phase(&id) == Some(SimPhase::AwaitingApproval)).await;
    let first_replay = h.clock.now();
    let r = h.host.invoke_replay(&json!({ "mpeId": id.as_str() }).to_string(), &[]).await;
    let http = r.http.clone().expect("http output");
    assert_eq!(http.status_code, 202, "{r:?}");
    let body: Value = serde_json::from_str(&http.body).expect("JSON body");
    assert!(body["messageId"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(work_for(&h, &id), 1);
    let mut d = Driver::new(&h);
    d.until("approval", |h| approved(h, &id)).await;
    d.until_done(&id).await;
    assert_approved_cleanly(&h, &id, "replayed");

    // A second replay (the id in the query this time) of an approved MPE changes nothing. Replays are
    // keyed by the second they were asked in (a double submit collapses), so ask two seconds later.
    wait_for(&h, "a later second", |h| h.clock.now().timestamp() >= first_replay.timestamp() + 2).await;
    let r = h.host.invoke_replay("", &[("mpeId", id.as_str())]).await;
    assert_eq!(r.http.as_ref().map(|o| o.status_code), Some(202), "{r:?}");
    assert_eq!(work_for(&h, &id), 1, "the second replay is queued\n{}", dump(&h));
    d.until_done(&id).await;
    assert_eq!(return_value(d.for_mpe(&id).last().expect("checks")), "already approved");
    assert_eq!(mpe_report(&h, &id).approve_puts, 1, "no second approval\n{}", dump(&h));

    let bad = [
        "not json".to_string(),
        json!({}).to_string(),
        json!({ "mpeId": "/subscriptions/../x" }).to_string(),
        json!({ "mpeId": storage("streplay").as_str() }).to_string(),
        json!({ "mpeId": format!("{}?api-version=1", id.as_str()) }).to_string(),
    ];
    for body in bad {
        let r = h.host.invoke_replay(&body, &[]).await;
        assert_eq!(r.http.as_ref().map(|o| o.status_code), Some(400), "body {body}: {r:?}");
    }
    assert!(h.sim.work_messages().is_empty(), "bad requests queue nothing");
    assert_clean(&h);
}

// ---------------------------------------------------------------------------------------------------------
// 13. the demo

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_passes_without_races() {
    let _serial = SERIAL.lock().await;
    let r = mpe_demo::run(&DemoOptions { time_scale: 50.0, progress: false, ..Default::default() }).await.unwrap();
    let pretty = || serde_json::to_string_pretty(&r).unwrap_or_default();
    assert!(r.ok, "demo failed:\n{}", mpe_demo::render(&r));
    assert_eq!(r.race_violations, 0, "{}", pretty());
    assert!(r.other_violations.is_empty(), "{}", pretty());
    assert!(r.cases.iter().all(|c| c.ok && c.race_violations == 0), "{}", pretty());
}

// ---------------------------------------------------------------------------------------------------------
// 14. negative control: the race detector

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_while_the_mpe_is_creating_is_reported_as_a_race() {
    let _serial = SERIAL.lock().await;
    let h = start(&[]).await;
    let id = an_mpe("pe-raced");
    let target = storage("strace");
    let pec = h.sim.add_mpe(MpeSpec::new(id.clone(), target.clone()).timing(secs(1), secs(600))).unwrap();
    wait_for(&h, "the PEC to appear", |h| h.sim.pecs(&target).iter().any(|p| p.name == pec)).await;
    assert_eq!(h.sim.mpe_phase(&id), Some(SimPhase::Creating));
    // An impatient human (or a naive approver) approves the PEC at once.
    let url = format!("{}{}/privateEndpointConnections/{pec}", h.sim.arm_endpoint(), target.as_str());
    let body = json!({"properties": {"privateLinkServiceConnectionState": {
        "status": "Approved", "description": "approved too early", "actionRequired": "None"}}});
    let resp = reqwest::Client::new()
        .put(url)
        .query(&[("api-version", "2023-05-01")])
        .bearer_auth(h.sim.issue_token("https://management.azure.com"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}: {}", resp.status(), resp.text().await.unwrap_or_default());
    let r = h.sim.report();
    let races: Vec<_> = r.violations.iter().filter(|v| v.kind == ViolationKind::Race).collect();
    assert_eq!(races.len(), 1, "{}", dump(&h));
    assert!(races[0].mpe.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(id.as_str())), "{:?}", races[0]);
    wait_for(&h, "the MPE to fail", |h| h.sim.mpe_phase(&id) == Some(SimPhase::Failed)).await;
    // The handler sees a failed MPE and ends the work without touching anything.
    deliver(&h, &id).await;
    let mut d = Driver::new(&h);
    d.until_done(&id).await;
    let last = return_value(d.for_mpe(&id).last().expect("checks"));
    assert!(last.contains("failed"), "ReturnValue: {last}");
    assert_eq!(mpe_report(&h, &id).approve_puts, 1, "only the direct PUT");
}
