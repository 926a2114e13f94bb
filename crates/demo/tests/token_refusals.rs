//! 401 and 403 from ARM and Service Bus, end to end on the local simulator (issue 10, the fault
//! matrix's 401/403 rows): a token refused as expired is fetched again once and the work goes on; a
//! token refused again (a token from another tenant, a missing Service Bus role) parks with the reason,
//! and replaying the parked item once the cause is fixed approves it, once.

mod common;

use azure_sim::identity::ARM_AUDIENCE;
use azure_sim::MpeSpec;
use common::in_group;
use common::sim::{approved, is_for, parked_code, puts, wait_until};
use mpe_approver::resource_id::ResourceId;
use mpe_demo::Harness;
use serde_json::json;
use std::time::Duration;

const SCALE: f64 = 50.0;
const WAIT: Duration = Duration::from_secs(20);
const WORK: &str = "mpe-approvals";
const PARKED: &str = "mpe-approvals-parked";
const SUB: &str = "0b5e55ed-0000-4000-8000-00000000401a";

/// One harness at a time: simulated time stays honest on 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn asa(name: &str) -> ResourceId {
    in_group(SUB, &format!("rg-tok/providers/Microsoft.StreamAnalytics/clusters/asa-tok/privateEndpoints/{name}"))
}

/// A Stream Analytics MPE to a new storage account of the same subscription, pending after `pending`
/// (simulated time).
fn add_mpe(h: &Harness, name: &str, pending: Duration) -> ResourceId {
    let storage = in_group(SUB, &format!("rg-data/providers/Microsoft.Storage/storageAccounts/st{name}"));
    h.sim.add_target(&storage).unwrap();
    let mpe = asa(name);
    h.sim.add_mpe(MpeSpec::new(mpe.clone(), storage).timing(Duration::from_secs(1), pending)).unwrap();
    mpe
}

async fn wait_for(h: &Harness, what: &str, cond: impl Fn() -> bool) {
    wait_until(what, WAIT, cond, || format!("{:#?}", h.sim.report())).await
}

fn tokens_issued(h: &Harness) -> usize {
    h.sim.report().tokens_issued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_refused_as_expired_are_fetched_again_once_and_the_mpe_is_approved() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    // A first MPE: the handler now holds a cached token for ARM and one for Service Bus.
    let first = add_mpe(&h, "exp1", Duration::from_secs(3));
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&first, h.clock.now())).await.unwrap().success);
    wait_for(&h, "the first approval", || approved(&h, &first)).await;
    let before = tokens_issued(&h);

    h.sim.expire_tokens();
    let second = add_mpe(&h, "exp2", Duration::from_secs(3));
    let ev = h.host.deliver_event(&azure_sim::write_success_event(&second, h.clock.now())).await.unwrap();
    assert!(ev.success && ev.attempt == 1, "Service Bus's 401 was answered with a fresh token at once: {ev:?}");
    wait_for(&h, "the approval after the tokens expired", || approved(&h, &second)).await;
    pump.stop().await;

    assert_eq!(tokens_issued(&h) - before, 2, "one fresh token for Service Bus, one for ARM");
    assert_eq!(puts(&h, &second), 1);
    let r = h.sim.report();
    assert!(h.sim.parked().is_empty() && h.sim.dead_letters().is_empty(), "{r:#?}");
    assert_eq!(r.invocations.failed, 0, "no invocation failed: {:#?}", r.invocations);
    assert!(r.violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_refusing_every_token_parks_forbidden_after_one_fresh_token_and_a_replay_approves_once_fixed() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    h.sim.refuse_tokens(ARM_AUDIENCE, true);
    let mpe = add_mpe(&h, "tenant", Duration::from_secs(3));
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&mpe, h.clock.now())).await.unwrap().success);
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "the check to park", || parked_code(&h, &mpe).is_some()).await;
    pump.stop().await;

    let (code, reason) = parked_code(&h, &mpe).unwrap();
    assert_eq!(code, "forbidden", "{reason}");
    assert!(reason.contains(r#"HTTP 401 "InvalidAuthenticationTokenTenant""#), "ARM's code and message: {reason}");
    let r = h.sim.report();
    assert_eq!(r.arm_calls_total, 2, "the cached token, then one fresh one; not retried: {r:#?}");
    assert_eq!(r.invocations.failed, 0, "parked and acknowledged, not redelivered");
    assert!(!approved(&h, &mpe));

    // The identity is fixed (e.g. the subscription's tenant change has propagated): replay the parked.
    h.sim.refuse_tokens(ARM_AUDIENCE, false);
    let replay = h.host.invoke_replay(&json!({"source": "parked", "reason": "forbidden"}).to_string(), &[]).await;
    assert_eq!(replay.http.as_ref().map(|r| r.status_code), Some(202), "{replay:?}");
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "the replayed check to approve", || approved(&h, &mpe)).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.parked().is_empty() && h.sim.report().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_queue_refusing_the_next_check_parks_it_queue_refused_and_a_replay_resumes_the_chain() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    // Pending only after a few checks: the first check schedules another.
    let mpe = add_mpe(&h, "norole", Duration::from_secs(60));
    assert!(h.host.deliver_event(&azure_sim::write_success_event(&mpe, h.clock.now())).await.unwrap().success);
    let bus = h.sim.service_bus();
    // The identity loses Azure Service Bus Data Sender on the work queue (the parking queue keeps it).
    bus.refuse_sends(WORK, Some(401)).unwrap();
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "the next check to be parked", || parked_code(&h, &mpe).is_some()).await;
    pump.stop().await;
    let (code, reason) = parked_code(&h, &mpe).unwrap();
    assert_eq!(code, "queue-refused", "{reason}");
    assert!(reason.contains("HTTP 401") && reason.contains("'Send' claim"), "Service Bus's words: {reason}");
    let r = h.sim.report();
    assert_eq!(r.invocations.failed, 0, "parked and acknowledged, not redelivered: {:#?}", r.invocations);
    assert!(!h.sim.work_messages().iter().any(|m| is_for(m, &mpe)), "nothing left in the work queue");

    bus.refuse_sends(WORK, None).unwrap();
    let replay = h.host.invoke_replay(&json!({"source": "parked", "reason": "queue-refused"}).to_string(), &[]).await;
    assert_eq!(replay.http.as_ref().map(|r| r.status_code), Some(202), "{replay:?}");
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "the resumed chain to approve", || approved(&h, &mpe)).await;
    pump.stop().await;
    assert_eq!(puts(&h, &mpe), 1);
    assert!(h.sim.parked().is_empty() && h.sim.report().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_work_queue_refuses_is_parked_and_with_both_queues_refusing_event_grid_retries_it() {
    let _serial = SERIAL.lock().await;
    let h = Harness::start(SCALE, &[]).await.unwrap();
    let bus = h.sim.service_bus();

    // No such work queue (410, e.g. a wrong MPE_QUEUE_NAME): the work item is parked with the reason.
    let gone = add_mpe(&h, "gone", Duration::from_secs(3));
    bus.refuse_sends(WORK, Some(410)).unwrap();
    let ev = h.host.deliver_event(&azure_sim::write_success_event(&gone, h.clock.now())).await.unwrap();
    assert!(ev.success && ev.attempt == 1, "parked, so the event is answered: {ev:?}");
    let (code, reason) = parked_code(&h, &gone).expect("parked");
    assert_eq!(code, "queue-refused");
    assert!(reason.contains("HTTP 410"), "{reason}");

    // The parking queue refuses too: the event fails, so Event Grid retries it (and, past its retries,
    // dead-letters it to storage); nothing is half-done.
    let both = add_mpe(&h, "both", Duration::from_secs(3));
    bus.refuse_sends(WORK, Some(401)).unwrap();
    bus.refuse_sends(PARKED, Some(401)).unwrap();
    let event = azure_sim::write_success_event(&both, h.clock.now());
    let failed = h.host.deliver_event(&event).await.unwrap();
    assert!(!failed.success, "{failed:?}");
    assert!(parked_code(&h, &both).is_none() && !h.sim.work_messages().iter().any(|m| is_for(m, &both)));

    // Service Bus 403 (quota exceeded: a full queue drains) is transient, never parked.
    let full = add_mpe(&h, "full", Duration::from_secs(3));
    bus.refuse_sends(WORK, Some(403)).unwrap();
    bus.refuse_sends(PARKED, None).unwrap();
    let full_event = azure_sim::write_success_event(&full, h.clock.now());
    let refused = h.host.deliver_event(&full_event).await.unwrap();
    assert!(!refused.success && parked_code(&h, &full).is_none(), "{refused:?}");

    // Fixed: Event Grid's next delivery of each event goes through and both MPEs are approved.
    bus.refuse_sends(WORK, None).unwrap();
    for e in [&event, &full_event] {
        assert!(h.host.deliver_event(e).await.unwrap().success);
    }
    let pump = h.host.run_queue_pump(WORK, Duration::from_millis(20)).unwrap();
    wait_for(&h, "both approvals", || approved(&h, &both) && approved(&h, &full)).await;
    pump.stop().await;
    assert_eq!((puts(&h, &both), puts(&h, &full)), (1, 1));
    assert!(h.sim.report().violations.is_empty());
}
