//! Slow dependencies, end to end on the local simulator (issue 10, the fault matrix's "slow" cells): a
//! dependency that answers, only late. Slow within the budgets only slows the approval down; slower than
//! an invocation's budget, the invocation fails (Event Grid retries, Service Bus redelivers, later
//! checks are scheduled) instead of running on, and the MPE is approved once answers come in time.
//! Budgets are short settings here (`MPE_CHECK_BUDGET`, `MPE_EVENT_BUDGET`), so no test waits long.

mod common;

use azure_sim::{Dependency, MpeSpec};
use common::in_group;
use common::sim::{approved, puts, wait_until};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::Harness;
use std::time::Duration;

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(30);
const WORK: &str = "mpe-approvals";
const SUB: &str = "0b5e55ed-0000-4000-8000-0000005100aa";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn add_mpe(h: &Harness, name: &str) -> ResourceId {
    let storage = in_group(SUB, &format!("rg-data/providers/Microsoft.Storage/storageAccounts/st{name}"));
    h.sim.add_target(&storage).unwrap();
    let mpe = in_group(
        SUB,
        &format!("rg-slow/providers/Microsoft.StreamAnalytics/clusters/asa-slow/privateEndpoints/{name}"),
    );
    h.sim.add_mpe(MpeSpec::new(mpe.clone(), storage).timing(Duration::from_secs(1), Duration::from_secs(3))).unwrap();
    mpe
}

async fn wait_for(h: &Harness, what: &str, cond: impl Fn() -> bool) {
    wait_until(what, WAIT, cond, || format!("{:#?}", h.sim.report())).await
}

fn failed(h: &Harness, function: &str) -> usize {
    h.host.invocations().iter().filter(|r| r.function == function && !r.success).count()
}

const ALL: [Dependency; 4] = [Dependency::Identity, Dependency::ArmRead, Dependency::ArmWrite, Dependency::ServiceBus];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_that_answer_slowly_within_the_budgets_only_slow_the_approval_down() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    for d in ALL {
        h.sim.set_latency(d, Some(Duration::from_millis(150)));
    }
    let mpe = add_mpe(&h, "within");
    let ev = h.host.deliver_event(&azure_sim::write_success_event(&mpe, h.clock.now())).await.unwrap();
    assert!(ev.success && ev.attempt == 1, "{ev:?}");
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "the approval", || approved(&h, &mpe)).await;
    pump.stop().await;
    let r = h.sim.report();
    assert_eq!(r.invocations.failed, 0, "slow is not failing: {:#?}", r.invocations);
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.parked().is_empty() && h.sim.dead_letters().is_empty() && r.violations.is_empty());
}

/// ARM reads slower than a check's whole budget (each still inside the 15 s request timeout, so only
/// the budget can stop them): the check ends at its budget as a transient failure (redelivered, then
/// scheduled again), never parked or dead-lettered; once ARM answers in time the MPE is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_slower_than_the_check_budget_reschedules_and_approves_once_it_answers_in_time() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[("MPE_CHECK_BUDGET", "1s")]).await.unwrap();
    let mpe = add_mpe(&h, "pastbudget");
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&mpe, h.clock.now())).await.unwrap().success);
    h.sim.set_latency(Dependency::ArmRead, Some(Duration::from_secs(3)));
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "two checks to end at their budget", || failed(&h, "MpeCheck") >= 2).await;
    assert!(!approved(&h, &mpe));
    h.sim.set_latency(Dependency::ArmRead, None);
    wait_for(&h, "the approval once ARM answers in time", || approved(&h, &mpe)).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.parked().is_empty() && h.sim.dead_letters().is_empty(), "{:#?}", h.sim.report().queues);
    assert!(h.sim.report().violations.is_empty());
}

/// The identity endpoint or Service Bus slower than `MpeEvent`'s budget: the event invocation fails at
/// its budget (Event Grid delivers it again) and its retry, once the dependency answers in time, queues
/// the check and the MPE is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_or_service_bus_slower_than_the_event_budget_fails_the_event_and_its_retry_approves() {
    let _serial = SERIAL.lock().await;
    for slow in [Dependency::Identity, Dependency::ServiceBus] {
        // A new handler each time: no token cached yet.
        let h = Harness::start(SCALE, &[("MPE_EVENT_BUDGET", "1s")]).await.unwrap();
        let mpe = add_mpe(&h, "eventbudget");
        h.sim.set_latency(slow, Some(Duration::from_secs(3)));
        // Speed the dependency up as soon as the first delivery has failed; Event Grid's retry follows.
        let heal = async {
            while !h.host.invocations().iter().any(|r| r.function == "MpeEvent" && !r.success) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            h.sim.set_latency(slow, None);
        };
        let event = azure_sim::write_success_event(&mpe, h.clock.now());
        let (ev, ()) = tokio::join!(h.host.deliver_event(&event), heal);
        let ev = ev.unwrap();
        assert!(ev.success && ev.attempt >= 2, "{slow:?}: the first delivery failed at its budget: {ev:?}");
        assert_eq!(failed(&h, "MpeEvent"), (ev.attempt - 1) as usize);
        let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
        wait_for(&h, "the approval", || approved(&h, &mpe)).await;
        pump.stop().await;
        assert_eq!(puts(&h, &mpe), 1, "{slow:?}");
        assert!(h.sim.parked().is_empty() && h.sim.report().violations.is_empty(), "{slow:?}");
    }
}
