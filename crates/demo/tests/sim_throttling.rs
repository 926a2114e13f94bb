//! A busy tenant's throttling, end to end: the simulator answers every 25th ARM call of a
//! subscription 429 with a 20 s wait and 429s every call until the wait has passed; the approver,
//! through the Functions host emulator, still approves every MPE, wrongly none, parks and dead-letters
//! nothing, and never calls a subscription inside a wait ARM announced to it. Time is compressed.

mod common;

use azure_sim::{write_success_event, MpeSpec, SimOptions, Throttle};
use common::in_group;
use mpe_approver::resource_id::ResourceId;
use mpe_demo::Harness;
use std::time::{Duration, Instant};

const SCALE: f64 = 50.0;
/// Only a guard against a hang (real time); nothing is asserted about how long it took.
const GUARD: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mpe_is_approved_under_per_subscription_throttling_and_no_call_lands_inside_a_wait() {
    let throttle = Throttle { every: 25, wait: Duration::from_secs(20) };
    let h = Harness::start_with(SCALE, &[], SimOptions { throttle: Some(throttle), ..Default::default() })
        .await
        .expect("harness");
    let subs = ["0b5e55ed-0000-4000-8000-0000000a7701", "0b5e55ed-0000-4000-8000-0000000a7702"];
    let mut ids = Vec::new();
    for (s, sub) in subs.iter().enumerate() {
        let target = in_group(sub, "rg/providers/Microsoft.Storage/storageAccounts/st");
        for i in 0..8u64 {
            let id: ResourceId =
                in_group(sub, &format!("rg/providers/Microsoft.StreamAnalytics/clusters/c/privateEndpoints/pe{s}-{i}"));
            let spec =
                MpeSpec::new(id.clone(), target.clone()).timing(Duration::from_secs(2), Duration::from_secs(3 + i));
            h.sim.add_mpe(spec).expect("mpe");
            ids.push(id);
        }
    }
    let pump = h.host.run_queue_pump("mpe-approvals", Duration::from_millis(5)).expect("pump");
    for id in &ids {
        h.host.deliver_event(&write_success_event(id, h.clock.now())).await.expect("event");
    }
    let started = Instant::now();
    loop {
        let r = h.sim.report();
        let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
        if approved == ids.len() || !h.sim.parked().is_empty() || !h.sim.dead_letters().is_empty() {
            break;
        }
        assert!(started.elapsed() < GUARD, "hung: {approved}/{} approved, {:?}", ids.len(), r.throttle);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pump.stop().await;
    let r = h.sim.report();
    let approved = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count();
    assert_eq!(approved, ids.len(), "every MPE approved");
    assert!(r.violations.is_empty(), "nothing wrongly approved: {:?}", r.violations);
    assert!(h.sim.parked().is_empty(), "nothing parked: {:?}", h.sim.parked());
    assert!(h.sim.dead_letters().is_empty(), "nothing dead-lettered");
    assert!(r.throttle.waits_started >= 1, "the run was throttled: {:?}", r.throttle);
    assert_eq!(r.throttle.inside_wait, 0, "no call inside a subscription's wait: {:?}", r.throttle);
}
