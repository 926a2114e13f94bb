//! The sweep, bounded and fair, on the local simulator: a run cut short by `MPE_SWEEP_MAX_CALLS` starts
//! elsewhere the next time, so every MPE is reached over a few runs; a run whose sends are slow ends
//! within `MPE_SWEEP_BUDGET` (the lists and the sends) and reports what it did not queue.

mod common;

use azure_sim::{Dependency, MpeSpec};
use common::doubles::Fixed;
use common::{in_group, rid, services};
use mpe_approver::handler;
use mpe_approver::resource_id::{ListScope, ResourceId};
use mpe_demo::{serve_handler, Harness};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: f64 = 50.0;
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000c501";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `n` MPEs of every type of the registry in turn, each under its own parent (a cluster, a factory ...),
/// all pending soon.
fn add_mpes(h: &Harness, n: usize) -> Vec<ResourceId> {
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stsweep");
    h.sim.add_target(&storage).unwrap();
    let providers = services::under_scopes();
    let mut ids = Vec::new();
    for i in 0..n {
        let t = providers[i % providers.len()].resource_type();
        let id = rid(&azure_sim::mpe::id_of_type(t, SUB, "rg-sw", &format!("pe-{i}"), |d, _| format!("p{i}-{d}")));
        h.sim
            .add_mpe(MpeSpec::new(id.clone(), storage.clone()).timing(Duration::from_secs(1), Duration::from_secs(2)))
            .unwrap();
        ids.push(id);
    }
    ids
}

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Daily runs (03:30 UTC, as `MPE_SWEEP_SCHEDULE` defaults) with a call limit that reaches about a
/// third of the parents each: every run stays within the limit and reports what it left, and together
/// they reach every MPE, of every type, within a week.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_cut_short_by_its_call_limit_reaches_every_mpe_over_a_few_runs() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let all: BTreeSet<String> = add_mpes(&h, 12).iter().map(|id| key(id.as_str())).collect();
    let scope = ListScope::parse(&format!("/subscriptions/{SUB}")).unwrap();
    // A top-level list per MPE type, then about four parents' worth of calls.
    let max_calls = services::under_scopes().len() as u32 + 4;
    let mut reached = BTreeSet::new();
    let mut rotations = BTreeSet::new();
    let mut runs = 0;
    for day in 1..=7 {
        let clock = Arc::new(Fixed::instant(&format!("2026-12-{day:02}T03:30:00Z")));
        let app = serve_handler(&h.sim, clock, &[]).await.unwrap().2;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let r = handler::sweep(&app, std::slice::from_ref(&scope), max_calls, true, deadline, &|_, _| {}).await;
        runs += 1;
        assert!(r.arm_calls <= max_calls, "{r:#?}");
        assert!(r.found.len() < all.len(), "the limit is too small for the whole scope: {r:#?}");
        assert!(r.parents_not_listed > 0 && !r.incomplete.is_empty(), "what it left is reported: {r:#?}");
        assert!(r.summary().contains("parents"), "{}", r.summary());
        rotations.insert(r.rotation.clone());
        reached.extend(r.found.iter().map(|f| key(&f.mpe_id)));
        if reached == all {
            break;
        }
    }
    assert_eq!(reached, all, "every MPE is reached within a week of daily runs ({runs} runs)");
    assert_eq!(rotations.len(), runs, "each day starts elsewhere");
}

/// Service Bus answering each send in 400 ms and `MPE_SWEEP_BUDGET=2s`: the timer's whole run ends
/// within its budget (no failed invocation), queues what it can and reports the rest as listed but not
/// queued; the same run through `handler::sweep` counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_with_slow_sends_ends_within_its_budget_and_reports_what_it_did_not_queue() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_SWEEP_BUDGET", "2s"), ("MPE_SOURCE_SUBSCRIPTIONS", SUB)]).await.unwrap();
    let ids = add_mpes(&h, 12);
    // Pending (not final) before the sweep looks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.sim.set_latency(Dependency::ServiceBus, Some(Duration::from_millis(400)));

    let started = Instant::now();
    let timer: Map<String, Value> = [(
        "inMsg".to_string(),
        json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}),
    )]
    .into_iter()
    .collect();
    let inv = h.host.invoke("MpeSweep", timer, Map::new(), 1).await;
    let took = started.elapsed();
    assert!(inv.success, "the run answers within its budget, it does not fail: {inv:?}");
    assert!(took < Duration::from_millis(2500), "the whole run took {took:?} (budget 2 s)");
    let logs = format!("{inv:?}");
    assert!(logs.contains("listed but not queued"), "{logs}");
    let queued = h.sim.work_messages().len();
    assert!(queued > 0 && queued < ids.len(), "{queued} of {} queued", ids.len());

    // The same through the library: every MPE worth a check is queued, failed or counted as not queued.
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let scope = ListScope::parse(&format!("/subscriptions/{SUB}")).unwrap();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1800);
    let r = handler::sweep(&app, std::slice::from_ref(&scope), 500, false, deadline, &|_, _| {}).await;
    assert!(started.elapsed() < Duration::from_millis(2100), "{:?}", started.elapsed());
    assert!(r.not_queued > 0, "{r:#?}");
    assert_eq!(r.enqueued + r.failed + r.not_queued, r.wanted() as u32, "{r:#?}");
    let not_queued = r.found.iter().filter(|f| f.not_queued.is_some()).count() as u32;
    assert_eq!(not_queued, r.not_queued + r.failed, "each one is marked: {r:#?}");
    assert!(r.summary().contains("listed but not queued"), "{}", r.summary());
    h.sim.set_latency(Dependency::ServiceBus, None);
}

/// A sender to the work queue who computes the ids a sweep's checks would have if they were keyed by MPE
/// and hour, and sends harmless messages under them first, suppresses nothing: the sweep's check of the
/// victim is queued under an id derived from a random key, and nothing of the sweep is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_who_claims_the_predictable_ids_first_suppresses_no_sweep_check() {
    use mpe_approver::workitem::{Origin, WorkItem};
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stclaim");
    h.sim.add_target(&storage).unwrap();
    let victim = services::mpe(services::any(0), SUB, "rg-claim", "pe-v");
    h.sim
        .add_mpe(MpeSpec::new(victim.clone(), storage).timing(Duration::from_secs(3600), Duration::from_secs(7200)))
        .unwrap();
    let app = serve_handler(&h.sim, h.clock.clone(), &[]).await.unwrap().2;
    let bus = h.sim.service_bus();
    let now = h.clock.now();
    // The attacker's guesses: this hour's and the next's, every attempt up to 20.
    for hour in [now, now + chrono::Duration::hours(1)] {
        let guess = WorkItem { chain: None, ..WorkItem::new(victim.clone(), hour, "x".into(), Origin::Sweep) };
        for item in std::iter::successors(Some(guess), |w| Some(w.next())).take(20) {
            let harmless = azure_sim::OutgoingMessage {
                message_id: Some(item.message_id()),
                body: "{}".into(),
                ..Default::default()
            };
            bus.send("mpe-approvals", harmless).unwrap();
        }
    }
    let claimed = h.sim.work_messages().len();
    let scope = ListScope::parse(&format!("/subscriptions/{SUB}/resourceGroups/rg-claim")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let r = handler::sweep(&app, std::slice::from_ref(&scope), 100, false, deadline, &|_, _| {}).await;
    assert_eq!(r.enqueued, 1, "{r:#?}");
    let work = h.sim.work_messages();
    assert_eq!(work.len(), claimed + 1, "the sweep's check was not dropped as a duplicate: {work:#?}");
    let ours = work.iter().filter_map(|m| WorkItem::from_json(&m.body).ok()).find(|w| w.mpe_id == victim);
    assert!(ours.is_some_and(|w| w.origin == Origin::Sweep), "{work:#?}");
}

/// An MPE whose connection only the target shows, approved long ago (here: longer ago than a short
/// `MPE_GIVE_UP_AFTER`); the target's owner then deletes its connection, and a stranger in a subscription
/// nobody configured adds a private endpoint with the MPE's name, group and request message. Only the
/// sweep runs: it does not queue a check of that MPE (it is not new, and its MPE never says it waits), and
/// a check forced anyway (`check --approve`) parks `not-new`. The stranger stays Pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpe_asking_the_target_approved_long_ago_is_not_approved_again_by_the_sweep() {
    use mpe_approver::workitem::{Origin, WorkItem};
    let _serial = SERIAL.lock().await;
    for p in services::asking_the_target() {
        let settings = [("MPE_GIVE_UP_AFTER", "20s")];
        let h = Harness::start(SCALE, &settings).await.unwrap();
        let storage = in_group(SUB, "rg-data/providers/Microsoft.Storage/storageAccounts/stold");
        h.sim.add_target(&storage).unwrap();
        let mpe = services::mpe(p, SUB, "rg-old", "pe-old");
        let ours = h
            .sim
            .add_mpe(MpeSpec::new(mpe.clone(), storage.clone()).timing(Duration::from_secs(1), Duration::from_secs(2)))
            .unwrap();
        let created = h.clock.now();
        assert!(h.host.deliver_event(&azure_sim::write_success_event(&mpe, created)).await.unwrap().success);
        let status = |name: &str| h.sim.pecs(&storage).into_iter().find(|p| p.name == name).map(|p| p.status);
        let until = Instant::now() + Duration::from_secs(30);
        while status(&ours) != Some(azure_sim::PecStatus::Approved) {
            assert!(Instant::now() < until, "{:#?}", h.sim.report());
            h.host.drain_once("mpe-approvals").await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let later = created + chrono::Duration::seconds(30);
        common::sim::wait_until(
            "the give-up time to pass",
            Duration::from_secs(10),
            || h.clock.now() > later,
            String::new,
        )
        .await;
        h.sim.remove_connection(&storage, &ours).unwrap();
        let stranger = h.sim.add_twin_in(&mpe, "0b5e55ed-0000-4000-8000-0000000000ff", None).unwrap();
        let _ = h.sim.service_bus().take_due("mpe-approvals");

        let app = serve_handler(&h.sim, h.clock.clone(), &settings).await.unwrap().2;
        let scope = ListScope::parse(&format!("/subscriptions/{SUB}/resourceGroups/rg-old")).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let r = handler::sweep(&app, std::slice::from_ref(&scope), 100, false, deadline, &|_, _| {}).await;
        let found = r.found.iter().find(|f| f.mpe_id.eq_ignore_ascii_case(mpe.as_str()));
        assert!(found.is_some_and(|f| !f.enqueue), "{}: listed, not queued: {r:#?}", p.service());
        assert_eq!(r.enqueued, 0, "{r:#?}");
        assert!(h.sim.work_messages().is_empty(), "{:#?}", h.sim.work_messages());

        let forced =
            handler::inspect(&app, &WorkItem::new(mpe.clone(), h.clock.now(), "corr-old".into(), Origin::Replay)).await;
        assert_eq!(forced.park_code, Some("not-new"), "{forced:#?}");
        assert_eq!(status(&stranger), Some(azure_sim::PecStatus::Pending), "the stranger is not approved");
        assert!(h.sim.report().violations.is_empty());
    }
}
